/**
 * The LLM side of the bill: token volumes a day, each answered by one model, priced per million
 * prompt and completion tokens (llmPrices). Callers build the demands from the tier catalogue,
 * the learners' volume and what local inference serves; this module only prices them.
 */
import { HOURS_PER_MONTH, isFirstParty } from "./infra.js";
import { llmPriceOf } from "./llm-prices.js";

/** Days in the 730-hour month the infrastructure prices use. */
export const DAYS_PER_MONTH = HOURS_PER_MONTH / 24;

export interface LlmDemand {
  /** What the tokens are (the agents' cloud share, a local model's overflow, the learners). */
  label: string;
  /** Prompt + completion tokens a day. */
  tokensPerDay: number;
  /** Fraction of them that are completion tokens. */
  completionShare: number;
  /** The model that answers them, as priced in llmPrices (local models cost 0). */
  model: string;
}

export interface LlmLine extends LlmDemand {
  usdPerMonth: number;
  /** USD per million tokens at this demand's prompt/completion split. */
  usdPerMTok: number;
  source: string;
  date: string;
  unverified: boolean;
}

export interface LlmProjection {
  lines: LlmLine[];
  /** Demands whose model has no price: reported, never priced at zero. */
  unpriced: LlmDemand[];
  tokensPerDay: number;
  usdPerMonth: number;
}

/** Prices each demand for a 730-hour month. */
export function projectLlm(demands: readonly LlmDemand[]): LlmProjection {
  const lines: LlmLine[] = [];
  const unpriced: LlmDemand[] = [];
  for (const d of demands) {
    if (!Number.isFinite(d.tokensPerDay) || d.tokensPerDay < 0) throw new Error(`${d.label}: tokensPerDay must be a finite number ≥ 0, got ${d.tokensPerDay}`);
    if (!(d.completionShare >= 0 && d.completionShare <= 1)) throw new Error(`${d.label}: completionShare must be within 0-1, got ${d.completionShare}`);
    const price = llmPriceOf(d.model);
    if (!price) {
      unpriced.push(d);
      continue;
    }
    const usdPerMTok = (1 - d.completionShare) * price.inputPerMTok + d.completionShare * price.outputPerMTok;
    lines.push({
      ...d,
      usdPerMTok,
      usdPerMonth: (d.tokensPerDay / 1e6) * usdPerMTok * DAYS_PER_MONTH,
      source: price.source,
      date: price.date,
      // Local models are ours, priced 0 by construction; other prices are unverified unless first-party.
      unverified: price.source !== "local inference" && !isFirstParty(price.source),
    });
  }
  return {
    lines,
    unpriced,
    tokensPerDay: demands.reduce((s, d) => s + d.tokensPerDay, 0),
    usdPerMonth: lines.reduce((s, l) => s + l.usdPerMonth, 0),
  };
}

/** LiteLLM model ids carry their provider route ("openrouter/openai/gpt-4o-mini"); the catalogue names the model. */
export function catalogueModelName(litellmModel: string): string {
  return litellmModel.replace(/^openrouter\//, "");
}
