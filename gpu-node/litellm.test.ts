import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { hostedModels } from "../catalog/llm-models.js";
import { plans } from "../services/brain/src/plans.js";
import { agentRequestedModels, defaultAliases, litellmConfig, litellmYaml, resolveModel, routerFallbacks, tierLitellmConfig, type LitellmInputs, type ServedModel } from "./litellm.js";
import { models } from "./models.js";

/** The brain's plans ask for these names (primary and fallback). */
const brainRequested = Object.values(plans).flatMap((p) => [p.model, p.fallbackModel]);
/** Hosted models the brain's plans use, by OpenRouter id (the single box's list). */
const hosted = {
  "meta-llama/llama-3.1-8b-instruct": "meta-llama/llama-3.1-8b-instruct",
  "openai/gpt-4.1-mini": "openai/gpt-4.1-mini",
  "openai/gpt-4o-mini": "openai/gpt-4o-mini",
  "anthropic/claude-sonnet-4.5": "anthropic/claude-sonnet-4.5",
};

function inputs(served: ServedModel[], requested: readonly string[] = [...brainRequested, ...agentRequestedModels]): LitellmInputs {
  return { served, catalogue: models, aliases: defaultAliases, hosted, cloudModel: "openrouter/openai/gpt-4o-mini", requested };
}

const tier50: ServedModel[] = [
  { modelKey: "llama-3.1-8b-instruct", apiBase: "http://10.10.0.5:8080/v1" },
  { modelKey: "qwen3-32b", apiBase: "http://10.10.0.5:8081/v1" },
];

