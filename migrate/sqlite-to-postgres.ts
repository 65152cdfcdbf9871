/**
 * The SQLite → PostgreSQL mover for one service's database (the task queue with its agent
 * tokens, or the brain): every table the source holds, except the migration bookkeeping, is
 * copied through COPY in key order, batch by batch; each batch commits together with its
 * checkpoint, so a copy killed at any point resumes where the last commit left it and never
 * writes a row twice. The target's schema is the service's own (its migrations run first, by the
 * service's store); both sides must be at the same migration versions.
 *
 * Verification reads both sides in the same key order (PostgreSQL in the C collation, which is
 * SQLite's byte order) and compares every column in canonical form (values.ts); the first
 * differences are reported by table, key and column.
 */
import type Database from "better-sqlite3";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { canonical, copyField, isCarried, type CarriedType } from "./values.js";

export interface Column {
  name: string;
  type: CarriedType;
}

export interface TablePlan {
  name: string;
  columns: Column[];
  /** Primary-key columns, in order. */
  key: string[];
  /** Columns filled by a sequence (serial / identity), reset to max(id) after the copy. */
  sequences: string[];
}

export interface MoveTarget {
  pool: pg.Pool;
  /** Schema the service's tables live in (search_path of the pool). */
  schema: string;
}

export interface CopyOptions {
  /** Rows per COPY batch (and per checkpoint). */
  batchRows?: number;
  onProgress?: (table: string, copied: number, total: number) => void;
  /** Called after each committed batch (tests kill here). */
  afterBatch?: (table: string, copied: number) => void | Promise<void>;
}

export interface Difference {
  table: string;
  key: string;
  column: string;
  source: string;
  target: string;
}

const progressTable = "tierstack_move_progress";
const q = (id: string) => `"${id.replace(/"/g, '""')}"`;
const isBookkeeping = (t: string) => t === "sqlite_sequence" || t.endsWith("_migrations") || t === progressTable;

/** The tables to move, with their target column types and keys; one line per table the mover cannot carry. */
export async function planTables(source: Database.Database, target: MoveTarget): Promise<{ tables: TablePlan[]; problems: string[] }> {
  const names = (source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[])
    .map((r) => r.name)
    .filter((n) => !isBookkeeping(n));
  const problems: string[] = [];
  const tables: TablePlan[] = [];
  for (const name of names) {
    const cols = (await target.pool.query<{ column_name: string; data_type: string; column_default: string | null; is_identity: string }>(
      "SELECT column_name, data_type, column_default, is_identity FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
      [target.schema, name],
    )).rows;
    if (cols.length === 0) {
      problems.push(`${name}: no such table in the target schema ${target.schema} (run the service's migrations there first)`);
      continue;
    }
    const sourceCols = new Set((source.prepare(`PRAGMA table_info(${q(name)})`).all() as { name: string }[]).map((c) => c.name));
    const columns: Column[] = [];
    for (const c of cols) {
      if (!isCarried(c.data_type)) problems.push(`${name}.${c.column_name}: the mover does not carry type ${c.data_type}`);
      else if (!sourceCols.has(c.column_name)) problems.push(`${name}.${c.column_name}: not in the source (the two schemas differ)`);
      else columns.push({ name: c.column_name, type: c.data_type });
    }
    for (const s of sourceCols) if (!cols.some((c) => c.column_name === s)) problems.push(`${name}.${s}: not in the target (the two schemas differ)`);
    const key = (await target.pool.query<{ column_name: string }>(
      `SELECT a.attname AS column_name FROM pg_index i
         JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
       WHERE i.indisprimary AND n.nspname = $1 AND t.relname = $2 ORDER BY k.ord`,
      [target.schema, name],
    )).rows.map((r) => r.column_name);
    if (key.length === 0) problems.push(`${name}: no primary key, so the mover cannot checkpoint or verify it`);
    const sequences = cols.filter((c) => c.is_identity === "YES" || (c.column_default ?? "").startsWith("nextval(")).map((c) => c.column_name);
    tables.push({ name, columns, key, sequences });
  }
  return { tables, problems };
}

