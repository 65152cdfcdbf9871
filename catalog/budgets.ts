/**
 * Default monthly infrastructure budgets per tier: what the cost guard holds a stack to when
 * tierstack:budgetUsdPerMonth is 0 (unset), and what its billing budget alerts at. A stack that
 * knows its budget sets the key; these defaults exist so the reference stacks are guarded too.
 *
 * The tier catalogue's planning figures (tiers.ts `capacity.infraUsdPerMonth`) are what the
 * product planned, and they do not cover the shapes as built and priced: tier-50 planned $525 a
 * month, while its GPU box alone (g2-standard-24, two L4s) lists at $1,460. So each default is
 * the planning figure where it covers the reference stack's estimated maximum, and otherwise that
 * estimate (`tierstack cost`, 2026-12-01) with about 20% headroom, rounded up: growth beyond it
 * trips the guard and asks for a decision.
 */
import type { TierName } from "./tiers.js";

export interface TierBudget {
  usdPerMonth: number;
  reason: string;
}

export const defaultBudgets: Readonly<Record<TierName, TierBudget>> = Object.freeze({
  "single-box": {
    usdPerMonth: 313,
    reason: "the planning figure (catalog/tiers.ts); covers the reference box (e2-standard-4, $123.35 a month estimated max), not the L4 variant (g2-standard-4, about $545): a GPU box sets tierstack:budgetUsdPerMonth",
  },
  "tier-50": {
    usdPerMonth: 2_800,
    reason: "the planning figure ($525) does not cover the GPU box; the reference stack's estimated max was $2,269.44 on 2026-12-01, plus about 20%",
  },
  "tier-100": {
    usdPerMonth: 10_000,
    reason: "the planning figure ($1,200) does not cover the A100 inference pool; the reference stack's estimated max was $7,493.83 on 2026-12-01 (before the learner pool), plus headroom for it",
  },
});
