/**
 * The runtime cost guard every tier declares: a billing budget on the stack's project when
 * tierstack:billingAccount is set, alerting the billing account's admins at the stack's budget.
 */
import type * as pulumi from "@pulumi/pulumi";
import { BillingBudget } from "../components/budget.js";
import type { StackConfig } from "../config/config.js";

export function stackBudget(name: string, cfg: StackConfig, opts: pulumi.ComponentResourceOptions): BillingBudget | undefined {
  if (cfg.billingAccount === undefined) return undefined;
  return new BillingBudget(`${name}-budget`, {
    billingAccount: cfg.billingAccount,
    project: cfg.project,
    ...(cfg.projectNumber !== undefined ? { projectNumber: cfg.projectNumber } : {}),
    displayName: `tierstack ${cfg.stack}`.slice(0, 60),
    amountUsdPerMonth: cfg.budget.usdPerMonth,
  }, opts);
}
