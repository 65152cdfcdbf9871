/**
 * The copy back for a rollback from cut-over: after the services switched to PostgreSQL, a
 * rollback returns them to their SQLite files with nothing lost, including what was written
 * after the switch. `copyBack(move)` walks every moved table in key order on both sides (the
 * forward mover's key windows, sqlite-to-postgres.ts) and brings SQLite to PostgreSQL's state:
 * rows PostgreSQL gained since the switch are inserted, rows whose columns differ (a lease taken
 * or completed, a token revoked, a webhook answered) are updated, rows PostgreSQL no longer holds
 * are deleted. Every table the forward mover carries rides along: the task queue with its leases
 * and lease tokens, the outbox, the agent tokens, the brain's learners, history and inbox.
 *
 * Values go back through values.ts (`sqliteValue`, the inverse of the COPY encoding) and rows are
 * compared with the forward verification's canonical comparison, so "changed" means exactly
 * what `verifyStore` would report. Each key window is applied in one SQLite transaction; the copy
 * is idempotent (a second run changes nothing) and resumable by running it again. The services
 * must not write to either side while it runs (the rollback stage stops them first). Afterwards
 * `verifyStore(move)` returns no difference.
 *
 *   const m = await openMove("task-queue", "/mnt/data/task-queue.db", pgUrl);
 *   const changed = await copyBack(m);        // { tasks: { inserted, updated, deleted }, … }
 *   const diffs = await verifyStore(m);       // [] when SQLite equals PostgreSQL
 */
import type Database from "better-sqlite3";
import { columnDifferences, keyWindows, rowKey, type MoveTarget, type TablePlan } from "./sqlite-to-postgres.js";
import { clearSourceCutover, type OpenedMove } from "./stores.js";
import { sqliteValue } from "./values.js";

export interface CopiedBack {
  inserted: number;
  updated: number;
  deleted: number;
}

export interface CopyBackOptions {
  /** Rows per key window (per SQLite transaction). */
  batchRows?: number;
  onProgress?: (table: string, seen: number) => void;
}

const q = (id: string) => `"${id.replace(/"/g, '""')}"`;

/** Brings every table of the SQLite source to the PostgreSQL target's rows; returns what changed per table. */
export async function copyBackTables(source: Database.Database, target: MoveTarget, tables: TablePlan[], opts: CopyBackOptions = {}): Promise<Record<string, CopiedBack>> {
  const result: Record<string, CopiedBack> = {};
  // No triggers or foreign keys in the services' schemas; checked below after the copy, not row by row.
  const fk = source.pragma("foreign_keys", { simple: true });
  source.pragma("foreign_keys = OFF");
  try {
    for (const t of tables) {
      const counts: CopiedBack = { inserted: 0, updated: 0, deleted: 0 };
      const cols = t.columns.map((c) => q(c.name));
      const keyWhere = t.key.map((k) => `${q(k)} = ?`).join(" AND ");
      const nonKey = t.columns.filter((c) => !t.key.includes(c.name));
      const upsert = source.prepare(
        `INSERT INTO ${q(t.name)} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")}) ON CONFLICT (${t.key.map(q).join(", ")}) ` +
          (nonKey.length ? `DO UPDATE SET ${nonKey.map((c) => `${q(c.name)} = excluded.${q(c.name)}`).join(", ")}` : "DO NOTHING"),
      );
      const remove = source.prepare(`DELETE FROM ${q(t.name)} WHERE ${keyWhere}`);
      const write = (r: Record<string, unknown>) => upsert.run(...t.columns.map((c) => sqliteValue(r[c.name], c.type)));
      let seen = 0;
      for await (const w of keyWindows(source, target, t, opts.batchRows ?? 5000)) {
        source.transaction(() => {
          for (const s of w.source) {
            const k = rowKey(t, s, "source");
            const d = w.target.get(k);
            if (!d) {
              remove.run(...t.key.map((c) => s[c]));
              counts.deleted++;
              continue;
            }
            w.target.delete(k);
            if (columnDifferences(t, s, d).length > 0) {
              write(d);
              counts.updated++;
            }
          }
          for (const d of w.target.values()) {
            write(d);
            counts.inserted++;
          }
        })();
        seen += w.source.length;
        opts.onProgress?.(t.name, seen);
      }
      result[t.name] = counts;
    }
  } finally {
    source.pragma(`foreign_keys = ${fk ? "ON" : "OFF"}`);
  }
  const broken = source.pragma("foreign_key_check") as unknown[];
  if (broken.length > 0) throw new Error(`copy back: ${broken.length} rows of SQLite fail their foreign keys after the copy: ${JSON.stringify(broken.slice(0, 3))}`);
  return result;
}

/** The copy back for one opened move (migrate/stores.ts openMove): SQLite becomes what PostgreSQL holds. */
export async function copyBack(m: OpenedMove, opts?: CopyBackOptions): Promise<Record<string, CopiedBack>> {
  const changed = await copyBackTables(m.source, m.target, m.tables, opts);
  clearSourceCutover(m);
  return changed;
}
