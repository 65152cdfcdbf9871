/**
 * The learners' LLM volume: the product's own projection, as data with its source, for the cost
 * views (`tierstack cost`, the cost guards). The agents' volume is in the tier catalogue
 * (`tiers[…].capacity.tokensPerDay`); this is the other half of the bill.
 *
 * The projection states dollars (~$12,000 a month of LLM for 16,000 learners), not tokens, so the
 * token volume here is derived from it at a stated model mix and prompt/completion split; a test
 * (cost/src/llm.test.ts) prices the volume back through the price catalogue and expects the
 * projection, so a price change that moves the figure is noticed.
 */

export interface LearnerModelShare {
  /** Model name as the brain sends it (priced in @tierstack/cost). */
  model: string;
  /** Fraction of the learners' tokens this model answers; shares sum to 1. */
  share: number;
}

export interface LearnerLlmVolume {
  /** Learners the volume is for. */
  learners: number;
  /** LLM tokens (prompt + completion) a day for all of them. */
  tokensPerDay: number;
  /** Fraction of the tokens that are completion tokens. */
  completionShare: number;
  /** Which models answer them. */
  mix: readonly LearnerModelShare[];
  /** What the product projects, in its own terms. */
  projection: { usdPerMonth: number; learners: number; source: string };
  /** How `tokensPerDay` follows from the projection, and what is assumed. */
  derivation: string;
}

export const learnerLlmVolume: LearnerLlmVolume = Object.freeze({
  learners: 16_000,
  // 12,000 USD / (730 h / 24 = 30.42 days) / (0.75 × 0.40 + 0.25 × 1.60 = 0.70 USD per million tokens)
  // = 563.6 million tokens a day, about 35,000 per learner.
  tokensPerDay: 563_600_000,
  completionShare: 0.25,
  mix: Object.freeze([{ model: "openai/gpt-4.1-mini", share: 1 }]),
  projection: {
    usdPerMonth: 12_000,
    learners: 16_000,
    source: "product planning projection: ~$12,000 a month of LLM spend for 16,000 learners (the product's own figure, quoted in issue #16)",
  },
  derivation:
    "assumption: the projection is priced at the brain's plus-plan model (openai/gpt-4.1-mini, services/brain/src/plans.ts) with 1 completion token per 3 prompt tokens " +
    "(the same split as the GPU capacity model's completionShare); tokens a day = 12,000 USD ÷ 30.42 days ÷ 0.70 USD per million tokens",
});

/** Learner tokens a day at `learners`, scaled linearly from the projection. */
export function learnerTokensPerDay(learners: number): number {
  return (learnerLlmVolume.tokensPerDay * learners) / learnerLlmVolume.learners;
}
