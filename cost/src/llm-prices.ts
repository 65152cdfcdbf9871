/**
 * LLM prices: OpenRouter list prices per million tokens as published in pydantic genai-prices
 * (2026-08; https://github.com/pydantic/genai-prices, prices/providers/openrouter.yml). Models
 * served by our own llama.cpp / vLLM are priced 0 (source "local inference"): their cost is the
 * GPU node, which is in the infrastructure prices (infra.ts).
 */
export interface LlmPrice {
  /** Model name exactly as sent in the OpenAI-compatible request (`model`). */
  model: string;
  /** US dollars per million prompt (input) tokens. */
  inputPerMTok: number;
  /** US dollars per million completion (output) tokens. */
  outputPerMTok: number;
  source: string;
  /** ISO date (YYYY-MM or YYYY-MM-DD) the price was read. */
  date: string;
}

const GENAI = "OpenRouter list price via pydantic genai-prices";
const GENAI_DATE = "2026-08";
const LOCAL = "local inference";
const LOCAL_DATE = "2026-08";

export const llmPrices: readonly LlmPrice[] = Object.freeze([
  { model: "anthropic/claude-sonnet-4.5", inputPerMTok: 3, outputPerMTok: 15, source: GENAI, date: GENAI_DATE },
  { model: "anthropic/claude-sonnet-4", inputPerMTok: 3, outputPerMTok: 15, source: GENAI, date: GENAI_DATE },
  { model: "openai/gpt-4.1-mini", inputPerMTok: 0.4, outputPerMTok: 1.6, source: GENAI, date: GENAI_DATE },
  { model: "openai/gpt-4o-mini", inputPerMTok: 0.15, outputPerMTok: 0.6, source: GENAI, date: GENAI_DATE },
  { model: "meta-llama/llama-3.1-8b-instruct", inputPerMTok: 0.02, outputPerMTok: 0.03, source: GENAI, date: GENAI_DATE },
  { model: "qwen/qwen3-32b", inputPerMTok: 0.1, outputPerMTok: 0.3, source: GENAI, date: GENAI_DATE },
  // Served by our own llama.cpp / vLLM behind LiteLLM: marginal token cost 0, the GPU node is billed separately.
  { model: "local/llama-3.1-8b-instruct", inputPerMTok: 0, outputPerMTok: 0, source: LOCAL, date: LOCAL_DATE },
  { model: "local/qwen3-32b", inputPerMTok: 0, outputPerMTok: 0, source: LOCAL, date: LOCAL_DATE },
] satisfies LlmPrice[]);

const byModel = new Map(llmPrices.map((p) => [p.model.toLowerCase(), p]));

/** The catalogue entry for a model, or undefined. Case-insensitive on the model name. */
export function llmPriceOf(model: string): LlmPrice | undefined {
  return byModel.get(model.toLowerCase());
}

/**
 * Cost in US dollars of one completion. Unknown model ⇒ throws an Error naming the model
 * (callers decide whether that is fatal). Negative or non-finite token counts ⇒ throws.
 */
export function llmCostUsd(model: string, promptTokens: number, completionTokens: number): number {
  const price = llmPriceOf(model);
  if (!price) throw new Error(`no price for LLM model "${model}" in @tierstack/cost`);
  for (const [name, n] of [["promptTokens", promptTokens], ["completionTokens", completionTokens]] as const) {
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a finite number >= 0, got ${n}`);
  }
  return (promptTokens * price.inputPerMTok + completionTokens * price.outputPerMTok) / 1_000_000;
}
