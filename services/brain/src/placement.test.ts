/**
 * Placement. sharedPlacement: everyone in this process. dedicatedPlacement on the gvisor
 * runtime, driven through the Replier (the worker's one-message path) with a real SQLite store,
 * the loopback Cloud API and LLM peers and real runsc sandboxes: idle release and resume keep
 * the learner's files, a sandbox killed mid-answer is replaced and the message answered once,
 * and a learner who leaves the dedicated plan is answered shared, with their history.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startCloudApiPeer } from "../test/peers/cloudapi.js";
import { startLlmPeer } from "../test/peers/llm.js";
import { createLlmClient, type LlmClient } from "./llm.js";
import { dedicatedPlacement, sharedPlacement, type DedicatedPlacement } from "./placement.js";
import { planIds, plans } from "./plans.js";
import { localBucket } from "./ratelimit.js";
import { Replier } from "./reply.js";
import { gvisorHarness, requireRunsc } from "./sandbox/testing.js";
import { SqliteBrainStore } from "./store/index.js";
import { createWhatsAppSender } from "./whatsapp.js";

describe("sharedPlacement", () => {
  it("places every learner in the shared process, whatever the plan", async () => {
    const p = sharedPlacement();
    for (const plan of planIds) {
      await expect(p.place({ id: `l-${plan}`, plan })).resolves.toEqual({ kind: "shared" });
    }
  });
});

const T0 = Date.UTC(2026, 10, 22, 12);
const PHONE = "447700900321";
const IDLE_MS = 60_000;

describe("dedicatedPlacement on gvisor, through the Replier", () => {
  let ok = false;
  let dir: string;
  let store: SqliteBrainStore;
  let cloud: Awaited<ReturnType<typeof startCloudApiPeer>>;
  let llmPeer: Awaited<ReturnType<typeof startLlmPeer>>;
  let sandboxes: ReturnType<typeof gvisorHarness>;
  let placement: DedicatedPlacement;
  let clock: number;
  let seq = 0;

  beforeAll(() => {
    ok = requireRunsc();
  });
  beforeEach(async (ctx) => {
    if (!ok) ctx.skip();
    dir = mkdtempSync(join(tmpdir(), "brain-placement-"));
    store = new SqliteBrainStore(join(dir, "brain.db"));
    await store.migrate();
    cloud = await startCloudApiPeer();
    llmPeer = await startLlmPeer();
    sandboxes = gvisorHarness();
    clock = T0;
  });
  afterEach(async () => {
    if (!ok) return;
    await placement?.close();
    await sandboxes.close();
    await store.close();
    await Promise.all([cloud.close(), llmPeer.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  function replier(llm: LlmClient = createLlmClient({ baseUrl: llmPeer.url, retries: 0, backoffMs: 1 })): Replier {
    placement = dedicatedPlacement({ runtime: sandboxes.runtime, llm, idleMs: IDLE_MS, sweepMs: 3_600_000, now: () => clock });
    const registry = new Registry();
    return new Replier({
      store, llm, placement, now: () => clock, log: pino({ level: "silent" }), templateLanguage: "en", prices: {}, retryBaseMs: 1000,
      sender: createWhatsAppSender({ apiBase: cloud.url, version: "v23.0", phoneNumberId: "1098765432", accessToken: cloud.accessToken, limiter: localBucket(1000, 100), backoffMs: 1, maxRetries: 0 }),
      metrics: {
        replies: new Counter({ name: "r", help: "r", labelNames: ["kind"] as const, registers: [registry] }),
        sendFailures: new Counter({ name: "s", help: "s", labelNames: ["reason"] as const, registers: [registry] }),
        llmLatency: new Histogram({ name: "l", help: "l", labelNames: ["model", "outcome"] as const, registers: [registry] }),
      },
    });
  }

  /** One inbound message from the learner, answered by the Replier; the learner as stored. */
  async function say(r: Replier, body: string) {
    await store.storeInbound([{ waId: `wamid.p${++seq}`, phone: PHONE, type: "text", body, sentAt: clock }], [], [], clock);
    const learner = (await store.learnerByPhone(PHONE))!;
    const [m] = await store.pendingFor(learner.id, 1);
    const res = await r.handle(learner, m!);
    return { learner, res };
  }
  const setPlan = async (plan: string) => {
    const learner = (await store.learnerByPhone(PHONE))!;
    expect(await store.applyPlanChange({ eventId: `evt_${++seq}`, learnerId: learner.id, plan }, clock)).toBe("applied");
    return learner.id;
  };
  const journal = (learnerId: string) => {
    const f = join(sandboxes.runtime.dirOf(learnerId), "journal.jsonl");
    return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { user: string; assistant: string }) : [];
  };
  const sentBodies = () => cloud.sent.map((s) => (s as { text?: { body?: string } }).text?.body);

  it("a dedicated learner is answered by their own sandbox; released when idle; the next message resumes it with their files", async () => {
    const r = replier();
    await say(r, "hello");
    const id = await setPlan("dedicated");
    await say(r, "What is a noun?");
    const first = sandboxes.runtime.status(id)!;
    expect(first).toMatchObject({ learnerId: id, resumedEntries: 0 });
    expect(journal(id)).toEqual([{ at: expect.any(Number), user: "What is a noun?", assistant: "echo: What is a noun?", model: plans.dedicated.model }]);
    expect(llmPeer.requests.at(-1)).toMatchObject({ model: plans.dedicated.model, user: id });
    expect(sentBodies().at(-1)).toBe("echo: What is a noun?");

    clock += IDLE_MS - 1;
    await placement.sweep();
    expect(await sandboxes.held()).toEqual([first.name]);
    clock += 1;
    await placement.sweep();
    expect(sandboxes.runtime.list()).toEqual([]);
    expect(await sandboxes.held()).toEqual([]);

    await say(r, "And a verb?");
    const second = sandboxes.runtime.status(id)!;
    expect(second.name).not.toBe(first.name);
    expect(second.resumedEntries).toBe(1);
    expect(journal(id).map((e) => e.user)).toEqual(["What is a noun?", "And a verb?"]);
    // The sandbox was forwarded the worker's message list, history included.
    const msgs = (llmPeer.requests.at(-1) as { messages: { content: string }[] }).messages.map((m) => m.content);
    expect(msgs.slice(-3)).toEqual(["What is a noun?", "echo: What is a noun?", "And a verb?"]);
    expect(sentBodies().at(-1)).toBe("echo: And a verb?");
  });

  it("a sandbox killed mid-answer is replaced and the message answered exactly once", async () => {
    let crashed = 0;
    const inner = createLlmClient({ baseUrl: llmPeer.url, retries: 0, backoffMs: 1 });
    const llm: LlmClient = {
      async complete(req) {
        // The first LLM call a sandbox relays: kill that sandbox (its runsc sandbox process) first.
        if (req.model === plans.dedicated.model && crashed++ === 0) {
          await sandboxes.crash(req.user!);
          await new Promise((res) => setTimeout(res, 200));
        }
        return inner.complete(req);
      },
    };
    const r = replier(llm);
    await say(r, "hi");
    const id = await setPlan("dedicated");
    const before = cloud.sent.length;
    const { res } = await say(r, "Explain the past perfect");
    expect(res).not.toHaveProperty("retryAt");
    expect(crashed).toBe(2);
    expect(cloud.sent.length - before).toBe(1);
    expect(sentBodies().at(-1)).toBe("echo: Explain the past perfect");
    expect(journal(id).map((e) => e.user)).toEqual(["Explain the past perfect"]);
    expect(await sandboxes.held()).toEqual([sandboxes.runtime.status(id)!.name]);
    const out = await store.outboundByKey(`reply:wamid.p${seq}`);
    expect(out?.state).toBe("sent");
  });

  it("a learner who leaves the dedicated plan is released and answered shared, with their history", async () => {
    const r = replier();
    await say(r, "hi");
    const id = await setPlan("dedicated");
    await say(r, "What is an adverb?");
    expect(sandboxes.runtime.status(id)).toBeDefined();
    await setPlan("plus");
    await say(r, "Give me an example");
    expect(sandboxes.runtime.list()).toEqual([]);
    expect(await sandboxes.held()).toEqual([]);
    expect(journal(id)).toHaveLength(1); // the sandbox did not answer this one
    const last = llmPeer.requests.at(-1) as { model: string; messages: { content: string }[] };
    expect(last.model).toBe(plans.plus.model);
    expect(last.messages.map((m) => m.content).slice(-3)).toEqual(["What is an adverb?", "echo: What is an adverb?", "Give me an example"]);
    expect(sentBodies().at(-1)).toBe("echo: Give me an example");
  });
});
