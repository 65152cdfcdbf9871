import { spawnSync } from "node:child_process";
import { getPriority } from "node:os";
import { describe, expect, it } from "vitest";

/** Runs in a child process: the test's own process keeps its priority. */
function inChild(code: string): { out: string; status: number | null; err: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8", cwd: process.cwd() });
  return { out: r.stdout.trim(), status: r.status, err: r.stderr };
}

describe("lowerPriority", () => {
  it("sets every thread alive and the threads started afterwards", () => {
    const r = inChild(`
      import { lowerPriority, threadNiceness } from "./services/brain/src/priority.ts";
      import { Worker } from "node:worker_threads";
      const before = threadNiceness();
      const lowered = lowerPriority(7);
      // a thread started after the call (a worker thread, like libuv's pool) inherits it
      const w = new Worker("setTimeout(() => {}, 300)", { eval: true });
      await new Promise((r) => w.once("online", r));
      const after = threadNiceness();
      await w.terminate();
      console.log(JSON.stringify({ before, lowered, after }));
    `);
    expect(r.status, r.err).toBe(0);
    const { before, lowered, after } = JSON.parse(r.out) as { before: number[]; lowered: { nice: number; threads: number }; after: number[] };
    // (relative to this test's own niceness: a run under `nice` starts higher)
    const base = getPriority();
    expect(new Set(before)).toEqual(new Set([base]));
    expect(lowered.nice).toBe(Math.max(base, 7));
    expect(lowered.threads).toBe(before.length);
    expect(after.length).toBeGreaterThan(before.length);
    expect(new Set(after)).toEqual(new Set([Math.max(base, 7)]));
  });

  it("never raises a priority back, and refuses a niceness outside 0-19", () => {
    const r = inChild(`
      import { lowerPriority, threadNiceness } from "./services/brain/src/priority.ts";
      lowerPriority(12);
      lowerPriority(5);
      let refused = "";
      try { lowerPriority(20); } catch (e) { refused = e.message; }
      console.log(JSON.stringify({ now: [...new Set(threadNiceness())], refused }));
    `);
    expect(r.status, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ now: [Math.max(getPriority(), 12)], refused: "niceness 20: expected an integer from 0 to 19" });
  });
});
