/**
 * Brain benchmark: 16,000 learners, signed inbound webhooks from a separate load process, the
 * LLM and Cloud API peers answering at once and the send limit above the offered load, so the
 * figures are the brain's own overhead. Per store (SQLite, PostgreSQL):
 *   1. sustained: open-loop at --rate msg/s for --duration s; inbound/s, replies/s (within the
 *      window), max inbox backlog (sampled from /metrics each second), ack and reply latency;
 *   2. capacity: closed-loop (--concurrency requests in flight) for the brain and for the floor
 *      peer (Fastify + HMAC + one durable INSERT per message), measured in the same run.
 * Usage: npx tsx bench/brain/run.ts [--quick] [--rate 1000] [--duration 60] [--db sqlite|postgres|both] [--workers 32] [--profile]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPgPool, openSqlite, parseDatabaseUrl } from "@tierstack/common";
import { freePort, freshSchema, PG_URL, portOpen } from "@tierstack/common/testing";
import { startCloudApiPeer } from "../../services/brain/test/peers/cloudapi.js";
import { startLlmPeer } from "../../services/brain/test/peers/llm.js";
import { openBrainStore } from "../../services/brain/src/store/index.js";
import { exitOnUsageError, intOption, parseCommandArgs, UsageError } from "../../cli/args.js";

const usage = "npx tsx bench/brain/run.ts [--quick] [--rate N] [--duration S] [--capacity-duration S] [--concurrency N] [--learners N] [--workers N] [--profile] [--db sqlite|postgres|both]";
const { values: args } = exitOnUsageError(() => parseCommandArgs("bench/brain", usage, process.argv.slice(2), {
  quick: { type: "boolean" }, rate: { type: "string" }, duration: { type: "string" }, "capacity-duration": { type: "string" },
  concurrency: { type: "string" }, learners: { type: "string" }, workers: { type: "string" }, profile: { type: "boolean" }, db: { type: "string" },
}));
const quick = args.quick === true;
const int = (name: keyof typeof args, d: number) => exitOnUsageError(() => intOption("bench/brain", name, args[name] as string | undefined, d, 1));
const rate = int("rate", 1000);
const durationS = int("duration", quick ? 10 : 60);
const capacityS = int("capacity-duration", quick ? 5 : 15);
const concurrency = int("concurrency", 32);
const learners = int("learners", 16000);
const workers = String(int("workers", 32));
const profile = args.profile === true;
const dbChoice = args.db ?? "both";
exitOnUsageError(() => {
  if (!["sqlite", "postgres", "both"].includes(dbChoice)) throw new UsageError(`bench/brain: --db=${dbChoice}: expected sqlite, postgres or both; usage: ${usage}`);
});
const SECRET = "bench-app-secret";
const outDir = join(process.cwd(), "bench", ".out");

interface LoadResult { start: number; end: number; sent: number; acked: number; non200: number; errors: number; ackP50: number; ackP99: number; ackMax: number }

function runLoad(url: string, mode: "open" | "closed", durationMs: number, runId: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/brain/load.ts", JSON.stringify({ url, secret: SECRET, mode, rate, concurrency, durationMs, learners, runId })], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").at(-1)!) as LoadResult) : reject(new Error(`load exited ${code}`))));
  });
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("not ready in 60 s");
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), 20_000).unref();
  });
}

async function database(kind: "sqlite" | "postgres", name: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (kind === "postgres") {
    const s = await freshSchema(`bench_${name}`);
    return { url: s.url, drop: s.drop };
  }
  const dir = mkdtempSync(join(tmpdir(), `bench-brain-${name}-`));
  return { url: `sqlite:${join(dir, "db.sqlite")}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** 16,000 learners who signed up (so the run exercises lookups and window updates, not only first contacts). */
async function seed(url: string): Promise<void> {
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
    await pool.end();
  }
}

async function backlogOf(url: string): Promise<number> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /^brain_inbox_backlog(?:\{[^}]*\})? (\d+)/m.exec(text);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

const pct = (xs: number[], p: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : NaN);

interface Row { store: string; inbound: number; replies: number; ratio: number; maxBacklog: number; endBacklog: number; ackP50: number; ackP99: number; replyP50: number; replyP99: number; non200: number; drainS: number }
interface CapRow { store: string; brainAck: number; brainReplies: number; floor: number; ratio: number; brainAckP99: number; floorAckP99: number }

