/**
 * @tierstack/cost — the price catalogue: every price is data with its source and date, plus pure
 * estimators over it. LLM prices per million tokens (llm-prices.ts), infrastructure prices by
 * region and how each Pulumi resource type is billed (infra.ts), the stack estimator over a
 * plan's resources (estimate.ts) and the LLM projection (llm.ts).
 */
export * from "./llm-prices.js";
export * from "./infra.js";
export * from "./estimate.js";
export * from "./llm.js";
