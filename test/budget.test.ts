/** Every tier declares the runtime cost guard: a billing budget at the stack's budget, when a billing account is set. */
import { describe, expect, it } from "vitest";
import { runPlan } from "../cli/plan.js";

const billing = { "tierstack:billingAccount": "0123AB-4567CD-89EF01", "tierstack:projectNumber": "123456789012" };

describe.each(["single-box", "tier-50", "tier-100"])("%s", (stack) => {
  it("one billing budget with a billing account, none without", async () => {
    const withAccount = await runPlan(stack, { overrides: billing });
    const budgets = withAccount.raw.filter((r) => r.type === "gcp:billing/budget:Budget");
    expect(budgets).toHaveLength(1);
    expect(JSON.stringify(budgets[0]?.inputs)).toContain("0123AB-4567CD-89EF01");
    const without = await runPlan(stack);
    expect(without.raw.filter((r) => r.type === "gcp:billing/budget:Budget")).toHaveLength(0);
  });
});
