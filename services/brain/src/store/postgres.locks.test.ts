/**
 * PostgreSQL lock order: a webhook transaction and a worker's final write touch the same inbox
 * row and learner row. They must take them in the same order (inbox row, then learner row), or a
 * redelivered message that arrives while its reply is being settled deadlocks (the webhook then
 * answers 503). Made deterministic with a second connection that plays the worker's final write
 * (finishReply: the inbox row, then the learner's lease) and holds its transaction open.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { PgBrainStore } from "./postgres.js";

const pgUp = await available("postgres", PG_URL);
const T0 = Date.UTC(2026, 10, 22, 12);

describe.runIf(pgUp)("PgBrainStore lock order", () => {
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let store: PgBrainStore;
  let worker: pg.PoolClient;
  let pool: pg.Pool;
  beforeAll(async () => {
    schema = await freshSchema("brain_locks");
    store = new PgBrainStore(schema.url);
    await store.migrate();
    pool = schema.pool({ max: 2 });
    worker = await pool.connect();
  });
  afterAll(async () => {
    worker?.release();
    await pool?.end();
    await store?.close();
    await schema?.drop();
  });

  it("a redelivery during the reply's final write waits for it instead of deadlocking", async () => {
    const m = { waId: "wamid.lock1", phone: "447700900501", type: "text", body: "hello", sentAt: T0 };
    expect(await store.storeInbound([m], [], [], T0)).toBe(1);
    const learner = (await store.learnerByPhone(m.phone))!;
    // The worker's final write, first half: the inbox row (a new version, so a new unique-index entry).
    await worker.query("BEGIN");
    await worker.query("UPDATE inbox SET state = 'done' WHERE wa_id = $1", [m.waId]);
    // Meta redelivers the message: the webhook transaction blocks on the inbox row's unique key.
    const redelivery = store.storeInbound([{ ...m, sentAt: T0 + 5 }], [], [], T0 + 10);
    const outcome = redelivery.then(() => "stored", (err: unknown) => `failed: ${(err as Error).message}`);
    for (;;) {
      const waiting = await pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()");
      if ((waiting.rows[0] as { n: number }).n > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // Second half: the learner's lease. With the webhook holding the learner row this deadlocked.
    await worker.query("UPDATE learners SET lease_owner = NULL, lease_until = 0 WHERE id = $1", [learner.id]);
    await worker.query("COMMIT");
    expect(await outcome).toBe("stored");
    expect(await redelivery).toBe(0);
    expect((await store.learnerById(learner.id))!.lastInboundAt).toBe(T0 + 5);
  });

  it("two webhook batches holding the same message ids in opposite orders: the one PostgreSQL aborts for the deadlock is run again", async () => {
    const a = { waId: "wamid.lockA", phone: "447700900502", type: "text", body: "a", sentAt: T0 };
    const b = { waId: "wamid.lockB", phone: "447700900502", type: "text", body: "b", sentAt: T0 };
    await store.storeInbound([{ ...a, waId: "wamid.lock0" }], [], [], T0); // the learner exists
    // Another batch, in its own transaction, has written b and will write a next.
    await worker.query("BEGIN");
    const other = await worker.query("SELECT id FROM learners WHERE phone = $1", [a.phone]);
    const lid = (other.rows[0] as { id: string }).id;
    const ins = "INSERT INTO inbox (wa_id, learner_id, type, body, sent_at, received_at) VALUES ($1, $2, 'text', $1, $3, $3) ON CONFLICT (wa_id) DO NOTHING";
    await worker.query(ins, [b.waId, lid, T0]);
    // This batch writes a, then waits on b.
    const batch = store.storeInbound([a, b], [], [], T0).then((n) => `stored ${n}`, (err: unknown) => `failed: ${(err as Error).message}`);
    for (;;) {
      const waiting = await pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()");
      if ((waiting.rows[0] as { n: number }).n > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // The other batch now writes a: each waits for the other, and PostgreSQL aborts one of them.
    const second = await worker.query(ins, [a.waId, lid, T0]).then(() => "ok", () => "aborted");
    await worker.query(second === "ok" ? "COMMIT" : "ROLLBACK");
    const outcome = await batch;
    // Either way the batch is stored (by the rerun, or as no-ops after the other committed both).
    expect(outcome).toMatch(/^stored [02]$/);
    const rows = await pool.query("SELECT wa_id FROM inbox WHERE wa_id = ANY($1) ORDER BY wa_id", [[a.waId, b.waId]]);
    expect(rows.rows.map((r: { wa_id: string }) => r.wa_id)).toEqual([a.waId, b.waId]);
  });
});
