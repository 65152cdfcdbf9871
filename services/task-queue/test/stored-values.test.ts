import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { migratePostgres, migrateSqlite, openPgPool, openSqlite, parseDatabaseUrl } from "@tierstack/common";
import { freshSchema } from "@tierstack/common/testing";
import { openTaskStore } from "../src/open-store.js";
import { postgresMigrations, sqliteMigrations } from "../src/schema.js";
import type { TaskStore } from "../src/types.js";
import { claimOne, impls, item, pgUp, storeFixture } from "./helpers.js";

// dialect.ts's `stored`: both stores hold every value the API accepts and return it exactly —
// text columns through the kit's text codec, JSON documents as JSON text.

/** Any UTF-16 code unit, lone surrogates included, with the codec's own characters made likely. */
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("\u0000", "\u0010", "0", "d", "8", "\ud800", "\udbff", "\udc00", "\udfff", "\ufffd", "\ud83d\ude00") },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
);
const hostileString = fc.string({ unit, minLength: 1, maxLength: 24 });
const json = fc.jsonValue({ maxDepth: 4, stringUnit: unit }).map((v) => JSON.parse(JSON.stringify(v)) as unknown); // -0 is 0 in JSON

describe.each(impls)("stored values on $name", ({ skip, open }) => {
  let store!: TaskStore;
  storeFixture(open, skip, (s) => (store = s));
  let n = 0;

  it.skipIf(skip)("every string in a text column and every JSON document comes back exactly; distinct keys stay distinct", async () => {
    await fc.assert(
      fc.asyncProperty(hostileString, hostileString, hostileString, json, json, async (key, otherKey, error, payload, result) => {
        const queue = `rt-${n++}`;
        const [a, b] = await store.enqueue([item(queue, { payload, idempotencyKey: key }), item(queue, { idempotencyKey: otherKey })]);
        expect(JSON.stringify(a?.task.payload)).toBe(JSON.stringify(payload));
        expect(a?.task.idempotencyKey).toBe(key);
        expect(b?.task.idempotencyKey).toBe(otherKey);
        expect(b?.created).toBe(key !== otherKey);
        expect(b?.task.id === a?.task.id).toBe(key === otherKey);
        const [again] = await store.enqueue([item(queue, { idempotencyKey: key })]);
        expect(again).toMatchObject({ created: false, task: { id: a?.task.id, idempotencyKey: key } });

        let lease = await claimOne(store, queue, 60, error);
        expect(lease?.task.leaseOwner).toBe(error);
        const id = lease!.task.id;
        const failed = await store.fail({ id, leaseToken: lease!.leaseToken, error, retry: false, backoff: { baseMs: 1, maxMs: 1, jitter: 0 } });
        expect(failed).toMatchObject({ status: "ok", task: { state: "dead", lastError: error, leaseOwner: error } });
        await store.requeueDead(id);
        while ((lease = await claimOne(store, queue)) && lease.task.id !== id) await store.complete([{ id: lease.task.id, leaseToken: lease.leaseToken, result: null }]);
        const [done] = await store.complete([{ id, leaseToken: lease!.leaseToken, result }]);
        expect(done?.status).toBe("ok");
        const read = await store.get(id);
        expect(JSON.stringify(read?.result)).toBe(JSON.stringify(result));
        expect(JSON.stringify(read?.payload)).toBe(JSON.stringify(payload));
        expect(read).toMatchObject({ idempotencyKey: key, lastError: error });
        // A retried completion (same token) is recognised through the stored token.
        const [retried] = await store.complete([{ id, leaseToken: lease!.leaseToken, result: "ignored" }]);
        expect(retried?.status).toBe("ok");
        expect((await store.depth()).filter((d) => d.queue === queue)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it.skipIf(skip)("a runAt comes back to the millisecond, however far from 1970", async () => {
    // PostgreSQL's to_timestamp(ms / 1000.0) went through a float8: 9698-08-16T15:18:37.839Z came back .838Z.
    const times = ["9698-08-16T15:18:37.839Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.001Z", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.001Z", "2262-04-11T23:47:16.855Z"];
    const out = await store.enqueue(times.map((t) => item("far-times", { runAt: Date.parse(t) })));
    expect(out.map((o) => o.task.runAt)).toEqual(times);
    expect((await store.list({ queue: "far-times", limit: 10 })).map((t) => t.runAt)).toEqual(times);
  });
});

// Version 2 of the schema on a database version 1 wrote: a U+0010 stored before the codec reads
// back as itself, PostgreSQL's jsonb columns become json, and nothing else changes.
describe("schema version 2 on a version-1 database", () => {
  const legacy = { lastError: "was \u0010 0 \u00100", key: "k\u0010d800", owner: "o\u0010" };

  it("SQLite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "task-queue-v1-"));
    try {
      const path = join(dir, "tq.db");
      const db = openSqlite(path);
      migrateSqlite(db, "task-queue", sqliteMigrations.filter((m) => m.version === 1));
      db.prepare(`INSERT INTO tasks (queue, state, priority, run_at, max_attempts, payload, result, last_error, idempotency_key, lease_owner, created_at, updated_at)
        VALUES ('old', 'dead', 0, 1, 3, '{"b":1,"a":"\\u0010"}', NULL, ?, ?, ?, 1, 1)`).run(legacy.lastError, legacy.key, legacy.owner);
      db.close();
      const store = await openTaskStore(parseDatabaseUrl(`sqlite:${path}`));
      try {
        const [t] = await store.list({ queue: "old", limit: 10 });
        expect(t).toMatchObject({ lastError: legacy.lastError, idempotencyKey: legacy.key, leaseOwner: legacy.owner, payload: { b: 1, a: "\u0010" } });
        expect(JSON.stringify(t?.payload)).toBe('{"b":1,"a":"\\u0010"}');
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!pgUp)("PostgreSQL", async () => {
    const s = await freshSchema("tq_v1");
    try {
      const target = parseDatabaseUrl(s.url);
      if (target.kind !== "postgres") throw new Error("expected a PostgreSQL URL");
      const pool = openPgPool(target, { max: 2 });
      await migratePostgres(pool, "task-queue", target.schema, postgresMigrations.filter((m) => m.version === 1));
      await pool.query(`INSERT INTO tasks (queue, state, max_attempts, payload, last_error, idempotency_key, lease_owner) VALUES ('old', 'dead', 3, '{"b":1,"a":"\\u0010"}'::jsonb, $1, $2, $3)`, [legacy.lastError, legacy.key, legacy.owner]);
      await pool.end();
      const store = await openTaskStore(target);
      try {
        const [t] = await store.list({ queue: "old", limit: 10 });
        expect(t).toMatchObject({ lastError: legacy.lastError, idempotencyKey: legacy.key, leaseOwner: legacy.owner, payload: { a: "\u0010", b: 1 } });
      } finally {
        await store.close();
      }
      const check = openPgPool(target, { max: 1 });
      try {
        const cols = await check.query<{ column_name: string; data_type: string }>(
          "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'tasks' AND column_name IN ('payload', 'result') ORDER BY column_name",
          [target.schema],
        );
        expect(cols.rows).toEqual([{ column_name: "payload", data_type: "json" }, { column_name: "result", data_type: "json" }]);
      } finally {
        await check.end();
      }
    } finally {
      await s.drop();
    }
  });
});
