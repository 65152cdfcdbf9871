import { describe, expect, it } from "vitest";
import { waitFor } from "@tierstack/common/testing";
import type { BackoffPolicy } from "@tierstack/common";
import type { EnqueueInput, Lease, Task, TaskStore } from "../src/types.js";
import { claimOne, eventsOf, impls, item, storeFixture } from "./helpers.js";

/**
 * The contract, part two: the whole row after every transition, written out, on both stores
 * (transitions.ts; ADR 0014). Each expected row names the seven columns no transition changes
 * (`fixed`) and writes out the other nine. Times are checked against the window of the call
 * that wrote them (Date.now() before and after; 1 ms either side for the stores' precision), or
 * as equal to the time they must not have moved from. Each test also checks that the row read
 * back equals the row answered, and the outbox events written (event, attempt).
 */
type Window = { lo: number; hi: number };
async function timed<T>(fn: () => Promise<T>): Promise<[T, Window]> {
  const lo = Date.now();
  const v = await fn();
  return [v, { lo, hi: Date.now() }];
}
/** An ISO time inside the window, shifted by `plusMs` (a lease length, a backoff delay). */
const within = (w: Window, plusMs = 0) =>
  expect.toSatisfy((v: unknown) => typeof v === "string" && Date.parse(v) >= w.lo + plusMs - 1 && Date.parse(v) <= w.hi + plusMs + 1, `a time in [${w.lo}, ${w.hi}] + ${plusMs} ms`);
/** The columns no transition changes. */
const fixed = (t: Task) => ({ id: t.id, queue: t.queue, priority: t.priority, maxAttempts: t.maxAttempts, payload: t.payload, idempotencyKey: t.idempotencyKey, createdAt: t.createdAt });
const backoff = (baseMs: number): BackoffPolicy => ({ baseMs, maxMs: 3_600_000, jitter: 0 });
const fail = (s: TaskStore, l: Lease, opts: { retry?: boolean; baseMs?: number } = {}) =>
  s.fail({ id: l.task.id, leaseToken: l.leaseToken, error: "boom", retry: opts.retry ?? true, backoff: backoff(opts.baseMs ?? 1) });
/** Until the task's run_at (a retry's backoff) has passed, so it can be claimed again. */
const due = (t: Task) => waitFor(() => Date.now() > Date.parse(t.runAt) + 1, { what: `task ${t.id} due` });

