/**
 * Plans: which model answers, how much history it sees, the daily quotas, and where the learner
 * runs. Model names are the catalogue names of @tierstack/cost (every plan model is priced).
 */
export type PlanId = "free" | "plus" | "dedicated";

export interface Plan {
  id: PlanId;
  /** Primary model (OpenAI-compatible `model`), priced in @tierstack/cost. */
  model: string;
  /** Used when the primary model keeps failing after its retries. */
  fallbackModel: string;
  /** Token budget for the conversation history sent with each request (system prompt included). */
  historyTokenBudget: number;
  messagesPerDay: number;
  tokensPerDay: number;
  placement: "shared" | "dedicated";
  /** Name of the env key holding this plan's Stripe price id (paid plans only). */
  stripePriceEnv?: string;
}

export const plans: Record<PlanId, Plan> = Object.freeze({
  free: {
    id: "free",
    model: "local/llama-3.1-8b-instruct",
    fallbackModel: "meta-llama/llama-3.1-8b-instruct",
    historyTokenBudget: 1_500,
    messagesPerDay: 30,
    tokensPerDay: 30_000,
    placement: "shared",
  },
  plus: {
    id: "plus",
    model: "openai/gpt-4.1-mini",
    fallbackModel: "openai/gpt-4o-mini",
    historyTokenBudget: 6_000,
    messagesPerDay: 300,
    tokensPerDay: 400_000,
    placement: "shared",
    stripePriceEnv: "STRIPE_PRICE_PLUS",
  },
  dedicated: {
    id: "dedicated",
    model: "anthropic/claude-sonnet-4.5",
    fallbackModel: "openai/gpt-4.1-mini",
    historyTokenBudget: 16_000,
    messagesPerDay: 2_000,
    tokensPerDay: 3_000_000,
    placement: "dedicated",
    stripePriceEnv: "STRIPE_PRICE_DEDICATED",
  },
} satisfies Record<PlanId, Plan>);

export const planIds: readonly PlanId[] = Object.freeze(["free", "plus", "dedicated"] as PlanId[]);

export function isPlanId(id: unknown): id is PlanId {
  return typeof id === "string" && Object.prototype.hasOwnProperty.call(plans, id);
}

/** The plan for an id; anything unknown (including "", null-ish strings, "__proto__") ⇒ free. */
export function planFor(id: string): Plan {
  return isPlanId(id) ? plans[id] : plans.free;
}
