import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskQueue } from "../src/queue.js";
import type { TaskStore } from "../src/types.js";
import { impls, item } from "./helpers.js";

// Group commit through the kit's GroupCommit: callers share a statement, but a caller whose items
// the database refuses fails alone. PostgreSQL's integer refuses a priority beyond 2^31 − 1 (the
// HTTP API never sends one: its schema caps priority at ±1000; SQLite's INTEGER would keep it).
const pgImpl = impls.find((i) => i.name === "postgres")!;

describe.skipIf(pgImpl.skip)("TaskQueue group commit on PostgreSQL", () => {
  let store: TaskStore;
  let close: () => Promise<void>;
  let queue: TaskQueue;
  beforeAll(async () => {
    ({ store, close } = await pgImpl.open());
    queue = new TaskQueue(store, { backoffBaseMs: 1000, backoffMaxMs: 60_000, reaperIntervalMs: 60_000, retentionHours: 1, batchConcurrency: 1 });
  });
  afterAll(async () => {
    await queue?.close();
    await close?.();
  });

  it("one enqueue the database refuses fails only its own caller, not the others in its batch", async () => {
    const calls = [[item("gc", { payload: "a" })], [item("gc", { payload: "b", priority: 2 ** 31 })], [item("gc", { payload: "c" }), item("gc", { payload: "d" })]];
    const r = await Promise.allSettled(calls.map((c) => queue.enqueue(c)));
    expect(r.map((x) => x.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((r[1] as PromiseRejectedResult).reason)).toMatch(/out of range for type integer/);
    const stored = await store.list({ queue: "gc", limit: 10 });
    expect(stored.map((t) => t.payload).sort()).toEqual(["a", "c", "d"]);
    // The refused batch wrote no outbox rows either: one "enqueued" per stored task.
    let events = 0;
    await store.relayBatch(1000, async (rows) => {
      events += rows.filter((e) => stored.some((t) => t.id === e.taskId)).length;
      return [];
    });
    expect(events).toBe(3);
  });
});
