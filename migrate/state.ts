/**
 * Where a stack is in its migration, and the only moves allowed from there: one stage forward
 * once the current stage's verification has passed, or one stage back. The state is three stack
 * config keys (tierstack:migrationTarget, migrationStage, migrationVerified) beside
 * tierstack:tier, so `pulumi up` reads the same state the CLI writes.
 */
import { isTierName, type TierName } from "../catalog/tiers.js";
import { stageOrder, transitionFrom, transitions, type Stage, type StageId, type Transition } from "./transitions.js";

export interface MigrationState {
  tier: TierName;
  target?: TierName;
  stage?: StageId;
  /** The last stage whose verification passed (only ever the current stage or the one before). */
  verified?: StageId;
}

export type Move = { ok: true; state: MigrationState; config: Record<string, string>; stage?: Stage } | { ok: false; why: string };

export const stateKeys = { target: "tierstack:migrationTarget", stage: "tierstack:migrationStage", verified: "tierstack:migrationVerified" } as const;

/** Reads the state from a stack's flat config; one line when it is inconsistent. */
export function readState(config: Record<string, string | undefined>): MigrationState {
  const tier = config["tierstack:tier"] ?? "";
  if (!isTierName(tier)) throw new Error(`tierstack:tier = ${JSON.stringify(tier)} is not a tier`);
  const target = config[stateKeys.target] || undefined;
  const stage = config[stateKeys.stage] || undefined;
  const verified = config[stateKeys.verified] || undefined;
  if (target !== undefined && !isTierName(target)) throw new Error(`${stateKeys.target} = ${JSON.stringify(target)} is not a tier`);
  for (const [key, v] of [[stateKeys.stage, stage], [stateKeys.verified, verified]] as const) {
    if (v !== undefined && !stageOrder.includes(v as StageId)) throw new Error(`${key} = ${JSON.stringify(v)} is not a stage (${stageOrder.join(", ")})`);
  }
  if ((target === undefined) !== (stage === undefined)) throw new Error(`${stateKeys.target} and ${stateKeys.stage} are set together or not at all`);
  return { tier, target, stage: stage as StageId | undefined, verified: verified as StageId | undefined };
}

/** The transition a migrating stack is in. */
export function transitionOf(s: MigrationState): Transition | undefined {
  return s.target ? transitions.find((t) => t.to === s.target) : undefined;
}

function stageOf(t: Transition, id: StageId): Stage {
  const stage = t.stages.find((x) => x.id === id);
  if (!stage) throw new Error(`${t.from} → ${t.to} has no stage ${id}`);
  return stage;
}

/** One stage forward: starts the tier's transition, or advances after the current stage verified. */
export function next(s: MigrationState): Move {
  if (!s.target || !s.stage) {
    const t = transitionFrom(s.tier);
    if (!t) return { ok: false, why: `${s.tier} is the last tier: there is no migration from it` };
    const first = stageOf(t, "expand");
    return { ok: true, stage: first, state: { tier: s.tier, target: t.to, stage: "expand" }, config: { ...first.config, [stateKeys.stage]: "expand", [stateKeys.verified]: "" } };
  }
  const t = transitionOf(s);
  if (!t) return { ok: false, why: `no migration to ${s.target} is defined` };
  if (s.verified !== s.stage) {
    return { ok: false, why: `stage ${s.stage} of ${t.from} → ${t.to} has not passed verification: run tierstack migrate verify first (no stage is skipped${s.stage === "cutover" ? ", and contract needs a verified cut-over" : ""})` };
  }
  const i = stageOrder.indexOf(s.stage);
  if (i === stageOrder.length - 1) {
    return { ok: true, state: { tier: t.to }, config: { [stateKeys.target]: "", [stateKeys.stage]: "", [stateKeys.verified]: "" } };
  }
  const id = stageOrder[i + 1] as StageId;
  const stage = stageOf(t, id);
  const tier = (stage.config["tierstack:tier"] as TierName | undefined) ?? s.tier;
  return { ok: true, stage, state: { tier, target: t.to, stage: id, verified: s.verified }, config: { ...stage.config, [stateKeys.stage]: id } };
}

/** Records that the current stage's verification passed. */
export function verified(s: MigrationState): Move {
  if (!s.stage) return { ok: false, why: "the stack is not in a migration: nothing to verify (tierstack migrate next starts one)" };
  return { ok: true, state: { ...s, verified: s.stage }, config: { [stateKeys.verified]: s.stage } };
}

/** One stage back (expand → no migration). Contract is not undone by config: its runbook says how. */
export function rollback(s: MigrationState): Move {
  const t = transitionOf(s);
  if (!t || !s.stage) return { ok: false, why: "the stack is not in a migration: nothing to roll back" };
  if (s.stage === "contract") return { ok: false, why: `contract of ${t.from} → ${t.to} has retired the old resources: ${stageOf(t, "contract").rollback}` };
  if (s.stage === "expand") return { ok: true, state: { tier: t.from }, config: { [stateKeys.target]: "", [stateKeys.stage]: "", [stateKeys.verified]: "" } };
  const prev = stageOrder[stageOrder.indexOf(s.stage) - 1] as StageId;
  const tier = s.stage === "cutover" ? t.from : s.tier;
  return { ok: true, state: { tier, target: t.to, stage: prev, verified: prev }, config: { "tierstack:tier": tier, [stateKeys.stage]: prev, [stateKeys.verified]: prev } };
}