describe("LiteLLM config from what the tier's inference serves", () => {
  it("resolves every name the brain's plans and the agents request, local first", () => {
    const cfg = litellmConfig(inputs(tier50));
    for (const name of [...brainRequested, ...agentRequestedModels]) expect(resolveModel(cfg, name), name).toBeDefined();
    expect(resolveModel(cfg, "local/llama-3.1-8b-instruct")?.litellm_params).toEqual({ model: "openai/llama-3.1-8b-instruct", api_base: "http://10.10.0.5:8080/v1", api_key: "none" });
    expect(resolveModel(cfg, "local/qwen3-32b")?.litellm_params.api_base).toBe("http://10.10.0.5:8081/v1");
    // The agents' "local" is its own model_name at the 8B's server (so it can carry its own fallback).
    expect(resolveModel(cfg, "local")?.litellm_params).toEqual(resolveModel(cfg, "local/llama-3.1-8b-instruct")?.litellm_params);
    expect(resolveModel(cfg, "cloud")?.litellm_params).toEqual({ model: "openrouter/openai/gpt-4o-mini", api_key: "os.environ/OPENROUTER_API_KEY" });
  });

  it("falls back from each local name the agents send to the same model in the cloud, and the target exists", () => {
    const cfg = litellmConfig(inputs(tier50));
    expect(cfg.router_settings.fallbacks).toEqual([
      { "local/qwen3-32b": ["qwen/qwen3-32b"] },
      { local: ["meta-llama/llama-3.1-8b-instruct"] },
    ]);
    for (const fb of cfg.router_settings.fallbacks) {
      for (const target of Object.values(fb).flat()) expect(resolveModel(cfg, target)?.litellm_params.model).toBe(`openrouter/${target}`);
    }
  });

  it("gives the brain's names no LiteLLM fallback (ADR 0005): the brain falls back itself, to the same cloud model", () => {
    const cfg = litellmConfig(inputs(tier50));
    for (const plan of Object.values(plans)) {
      expect(routerFallbacks(cfg, plan.model), plan.model).toEqual([]);
      expect(routerFallbacks(cfg, plan.fallbackModel), plan.fallbackModel).toEqual([]);
    }
    // The free plan's own fallback is exactly the cloud twin LiteLLM would have used.
    expect(plans.free.fallbackModel).toBe(models["llama-3.1-8b-instruct"]?.cloudFallback);
    // Without the default, the brain's local name would fall back inside LiteLLM too.
    expect(routerFallbacks(litellmConfig({ ...inputs(tier50), callerFallbacks: [] }), plans.free.model)).toEqual(["meta-llama/llama-3.1-8b-instruct"]);
  });

  it("writes each model_name once and keeps keys out of the file", () => {
    const cfg = litellmConfig(inputs(tier50));
    const names = cfg.model_list.map((m) => m.model_name);
    expect(new Set(names).size).toBe(names.length);
    expect(cfg.general_settings.master_key).toBe("os.environ/LITELLM_MASTER_KEY");
    for (const m of cfg.model_list) expect(["none", "os.environ/OPENROUTER_API_KEY"]).toContain(m.litellm_params.api_key);
  });

  it("without local inference every local name goes to its cloud twin and nothing points at a GPU", () => {
    const requested = [...brainRequested, "cloud", "local/qwen3-32b"];
    const cfg = litellmConfig(inputs([], requested));
    expect(cfg.model_list.some((m) => m.litellm_params.api_base !== undefined)).toBe(false);
    expect(resolveModel(cfg, "local/llama-3.1-8b-instruct")?.litellm_params.model).toBe("openrouter/meta-llama/llama-3.1-8b-instruct");
    expect(cfg.router_settings.fallbacks).toEqual([]);
    expect(resolveModel(cfg, "local")).toBeUndefined();
  });

  it("throws one line when a requested name resolves to nothing", () => {
    expect(() => litellmConfig(inputs([], ["local"]))).toThrowError(/^litellm: requested model "local" resolves to no deployment \(served: none\)$/);
  });

  it("throws when a name would be defined twice or a served model is unknown", () => {
    expect(() => litellmConfig({ ...inputs(tier50), hosted: { ...hosted, "local/qwen3-32b": "qwen/qwen3-32b" } })).toThrow(/"local\/qwen3-32b" would be defined twice/);
    expect(() => litellmConfig(inputs([{ modelKey: "gpt-9", apiBase: "http://x/v1" }]))).toThrow(/not in the model catalogue/);
    expect(() => litellmConfig(inputs([tier50[0]!, tier50[0]!]))).toThrow(/served twice/);
  });

  it("the single box with a GPU keeps today's routes: local and the brain's 8B to llama-server, cloud to OpenRouter", () => {
    const cfg = litellmConfig(inputs([{ modelKey: "llama-3.1-8b-instruct", apiBase: "http://127.0.0.1:8080/v1" }], [...brainRequested, "local", "cloud"]));
    expect(resolveModel(cfg, "local")?.litellm_params.api_base).toBe("http://127.0.0.1:8080/v1");
    expect(resolveModel(cfg, plans.free.model)?.litellm_params.api_base).toBe("http://127.0.0.1:8080/v1");
    expect(resolveModel(cfg, "local/qwen3-32b")?.litellm_params.model).toBe("openrouter/qwen/qwen3-32b");
  });

  it("tierLitellmConfig takes every name from the catalogue: with a server, and without one (no \"local\")", () => {
    const served = tierLitellmConfig(tier50, "openrouter/openai/gpt-4o-mini");
    expect(served).toEqual(litellmConfig(inputs(tier50)));
    for (const name of Object.keys(hostedModels)) expect(resolveModel(served, name)?.litellm_params.model).toBe(`openrouter/${hostedModels[name]}`);
    const none = tierLitellmConfig([], "openrouter/openai/gpt-4o-mini");
    expect(resolveModel(none, "local")).toBeUndefined();
    for (const name of brainRequested) expect(resolveModel(none, name), name).toBeDefined();
  });

  it("renders plain YAML that parses back to the same config", () => {
    const text = litellmYaml(inputs(tier50));
    expect(text).not.toMatch(/[&*]a\d/);
    expect(parse(text)).toEqual(litellmConfig(inputs(tier50)));
  });
});
