/**
 * openPgPool on the real PostgreSQL: every session uses the target's schema as search_path, and
 * options the caller sets (a service's per-pool settings) apply beside it, not instead of it.
 */
import { describe, expect, it } from "vitest";
import { openPgPool, parseDatabaseUrl, refuseBareSqliteLimit } from "./db.js";
import { available, freshSchema, PG_URL } from "./testing/index.js";

const pgUp = await available("postgres", PG_URL);

describe.skipIf(!pgUp)("openPgPool", () => {
  it("sets the schema's search_path and the caller's options together", async () => {
    const schema = await freshSchema("db_options");
    const target = parseDatabaseUrl(schema.url);
    if (target.kind !== "postgres") throw new Error("not a PostgreSQL URL");
    const plain = openPgPool(target, { max: 1 });
    const tuned = openPgPool(target, { max: 1, options: "-c plan_cache_mode=force_generic_plan" });
    try {
      const show = async (pool: typeof plain, setting: string) => (await pool.query(`SHOW ${setting}`)).rows[0][setting] as string;
      expect(await show(plain, "search_path")).toBe(schema.schema);
      expect(await show(plain, "plan_cache_mode")).toBe("auto");
      expect(await show(tuned, "search_path")).toBe(schema.schema);
      expect(await show(tuned, "plan_cache_mode")).toBe("force_generic_plan");
    } finally {
      await Promise.all([plain.end(), tuned.end()]);
      await schema.drop();
    }
  });
});

describe("refuseBareSqliteLimit", () => {
  it("refuses a bare bound LIMIT in every parameter style SQLite takes, and passes the cast and literals", () => {
    for (const sql of ["SELECT 1 LIMIT ?", "SELECT 1 limit  $2", "SELECT 1 LIMIT :n", "SELECT 1 LIMIT @n", "SELECT 1\nLIMIT\t?"]) {
      expect(() => refuseBareSqliteLimit(sql)).toThrow(/makes SQLite re-prepare the statement at every call; write LIMIT CAST\(<param> AS INTEGER\)/);
    }
    for (const sql of ["SELECT 1 LIMIT CAST(? AS INTEGER)", "SELECT 1 LIMIT CAST($5 AS INTEGER)", "SELECT 1 LIMIT 20", "SELECT ? AS climit"]) expect(refuseBareSqliteLimit(sql)).toBe(sql);
  });
});
