/**
 * SQLite's write lock held by another process's connection (the webhook process and the reply
 * workers' process share the file, ADR 0035): a write waits for it off the event loop — the loop
 * keeps running while the lock is held, and the write lands once it is released. With SQLite's
 * own synchronous wait (busy_timeout of seconds) the call would block the loop until it gave up.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, expect, it } from "vitest";
import { openBrainStore } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "brain-busy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("waits for a write lock another connection holds without blocking the event loop, then writes", async () => {
  const file = join(dir, "brain.db");
  const store = await openBrainStore(`sqlite:${file}`);
  const other = new Database(file);
  try {
    other.exec("BEGIN IMMEDIATE");
    let settled = false;
    const write = store.storeInbound([{ waId: "wamid.busy", phone: "15550001111", type: "text", body: "hi", sentAt: 1, }], [], [], 2).finally(() => (settled = true));
    // The event loop runs timers while the lock is held elsewhere: 20 turns of 5 ms each.
    let turns = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 5));
      turns++;
    }
    expect(turns).toBe(20);
    expect(settled).toBe(false);
    other.exec("COMMIT");
    expect(await write).toBe(1);
    expect(await store.backlog()).toBe(1);
  } finally {
    other.close();
    await store.close();
  }
});
