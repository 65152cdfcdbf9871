import { parseDatabaseUrl } from "@tierstack/common";
import { PgBrainStore } from "./postgres.js";
import { SqliteBrainStore } from "./sqlite.js";
import type { BrainStore } from "./types.js";

export * from "./types.js";
export { SqliteBrainStore } from "./sqlite.js";
export { PgBrainStore } from "./postgres.js";

/**
 * Open the store DATABASE_URL names and bring its schema up to date (advisory-locked on
 * PostgreSQL). `pools` sizes PostgreSQL's two pools (workers/admin, ingest); default 16 + 6.
 */
export async function openBrainStore(url: string, pools?: { max: number; ingestMax: number }): Promise<BrainStore> {
  const target = parseDatabaseUrl(url);
  const store: BrainStore = target.kind === "sqlite" ? new SqliteBrainStore(target.path) : new PgBrainStore(url, pools);
  await store.migrate();
  return store;
}