async function benchStore(kind: "sqlite" | "postgres"): Promise<{ row: Row; cap: CapRow }> {
  const cloud = await startCloudApiPeer();
  const llm = await startLlmPeer();
  const db = await database(kind, "brain");
  await seed(db.url);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", DATABASE_URL: db.url,
    WHATSAPP_APP_SECRET: SECRET, WHATSAPP_VERIFY_TOKEN: "bench", WHATSAPP_ACCESS_TOKEN: cloud.accessToken, WHATSAPP_PHONE_NUMBER_ID: "1098765432",
    WHATSAPP_API_BASE: cloud.url, WHATSAPP_SEND_RATE: "10000", LLM_BASE_URL: llm.url, STRIPE_SECRET_KEY: "sk_test_bench", STRIPE_WEBHOOK_SECRET: "whsec_bench",
    BRAIN_ADMIN_TOKEN: "bench-admin-token-0123456789", BRAIN_WORKERS: workers,
  };
  if (profile) mkdirSync(outDir, { recursive: true });
  const profDir = join(outDir, `brain-${kind}`);
  if (profile) rmSync(profDir, { recursive: true, force: true });
  const nodeArgs = [...(profile ? ["--cpu-prof", "--cpu-prof-dir", profDir] : []), "--import", "tsx", "services/brain/src/server.ts"];
  const brain = spawn(process.execPath, nodeArgs, { env, stdio: ["ignore", "inherit", "inherit"] });
  try {
    await waitReady(url, brain);
    const okReplies = () => cloud.received.filter((r) => r.status === 200);
    // warm-up: JIT, connection pools, prepared statements
    await runLoad(`${url}/webhooks/whatsapp`, "closed", 2000, `warm${kind}`);
    for (let i = 0; i < 300 && (await backlogOf(url)) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    const base = okReplies().length;

    let maxBacklog = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const b = await backlogOf(url);
        if (Number.isFinite(b)) maxBacklog = Math.max(maxBacklog, b);
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    const load = await runLoad(`${url}/webhooks/whatsapp`, "open", durationS * 1000, `run${kind}`);
    sampling = false;
    await sampler;
    const endBacklog = await backlogOf(url);
    const drainStart = Date.now();
    while (okReplies().length - base < load.acked && Date.now() - drainStart < 60_000) await new Promise((r) => setTimeout(r, 50));
    const drainS = (Date.now() - drainStart) / 1000;
    const replies = okReplies().slice(base);
    const inWindow = replies.filter((r) => r.at <= load.end).length;
    const windowS = (load.end - load.start) / 1000;
    const replyLat = replies
      .map((r) => {
        const m = /t=([\d.]+)/.exec(String(r.body?.text?.body ?? ""));
        return m ? r.at - Number(m[1]) : NaN;
      })
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const row: Row = {
      store: kind, inbound: load.acked / windowS, replies: inWindow / windowS, ratio: inWindow / Math.max(1, load.acked), maxBacklog, endBacklog,
      ackP50: load.ackP50, ackP99: load.ackP99, replyP50: pct(replyLat, 0.5), replyP99: pct(replyLat, 0.99), non200: load.non200 + load.errors, drainS,
    };

    // capacity, closed loop
    const capBase = okReplies().length;
    const cap = await runLoad(`${url}/webhooks/whatsapp`, "closed", capacityS * 1000, `cap${kind}`);
    const capWindow = (cap.end - cap.start) / 1000;
    const capReplies = okReplies().slice(capBase).filter((r) => r.at <= cap.end).length;
    await stop(brain);

    const fdb = await database(kind, "floor");
    const fport = await freePort();
    const floor = spawn(process.execPath, ["--import", "tsx", "bench/brain/floor.ts"], { env: { ...process.env, PORT: String(fport), DATABASE_URL: fdb.url, WHATSAPP_APP_SECRET: SECRET }, stdio: ["ignore", "inherit", "inherit"] });
    let floorRes: LoadResult;
    try {
      await waitReady(`http://127.0.0.1:${fport}`, floor);
      await runLoad(`http://127.0.0.1:${fport}/webhooks/whatsapp`, "closed", 2000, `fwarm${kind}`);
      floorRes = await runLoad(`http://127.0.0.1:${fport}/webhooks/whatsapp`, "closed", capacityS * 1000, `floor${kind}`);
    } finally {
      await stop(floor);
      await fdb.drop();
    }
    const floorRate = floorRes.acked / ((floorRes.end - floorRes.start) / 1000);
    const brainCap = Math.min(cap.acked / capWindow, capReplies / capWindow);
    return {
      row,
      cap: { store: kind, brainAck: cap.acked / capWindow, brainReplies: capReplies / capWindow, floor: floorRate, ratio: brainCap / floorRate, brainAckP99: cap.ackP99, floorAckP99: floorRes.ackP99 },
    };
  } finally {
    await stop(brain);
    await Promise.all([cloud.close(), llm.close()]);
    await db.drop();
  }
}

