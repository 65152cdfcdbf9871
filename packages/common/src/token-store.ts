import { openPgPool, openSqlite, parseDatabaseUrl } from "./db.js";
import { PgTokenStore, SqliteTokenStore, type TokenStore } from "./tokens.js";

/** Open the agent-token store a DATABASE_URL names, migrated and ready. */
export async function openTokenStore(url: string): Promise<{ store: TokenStore; close: () => Promise<void> }> {
  const target = parseDatabaseUrl(url);
  if (target.kind === "sqlite") {
    const db = openSqlite(target.path);
    const store = new SqliteTokenStore(db);
    await store.migrate();
    return { store, close: async () => void db.close() };
  }
  const pool = openPgPool(target, { max: 4 });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on("error", () => undefined);
  const store = new PgTokenStore(pool, target.schema);
  await store.migrate();
  return { store, close: () => pool.end() };
}
