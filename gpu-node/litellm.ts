/**
 * LiteLLM's config generated from what a tier's inference serves: `model_list` (model_name +
 * litellm_params, keys from os.environ/…, docs.litellm.ai/docs/proxy/configs) and
 * `router_settings.fallbacks` (docs.litellm.ai/docs/proxy/reliability). Every name the brain's
 * plans and the agents request (catalog/llm-models.ts) resolves to a local deployment where one
 * serves it, else to the same model in the cloud. Each model_name is written once; a requested
 * name that resolves to nothing throws one line.
 *
 * Fallbacks (ADR 0005): the agents' names fall back inside LiteLLM from the local server to the
 * same model on OpenRouter; the brain's names get no LiteLLM fallback, because the brain retries
 * and falls back itself and records what each attempt cost (ADR 0040).
 */
import { stringify } from "yaml";
import { agentLocalOnlyModels, agentRequestedModels, brainRequestedModels, hostedModels } from "../catalog/llm-models.js";
import { models, type LocalModel } from "./models.js";

export { agentRequestedModels };

/** Agents' short names → model key: each gets its own model_name at that model's server, where it is served. */
export const defaultAliases: Readonly<Record<string, string>> = { local: "llama-3.1-8b-instruct" };

export interface ServedModel {
  modelKey: string;
  /** OpenAI-compatible base URL of the server, e.g. http://10.0.0.5:8080/v1. */
  apiBase: string;
}

export interface LitellmInputs {
  /** What the tier's inference serves (empty without local inference). */
  served: readonly ServedModel[];
  /** The local model catalogue (gpu-node/models.ts `models`). */
  catalogue: Readonly<Record<string, LocalModel>>;
  /** Short names → model key (`defaultAliases`); defined only where that model is served. */
  aliases: Readonly<Record<string, string>>;
  /** Hosted model_name → OpenRouter model id (catalog/llm-models.ts `hostedModels`). */
  hosted: Readonly<Record<string, string>>;
  /** LiteLLM model id behind "cloud" (tierstack:cloudModel). */
  cloudModel: string;
  /** Every model name callers will send. */
  requested: readonly string[];
  /**
   * Names whose caller retries and falls back itself, so LiteLLM must not (ADR 0005). Default:
   * the brain's plans' names (catalog/llm-models.ts `brainRequestedModels`).
   */
  callerFallbacks?: readonly string[];
}

export interface ModelEntry {
  model_name: string;
  litellm_params: Record<string, string>;
}

export interface LitellmConfig {
  model_list: ModelEntry[];
  router_settings: { fallbacks: Record<string, string[]>[] };
  general_settings: { master_key: string };
}

const openrouter = (id: string): Record<string, string> => ({
  model: id.startsWith("openrouter/") ? id : `openrouter/${id}`,
  api_key: "os.environ/OPENROUTER_API_KEY",
});

/** The config object; throws one line when a requested name does not resolve or a name is defined twice. */
export function litellmConfig(inputs: LitellmInputs): LitellmConfig {
  const entries = new Map<string, ModelEntry>();
  const add = (entry: ModelEntry) => {
    if (entries.has(entry.model_name)) throw new Error(`litellm: model_name "${entry.model_name}" would be defined twice`);
    entries.set(entry.model_name, entry);
  };
  const noRouterFallback = new Set(inputs.callerFallbacks ?? brainRequestedModels);
  const fallbacks: Record<string, string[]>[] = [];
  const local = new Map<string, Record<string, string>>();

  for (const s of inputs.served) {
    const model = inputs.catalogue[s.modelKey];
    if (!model) throw new Error(`litellm: served model "${s.modelKey}" is not in the model catalogue`);
    if (local.has(s.modelKey)) throw new Error(`litellm: model "${s.modelKey}" is served twice`);
    // The server names the model by its key (llama-server -a, vLLM --served-model-name).
    const params = { model: `openai/${model.key}`, api_base: s.apiBase, api_key: "none" };
    local.set(s.modelKey, params);
    add({ model_name: model.litellmName, litellm_params: { ...params } });
    if (!noRouterFallback.has(model.litellmName)) fallbacks.push({ [model.litellmName]: [model.cloudFallback] });
  }
  // Short names of served models: a model_name of their own at the same server, with their own fallback.
  for (const [alias, key] of Object.entries(inputs.aliases)) {
    const model = inputs.catalogue[key];
    if (!model) throw new Error(`litellm: alias "${alias}" points at unknown model "${key}"`);
    const params = local.get(key);
    if (!params) continue;
    add({ model_name: alias, litellm_params: { ...params } });
    if (!noRouterFallback.has(alias)) fallbacks.push({ [alias]: [model.cloudFallback] });
  }
  // Catalogue models no server runs here are served by their cloud twin under the same name.
  for (const model of Object.values(inputs.catalogue)) {
    if (!local.has(model.key)) add({ model_name: model.litellmName, litellm_params: openrouter(model.cloudFallback) });
  }
  add({ model_name: "cloud", litellm_params: openrouter(inputs.cloudModel) });
  for (const [name, id] of Object.entries(inputs.hosted)) add({ model_name: name, litellm_params: openrouter(id) });
  // Every fallback target (and every brain fallback) must itself be a model_name; add the cloud twins nobody listed.
  for (const model of Object.values(inputs.catalogue)) {
    if (!entries.has(model.cloudFallback)) add({ model_name: model.cloudFallback, litellm_params: openrouter(model.cloudFallback) });
  }

  for (const name of inputs.requested) {
    if (!entries.has(name)) {
      throw new Error(`litellm: requested model "${name}" resolves to no deployment (served: ${[...local.keys()].join(", ") || "none"})`);
    }
  }
  return {
    model_list: [...entries.values()],
    router_settings: { fallbacks },
    general_settings: { master_key: "os.environ/LITELLM_MASTER_KEY" },
  };
}

/** The config as the YAML file LiteLLM reads (plain YAML, no anchors). */
export function litellmYaml(inputs: LitellmInputs): string {
  return stringify(litellmConfig(inputs), { lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * A tier's LiteLLM config from the catalogue: the local model table, the agents' short names,
 * the brain's hosted models, and every name the brain and the agents request (the agents' local-
 * only names only where something is served).
 */
export function tierLitellmConfig(served: readonly ServedModel[], cloudModel: string): LitellmConfig {
  const agents = served.length > 0 ? agentRequestedModels : agentRequestedModels.filter((n) => !agentLocalOnlyModels.includes(n));
  return litellmConfig({
    served,
    catalogue: models,
    aliases: defaultAliases,
    hosted: hostedModels,
    cloudModel,
    requested: [...new Set([...brainRequestedModels, ...agents])],
  });
}

/** Where a model name goes: the deployment's litellm_params. */
export function resolveModel(config: LitellmConfig, name: string): ModelEntry | undefined {
  return config.model_list.find((m) => m.model_name === name);
}

/** The fallback targets LiteLLM tries after a model_name fails (empty when it has none). */
export function routerFallbacks(config: LitellmConfig, name: string): string[] {
  return config.router_settings.fallbacks.flatMap((f) => f[name] ?? []);
}
