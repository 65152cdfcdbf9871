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
});
