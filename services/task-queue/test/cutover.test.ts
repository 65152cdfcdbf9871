import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentTokens } from "@tierstack/common";
import { waitFor } from "@tierstack/common/testing";
import type { TaskQueueApp } from "../src/app.js";
import { OPERATOR_AGENT } from "../src/cutover-routes.js";
import { impls, openApp } from "./helpers.js";

// The cut-over write path (ADR 0043) on both stores: the drain stops claims only and waits for
// the leases held; the freeze refuses every write, waits for those in flight, pauses the reaper;
// every refusal is a 503 with Retry-After and a body saying why; resume undoes both.

describe.each(impls)("cut-over drain and freeze on $name", ({ skip, open }) => {
  let svc: TaskQueueApp;
  let close: () => Promise<void>;
  let agent: Record<string, string>;
  let operator: Record<string, string>;
  beforeAll(async () => {
    if (skip) return;
    let tokens: AgentTokens;
    ({ svc, tokens, close } = await openApp(open, { REAPER_INTERVAL_MS: "50" }));
    agent = { authorization: `Bearer ${(await tokens.issue("agent-cutover")).token}` };
    operator = { authorization: `Bearer ${(await tokens.issue(OPERATOR_AGENT)).token}` };
    svc.queue.start();
  });
  afterAll(async () => {
    if (!skip) await close();
  });

  const post = (url: string, payload: unknown, headers = agent) => svc.app.inject({ method: "POST", url, headers, payload: payload as object });
  const enqueue = (queue: string) => post("/v1/tasks", { queue });
  const claim = async (queue: string, leaseSeconds = 30) => (await post("/v1/claim", { queues: [queue], leaseSeconds })).json().tasks[0] as { id: number; leaseToken: string; leaseExpiresAt: string };
  const mode = async () => (await svc.app.inject({ method: "GET", url: "/admin/cutover", headers: operator })).json().mode as string;
  const task = async (id: number) => (await svc.app.inject({ method: "GET", url: `/v1/tasks/${id}`, headers: agent })).json().task as { state: string; lastError: string | null };
  const refused = (r: { statusCode: number; headers: Record<string, unknown>; json: () => { error: string; message: string; retryAfterSeconds: number } }, says: string) => {
    expect(r.statusCode).toBe(503);
    expect(r.headers["retry-after"]).toBe("7");
    expect(r.json()).toEqual({ error: "cutover", message: expect.stringContaining(says), retryAfterSeconds: 7 });
  };

  it.skipIf(skip)("only the operator's token drives a cut-over", async () => {
    expect((await svc.app.inject({ method: "GET", url: "/admin/cutover" })).statusCode).toBe(401);
    const other = await svc.app.inject({ method: "GET", url: "/admin/cutover", headers: agent });
    expect(other.statusCode).toBe(403);
    expect(other.json().error).toBe("forbidden");
    expect((await svc.app.inject({ method: "GET", url: "/admin/cutover", headers: operator })).json()).toMatchObject({ mode: "serving", relay: "none" });
  });

  it.skipIf(skip)("drain: claims get 503 Retry-After, held leases heartbeat and complete, enqueues land; it returns when the last lease finished", async () => {
    await enqueue("drain");
    await enqueue("drain");
    const held = await claim("drain");
    const draining = post("/admin/cutover/drain", { seconds: 20, retryAfterSeconds: 7 }, operator);
    // The drain answers only once the lease is finished: wait until it has set the mode.
    await waitFor(async () => (await mode()) === "draining", { what: "the drain to set the mode" });
    refused(await post("/v1/claim", { queues: ["drain"] }), "draining for a cut-over");
    expect((await post(`/v1/tasks/${held.id}/heartbeat`, { leaseToken: held.leaseToken })).statusCode).toBe(200);
    expect((await enqueue("drain")).statusCode).toBe(201);
    // A completion asking for the next task completes, and is handed none.
    const done = await post(`/v1/tasks/${held.id}/complete`, { leaseToken: held.leaseToken, next: { queues: ["drain"] } });
    expect(done.statusCode).toBe(200);
    expect(done.json().next).toBeUndefined();
    const drained = (await draining).json();
    expect(drained).toMatchObject({ mode: "draining", leasesHeld: 0, leasesFinished: true });
    expect((await post("/admin/cutover/resume", {}, operator)).json().mode).toBe("serving");
    expect(await claim("drain")).toBeDefined();
  });

  it.skipIf(skip)("drain gives up after its seconds with the leases still held counted", async () => {
    await enqueue("drain-timeout");
    const held = await claim("drain-timeout");
    const drained = (await post("/admin/cutover/drain", { seconds: 1, retryAfterSeconds: 7 }, operator)).json();
    expect(drained).toMatchObject({ mode: "draining", leasesFinished: false });
    expect(drained.leasesHeld).toBeGreaterThanOrEqual(1);
    expect(drained.waitedMs).toBeGreaterThanOrEqual(1000);
    expect((await post(`/v1/tasks/${held.id}/complete`, { leaseToken: held.leaseToken })).statusCode).toBe(200);
    await post("/admin/cutover/resume", {}, operator);
  });

  it.skipIf(skip)("freeze: what was acknowledged is in the store and nothing changes after; every write is refused, reads are not, the reaper waits", async () => {
    await enqueue("frozen");
    // Long enough that the reaper cannot take it before the freeze (which first waits for the racing writes) pauses the reaper.
    const expiring = await claim("frozen", 5);
    await enqueue("frozen-dead");
    // Writes racing the freeze: each is either acknowledged and stored, or refused and absent.
    const racing = Array.from({ length: 40 }, (_, i) => post("/v1/tasks", { queue: "frozen-race", idempotencyKey: `race-${i}` }));
    const frozen = (await post("/admin/cutover/freeze", { flushSeconds: 1 }, operator)).json();
    expect(frozen.mode).toBe("frozen");
    expect(frozen.inflightWrites).toBe(0);
    const answers = await Promise.all(racing);
    const stored = async () => (await svc.app.inject({ method: "GET", url: "/v1/tasks?queue=frozen-race&limit=500", headers: agent })).json().tasks.map((t: { idempotencyKey: string }) => t.idempotencyKey).sort();
    const acked = answers.map((r, i) => (r.statusCode === 201 ? `race-${i}` : undefined)).filter(Boolean).sort();
    expect(answers.every((r) => r.statusCode === 201 || r.statusCode === 503)).toBe(true);
    const atFreeze = await stored();
    expect(atFreeze).toEqual(acked);

    refused(await enqueue("frozen"), "frozen for the final copy");
    refused(await post("/v1/tasks/batch", { tasks: [{ queue: "frozen" }] }), "frozen");
    refused(await post("/v1/claim", { queues: ["frozen"] }), "frozen");
    refused(await post(`/v1/tasks/${expiring.id}/heartbeat`, { leaseToken: expiring.leaseToken }), "frozen");
    refused(await post(`/v1/tasks/${expiring.id}/complete`, { leaseToken: expiring.leaseToken }), "frozen");
    refused(await post(`/v1/tasks/${expiring.id}/fail`, { leaseToken: expiring.leaseToken, error: "x" }), "frozen");
    refused(await post(`/v1/tasks/${expiring.id}/cancel`, undefined), "frozen");
    refused(await post(`/v1/dead/${expiring.id}/requeue`, undefined), "frozen");
    // Past its lease (by 20 reaper intervals of 50 ms) the task stays running: the reaper does not write during the freeze.
    const expiresAt = Date.parse(expiring.leaseExpiresAt);
    expect(Number.isFinite(expiresAt)).toBe(true);
    await waitFor(() => Date.now() > expiresAt + 1000, { what: "the lease to be 1 s past its expiry" });
    const get = await svc.app.inject({ method: "GET", url: `/v1/tasks/${expiring.id}`, headers: agent });
    expect(get.statusCode).toBe(200);
    expect(get.json().task.state).toBe("running");
    expect(await stored()).toEqual(atFreeze);

    expect((await post("/admin/cutover/resume", {}, operator)).json().mode).toBe("serving");
    await waitFor(async () => (await task(expiring.id)).state === "ready", { what: "the reaper to reclaim the expired lease after the resume" });
    expect(await task(expiring.id)).toMatchObject({ state: "ready", lastError: "lease expired" });
    expect((await enqueue("frozen")).statusCode).toBe(201);
  });
});
