import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { waitFor } from "@tierstack/common/testing";
import { client, startServer, type ServerProcess } from "./helpers.js";

// src/server.ts as a process: creates the SQLite file's directory, says where events go, and on
// SIGTERM stops claiming (a waiting long poll is answered empty) and exits 0.
describe("task-queue server process", () => {
  const dir = mkdtempSync(join(tmpdir(), "tq-server-"));
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves, logs that events stay in the outbox without NATS, and drains on SIGTERM", async () => {
    const url = `sqlite:${join(dir, "nested", ".data", "task-queue.db")}`;
    server = await startServer({ DATABASE_URL: url, LOG_LEVEL: "info" });
    expect(server.output()).toContain("events stay in the outbox");
    const ts = await openTokenStore(url);
    const { token } = await new AgentTokens(ts.store).issue("srv");
    await ts.close();
    const api = client(server.url, token);
    expect((await api.post("/v1/tasks", { queue: "s" })).status).toBe(201);
    const t = (await api.post("/v1/claim", { queues: ["s"] })).body.tasks[0];
    // Claim passes so far: a long poll observes task_queue_claim_duration_seconds once before it waits.
    const claimPasses = async () => Number(/task_queue_claim_duration_seconds_count\{[^}]*\} (\d+)/.exec(await (await fetch(`${server!.url}/metrics`)).text())?.[1] ?? 0);
    const before = await claimPasses();
    const waiting = api.post("/v1/claim", { queues: ["s"], waitMs: 20_000 });
    // SIGTERM only once the long poll is waiting in the server (sent earlier, the claim would be refused with 503).
    await waitFor(async () => (await claimPasses()) > before, { what: "the long poll to reach its wait" });
    const exited = new Promise<number | null>((r) => server!.proc.once("exit", (code) => r(code)));
    const started = Date.now();
    server.proc.kill("SIGTERM");
    const answer = await waiting;
    expect(answer.status).toBe(200);
    expect(answer.body.tasks).toEqual([]);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await exited).toBe(0);
    expect(t.state).toBe("running");
    expect(server.output()).toContain("stopped");
  });
});
