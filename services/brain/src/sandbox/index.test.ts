/**
 * openPlacement: the runtime chosen from the environment, its settings checked at start
 * (every problem reported together), and the gvisor choice placing a dedicated learner in a
 * real sandbox while others stay shared.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openPlacement } from "./index.js";
import { recordingLlm, requireRunsc } from "./testing.js";

describe("openPlacement", () => {
  it("none (the default) places everyone shared", async () => {
    const p = await openPlacement({}, recordingLlm());
    expect(await p.place({ id: "l1", plan: "dedicated" })).toEqual({ kind: "shared" });
    expect(p.runtime).toBeUndefined();
    await p.close();
  });

  it("refuses an unknown runtime and a missing setting, naming each key", async () => {
    await expect(openPlacement({ BRAIN_SANDBOX_RUNTIME: "docker", BRAIN_SANDBOX_IDLE_MS: "5" }, recordingLlm())).rejects.toThrow(
      /BRAIN_SANDBOX_IDLE_MS="5": expected an integer between 1000[\s\S]*BRAIN_SANDBOX_RUNTIME="docker": expected one of none, gvisor, kubernetes/,
    );
    await expect(openPlacement({ BRAIN_SANDBOX_RUNTIME: "gvisor" }, recordingLlm())).rejects.toThrow(/BRAIN_SANDBOX_DIR is required/);
    await expect(openPlacement({ BRAIN_SANDBOX_RUNTIME: "kubernetes" }, recordingLlm())).rejects.toThrow(/BRAIN_SANDBOX_VAULT_DIR is required/);
  });

  it("gvisor: a dedicated learner gets a sandbox that answers; a plus learner stays shared", async (ctx) => {
    if (!requireRunsc()) ctx.skip();
    const dir = mkdtempSync(join(tmpdir(), "brain-open-"));
    const p = await openPlacement({ BRAIN_SANDBOX_RUNTIME: "gvisor", BRAIN_SANDBOX_DIR: dir }, recordingLlm());
    try {
      expect(await p.place({ id: "l-plus", plan: "plus" })).toEqual({ kind: "shared" });
      const t = await p.place({ id: "l-dedicated", plan: "dedicated" });
      if (t.kind !== "dedicated") throw new Error("expected a dedicated placement");
      expect(t.sandbox).toBe(p.runtime!.status("l-dedicated")!.name);
      expect(await t.llm.complete({ model: "m", messages: [{ role: "user", content: "hey" }], user: "l-dedicated" })).toMatchObject({ text: "answer: hey" });
    } finally {
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(p.runtime!.list()).toEqual([]);
  });
});
