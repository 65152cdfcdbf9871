/**
 * Cost rules: the stack's infrastructure maximum within its budget, every resource (and model)
 * priced, infrastructure's share of the month's total (advisory: work on the 10% while the 90%
 * is untouched), and the runtime guard, a billing budget at the same amount (advisory).
 */
import { formatUsd, type ResourceCost } from "@tierstack/cost";
import { assessCost } from "../assess.js";
import { inputAt } from "../resource.js";
import type { Finding, StackRule } from "./types.js";

const costly = (rs: readonly ResourceCost[]) => rs.map((r) => `${r.name} ${formatUsd(r.maxUsd)}`).join(", ");

export const infraWithinBudget: StackRule = {
  kind: "stack",
  name: "infra-within-budget",
  description: "The stack's estimated infrastructure maximum a month is within its budget (tierstack:budgetUsdPerMonth).",
  enforcementLevel: "mandatory",
  group: "cost",
  check(resources, ctx) {
    const a = assessCost(resources, ctx);
    const budget = ctx.config.budget;
    if (a.infra.maxUsd <= budget.usdPerMonth) return [];
    const from = budget.from === "config" ? "tierstack:budgetUsdPerMonth" : `tierstack:budgetUsdPerMonth unset: ${ctx.config.tier.name}'s default in catalog/budgets.ts`;
    return [{ message: `infrastructure up to ${formatUsd(a.infra.maxUsd)} a month exceeds the budget of ${formatUsd(budget.usdPerMonth)} (${from}); costliest: ${costly(a.costliest)}; raise the budget or shrink the stack` }];
  },
};

export const everyResourcePriced: StackRule = {
  kind: "stack",
  name: "every-resource-priced",
  description: "Every resource type the stack declares, and every model its LLM projection uses, has a price in the catalogue (cost/); a missing price is never guessed as zero.",
  enforcementLevel: "mandatory",
  group: "cost",
  check(resources, ctx) {
    const a = assessCost(resources, ctx);
    const out: Finding[] = a.infra.unpriced.map((u) => ({ message: `${u.type} ${u.name} is not priced: ${u.reason}`, ...(u.urn ? { urn: u.urn } : {}) }));
    for (const d of a.llm.projection.unpriced) out.push({ message: `model ${d.model} (${d.label}) has no price in cost/src/llm-prices.ts` });
    return out;
  },
};

export const infraShare: StackRule = {
  kind: "stack",
  name: "infra-share",
  description: "Infrastructure stays within tierstack:infraShareMax of the month's total (infrastructure + LLM); above it, the three costliest resources are named.",
  enforcementLevel: "advisory",
  group: "cost",
  check(resources, ctx) {
    const a = assessCost(resources, ctx);
    const max = ctx.config.infraShareMax;
    if (a.infraShare <= max) return [];
    const pct = (n: number) => `${(n * 100).toFixed(0)}%`;
    return [{ message: `infrastructure is ${pct(a.infraShare)} of the month's total (${formatUsd(a.infra.maxUsd)} of ${formatUsd(a.totalMaxUsd)}, LLM ${formatUsd(a.llm.projection.usdPerMonth)}), above ${pct(max)} (tierstack:infraShareMax); costliest: ${costly(a.costliest)}` }];
  },
};

export const billingBudgetDeclared: StackRule = {
  kind: "stack",
  name: "billing-budget-declared",
  description: "A Cloud Billing budget at the stack's budget watches the bill after pulumi up (tierstack:billingAccount).",
  enforcementLevel: "advisory",
  group: "cost",
  check(resources, ctx) {
    const budgets = resources.filter((r) => r.type === "gcp:billing/budget:Budget");
    const want = String(ctx.config.budget.usdPerMonth);
    if (budgets.length === 0) return [{ message: `no gcp:billing/budget:Budget: nothing alerts when spend reaches ${formatUsd(ctx.config.budget.usdPerMonth)} a month; set tierstack:billingAccount` }];
    return budgets
      .filter((b) => String(inputAt(b, "amount.specifiedAmount.units")) !== want)
      .map((b) => ({ message: `billing budget ${b.name} is for $${String(inputAt(b, "amount.specifiedAmount.units"))}, the stack's budget is $${want}`, urn: b.urn }));
  },
};
