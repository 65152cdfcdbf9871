/**
 * EXPLAIN (ANALYZE, BUFFERS) of pg-boss 10's fetch statement (plans.fetchNextJob) against a backlog,
 * on a private PostgreSQL:  npx tsx bench/queue/pgboss-explain.ts [backlog=50000]
 */
import pg from "pg";
import PgBoss from "pg-boss";
// @ts-expect-error untyped internal module, read for the exact SQL pg-boss runs
import * as plans from "pg-boss/src/plans.js";
import { startPrivatePostgres } from "@tierstack/common/testing";
import { intOption, parseCommandArgs } from "../../cli/args.js";

const FETCH_ORDER_INDEX = (schema: string) => `CREATE INDEX bench_fetch_order ON ${schema}.job (name, priority DESC, created_on, id) WHERE state < 'active'`;
const BACKLOG = intOption("bench/queue/pgboss-explain", "backlog", parseCommandArgs("bench/queue/pgboss-explain", "pgboss-explain.ts [backlog]", process.argv.slice(2), {}).positionals[0], 50_000, 1);
const db = await startPrivatePostgres();
const c = new pg.Client({ connectionString: db.url });
try {
  const boss = new PgBoss({ connectionString: db.url, schema: "pgb", max: 2, supervise: false, schedule: false });
  await boss.start();
  await boss.createQueue("bench");
  for (let i = 0; i < BACKLOG; i += 5000) await boss.insert(Array.from({ length: Math.min(5000, BACKLOG - i) }, () => ({ name: "bench", data: { p: "x".repeat(90) } })));
  await boss.stop({ graceful: false, wait: true });
  await c.connect();
  await c.query("ANALYZE pgb.job");
  const variants: [string, boolean][] = [["stock, priority: true", true], ["stock, priority: false", false]];
  for (const [label, priority] of variants) {
    const sql = (plans.fetchNextJob("pgb") as (o: object) => string)({ priority });
    await c.query("BEGIN");
    const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, ["bench", 1]);
    await c.query("ROLLBACK");
    process.stdout.write(`--- fetch, ${label}\n${r.rows.map((x) => x["QUERY PLAN"]).join("\n")}\n`);
  }
  await c.query(FETCH_ORDER_INDEX("pgb"));
  await c.query("ANALYZE pgb.job");
  {
    const sql = (plans.fetchNextJob("pgb") as (o: object) => string)({ priority: true });
    await c.query("BEGIN");
    const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, ["bench", 1]);
    await c.query("ROLLBACK");
    process.stdout.write(`--- fetch, with ${FETCH_ORDER_INDEX("pgb")}\n${r.rows.map((x) => x["QUERY PLAN"]).join("\n")}\n`);
  }
  const idx = await c.query("SELECT indexdef FROM pg_indexes WHERE schemaname = 'pgb' ORDER BY indexname");
  process.stdout.write(`--- indexes\n${idx.rows.map((x) => x.indexdef).join("\n")}\n`);
} finally {
  await c.end().catch(() => undefined);
  db.destroy();
}
