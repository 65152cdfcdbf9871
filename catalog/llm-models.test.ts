import { describe, expect, it } from "vitest";
import { llmPrices } from "../cost/src/index.js";
import { planIds, plans } from "../services/brain/src/plans.js";
import { agentLocalOnlyModels, agentRequestedModels, brainPlanModels, brainRequestedModels, hostedModels } from "./llm-models.js";

describe("LLM model names in the catalogue", () => {
  it("are the brain's plans' models and fallback models, plan by plan", () => {
    expect(Object.keys(brainPlanModels).sort()).toEqual([...planIds].sort());
    for (const id of planIds) {
      expect(brainPlanModels[id], id).toEqual({ model: plans[id].model, fallbackModel: plans[id].fallbackModel });
    }
    expect(brainRequestedModels).toEqual([...new Set(Object.values(plans).flatMap((p) => [p.model, p.fallbackModel]))]);
  });

  it("every brain name is either local (local/…) or hosted through OpenRouter", () => {
    for (const name of brainRequestedModels) expect(name.startsWith("local/") || name in hostedModels, name).toBe(true);
  });

  it("every name the brain or the agents may send to a model is priced in @tierstack/cost", () => {
    const priced = new Set(llmPrices.map((p) => p.model));
    for (const name of [...brainRequestedModels, ...Object.values(hostedModels), ...agentRequestedModels.filter((n) => n.includes("/"))]) {
      expect(priced.has(name), name).toBe(true);
    }
  });

  it("local-only agent names are agent names", () => {
    for (const name of agentLocalOnlyModels) expect(agentRequestedModels).toContain(name);
  });
});