/** The source's and the target's migration versions per bookkeeping table must match. */
export async function migrationProblems(source: Database.Database, target: MoveTarget): Promise<string[]> {
  const problems: string[] = [];
  const books = (source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%\\_migrations' ESCAPE '\\'").all() as { name: string }[]).map((r) => r.name);
  for (const book of books) {
    const src = (source.prepare(`SELECT version FROM ${q(book)} ORDER BY version`).all() as { version: number }[]).map((r) => r.version).join(",");
    const dst = await target.pool.query<{ version: number }>(`SELECT version FROM ${q(target.schema)}.${q(book)} ORDER BY version`).then(
      (r) => r.rows.map((x) => x.version).join(","),
      () => "none",
    );
    if (src !== dst) problems.push(`${book}: source at versions [${src}], target at [${dst}]: upgrade both to the same release first`);
  }
  return problems;
}

async function ensureProgress(target: MoveTarget): Promise<void> {
  await target.pool.query(`CREATE TABLE IF NOT EXISTS ${q(target.schema)}.${progressTable} (tbl text PRIMARY KEY, last_key jsonb, copied bigint NOT NULL, done boolean NOT NULL)`);
}

/** Reads the next batch after `after` (keyset order) from SQLite. */
function sourceBatch(source: Database.Database, t: TablePlan, after: unknown[] | null, limit: number): Record<string, unknown>[] {
  const cols = t.columns.map((c) => q(c.name)).join(", ");
  const keys = t.key.map(q).join(", ");
  const where = after ? `WHERE (${keys}) > (${t.key.map(() => "?").join(", ")})` : "";
  return source.prepare(`SELECT ${cols} FROM ${q(t.name)} ${where} ORDER BY ${keys} LIMIT ${limit}`).all(...(after ?? [])) as Record<string, unknown>[];
}

/** The COPY text of a batch: one encoder per column, chosen once, over the rows as arrays. */
function copyText(source: Database.Database, t: TablePlan, after: unknown[] | null, limit: number): { text: string; count: number; last?: unknown[] } {
  const cols = t.columns.map((c) => q(c.name)).join(", ");
  const keys = t.key.map(q).join(", ");
  const where = after ? `WHERE (${keys}) > (${t.key.map(() => "?").join(", ")})` : "";
  const rows = source.prepare(`SELECT ${cols} FROM ${q(t.name)} ${where} ORDER BY ${keys} LIMIT ${limit}`).raw().all(...(after ?? [])) as unknown[][];
  const types = t.columns.map((c) => c.type);
  const keyAt = t.key.map((k) => t.columns.findIndex((c) => c.name === k));
  let text = "";
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) text += (i ? "\t" : "") + copyField(r[i], types[i] as CarriedType);
    text += "\n";
  }
  const last = rows.at(-1);
  return { text, count: rows.length, last: last ? keyAt.map((i) => last[i]) : undefined };
}

