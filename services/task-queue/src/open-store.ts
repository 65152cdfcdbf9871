import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { openPgPool, openSqlite, type DatabaseTarget } from "@tierstack/common";
import { PgTaskStore } from "./pg-store.js";
import { SqliteTaskStore } from "./sqlite-store.js";
import type { TaskStore } from "./types.js";

/** Open, migrate and (PostgreSQL) start listening; SQLite's parent directory is created. */
export async function openTaskStore(
  target: DatabaseTarget,
  opts: { poolMax?: number; onError?: (err: unknown, where: string) => void } = {},
): Promise<TaskStore> {
  if (target.kind === "sqlite") {
    if (target.path !== ":memory:") mkdirSync(dirname(target.path), { recursive: true });
    const store = new SqliteTaskStore(openSqlite(target.path));
    await store.migrate();
    return store;
  }
  const pool = openPgPool(target, { max: opts.poolMax ?? 10 });
  const store = new PgTaskStore(pool, { schema: target.schema, connectionString: target.connectionString, onError: opts.onError });
  try {
    await store.migrate();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  await store.listen();
  return store;
}
