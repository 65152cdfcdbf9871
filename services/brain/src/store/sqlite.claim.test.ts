/**
 * The claim's choice reads claimable learners only (schema v5): free learners through
 * `learners_free` and run-out leases through `learners_leased`. Before v5 one index held every
 * learner with something pending, and a claim stepped over each one in flight (measured alone:
 * 202 → 88 µs of CPU per learner at two learners per claim behind 2,800 in flight).
 */
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { CLAIM_SQLITE, PENDING_SQLITE, SqliteBrainStore } from "./sqlite.js";

const dir = mkdtempSync(join(tmpdir(), "brain-claim-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A migrated brain database, opened read-only for EXPLAIN. */
async function migrated(name: string): Promise<Database.Database> {
  const path = join(dir, name);
  const store = new SqliteBrainStore(path);
  await store.migrate();
  await store.close();
  return new Database(path, { readonly: true });
}

it("a claim chooses through learners_free and learners_leased, never a scan of the learners", async () => {
  const db = await migrated("brain.db");
  try {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${CLAIM_SQLITE}`).all("o", 3, 1, 2, 1, 2, 2) as { detail: string }[]).map((r) => r.detail);
    const learners = plan.filter((d) => /\blearners\b/.test(d));
    // The update finds each chosen learner by its key; the choice reads the two partial indexes.
    expect(learners, plan.join("\n")).toEqual([
      expect.stringMatching(/^SEARCH learners USING (COVERING )?INDEX sqlite_autoindex_learners_1 \(id=\?\)/),
      expect.stringMatching(/^SEARCH learners USING (COVERING )?INDEX learners_free /),
      expect.stringMatching(/^SEARCH learners USING (COVERING )?INDEX learners_leased \(lease_until<\?\)/),
    ]);
  } finally {
    db.close();
  }
});

it("a learner's pending messages come through inbox_learner from its marker on (schema v6)", async () => {
  const db = await migrated("pending.db");
  try {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${PENDING_SQLITE}`).all("l", 20) as { detail: string }[]).map((r) => r.detail);
    expect(plan, plan.join("\n")).toEqual(expect.arrayContaining([
      expect.stringMatching(/^SEARCH l USING INDEX sqlite_autoindex_learners_1 \(id=\?\)/),
      expect.stringMatching(/^SEARCH i USING INDEX inbox_learner \(learner_id=\? AND id>\?\)/),
    ]));
    expect(plan.filter((d) => /^SCAN/.test(d) && !/TEMP B-TREE/.test(d)), plan.join("\n")).toEqual([]);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'inbox_learner_pending'").all()).toEqual([]);
  } finally {
    db.close();
  }
});
