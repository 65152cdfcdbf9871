import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import Database from "better-sqlite3";
import pg from "pg";

/**
 * TLS to PostgreSQL, named in the URL the libpq way (the URL is the one secret a service gets):
 *   verify-full: the server's certificate chains to the CA in sslrootcert AND names the host
 *                (subjectAltName; the CN when the certificate has none)
 *   verify-ca:   the certificate chains to the CA in sslrootcert; no name check. For Cloud SQL's
 *                default per-instance CA, which signs that one instance's certificates only and
 *                whose server certificates carry no subjectAltName (so a name check against the
 *                private IP cannot pass): see components/postgres.ts.
 * Only the CA in sslrootcert is trusted (Node's `ca` replaces the system roots).
 */
export type PgTlsMode = "verify-full" | "verify-ca";

export type DatabaseTarget =
  | { kind: "sqlite"; path: string }
  | { kind: "postgres"; connectionString: string; schema?: string; tls?: { mode: PgTlsMode; caFile: string } };

/** URL parameters that would change how (or whether) the server's certificate is checked. */
const refusedTlsParams = ["ssl", "uselibpqcompat", "sslcert", "sslkey", "sslpassword"];

/** Reads a PEM CA bundle; one line naming the setting and the problem when it cannot. */
export function readCaFile(path: string, setting: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`${setting}=${path}: cannot read the CA file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error(`${setting}=${path}: not a PEM certificate (no BEGIN CERTIFICATE block)`);
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new Error(`${setting}=${path}: not a readable X.509 certificate (${(err as Error).message})`);
  }
  return pem;
}

/**
 * DATABASE_URL forms:
 *   sqlite:/var/lib/tierstack/task-queue.db   (absolute)   sqlite:./.data/q.db (relative)   sqlite::memory:
 *   postgres://user@host:5432/db?schema=name  (schema sets search_path; created by the migrator)
 *   postgres://user:pw@10.1.2.3:5432/db?sslmode=verify-ca&sslrootcert=/etc/tierstack/ca/postgres.pem
 *                                             (TLS; sslmode verify-full or verify-ca, or disable)
 * The returned connection string keeps the TLS parameters plus `uselibpqcompat=true`, so every
 * pg client built from it (pools, the task queue's LISTEN connection) gets libpq's meaning of
 * sslmode: without it pg treats verify-ca as verify-full.
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
    const tls = pgTls(u);
    return tls ? { kind: "postgres", connectionString: u.toString(), schema, tls } : { kind: "postgres", connectionString: u.toString(), schema };
  }
  throw new Error(`DATABASE_URL=${JSON.stringify(redactUrl(url))}: expected sqlite:<path> or postgres://…`);
}

function pgTls(u: URL): { mode: PgTlsMode; caFile: string } | undefined {
  for (const k of refusedTlsParams) {
    if (u.searchParams.has(k)) throw new Error(`DATABASE_URL ${k}=…: not supported; TLS is sslmode=verify-full or verify-ca with sslrootcert=<CA file>`);
  }
  const mode = u.searchParams.get("sslmode");
  const caFile = u.searchParams.get("sslrootcert");
  if (mode === null || mode === "disable") {
    if (caFile !== null) throw new Error(`DATABASE_URL sslrootcert=${caFile} without sslmode=verify-full or verify-ca: the CA would not be used`);
    if (mode === "disable") u.searchParams.set("uselibpqcompat", "true");
    return undefined;
  }
  if (mode !== "verify-full" && mode !== "verify-ca") {
    throw new Error(`DATABASE_URL sslmode=${mode}: expected verify-full or verify-ca (the server's certificate is checked against sslrootcert), or disable`);
  }
  if (caFile === null || caFile === "") throw new Error(`DATABASE_URL sslmode=${mode}: needs sslrootcert=<CA file> (the CA the server's certificate must chain to)`);
  readCaFile(caFile, "DATABASE_URL sslrootcert");
  u.searchParams.set("uselibpqcompat", "true");
  return { mode, caFile };
}

