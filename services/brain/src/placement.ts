/**
 * Placement: where a learner's conversation runs. "shared" is this process; "dedicated" is an
 * isolated sandbox (agent-sandbox on tier-100), which implements the same interface later.
 */
import type { PlanId } from "./plans.js";

export type PlacementTarget = { kind: "shared" } | { kind: "dedicated"; sandbox: string; endpoint: string };

export interface Placement {
  place(learner: { id: string; plan: PlanId }): Promise<PlacementTarget>;
}

/** Every learner ⇒ shared (this process), whatever the plan says; the only placement before tier-100. */
export function sharedPlacement(): Placement {
  return {
    place: () => Promise.resolve({ kind: "shared" }),
  };
}
