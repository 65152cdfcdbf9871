import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { available, PG_URL, startPrivatePostgres, waitFor, type PrivatePostgres } from "@tierstack/common/testing";
import { client, startServer, type ServerProcess } from "./helpers.js";

// A private PostgreSQL is stopped with `-m immediate` (crash: no checkpoint) while ≥ 50 requests
// are in flight and the outbox holds unpublished rows. After restart, the client's ledger of
// acknowledged enqueues and completions matches the database exactly.
const pgTools = await available("postgres", PG_URL);
const LOOPS = 60;

describe.skipIf(!pgTools)("reliability: PostgreSQL crash under load", () => {
  let db: PrivatePostgres | undefined;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    db?.destroy();
  });

  it("keeps every acknowledged enqueue and completion, and nothing else", async () => {
    db = await startPrivatePostgres();
    const ts = await openTokenStore(db.url);
    const { token } = await new AgentTokens(ts.store).issue("crash-test");
    await ts.close();
    server = await startServer({ DATABASE_URL: db.url, LEASE_SECONDS_DEFAULT: "120", REAPER_INTERVAL_MS: "500" });
    const api = client(server.url, token);

    const enqueued = new Map<string, number>(); // idempotency key → task id (acknowledged)
    const unackedEnqueue = new Set<string>();
    const completed = new Set<number>(); // acknowledged completions
    const unackedComplete = new Map<number, string>(); // task id → lease token
    let inFlight = 0;
    let peakAtCrash = 0;
    let running = true;
    const call = async <T>(f: () => Promise<T>): Promise<T | undefined> => {
      inFlight++;
      try {
        return await f();
      } catch {
        return undefined;
      } finally {
        inFlight--;
      }
    };

    const loop = async (n: number) => {
      for (let i = 0; running; i++) {
        const key = `k-${n}-${i}`;
        const e = await call(() => api.post("/v1/tasks", { queue: "ledger", payload: { n, i }, idempotencyKey: key }));
        if (e && (e.status === 201 || e.status === 200)) enqueued.set(key, e.body.task.id);
        else {
          unackedEnqueue.add(key);
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const c = await call(() => api.post("/v1/claim", { queues: ["ledger"], limit: 1 }));
        const t = c?.status === 200 ? c.body.tasks[0] : undefined;
        if (!t) continue;
        const d = await call(() => api.post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken, result: key }));
        if (d?.status === 200) completed.add(t.id);
        else unackedComplete.set(t.id, t.leaseToken);
      }
    };
    const loops = Array.from({ length: LOOPS }, (_, n) => loop(n));

    const direct = new pg.Pool({ connectionString: db.url, max: 2 });
    direct.on("error", () => undefined);
    try {
      await waitFor(() => completed.size >= 200, { what: "some acknowledged work", timeoutMs: 60_000 });
      const unpublished = Number((await direct.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")).rows[0].n);
      expect(unpublished).toBeGreaterThan(0);
      await waitFor(() => inFlight >= 50, { what: "≥ 50 requests in flight", timeoutMs: 10_000, intervalMs: 1 });
      peakAtCrash = inFlight;
      db.stop("immediate");
      await new Promise((r) => setTimeout(r, 1000));
      await db.start();
      await waitFor(async () => {
        if (server!.proc.exitCode !== null) throw new Error(`service died: ${server!.output()}`);
        return (await fetch(`${server!.url}/readyz`)).ok;
      }, { what: "service ready again", timeoutMs: 30_000, intervalMs: 200 });
      // Let the load run on the recovered database for a moment, then stop it.
      const after = completed.size;
      await waitFor(() => completed.size > after + 50, { what: "work after recovery", timeoutMs: 30_000 });
      running = false;
      await Promise.all(loops);

      // The client retries what it never saw acknowledged: same idempotency key, same lease token.
      for (const key of unackedEnqueue) {
        const [, n, i] = key.split("-");
        const r = await api.post("/v1/tasks", { queue: "ledger", payload: { n: Number(n), i: Number(i) }, idempotencyKey: key });
        expect([200, 201]).toContain(r.status);
        enqueued.set(key, r.body.task.id);
      }
      for (const [id, leaseToken] of unackedComplete) {
        const r = await api.post(`/v1/tasks/${id}/complete`, { leaseToken });
        expect([200, 409]).toContain(r.status);
        if (r.status === 200) completed.add(id);
      }

      expect(peakAtCrash).toBeGreaterThanOrEqual(50);
      // The crash really cut requests off (the ledger had something to reconcile).
      expect(unackedEnqueue.size + unackedComplete.size).toBeGreaterThan(0);
      const tasks = (await direct.query<{ id: string; idempotency_key: string; state: string }>("SELECT id, idempotency_key, state FROM tasks")).rows;
      expect(new Map(tasks.map((t) => [t.idempotency_key, Number(t.id)]))).toEqual(enqueued);
      expect(new Set(tasks.filter((t) => t.state === "completed").map((t) => Number(t.id)))).toEqual(completed);
      // The outbox agrees: one enqueued event per task, one completed event per completion.
      const ev = (await direct.query<{ event: string; n: string; tasks: string }>(
        "SELECT event, count(*) AS n, count(DISTINCT task_id) AS tasks FROM outbox WHERE event IN ('enqueued', 'completed') GROUP BY event",
      )).rows;
      const byEvent = Object.fromEntries(ev.map((r) => [r.event, [Number(r.n), Number(r.tasks)]]));
      expect(byEvent.enqueued).toEqual([tasks.length, tasks.length]);
      expect(byEvent.completed).toEqual([completed.size, completed.size]);
    } finally {
      running = false;
      await Promise.all(loops);
      await direct.end();
    }
  });
});
