/**
 * A FileVault on the brain's PostgreSQL (ADR 0037): the learners' files between sandboxes, one
 * row per learner, shared by every brain replica. A learner released by one replica and brought
 * back by another finds their files (directoryVault keeps them on one pod's disk only).
 *
 * The table is the vault's own, `brain_sandbox_files`, created by its own add-only migration
 * (`migratePostgres` under the same advisory lock convention as the store, recorded in
 * `brain_sandbox_migrations`), in the DATABASE_URL's schema. The files are stored as the UTF-8
 * bytes of their JSON (bytea): jsonb refuses \u0000, and JSON.stringify escapes lone surrogates,
 * so any name and content round trip. A save replaces the learner's row (last save wins, as in
 * directoryVault; one replica at a time holds a learner's sandbox).
 */
import type pg from "pg";
import { migratePostgres, openPgPool, parseDatabaseUrl, type Migration } from "@tierstack/common";
import type { FileVault } from "./kubernetes.js";

export const vaultTable = "brain_sandbox_files";

export const vaultMigrations: Migration[] = [
  {
    version: 1,
    name: "learner files between sandboxes",
    sql: `CREATE TABLE IF NOT EXISTS ${vaultTable} (
  learner_id text PRIMARY KEY,
  files bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
  },
];

export interface PgVault extends FileVault {
  close(): Promise<void>;
}

/** Connections the vault holds per process (the stack's connection budget counts them). */
export const vaultPoolMax = 2;

/** Open the vault on a postgres:// DATABASE_URL (its ?schema= and TLS parameters as the store reads them); creates the table if missing. */
export async function openPgVault(databaseUrl: string): Promise<PgVault> {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.kind !== "postgres") throw new Error("the PostgreSQL file vault needs a postgres:// DATABASE_URL");
  const pool: pg.Pool = openPgPool(target, { max: vaultPoolMax });
  try {
    await migratePostgres(pool, "brain-sandbox", target.schema, vaultMigrations);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return {
    async load(learnerId) {
      const r = await pool.query<{ files: Buffer }>(`SELECT files FROM ${vaultTable} WHERE learner_id = $1`, [learnerId]);
      const row = r.rows[0];
      return row ? (JSON.parse(row.files.toString("utf8")) as Record<string, string>) : undefined;
    },
    async save(learnerId, files) {
      await pool.query(
        `INSERT INTO ${vaultTable} (learner_id, files, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (learner_id) DO UPDATE SET files = EXCLUDED.files, updated_at = EXCLUDED.updated_at`,
        [learnerId, Buffer.from(JSON.stringify(files), "utf8")],
      );
    },
    close: () => pool.end(),
  };
}
