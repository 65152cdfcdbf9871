import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderRunbooks } from "./runbook.js";
import { next, readState, rollback, verified, type MigrationState } from "./state.js";
import { stageOrder, transitions } from "./transitions.js";

/** Applies a move and returns its state (fails the test on a refusal). */
const ok = (m: ReturnType<typeof next>): MigrationState => {
  if (!m.ok) throw new Error(m.why);
  return m.state;
};

describe("the migration stages", () => {
  it("each transition has expand, copy, cutover and contract in that order, each fully described", () => {
    for (const t of transitions) {
      expect(t.stages.map((s) => s.id)).toEqual(stageOrder);
      for (const s of t.stages) for (const field of [s.title, s.rollback, ...s.preconditions, ...s.verification]) expect(field.length).toBeGreaterThan(5);
    }
  });

  it("walks single-box → tier-50 only forward, one verified stage at a time", () => {
    let s = readState({ "tierstack:tier": "single-box" });
    s = ok(next(s));
    expect(s).toEqual({ tier: "single-box", target: "tier-50", stage: "expand" });
    const skip = next(s);
    expect(skip).toEqual({ ok: false, why: expect.stringContaining("stage expand of single-box → tier-50 has not passed verification") });
    s = ok(verified(s));
    s = ok(next(s));
    expect(s.stage).toBe("copy");
    s = ok(next(ok(verified(s))));
    expect(s).toMatchObject({ stage: "cutover", tier: "tier-50" });
    const contract = next(s);
    expect(contract.ok).toBe(false);
    expect(!contract.ok && contract.why).toContain("contract needs a verified cut-over");
    s = ok(next(ok(verified(s))));
    expect(s.stage).toBe("contract");
    s = ok(next(ok(verified(s))));
    expect(s).toEqual({ tier: "tier-50" });
    expect(ok(next(s))).toMatchObject({ target: "tier-100", stage: "expand" });
  });

  it("rolls back one stage at a time; cut-over back to copy returns the tier; contract is not undone by config", () => {
    const cutover: MigrationState = { tier: "tier-50", target: "tier-50", stage: "cutover", verified: "copy" };
    expect(ok(rollback(cutover))).toEqual({ tier: "single-box", target: "tier-50", stage: "copy", verified: "copy" });
    expect(ok(rollback({ tier: "single-box", target: "tier-50", stage: "expand" }))).toEqual({ tier: "single-box" });
    const contract = rollback({ tier: "tier-50", target: "tier-50", stage: "contract", verified: "cutover" });
    expect(!contract.ok && contract.why).toContain("restore the box from the snapshot");
    expect(rollback({ tier: "single-box" })).toEqual({ ok: false, why: expect.stringContaining("not in a migration") });
  });

  it("tier-100 is the last tier; inconsistent state is one line", () => {
    expect(next({ tier: "tier-100" })).toEqual({ ok: false, why: "tier-100 is the last tier: there is no migration from it" });
    expect(() => readState({ "tierstack:tier": "single-box", "tierstack:migrationStage": "copy" })).toThrow("set together or not at all");
    expect(() => readState({ "tierstack:tier": "single-box", "tierstack:migrationTarget": "tier-50", "tierstack:migrationStage": "copying" })).toThrow('"copying" is not a stage');
  });

  it("the checked-in runbooks are the ones the definitions generate", () => {
    for (const [file, text] of Object.entries(renderRunbooks())) {
      expect(readFileSync(join(__dirname, "..", "docs", "migrations", file), "utf8"), `docs/migrations/${file}: run npx tsx cli/main.ts migrate runbooks`).toBe(text);
    }
  });
});
