/**
 * A live migration, single-box → tier-50, end to end: the box's task queue and brain run as
 * processes on SQLite (cli/local.ts, the runner behind `npm run local`) with the box's NATS node,
 * under a bounded load of agents enqueueing, claiming and completing tasks and of signed WhatsApp
 * webhooks (a Cloud API peer and an LLM peer answer the brain). `tierstack migrate` walks the
 * stack through expand, copy and cut-over to a private PostgreSQL, a private Redis and the
 * cluster's NATS node (sourcing the box's stream over a leaf node) while the load continues; at
 * cut-over the write path is drained and frozen (ADR 0043), the stores copied again in full and
 * verified, and the services switched. Then: every task acknowledged to an agent exists exactly
 * once and no completed task was handed out again; a lease held across the switch completes on
 * the new store; every acknowledged webhook is answered exactly once; every event published
 * before the switch is in the new stream exactly once. Stage order is enforced throughout.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateServer } from "@tierstack/common/testing";
import { startCloudApiPeer } from "../services/brain/test/peers/cloudapi.js";
import { startLlmPeer } from "../services/brain/test/peers/llm.js";
import { OPERATOR_AGENT } from "../services/task-queue/src/cutover-routes.js";
import { LocalProcesses, localSecrets, startService, type LocalContext } from "../cli/local.js";
import { main } from "../cli/main.js";
import { repoRoot } from "../cli/plan.js";
import { AgentLoad, WebhookLoad, type Origin } from "./live/load.js";
import { startNatsPair, type NatsPair } from "./live/nats-pair.js";
import { readStream } from "./nats.js";

const dir = mkdtempSync(join(tmpdir(), "tierstack-live-"));
const boxDir = join(dir, "box");
const before = process.env.TIERSTACK_STACKS_DIR;
let pgServer: PrivatePostgres;
let redis: PrivateServer;
let nats: NatsPair;
let cloud: Awaited<ReturnType<typeof startCloudApiPeer>>;
let llm: Awaited<ReturnType<typeof startLlmPeer>>;
const box = new LocalProcesses(boxDir);
const cluster = new LocalProcesses(join(dir, "cluster"));
/** What the cut-over leaves for the rollback. */
let after: { origin: Origin; agents: AgentLoad; webhooks: WebhookLoad; tokens: string[]; ctx: LocalContext; brainEnv: Record<string, string>; stores: string[]; tqNew: string; brainNew: string; held: number } | undefined;

beforeAll(async () => {
  process.env.TIERSTACK_STACKS_DIR = dir;
  copyFileSync(join(repoRoot, "stacks", "Pulumi.single-box.yaml"), join(dir, "Pulumi.live.yaml"));
  [pgServer, redis, nats, cloud, llm] = await Promise.all([startPrivatePostgres(), startPrivateRedis(), startNatsPair(), startCloudApiPeer(), startLlmPeer()]);
});

afterAll(async () => {
  await cluster.stopAll();
  await box.stopAll();
  await Promise.all([nats?.destroy(), redis?.destroy(), cloud?.close(), llm?.close()]);
  pgServer?.destroy();
  if (before === undefined) delete process.env.TIERSTACK_STACKS_DIR;
  else process.env.TIERSTACK_STACKS_DIR = before;
  rmSync(dir, { recursive: true, force: true });
});

