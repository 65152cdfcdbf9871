/**
 * One measured trial of the brain benchmark: a fresh database (a SQLite file, or a database on
 * the run's private PostgreSQL) seeded with the learners, the modelled peers, the brain started
 * through its normal entry point as the image runs it (`node --import tsx <catalog localEntry>`,
 * NODE_ENV=production, configured by env only, in its own process group), a load process offering signed webhooks open-loop at a
 * rate for warm-up + window, and the CPU of the brain's whole process tree and of the
 * PostgreSQL server's tree read from /proc at the window's start and end. The floor trial runs
 * bench/brain/floor.ts the same way. Every process started here is stopped by its own pid (or
 * its own process group) when the trial ends, also on error; `cleanups` lets Ctrl-C do the same.
 * Over 300 lines: a trial's setup, measurement and teardown stay in one file so that every process
 * it starts is stopped in one place.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import pg from "pg";
import { openPgPool, openSqlite, parseDatabaseUrl } from "@tierstack/common";
import { freePort, type PrivatePostgres } from "@tierstack/common/testing";
import { services } from "../../catalog/services.js";
import { openBrainStore } from "../../services/brain/src/store/index.js";
import { quantile } from "./latency.js";
import { startCloudApiPeer, startLlmPeer, type LatencySpec } from "./peers.js";
import { backendClients, byLabel, listeners, snapshot, threadDelta, threads, type ProcCpu, type TreeSnapshot } from "./proc.js";

export const SECRET = "bench-app-secret";
const ACCESS_TOKEN = "bench-access-token";

/** Run at exit, on error and on Ctrl-C: stops whatever is still running. */
export const cleanups = new Set<() => Promise<void> | void>();

export interface TrialOptions {
  kind: "sqlite" | "postgres";
  rate: number;
  warmS: number;
  windowS: number;
  /** How long the load waits for acks still outstanding when the offer ends. */
  ackWaitS: number;
  /** A second of the window counts as slow when its own p99 ack is at least this (the ack goal). */
  slowSecondMs: number;
  learners: number;
  seed: number;
  llm: LatencySpec;
  cloud: LatencySpec;
  rate429: number;
  rate5xx: number;
  retryAfterS: number;
  /** Env keys → values that size the brain's concurrency. */
  concurrencyEnv: Record<string, string>;
  pg?: PrivatePostgres;
  runId: string;
  /** Run the brain under `node --cpu-prof` writing here (forked node children inherit it). */
  profileDir?: string;
  /** PostgreSQL only: the server loads pg_stat_statements; read the statements' cost over the window. */
  pgStats?: boolean;
}

/** One statement's cost over the window, from pg_stat_statements (cluster-wide: the trial's database is the only busy one). */
export interface StatementCost { query: string; calls: number; totalMs: number; meanMs: number; plans: number; planMs: number; rows: number; sharedHit: number; sharedRead: number }

interface LoadResult { start: number; end: number; measureFrom: number; sent: number; sentInWindow: number; acked: number; ackedInWindow: number; non200: number; errors: number; unacked: number; ackP50: number; ackP99: number; ackMax: number; lagP99: number; ackSeconds: number; ackSlowSeconds: number; ackWorstSecondP99: number }

export interface TrialResult {
  rate: number;
  offered: number; // messages offered (sent) in the window, per s
  inbound: number; // of those, acknowledged with 200 (whenever the ack came), per s
  replies: number; // first accepted sends in the window, per s
  ratio: number; // replies ÷ offered over the window
  secondHalfRatio: number;
  maxBacklog: number;
  endBacklog: number;
  ackP50: number;
  ackP99: number;
  /** Seconds of the window whose own p99 ack was ≥ slowSecondMs, of how many, and the worst second's p99. */
  ackSlowSeconds: number;
  ackSeconds: number;
  ackWorstSecondP99: number;
  lagP99: number;
  replyP50: number;
  replyP99: number;
  non200: number;
  duplicates: number;
  other: number;
  rejected429: number;
  rejected5xx: number;
  llmMaxInFlight: number;
  cpuMs: number; // counted trees (brain or floor, plus PostgreSQL), over the window
  perUnit: number; // cpuMs per reply (brain) or per acked message (floor)
  breakdown: Map<string, number>;
  /** The brain's (or floor's) node processes per thread name (threads alive at the window's end). */
  threadBreakdown: Map<string, number>;
  notCounted: Map<string, number>;
  brainBacklogGauge?: number;
  statements?: StatementCost[];
}

