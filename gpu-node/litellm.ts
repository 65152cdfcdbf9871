/**
 * LiteLLM's config generated from what a tier's inference serves: the same shape as the single
 * box's (model_list of model_name + litellm_params, keys from os.environ/…, docs.litellm.ai/docs/proxy/configs)
 * plus `router_settings.fallbacks` from each local model to the same model in the cloud and
 * `router_settings.model_group_alias` for short names such as "local". Each model_name is
 * written once; every name the brain's plans and the agents request must resolve, or the
 * generator throws one line.
 *
 * Note for whoever wires it: ADR 0040 keeps LiteLLM's own fallbacks off for the brain's keys
 * (the brain retries and falls back itself); these fallbacks serve the agents.
 */
import { stringify } from "yaml";
import type { LocalModel } from "./models.js";

/**
 * Names the agents request: "local" and "cloud" as the single box's LiteLLM serves them, and the
 * 32B under its @tierstack/cost catalogue name.
 */
export const agentRequestedModels: readonly string[] = ["local", "cloud", "local/qwen3-32b"];

/** Short names → model key, applied only when that model is served locally. */
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
  aliases: Readonly<Record<string, string>>;
  /** Hosted model_name → OpenRouter model id (the brain's plan models). */
  hosted: Readonly<Record<string, string>>;
  /** LiteLLM model id behind "cloud" (tierstack:cloudModel). */
  cloudModel: string;
  /** Every model name callers will send. */
  requested: readonly string[];
}

export interface ModelEntry {
  model_name: string;
  litellm_params: Record<string, string>;
}

export interface LitellmConfig {
  model_list: ModelEntry[];
  router_settings: { model_group_alias: Record<string, string>; fallbacks: Record<string, string[]>[] };
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
  const fallbacks: Record<string, string[]>[] = [];
  const servedKeys = new Set<string>();

  for (const s of inputs.served) {
    const model = inputs.catalogue[s.modelKey];
    if (!model) throw new Error(`litellm: served model "${s.modelKey}" is not in the model catalogue`);
    if (servedKeys.has(s.modelKey)) throw new Error(`litellm: model "${s.modelKey}" is served twice`);
    servedKeys.add(s.modelKey);
    add({ model_name: model.litellmName, litellm_params: { model: `openai/${model.key}`, api_base: s.apiBase, api_key: "none" } });
    fallbacks.push({ [model.litellmName]: [model.cloudFallback] });
  }
  // Catalogue models no server runs here are served by their cloud twin under the same name.
  for (const model of Object.values(inputs.catalogue)) {
    if (!servedKeys.has(model.key)) add({ model_name: model.litellmName, litellm_params: openrouter(model.cloudFallback) });
  }
  add({ model_name: "cloud", litellm_params: openrouter(inputs.cloudModel) });
  for (const [name, id] of Object.entries(inputs.hosted)) add({ model_name: name, litellm_params: openrouter(id) });
  // Every fallback target must itself be a model_name; add the cloud twins nobody listed.
  for (const model of Object.values(inputs.catalogue)) {
    if (!entries.has(model.cloudFallback)) add({ model_name: model.cloudFallback, litellm_params: openrouter(model.cloudFallback) });
  }

  const model_group_alias: Record<string, string> = {};
  for (const [alias, key] of Object.entries(inputs.aliases)) {
    const model = inputs.catalogue[key];
    if (!model) throw new Error(`litellm: alias "${alias}" points at unknown model "${key}"`);
    if (entries.has(alias)) throw new Error(`litellm: alias "${alias}" is also a model_name`);
    if (servedKeys.has(key)) model_group_alias[alias] = model.litellmName;
  }

  for (const name of inputs.requested) {
    if (!entries.has(name) && !(name in model_group_alias)) {
      throw new Error(`litellm: requested model "${name}" resolves to no deployment (served: ${[...servedKeys].join(", ") || "none"})`);
    }
  }
  return {
    model_list: [...entries.values()],
    router_settings: { model_group_alias, fallbacks },
    general_settings: { master_key: "os.environ/LITELLM_MASTER_KEY" },
  };
}

/** The config as the YAML file LiteLLM reads (plain YAML, no anchors). */
export function litellmYaml(inputs: LitellmInputs): string {
  return stringify(litellmConfig(inputs), { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Where a model name goes: the deployment's litellm_params, after aliases. */
export function resolveModel(config: LitellmConfig, name: string): ModelEntry | undefined {
  const target = config.router_settings.model_group_alias[name] ?? name;
  return config.model_list.find((m) => m.model_name === target);
}
