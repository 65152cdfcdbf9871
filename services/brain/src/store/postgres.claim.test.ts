/**
 * The claim's cost follows the learners it takes, not the backlog: the same claim of 16 learners
 * (one message each, the oldest waiting) reads about as many buffers behind 2,000 pending
 * messages of other learners as behind 16,000. Counted by EXPLAIN (ANALYZE, BUFFERS) — pages, not
 * time. Before schema v4 each claimed learner's pending messages came from a BitmapAnd over the
 * whole pending index, so the count grew with the backlog.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { CLAIM_SQL, PgBrainStore } from "./postgres.js";
import type { InboundInput } from "./types.js";

const pgUp = await available("postgres", PG_URL);
const T0 = Date.UTC(2026, 11, 2, 12);
const LEASE_MS = 60_000;
const phone = (i: number) => `4477019${String(i).padStart(5, "0")}`;

describe.runIf(pgUp)("PgBrainStore claim cost", () => {
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let store: PgBrainStore;
  let pool: pg.Pool;
  beforeAll(async () => {
    schema = await freshSchema("brain_claim");
    store = new PgBrainStore(schema.url);
    await store.migrate();
    pool = schema.pool({ max: 1 });
  });
  afterAll(async () => {
    await pool?.end();
    await store?.close();
    await schema?.drop();
  });

  /** Shared buffers the claim of 16 learners touches (executed, then rolled back). */
  async function claimBuffers(now: number): Promise<{ hits: number; rows: number }> {
    const c = await pool.connect();
    try {
      await c.query("BEGIN");
      const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${CLAIM_SQL}`, ["test", now, now + LEASE_MS, 8, 10, "2026-12-02", 16]);
      await c.query("ROLLBACK");
      const [top] = (r.rows[0] as { "QUERY PLAN": { Plan: { "Shared Hit Blocks": number; "Shared Read Blocks": number; "Actual Rows": number } }[] })["QUERY PLAN"];
      if (!top) throw new Error("EXPLAIN returned no plan");
      const plan = top.Plan;
      return { hits: plan["Shared Hit Blocks"] + plan["Shared Read Blocks"], rows: plan["Actual Rows"] };
    } finally {
      c.release();
    }
  }

  /** `perLearner` pending messages for each of `learners` learners from phone index `from`. */
  async function pendingFrom(from: number, perLearner: number, learners: number, tag: string, sentAt: number): Promise<void> {
    const msgs: InboundInput[] = [];
    for (let l = 0; l < learners; l++) for (let k = 0; k < perLearner; k++) msgs.push({ waId: `wamid.${tag}.${l}.${k}`, phone: phone(from + l), type: "text", body: "x", sentAt });
    for (let i = 0; i < msgs.length; i += 500) await store.storeInbound(msgs.slice(i, i + 500), [], [], sentAt);
  }

  it("reads about as many buffers behind 16,000 pending messages as behind 2,000", async () => {
    await pendingFrom(0, 1, 16, "front", T0); // the 16 learners the claim takes: the oldest waiting
    await pendingFrom(100, 20, 100, "a", T0 + 1); // 2,000 pending behind them
    const small = await claimBuffers(T0 + 10);
    await pendingFrom(200, 20, 700, "b", T0 + 2); // 16,000
    const large = await claimBuffers(T0 + 10);
    expect(small.rows).toBe(16);
    expect(large.rows).toBe(16);
    expect(large.hits, `buffers: ${small.hits} behind 2,000 pending, ${large.hits} behind 16,000`).toBeLessThan(small.hits * 1.5);
  });

  it("chooses through learners_free and learners_leased (schema v5), never a scan of every learner", async () => {
    interface Node { "Node Type": string; "Relation Name"?: string; "Index Name"?: string; "Subplan Name"?: string; Plans?: Node[] }
    const r = await pool.query(`EXPLAIN (FORMAT JSON) ${CLAIM_SQL}`, ["test", T0 + 10, T0 + 10 + LEASE_MS, 8, 10, "2026-12-02", 16]);
    const root = (r.rows[0] as { "QUERY PLAN": { Plan: Node }[] })["QUERY PLAN"][0]!.Plan;
    const scans = new Map<string, string[]>();
    const walk = (n: Node, cte: string | undefined) => {
      const at = n["Subplan Name"]?.startsWith("CTE ") ? n["Subplan Name"].slice(4) : cte;
      if (n["Relation Name"] === "learners" && (at === "f" || at === "e")) scans.set(at, [...(scans.get(at) ?? []), `${n["Node Type"]} ${n["Index Name"] ?? ""}`.trim()]);
      for (const c of n.Plans ?? []) walk(c, at);
    };
    walk(root, undefined);
    expect(Object.fromEntries(scans), JSON.stringify(root, null, 1).slice(0, 4000)).toEqual({
      f: [expect.stringMatching(/^Index (Only )?Scan learners_free$/)],
      e: [expect.stringMatching(/^Index (Only )?Scan learners_leased$/)],
    });
  });
});
