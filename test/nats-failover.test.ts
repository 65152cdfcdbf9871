/**
 * NATS failover, for real: three nats-server processes on loopback, each started from the
 * configuration the one renderer produces (components/nats/server-config.ts: the same function
 * the Kubernetes cluster's ConfigMap is rendered with; here only host names, ports and
 * directories differ), a JetStream stream with as many replicas as nodes (catalog/nats.ts).
 *
 * 1. A publisher that counts only acknowledged messages publishes with `Nats-Msg-Id` (and
 *    retries a message until it is acknowledged, as the task queue's relay does); the stream's
 *    leader is SIGKILLed mid-run and started again later. Every acknowledged message is in the
 *    stream exactly once, publishing goes on while the node is down, and the restarted node
 *    catches up (its own /jsz reports the leader's last sequence and message count, and its
 *    /healthz, the startup probe's path, answers 200).
 * 2. The real task-queue service (SQLite store) publishes its outbox through the same cluster
 *    while its stream's leader is SIGKILLed: the stream keeps growing during the outage, and
 *    after the restart every outbox event is in the stream exactly once.
 *
 * Only processes started here are signalled, by their own pid; every wait is bounded.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsStreamEnv, streamReplicas } from "../catalog/nats.js";
import { natsLameDuck } from "../components/nats/nats-cluster.js";
import { renderNatsServerConfig, routeUrl } from "../components/nats/server-config.js";

type Kit = typeof import("@tierstack/common/testing");
type NatsConnection = Awaited<ReturnType<typeof connect>>;

const inCI = process.env.CI === "true" || process.env.CI === "1";
const NODES = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function natsServerBinary(): string | undefined {
  for (const candidate of ["nats-server", "/usr/sbin/nats-server"]) {
    if (spawnSync(candidate, ["--version"], { encoding: "utf8" }).status === 0) return candidate;
  }
  if (inCI) throw new Error("nats-server is not installed and CI=true: install it (see .ci/apt-packages)");
  console.warn("[test] nats-server not found: skipping the NATS failover test");
  return undefined;
}
const bin = natsServerBinary();

interface LocalNode {
  name: string;
  url: string;
  monitor: string;
  log: string;
  start(): Promise<void>;
  kill(): Promise<void>;
}

let kit: Kit;
let root: string;
const nodes: LocalNode[] = [];
const cleanups: (() => Promise<void>)[] = [];

/** Three nodes on loopback, configured by the renderer; each node's log in its directory. */
async function startCluster(): Promise<void> {
  const ports = [];
  for (let i = 0; i < NODES; i++) ports.push({ client: await kit.freePort(), cluster: await kit.freePort(), monitor: await kit.freePort() });
  const routes = ports.map((p) => routeUrl("127.0.0.1", p.cluster));
  for (let i = 0; i < NODES; i++) {
    const p = ports[i] as (typeof ports)[number];
    const name = `n${i}`;
    const dir = join(root, name);
    mkdirSync(dir);
    const conf = join(dir, "nats.conf");
    writeFileSync(conf, renderNatsServerConfig({
      serverName: name,
      clusterName: "failover",
      host: "127.0.0.1",
      clientPort: p.client,
      clusterPort: p.cluster,
      monitorPort: p.monitor,
      routes,
      jetStream: { storeDir: join(dir, "store"), maxMemoryStoreBytes: 64 * 1024 * 1024, maxFileStoreBytes: 1024 * 1024 * 1024 },
      lameDuck: { ...natsLameDuck },
      pidFile: join(dir, "nats.pid"),
    }));
    const log = join(dir, "nats.log");
    let child: ChildProcess | undefined;
    const node: LocalNode = {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      monitor: `http://127.0.0.1:${p.monitor}`,
      log,
      start: async () => {
        const fd = openSync(log, "a");
        const c = spawn(bin as string, ["-c", conf], { stdio: ["ignore", fd, fd] });
        closeSync(fd);
        c.once("error", () => undefined);
        child = c;
        await kit.waitForPort(p.client, { what: `${name} on ${p.client}`, timeoutMs: 15_000 });
      },
      kill: async () => {
        const c = child;
        child = undefined;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((r) => c.once("exit", r));
        c.kill("SIGKILL");
        await exited;
      },
    };
    nodes.push(node);
    cleanups.push(node.kill);
  }
  await Promise.all(nodes.map((n) => n.start()));
  // The cluster has formed when every node's /healthz (JetStream included) answers 200.
  await kit.waitFor(async () => (await Promise.all(nodes.map(healthy))).every(Boolean), { what: "all three nodes healthy", timeoutMs: 30_000, intervalMs: 100 });
}

