/**
 * The runtime cost guard: a Cloud Billing budget on the stack's project, so the bill is watched
 * after `pulumi up`, not only estimated before it (the policy pack and `plan` do that). It alerts
 * the billing account's administrators (the default recipients) when the month's actual spend
 * reaches 90% and 100% of the budget and when the forecast for the month reaches 100%
 * (https://cloud.google.com/billing/docs/how-to/budgets). The filter is the project by number,
 * which is what the Budget API expects (`projects/<number>`); the number is looked up from the
 * project id when it is not given.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

/** Alert thresholds, as fractions of the budget, and the spend each is measured on. */
export const budgetThresholds: readonly { thresholdPercent: number; spendBasis: "CURRENT_SPEND" | "FORECASTED_SPEND" }[] = Object.freeze([
  { thresholdPercent: 0.9, spendBasis: "CURRENT_SPEND" },
  { thresholdPercent: 1.0, spendBasis: "CURRENT_SPEND" },
  { thresholdPercent: 1.0, spendBasis: "FORECASTED_SPEND" },
]);

export interface BillingBudgetArgs {
  /** Billing account id, XXXXXX-XXXXXX-XXXXXX. */
  billingAccount: string;
  /** Project id (gcp:project); its number is looked up unless `projectNumber` is given. */
  project: string;
  projectNumber?: string;
  /** Shown in the billing console (at most 60 characters). */
  displayName: string;
  /** The monthly budget in whole US dollars. */
  amountUsdPerMonth: number;
}

export class BillingBudget extends pulumi.ComponentResource {
  readonly budget: gcp.billing.Budget;
  readonly projectNumber: pulumi.Output<string>;

  constructor(name: string, args: BillingBudgetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:billing:BillingBudget", name, {}, opts);
    if (!Number.isInteger(args.amountUsdPerMonth) || args.amountUsdPerMonth <= 0) throw new Error(`BillingBudget: amount ${args.amountUsdPerMonth} is not a whole number of dollars above 0`);
    if (args.displayName.length > 60) throw new Error(`BillingBudget: display name "${args.displayName}" is longer than 60 characters`);
    this.projectNumber = args.projectNumber !== undefined
      ? pulumi.output(args.projectNumber)
      : gcp.organizations.getProjectOutput({ projectId: args.project }, { parent: this }).apply((p) => {
        if (!p.number) throw new Error(`BillingBudget: no project number for ${args.project}; set tierstack:projectNumber`);
        return p.number;
      });
    this.budget = new gcp.billing.Budget(`${name}-budget`, {
      billingAccount: args.billingAccount,
      displayName: args.displayName,
      budgetFilter: { projects: [pulumi.interpolate`projects/${this.projectNumber}`], calendarPeriod: "MONTH" },
      amount: { specifiedAmount: { currencyCode: "USD", units: String(args.amountUsdPerMonth) } },
      thresholdRules: budgetThresholds.map((t) => ({ ...t })),
    }, { parent: this });
    this.registerOutputs({ budget: this.budget.name });
  }
}
