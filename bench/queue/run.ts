/**
 * Task-queue benchmark: one private PostgreSQL (max_connections 300) in the same run for every peer.
 *   npx tsx bench/queue/run.ts            full run (pgbench -T 15, 10 s phases)
 *   npx tsx bench/queue/run.ts --quick    short phases for iterating
 *   --only=pgbench,pg,sqlite,pgboss,graphile,http   a subset (pgbench is always needed for ratios)
 *   --pgboss=stock,indexed   which pg-boss variants (default both; see pgBossPhase)
 * A cycle = claim one task from a pre-enqueued backlog of 50,000 (100-byte payloads) and complete
 * it, on the production code path (TaskQueue with group commit, outbox rows, metrics).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import PgBoss from "pg-boss";
import { Logger, run as runGraphile, runMigrations } from "graphile-worker";
import { Registry } from "prom-client";
import { AgentTokens, openTokenStore, parseDatabaseUrl } from "@tierstack/common";
import { startPrivatePostgres } from "@tierstack/common/testing";
import { openTaskStore } from "../../services/task-queue/src/open-store.js";
import { startServer } from "../../services/task-queue/test/server-process.js";
import { TaskQueue } from "../../services/task-queue/src/queue.js";
import { SqliteTaskStore } from "../../services/task-queue/src/sqlite-store.js";
import type { TaskStore } from "../../services/task-queue/src/types.js";
import { exitOnUsageError, parseCommandArgs } from "../../cli/args.js";

const { values: args } = exitOnUsageError(() => parseCommandArgs("bench/queue", "npx tsx bench/queue/run.ts [--quick] [--only=pgbench,pg,sqlite,pgboss,graphile,http] [--pgboss=stock,indexed]", process.argv.slice(2), {
  quick: { type: "boolean" }, only: { type: "string" }, pgboss: { type: "string" },
}));
const quick = args.quick === true;
const only = args.only?.split(",");
const want = (k: string) => !only || only.includes(k);
const PHASE_S = quick ? 3 : 10;
const PGBENCH_T = quick ? 5 : 15;
const BACKLOG = quick ? 20_000 : 50_000;
const WORKERS = [1, 10, 50, 100];
const PAYLOAD = { p: "x".repeat(90) }; // 100 bytes of JSON
const root = fileURLToPath(new URL("../../", import.meta.url));

interface Result {
  system: string;
  workers: number;
  cycles: number;
  seconds: number;
  p50?: number;
  p99?: number;
  note?: string;
}
const results: Result[] = [];
const log = (s: string) => process.stderr.write(`${s}\n`);
const quantile = (xs: number[], p: number) => {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

/** W loops of claim → complete until the phase ends or the backlog runs out. */
async function drive(workers: number, claim: () => Promise<(() => Promise<void>) | undefined>): Promise<Omit<Result, "system" | "workers">> {
  const lat: number[] = [];
  let cycles = 0;
  let exhausted = false;
  const start = performance.now();
  const end = start + PHASE_S * 1000;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (!exhausted && performance.now() < end) {
      const t0 = performance.now();
      const complete = await claim();
      lat.push(performance.now() - t0);
      if (!complete) {
        exhausted = true;
        break;
      }
      await complete();
      cycles++;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  return { cycles, seconds, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), note: exhausted ? "backlog drained" : undefined };
}

async function preload(store: TaskStore): Promise<void> {
  for (let i = 0; i < BACKLOG; i += 1000) {
    await store.enqueue(Array.from({ length: Math.min(1000, BACKLOG - i) }, () => ({ queue: "bench", payload: PAYLOAD, priority: 0, maxAttempts: 3 })));
  }
}

/** Fresh planner statistics after a bulk load, for every PostgreSQL system alike. */
let analyze: (table: string) => Promise<void> = async () => undefined;
let admin: (sql: string) => Promise<void> = async () => undefined;

async function serviceStorePhase(system: string, store: TaskStore, workers: number, schema?: string): Promise<void> {
  await preload(store);
  if (schema) await analyze(`${schema}.tasks`);
  const queue = new TaskQueue(store, { backoffBaseMs: 1000, backoffMaxMs: 60_000, reaperIntervalMs: 1000, retentionHours: 168, batchConcurrency: Number(process.env.BATCH_CONCURRENCY ?? 2) }, new Registry());
  const r = await drive(workers, async () => {
    const [l] = await queue.claim({ queues: ["bench"], limit: 1, leaseSeconds: 120, owner: "bench" }, 0);
    if (!l) return undefined;
    return async () => {
      const o = await queue.complete({ id: l.task.id, leaseToken: l.leaseToken, result: null });
      if (o.status !== "ok") throw new Error(`complete: ${o.status}`);
    };
  });
  await queue.close();
  results.push({ system, workers, ...r });
  log(`  ${stamp()} ${system} @${workers}: ${(r.cycles / r.seconds).toFixed(0)} cycles/s`);
}