async function copyRows(client: pg.PoolClient, schema: string, t: TablePlan, text: string): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${q(schema)}.${q(t.name)} (${t.columns.map((c) => q(c.name)).join(", ")}) FROM STDIN`));
  await new Promise<void>((resolve, reject) => {
    stream.on("error", reject);
    stream.on("finish", () => resolve());
    stream.end(text);
  });
}

/**
 * Copies every planned table; resumable (the checkpoint commits with each batch) and idempotent
 * (a finished table is skipped). Returns rows copied per table in this run.
 */
export async function copyTables(source: Database.Database, target: MoveTarget, tables: TablePlan[], opts: CopyOptions = {}): Promise<Record<string, number>> {
  const batchRows = opts.batchRows ?? 5000;
  await ensureProgress(target);
  const copied: Record<string, number> = {};
  for (const t of tables) {
    const state = (await target.pool.query<{ last_key: unknown[] | null; copied: string; done: boolean }>(
      `SELECT last_key, copied, done FROM ${q(target.schema)}.${progressTable} WHERE tbl = $1`,
      [t.name],
    )).rows[0];
    copied[t.name] = 0;
    if (state?.done) continue;
    const total = (source.prepare(`SELECT count(*) AS n FROM ${q(t.name)}`).get() as { n: number }).n;
    let after = state?.last_key ?? null;
    let done = Number(state?.copied ?? 0);
    // The next batch is read and encoded while PostgreSQL takes the current one.
    let upcoming = copyText(source, t, after, batchRows);
    for (;;) {
      const batch = upcoming;
      const client = await target.pool.connect();
      try {
        await client.query("BEGIN");
        if (batch.count > 0) {
          const copying = copyRows(client, target.schema, t, batch.text);
          await new Promise((r) => setImmediate(r));
          if (batch.count === batchRows) upcoming = copyText(source, t, batch.last ?? after, batchRows);
          await copying;
        }
        if (batch.count < batchRows) {
          for (const col of t.sequences) {
            await client.query(`SELECT setval(pg_get_serial_sequence($1, $2), GREATEST((SELECT max(${q(col)}) FROM ${q(target.schema)}.${q(t.name)}), 1))`, [`${q(target.schema)}.${q(t.name)}`, col]);
          }
        }
        after = batch.last ?? after;
        done += batch.count;
        await client.query(
          `INSERT INTO ${q(target.schema)}.${progressTable} (tbl, last_key, copied, done) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tbl) DO UPDATE SET last_key = excluded.last_key, copied = excluded.copied, done = excluded.done`,
          [t.name, JSON.stringify(after), done, batch.count < batchRows],
        );
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
      copied[t.name] = (copied[t.name] ?? 0) + batch.count;
      opts.onProgress?.(t.name, done, total);
      await opts.afterBatch?.(t.name, done);
      if (batch.count < batchRows) break;
    }
  }
  return copied;
}

/** Forgets the checkpoints (a rollback, or a fresh copy into a truncated target). */
export async function resetProgress(target: MoveTarget): Promise<void> {
  await ensureProgress(target);
  await target.pool.query(`DELETE FROM ${q(target.schema)}.${progressTable}`);
}

/**
 * Every column of every row compared in canonical form; at most `limit` differences reported.
 * The source is read in key batches; each batch's target rows are those in the same key window
 * (after the previous batch's last key, up to this batch's last key; the last window is open),
 * so every target row is looked at exactly once, and extra target rows are reported too.
 */
export async function verifyTables(source: Database.Database, target: MoveTarget, tables: TablePlan[], limit = 20): Promise<Difference[]> {
  const diffs: Difference[] = [];
  const batch = 5000;
  for (const t of tables) {
    const typeOf = (k: string) => t.columns.find((c) => c.name === k)?.type ?? "text";
    const keyOf = (r: Record<string, unknown>, side: "source" | "target") => t.key.map((k) => canonical(r[k], typeOf(k), side)).join("/");
    const keyExpr = `(${t.key.map((k) => `${q(k)}${typeOf(k) === "text" ? ' COLLATE "C"' : ""}`).join(", ")})`;
    const cols = t.columns.map((c) => q(c.name)).join(", ");
    let after: unknown[] | null = null;
    for (;;) {
      const src = sourceBatch(source, t, after, batch);
      const last = src.length === batch ? t.key.map((k) => (src.at(-1) as Record<string, unknown>)[k]) : null;
      const params: unknown[] = [];
      const bound = (vals: unknown[]) => `(${vals.map((v) => (params.push(v), `$${params.length}`)).join(", ")})`;
      const conds = [after ? `${keyExpr} > ${bound(after)}` : "", last ? `${keyExpr} <= ${bound(last)}` : ""].filter(Boolean);
      const dst = (await target.pool.query(`SELECT ${cols} FROM ${q(target.schema)}.${q(t.name)} ${conds.length ? `WHERE ${conds.join(" AND ")}` : ""}`, params)).rows as Record<string, unknown>[];
      const dstByKey = new Map(dst.map((r) => [keyOf(r, "target"), r]));
      for (const s of src) {
        const k = keyOf(s, "source");
        const d = dstByKey.get(k);
        if (!d) diffs.push({ table: t.name, key: k, column: "(row)", source: "present", target: "missing" });
        else {
          dstByKey.delete(k);
          for (const c of t.columns) {
            const a = canonical(s[c.name], c.type, "source");
            const b = canonical(d[c.name], c.type, "target");
            if (a !== b) diffs.push({ table: t.name, key: k, column: c.name, source: a, target: b });
          }
        }
        if (diffs.length >= limit) return diffs;
      }
      for (const k of dstByKey.keys()) {
        diffs.push({ table: t.name, key: k, column: "(row)", source: "missing", target: "present" });
        if (diffs.length >= limit) return diffs;
      }
      if (!last) break;
      after = last;
    }
  }
  return diffs;
}
