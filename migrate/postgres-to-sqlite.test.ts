/**
 * The copy back for a rollback from cut-over, on real SQLite and PostgreSQL: after the forward
 * copy and the switch, PostgreSQL takes writes (rows inserted, changed and deleted in every table
 * of both services; leases taken and completed, tokens issued and revoked through the task
 * queue's own store); the copy back brings SQLite to exactly PostgreSQL's rows (the forward
 * verification finds no difference), a second run changes nothing, and the task queue on its
 * SQLite file again honours the leases taken after the switch and does not hand out a task
 * completed after it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDatabaseUrl } from "@tierstack/common";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { openStores } from "../services/task-queue/src/open-store.js";
import { copyBack } from "./postgres-to-sqlite.js";
import { copyStore, movedStores, openMove, verifyStore, type OpenedMove } from "./stores.js";
import type { TablePlan } from "./sqlite-to-postgres.js";
import type { Lease } from "../services/task-queue/src/types.js";
import { fill, sourceOf } from "./test/fill.js";

beforeAll(async () => {
  await available("postgres", PG_URL);
});
const dir = mkdtempSync(join(tmpdir(), "tierstack-copy-back-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const qi = (id: string) => `"${id.replace(/"/g, '""')}"`;

/**
 * What PostgreSQL takes after the switch, in every table: the first row (in key order) deleted,
 * the second changed in every non-key column, a third copied under a new key (text columns
 * suffixed, so unique columns stay unique).
 */
async function writeAfterSwitch(m: OpenedMove, t: TablePlan): Promise<void> {
  const pool = m.target.pool;
  const table = `${qi(m.target.schema)}.${qi(t.name)}`;
  const order = t.key.map(qi).join(", ");
  const keys = (await pool.query(`SELECT ${order} FROM ${table} ORDER BY ${order} LIMIT 3`)).rows as Record<string, unknown>[];
  if (keys.length < 3) throw new Error(`${t.name}: fewer than 3 rows`);
  const where = t.key.map((k, i) => `${qi(k)} = $${i + 1}`).join(" AND ");
  const args = (r: Record<string, unknown>) => t.key.map((k) => r[k]);
  await pool.query(`DELETE FROM ${table} WHERE ${where}`, args(keys[0]!));
  const changed = (c: TablePlan["columns"][number], suffix: string): string => {
    const id = qi(c.name);
    switch (c.type) {
      case "text":
      case "character varying":
        return `${id} || '${suffix}'`;
      case "timestamp with time zone":
        return `${id} + interval '1.5 seconds'`;
      case "boolean":
        return `NOT ${id}`;
      case "json":
      case "jsonb":
        return `json_build_object('after', 'switch', 'n', 1)::${c.type}`;
      default:
        return `${id} + 1000`;
    }
  };
  const nonKey = t.columns.filter((c) => !t.key.includes(c.name));
  await pool.query(`UPDATE ${table} SET ${nonKey.map((c) => `${qi(c.name)} = ${changed(c, " ✓ after the switch")}`).join(", ")} WHERE ${where}`, args(keys[1]!));
  const select = t.columns.map((c) => (t.key.includes(c.name) ? (c.type === "text" ? `${qi(c.name)} || '.new'` : `(SELECT max(${qi(c.name)}) + 100 FROM ${table})`) : ["text", "character varying"].includes(c.type) ? `${qi(c.name)} || '.new'` : qi(c.name)));
  await pool.query(`INSERT INTO ${table} (${t.columns.map((c) => qi(c.name)).join(", ")}) SELECT ${select.join(", ")} FROM ${table} WHERE ${where}`, args(keys[2]!));
}

describe.each(movedStores)("copying the %s store back", (store) => {
  it("inserts, changes and deletes in every table what PostgreSQL did after the switch; verified; idempotent", async () => {
    const schema = await freshSchema(`back_${store.replace("-", "_")}`);
    const path = join(dir, `${store}.db`);
    try {
      await sourceOf(store, path);
      const tables = fill(path, 30);
      const m = await openMove(store, path, schema.url);
      try {
        await copyStore(m, { batchRows: 7 });
        expect(await verifyStore(m)).toEqual([]);
        for (const t of m.tables) await writeAfterSwitch(m, t);
        // The forward verification sees the writes after the switch as differences.
        expect((await verifyStore(m, 1000)).length).toBeGreaterThanOrEqual(3 * tables.length);

        const back = await copyBack(m, { batchRows: 7 });
        expect(Object.keys(back).sort()).toEqual([...tables].sort());
        for (const t of tables) expect(back[t], t).toEqual({ inserted: 1, updated: 1, deleted: 1 });
        expect(await verifyStore(m)).toEqual([]);
        for (const t of tables) expect((m.source.prepare(`SELECT count(*) AS n FROM ${qi(t)}`).get() as { n: number }).n, t).toBe(30);
        // Idempotent: a second run changes nothing.
        const again = await copyBack(m, { batchRows: 7 });
        for (const t of tables) expect(again[t], t).toEqual({ inserted: 0, updated: 0, deleted: 0 });
      } finally {
        await m.close();
      }
    } finally {
      await schema.drop();
    }
  });
});