async function healthy(n: LocalNode): Promise<boolean> {
  try {
    return (await fetch(`${n.monitor}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

interface LocalStreamState {
  messages: number;
  lastSeq: number;
}

/** What a node itself holds of a stream, from its monitoring endpoint (undefined while it has none). */
async function localStreamState(n: LocalNode, stream: string): Promise<LocalStreamState | undefined> {
  try {
    const res = await fetch(`${n.monitor}/jsz?streams=true`);
    if (!res.ok) return undefined;
    const jsz = (await res.json()) as { account_details?: { stream_detail?: { name: string; state: { messages: number; last_seq: number } }[] }[] };
    for (const acc of jsz.account_details ?? []) {
      for (const s of acc.stream_detail ?? []) if (s.name === stream) return { messages: s.state.messages, lastSeq: s.state.last_seq };
    }
    return undefined;
  } catch {
    return undefined;
  }
}

const nodeNamed = (name: string | undefined) => {
  const n = nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node named ${String(name)}`);
  return n;
};

/** Every message of a stream: its Nats-Msg-Id and stream sequence. */
async function readBack(js: JetStreamClient, jsm: JetStreamManager, stream: string): Promise<{ msgId: string; seq: number; data: string }[]> {
  const total = (await jsm.streams.info(stream)).state.messages;
  const consumer = await js.consumers.get(stream);
  const out: { msgId: string; seq: number; data: string }[] = [];
  for (let rounds = 0; out.length < total && rounds < 200; rounds++) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, total - out.length), expires: 2000 });
    for await (const m of batch) out.push({ msgId: m.headers?.get("Nats-Msg-Id") ?? "", seq: m.seq, data: m.string() });
  }
  return out;
}

/** The restarted node holds what the stream's leader holds. */
async function caughtUp(node: LocalNode, jsm: JetStreamManager, stream: string): Promise<{ local: LocalStreamState; cluster: LocalStreamState }> {
  let last: { local: LocalStreamState; cluster: LocalStreamState } | undefined;
  await kit.waitFor(async () => {
    const info = await jsm.streams.info(stream);
    const local = await localStreamState(node, stream);
    if (!local) return false;
    last = { local, cluster: { messages: info.state.messages, lastSeq: info.state.last_seq } };
    return local.lastSeq === info.state.last_seq && local.messages === info.state.messages && (await healthy(node));
  }, { what: `${node.name} to catch up with ${stream}`, timeoutMs: 30_000, intervalMs: 100 });
  return last as { local: LocalStreamState; cluster: LocalStreamState };
}

