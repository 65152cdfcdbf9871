/**
 * The model names the platform's callers send to LiteLLM, as data: the brain's plans (the model
 * and fallback model of each plan in services/brain/src/plans.ts; catalog/llm-models.test.ts
 * keeps the two equal, since the program never imports a service) and the agents' names. Every
 * tier's LiteLLM config is generated from these and from what the tier's inference serves
 * (gpu-node/litellm.ts); every name must resolve there, or the generator throws.
 */

/** Per plan of the brain: the model it asks for first and the one it falls back to itself (ADR 0040). */
export const brainPlanModels = {
  free: { model: "local/llama-3.1-8b-instruct", fallbackModel: "meta-llama/llama-3.1-8b-instruct" },
  plus: { model: "openai/gpt-4.1-mini", fallbackModel: "openai/gpt-4o-mini" },
  dedicated: { model: "anthropic/claude-sonnet-4.5", fallbackModel: "openai/gpt-4.1-mini" },
} as const satisfies Record<string, { model: string; fallbackModel: string }>;

/** Every name the brain requests, once each, in plan order. */
export const brainRequestedModels: readonly string[] = [...new Set(Object.values(brainPlanModels).flatMap((p) => [p.model, p.fallbackModel]))];

/**
 * Names the agents request: "local" (the served 8B, where a tier serves it), "cloud"
 * (`tierstack:cloudModel`) and the 32B under its @tierstack/cost name.
 */
export const agentRequestedModels: readonly string[] = ["local", "cloud", "local/qwen3-32b"];

/** Agents' names that exist only where the tier serves a local model (the single box without a GPU has no "local"). */
export const agentLocalOnlyModels: readonly string[] = ["local"];

/**
 * Names LiteLLM serves through OpenRouter: model_name → OpenRouter model id. The brain's hosted
 * plan models; each is priced in @tierstack/cost before the brain may call it (ADR 0042).
 */
export const hostedModels: Readonly<Record<string, string>> = {
  "meta-llama/llama-3.1-8b-instruct": "meta-llama/llama-3.1-8b-instruct",
  "openai/gpt-4.1-mini": "openai/gpt-4.1-mini",
  "openai/gpt-4o-mini": "openai/gpt-4o-mini",
  "anthropic/claude-sonnet-4.5": "anthropic/claude-sonnet-4.5",
};
