import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentTokens } from "@tierstack/common";
import { waitFor } from "@tierstack/common/testing";
import type { TaskQueueApp } from "../src/app.js";
import { impls, openApp } from "./helpers.js";

// The HTTP API through app.inject, on both stores.
describe.each(impls)("task-queue HTTP API on $name", ({ skip, open }) => {
  let svc: TaskQueueApp;
  let close: () => Promise<void>;
  let auth: Record<string, string>;
  let tokens: AgentTokens;
  let tokenId: string;
  beforeAll(async () => {
    if (skip) return;
    ({ svc, tokens, close } = await openApp(open, { PAYLOAD_MAX_BYTES: "1024", BACKOFF_BASE_MS: "10", BACKOFF_MAX_MS: "50" }));
    const t = await tokens.issue("agent-api");
    tokenId = t.id;
    auth = { authorization: `Bearer ${t.token}` };
  });
  afterAll(async () => {
    if (!skip) await close();
  });

  const post = (url: string, payload?: object, headers = auth) => svc.app.inject({ method: "POST", url, payload, headers });
  const get = (url: string, headers = auth) => svc.app.inject({ method: "GET", url, headers });

  it.skipIf(skip)("401 without a token, with an unknown token, and after revocation", async () => {
    expect((await post("/v1/tasks", { queue: "q" }, {})).statusCode).toBe(401);
    // Authentication comes before body validation: a stranger learns nothing about the schema.
    expect((await post("/v1/tasks", { bogus: true }, {})).statusCode).toBe(401);
    expect((await post("/v1/tasks", { queue: "q" }, { authorization: "Bearer tsa_0000000000000000_" + "A".repeat(43) })).statusCode).toBe(401);
    const t = await tokens.issue("short-lived");
    const h = { authorization: `Bearer ${t.token}` };
    expect((await get("/v1/tasks?queue=q", h)).statusCode).toBe(200);
    // The scheme's name is case-insensitive (RFC 9110 §11.1).
    expect((await get("/v1/tasks?queue=q", { authorization: `bearer ${t.token}` })).statusCode).toBe(200);
    await tokens.revoke(t.id);
    expect((await get("/v1/tasks?queue=q", h)).statusCode).toBe(401);
    expect(tokenId).toMatch(/^[0-9a-f]{16}$/);
  });

  it.skipIf(skip)("400 with a clear message for bad input, 413 for an oversized payload, 404 for unknown tasks", async () => {
    const bad = await post("/v1/tasks", { queue: "no spaces allowed" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/queue/);
    expect((await post("/v1/tasks", { payload: 1 })).statusCode).toBe(400);
    expect((await post("/v1/claim", { queues: [] })).statusCode).toBe(400);
    expect((await post("/v1/claim", { queues: ["q"], leaseSeconds: 999_999 })).statusCode).toBe(400);
    expect((await post("/v1/tasks/abc/complete", { leaseToken: "x" })).statusCode).toBe(400);
    expect((await svc.app.inject({ method: "POST", url: "/v1/tasks", payload: "{not json", headers: { ...auth, "content-type": "application/json" } })).statusCode).toBe(400);
    const big = await post("/v1/tasks", { queue: "q", payload: "x".repeat(2000) });
    expect(big.statusCode).toBe(413);
    expect(big.json().message).toMatch(/limit is 1024/);
    expect((await get("/v1/tasks/999999")).statusCode).toBe(404);
    expect((await post("/v1/tasks/999999/complete", { leaseToken: "x" })).statusCode).toBe(404);
  });

  it.skipIf(skip)("enqueue → claim → heartbeat → complete; a stale token gets 409", async () => {
    const e = await post("/v1/tasks", { queue: "work", payload: { job: 1 }, idempotencyKey: "job-1" });
    expect(e.statusCode).toBe(201);
    const again = await post("/v1/tasks", { queue: "work", payload: { job: 1 }, idempotencyKey: "job-1" });
    expect(again.statusCode).toBe(200);
    expect(again.json().task.id).toBe(e.json().task.id);
    const c = await post("/v1/claim", { queues: ["work"], limit: 5, leaseSeconds: 30 });
    expect(c.statusCode).toBe(200);
    const [task] = c.json().tasks;
    expect(task).toMatchObject({ id: e.json().task.id, state: "running", leaseOwner: "agent-api" });
    expect((await post(`/v1/tasks/${task.id}/heartbeat`, { leaseToken: task.leaseToken, leaseSeconds: 60 })).statusCode).toBe(200);
    const stale = await post(`/v1/tasks/${task.id}/complete`, { leaseToken: "someone-elses" });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().message).toMatch(/stale/);
    const done = await post(`/v1/tasks/${task.id}/complete`, { leaseToken: task.leaseToken, result: { ok: 1 } });
    expect(done.statusCode).toBe(200);
    expect(done.json().task).toMatchObject({ state: "completed", result: { ok: 1 } });
    expect((await get(`/v1/tasks/${task.id}`)).json().task.state).toBe("completed");
    expect((await post(`/v1/tasks/${task.id}/cancel`)).statusCode).toBe(409);
  });

  it.skipIf(skip)("complete can claim the next task in the same request", async () => {
    const ids = (await post("/v1/tasks/batch", { tasks: [{ queue: "chain" }, { queue: "chain" }] })).json().results.map((r: { task: { id: number } }) => r.task.id);
    const first = (await post("/v1/claim", { queues: ["chain"] })).json().tasks[0];
    const r1 = await post(`/v1/tasks/${first.id}/complete`, { leaseToken: first.leaseToken, next: { queues: ["chain"], leaseSeconds: 30 } });
    expect(r1.statusCode).toBe(200);
    expect(r1.json().task.state).toBe("completed");
    const second = r1.json().next[0];
    expect([first.id, second.id].sort()).toEqual([...ids].sort());
    const r2 = await post(`/v1/tasks/${second.id}/complete`, { leaseToken: second.leaseToken, next: { queues: ["chain"] } });
    expect(r2.json().next).toEqual([]);
    expect((await post(`/v1/tasks/${second.id}/complete`, { leaseToken: second.leaseToken, next: { queues: ["chain"], waitMs: 5 } })).statusCode).toBe(400);
  });

  it.skipIf(skip)("batch enqueue, list with paging and filters", async () => {
    const r = await post("/v1/tasks/batch", { tasks: Array.from({ length: 5 }, (_, i) => ({ queue: "listing", payload: i })) });
    expect(r.statusCode).toBe(200);
    expect(r.json().results).toHaveLength(5);
    const p1 = (await get("/v1/tasks?queue=listing&limit=3")).json();
    expect(p1.tasks).toHaveLength(3);
    const p2 = (await get(`/v1/tasks?queue=listing&limit=3&after=${p1.next}`)).json();
    expect(p2.tasks).toHaveLength(2);
    expect(p2.next).toBeNull();
    expect((await get("/v1/tasks?state=bogus")).statusCode).toBe(400);
  });

  it.skipIf(skip)("fail → retry → dead letter → inspect → requeue", async () => {
    await post("/v1/tasks", { queue: "flaky", maxAttempts: 2 });
    const claim = async () => {
      let t: { id: number; leaseToken: string; attempts: number } | undefined;
      await waitFor(async () => (t = (await post("/v1/claim", { queues: ["flaky"], leaseSeconds: 30, waitMs: 200 })).json().tasks[0]) !== undefined, { what: "a claimable flaky task", timeoutMs: 10_000, intervalMs: 0 });
      return t!;
    };
    const t1 = await claim();
    expect((await post(`/v1/tasks/${t1.id}/fail`, { leaseToken: t1.leaseToken, error: "timeout" })).json().task.state).toBe("ready");
    const t2 = await claim();
    expect(t2.attempts).toBe(2);
    expect((await post(`/v1/tasks/${t2.id}/fail`, { leaseToken: t2.leaseToken, error: "timeout again" })).json().task.state).toBe("dead");
    expect((await post(`/v1/tasks/${t2.id}/fail`, { leaseToken: t2.leaseToken, error: "x" })).statusCode).toBe(409);
    const dead = (await get("/v1/dead?queue=flaky")).json();
    expect(dead.tasks.map((t: { id: number }) => t.id)).toEqual([t1.id]);
    expect((await get(`/v1/dead/${t1.id}`)).json().task.lastError).toBe("timeout again");
    expect((await post(`/v1/dead/${t1.id}/requeue`)).json().task).toMatchObject({ state: "ready", attempts: 0 });
    expect((await get(`/v1/dead/${t1.id}`)).statusCode).toBe(404);
  });

  it.skipIf(skip)("a long-poll claim waits for work and is woken by an enqueue", async () => {
    const waiting = post("/v1/claim", { queues: ["longpoll"], waitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 150));
    const e = await post("/v1/tasks", { queue: "longpoll", payload: "wake up" });
    const c = await waiting;
    expect(c.json().tasks.map((t: { id: number }) => t.id)).toEqual([e.json().task.id]);
    const empty = await post("/v1/claim", { queues: ["longpoll"], waitMs: 100 });
    expect(empty.json().tasks).toEqual([]);
  });

  it.skipIf(skip)("exposes queue depth, claim latency, leases expired, dead letters and outbox lag on /metrics", async () => {
    await post("/v1/tasks", { queue: "metered" });
    const m = (await svc.app.inject({ method: "GET", url: "/metrics" })).body;
    expect(m).toMatch(/task_queue_depth\{[^}]*queue="metered"[^}]*state="ready"[^}]*\} 1/);
    expect(m).toContain("task_queue_claim_duration_seconds_bucket");
    expect(m).toContain("task_queue_leases_expired_total");
    expect(m).toMatch(/task_queue_dead_letters_total\{[^}]*\} [1-9]/);
    expect(m).toMatch(/task_queue_outbox_unpublished\{[^}]*\} [1-9]/);
    expect((await svc.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
  });

  it.skipIf(skip)("the reaper reclaims an expired lease and counts it", async () => {
    await post("/v1/tasks", { queue: "reap" });
    const t = (await post("/v1/claim", { queues: ["reap"], leaseSeconds: 1 })).json().tasks[0];
    await new Promise((r) => setTimeout(r, 1100));
    await svc.queue.maintain();
    const again = (await post("/v1/claim", { queues: ["reap"] })).json().tasks[0];
    expect(again).toMatchObject({ id: t.id, attempts: 2 });
    expect((await post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken })).statusCode).toBe(409);
    expect((await svc.app.inject({ method: "GET", url: "/metrics" })).body).toMatch(/task_queue_leases_expired_total\{[^}]*\} [1-9]/);
  });
});
