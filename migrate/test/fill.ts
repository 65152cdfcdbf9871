/** Test data for the movers: a service's SQLite source with its own schema, every table filled from its declared column types. */
import Database from "better-sqlite3";
import { parseDatabaseUrl } from "@tierstack/common";
import { openBrainStore } from "../../services/brain/src/store/index.js";
import { openStores } from "../../services/task-queue/src/open-store.js";
import type { MovedStore } from "../stores.js";

/** A source database with the service's schema (its own store ran the migrations). */
export async function sourceOf(store: MovedStore, path: string): Promise<void> {
  if (store === "brain") return (await openBrainStore(`sqlite:${path}`)).close();
  return (await openStores(parseDatabaseUrl(`sqlite:${path}`))).store.close();
}

/** Fills every table the mover carries (not the bookkeeping: `…_migrations`, `tierstack_…`) with `n` rows whose values follow each column's declared type; returns the tables. */
export function fill(path: string, n: number): string[] {
  const db = new Database(path);
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence' AND name NOT LIKE '%\\_migrations' ESCAPE '\\' AND name NOT LIKE 'tierstack\\_%' ESCAPE '\\'").all() as { name: string }[]).map((r) => r.name);
  for (const t of tables) {
    const cols = db.prepare(`PRAGMA table_info("${t}")`).all() as { name: string; type: string; pk: number }[];
    const insert = db.prepare(`INSERT INTO "${t}" (${cols.map((c) => `"${c.name}"`).join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`);
    db.transaction(() => {
      for (let i = 1; i <= n; i++) insert.run(...cols.map((c) => valueFor(t, c.name, c.type, i)));
    })();
  }
  db.close();
  return tables;
}

function valueFor(table: string, col: string, type: string, i: number): unknown {
  const t = type.toUpperCase();
  if (/(_at|_until|^at)$/.test(col) && t.includes("INT")) return 1_700_000_000_000 + i * 1000 + 7; // epoch ms
  if (col === "opted_out" || col.startsWith("is_")) return i % 2;
  if (t.includes("INT")) return i;
  if (t.includes("REAL")) return i / 8;
  if (col === "payload" || col === "result") return table === "tasks" ? JSON.stringify({ i, text: "tab\tnew\nline \\ é 😀", nested: { b: 2, a: [1, null] } }) : `payload ${i}\t"x"\\`;
  if (col === "state") return table === "tasks" ? "ready" : "pending";
  return `${table}.${col}.${i}\tü`;
}