it("the task queue back on SQLite honours the leases and tokens of after the switch and hands out no completed task", async () => {
  const schema = await freshSchema("back_leases");
  const path = join(dir, "leases.db");
  try {
    const before = await openStores(parseDatabaseUrl(`sqlite:${path}`));
    await before.store.enqueue(Array.from({ length: 12 }, (_, i) => ({ queue: "q", payload: { i }, priority: 0, maxAttempts: 3 })));
    const heldBefore = (await before.store.claim([{ queues: ["q"], limit: 3, leaseSeconds: 600, owner: "agent-a" }]))[0]!;
    await before.tokens.insert({ id: "tok-old", agent: "agent-a", hash: "h-old", label: null, createdAt: new Date(1_700_000_000_000), expiresAt: null, revokedAt: null });
    await before.store.close();

    let heldAfter: Lease[] = [];
    const m = await openMove("task-queue", path, schema.url);
    try {
      await copyStore(m);
      expect(await verifyStore(m)).toEqual([]);

      // After the switch, on PostgreSQL: a lease from before the switch completed, new claims, new tasks, token changes.
      const after = await openStores(parseDatabaseUrl(schema.url), { poolMax: 2 });
      const [doneBefore] = await after.store.complete([{ id: heldBefore[0]!.task.id, leaseToken: heldBefore[0]!.leaseToken, result: { ok: 1 } }]);
      expect(doneBefore?.status).toBe("ok");
      heldAfter = (await after.store.claim([{ queues: ["q"], limit: 4, leaseSeconds: 600, owner: "agent-b" }]))[0]!;
      const [doneAfter] = await after.store.complete([{ id: heldAfter[0]!.task.id, leaseToken: heldAfter[0]!.leaseToken, result: { ok: 2 } }]);
      expect(doneAfter?.status).toBe("ok");
      await after.store.enqueue([{ queue: "q", payload: { late: true }, priority: 5, maxAttempts: 3 }]);
      await after.tokens.insert({ id: "tok-new", agent: "agent-b", hash: "h-new", label: "after the switch", createdAt: new Date(1_800_000_000_000), expiresAt: null, revokedAt: null });
      expect(await after.tokens.revoke("tok-old", new Date(1_800_000_001_000))).toBe(true);
      await after.store.close();

      await copyBack(m);
      expect(await verifyStore(m)).toEqual([]);
    } finally {
      await m.close();
    }

    const back = await openStores(parseDatabaseUrl(`sqlite:${path}`));
    try {
      // A lease taken on PostgreSQL is completed on SQLite with its token; one completed there stays completed.
      const [fromAfter] = await back.store.complete([{ id: heldAfter[1]!.task.id, leaseToken: heldAfter[1]!.leaseToken, result: null }]);
      expect(fromAfter?.status).toBe("ok");
      // A completion retried with its token is answered from the record, not done again.
      const [twice] = await back.store.complete([{ id: heldAfter[0]!.task.id, leaseToken: heldAfter[0]!.leaseToken, result: null }]);
      expect(twice).toMatchObject({ status: "ok", task: { state: "completed", result: { ok: 2 } } });
      expect((await back.tokens.get("tok-old"))?.revokedAt?.getTime()).toBe(1_800_000_001_000);
      expect((await back.tokens.get("tok-new"))?.label).toBe("after the switch");
      // Every ready task handed out once more, none of them completed or leased: 12 + 1 late - 3 held before - 4 held after = 6.
      const rest = (await back.store.claim([{ queues: ["q"], limit: 100, leaseSeconds: 60, owner: "agent-c" }]))[0]!;
      expect(rest).toHaveLength(6);
      expect(rest[0]!.task.payload).toEqual({ late: true });
      const completed = new Set([heldBefore[0]!.task.id, heldAfter[0]!.task.id]);
      expect(rest.filter((l) => completed.has(l.task.id))).toEqual([]);
    } finally {
      await back.store.close();
    }
  } finally {
    await schema.drop();
  }
});