describe.each(impls)("TaskStore rows after each transition on $name", ({ skip, open }) => {
  let store!: TaskStore;
  storeFixture(open, skip, (s) => (store = s));
  const claim = async (queue: string, owner = "agent-7", leaseSeconds = 30) => (await claimOne(store, queue, leaseSeconds, owner))!;
  const same = async (t: Task) => expect(await store.get(t.id)).toEqual(t);
  const enqueued = async (i: EnqueueInput) => (await store.enqueue([i]))[0]!.task;

  it.skipIf(skip)("ready: an enqueued task (now, or at its runAt)", async () => {
    const runAt = Date.now() + 60_000;
    const [[a, b], w] = await timed(() => store.enqueue([item("row-ready", { payload: { n: 1 }, priority: 3, idempotencyKey: "k-1" }), item("row-ready", { runAt, maxAttempts: 1 })]));
    expect(a).toEqual({
      created: true,
      task: {
        id: expect.any(Number), queue: "row-ready", priority: 3, maxAttempts: 3, payload: { n: 1 }, idempotencyKey: "k-1", createdAt: within(w),
        state: "ready", runAt: a!.task.createdAt, attempts: 0, result: null, lastError: null, leaseOwner: null, leaseExpiresAt: null, updatedAt: a!.task.createdAt, finishedAt: null,
      },
    });
    expect(b!.task).toEqual({ ...fixed(a!.task), id: b!.task.id, priority: 0, maxAttempts: 1, idempotencyKey: null, createdAt: within(w),
      state: "ready", runAt: new Date(runAt).toISOString(), attempts: 0, result: null, lastError: null, leaseOwner: null, leaseExpiresAt: null, updatedAt: b!.task.createdAt, finishedAt: null });
    await same(a!.task);
    await same(b!.task);
    expect(await eventsOf(store, a!.task.id)).toEqual([["enqueued", 0]]);
  });

  it.skipIf(skip)("leased, then heartbeated: the lease is the holder's and only its end moves", async () => {
    const t = await enqueued(item("row-lease"));
    const [claimed, w] = await timed(() => store.claim([{ queues: ["row-lease"], limit: 1, leaseSeconds: 30, owner: "agent-7" }]));
    const lease = claimed[0]![0]!;
    expect(lease).toEqual({
      leaseToken: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
      task: { ...fixed(t), state: "running", runAt: t.runAt, attempts: 1, result: null, lastError: null, leaseOwner: "agent-7", leaseExpiresAt: within(w, 30_000), updatedAt: within(w), finishedAt: null },
    });
    await same(lease.task);
    const [hb, wh] = await timed(() => store.heartbeat(t.id, lease.leaseToken, 120));
    expect(hb).toEqual({
      status: "ok",
      task: { ...fixed(t), state: "running", runAt: t.runAt, attempts: 1, result: null, lastError: null, leaseOwner: "agent-7", leaseExpiresAt: within(wh, 120_000), updatedAt: within(wh), finishedAt: null },
    });
    await same(hb.task!);
    expect(await eventsOf(store, t.id)).toEqual([["enqueued", 0], ["claimed", 1]]);
  });

  it.skipIf(skip)("completed: the result recorded, the lease ended, its owner kept", async () => {
    const t = await enqueued(item("row-done"));
    const l = await claim("row-done");
    const [[done], w] = await timed(() => store.complete([{ id: t.id, leaseToken: l.leaseToken, result: { ok: true } }]));
    expect(done).toEqual({
      status: "ok",
      task: { ...fixed(t), state: "completed", runAt: t.runAt, attempts: 1, result: { ok: true }, lastError: null, leaseOwner: "agent-7", leaseExpiresAt: null, updatedAt: within(w), finishedAt: done!.task!.updatedAt },
    });
    await same(done!.task!);
    expect(await eventsOf(store, t.id)).toEqual([["enqueued", 0], ["claimed", 1], ["completed", 1]]);
  });

  it.skipIf(skip)("failed and retried: ready again after backoffDelay(attempts − 1), the lease cleared", async () => {
    const t = await enqueued(item("row-retry"));
    const [r1, w1] = await timed(async () => store.fail({ ...(await failArgs("row-retry")), backoff: backoff(20) }));
    expect(r1).toEqual({
      status: "ok",
      task: { ...fixed(t), state: "ready", runAt: within(w1, 20), attempts: 1, result: null, lastError: "boom", leaseOwner: null, leaseExpiresAt: null, updatedAt: within(w1), finishedAt: null },
    });
    await same(r1.task!);
    await due(r1.task!);
    // The second failure waits twice the base: 60 000 · 2^(2 − 1).
    const [r2, w2] = await timed(async () => store.fail({ ...(await failArgs("row-retry")), backoff: backoff(60_000) }));
    expect(r2).toEqual({
      status: "ok",
      task: { ...fixed(t), state: "ready", runAt: within(w2, 120_000), attempts: 2, result: null, lastError: "boom", leaseOwner: null, leaseExpiresAt: null, updatedAt: within(w2), finishedAt: null },
    });
    await same(r2.task!);
    expect(await eventsOf(store, t.id)).toEqual([["enqueued", 0], ["claimed", 1], ["failed", 1], ["claimed", 2], ["failed", 2]]);
  });

  async function failArgs(queue: string) {
    const l = await claim(queue);
    return { id: l.task.id, leaseToken: l.leaseToken, error: "boom", retry: true };
  }

  it.skipIf(skip)("dead-lettered: out of attempts, or on request; the owner of the last lease kept", async () => {
    const [t, u] = [await enqueued(item("row-dead", { maxAttempts: 2 })), await enqueued(item("row-dead-now"))];
    const retried = (await fail(store, await claim("row-dead", "agent-1"))).task!;
    await due(retried);
    const l2 = await claim("row-dead", "agent-2");
    const [dead, w] = await timed(() => fail(store, l2));
    expect(dead).toEqual({
      status: "ok",
      task: { ...fixed(t), state: "dead", runAt: retried.runAt, attempts: 2, result: null, lastError: "boom", leaseOwner: "agent-2", leaseExpiresAt: null, updatedAt: within(w), finishedAt: dead.task!.updatedAt },
    });
    await same(dead.task!);
    expect(await eventsOf(store, t.id)).toEqual([["enqueued", 0], ["claimed", 1], ["failed", 1], ["claimed", 2], ["failed", 2], ["dead_lettered", 2]]);

    const [now, wn] = await timed(async () => fail(store, await claim("row-dead-now", "agent-3"), { retry: false }));
    expect(now).toEqual({
      status: "ok",
      task: { ...fixed(u), state: "dead", runAt: u.runAt, attempts: 1, result: null, lastError: "boom", leaseOwner: "agent-3", leaseExpiresAt: null, updatedAt: within(wn), finishedAt: now.task!.updatedAt },
    });
    await same(now.task!);
    expect(await eventsOf(store, u.id)).toEqual([["enqueued", 0], ["claimed", 1], ["failed", 1], ["dead_lettered", 1]]);
  });

  it.skipIf(skip)("cancelled: running (its holder's lease ended, owner kept) or ready", async () => {
    const [t, u] = [await enqueued(item("row-cancel")), await enqueued(item("row-cancel-ready"))];
    await claim("row-cancel");
    const [c, w] = await timed(() => store.cancel(t.id));
    expect(c).toEqual({
      status: "ok",
      task: { ...fixed(t), state: "cancelled", runAt: t.runAt, attempts: 1, result: null, lastError: null, leaseOwner: "agent-7", leaseExpiresAt: null, updatedAt: within(w), finishedAt: c.task!.updatedAt },
    });
    await same(c.task!);
    const [cr, wr] = await timed(() => store.cancel(u.id));
    expect(cr).toEqual({
      status: "ok",
      task: { ...fixed(u), state: "cancelled", runAt: u.runAt, attempts: 0, result: null, lastError: null, leaseOwner: null, leaseExpiresAt: null, updatedAt: within(wr), finishedAt: cr.task!.updatedAt },
    });
    await same(cr.task!);
    expect(await eventsOf(store, t.id)).toEqual([["enqueued", 0], ["claimed", 1], ["cancelled", 1]]);
    expect(await eventsOf(store, u.id)).toEqual([["enqueued", 0], ["cancelled", 0]]);
  });

  it.skipIf(skip)("requeued: a dead letter ready now with fresh attempts, its last error kept", async () => {
    const t = await enqueued(item("row-requeue"));
    await fail(store, await claim("row-requeue"), { retry: false });
    const [r, w] = await timed(() => store.requeueDead(t.id));
    expect(r).toEqual({
      status: "ok",
      task: { ...fixed(t), state: "ready", runAt: within(w), attempts: 0, result: null, lastError: "boom", leaseOwner: null, leaseExpiresAt: null, updatedAt: r.task!.runAt, finishedAt: null },
    });
    await same(r.task!);
    expect(await eventsOf(store, t.id)).toEqual([["enqueued", 0], ["claimed", 1], ["failed", 1], ["dead_lettered", 1], ["requeued", 0]]);
  });

  it.skipIf(skip)("reaped: an expired lease back to ready (lease cleared) or, out of attempts, dead (owner kept)", async () => {
    const [t, u] = [await enqueued(item("row-reap")), await enqueued(item("row-reap-last", { maxAttempts: 1 }))];
    const a = await claim("row-reap", "agent-r", 0.05);
    const b = await claim("row-reap-last", "agent-s", 0.05);
    await waitFor(() => Date.now() > Math.max(Date.parse(a.task.leaseExpiresAt!), Date.parse(b.task.leaseExpiresAt!)) + 1, { what: "both leases expired" });
    const [n, w] = await timed(() => store.reapExpired());
    expect(n.requeued).toBeGreaterThanOrEqual(1);
    expect(n.dead).toBeGreaterThanOrEqual(1);
    const ready = (await store.get(t.id))!;
    expect(ready).toEqual({ ...fixed(t), state: "ready", runAt: t.runAt, attempts: 1, result: null, lastError: "lease expired", leaseOwner: null, leaseExpiresAt: null, updatedAt: within(w), finishedAt: null });
    const dead = (await store.get(u.id))!;
    expect(dead).toEqual({ ...fixed(u), state: "dead", runAt: u.runAt, attempts: 1, result: null, lastError: "lease expired", leaseOwner: "agent-s", leaseExpiresAt: null, updatedAt: within(w), finishedAt: dead.updatedAt });
    expect(await eventsOf(store, t.id)).toEqual([["enqueued", 0], ["claimed", 1], ["lease_expired", 1]]);
    expect(await eventsOf(store, u.id)).toEqual([["enqueued", 0], ["claimed", 1], ["lease_expired", 1], ["dead_lettered", 1]]);
    // The old holders are fenced out of both.
    expect((await store.heartbeat(t.id, a.leaseToken, 30)).status).toBe("stale");
    expect((await store.complete([{ id: u.id, leaseToken: b.leaseToken, result: null }]))[0]?.status).toBe("stale");
  });
});
