/**
 * The services' databases a tier migration moves, and how each target is prepared: the target
 * schema is created by the service's own store (its migrations), never by the mover, so the
 * copy lands in exactly the schema the service will run on.
 */
import Database from "better-sqlite3";
import pg from "pg";
import { parseDatabaseUrl } from "@tierstack/common";
import { openBrainStore } from "../services/brain/src/store/index.js";
import { openStores } from "../services/task-queue/src/open-store.js";
import { copyTables, migrationProblems, planTables, resetProgress, verifyTables, type CopyOptions, type Difference, type MoveTarget, type TablePlan } from "./sqlite-to-postgres.js";

export type MovedStore = "task-queue" | "brain";
/** The task queue's database also holds the agent tokens (the gateway reads them there). */
export const movedStores: readonly MovedStore[] = ["task-queue", "brain"];

/** Runs the service's migrations on the target (both stores' code, as the service starts). */
export async function prepareTarget(store: MovedStore, url: string): Promise<void> {
  if (store === "brain") return (await openBrainStore(url)).close();
  const { store: tasks } = await openStores(parseDatabaseUrl(url));
  await tasks.close();
}

export interface OpenedMove {
  source: Database.Database;
  target: MoveTarget;
  tables: TablePlan[];
  close(): Promise<void>;
}

/** Opens both sides read-ready and plans the tables; throws one line per problem. */
export async function openMove(store: MovedStore, sqlitePath: string, pgUrl: string): Promise<OpenedMove> {
  const target = parseDatabaseUrl(pgUrl);
  if (target.kind !== "postgres") throw new Error(`${store}: target ${pgUrl} is not a PostgreSQL URL`);
  await prepareTarget(store, pgUrl);
  const source = new Database(sqlitePath, { fileMustExist: true });
  const schema = target.schema ?? "public";
  const pool = new pg.Pool({ connectionString: target.connectionString, max: 2, options: `-c search_path=${schema}` });
  const move: MoveTarget = { pool, schema };
  const close = async () => {
    source.close();
    await pool.end();
  };
  const problems = [...(await migrationProblems(source, move)), ...(await planTables(source, move)).problems];
  if (problems.length > 0) {
    await close();
    throw new Error(`${store}: ${problems.join("; ")}`);
  }
  return { source, target: move, tables: (await planTables(source, move)).tables, close };
}

/**
 * A cut-over mode saved in a store (the task queue's `tierstack_cutover`, ADR 0043) belongs to
 * the service that ran on it, not to its data: the store a copy writes into starts serving.
 */
const CUTOVER_TABLE = "tierstack_cutover";

export async function copyStore(m: OpenedMove, opts?: CopyOptions): Promise<Record<string, number>> {
  const found = await m.target.pool.query("SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2", [m.target.schema, CUTOVER_TABLE]);
  if (found.rowCount) await m.target.pool.query(`DELETE FROM "${m.target.schema}"."${CUTOVER_TABLE}"`);
  return copyTables(m.source, m.target, m.tables, opts);
}

/** The copy back's counterpart: the SQLite file a copy back writes into starts serving. */
export function clearSourceCutover(m: OpenedMove): void {
  const found = m.source.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(CUTOVER_TABLE);
  if (found) m.source.prepare(`DELETE FROM ${CUTOVER_TABLE}`).run();
}

/** Empties the target's tables and forgets the checkpoints, for the full copy at cut-over. */
export async function emptyTarget(m: OpenedMove): Promise<void> {
  const names = m.tables.map((t) => `"${m.target.schema}"."${t.name}"`).join(", ");
  if (names) await m.target.pool.query(`TRUNCATE ${names}`);
  await resetProgress(m.target);
}

export async function verifyStore(m: OpenedMove, limit?: number): Promise<Difference[]> {
  return verifyTables(m.source, m.target, m.tables, limit);
}
