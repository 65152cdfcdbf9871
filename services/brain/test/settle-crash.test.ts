/**
 * Random SIGKILLs of the worker process during grouped settles. The brain runs as the image runs
 * it (server.ts, which forks its worker process); each run delivers a burst of messages and, once
 * the Cloud API peer has accepted a random part of their replies, SIGKILLs the worker process (the
 * HTTP process restarts it). Right after each kill the test records which accepted replies still
 * have an uncommitted ("pending") mark. At the end, on both stores:
 * - nothing is lost: every inbound message is settled and its reply row is "sent";
 * - every reply the peer accepted more than once was accepted before a kill while its mark was
 *   uncommitted, and at most once more per such kill (the duplicate window of the README);
 * - then the hold switch reaches the worker process, survives its restart, and resume answers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { getPriority } from "node:os";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, it } from "vitest";
import { available, freePort, PG_URL, seeded } from "@tierstack/common/testing";
import { openBrainStore, type BrainStore } from "../src/store/index.js";
import { threadNiceness } from "../src/priority.js";
import { signPayload } from "../src/webhook.js";
import { ADMIN_TOKEN, APP_SECRET, brainEnv, testDatabase, textNotification, until, workersPid, type Db } from "./harness.js";
import { startCloudApiPeer } from "./peers/cloudapi.js";
import { startLlmPeer } from "./peers/llm.js";
import { startStripePeer } from "./peers/stripe.js";

const dbs: Db[] = ["sqlite"];
if (await available("postgres", PG_URL)) dbs.push("postgres");

const RUNS = 10;
const LEARNERS = 8;
const PER_LEARNER = 3;

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
}

// Concurrent: both stores' scenarios wait mostly on worker-process restarts, so they overlap.
describe.concurrent.each(dbs)("SIGKILL of the worker process during grouped settles on %s", (db) => {
  let peers: { cloud: Awaited<ReturnType<typeof startCloudApiPeer>>; llm: Awaited<ReturnType<typeof startLlmPeer>>; stripe: Awaited<ReturnType<typeof startStripePeer>> };
  let database: Awaited<ReturnType<typeof testDatabase>>;
  let brain: ChildProcess | undefined;
  let store: BrainStore | undefined;
  beforeAll(async () => {
    peers = { cloud: await startCloudApiPeer(), llm: await startLlmPeer(), stripe: await startStripePeer() };
    database = await testDatabase(db);
  });
  afterAll(async () => {
    if (brain && brain.exitCode === null && brain.signalCode === null) {
      brain.kill("SIGTERM");
      await exited(brain);
    }
    await store?.close();
    await Promise.all([peers.cloud.close(), peers.llm.close(), peers.stripe.close()]);
    await database.drop();
  });

  it(`${RUNS} kills: nothing lost, every duplicate accepted before a kill with its mark uncommitted`, async ({ expect }) => {
    const seed = Number(process.env.BRAIN_CRASH_SEED ?? Date.now() % 100_000);
    const rand = seeded(seed); // the kill points are random, but a failure can be replayed
    const port = await freePort();
    const env = brainEnv(
      { databaseUrl: database.url, cloudUrl: peers.cloud.url, accessToken: peers.cloud.accessToken, llmUrl: peers.llm.url, stripeHost: peers.stripe.host, stripePort: peers.stripe.port },
      { PORT: String(port), LLM_TIMEOUT_MS: "900", LLM_RETRIES: "0", BRAIN_LEASE_MS: "2000", BRAIN_WORKERS: "16" },
    );
    const base = `http://127.0.0.1:${port}`;
    brain = spawn(process.execPath, ["--import", "tsx", "services/brain/src/server.ts"], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    brain.stderr?.on("data", (d: Buffer) => process.stderr.write(`[brain] ${d.toString()}`));
    await until(async () => (await workersPid(base)) !== null, "brain and its worker process running", 60_000);
    // The worker process gives way to ingest: every thread of it runs at BRAIN_WORKERS_NICE (10 by
    // default), the HTTP process's at this test's own niceness.
    const first = (await workersPid(base))!;
    expect(new Set(threadNiceness(first))).toEqual(new Set([Math.max(getPriority(), 10)]));
    expect(new Set(threadNiceness(brain.pid!))).toEqual(new Set([getPriority()]));
    // and with a larger young generation (BRAIN_WORKER_SEMI_SPACE_MB, 64 by default)
    expect(readFileSync(`/proc/${first}/cmdline`, "utf8").split("\0")).toContain("--max-semi-space-size=64");
    store = await openBrainStore(database.url);

    /** Reply text → outbound key, for every message sent in. */
    const keyOf = new Map<string, string>();
    /** Per kill: the replies the peer had accepted whose mark was still pending. */
    const windows: Set<string>[] = [];
    for (let run = 0; run < RUNS; run++) {
      const items: { from: string; body: string; id: string }[] = [];
      for (let l = 0; l < LEARNERS; l++) {
        for (let k = 0; k < PER_LEARNER; k++) {
          const id = `wamid.crash.${db}.${run}.${l}.${k}`;
          const body = `${db} run ${run} learner ${l} message ${k}`;
          items.push({ from: `4477009${db === "sqlite" ? "6" : "7"}${String(run).padStart(2, "0")}${String(l).padStart(2, "0")}`, body, id });
          keyOf.set(`echo: ${body}`, `reply:${id}`);
        }
      }
      const before = peers.cloud.sent.length;
      const killAfter = 1 + Math.floor(rand() * (items.length - 2));
      const pid = await workersPid(base);
      expect(pid).not.toBeNull();
      const raw = JSON.stringify(textNotification(items));
      const res = await fetch(`${base}/webhooks/whatsapp`, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": signPayload(raw, APP_SECRET) }, body: raw });
      expect(res.status).toBe(200);
      // Kill once a random part of this burst's replies was accepted: marks are being grouped and committed.
      const end = Date.now() + 20_000;
      while (peers.cloud.sent.length - before < killAfter && Date.now() < end) await new Promise((r) => setImmediate(r));
      process.kill(pid!, "SIGKILL");
      // Reaped by the HTTP process (not just dead): by then what it had written has reached the peer.
      await until(() => {
        try {
          process.kill(pid!, 0);
          return false;
        } catch {
          return true;
        }
      }, "worker process gone");
      // What the peer accepted before the kill, and which of those marks did not commit.
      const accepted = new Set(peers.cloud.sent.map((s: { text?: { body?: string } }) => s.text?.body ?? ""));
      const window = new Set<string>();
      for (const text of accepted) {
        const key = keyOf.get(text);
        if (key && (await store.outboundByKey(key))?.state === "pending") window.add(key);
      }
      windows.push(window);
      if (process.env.BRAIN_CRASH_TRACE) process.stderr.write(`[settle-crash ${db}] run ${run}: killed after ${peers.cloud.sent.length - before} sends, ${window.size} marks pending, ${Date.now() % 100000}\n`);
      await until(async () => {
        const p = await workersPid(base);
        return p !== null && p !== pid;
      }, "worker process restarted", 60_000);
    }

    await until(async () => (await store!.backlog()) === 0, "every message settled", 60_000);
    // Nothing lost: every message's reply row is sent, and the peer accepted it.
    const texts = peers.cloud.sent.map((s: { text?: { body?: string } }) => s.text?.body ?? "");
    for (const [text, key] of keyOf) {
      expect((await store.outboundByKey(key))?.state, key).toBe("sent");
      expect(texts.includes(text), text).toBe(true);
    }
    // Every duplicate lies in a recorded window: accepted before a kill, mark uncommitted.
    const counts = new Map<string, number>();
    for (const t of texts) counts.set(t, (counts.get(t) ?? 0) + 1);
    let duplicates = 0;
    for (const [text, n] of counts) {
      if (n === 1) continue;
      const key = keyOf.get(text)!;
      const kills = windows.filter((w) => w.has(key)).length;
      expect({ key, seed, extra: n - 1 }).toEqual({ key, seed, extra: Math.min(n - 1, kills) });
      expect(kills, `${key} duplicated outside a window (seed ${seed})`).toBeGreaterThan(0);
      duplicates += n - 1;
    }
    // The hold switch reaches the worker process, and a worker process restarted while held starts held.
    const admin = (path: string, method = "GET") => fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.json() as Promise<{ workers: { held: boolean; process?: { pid: number | null } } }>);
    expect((await admin("/admin/workers/hold", "POST")).workers.held).toBe(true);
    const heldPid = (await admin("/admin/workers")).workers.process?.pid;
    process.kill(heldPid!, "SIGKILL");
    await until(async () => {
      const p = await workersPid(base);
      return p !== null && p !== heldPid;
    }, "worker process restarted while held", 60_000);
    expect((await admin("/admin/workers")).workers.held).toBe(true);
    const last = JSON.stringify(textNotification([{ from: "447700980999", body: `${db} held`, id: `wamid.crash.${db}.held` }]));
    expect((await fetch(`${base}/webhooks/whatsapp`, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": signPayload(last, APP_SECRET) }, body: last })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    expect(await store.backlog()).toBe(1);
    expect((await admin("/admin/workers/resume", "POST")).workers.held).toBe(false);
    await until(() => peers.cloud.sent.some((x: { text?: { body?: string } }) => x.text?.body === `echo: ${db} held`), "held message answered after resume", 30_000);
    // /metrics merges the worker process's counters into the HTTP process's. The worker counts a
    // reply once it has read the Cloud API's answer, which can be just after the peer recorded it.
    const counted = /brain_replies_total\{[^}]*kind="text"[^}]*\} [1-9]/;
    await until(async () => counted.test(await (await fetch(`${base}/metrics`)).text()), "the reply counted in /metrics", 10_000);
    process.stderr.write(`[settle-crash ${db}] seed ${seed}: ${RUNS} kills, ${keyOf.size} messages, ${windows.reduce((n, w) => n + w.size, 0)} marks uncommitted at a kill, ${duplicates} duplicate sends\n`);
  }, 400_000);
});
