import { portOpen } from "../net.js";
import { openPgPool, parseDatabaseUrl } from "../db.js";
import pg from "pg";

/**
 * Test-side checks for the machine's shared services. With CI=true a missing database or
 * broker fails the run (so a green CI run means the real thing was exercised); on a
 * developer's machine the suite is skipped with a reason instead.
 */
export { freePort, portOpen } from "../net.js";
export { waitFor, waitForPort, type WaitOptions } from "../wait.js";

export const inCI = process.env.CI === "true" || process.env.CI === "1";

export const PG_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";


/**
 * Resolve to true when the service answers. Missing under CI ⇒ throws, so the suite fails.
 * Use as `const ok = await available("postgres", ...)` then `describe.skipIf(!ok)`.
 */
export async function available(name: string, url: string): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || { postgres: 5432, postgresql: 5432, redis: 6379, nats: 4222 }[u.protocol.replace(":", "")]);
  const ok = await portOpen(u.hostname, port);
  if (!ok && inCI) throw new Error(`${name} is not reachable at ${u.hostname}:${port} and CI=true: start it (see .ci/run)`);
  if (!ok) console.warn(`[test] ${name} not reachable at ${u.hostname}:${port}: skipping its suites`);
  return ok;
}

/**
 * A fresh schema on the shared PostgreSQL: url carries ?schema= for the stores; pool() opens a
 * pool whose sessions use it (as the stores' own pools do); drop() removes it.
 */
export async function freshSchema(prefix: string, base = PG_URL): Promise<{ url: string; schema: string; pool: (opts?: pg.PoolConfig) => pg.Pool; drop: () => Promise<void> }> {
  const schema = `${prefix.replace(/[^a-z0-9_]/g, "_")}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
  const u = new URL(base);
  u.searchParams.set("schema", schema);
  const url = u.toString();
  return {
    url,
    schema,
    pool: (opts = {}) => {
      const target = parseDatabaseUrl(url);
      if (target.kind !== "postgres") throw new Error(`freshSchema: ${base} is not a PostgreSQL URL`);
      return openPgPool(target, opts);
    },
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
