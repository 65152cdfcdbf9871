import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { waitFor } from "@tierstack/common/testing";
import type { TaskStore } from "../src/types.js";
import { impls, repoRoot, startServer, type ServerProcess } from "./helpers.js";

// Agents are child processes talking HTTP to the real service (itself a child process).
// At least 20 are SIGKILLed while holding a lease; one is SIGSTOPped past its lease and then
// gets 409 on complete; every task ends completed exactly once.
const TASKS = 1000;
const AGENTS = 12;
const KILLS = 22; // of 50 "held" task ids (every 20th), so agents that are not killed (the frozen one) leave ample margin

describe.each(impls)("reliability: agents killed while holding leases, on $name", ({ skip, open }) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it.skipIf(skip)(`${TASKS} tasks, ${KILLS} SIGKILLs, one SIGSTOP past the lease`, async () => {
    const { store, url, close } = await open();
    cleanups.push(close);
    const ts = await openTokenStore(url);
    cleanups.push(ts.close);
    const { token } = await new AgentTokens(ts.store).issue("reliability");
    for (let i = 0; i < TASKS; i += 500) {
      await store.enqueue(Array.from({ length: Math.min(500, TASKS - i) }, (_, k) => ({ queue: "work", payload: { n: i + k }, priority: 0, maxAttempts: 100 })));
    }
    const server: ServerProcess = await startServer({ DATABASE_URL: url, REAPER_INTERVAL_MS: "200" });
    cleanups.push(server.stop);

    const done: number[] = [];
    const stale: number[] = [];
    let holdings = 0;
    let kills = 0;
    const killedTasks = new Set<number>();
    let stopped: ChildProcess | undefined;
    let stoppedTask = 0;
    // What the frozen agent said (DONE or STALE) about the task it held when it was stopped.
    let stoppedAnswer: string | undefined;
    const agents = new Set<ChildProcess>();
    const spawnAgent = () => {
      const child = spawn(process.execPath, ["services/task-queue/test/agent.mjs"], {
        cwd: repoRoot,
        env: { ...process.env, TQ_URL: server.url, TQ_TOKEN: token, TQ_LEASE_SECONDS: "2", TQ_WORK_MS: "10", TQ_HOLD_EVERY: "20", TQ_HOLD_MS: "1000" },
        stdio: ["ignore", "pipe", "inherit"],
      });
      agents.add(child);
      child.once("exit", () => agents.delete(child));
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const [what, id] = line.split(" ");
        if (what === "DONE") done.push(Number(id));
        if (what === "STALE") stale.push(Number(id));
        if (child === stopped && Number(id) === stoppedTask && (what === "DONE" || what === "STALE")) stoppedAnswer ??= what;
        // Only a HOLDING agent is acted on: it holds its lease for TQ_HOLD_MS (1 s) after the line, so
        // the signal lands while the lease is held even if this process reads the line late. A CLAIMED
        // task is done 10 ms after its line: a signal sent on one would often come after the completion.
        if (what !== "HOLDING") return;
        holdings++;
        if (!stopped && holdings === 3) {
          // Freeze this one past its 2 s lease, then let it try to complete.
          stopped = child;
          stoppedTask = Number(id);
          child.kill("SIGSTOP");
          setTimeout(() => child.kill("SIGCONT"), 3500);
        } else if (kills < KILLS && child !== stopped && !killedTasks.has(Number(id))) {
          killedTasks.add(Number(id));
          // It holds this lease for a second: kill it with the lease held.
          kills++;
          child.kill("SIGKILL");
          spawnAgent();
        }
      });
    };
    cleanups.push(async () => {
      for (const a of agents) a.kill("SIGKILL");
    });
    for (let i = 0; i < AGENTS; i++) spawnAgent();

    const completed = async () => (await store.list({ queue: "work", state: "completed", limit: TASKS + 1 })).length;
    await waitFor(async () => stoppedAnswer !== undefined && (await completed()) === TASKS, { what: "every task completed and the frozen agent answered", timeoutMs: 90_000, intervalMs: 250 });
    for (const a of agents) a.kill("SIGKILL");

    expect(kills).toBe(KILLS);
    // Its lease expired while it was stopped: the completion it sent on waking was refused.
    expect(stoppedAnswer).toBe("STALE");
    expect(stale).toContain(stoppedTask);
    const all = await store.list({ queue: "work", limit: TASKS + 1 });
    expect(all.every((t) => t.state === "completed")).toBe(true);
    // Every task whose holder was killed was reclaimed (a later attempt completed it).
    const reclaimed = all.filter((t) => t.attempts > 1);
    expect(killedTasks.size).toBe(KILLS);
    expect(reclaimed.map((t) => t.id)).toEqual(expect.arrayContaining([...killedTasks]));
    // Each successful completion was acknowledged to exactly one agent, once.
    expect(new Set(done).size).toBe(done.length);
    // …and the outbox holds exactly one completion event per task.
    const events = await completedEvents(store);
    expect(events.size).toBe(TASKS);
    expect([...events.values()].every((n) => n === 1)).toBe(true);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(Number(/task_queue_leases_expired_total\{[^}]*\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(KILLS);
  }, 150_000); // beyond the 90 s wait above (the default test timeout is 60 s)
});

/** Count of "completed" outbox events per task, read through the relay interface without publishing. */
async function completedEvents(store: TaskStore): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  await store.relayBatch(1_000_000, async (rows) => {
    for (const r of rows) if (r.event === "completed") counts.set(r.taskId, (counts.get(r.taskId) ?? 0) + 1);
    return [];
  });
  return counts;
}
