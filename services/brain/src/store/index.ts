import { parseDatabaseUrl } from "@tierstack/common";
import { PgBrainStore } from "./postgres.js";
import { SqliteBrainStore } from "./sqlite.js";
import type { BrainStore } from "./types.js";

export * from "./types.js";
export { SqliteBrainStore } from "./sqlite.js";
export { PgBrainStore } from "./postgres.js";

/** Open the store DATABASE_URL names and bring its schema up to date (advisory-locked on PostgreSQL). */
export async function openBrainStore(url: string): Promise<BrainStore> {
  const target = parseDatabaseUrl(url);
  const store: BrainStore = target.kind === "sqlite" ? new SqliteBrainStore(target.path) : new PgBrainStore(url);
  await store.migrate();
  return store;
}
