/**
 * Brain benchmark (issue 14): the brain at 16,000 learners against modelled peers — an LLM that
 * answers after a seeded lognormal wait (median 1.5 s, p99 6 s by default) and a Cloud API that
 * answers after a short one with occasional 429 (Retry-After) and 503 the brain must retry —
 * offered signed webhooks open-loop from a separate load process. Per store (SQLite, and
 * PostgreSQL on a private server started here with fsync and synchronous_commit on):
 *   1. sustained: --rate msg/s (1,000) for --warmup s, then a --duration s window (60): acks,
 *      replies ÷ inbound, backlog, and the CPU of the brain's whole process tree plus the
 *      database server's tree over the window, per reply;
 *   2. floor: bench/brain/floor.ts (HMAC + one durable INSERT per message) at the same rate on the
 *      same database server, just before and just after the sustained trial, its CPU per message
 *      the same way, the two pooled — the cost ratio's denominator;
 *   3. a short step search (--steps trials) for the highest offered rate that holds replies ÷
 *      inbound ≥ 0.95 over the trial and over its second half (the backlog not still growing).
 * The brain's concurrency is sized per trial for the modelled wait: in flight ≈ rate × mean
 * service time × --headroom, through whichever concurrency keys services/brain/src/config.ts reads
 * (read at start), capped at the maximum the config accepts.
 * --profile runs the sustained trial's brain under `node --cpu-prof` (bench/.out/) and prints its top frames.
 * Usage: see `usage` below; --quick is a ~2 min development run.
 */
import { spawnSync } from "node:child_process";
import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { cpus, loadavg, tmpdir } from "node:os";
import pg from "pg";
import { startPrivatePostgres, type PrivatePostgres } from "@tierstack/common/testing";
import { exitOnUsageError, intOption, parseCommandArgs, UsageError } from "../../cli/args.js";
import { topFunctions } from "./cpuprofile.js";
import { describe, meanMs, type LatencyKind, type LatencySpec } from "./peers.js";
import { cleanups, pooledFloor, runTrial, type TrialOptions, type TrialResult } from "./trial.js";
import { preallocateWal, walSettings } from "./wal.js";

