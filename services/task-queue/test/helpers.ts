import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDatabaseUrl } from "@tierstack/common";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { openTaskStore } from "../src/open-store.js";
import type { TaskStore } from "../src/types.js";

export const pgUp = await available("postgres", PG_URL);

export interface StoreImpl {
  name: "sqlite" | "postgres";
  skip: boolean;
  /** A fresh, migrated store and its DATABASE_URL; close() also drops the schema / file. */
  open: () => Promise<{ store: TaskStore; url: string; close: () => Promise<void> }>;
}

export const impls: StoreImpl[] = [
  {
    name: "sqlite",
    skip: false,
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), "task-queue-"));
      const url = `sqlite:${join(dir, "tq.db")}`;
      const store = await openTaskStore(parseDatabaseUrl(url));
      return { store, url, close: async () => { await store.close().catch(() => undefined); rmSync(dir, { recursive: true, force: true }); } };
    },
  },
  {
    name: "postgres",
    skip: !pgUp,
    open: async () => {
      const s = await freshSchema("tq");
      const store = await openTaskStore(parseDatabaseUrl(s.url), { poolMax: 6 });
      return { store, url: s.url, close: async () => { await store.close().catch(() => undefined); await s.drop(); } };
    },
  },
];
