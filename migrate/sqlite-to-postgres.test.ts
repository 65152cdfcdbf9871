/**
 * The SQLite → PostgreSQL mover on the real databases: every table of every moved service's
 * schema is carried (rows generated for each table from its columns, so a table added later is
 * covered without touching this test), verification finds a one-byte change by table, key and
 * column, and extra or missing rows.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { copyBack } from "./postgres-to-sqlite.js";
import { movedStores, openMove, copyStore, verifyStore } from "./stores.js";
import { fill, sourceOf } from "./test/fill.js";

let pgUp = false;
beforeAll(async () => {
  pgUp = await available("postgres", PG_URL);
});
const dir = mkdtempSync(join(tmpdir(), "tierstack-move-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(movedStores)("moving the %s store", (store) => {
  it("carries every table, row and column, and verifies them", async (ctx) => {
    if (!pgUp) return ctx.skip();
    const schema = await freshSchema(`move_${store.replace("-", "_")}`);
    const path = join(dir, `${store}-all.db`);
    try {
      await sourceOf(store, path);
      const tables = fill(path, 25);
      const m = await openMove(store, path, schema.url);
      try {
        expect(m.tables.map((t) => t.name).sort()).toEqual([...tables].sort());
        const copied = await copyStore(m, { batchRows: 10 });
        for (const t of tables) expect(copied[t], t).toBe(25);
        expect(await verifyStore(m)).toEqual([]);
        // Each copied table was analyzed: the planner sees its rows from the services' first statement.
        const stats = await m.target.pool.query(`SELECT relname, last_analyze FROM pg_stat_user_tables WHERE schemaname = $1`, [schema.schema]);
        const analyzed = new Set(stats.rows.filter((r: { last_analyze: Date | null }) => r.last_analyze !== null).map((r: { relname: string }) => r.relname));
        for (const t of tables) expect(analyzed.has(t), t).toBe(true);
        // Idempotent: a second run copies nothing and the verification still holds.
        expect(Object.values(await copyStore(m, { batchRows: 10 })).every((n) => n === 0)).toBe(true);
        expect(await verifyStore(m)).toEqual([]);
        // New rows get new ids after the copy: the sequences were moved past the copied ones.
        const serial = m.tables.find((t) => t.sequences.length > 0);
        if (serial) {
          const { rows } = await m.target.pool.query(`SELECT nextval(pg_get_serial_sequence('${schema.schema}.${serial.name}', '${serial.sequences[0]}')) AS n`);
          expect(Number(rows[0].n)).toBeGreaterThan(25);
        }
      } finally {
        await m.close();
      }
    } finally {
      await schema.drop();
    }
  });

  it("reports a one-byte change and a missing row by table, key and column", async (ctx) => {
    if (!pgUp) return ctx.skip();
    const schema = await freshSchema(`move_diff_${store.replace("-", "_")}`);
    const path = join(dir, `${store}-diff.db`);
    try {
      await sourceOf(store, path);
      fill(path, 5);
      const m = await openMove(store, path, schema.url);
      try {
        await copyStore(m);
        const t = m.tables.find((x) => x.columns.some((c) => c.type === "text" && !x.key.includes(c.name)));
        if (!t) throw new Error("no table with a non-key text column");
        const col = t.columns.find((c) => c.type === "text" && !t.key.includes(c.name))!;
        const k = t.key[0]!;
        const { rows } = await m.target.pool.query(`SELECT "${k}" AS k, "${col.name}" AS v FROM "${schema.schema}"."${t.name}" ORDER BY 1 LIMIT 1`);
        const changed = String(rows[0].v).replace(/.$/, (c) => String.fromCharCode(c.charCodeAt(0) ^ 1));
        await m.target.pool.query(`UPDATE "${schema.schema}"."${t.name}" SET "${col.name}" = $1 WHERE "${k}" = $2`, [changed, rows[0].k]);
        const diffs = await verifyStore(m);
        expect(diffs).toHaveLength(1);
        expect(diffs[0]).toMatchObject({ table: t.name, column: col.name, target: changed });
        expect(diffs[0]?.key).toBe(String(rows[0].k));

        await m.target.pool.query(`DELETE FROM "${schema.schema}"."${t.name}" WHERE "${k}" = $1`, [rows[0].k]);
        expect(await verifyStore(m)).toEqual([{ table: t.name, key: String(rows[0].k), column: "(row)", source: "present", target: "missing" }]);
      } finally {
        await m.close();
      }
    } finally {
      await schema.drop();
    }
  });
});

it("refuses a target whose tables differ from the source's, in one line per problem", async (ctx) => {
  if (!pgUp) return ctx.skip();
  const schema = await freshSchema("move_mismatch");
  const path = join(dir, "mismatch.db");
  try {
    await sourceOf("brain", path);
    const db = new Database(path);
    db.exec("ALTER TABLE learners ADD COLUMN shoe_size integer");
    db.close();
    await expect(openMove("brain", path, schema.url)).rejects.toThrow(/brain: .*learners\.shoe_size: not in the target \(the two schemas differ\)/);
  } finally {
    await schema.drop();
  }
});

it("leaves the task queue's cut-over mode behind: the store a copy or a copy back writes into starts serving, the source keeps its own", async (ctx) => {
  if (!pgUp) return ctx.skip();
  const schema = await freshSchema("move_cutover");
  const path = join(dir, "cutover.db");
  try {
    await sourceOf("task-queue", path);
    fill(path, 3);
    const db = new Database(path);
    db.prepare("INSERT INTO tierstack_cutover (id, mode, retry_after_seconds) VALUES (1, 'frozen', 5)").run();
    db.close();
    const m = await openMove("task-queue", path, schema.url);
    try {
      expect(m.tables.map((t) => t.name)).not.toContain("tierstack_cutover");
      await m.target.pool.query("INSERT INTO tierstack_cutover (id, mode, retry_after_seconds) VALUES (1, 'draining', 5)");
      await copyStore(m);
      expect((await m.target.pool.query("SELECT * FROM tierstack_cutover")).rows).toEqual([]);
      expect(m.source.prepare("SELECT mode FROM tierstack_cutover").all()).toEqual([{ mode: "frozen" }]);
      expect(await verifyStore(m)).toEqual([]);
      // The rollback: the cluster was frozen for the copy back; the box's file starts serving.
      await m.target.pool.query("INSERT INTO tierstack_cutover (id, mode, retry_after_seconds) VALUES (1, 'frozen', 5)");
      await copyBack(m);
      expect(m.source.prepare("SELECT mode FROM tierstack_cutover").all()).toEqual([]);
      expect((await m.target.pool.query("SELECT mode FROM tierstack_cutover")).rows).toEqual([{ mode: "frozen" }]);
    } finally {
      await m.close();
    }
  } finally {
    await schema.drop();
  }
});