/** `tierstack migrate <args> --stack live`, in process; fails the test on a non-zero exit unless `expectCode` says otherwise. */
async function migrate(args: string[], expectCode = 0): Promise<{ out: string; err: string }> {
  const io = { out: "", err: "" };
  const code = await main(["migrate", ...args, "--stack", "live"], { out: (s) => (io.out += s + "\n"), err: (s) => (io.err += s + "\n") });
  expect(code, `migrate ${args.join(" ")}: ${io.err}${io.out}`).toBe(expectCode);
  return io;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

it("migrates single-box to tier-50 under load: nothing acknowledged is lost or done twice", async () => {
  const t0 = Date.now();
  const secrets = localSecrets(boxDir);
  const ctx: LocalContext = { dataDir: boxDir, natsUrl: nats.box.url, secrets, shardsJson: "{}" };
  const { freePort } = await import("@tierstack/common");
  const brainEnv = { WHATSAPP_API_BASE: cloud.url, WHATSAPP_ACCESS_TOKEN: cloud.accessToken, LLM_BASE_URL: llm.url, BRAIN_WORKERS: "4", WHATSAPP_SEND_RATE: "1000", LOG_LEVEL: "warn" };
  const [tqOld, brainOld] = await Promise.all([
    startService(box, "task-queue", ctx, { label: "task-queue-box", env: { PORT: String(await freePort()), LOG_LEVEL: "warn" } }),
    startService(box, "brain", ctx, { label: "brain-box", env: { ...brainEnv, PORT: String(await freePort()) } }),
  ]);

  // Tokens are issued on the box (they live in the task queue's database and move with it).
  const tokenDb = await openTokenStore(`sqlite:${join(boxDir, "task-queue.db")}`);
  const tokens = new AgentTokens(tokenDb.store);
  const agentTokens = await Promise.all(Array.from({ length: 6 }, (_, i) => tokens.issue(`live-agent-${i}`).then((t) => t.token)));
  const holderToken = (await tokens.issue("live-holder")).token;
  process.env.TIERSTACK_OPERATOR_TOKEN = (await tokens.issue(OPERATOR_AGENT)).token;
  process.env.BRAIN_ADMIN_TOKEN = secrets.BRAIN_ADMIN_TOKEN;
  await tokenDb.close();

  const origin: Origin = { tq: tqOld.url, brain: brainOld.url };
  const agents = new AgentLoad(origin, agentTokens, "live");
  const webhooks = new WebhookLoad(origin, secrets.WHATSAPP_APP_SECRET as string, "local-phone-number-id", 2);
  agents.start();
  webhooks.start();
  await until(() => agents.completed.size >= 20 && webhooks.acked.size >= 10, "the load to get going");

  const pgUrl = (schema: string) => `${pgServer.url}?schema=${schema}`;
  const stores = ["--sqlite-dir", boxDir, "--pg-url-task-queue", pgUrl("tq"), "--pg-url-brain", pgUrl("brain")];
  const ready = (url: string) => ["--ready", `${url}/readyz`];

  // Expand: the new resources beside the box (here: PostgreSQL, Redis, the cluster's NATS node, all up).
  expect((await migrate(["status"])).out).toContain("tier single-box, not migrating");
  await migrate(["next"]);
  expect((await migrate(["next"], 1)).err).toContain("stage expand of single-box → tier-50 has not passed verification");
  await migrate(["verify", ...ready(tqOld.url), ...ready(brainOld.url)]);
  await migrate(["next"]);

  // Copy and verify while the box serves: a snapshot is copied and verified; the stream is sourced.
  expect((await migrate(["verify", ...stores], 1)).err).toContain("no snapshot of the stores yet");
  expect((await migrate(["writes", "drain", "--task-queue", tqOld.url], 1)).err).toContain("the write path is drained and frozen at the cutover stage; the stack is at copy");
  await migrate(["copy", ...stores]);
  await migrate(["verify", ...stores]);
  const natsFlags = ["--nats-source", nats.box.url, "--nats-target", nats.hub.url];
  expect((await migrate(["stream", "mirror", ...natsFlags])).out).toMatch(/stream TASKS: sourced from domain box, caught up at sequence [1-9]/);
  await migrate(["next"]);
  expect((await migrate(["status"])).out).toContain("stage cutover (not verified yet), tier tier-50");

  // One agent holds a lease across the switch.
  const holder = await agents.post(holderToken, "/v1/tasks", { queue: "held", idempotencyKey: "held-1" });
  const held = (await agents.post(holderToken, "/v1/claim", { queues: ["held"], leaseSeconds: 120 })).body.tasks[0] as { id: number; leaseToken: string; leaseExpiresAt: string };
  expect(held.id).toBe(holder.body.task.id);

  // Cut-over: drain (claims refused, leases finish; brain workers held), freeze, stop the old brain,
  // copy again in full, verify the stores and the stream, then switch.
  // Two calls: the task queue gives up on the held lease after 2 s; the brain's workers, at nice 10
  // on a loaded machine, get as long as they need to finish the messages in hand.
  const drained = await migrate(["writes", "drain", "--task-queue", tqOld.url, "--drain-seconds", "2", "--retry-after", "1"]);
  expect(drained.out).toMatch(/task-queue: draining; leases held [1-9]\d*, .*gave up after 2 s/);
  expect((await migrate(["writes", "drain", "--brain", brainOld.url, "--drain-seconds", "60"])).out).toContain("brain: workers held, 0 still answering");
  const frozen = await migrate(["writes", "freeze", "--task-queue", tqOld.url]);
  expect(frozen.out).toMatch(/task-queue: frozen; leases held [1-9]\d*, outbox unpublished 0/);
  await box.stop(box.procs.find((p) => p.name === "brain-box")!);
  await migrate(["copy", ...stores]);
  expect((await migrate(["next"], 1)).err).toContain("contract needs a verified cut-over");
  expect((await migrate(["stream", "switch", ...natsFlags])).out).toContain("the new stream takes tasks.>");
  await migrate(["verify", ...stores, ...natsFlags]);
  const beforeSwitch = await readStream(nats.box.url, "TASKS");
  const cctx: LocalContext = { ...ctx, dataDir: join(dir, "cluster"), natsUrl: nats.hub.url };
  const [tqNew, brainNew] = await Promise.all([
    startService(cluster, "task-queue", cctx, { label: "task-queue-tier-50", env: { PORT: String(await freePort()), LOG_LEVEL: "warn", DATABASE_URL: pgUrl("tq") } }),
    startService(cluster, "brain", cctx, { label: "brain-tier-50", env: { ...brainEnv, PORT: String(await freePort()), DATABASE_URL: pgUrl("brain"), REDIS_URL: redis.url } }),
  ]);
  origin.tq = tqNew.url; // the tunnel's origins move
  origin.brain = brainNew.url;
  const switchedAt = Date.now();
  await box.stop(box.procs.find((p) => p.name === "task-queue-box")!);
  await migrate(["writes", "resume", "--brain", brainNew.url]);

  // The lease held across the switch completes on the new store, with its token and expiry intact.
  const onNew = (await agents.post(holderToken, `/v1/tasks/${held.id}/complete`, { leaseToken: held.leaseToken, result: "after the switch" }));
  expect(onNew.status).toBe(200);
  expect(onNew.body.task).toMatchObject({ state: "completed", result: "after the switch" });

  const completedBefore = agents.completed.size;
  await until(() => agents.completed.size >= completedBefore + 20 && Date.now() - switchedAt > 2000, "agents working on the new store");
  await agents.stop();
  await webhooks.stop();
  await until(async () => webhooks.acked.size === cloud.sent.length, `every acknowledged webhook answered (${webhooks.acked.size} acknowledged)`);
  await sleep(500); // a second answer, if there were one, would arrive now

  // Tasks: each acknowledged key is one task; none completed twice or handed out after completion.
  expect(agents.problems).toEqual([]);
  expect(agents.stale).toEqual([]);
  expect(agents.handedOutAgain).toEqual([]);
  expect(agents.refusals.get("cutover") ?? 0).toBeGreaterThan(0);
  const db = new pg.Client({ connectionString: pgServer.url });
  await db.connect();
  const rows = (await db.query<{ id: string; idempotency_key: string; state: string }>("SELECT id, idempotency_key, state FROM tq.tasks WHERE queue = 'live'")).rows;
  const held2 = (await db.query<{ state: string; lease_owner: string }>("SELECT state, lease_owner FROM tq.tasks WHERE id = $1", [held.id])).rows[0];
  await db.end();
  const byKey = new Map<string, number[]>();
  for (const r of rows) byKey.set(r.idempotency_key, [...(byKey.get(r.idempotency_key) ?? []), Number(r.id)]);
  for (const [key, id] of agents.acked) expect(byKey.get(key), key).toEqual([id]);
  const state = new Map(rows.map((r) => [Number(r.id), r.state]));
  for (const id of agents.completed) expect(state.get(id), `task ${id}`).toBe("completed");
  expect(held2).toEqual({ state: "completed", lease_owner: "live-holder" });

  // Webhooks: every acknowledged message answered exactly once.
  expect(webhooks.problems).toEqual([]);
  const answers = new Map<string, number>();
  for (const s of cloud.sent) answers.set(s.text?.body, (answers.get(s.text?.body) ?? 0) + 1);
  for (const text of webhooks.acked.values()) expect(answers.get(`echo: ${text}`), text).toBe(1);
  expect(cloud.sent.length).toBe(webhooks.acked.size);

  // Events: everything the box published is in the cluster's stream once, in order, and so is each later one.
  const compared = await migrate(["stream", "compare", ...natsFlags]);
  expect(compared.out).toMatch(new RegExp(`stream TASKS: ${beforeSwitch.length} messages from the old stream, [1-9]\\d* published since the switch, sequence numbers kept`));
  const hub = await readStream(nats.hub.url, "TASKS");
  const count = new Map<string, number>();
  for (const m of hub) count.set(m.msgId ?? "", (count.get(m.msgId ?? "") ?? 0) + 1);
  expect(beforeSwitch.length).toBeGreaterThan(0);
  for (const m of beforeSwitch) expect(count.get(m.msgId ?? ""), `event ${m.msgId}`).toBe(1);
  expect([...count.values()].every((n) => n === 1)).toBe(true);

  process.stdout.write(`live migration: ${agents.acked.size} tasks acknowledged, ${agents.completed.size} completed, ${webhooks.acked.size} webhooks answered, ${beforeSwitch.length} events before the switch, ${hub.length} after; refusals ${JSON.stringify(Object.fromEntries(agents.refusals))}, webhook retries ${JSON.stringify(Object.fromEntries(webhooks.refusals))}; ${Date.now() - t0} ms\n`);
  after = { origin, agents, webhooks, tokens: agentTokens, ctx, brainEnv, stores, tqNew: tqNew.url, brainNew: brainNew.url, held: held.id };
}, 180_000);

it("rolls back from cut-over to the box: the SQLite files get everything written after the switch", async () => {
  if (!after) throw new Error("the cut-over did not finish");
  const t0 = Date.now();
  const { origin, ctx, stores } = after;
  const { freePort } = await import("@tierstack/common");
  // More work on the new side first, then the way back: drain and freeze the cluster's services,
  // copy PostgreSQL back into the SQLite files, verify, roll the stage back, start the box again.
  const eventsBefore = (await readStream(nats.hub.url, "TASKS")).length;
  const agents = new AgentLoad(origin, after.tokens, "live", "back");
  const webhooks = new WebhookLoad(origin, ctx.secrets.WHATSAPP_APP_SECRET as string, "local-phone-number-id", 1, "back");
  agents.start();
  webhooks.start();
  await until(() => agents.completed.size >= 10 && webhooks.acked.size >= 5, "the second load to get going on the new side");
  await migrate(["writes", "drain", "--task-queue", after.tqNew, "--drain-seconds", "2", "--retry-after", "1"]);
  await migrate(["writes", "drain", "--brain", after.brainNew, "--drain-seconds", "60"]);
  await migrate(["writes", "freeze", "--task-queue", after.tqNew]);
  await cluster.stop(cluster.procs.find((p) => p.name === "brain-tier-50")!);
  expect((await migrate(["copy-back", ...stores])).out).toMatch(/task-queue: .*tasks \+[1-9]\d* ~[1-9]/);
  await migrate(["verify", ...stores]);
  expect((await migrate(["rollback"])).out).toContain("rolled back");
  expect((await migrate(["status"])).out).toContain("stage copy (verified), tier single-box");
  const [tq, brain] = await Promise.all([
    startService(box, "task-queue", ctx, { label: "task-queue-box-again", env: { PORT: String(await freePort()), LOG_LEVEL: "warn" } }),
    startService(box, "brain", ctx, { label: "brain-box-again", env: { ...after.brainEnv, PORT: String(await freePort()) } }),
  ]);
  origin.tq = tq.url; // the tunnel back to the box
  origin.brain = brain.url;
  await cluster.stop(cluster.procs.find((p) => p.name === "task-queue-tier-50")!);
  const before = agents.completed.size;
  await until(() => agents.completed.size >= before + 10, "agents working on the box again");
  await agents.stop();
  await webhooks.stop();
  const acked = after.webhooks.acked.size + webhooks.acked.size;
  await until(() => cloud.sent.length >= acked, `every acknowledged webhook answered (${acked})`);
  await sleep(500);

  // Every task of both loads, acknowledged on the box or on PostgreSQL, is in the box's SQLite once.
  expect(agents.problems).toEqual([]);
  expect(agents.stale).toEqual([]);
  expect(agents.handedOutAgain).toEqual([]);
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(join(boxDir, "task-queue.db"), { readonly: true });
  const rows = db.prepare("SELECT id, idempotency_key AS key, state FROM tasks WHERE queue = 'live'").all() as { id: number; key: string; state: string }[];
  const held = db.prepare("SELECT state FROM tasks WHERE id = ?").get(after.held) as { state: string };
  db.close();
  const byKey = new Map<string, number[]>();
  for (const r of rows) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r.id]);
  for (const ledger of [after.agents, agents]) {
    for (const [key, id] of ledger.acked) expect(byKey.get(key), key).toEqual([id]);
    const state = new Map(rows.map((r) => [r.id, r.state]));
    for (const id of ledger.completed) expect(state.get(id), `task ${id}`).toBe("completed");
  }
  expect(held.state).toBe("completed"); // completed on PostgreSQL after the switch
  for (const id of agents.completed) expect(after.agents.completed.has(id), `task ${id} completed in both loads`).toBe(false);

  // The box's relay publishes through its node, a leaf of the cluster's, into the cluster's stream:
  // every outbox row (the box's, PostgreSQL's copied back, the box's again) is there once, and nothing else is.
  const outbox = new Database(join(boxDir, "task-queue.db"), { readonly: true });
  await until(() => (outbox.prepare("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").get() as { n: number }).n === 0, "the box's relay to publish its outbox");
  const ids = (outbox.prepare("SELECT id FROM outbox ORDER BY id").all() as { id: number }[]).map((r) => String(r.id));
  outbox.close();
  const events = await readStream(nats.hub.url, "TASKS");
  expect(events.length).toBeGreaterThan(eventsBefore);
  expect(events.map((m) => m.msgId).sort()).toEqual(ids.sort());

  // Every acknowledged webhook, of both loads, answered exactly once.
  const answers = new Map<string, number>();
  for (const s of cloud.sent) answers.set(s.text?.body, (answers.get(s.text?.body) ?? 0) + 1);
  for (const text of [...after.webhooks.acked.values(), ...webhooks.acked.values()]) expect(answers.get(`echo: ${text}`), text).toBe(1);
  expect(cloud.sent.length).toBe(acked);
  process.stdout.write(`rollback: ${agents.acked.size} more tasks, ${webhooks.acked.size} more webhooks; ${Date.now() - t0} ms\n`);
}, 120_000);
