/**
 * MCP gateway benchmark: `tools/call` round trips of a no-op tool, direct to a shard replica versus
 * through the gateway, measured in the same run. This process is the load generator; the replica
 * (SDK McpServer, 2025-11-25, JSON answers) and the gateway each run in their own process.
 *
 *   npx tsx bench/gateway/run.ts                 # defaults: 3000 sequential calls, 100 clients × 5 s
 *   npx tsx bench/gateway/run.ts --calls 5000 --seconds 10 --clients 100 --profile
 *
 * --profile runs the gateway under `node --cpu-prof` (bench/.out/) and prints its top frames.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { startGateway, startReplica } from "../../services/mcp-gateway/test/peers.js";
import { tokenDb } from "../../services/mcp-gateway/test/helpers.js";
import { exitOnUsageError, intOption, parseCommandArgs } from "../../cli/args.js";

const { values: args } = exitOnUsageError(() => parseCommandArgs("bench/gateway", "npx tsx bench/gateway/run.ts [--calls N] [--seconds S] [--clients N] [--profile]", process.argv.slice(2), {
  calls: { type: "string" }, seconds: { type: "string" }, clients: { type: "string" }, profile: { type: "boolean" },
}));
const CALLS = exitOnUsageError(() => intOption("bench/gateway", "calls", args.calls, 3000, 1));
const SECONDS = exitOnUsageError(() => intOption("bench/gateway", "seconds", args.seconds, 5, 1));
const CLIENTS = exitOnUsageError(() => intOption("bench/gateway", "clients", args.clients, 100, 1));
const PROFILE = args.profile === true;
const outDir = join(process.cwd(), "bench/.out");

interface Target {
  name: string;
  origin: string;
  path: string;
  auth: Record<string, string>;
  pool: Pool;
}

const JSON_HDR = { "content-type": "application/json", accept: "application/json, text/event-stream" };

async function initSession(t: Target): Promise<string> {
  const res = await t.pool.request({
    path: t.path,
    method: "POST",
    headers: { ...JSON_HDR, ...t.auth },
    body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "bench", version: "1" } } }),
  });
  await res.body.dump();
  const sid = res.headers["mcp-session-id"];
  if (res.statusCode !== 200 || typeof sid !== "string") throw new Error(`${t.name}: initialize failed (${res.statusCode})`);
  const note = await t.pool.request({
    path: t.path,
    method: "POST",
    headers: { ...JSON_HDR, ...t.auth, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" },
    body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
  });
  await note.body.dump();
  return sid;
}

let seq = 1;
async function call(t: Target, sid: string): Promise<void> {
  const res = await t.pool.request({
    path: t.path,
    method: "POST",
    headers: { ...JSON_HDR, ...t.auth, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" },
    body: `{"jsonrpc":"2.0","id":${seq++},"method":"tools/call","params":{"name":"noop","arguments":{}}}`,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200 || !text.includes('"ok"')) throw new Error(`${t.name}: tools/call ${res.statusCode} ${text.slice(0, 200)}`);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function sequential(targets: Target[]): Promise<Map<string, number[]>> {
  const sids = new Map<string, string>();
  for (const t of targets) sids.set(t.name, await initSession(t));
  const lat = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  for (const t of targets) for (let i = 0; i < 300; i++) await call(t, sids.get(t.name) as string); // warm-up
  const block = 250;
  for (let done = 0; done < CALLS; done += block) {
    for (const t of targets) {
      const sid = sids.get(t.name) as string;
      const xs = lat.get(t.name) as number[];
      for (let i = 0; i < block; i++) {
        const t0 = process.hrtime.bigint();
        await call(t, sid);
        xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
  }
  return lat;
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ (100)
}

async function concurrent(t: Target, pids: number[] = []): Promise<{ rps: number; p50: number; p99: number; cpuMsPerCall: number[] }> {
  const sids = await Promise.all(Array.from({ length: CLIENTS }, () => initSession(t)));
  const lat: number[] = [];
  const warmEnd = Date.now() + 1000;
  let end = warmEnd + SECONDS * 1000;
  let count = 0;
  let cpu0: number[] = [];
  setTimeout(() => (cpu0 = pids.map(cpuMs)), 1000);
  await Promise.all(
    sids.map(async (sid) => {
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        await call(t, sid);
        if (Date.now() >= warmEnd) {
          count++;
          lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      }
    }),
  );
  end = 0;
  const cpuMsPerCall = pids.map((pid, i) => (cpuMs(pid) - (cpu0[i] ?? 0)) / count);
  return { rps: count / SECONDS, p50: pct(lat, 50), p99: pct(lat, 99), cpuMsPerCall };
}

function topFrames(n = 12): string[] {
  // --cpu-prof writes one profile per thread (tsx runs a loader thread): the main thread's is the largest.
  const files = readdirSync(outDir).filter((f) => f.endsWith(".cpuprofile") && !before.has(f));
  const file = files.sort((a, b) => statSync(join(outDir, b)).size - statSync(join(outDir, a)).size)[0];
  if (!file) return ["(no profile written)"];
  const prof = JSON.parse(readFileSync(join(outDir, file), "utf8")) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
    samples: number[];
  };
  const byId = new Map(prof.nodes.map((nd) => [nd.id, nd]));
  const self = new Map<string, number>();
  for (const s of prof.samples) {
    const nd = byId.get(s);
    if (!nd || ["(idle)", "(program)"].includes(nd.callFrame.functionName)) continue;
    const f = nd.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/work\/main\//, "")}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `| ${((100 * v) / total).toFixed(1)}% | \`${k}\` |`);
}

let before = new Set<string>();

async function main() {
  mkdirSync(outDir, { recursive: true });
  before = new Set(readdirSync(outDir));
  const db = await tokenDb();
  const replica = await startReplica("bench", { json: true });
  const token = await db.issue("bench-agent");
  const gw = await startGateway(
    { GATEWAY_SHARDS: JSON.stringify({ bench: [replica.url] }), TOKENS_DATABASE_URL: db.url, PORT: "0", GATEWAY_RATE_PER_SECOND: "1000000", GATEWAY_RATE_BURST: "1000000" },
    PROFILE ? ["--cpu-prof", "--cpu-prof-dir", outDir] : [],
  );
  const mk = (name: string, base: string, path: string, auth: Record<string, string>): Target => ({
    name,
    origin: base,
    path,
    auth,
    pool: new Pool(base, { connections: CLIENTS, keepAliveTimeout: 30_000 }),
  });
  const direct = mk("direct", `http://127.0.0.1:${replica.port}`, "/mcp", {});
  const viaGw = mk("gateway", `http://127.0.0.1:${gw.port}`, "/mcp/bench", { authorization: `Bearer ${token}` });
  try {
    const seqLat = await sequential([direct, viaGw]);
    const d = seqLat.get("direct") as number[];
    const g = seqLat.get("gateway") as number[];
    const cd = await concurrent(direct, [replica.pid]);
    const cg = await concurrent(viaGw, [replica.pid, gw.pid]);
    const f = (x: number) => x.toFixed(3);
    console.log(`\n## MCP gateway benchmark (node ${process.version}, ${cpus().length} cores, load average ${loadavg()[0]?.toFixed(1)}; ${CALLS} sequential calls; ${CLIENTS} clients × ${SECONDS} s)\n`);
    console.log("Peer: @modelcontextprotocol/sdk 1.32.2 McpServer (protocol 2025-11-25, JSON responses), one replica process; tool `noop`.\n");
    console.log("| scenario | direct | via gateway | added / ratio | goal |");
    console.log("|---|---|---|---|---|");
    console.log(`| 1 client p50 (ms) | ${f(pct(d, 50))} | ${f(pct(g, 50))} | +${f(pct(g, 50) - pct(d, 50))} ms | < 1 ms added |`);
    console.log(`| 1 client p99 (ms) | ${f(pct(d, 99))} | ${f(pct(g, 99))} | +${f(pct(g, 99) - pct(d, 99))} ms | |`);
    console.log(`| ${CLIENTS} clients throughput (calls/s) | ${cd.rps.toFixed(0)} | ${cg.rps.toFixed(0)} | ${(cg.rps / cd.rps).toFixed(2)}× | ≥ 0.8× |`);
    console.log(`| ${CLIENTS} clients p50 / p99 (ms) | ${f(cd.p50)} / ${f(cd.p99)} | ${f(cg.p50)} / ${f(cg.p99)} | | |`);
    const [replicaCpu = 0, gatewayCpu = 0] = cg.cpuMsPerCall;
    console.log(`| CPU per call at ${CLIENTS} clients (µs) | replica ${(1000 * (cd.cpuMsPerCall[0] ?? 0)).toFixed(0)} | replica ${(1000 * replicaCpu).toFixed(0)} + gateway ${(1000 * gatewayCpu).toFixed(0)} | gateway ÷ replica ${(gatewayCpu / replicaCpu).toFixed(2)} | |`);
    console.log(`\nOn ${cpus().length} cores the load generator, the replica and the gateway share the CPU, so the gateway's own CPU per call`);
    console.log("is taken from the throughput; with a core of its own (tier-50+), the gateway limits throughput only where its CPU per call exceeds the replica's.");
  } finally {
    await Promise.all([direct.pool.close(), viaGw.pool.close()]);
    await gw.kill("SIGTERM");
    await replica.kill();
    await db.close();
  }
  if (PROFILE) {
    console.log("\n### gateway CPU profile: top self-time frames (share of busy samples)\n\n| self | frame |\n|---|---|");
    for (const l of topFrames()) console.log(l);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