function pgbench(port: number): { tps: number; text: string } {
  const conn = ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres"];
  const init = spawnSync("pgbench", ["-i", "-s", "10", "-q", ...conn, "postgres"], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`pgbench -i: ${init.stderr}`);
  const r = spawnSync("pgbench", ["-c", "100", "-j", "2", "-T", String(PGBENCH_T), "-N", ...conn, "postgres"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`pgbench: ${r.stderr}`);
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout);
  if (!m) throw new Error(`pgbench output not understood:\n${r.stdout}`);
  return { tps: Number(m[1]), text: r.stdout };
}

const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(0)}s]`;

async function main(): Promise<void> {
  log(`starting a private PostgreSQL (${quick ? "quick" : "full"} run)`);
  const db = await startPrivatePostgres();
  const adminPool = new pg.Pool({ connectionString: db.url, max: 2 });
  const tmp = mkdtempSync(join(tmpdir(), "bench-queue-"));
  try {
    const show = async (k: string) => (await adminPool.query(`SHOW ${k}`)).rows[0][k] as string;
    analyze = async (table) => void (await adminPool.query(`ANALYZE ${table}`));
    admin = async (sql) => void (await adminPool.query(sql));
    const settings = { synchronous_commit: await show("synchronous_commit"), fsync: await show("fsync"), max_connections: await show("max_connections") };

    log(`pgbench -i -s 10; pgbench -c 100 -j 2 -T ${PGBENCH_T} -N`);
    const bench = pgbench(db.port);
    log(`  pgbench: ${bench.tps.toFixed(0)} tps`);

    const pgUrl = (schema: string) => `${db.url}?schema=${schema}`;
    let sqliteSync = "";
    for (const w of WORKERS) {
      if (want("pg")) {
        const store = await openTaskStore(parseDatabaseUrl(pgUrl(`tq_${w}`)), { poolMax: Number(process.env.PG_POOL_MAX ?? 10) });
        await serviceStorePhase("task-queue PostgreSQL store", store, w, `tq_${w}`);
        await store.close();
      }
      if (want("sqlite")) {
        const store = (await openTaskStore(parseDatabaseUrl(`sqlite:${join(tmp, `tq_${w}.db`)}`))) as SqliteTaskStore;
        sqliteSync = store.synchronous();
        await serviceStorePhase("task-queue SQLite store", store, w);
        await store.close();
      }
      if (want("pgboss")) for (const v of PGBOSS_VARIANTS) await pgBossPhase(db.url, w, v);
      if (want("graphile")) await graphilePhase(db.url, w);
    }
    if (want("http")) {
      for (const agents of [10, 100]) {
        await httpPhase(pgUrl(`tq_http_${agents}`), agents, "pair");
        await httpPhase(pgUrl(`tq_http_chain_${agents}`), agents, "chain");
      }
    }

    // The table.
    const gw = new Map(results.filter((r) => r.system === "graphile-worker 0.16.6").map((r) => [r.workers, r.cycles / r.seconds]));
    const fmt = (n: number | undefined, d = 1) => (n === undefined ? "—" : n.toFixed(d));
    const lines = [
      `Durability in force: PostgreSQL synchronous_commit=${settings.synchronous_commit}, fsync=${settings.fsync} (max_connections=${settings.max_connections}); SQLite synchronous=${sqliteSync || "n/a"} (journal WAL).`,
      `pgbench -c 100 -j 2 -T ${PGBENCH_T} -N (scale 10): **${bench.tps.toFixed(0)} tps**. Backlog ${BACKLOG.toLocaleString("en")} tasks, ${PHASE_S} s per phase.`,
      "",
      "| system | workers | cycles/s | claim p50 ms | claim p99 ms | × graphile-worker | × pgbench | note |",
      "|---|---:|---:|---:|---:|---:|---:|---|",
      ...results.map((r) => {
        const rate = r.cycles / r.seconds;
        const g = gw.get(r.workers);
        return `| ${r.system} | ${r.workers} | ${rate.toFixed(0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${g ? (rate / g).toFixed(2) : "—"} | ${(rate / bench.tps).toFixed(2)} | ${r.note ?? ""} |`;
      }),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await adminPool.end();
    db.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * pg-boss 10.4.2's fetch (plans.fetchNextJob) orders by `priority DESC, created_on, id`, but its only
 * fetch index is job_i5 (name, start_after) INCLUDE (priority, created_on, id). With a deep ready
 * backlog every fetch is a scan of the whole backlog plus a full sort (LockRows sits between Limit
 * and Sort, so it is not a bounded top-N sort; 50,000 rows spill to disk): ≈ 40-60 ms per claim on an
 * idle machine, O(backlog) — see bench/queue/pgboss-explain.ts. So pg-boss is measured twice:
 *   stock: exactly as shipped;
 *   fetch-order index: plus the index matching the fetch's ORDER BY that pg-boss's maintainer proposed
 *   (timgit/pg-boss#72), which turns the claim into a short index scan (≈ 0.2 ms).
 * Everything else is the documented v10 path: createQueue (standard policy), bulk `insert`,
 * `fetch` with batchSize 1 (one claim per cycle, like every other system here), `complete` by id,
 * pool `max` = workers + 2, no supervise/schedule timers during the phase.
 */
const PGBOSS_FETCH_ORDER_INDEX = (schema: string) => `CREATE INDEX bench_fetch_order ON ${schema}.job (name, priority DESC, created_on, id) WHERE state < 'active'`;
const PGBOSS_VARIANTS = (args.pgboss?.split(",") ?? ["stock", "indexed"]) as ("stock" | "indexed")[];

async function pgBossPhase(url: string, workers: number, variant: "stock" | "indexed"): Promise<void> {
  const schema = variant === "stock" ? `pgboss_${workers}` : `pgboss_idx_${workers}`;
  const system = variant === "stock" ? "pg-boss 10.4.2" : "pg-boss 10.4.2 + fetch-order index";
  const boss = new PgBoss({ connectionString: url, schema, max: Math.min(workers + 2, 110), supervise: false, schedule: false });
  boss.on("error", (e) => log(`pg-boss: ${e.message}`));
  await boss.start();
  await boss.createQueue("bench");
  for (let i = 0; i < BACKLOG; i += 5000) await boss.insert(Array.from({ length: Math.min(5000, BACKLOG - i) }, () => ({ name: "bench", data: PAYLOAD })));
  if (variant === "indexed") await admin(PGBOSS_FETCH_ORDER_INDEX(schema));
  await analyze(`${schema}.job`);
  const r = await drive(workers, async () => {
    const [job] = await boss.fetch("bench");
    if (!job) return undefined;
    return async () => {
      // index.d.ts types complete() as void; 10.4.2 returns { jobs, requested, affected }
      const { affected } = (await boss.complete("bench", job.id)) as unknown as { affected: number };
      if (affected !== 1) throw new Error(`pg-boss complete: affected ${affected}`);
    };
  });
  await boss.stop({ graceful: false, wait: true });
  results.push({ system, workers, ...r, note: [r.note, variant === "indexed" ? "index per timgit/pg-boss#72" : undefined].filter(Boolean).join("; ") || undefined });
  log(`  ${stamp()} ${system} @${workers}: ${(r.cycles / r.seconds).toFixed(0)} cycles/s`);
}

async function graphilePhase(url: string, workers: number): Promise<void> {
  const schema = `gw_${workers}`;
  const logger = new Logger(() => () => undefined);
  await runMigrations({ connectionString: url, schema, logger });
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (let i = 0; i < BACKLOG; i += 5000) {
    await c.query(`SELECT ${schema}.add_jobs(array_agg(ROW('bench', $1::json, NULL, NULL, NULL, NULL, NULL, NULL)::${schema}.job_spec)) FROM generate_series(1, $2)`, [JSON.stringify(PAYLOAD), Math.min(5000, BACKLOG - i)]);
  }
  await c.end();
  await analyze(`${schema}._private_jobs`);
  let done = 0;
  const runner = await runGraphile({
    connectionString: url, schema, concurrency: workers, maxPoolSize: Math.min(workers + 2, 110), noHandleSignals: true, pollInterval: 100, logger,
    taskList: { bench: async () => undefined },
  });
  runner.events.on("job:success", () => done++);
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (done >= BACKLOG || performance.now() - start >= PHASE_S * 1000) {
        clearInterval(t);
        resolve();
      }
    }, 20);
  });
  const seconds = (performance.now() - start) / 1000;
  const cycles = done;
  await runner.stop();
  results.push({ system: "graphile-worker 0.16.6", workers, cycles, seconds, note: cycles >= BACKLOG ? "backlog drained" : undefined });
  log(`  ${stamp()} graphile-worker @${workers}: ${(cycles / seconds).toFixed(0)} jobs/s`);
}

async function httpPhase(url: string, agents: number, mode: "pair" | "chain"): Promise<void> {
  const store = await openTaskStore(parseDatabaseUrl(url));
  await preload(store);
  await store.close();
  await analyze(`${new URL(url).searchParams.get("schema")}.tasks`);
  const ts = await openTokenStore(url);
  const { token } = await new AgentTokens(ts.store).issue("bench");
  await ts.close();
  const server = await startServer({ DATABASE_URL: url, LOG_LEVEL: "error" });
  try {
    const load = spawnSync(process.execPath, ["--import", "tsx", "bench/queue/load.ts", server.url, token, String(agents), String(PHASE_S), "bench", mode], { cwd: root, encoding: "utf8" });
    if (load.status !== 0) throw new Error(`load: ${load.stderr}`);
    const r = JSON.parse(load.stdout.trim().split("\n").pop() as string) as { cycles: number; seconds: number; p50: number; p99: number; errors: number; exhausted: boolean };
    const system = mode === "pair" ? "task-queue HTTP, claim + complete (PostgreSQL)" : "task-queue HTTP, complete with next claim (PostgreSQL)";
    results.push({ system, workers: agents, cycles: r.cycles, seconds: r.seconds, p50: r.p50, p99: r.p99, note: r.errors ? `${r.errors} errors` : r.exhausted ? "backlog drained" : undefined });
    log(`  ${stamp()} ${system} @${agents}: ${(r.cycles / r.seconds).toFixed(0)} cycles/s`);
  } finally {
    await server.stop();
  }
}

await main();