/** Reset pg_stat_statements now; the returned function reads the top statements since, by total execution time. */
async function statementWindow(pgServer: PrivatePostgres): Promise<() => Promise<StatementCost[]>> {
  const c = new pg.Client({ connectionString: pgServer.url });
  await c.connect();
  await c.query("SELECT pg_stat_statements_reset()");
  return async () => {
    try {
      const r = await c.query(`SELECT query, calls::int, total_exec_time AS total, mean_exec_time AS mean, plans::bigint AS plans, total_plan_time AS plan_ms, rows::bigint AS rows, shared_blks_hit::bigint AS hit, shared_blks_read::bigint AS read
        FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 12`);
      return r.rows.map((x: Record<string, unknown>) => ({ query: String(x.query).replace(/\s+/g, " "), calls: Number(x.calls), totalMs: Number(x.total), meanMs: Number(x.mean), plans: Number(x.plans), planMs: Number(x.plan_ms), rows: Number(x.rows), sharedHit: Number(x.hit), sharedRead: Number(x.read) }));
    } finally {
      await c.end();
    }
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dbSeq = 0;
async function database(kind: "sqlite" | "postgres", pgServer: PrivatePostgres | undefined): Promise<{ url: string; drop(): Promise<void> }> {
  if (kind === "postgres") {
    if (!pgServer) throw new Error("no private PostgreSQL");
    const name = `bench_${process.pid}_${++dbSeq}`;
    const admin = new pg.Client({ connectionString: pgServer.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return {
      url: pgServer.url.replace(/\/postgres$/, `/${name}`),
      drop: async () => {
        const c = new pg.Client({ connectionString: pgServer.url });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "bench-brain-"));
  return { url: `sqlite:${join(dir, "db.sqlite")}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** Learners who signed up (so the run exercises lookups and window updates, not only first contacts). */
async function seed(url: string, learners: number): Promise<void> {
  const store = await openBrainStore(url); // migrates
  await store.close();
  const target = parseDatabaseUrl(url);
  const now = Date.now();
  if (target.kind === "sqlite") {
    const db = openSqlite(target.path);
    const ins = db.prepare("INSERT INTO learners (id, phone, consent_at, consent_source, created_at) VALUES (?, ?, ?, 'signup', ?)");
    db.transaction(() => {
      for (let i = 0; i < learners; i++) ins.run(`seed-${i}`, `4470${String(i).padStart(8, "0")}`, now, now);
    })();
    db.close();
  } else {
    const pool = openPgPool(target);
    await pool.query(
      "INSERT INTO learners (id, phone, consent_at, consent_source, created_at) SELECT 'seed-' || g, '4470' || lpad(g::text, 8, '0'), $1, 'signup', $1 FROM generate_series(0, $2::int - 1) g",
      [now, learners],
    );
    await pool.query("ANALYZE");
    await pool.end();
  }
}

/** Start a process in its own group; the returned stop() signals only that pid, then that group. */
function start(args: string[], env: NodeJS.ProcessEnv, stdout: "inherit" | "pipe" = "inherit"): { child: ChildProcess; stop(): Promise<void> } {
  const child = spawn(process.execPath, args, { env, detached: true, stdio: ["ignore", stdout, "inherit"] });
  const pid = child.pid!;
  const killGroup = () => {
    try { process.kill(-pid, "SIGKILL"); } catch { /* group gone */ }
  };
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    cleanups.delete(stop);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(t);
    }
    killGroup(); // anything the process left behind in its group
  })());
  cleanups.add(stop);
  return { child, stop };
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const end = Date.now() + 90_000;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before ready`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`${url} not ready in 90 s`);
}

const postmasterPid = (p: PrivatePostgres) => Number(readFileSync(join(p.dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);

/** Labels: the brain's processes by role, PostgreSQL's by title, backends by the client at the other end. */
function labeller(kind: "brain" | "floor", root: number, httpPort: number, end: TreeSnapshot, pgPort: number | undefined): (p: ProcCpu) => string {
  const pids = [...end.procs.keys()];
  const nodes = [...end.procs.values()].filter((p) => !p.cmd.startsWith("postgres") && !p.cmd.includes("/postgresql/") && !p.cmd.includes("esbuild"));
  const listening = listeners(nodes.map((p) => p.pid), httpPort);
  const nodeLabel = (pid: number) =>
    kind === "floor" ? "floor peer"
    : nodes.length === 1 ? "brain: one process (ingest + workers)"
    : listening.has(pid) ? `brain: ingest (listens on the webhook port)${pid === root ? ", parent" : ""}`
    : `brain: worker process${pid === root ? " (parent)" : ""}`;
  const backends = [...end.procs.values()].filter((p) => /^postgres: \S+ \S+ 127\.0\.0\.1\(\d+\)/.test(p.cmd)).map((p) => p.pid);
  const clientOf = pgPort ? backendClients(backends, pgPort, nodes.map((p) => p.pid)) : new Map<number, number>();
  return (p) => {
    if (p.cmd.includes("esbuild")) return `${kind}: esbuild (tsx's compiler)`;
    if (/^postgres: \S+ \S+ 127\.0\.0\.1\(\d+\)/.test(p.cmd)) {
      const c = clientOf.get(p.pid);
      return c !== undefined ? `PostgreSQL backends of ${nodeLabel(c)}` : "PostgreSQL backends (other / exited)";
    }
    if (p.cmd.startsWith("postgres: ")) return `PostgreSQL ${p.cmd.slice("postgres: ".length).trim().replace(/^(autovacuum worker).*/, "$1")}`;
    if (p.cmd.includes("/postgresql/") || p.cmd.includes("postgres -D")) return "PostgreSQL postmaster";
    return pids.includes(p.pid) ? nodeLabel(p.pid) : `${kind}: exited process`;
  };
}

/** One trial: `mode` brain (replies counted at the Cloud API peer) or floor (acked messages). */
export async function runTrial(mode: "brain" | "floor", o: TrialOptions): Promise<TrialResult> {
  const began = Date.now();
  const phase = (what: string) => process.stderr.write(`    ${o.runId}: ${what} at +${((Date.now() - began) / 1000).toFixed(1)} s\n`);
  const stops: (() => Promise<void>)[] = [];
  const cloud = await startCloudApiPeer({ latency: o.cloud, seed: o.seed + 2, rate429: o.rate429, rate5xx: o.rate5xx, retryAfterS: o.retryAfterS, accessToken: ACCESS_TOKEN });
  const llm = await startLlmPeer(o.llm, o.seed + 1);
  const closePeers = async () => void (await Promise.all([cloud.close(), llm.close()]));
  cleanups.add(closePeers);
  const db = await database(o.kind, o.pg);
  const dropDb = async () => db.drop();
  cleanups.add(dropDb);
  try {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let proc: ReturnType<typeof start>;
    if (mode === "brain") {
      await seed(db.url, o.learners);
      const prof = o.profileDir ? ["--cpu-prof", "--cpu-prof-dir", o.profileDir] : [];
      // as the image runs it (services/Dockerfile: node --import tsx <entry>, NODE_ENV=production)
      proc = start([...prof, "--import", "tsx", services.brain.localEntry], {
        ...process.env, NODE_ENV: "production",
        PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", DATABASE_URL: db.url,
        WHATSAPP_APP_SECRET: SECRET, WHATSAPP_VERIFY_TOKEN: "bench", WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID: "1098765432",
        WHATSAPP_API_BASE: cloud.url, WHATSAPP_SEND_RATE: "10000", LLM_BASE_URL: llm.url, STRIPE_SECRET_KEY: "sk_test_bench", STRIPE_WEBHOOK_SECRET: "whsec_bench",
        BRAIN_ADMIN_TOKEN: "bench-admin-token-0123456789", ...o.concurrencyEnv,
      });
    } else {
      proc = start(["--import", "tsx", "bench/brain/floor.ts"], { ...process.env, PORT: String(port), DATABASE_URL: db.url, WHATSAPP_APP_SECRET: SECRET });
    }
    stops.push(proc.stop);
    await waitReady(url, proc.child);
    phase(`${mode} ready`);
    const pgRoot = o.kind === "postgres" && o.pg ? postmasterPid(o.pg) : undefined; // a SQLite trial counts no database server
    const roots = [proc.child.pid!, ...(pgRoot ? [pgRoot] : [])];

    const load = start(["--import", "tsx", "bench/brain/load.ts", JSON.stringify({
      url: `${url}/webhooks/whatsapp`, secret: SECRET, rate: o.rate, durationMs: (o.warmS + o.windowS) * 1000, warmMs: o.warmS * 1000, ackWaitMs: o.ackWaitS * 1000, learners: o.learners, runId: o.runId, seed: o.seed + 3, slowSecondMs: o.slowSecondMs,
    })], process.env, "pipe");
    stops.push(load.stop);
    const samples: { t: number; sent: number; backlog: number }[] = [];
    let result: LoadResult | undefined;
    let started: (v: { started: number; measureFrom: number }) => void = () => undefined;
    const startedP = new Promise<{ started: number; measureFrom: number }>((r) => (started = r));
    const lines = createInterface({ input: load.child.stdout! });
    lines.on("line", (line) => {
      const j = JSON.parse(line) as { progress?: boolean; started?: number; t: number } & LoadResult;
      if (j.started !== undefined) started({ started: j.started, measureFrom: j.measureFrom });
      else if (j.progress) samples.push({ t: j.t, sent: j.sent, backlog: j.sent - cloud.perKey.size });
      else result = j;
    });
    const exited = new Promise<number | null>((r) => load.child.once("exit", (code) => r(code)));
    const { measureFrom } = await Promise.race([startedP, exited.then(() => { throw new Error("load exited before starting"); })]);
    const windowEnd = measureFrom + o.windowS * 1000;
    const isNode = (p: ProcCpu) => !p.cmd.startsWith("postgres") && !p.cmd.includes("/postgresql/") && !p.cmd.includes("esbuild");
    const cpuAt = async (t: number) => {
      await sleep(Math.max(0, t - (performance.timeOrigin + performance.now())));
      const u = process.cpuUsage();
      const snap = snapshot(roots);
      const thr = new Map([...snap.procs.values()].filter(isNode).map((p) => [p.pid, threads(p.pid)]));
      return { snap, thr, bench: (u.user + u.system) / 1000, loadSnap: snapshot([load.child.pid!]) };
    };
    const a = await cpuAt(measureFrom);
    const readStatements = o.pgStats && o.kind === "postgres" && o.pg ? await statementWindow(o.pg) : undefined;
    const b = await cpuAt(windowEnd);
    const statements = await readStatements?.();
    const label = labeller(mode, proc.child.pid!, port, b.snap, o.pg?.port);
    const threadBreakdown = new Map<string, number>();
    for (const [pid, tb] of b.thr) {
      const p = b.snap.procs.get(pid)!;
      for (const [name, ms] of threadDelta(a.thr.get(pid) ?? new Map(), tb)) threadBreakdown.set(`${label(p)}: ${name}`, (threadBreakdown.get(`${label(p)}: ${name}`) ?? 0) + ms);
    }
    let brainBacklogGauge: number | undefined;
    if (mode === "brain") {
      try {
        const m = /^brain_inbox_backlog(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text());
        if (m) brainBacklogGauge = Number(m[1]);
      } catch { /* not served */ }
    }
    phase("window over");
    const code = await exited;
    phase("load done");
    if (code !== 0 || !result) throw new Error(`load exited ${code}`);
    const res: LoadResult = result;
    if (cloud.other) phase(`${cloud.other} accepted sends answered no load message, e.g. ${cloud.samples.join(" | ")}`);
    const cpuMs = b.snap.totalMs - a.snap.totalMs;
    const first = cloud.accepted.filter((x) => x.first && x.at >= measureFrom && x.at <= windowEnd);
    const windowS = (windowEnd - measureFrom) / 1000;
    const mid = measureFrom + (windowEnd - measureFrom) / 2;
    const secondIn = (o.rate * (windowEnd - mid)) / 1000;
    const secondOut = first.filter((x) => x.at >= mid).length;
    const inWindow = samples.filter((s) => s.t >= measureFrom && s.t <= windowEnd);
    const units = mode === "brain" ? first.length : res.ackedInWindow;
    const replyLat = first.map((x) => x.at - x.intended).filter(Number.isFinite).sort((x, y) => x - y);
    const notCounted = new Map<string, number>([
      ["bench process (modelled LLM + Cloud API peers)", b.bench - a.bench],
      ["load generator", b.loadSnap.totalMs - a.loadSnap.totalMs],
    ]);
    return {
      rate: o.rate, offered: res.sentInWindow / windowS, inbound: res.ackedInWindow / windowS, replies: first.length / windowS, ratio: first.length / Math.max(1, res.sentInWindow),
      secondHalfRatio: secondOut / Math.max(1, secondIn),
      maxBacklog: Math.max(0, ...inWindow.map((s) => s.backlog)), endBacklog: inWindow.at(-1)?.backlog ?? NaN,
      ackP50: res.ackP50, ackP99: res.ackP99, ackSlowSeconds: res.ackSlowSeconds, ackSeconds: res.ackSeconds, ackWorstSecondP99: res.ackWorstSecondP99, lagP99: res.lagP99, replyP50: quantile(replyLat, 0.5), replyP99: quantile(replyLat, 0.99),
      non200: res.non200 + res.errors + res.unacked, duplicates: cloud.duplicates, other: cloud.other, rejected429: cloud.rejected429, rejected5xx: cloud.rejected5xx,
      llmMaxInFlight: llm.maxInFlight, cpuMs, perUnit: units > 0 ? cpuMs / units : NaN, breakdown: byLabel(a.snap, b.snap, label), threadBreakdown, notCounted, brainBacklogGauge, ...(statements ? { statements } : {}),
    };
  } finally {
    for (const s of stops.reverse()) await s();
    phase("stopped");
    await closePeers();
    cleanups.delete(closePeers);
    await dropDb().catch((err: unknown) => console.error(`dropping the trial database: ${String(err)}`));
    cleanups.delete(dropDb);
  }
}

/** CPU-ms per message over several floor trials: their CPU ÷ their messages (a trial with no message adds nothing). */
export function pooledFloor(floors: readonly Pick<TrialResult, "cpuMs" | "perUnit">[]): number {
  let cpu = 0;
  let messages = 0;
  for (const t of floors) {
    if (!(t.perUnit > 0)) continue;
    cpu += t.cpuMs;
    messages += t.cpuMs / t.perUnit;
  }
  return messages > 0 ? cpu / messages : NaN;
}
