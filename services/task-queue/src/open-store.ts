import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { openPgPool, openSqlite, PgTokenStore, SqliteTokenStore, type DatabaseTarget, type TokenStore } from "@tierstack/common";
import { PgTaskStore } from "./pg-store.js";
import { SqliteTaskStore } from "./sqlite-store.js";
import type { TaskStore } from "./types.js";

type OpenOptions = { poolMax?: number; onError?: (err: unknown, where: string) => void };

/** Open, migrate and (PostgreSQL) start listening; SQLite's parent directory is created. */
export async function openTaskStore(target: DatabaseTarget, opts: OpenOptions = {}): Promise<TaskStore> {
  return (await openStores(target, opts)).store;
}

/** The task store and the agent-token store on the same connection(s): tokens live beside the tasks. */
export async function openStores(target: DatabaseTarget, opts: OpenOptions = {}): Promise<{ store: TaskStore; tokens: TokenStore }> {
  if (target.kind === "sqlite") {
    if (target.path !== ":memory:") mkdirSync(dirname(target.path), { recursive: true });
    const db = openSqlite(target.path);
    const store = new SqliteTaskStore(db);
    const tokens = new SqliteTokenStore(db);
    await store.migrate();
    await tokens.migrate();
    return { store, tokens };
  }
  const pool = openPgPool(target, { max: opts.poolMax ?? 10 });
  const store = new PgTaskStore(pool, { schema: target.schema, connectionString: target.connectionString, onError: opts.onError });
  const tokens = new PgTokenStore(pool, target.schema);
  try {
    await store.migrate();
    await tokens.migrate();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  await store.listen();
  return { store, tokens };
}
