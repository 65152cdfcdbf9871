/**
 * A bound LIMIT, written bare, makes SQLite re-prepare the statement at every call (sqlite.ts,
 * LIMIT): the store refuses to prepare one, and its own statements all pass.
 */
import { expect, it } from "vitest";
import { openBrainStore } from "./index.js";
import { refuseBareLimit } from "./sqlite.js";

it("refuses a bare bound LIMIT in any parameter style, and accepts the cast", () => {
  for (const sql of ["SELECT 1 LIMIT ?", "SELECT 1 limit  $2", "SELECT 1 LIMIT :n", "SELECT 1 LIMIT @n"]) {
    expect(() => refuseBareLimit(sql)).toThrow(/re-prepares the statement at every call; write LIMIT CAST\(\? AS INTEGER\)/);
  }
  expect(refuseBareLimit("SELECT 1 LIMIT CAST(? AS INTEGER)")).toBe("SELECT 1 LIMIT CAST(? AS INTEGER)");
  expect(refuseBareLimit("SELECT 1 LIMIT 20")).toBe("SELECT 1 LIMIT 20");
});

it("the store's statements that take a limit run (none of them is bare)", async () => {
  const store = await openBrainStore("sqlite::memory:");
  try {
    await store.storeInbound([{ waId: "wamid.l1", phone: "15550002222", type: "text", body: "hi", sentAt: 1 }], [], [], 2);
    const [work] = await store.claimWork("o", 3, 60_000, { learners: 4, batch: 2, historyRows: 5, day: "2026-12-02" });
    expect(work?.pending.map((m) => m.waId)).toEqual(["wamid.l1"]);
    expect(await store.pendingFor(work!.learner.id, 1)).toHaveLength(1);
    expect(await store.history(work!.learner.id, 3)).toEqual([]);
    expect(await store.deadLetters(3)).toEqual([]);
    expect(await store.sendFailures(3)).toEqual([]);
  } finally {
    await store.close();
  }
});