const usage = "npx tsx bench/brain/run.ts [--quick] [--db sqlite|postgres|both] [--rate 1000] [--warmup S] [--duration S] [--floor-duration S] [--steps N] [--step-duration S] [--learners 16000] [--in-flight N] [--headroom 1.5] [--llm lognormal|fixed] [--llm-median-ms 1500] [--llm-p99-ms 6000] [--cloud-median-ms 40] [--cloud-p99-ms 200] [--cloud-429 0.02] [--cloud-5xx 0.01] [--retry-after-s 1] [--seed 1] [--profile] [--pg-stats]";
const cmd = "bench/brain";
const { values: args } = exitOnUsageError(() => parseCommandArgs(cmd, usage, process.argv.slice(2), {
  quick: { type: "boolean" }, db: { type: "string" }, rate: { type: "string" }, warmup: { type: "string" }, duration: { type: "string" }, "floor-duration": { type: "string" },
  steps: { type: "string" }, "step-duration": { type: "string" }, learners: { type: "string" }, "in-flight": { type: "string" }, headroom: { type: "string" },
  llm: { type: "string" }, "llm-median-ms": { type: "string" }, "llm-p99-ms": { type: "string" }, "cloud-median-ms": { type: "string" }, "cloud-p99-ms": { type: "string" },
  "cloud-429": { type: "string" }, "cloud-5xx": { type: "string" }, "retry-after-s": { type: "string" }, seed: { type: "string" }, profile: { type: "boolean" }, "pg-stats": { type: "boolean" },
}));
type Key = keyof typeof args;
const quick = args.quick === true;
const int = (name: Key, d: number, min = 1) => exitOnUsageError(() => intOption(cmd, name, args[name] as string | undefined, d, min));
const num = (name: Key, d: number, max = Infinity) => exitOnUsageError(() => {
  const v = args[name] as string | undefined;
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > max) throw new UsageError(`${cmd}: --${name}=${JSON.stringify(v)}: expected a number from 0 to ${max}; usage: ${usage}`);
  return n;
});
const rate = int("rate", 1000);
const warmS = int("warmup", quick ? 3 : 10);
const durationS = int("duration", quick ? 8 : 60);
const floorS = int("floor-duration", quick ? 4 : 20);
const maxSteps = int("steps", quick ? 1 : 3, 0);
const stepS = int("step-duration", quick ? 6 : 20);
const stepWarmS = quick ? 3 : 8;
const learners = int("learners", 16000);
const headroom = num("headroom", 1.5, 100);
const seed = int("seed", 1, 0);
const dbChoice = args.db ?? "both";
const llmKind = (args.llm ?? "lognormal") as LatencyKind;
exitOnUsageError(() => {
  if (!["sqlite", "postgres", "both"].includes(dbChoice)) throw new UsageError(`${cmd}: --db=${dbChoice}: expected sqlite, postgres or both; usage: ${usage}`);
  if (!["lognormal", "fixed"].includes(llmKind)) throw new UsageError(`${cmd}: --llm=${llmKind}: expected lognormal or fixed; usage: ${usage}`);
});
const llm: LatencySpec = { kind: llmKind, medianMs: int("llm-median-ms", 1500, 0), p99Ms: int("llm-p99-ms", 6000, 0) };
const cloud: LatencySpec = { kind: "lognormal", medianMs: int("cloud-median-ms", 40, 0), p99Ms: int("cloud-p99-ms", 200, 0) };
const rate429 = num("cloud-429", 0.02, 1);
const rate5xx = num("cloud-5xx", 0.01, 1);
const retryAfterS = int("retry-after-s", 1, 0);
const HOLD = 0.95;
/** The p99 ack goal, ms: the run's and each second's. */
const ACK_GOAL_MS = 50;
const profile = args.profile === true;
const pgStats = args["pg-stats"] === true;
/** 1 GB of WAL ahead: a trial writes ~0.3 GB at 1,000 msg/s, and dropping its database at its end checkpoints, recycling what it used. */
const WAL_SEGMENTS = 64;
const profileDir = (kind: string) => join(process.cwd(), "bench", ".out", `brain-${kind}`);

/** The brain's concurrency keys as config.ts reads them when the run starts (another change may add or rename one). */
let keysAtStart: { name: string; max: number }[] | undefined;
function concurrencyKeys(): { name: string; max: number }[] {
  if (keysAtStart) return keysAtStart;
  const text = readFileSync("services/brain/src/config.ts", "utf8");
  const out: { name: string; max: number }[] = [];
  for (const m of text.matchAll(/r\.int\(\s*"(BRAIN_[A-Z_]+)",\s*\{([^}]*)\}/g)) {
    if (!/_(IN_FLIGHT|WORKERS|CONCURRENCY)$/.test(m[1]!)) continue; // a concurrency, not e.g. BRAIN_WORKERS_NICE
    const max = /max:\s*([\d_]+)/.exec(m[2]!)?.[1];
    out.push({ name: m[1]!, max: max ? Number(max.replace(/_/g, "")) : Infinity });
  }
  if (!out.length) throw new Error("services/brain/src/config.ts reads no BRAIN_*WORKERS / *IN_FLIGHT / *CONCURRENCY key: cannot size the brain");
  keysAtStart = out;
  return out;
}

/** Mean time a message holds a unit of concurrency: LLM + send (+ the retries' waits). */
const serviceMs = meanMs(llm) + meanMs(cloud) * (1 + rate429 + rate5xx) + rate429 * retryAfterS * 1000 + rate5xx * 100;

