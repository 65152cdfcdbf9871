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
 * differences are reported by table, key and column. The copy-back for a rollback
 * (postgres-to-sqlite.ts) walks the same key windows and compares with the same functions.
 */
import type Database from "better-sqlite3";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { canonical, copyEncoder, isCarried, pgSelect, type CarriedType, type FieldEncoder } from "./values.js";

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
/** Not moved, not compared: SQLite's and the migrations' own tables (`tierstack_…`: the mover's checkpoints, the task queue's cut-over mode). */
const isBookkeeping = (t: string) => t === "sqlite_sequence" || t.endsWith("_migrations") || t.startsWith("tierstack_") || t === progressTable;

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
function sourceBatch(source: Database.Database, t: TablePlan, after: unknown[] | null, limit: number): Row[] {
  const cols = t.columns.map((c) => q(c.name)).join(", ");
  const keys = t.key.map(q).join(", ");
  const where = after ? `WHERE (${keys}) > (${t.key.map(() => "?").join(", ")})` : "";
  return source.prepare(`SELECT ${cols} FROM ${q(t.name)} ${where} ORDER BY ${keys} LIMIT ${limit}`).all(...(after ?? [])) as Record<string, unknown>[];
}

/** The COPY text of a batch: one encoder per column, chosen once, over the rows as arrays. */
function copyText(source: Database.Database, t: TablePlan, after: unknown[] | null, limit: number): { text: Buffer; count: number; last?: unknown[] } {
  const cols = t.columns.map((c) => q(c.name)).join(", ");
  const keys = t.key.map(q).join(", ");
  const where = after ? `WHERE (${keys}) > (${t.key.map(() => "?").join(", ")})` : "";
  const rows = source.prepare(`SELECT ${cols} FROM ${q(t.name)} ${where} ORDER BY ${keys} LIMIT ${limit}`).raw().all(...(after ?? [])) as unknown[][];
  const enc = t.columns.map((c) => copyEncoder(c.type));
  const n = enc.length;
  const keyAt = t.key.map((k) => t.columns.findIndex((c) => c.name === k));
  // Fields and lines joined once each: a string grown by += is a rope, and flattening it when
  // the COPY stream takes it cost three times the encoding (bench/migrate/RESULTS.md).
  const lines: string[] = new Array(rows.length);
  const fields: string[] = new Array(n);
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j] as unknown[];
    for (let i = 0; i < n; i++) fields[i] = (enc[i] as FieldEncoder)(r[i]);
    lines[j] = fields.join("\t");
  }
  // UTF-8 here, while PostgreSQL takes the previous batch, rather than when the stream is written.
  const text = Buffer.from(rows.length ? `${lines.join("\n")}\n` : "");
  const last = rows.at(-1);
  return { text, count: rows.length, last: last ? keyAt.map((i) => last[i]) : undefined };
}

async function copyRows(client: pg.PoolClient, schema: string, t: TablePlan, text: Buffer): Promise<void> {
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
    // Fresh statistics for the planner: the services prepare their statements against these
    // tables at start, and a plan made before autovacuum's first pass (up to a minute) sees them
    // as empty (the brain's claim kept scanning history and outbound that way, ADR 0035).
    await target.pool.query(`ANALYZE ${q(target.schema)}.${q(t.name)}`);
  }
  return copied;
}

/** Forgets the checkpoints (a rollback, or a fresh copy into a truncated target). */
export async function resetProgress(target: MoveTarget): Promise<void> {
  await ensureProgress(target);
  await target.pool.query(`DELETE FROM ${q(target.schema)}.${progressTable}`);
}

/** A row as read from one side, by column name. */
export type Row = Record<string, unknown>;

/** One key window of a table: the SQLite rows of a key batch and the PostgreSQL rows in the same key range. */
export interface KeyWindow {
  source: Row[];
  /** PostgreSQL's rows of the window by canonical key (pgSelect: JSON as text). */
  target: Map<string, Row>;
}

/** The canonical key of a row ("/"-joined canonical key columns), as differences report it. */
export function rowKey(t: TablePlan, r: Row, side: "source" | "target"): string {
  return t.key.map((k) => canonical(r[k], t.columns.find((c) => c.name === k)?.type ?? "text", side)).join("/");
}

/**
 * Walks a table in key order on both sides, one window at a time. The source is read in key
 * batches; each batch's target rows are those in the same key window (after the previous
 * batch's last key, up to this batch's last key; the last window is open), so every target row
 * is seen exactly once. PostgreSQL compares text keys in the C collation, SQLite's byte order.
 * The caller may write to the SQLite rows of the window it holds (the copy-back does): the next
 * batch is read after it, from beyond this window's last key.
 */
export async function* keyWindows(source: Database.Database, target: MoveTarget, t: TablePlan, batch = 5000): AsyncGenerator<KeyWindow> {
  const typeOf = (k: string) => t.columns.find((c) => c.name === k)?.type ?? "text";
  const keyExpr = `(${t.key.map((k) => `${q(k)}${typeOf(k) === "text" ? ' COLLATE "C"' : ""}`).join(", ")})`;
  const cols = t.columns.map((c) => pgSelect(c.name, c.type)).join(", ");
  let after: unknown[] | null = null;
  for (;;) {
    const src = sourceBatch(source, t, after, batch);
    const last = src.length === batch ? t.key.map((k) => (src.at(-1) as Row)[k]) : null;
    const params: unknown[] = [];
    const bound = (vals: unknown[]) => `(${vals.map((v) => (params.push(v), `$${params.length}`)).join(", ")})`;
    const conds = [after ? `${keyExpr} > ${bound(after)}` : "", last ? `${keyExpr} <= ${bound(last)}` : ""].filter(Boolean);
    const dst = (await target.pool.query(`SELECT ${cols} FROM ${q(target.schema)}.${q(t.name)} ${conds.length ? `WHERE ${conds.join(" AND ")}` : ""}`, params)).rows as Row[];
    yield { source: src, target: new Map(dst.map((r) => [rowKey(t, r, "target"), r])) };
    if (!last) return;
    after = last;
  }
}

/** The columns of one row that differ between the sides, in canonical form. */
export function columnDifferences(t: TablePlan, s: Row, d: Row): { column: string; source: string; target: string }[] {
  const out: { column: string; source: string; target: string }[] = [];
  for (const c of t.columns) {
    const a = canonical(s[c.name], c.type, "source");
    const b = canonical(d[c.name], c.type, "target");
    if (a !== b) out.push({ column: c.name, source: a, target: b });
  }
  return out;
}

/**
 * Every column of every row compared in canonical form; at most `limit` differences reported,
 * extra target rows included.
 */
export async function verifyTables(source: Database.Database, target: MoveTarget, tables: TablePlan[], limit = 20): Promise<Difference[]> {
  const diffs: Difference[] = [];
  for (const t of tables) {
    for await (const w of keyWindows(source, target, t)) {
      for (const s of w.source) {
        const k = rowKey(t, s, "source");
        const d = w.target.get(k);
        if (!d) diffs.push({ table: t.name, key: k, column: "(row)", source: "present", target: "missing" });
        else {
          w.target.delete(k);
          for (const c of columnDifferences(t, s, d)) diffs.push({ table: t.name, key: k, ...c });
        }
        if (diffs.length >= limit) return diffs.slice(0, limit);
      }
      for (const k of w.target.keys()) {
        diffs.push({ table: t.name, key: k, column: "(row)", source: "missing", target: "present" });
        if (diffs.length >= limit) return diffs;
      }
    }
  }
  return diffs;
}