/** Node's codes for a certificate that does not chain to the trusted CA. */
export const untrustedCertCodes: ReadonlySet<string> = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_GET_ISSUER_CERT", "CERT_SIGNATURE_FAILURE", "CERT_UNTRUSTED",
]);

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, " ").trim();

/**
 * A connection failure as one line naming the server and the cause, for a start-up error:
 *   PostgreSQL 10.1.2.3:5432: TLS: the server's certificate is not signed by the CA in sslrootcert=… (self-signed certificate in certificate chain)
 * The original error is the `cause`; no password is ever part of the line.
 */
export function describePgError(err: unknown, connectionString?: string): Error {
  const e = err as { code?: string; message?: string };
  const msg = oneLine(e.message ?? String(err));
  let where = "PostgreSQL";
  let host = "";
  let caFile: string | null = null;
  let mode: string | null = null;
  if (connectionString) {
    try {
      const u = new URL(connectionString);
      host = u.hostname;
      where = `PostgreSQL ${u.hostname}:${u.port || "5432"}`;
      caFile = u.searchParams.get("sslrootcert");
      mode = u.searchParams.get("sslmode");
    } catch {
      // not a URL: keep the generic name
    }
  }
  const code = e.code ?? "";
  let line = msg;
  if (untrustedCertCodes.has(code)) line = `TLS: the server's certificate is not signed by the CA in sslrootcert=${caFile ?? "(none)"} (${msg})`;
  else if (code === "ERR_TLS_CERT_ALTNAME_INVALID") line = `TLS: the server's certificate does not name ${host} (${msg})`;
  else if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") line = `TLS: ${msg}`;
  else if (code === "28000" && /no encryption/.test(msg)) line = `${msg}: the server accepts TLS connections only (add sslmode=verify-full or verify-ca and sslrootcert=<CA file> to the URL)`;
  else if (msg === "The server does not support SSL connections") line = `the server does not accept TLS, and the URL asks for sslmode=${mode ?? "?"}`;
  const out = new Error(`${where}: ${line}`, { cause: err });
  if (code) (out as Error & { code?: string }).code = code;
  return out;
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

/**
 * SQLite re-prepares a statement on the first step after each new binding of a value that "might
 * influence the choice of query plan" (https://sqlite.org/c3ref/prepare.html). A bare bound LIMIT
 * is one, in the SQLite that better-sqlite3 12 bundles (3.51); behind a cast it is not. Measured on
 * the brain's store at 64,000 inbox rows: its pending read cost 113 µs of CPU per call with
 * `LIMIT ?` and 54 µs with the cast (bench/brain/RESULTS.md; the task queue's SQLite store in
 * bench/queue/RESULTS.md). Both SQLite stores write a bound LIMIT with `sqliteLimit` and prepare
 * every statement through `refuseBareSqliteLimit`, so a statement added later cannot bring a bare
 * one back.
 */
export const sqliteLimit = (param: string): string => `CAST(${param} AS INTEGER)`;
const BARE_LIMIT = /\bLIMIT\s+[?$:@]/i;
export function refuseBareSqliteLimit(sql: string): string {
  if (BARE_LIMIT.test(sql)) throw new Error(`a bare bound LIMIT makes SQLite re-prepare the statement at every call; write LIMIT CAST(<param> AS INTEGER) (sqliteLimit): ${sql}`);
  return sql;
}

/** A pg pool whose sessions use the target's schema as search_path (beside any `options` the caller sets). */
export function openPgPool(target: Extract<DatabaseTarget, { kind: "postgres" }>, opts: pg.PoolConfig = {}): pg.Pool {
  const options = [target.schema ? `-c search_path=${target.schema}` : "", opts.options ?? ""].filter(Boolean).join(" ");
  return new pg.Pool({
    connectionString: target.connectionString,
    max: 20,
    ...opts,
    ...(options ? { options } : {}),
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
  // The first connection a service makes: a TLS, CA or password problem fails here, as one line.
  const client = await pool.connect().catch((err: unknown) => {
    throw describePgError(err, pool.options.connectionString);
  });
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
