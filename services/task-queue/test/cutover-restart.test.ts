/**
 * A restart during a cut-over (ADR 0043) on both stores, through the real entry point: the
 * service is SIGKILLed after the drain and after the freeze, started again on the same store,
 * and comes back as it was (claims refused, then every write refused, the reaper paused);
 * after a resume, a restart serves.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { OPERATOR_AGENT } from "../src/cutover-routes.js";
import { impls, startServer, type ServerProcess } from "./helpers.js";

describe.each(impls)("a restart during a cut-over on $name", ({ skip, open }) => {
  let url: string;
  let close: () => Promise<void>;
  let agent: Record<string, string>;
  let operator: Record<string, string>;
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    if (skip) return;
    const opened = await open();
    await opened.store.close();
    url = opened.url;
    const ts = await openTokenStore(url);
    const tokens = new AgentTokens(ts.store, { cacheMs: 0 });
    agent = { authorization: `Bearer ${(await tokens.issue("agent-restart")).token}`, "content-type": "application/json" };
    operator = { authorization: `Bearer ${(await tokens.issue(OPERATOR_AGENT)).token}`, "content-type": "application/json" };
    await ts.close();
    close = opened.close;
  });
  afterAll(async () => {
    await server?.stop();
    if (!skip) await close();
  });

  const start = async () => (server = await startServer({ DATABASE_URL: url, REAPER_INTERVAL_MS: "50" }));
  const kill = async () => {
    const s = server!;
    const exited = new Promise((r) => s.proc.once("exit", r));
    s.proc.kill("SIGKILL");
    await exited;
    server = undefined;
  };
  const post = (path: string, body: unknown, headers = agent) => fetch(`${server!.url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const mode = async () => ((await (await fetch(`${server!.url}/admin/cutover`, { headers: operator })).json()) as { mode: string }).mode;

  it.skipIf(skip)("drained, killed, started again: still draining; frozen, killed, started again: still frozen; resumed, started again: serving", async () => {
    await start();
    expect((await post("/v1/tasks", { queue: "restart" })).status).toBe(201);
    // A long lease first: the restarts below must not outlast it while the reaper still runs (it
    // runs while draining); it is cut to 2 s just before the freeze.
    const leased = (await (await post("/v1/claim", { queues: ["restart"], leaseSeconds: 120 })).json()) as { tasks: { id: number; leaseToken: string }[] };
    expect(leased.tasks).toHaveLength(1);

    expect((await post("/admin/cutover/drain", { seconds: 0, retryAfterSeconds: 9 }, operator)).status).toBe(200);
    await kill();
    await start();
    expect(await mode()).toBe("draining");
    const claim = await post("/v1/claim", { queues: ["restart"] });
    expect(claim.status).toBe(503);
    expect(claim.headers.get("retry-after")).toBe("9");
    expect((await post("/v1/tasks", { queue: "restart" })).status).toBe(201); // the drain takes every write but claims

    const beat = await post(`/v1/tasks/${leased.tasks[0]!.id}/heartbeat`, { leaseToken: leased.tasks[0]!.leaseToken, leaseSeconds: 2 });
    expect(beat.status).toBe(200);
    const expiresAt = Date.parse(((await beat.json()) as { task: { leaseExpiresAt: string } }).task.leaseExpiresAt);
    expect(expiresAt).toBeGreaterThan(Date.now());
    expect((await post("/admin/cutover/freeze", {}, operator)).status).toBe(200);
    await kill();
    await start();
    expect(await mode()).toBe("frozen");
    const write = await post("/v1/tasks", { queue: "restart" });
    expect(write.status).toBe(503);
    expect(((await write.json()) as { error: string }).error).toBe("cutover");
    // The reaper stays paused: the lease has expired (or does now), and its task is not handed
    // back to ready. The reaper runs every 50 ms here, so 1 s past the expiry it would have.
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt + 1_000 - Date.now())));
    const task = (await (await fetch(`${server!.url}/v1/tasks/${leased.tasks[0]!.id}`, { headers: agent })).json()) as { task: { state: string } };
    expect(task.task.state).toBe("running");

    expect((await post("/admin/cutover/resume", {}, operator)).status).toBe(200);
    await kill();
    await start();
    expect(await mode()).toBe("serving");
    expect((await post("/v1/tasks", { queue: "restart" })).status).toBe(201);
  });
});