function sizing(r: number): { env: Record<string, string>; inFlight: number; wanted: number; text: string } {
  const wanted = args["in-flight"] !== undefined ? int("in-flight", 1) : Math.ceil((r * serviceMs * headroom) / 1000);
  const keys = concurrencyKeys();
  const env: Record<string, string> = {};
  for (const k of keys) env[k.name] = String(Math.min(wanted, k.max));
  const inFlight = Math.min(...keys.map((k) => Math.min(wanted, k.max)));
  const text = keys.map((k) => `${k.name}=${env[k.name]}${wanted > k.max ? ` (capped at the config's max ${k.max}: at most ~${Math.floor((k.max * 1000) / serviceMs)} replies/s by construction)` : ""}`).join(", ");
  return { env, inFlight, wanted, text };
}

const logLine = (scope: string, s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${scope}: ${s}\n`);

const held = (t: TrialResult) => t.ratio >= HOLD && t.secondHalfRatio >= HOLD && t.non200 === 0;

/**
 * The floor runs twice, just before the brain's sustained trial and just after it, and the ratio
 * divides by the two pooled: the same floor code's CPU per message moved by up to 60% between runs
 * in one afternoon (with its durable commits' speed), and one run after the brain alone
 * would also meet whatever the brain's trial left the disk and caches doing.
 */
interface StoreResult { kind: "sqlite" | "postgres"; sustained: TrialResult; inFlight: number; floors: [before: TrialResult, after: TrialResult]; steps: (TrialResult & { inFlight: number })[]; highest: number }

async function benchStore(kind: "sqlite" | "postgres", pgServer: PrivatePostgres | undefined): Promise<StoreResult> {
  const base = (r: number, w: number, d: number, id: string): TrialOptions => ({
    kind, rate: r, warmS: w, windowS: d, ackWaitS: quick ? 5 : 30, slowSecondMs: ACK_GOAL_MS, learners, seed, llm, cloud, rate429, rate5xx, retryAfterS, concurrencyEnv: sizing(r).env, pg: pgServer, runId: `${kind}${id}`, pgStats,
  });
  const log = (s: string) => logLine(kind, s);
  const floorTrial = async (id: string, when: string) => {
    log(`floor peer ${rate} msg/s, ${floorS} s window (${when} the brain)`);
    const t = await runTrial("floor", { ...base(rate, Math.min(warmS, 5), floorS, id), concurrencyEnv: {} });
    log(`  ${t.perUnit.toFixed(2)} CPU-ms per message`);
    return t;
  };
  const floorBefore = await floorTrial("fb", "before");
  log(`sustained ${rate} msg/s, ${warmS} s warm-up + ${durationS} s window; ${sizing(rate).text}`);
  if (profile) rmSync(profileDir(kind), { recursive: true, force: true });
  const sustained = await runTrial("brain", { ...base(rate, warmS, durationS, "s"), ...(profile ? { profileDir: profileDir(kind) } : {}) });
  log(`  replies ÷ inbound ${sustained.ratio.toFixed(3)}, p99 ack ${sustained.ackP99.toFixed(1)} ms, ${sustained.perUnit.toFixed(2)} CPU-ms per reply`);
  const floorAfter = await floorTrial("f", "after");
  const steps: StoreResult["steps"] = [];
  let lo = held(sustained) ? rate : 0;
  let hi = held(sustained) ? Infinity : rate;
  for (let i = 0; i < maxSteps; i++) {
    const next = Math.round((hi === Infinity ? lo * 1.5 : lo === 0 ? hi / 2 : (lo + hi) / 2) / 25) * 25;
    if (next <= lo || next >= hi || next < 25) break;
    log(`step ${i + 1}: ${next} msg/s, ${stepWarmS} s + ${stepS} s; ${sizing(next).text}`);
    const t = await runTrial("brain", base(next, stepWarmS, stepS, `step${i}`));
    steps.push({ ...t, inFlight: sizing(next).inFlight });
    log(`  replies ÷ inbound ${t.ratio.toFixed(3)} (second half ${t.secondHalfRatio.toFixed(3)}): ${held(t) ? "holds" : "does not hold"}`);
    if (held(t)) lo = next;
    else hi = next;
  }
  return { kind, sustained, inFlight: sizing(rate).inFlight, floors: [floorBefore, floorAfter], steps, highest: lo };
}

const f = (x: number | undefined, d = 0) => (x !== undefined && Number.isFinite(x) ? x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }) : "n/a");
const met = (ok: boolean) => (ok ? "met" : "**not met**");

function report(results: StoreResult[], header: string[]): string {
  const out: string[] = [...header, ""];
  out.push(`| store | brain CPU-ms per reply (brain + database) ÷ floor CPU-ms per message — goal ≤ 3 (binding) | p99 ack at ${f(rate)} msg/s offered — goal < ${ACK_GOAL_MS} ms | replies ÷ inbound over ${durationS} s at ${f(rate)} msg/s — ≥ ${HOLD} | highest offered rate holding ≥ ${HOLD} with a bounded backlog (short step search) |`);
  out.push("|---|---|---|---|---|");
  for (const r of results) {
    const floor = pooledFloor(r.floors);
    const ratio = r.sustained.perUnit / floor;
    const tried = [rate, ...r.steps.map((s) => s.rate)].map((x, i) => `${f(x)} ${(i === 0 ? held(r.sustained) : held(r.steps[i - 1]!)) ? "✓" : "✗"}`).join(", ");
    const highest = r.highest === 0 ? `< ${f(Math.min(rate, ...r.steps.map((s) => s.rate)))} msg/s` : `${f(r.highest)} msg/s`;
    out.push(`| ${r.kind} | ${f(ratio, 2)} (${f(r.sustained.perUnit, 2)} ÷ ${f(floor, 2)}) — ${met(ratio <= 3)} | ${f(r.sustained.ackP99, 1)} ms — ${met(r.sustained.ackP99 < ACK_GOAL_MS)} | ${f(r.sustained.ratio, 3)} — ${met(r.sustained.ratio >= HOLD)} | ${highest} (tried ${tried}) |`);
  }
  out.push("", `Sustained trial (${warmS} s warm-up, then the ${durationS} s window; replies ÷ inbound = first accepted sends in the window ÷ messages offered in it; backlog = offered − answered, sampled each second; "2nd half" = replies ÷ inbound over the window's second half; slow seconds = seconds of intended send time whose own p99 ack was ≥ ${ACK_GOAL_MS} ms, and the worst second's p99: a few stalls or every second slow):`, "");
  out.push("| store | in flight | offered msg/s | acked msg/s | replies/s | replies ÷ inbound | 2nd half | max backlog | backlog at end | brain's backlog gauge | p50 / p99 ack ms | slow seconds (worst second's p99 ms) | load lag p99 ms | p50 / p99 reply s | LLM max in flight | 429 / 503 answered | duplicate sends | non-200, errors or unacked |");
  out.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const s = r.sustained;
    out.push(`| ${r.kind} | ${f(r.inFlight)} | ${f(s.offered)} | ${f(s.inbound)} | ${f(s.replies)} | ${f(s.ratio, 3)} | ${f(s.secondHalfRatio, 3)} | ${f(s.maxBacklog)} | ${f(s.endBacklog)} | ${f(s.brainBacklogGauge)} | ${f(s.ackP50, 1)} / ${f(s.ackP99, 1)} | ${f(s.ackSlowSeconds)} of ${f(s.ackSeconds)} (${f(s.ackWorstSecondP99, 1)}) | ${f(s.lagP99, 1)} | ${f(s.replyP50 / 1000, 2)} / ${f(s.replyP99 / 1000, 2)} | ${f(s.llmMaxInFlight)} | ${f(s.rejected429)} / ${f(s.rejected5xx)} | ${f(s.duplicates)} | ${f(s.non200)} |`);
  }
  out.push("", `Cost over the window (CPU from /proc: utime + stime of every process in the tree, plus cutime + cstime of children that exited):`, "");
  out.push("| store | brain + database CPU-ms | replies | CPU-ms per reply | floor + database CPU-ms (before + after the brain) | floor messages | floor CPU-ms per message: before / after / pooled | floor p99 ack ms: before / after |");
  out.push("|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const [a, b] = r.floors;
    out.push(`| ${r.kind} | ${f(r.sustained.cpuMs)} | ${f(r.sustained.replies * durationS)} | ${f(r.sustained.perUnit, 2)} | ${f(a.cpuMs + b.cpuMs)} | ${f((a.inbound + b.inbound) * floorS)} | ${f(a.perUnit, 2)} / ${f(b.perUnit, 2)} / ${f(pooledFloor(r.floors), 2)} | ${f(a.ackP99, 1)} / ${f(b.ackP99, 1)} |`);
  }
  if (results.some((r) => r.steps.length)) {
    out.push("", `Step search (${stepWarmS} s warm-up + ${stepS} s window each, a fresh database and brain per trial; holds = ≥ ${HOLD} over the trial and its second half, no non-200):`, "");
    out.push("| store | offered msg/s | in flight | acked msg/s | replies/s | replies ÷ inbound | 2nd half | max backlog | p99 ack ms | CPU-ms per reply | holds |");
    out.push("|---|---|---|---|---|---|---|---|---|---|---|");
    for (const r of results) for (const s of r.steps) out.push(`| ${r.kind} | ${f(s.rate)} | ${f(s.inFlight)} | ${f(s.inbound)} | ${f(s.replies)} | ${f(s.ratio, 3)} | ${f(s.secondHalfRatio, 3)} | ${f(s.maxBacklog)} | ${f(s.ackP99, 1)} | ${f(s.perUnit, 2)} | ${held(s) ? "yes" : "no"} |`);
  }
  for (const r of results) {
    const replies = r.sustained.replies * durationS; // 0 ⇒ per reply is n/a
    out.push("", `Where the CPU goes, ${r.kind}, sustained window (CPU-ms per reply; not counted: the peers and the load generator):`, "");
    out.push("| process | CPU-ms in the window | CPU-ms per reply | share of counted |", "|---|---|---|---|");
    const rows = [...r.sustained.breakdown.entries()].filter(([, ms]) => Math.abs(ms) >= 1).sort((a, b) => b[1] - a[1]);
    for (const [k, ms] of rows) out.push(`| ${k} | ${f(ms)} | ${f(ms / replies, 3)} | ${f((100 * ms) / Math.max(1, r.sustained.cpuMs), 1)}% |`);
    for (const [k, ms] of r.sustained.notCounted) out.push(`| (not counted) ${k} | ${f(ms)} | ${f(ms / replies, 3)} | — |`);
    const st = r.sustained.statements;
    if (st?.length) {
      out.push("", `PostgreSQL statements over the sustained window (--pg-stats; pg_stat_statements, by total execution time; server time, not the backends' whole CPU; plans = times planned, a call on a cached generic plan plans nothing):`, "");
      out.push("| statement | calls | calls per reply | total ms | mean ms | plans | plan ms | rows | buffer hits per call |", "|---|---|---|---|---|---|---|---|---|");
      for (const x of st) out.push(`| \`${x.query.slice(0, 110).replace(/\|/g, "\\|")}${x.query.length > 110 ? "…" : ""}\` | ${f(x.calls)} | ${f(x.calls / Math.max(1, replies), 2)} | ${f(x.totalMs)} | ${f(x.meanMs, 3)} | ${f(x.plans)} | ${f(x.planMs)} | ${f(x.rows)} | ${f((x.sharedHit + x.sharedRead) / Math.max(1, x.calls), 1)} |`);
    }
    const thr = [...r.sustained.threadBreakdown.entries()].filter(([, ms]) => ms >= 1).sort((x, y) => y[1] - x[1]);
    if (thr.length) {
      out.push("", `The brain's node processes by thread (${r.kind}; threads alive at the window's end; libuv's pool does file and crypto work, V8's workers GC and compilation):`, "");
      out.push("| process: thread | CPU-ms in the window | CPU-ms per reply |", "|---|---|---|");
      for (const [k, ms] of thr) out.push(`| ${k} | ${f(ms)} | ${f(ms / replies, 3)} |`);
    }
  }
  return out.join("\n");
}

/** fsync latency where the SQLite files live (the temp dir): a durable commit's floor on this disk. */
function fsyncProbe(): string {
  const dir = mkdtempSync(join(tmpdir(), "bench-brain-fsync-"));
  try {
    const fd = openSync(join(dir, "probe"), "w");
    const xs: number[] = [];
    for (let i = 0; i < 100; i++) {
      writeSync(fd, "x".repeat(100));
      const t = performance.now();
      fsyncSync(fd);
      xs.push(performance.now() - t);
    }
    closeSync(fd);
    xs.sort((a, b) => a - b);
    return `fsync of a 100-byte append in the temp dir: p50 ${xs[50]!.toFixed(2)} ms, p99 ${xs[99]!.toFixed(2)} ms (one commit at a time: at most ~${Math.floor(1000 / xs[50]!)} commits/s)`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runCleanups(): Promise<void> {
  for (const c of [...cleanups].reverse()) {
    cleanups.delete(c);
    await Promise.resolve().then(c).catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
  }
}

async function main(): Promise<void> {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping every process this benchmark started\n`);
      void runCleanups().finally(() => process.exit(130));
    });
  }
  const kinds: ("sqlite" | "postgres")[] = dbChoice === "both" ? ["sqlite", "postgres"] : [dbChoice as "sqlite" | "postgres"];
  let pgServer: PrivatePostgres | undefined;
  let pgText = "";
  if (kinds.includes("postgres")) {
    pgServer = await startPrivatePostgres({ settings: { fsync: "on", synchronous_commit: "on", full_page_writes: "on", ...walSettings(WAL_SEGMENTS), ...(pgStats ? { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track": "all", "pg_stat_statements.track_planning": "on" } : {}) } });
    const server = pgServer;
    cleanups.add(() => server.destroy());
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    if (pgStats) await c.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    const t0 = Date.now();
    const ahead = await preallocateWal(c, WAL_SEGMENTS);
    logLine("postgres", `${ahead} WAL segments pre-allocated in ${((Date.now() - t0) / 1000).toFixed(1)} s (bench/brain/wal.ts)`);
    const show = async (k: string) => String((await c.query(`SHOW ${k}`)).rows[0][k]);
    pgText = `PostgreSQL ${await show("server_version")}, private server started by the run: fsync=${await show("fsync")}, synchronous_commit=${await show("synchronous_commit")}, shared_buffers=${await show("shared_buffers")}, max_connections=${await show("max_connections")}, ${ahead} WAL segments recycled ahead before the first trial, as on a running server (bench/brain/wal.ts)`;
    await c.end();
  }
  const git = (a: string[]) => spawnSync("git", a, { encoding: "utf8" }).stdout.trim();
  const dirty = git(["status", "--porcelain", "services/brain"]) !== "";
  const header = [
    `## brain benchmark — ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, commit ${git(["rev-parse", "--short", "HEAD"])}${dirty ? " + uncommitted changes in services/brain" : ""}${quick ? " (--quick)" : ""}`,
    "",
    `\`${["npx tsx bench/brain/run.ts", ...process.argv.slice(2)].join(" ")}\`; ${learners.toLocaleString("en-US")} learners; node ${process.version}, ${cpus().length} cores, load average ${loadavg()[0]?.toFixed(1)} at start.`,
    `LLM peer: ${describe(llm)}, seed ${seed + 1}. Cloud API peer: ${describe(cloud)}, ${(rate429 * 100).toFixed(1)}% 429 (Graph 130429, Retry-After ${retryAfterS} s), ${(rate5xx * 100).toFixed(1)}% 503. Mean service time ≈ ${serviceMs.toFixed(0)} ms; in flight sized as rate × that × ${headroom} (at ${f(rate)} msg/s: ${sizing(rate).text}).`,
    ...(pgText ? [pgText + "."] : []),
    `${fsyncProbe()}.`,
  ];
  const results: StoreResult[] = [];
  try {
    for (const k of kinds) results.push(await benchStore(k, pgServer));
  } finally {
    await runCleanups();
  }
  process.stdout.write(`\n${report(results, header)}\n`);
  if (profile) {
    for (const k of kinds) {
      // one profile per thread and process (tsx runs a loader thread): the largest two are the main threads
      const dir = profileDir(k);
      const files = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).map((x) => join(dir, x)).sort((a, b) => statSync(b).size - statSync(a).size);
      for (const file of files.slice(0, 2)) process.stdout.write(`\nTop self time, brain on ${k}, sustained trial (${file}):\n${topFunctions(file)}\n`);
    }
  }
}

main().catch(async (err: unknown) => {
  console.error(err);
  await runCleanups();
  process.exit(1);
});
