import { describe, expect, it } from "vitest";
import { waitFor } from "@tierstack/common/testing";
import type { Lease, TaskStore } from "../src/types.js";
import { claimOne, impls, item, storeFixture } from "./helpers.js";

// One contract for every TaskStore implementation, on the real databases (the whole row after
// each transition: store.transitions.contract.test.ts).
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const failReq = (l: Lease, retry = true) => ({ id: l.task.id, leaseToken: l.leaseToken, error: "boom", retry, backoff: { baseMs: 10, maxMs: 1000, jitter: 0 } });

describe.each(impls)("TaskStore contract on $name", ({ skip, open }) => {
  let store!: TaskStore;
  storeFixture(open, skip, (s) => (store = s));

  it.skipIf(skip)("enqueues a batch and returns the tasks in input order, ready", async () => {
    const out = await store.enqueue([item("e1", { payload: { a: 1 } }), item("e1", { payload: { a: 2 }, priority: 5 })]);
    expect(out.map((o) => [o.created, o.task.state, o.task.payload])).toEqual([[true, "ready", { a: 1 }], [true, "ready", { a: 2 }]]);
    expect(out[1]?.task.priority).toBe(5);
    expect((await store.get(out[0]!.task.id))?.payload).toEqual({ a: 1 });
  });

  it.skipIf(skip)("an idempotency key names one task, within a batch and across calls", async () => {
    const [a, b] = await store.enqueue([item("idem", { idempotencyKey: "k1" }), item("idem", { idempotencyKey: "k1" })]);
    expect(a?.created).toBe(true);
    expect(b?.created).toBe(false);
    expect(b?.task.id).toBe(a?.task.id);
    const [c] = await store.enqueue([item("idem", { idempotencyKey: "k1", payload: "different" })]);
    expect(c).toMatchObject({ created: false, task: { id: a?.task.id } });
    const [d] = await store.enqueue([item("idem-other", { idempotencyKey: "k1" })]);
    expect(d?.created).toBe(true);
  });

  it.skipIf(skip)("claims by priority then age, leases with a token, and never hands a task to two claimers", async () => {
    const ids = (await store.enqueue([item("c1"), item("c1", { priority: 9 }), item("c1")])).map((r) => r.task.id);
    const [first, second] = await store.claim([
      { queues: ["c1"], limit: 1, leaseSeconds: 30, owner: "x" },
      { queues: ["c1"], limit: 5, leaseSeconds: 30, owner: "y" },
    ]);
    expect(first?.map((l) => l.task.id)).toEqual([ids[1]]);
    expect(second?.map((l) => l.task.id).sort()).toEqual([ids[0], ids[2]].sort());
    expect(first?.[0]?.task).toMatchObject({ state: "running", attempts: 1, leaseOwner: "x" });
    expect(first?.[0]?.leaseToken).not.toEqual(second?.[0]?.leaseToken);
    expect(await store.claim([{ queues: ["c1"], limit: 5, leaseSeconds: 30, owner: "z" }])).toEqual([[]]);
  });

  it.skipIf(skip)("does not claim before runAt, nor from other queues", async () => {
    await store.enqueue([item("later", { runAt: Date.now() + 60_000 }), item("elsewhere")]);
    expect(await claimOne(store, "later")).toBeUndefined();
  });

  it.skipIf(skip)("concurrent claim batches from many callers hand out each task exactly once", async () => {
    await store.enqueue(Array.from({ length: 60 }, () => item("race")));
    const rounds = await Promise.all(Array.from({ length: 12 }, (_, i) => store.claim([{ queues: ["race"], limit: 3, leaseSeconds: 30, owner: `w${i}` }, { queues: ["race"], limit: 3, leaseSeconds: 30, owner: `v${i}` }])));
    const got = rounds.flat(2).map((l) => l.task.id);
    expect(got.length).toBe(60);
    expect(new Set(got).size).toBe(60);
  });

  it.skipIf(skip)("completes with the current token once; stale tokens and unknown ids are told apart", async () => {
    await store.enqueue([item("done")]);
    const l = (await claimOne(store, "done"))!;
    const [bad, ok, missing] = await store.complete([
      { id: l.task.id, leaseToken: "not-the-token", result: 1 },
      { id: l.task.id, leaseToken: l.leaseToken, result: { ok: true } },
      { id: 987_654_321, leaseToken: "x", result: null },
    ]);
    expect(bad?.status).toBe("stale");
    expect(ok).toMatchObject({ status: "ok", task: { state: "completed", result: { ok: true } } });
    expect(missing?.status).toBe("not_found");
    // A retry of the same completion is answered ok without completing twice.
    const [again] = await store.complete([{ id: l.task.id, leaseToken: l.leaseToken, result: "other" }]);
    expect(again).toMatchObject({ status: "ok", task: { result: { ok: true } } });
    expect((await store.heartbeat(l.task.id, l.leaseToken, 30)).status).toBe("stale");
  });

  it.skipIf(skip)("an expired lease is stale for heartbeat/complete/fail and the reaper makes the task claimable again", async () => {
    await store.enqueue([item("exp")]);
    const l = (await claimOne(store, "exp", 1))!;
    expect((await store.heartbeat(l.task.id, l.leaseToken, 1)).status).toBe("ok");
    await sleep(1100);
    expect((await store.heartbeat(l.task.id, l.leaseToken, 30)).status).toBe("stale");
    expect((await store.complete([{ id: l.task.id, leaseToken: l.leaseToken, result: null }]))[0]?.status).toBe("stale");
    expect((await store.fail(failReq(l))).status).toBe("stale");
    expect((await store.reapExpired()).requeued).toBeGreaterThanOrEqual(1);
    const again = (await claimOne(store, "exp"))!;
    expect(again.task).toMatchObject({ id: l.task.id, attempts: 2 });
    expect(again.leaseToken).not.toBe(l.leaseToken);
    expect((await store.complete([{ id: l.task.id, leaseToken: l.leaseToken, result: null }]))[0]?.status).toBe("stale");
    expect((await store.complete([{ id: l.task.id, leaseToken: again.leaseToken, result: null }]))[0]?.status).toBe("ok");
  });

  it.skipIf(skip)("fail retries with backoff until maxAttempts, then dead-letters; requeue brings it back", async () => {
    const { task } = (await store.enqueue([item("f", { maxAttempts: 2 })]))[0]!;
    const l1 = (await claimOne(store, "f"))!;
    const r1 = await store.fail(failReq(l1));
    expect(r1).toMatchObject({ status: "ok", task: { state: "ready", lastError: "boom" } });
    expect(Date.parse(r1.task!.runAt)).toBeGreaterThan(Date.now() - 1000);
    await sleep(60);
    const l2 = (await claimOne(store, "f"))!;
    expect(l2.task.attempts).toBe(2);
    expect((await store.fail(failReq(l2))).task?.state).toBe("dead");
    expect((await store.list({ state: "dead", queue: "f", limit: 10 })).map((t) => t.id)).toEqual([task.id]);
    expect((await store.requeueDead(task.id))).toMatchObject({ status: "ok", task: { state: "ready", attempts: 0 } });
    expect((await store.requeueDead(task.id)).status).toBe("conflict");
    const l3 = (await claimOne(store, "f"))!;
    expect((await store.fail(failReq(l3, false))).task?.state).toBe("dead");
  });

  it.skipIf(skip)("cancels ready or running tasks (fencing the holder out) but not finished ones", async () => {
    const [a] = await store.enqueue([item("cx")]);
    const l = (await claimOne(store, "cx"))!;
    expect((await store.cancel(a!.task.id)).task?.state).toBe("cancelled");
    expect((await store.complete([{ id: l.task.id, leaseToken: l.leaseToken, result: null }]))[0]?.status).toBe("stale");
    expect((await store.cancel(a!.task.id)).status).toBe("conflict");
    expect((await store.cancel(999_999_999)).status).toBe("not_found");
  });

  it.skipIf(skip)("lists with filters and keyset paging", async () => {
    await store.enqueue(Array.from({ length: 5 }, () => item("page")));
    const p1 = await store.list({ queue: "page", limit: 3 });
    const p2 = await store.list({ queue: "page", limit: 3, after: p1[2]!.id });
    expect(p1.length).toBe(3);
    expect(p2.length).toBe(2);
    expect(new Set([...p1, ...p2].map((t) => t.id)).size).toBe(5);
    expect((await store.list({ queue: "page", state: "running", limit: 10 })).length).toBe(0);
  });

  it.skipIf(skip)("writes one outbox row per lifecycle event, relays them in order and marks them published", async () => {
    const before = (await store.outboxLag()).unpublished;
    await store.enqueue([item("ob")]);
    const l = (await claimOne(store, "ob"))!;
    await store.complete([{ id: l.task.id, leaseToken: l.leaseToken, result: null }]);
    expect((await store.outboxLag()).unpublished).toBe(before + 3);
    const seen: { event: string; taskId: number; id: number }[] = [];
    let n: number;
    do {
      n = await store.relayBatch(50, async (rows) => {
        seen.push(...rows);
        return rows.map((r) => r.id);
      });
    } while (n > 0);
    const mine = seen.filter((r) => r.taskId === l.task.id);
    expect(mine.map((r) => r.event)).toEqual(["enqueued", "claimed", "completed"]);
    expect(seen.map((r) => r.id)).toEqual([...seen.map((r) => r.id)].sort((a, b) => a - b));
    expect((await store.outboxLag()).unpublished).toBe(0);
    // A relay pass that publishes nothing marks nothing.
    await store.enqueue([item("ob")]);
    expect(await store.relayBatch(50, async () => [])).toBe(0);
    expect((await store.outboxLag()).unpublished).toBe(1);
  });

  it.skipIf(skip)("reports depth per queue for ready, running and dead tasks only (finished history is not depth)", async () => {
    const [, , , cancelled] = await store.enqueue([item("depth"), item("depth"), item("depth"), item("depth"), item("depth"), item("depth")]);
    await store.cancel(cancelled!.task.id);
    const done = (await claimOne(store, "depth"))!;
    await store.complete([{ id: done.task.id, leaseToken: done.leaseToken, result: null }]);
    await store.fail(failReq((await claimOne(store, "depth"))!, false));
    await claimOne(store, "depth");
    const d = (await store.depth()).filter((r) => r.queue === "depth");
    expect(d.sort((a, b) => a.state.localeCompare(b.state))).toEqual([
      { queue: "depth", state: "dead", count: 1 }, { queue: "depth", state: "ready", count: 2 }, { queue: "depth", state: "running", count: 1 },
    ]);
  });

  it.skipIf(skip)("wakes listeners when work is enqueued", async () => {
    const woke: string[] = [];
    const off = store.onWake((q) => woke.push(q));
    await store.enqueue([item("wake")]);
    await waitFor(() => woke.includes("wake"), { what: "a wake-up for queue wake", timeoutMs: 5000 });
    off();
    expect(woke).toContain("wake");
  });

  it.skipIf(skip)("prunes finished tasks and published events older than the cut-off, keeps live work", async () => {
    await store.enqueue([item("prune"), item("prune")]);
    const l = (await claimOne(store, "prune"))!;
    await store.complete([{ id: l.task.id, leaseToken: l.leaseToken, result: null }]);
    while ((await store.relayBatch(500, async (rows) => rows.map((r) => r.id))) > 0);
    const r = await store.prune(Date.now() + 1000);
    expect(r.tasks).toBeGreaterThanOrEqual(1);
    expect(r.outbox).toBeGreaterThanOrEqual(3);
    expect(await store.get(l.task.id)).toBeUndefined();
    expect((await store.list({ queue: "prune", limit: 10 })).map((t) => t.state)).toEqual(["ready"]);
  });

  it.skipIf(skip)("keeps the cut-over mode: none while serving, the last one saved, none again after a clear", async () => {
    expect(await store.cutoverState()).toBeUndefined();
    await store.saveCutoverState({ mode: "draining", retryAfterSeconds: 5 });
    expect(await store.cutoverState()).toEqual({ mode: "draining", retryAfterSeconds: 5 });
    await store.saveCutoverState({ mode: "frozen", retryAfterSeconds: 12 });
    expect(await store.cutoverState()).toEqual({ mode: "frozen", retryAfterSeconds: 12 });
    await store.saveCutoverState(undefined);
    expect(await store.cutoverState()).toBeUndefined();
  });
});
