/**
 * A bound LIMIT, written bare, makes SQLite re-prepare the statement at every call (the kit's
 * refuseBareSqliteLimit): the store prepares every statement through that check, so its
 * statements that take a limit run only because none of them is bare.
 */
import { expect, it } from "vitest";
import { openBrainStore } from "./index.js";

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
