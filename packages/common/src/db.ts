import Database from "better-sqlite3";
import pg from "pg";

export type DatabaseTarget =
  | { kind: "sqlite"; path: string }
  | { kind: "postgres"; connectionString: string; schema?: string };

/**
 * DATABASE_URL forms:
 *   sqlite:/var/lib/tierstack/task-queue.db   (absolute)   sqlite:./.data/q.db (relative)   sqlite::memory:
 *   postgres://user@host:5432/db?schema=name  (schema sets search_path; created by the migrator)
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (!path) throw new Error(`DATABASE_URL=${JSON.stringify(url)}: expected sqlite:<path>`);
    return { kind: "sqlite", path };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const u = new URL(url);
    const schema = u.searchParams.get("schema") ?? undefined;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new Error(`DATABASE_URL schema=${JSON.stringify(schema)}: expected a lower-case SQL identifier`);
    }
    u.searchParams.delete("schema");
    return { kind: "postgres", connectionString: u.toString(), schema };
  }
  throw new Error(`DATABASE_URL=${JSON.stringify(redactUrl(url))}: expected sqlite:<path> or postgres://…`);
}

/** A URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

export type SqliteSynchronous = "OFF" | "NORMAL" | "FULL" | "EXTRA";

/** better-sqlite3 with WAL, a busy timeout and the given durability (FULL by default: a commit is on disk). */
export function openSqlite(path: string, opts: { synchronous?: SqliteSynchronous; busyTimeoutMs?: number } = {}): Database.Database {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${opts.synchronous ?? "FULL"}`);
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  db.pragma("foreign_keys = ON");
  return db;
}

/** A pg pool whose sessions use the target's schema as search_path. */
export function openPgPool(target: Extract<DatabaseTarget, { kind: "postgres" }>, opts: pg.PoolConfig = {}): pg.Pool {
  return new pg.Pool({
    connectionString: target.connectionString,
    max: 20,
    ...opts,
    ...(target.schema ? { options: `-c search_path=${target.schema}` } : {}),
  });
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Apply missing migrations in one transaction under a transaction-scoped advisory lock, so
 * several replicas starting at once apply each migration exactly once. Creates the schema.
 */
export async function migratePostgres(pool: pg.Pool, service: string, schema: string | undefined, migrations: Migration[]): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`tierstack:migrate:${service}:${schema ?? "public"}`]);
    if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const table = `${service.replace(/[^a-z0-9]/g, "_")}_migrations`;
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${table}`)).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${table} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query("COMMIT");
    return applied;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The SQLite counterpart: BEGIN IMMEDIATE serialises concurrent migrators on one file. */
export function migrateSqlite(db: Database.Database, service: string, migrations: Migration[]): number[] {
  const table = `${service.replace(/[^a-z0-9]/g, "_")}_migrations`;
  const run = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (datetime('now')))`);
    const done = new Set((db.prepare(`SELECT version FROM ${table}`).all() as { version: number }[]).map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      db.exec(m.sql);
      db.prepare(`INSERT INTO ${table} (version, name) VALUES (?, ?)`).run(m.version, m.name);
      applied.push(m.version);
    }
    return applied;
  });
  return run.immediate();
}