function topFunctions(file: string, n = 20): string {
  type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number };
  const prof = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[] };
  const total = prof.nodes.reduce((s, x) => s + (x.hitCount ?? 0), 0);
  const by = new Map<string, number>();
  for (const x of prof.nodes) {
    const u = x.callFrame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(services|packages)\//, "$1/");
    const k = `${x.callFrame.functionName || "(anonymous)"} ${u}:${x.callFrame.lineNumber + 1}`;
    by.set(k, (by.get(k) ?? 0) + (x.hitCount ?? 0));
  }
  return [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`).join("\n");
}

async function main(): Promise<void> {
  const kinds: ("sqlite" | "postgres")[] = dbChoice === "both" ? ["sqlite", "postgres"] : [dbChoice as "sqlite" | "postgres"];
  if (kinds.includes("postgres") && !(await portOpen(new URL(PG_URL).hostname, Number(new URL(PG_URL).port || 5432)))) {
    console.error("PostgreSQL not reachable: running SQLite only");
    kinds.splice(kinds.indexOf("postgres"), 1);
  }
  const rows: Row[] = [];
  const caps: CapRow[] = [];
  for (const k of kinds) {
    const { row, cap } = await benchStore(k);
    rows.push(row);
    caps.push(cap);
  }
  const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
  console.log(`\n## brain benchmark — ${learners} learners, offered ${rate} msg/s for ${durationS} s, ${workers} workers, capacity at ${concurrency} in flight for ${capacityS} s\n`);
  console.log("| store | inbound msg/s | replies/s (in window) | replies/inbound | max backlog | backlog at end | drain s | p50 ack ms | p99 ack ms | p50 reply ms | p99 reply ms | non-200 |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.store} | ${f(r.inbound)} | ${f(r.replies)} | ${f(r.ratio, 3)} | ${f(r.maxBacklog)} | ${f(r.endBacklog)} | ${f(r.drainS, 1)} | ${f(r.ackP50, 1)} | ${f(r.ackP99, 1)} | ${f(r.replyP50, 1)} | ${f(r.replyP99, 1)} | ${r.non200} |`);
  console.log("\n| store | brain acks/s (closed loop) | brain replies/s | floor peer msg/s | brain / floor | brain p99 ack ms | floor p99 ack ms |");
  console.log("|---|---|---|---|---|---|---|");
  for (const c of caps) console.log(`| ${c.store} | ${f(c.brainAck)} | ${f(c.brainReplies)} | ${f(c.floor)} | ${f(c.ratio, 2)} | ${f(c.brainAckP99, 1)} | ${f(c.floorAckP99, 1)} |`);
  console.log("\nGoals: sustained ≥ 1,000 msg/s (replies/s ≥ 0.98 × inbound/s, bounded backlog), p99 ack < 50 ms, brain ≥ 0.5 × floor.");
  for (const r of rows) {
    const c = caps.find((x) => x.store === r.store)!;
    console.log(`- ${r.store}: sustained ${r.inbound >= 1000 * 0.99 && r.ratio >= 0.98 ? "yes" : "NO"} at ${f(r.inbound)} msg/s; p99 ack ${r.ackP99 < 50 ? "ok" : "NO"} (${f(r.ackP99, 1)} ms); ratio to floor ${c.ratio >= 0.5 ? "ok" : "NO"} (${f(c.ratio, 2)})`);
  }
  if (profile) {
    for (const k of kinds) {
      // one profile per thread (tsx runs a loader thread): the main thread's is the largest
      const dir = join(outDir, `brain-${k}`);
      const files = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).map((x) => join(dir, x));
      const main = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
      if (main) console.log(`\nTop self time, brain on ${k} (${main}):\n${topFunctions(main)}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
