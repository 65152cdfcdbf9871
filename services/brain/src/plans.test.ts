import { llmPriceOf } from "@tierstack/cost";
import { describe, expect, it } from "vitest";
import { isPlanId, planFor, planIds, plans } from "./plans.js";

describe("plans", () => {
  it("every plan's models are priced in the catalogue, and ids match keys", () => {
    for (const id of planIds) {
      const p = plans[id];
      expect(p.id).toBe(id);
      expect(llmPriceOf(p.model), p.model).toBeDefined();
      expect(llmPriceOf(p.fallbackModel), p.fallbackModel).toBeDefined();
      expect(p.fallbackModel).not.toBe(p.model);
    }
  });

  it("free runs a local (zero-cost) model, paid plans a stronger hosted one with a Stripe price env", () => {
    expect(llmPriceOf(plans.free.model)!.source).toBe("local inference");
    expect(plans.free.stripePriceEnv).toBeUndefined();
    for (const id of ["plus", "dedicated"] as const) {
      expect(llmPriceOf(plans[id].model)!.outputPerMTok).toBeGreaterThan(0);
      expect(plans[id].stripePriceEnv).toMatch(/^STRIPE_PRICE_[A-Z]+$/);
    }
    expect(plans.dedicated.placement).toBe("dedicated");
    expect(plans.free.placement).toBe("shared");
  });

  it("quotas and budgets grow with the plan", () => {
    expect(plans.plus.messagesPerDay).toBeGreaterThan(plans.free.messagesPerDay);
    expect(plans.dedicated.messagesPerDay).toBeGreaterThan(plans.plus.messagesPerDay);
    expect(plans.plus.tokensPerDay).toBeGreaterThan(plans.free.tokensPerDay);
    expect(plans.plus.historyTokenBudget).toBeGreaterThan(plans.free.historyTokenBudget);
  });

  it("planFor: known ids map to their plan, anything else to free", () => {
    expect(planFor("plus")).toBe(plans.plus);
    expect(planFor("dedicated")).toBe(plans.dedicated);
    for (const bad of ["", "PLUS", "gold", "__proto__", "constructor", "toString"]) {
      expect(planFor(bad)).toBe(plans.free);
      expect(isPlanId(bad)).toBe(false);
    }
  });
});