beforeAll(async () => {
  if (!bin) return;
  kit = await import("@tierstack/common/testing");
  root = mkdtempSync(join(tmpdir(), "tierstack-nats-failover-"));
  await startCluster();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!bin)("NATS JetStream cluster from the rendered configuration: a node SIGKILLed and restarted", () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nc = await connect({ servers: nodes.map((n) => n.url), maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 5000 });
    cleanups.push(() => nc.close());
    jsm = await jetstreamManager(nc, { timeout: 5000 });
    js = jetstream(nc, { timeout: 2000 });
  });

  it("every acknowledged message is in the stream exactly once; publishing goes on while the leader is down; the node catches up", async () => {
    const stream = "FAILOVER";
    await jsm.streams.add({ name: stream, subjects: ["failover.>"], num_replicas: streamReplicas(NODES), storage: StorageType.File, duplicate_window: 120 * 1_000_000_000 });
    const before = await jsm.streams.info(stream);
    expect(before.config.num_replicas).toBe(3);
    expect((before.cluster?.replicas ?? []).length).toBe(2);

    // Four publishers, each message retried under its Nats-Msg-Id until acknowledged. While the
    // stream elects a new leader a publish fails at once ("no responders"), and on a loaded box the
    // election can take many seconds: each message gets a wall-clock deadline, not an attempt count.
    // A message is retried even after `running` is cleared, so one that was stored is also acked.
    const MESSAGE_DEADLINE_MS = 60_000;
    const acked = new Set<string>();
    let down = false;
    let ackedWhileDown = 0;
    let failedAttempts = 0;
    let duplicateAcks = 0;
    let running = true;
    const publisher = async (p: number) => {
      for (let i = 0; running; i++) {
        const id = `p${p}-${i}`;
        const started = Date.now();
        for (let attempt = 1; ; attempt++) {
          try {
            const ack = await js.publish(`failover.p${p}`, id, { msgID: id, timeout: 2000 });
            // A duplicate ack means an earlier attempt was stored: acknowledged once, still.
            if (ack.duplicate) duplicateAcks++;
            acked.add(id);
            if (down) ackedWhileDown++;
            break;
          } catch (err) {
            failedAttempts++;
            const elapsed = Date.now() - started;
            if (elapsed >= MESSAGE_DEADLINE_MS) {
              throw new Error(`${id}: not acknowledged within ${MESSAGE_DEADLINE_MS} ms (${attempt} attempts over ${elapsed} ms, ${down ? "leader down" : "all nodes up"}); last error: ${(err as Error).message}`);
            }
            await sleep(100);
          }
        }
      }
    };
    const loops = Array.from({ length: 4 }, (_, p) => publisher(p));
    // A publisher that gives up is reported by Promise.all(loops) below, not as an unhandled rejection
    // while the test is still waiting on a condition.
    for (const l of loops) l.catch(() => undefined);
    let victim: LocalNode;
    try {
      await kit.waitFor(() => acked.size >= 400, { what: "acks before the kill", timeoutMs: 15_000 });
      victim = nodeNamed((await jsm.streams.info(stream)).cluster?.leader);
      await victim.kill();
      down = true;
      await kit.waitFor(() => ackedWhileDown >= 300, { what: "acks while the leader is down", timeoutMs: 25_000 });
      const during = await jsm.streams.info(stream);
      expect(during.cluster?.leader).not.toBe(victim.name);
      expect(during.cluster?.replicas?.find((r) => r.name === victim.name)?.offline ?? true).toBe(true);
      await victim.start();
      down = false;
      const atRestart = acked.size;
      await kit.waitFor(() => acked.size >= atRestart + 300, { what: "acks after the restart", timeoutMs: 15_000 });
    } finally {
      running = false;
      await Promise.all(loops);
    }

    const { local, cluster } = await caughtUp(victim, jsm, stream);
    expect(local).toEqual(cluster);
    const msgs = await readBack(js, jsm, stream);
    const ids = msgs.map((m) => m.msgId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(acked.size);
    expect([...ids].sort()).toEqual([...acked].sort());
    expect(msgs.every((m) => m.data === m.msgId)).toBe(true);
    expect(ackedWhileDown).toBeGreaterThanOrEqual(300);
    console.info(`[nats-failover] killed ${victim.name} (stream leader): ${acked.size} acked, ${ackedWhileDown} while down, ${failedAttempts} failed attempts retried, ${duplicateAcks} duplicate acks`);
  }, 150_000);

  it("the task queue's outbox relay publishes through the cluster during a kill; every outbox event arrives exactly once", async () => {
    const stream = "TQ_FAILOVER";
    const db = join(root, "tq.db");
    const url = `sqlite:${db}`;
    const common = await import("@tierstack/common");
    const ts = await common.openTokenStore(url);
    const { token } = await new common.AgentTokens(ts.store).issue("nats-failover");
    await ts.close();
    const { startServer } = await import("../services/task-queue/test/server-process.js");
    const server = await startServer({
      DATABASE_URL: url,
      NATS_URL: nodes.map((n) => n.url).join(","),
      NATS_STREAM: stream,
      NATS_SUBJECT_PREFIX: "tqf",
      NATS_DUPLICATE_WINDOW_SECONDS: "120",
      ...natsStreamEnv(NODES),
    });
    cleanups.push(server.stop);
    const api = async (path: string, body: unknown) => {
      const r = await fetch(`${server.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
      return (await r.json()) as { tasks?: { id: number; leaseToken: string }[] };
    };
    const outbox = () => {
      const d = new Database(db, { readonly: true, fileMustExist: true });
      try {
        const ids = (d.prepare("SELECT id FROM outbox ORDER BY id").all() as { id: number }[]).map((r) => r.id);
        const unpublished = (d.prepare("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").get() as { n: number }).n;
        return { ids, unpublished };
      } finally {
        d.close();
      }
    };
    const streamMessages = async () => (await jsm.streams.info(stream)).state.messages;

    await kit.waitFor(async () => jsm.streams.info(stream).then(() => true, () => false), { what: "the task queue to create its stream", timeoutMs: 20_000, intervalMs: 100 });
    expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3);

    let running = true;
    let cycles = 0;
    const loop = async (n: number) => {
      for (let i = 0; running && i < 100_000; i++) {
        const queue = `q${n % 3}`;
        await api("/v1/tasks", { queue, payload: { n, i } });
        const t = (await api("/v1/claim", { queues: [queue] })).tasks?.[0];
        if (t) await api(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken });
        cycles++;
      }
    };
    const loops = Array.from({ length: 6 }, (_, n) => loop(n));
    let victim: LocalNode;
    let grewWhileDown = 0;
    try {
      await kit.waitFor(async () => cycles > 50 && (await streamMessages()) > 100, { what: "events in the stream before the kill", timeoutMs: 20_000, intervalMs: 100 });
      victim = nodeNamed((await jsm.streams.info(stream)).cluster?.leader);
      await victim.kill();
      // Counted from the first answer of the survivors (the new leader), so only what was
      // published while the node was down counts.
      let base: number | undefined;
      await kit.waitFor(async () => {
        const now = await streamMessages().catch(() => undefined);
        if (now === undefined) return false;
        base ??= now;
        grewWhileDown = now - base;
        return grewWhileDown >= 100;
      }, { what: "the relay to publish through the survivors", timeoutMs: 30_000, intervalMs: 200 });
      await victim.start();
      const after = cycles;
      await kit.waitFor(() => cycles > after + 50, { what: "load after the restart", timeoutMs: 15_000 });
    } finally {
      running = false;
      await Promise.all(loops);
    }
    await kit.waitFor(() => outbox().unpublished === 0, { what: "the outbox drained", timeoutMs: 30_000, intervalMs: 100 });
    await server.stop();

    const { ids } = outbox();
    const msgs = await readBack(js, jsm, stream);
    const msgIds = msgs.map((m) => Number(m.msgId));
    expect(new Set(msgIds).size).toBe(msgIds.length);
    expect([...msgIds].sort((a, b) => a - b)).toEqual(ids);
    expect(msgs.every((m) => (JSON.parse(m.data) as { id: number }).id === Number(m.msgId))).toBe(true);
    expect(grewWhileDown).toBeGreaterThanOrEqual(100);
    const { local, cluster } = await caughtUp(victim, jsm, stream);
    expect(local).toEqual(cluster);
    console.info(`[nats-failover] task queue: killed ${victim.name} (stream leader), ${ids.length} outbox events, ${grewWhileDown}+ published while it was down`);
  }, 90_000);

  afterAll(() => {
    // On a failure the nodes' logs say what the cluster did.
    for (const n of nodes) {
      const text = (() => {
        try {
          return readFileSync(n.log, "utf8");
        } catch {
          return "";
        }
      })();
      if (/\[FTL\]|panic:/.test(text)) console.error(`[nats-failover] ${n.name} log:\n${text.slice(-4000)}`);
    }
  });
});
