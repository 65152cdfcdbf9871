/**
 * The handler's I/O for the decisions whose failure paths the end-to-end suites do not reach: an
 * LLM that keeps failing (backoff, then the dead letter) and a payment link Stripe refuses. A
 * real SQLite store, the loopback LLM, Cloud API and Stripe peers, and a fixed clock.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { pino } from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startCloudApiPeer } from "../test/peers/cloudapi.js";
import { startLlmPeer } from "../test/peers/llm.js";
import { startStripePeer } from "../test/peers/stripe.js";
import { utcDay } from "./decide.js";
import { createLlmClient } from "./llm.js";
import { sharedPlacement } from "./placement.js";
import { localBucket } from "./ratelimit.js";
import { after, HISTORY_ROWS, Replier, type Context, type ReplyContext } from "./reply.js";
import { SqliteBrainStore } from "./store/index.js";
import { createStripeClient } from "./stripe.js";
import { texts } from "./templates.js";
import { createWhatsAppSender } from "./whatsapp.js";

const T = Date.UTC(2026, 10, 22, 12);
const PHONE = "447700900123";

type Peers = { cloud: Awaited<ReturnType<typeof startCloudApiPeer>>; llm: Awaited<ReturnType<typeof startLlmPeer>>; stripe: Awaited<ReturnType<typeof startStripePeer>> };
let dir: string;
let store: SqliteBrainStore;
let peers: Peers;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "brain-reply-"));
  store = new SqliteBrainStore(join(dir, "brain.db"));
  await store.migrate();
  peers = { cloud: await startCloudApiPeer(), llm: await startLlmPeer({ failFirst: 1_000 }), stripe: await startStripePeer() };
});

afterEach(async () => {
  await store.close();
  await Promise.all([peers.cloud.close(), peers.llm.close(), peers.stripe.close()]);
  rmSync(dir, { recursive: true, force: true });
});

function replier(over: Partial<ReplyContext> = {}): Replier {
  const registry = new Registry();
  return new Replier({
    store,
    llm: createLlmClient({ baseUrl: peers.llm.url, retries: 0, backoffMs: 1 }),
    sender: createWhatsAppSender({ apiBase: peers.cloud.url, version: "v23.0", phoneNumberId: "1098765432", accessToken: peers.cloud.accessToken, limiter: localBucket(1000, 100), backoffMs: 1, maxRetries: 0 }),
    stripe: createStripeClient({ secretKey: "sk_test_reply", host: peers.stripe.host, port: peers.stripe.port, protocol: "http", maxNetworkRetries: 0 }),
    placement: sharedPlacement(),
    now: () => T,
    log: pino({ level: "silent" }),
    metrics: {
      replies: new Counter({ name: "r", help: "r", labelNames: ["kind"] as const, registers: [registry] }),
      sendFailures: new Counter({ name: "s", help: "s", labelNames: ["reason"] as const, registers: [registry] }),
      llmLatency: new Histogram({ name: "l", help: "l", labelNames: ["model", "outcome"] as const, registers: [registry] }),
    },
    templateLanguage: "en",
    prices: { STRIPE_PRICE_PLUS: "price_plus_test" },
    retryBaseMs: 1000,
    maxAttempts: 5,
    ...over,
  });
}

async function inbound(body: string) {
  await store.storeInbound([{ waId: `wamid.${body.length}`, phone: PHONE, type: "text", body, sentAt: T }], [], [], T);
  const learner = (await store.learnerByPhone(PHONE))!;
  const [m] = await store.pendingFor(learner.id, 1);
  return { learner, m: m! };
}

function inboxState(id: number): string {
  const db = new Database(join(dir, "brain.db"), { readonly: true });
  try {
    return (db.prepare("SELECT state FROM inbox WHERE id = ?").get(id) as { state: string }).state;
  } finally {
    db.close();
  }
}

describe("Replier", () => {
  it("an LLM that keeps failing: retried with exponential backoff, then dead-lettered and settled failed, nothing sent", async () => {
    const r = replier();
    const { learner, m } = await inbound("What is a noun?");
    const retries: unknown[] = [];
    for (let i = 0; i < 4; i++) retries.push(await r.handle(learner, m));
    expect(retries).toEqual([{ retryAt: T + 1000 }, { retryAt: T + 2000 }, { retryAt: T + 4000 }, { retryAt: T + 8000 }]);
    expect(await store.deadLetters(10)).toEqual([]);
    expect(inboxState(m.id)).toBe("pending");

    expect(await r.handle(learner, m)).toEqual({ learner, context: { day: utcDay(T), history: [], usage: { messages: 0, tokens: 0, costUsd: 0 } } });
    const [dead] = await store.deadLetters(10);
    expect(dead).toMatchObject({ source: "worker", at: T, payload: JSON.stringify({ waId: m.waId, learnerId: learner.id }) });
    expect(dead!.reason).toMatch(/^LLM failed 5 times: /);
    expect(inboxState(m.id)).toBe("failed");
    expect(await store.pendingFor(learner.id, 10)).toEqual([]);
    expect(await store.outboundByKey(`reply:${m.waId}`)).toBeUndefined();
    // Each round asks the plan's model, then its fallback (retries: 0).
    expect(peers.llm.requests.map((q) => q.model)).toEqual(Array.from({ length: 5 }, () => ["local/llama-3.1-8b-instruct", "meta-llama/llama-3.1-8b-instruct"]).flat());
    expect(peers.cloud.sent).toEqual([]);
  });

  it("the retry delay doubles per failed attempt up to 5 minutes", async () => {
    const r = replier({ maxAttempts: 100 });
    const { learner, m } = await inbound("What is a verb?");
    const delays: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await r.handle(learner, m);
      if (!("retryAt" in res)) throw new Error("expected a retry");
      delays.push(res.retryAt - T);
    }
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map((s) => s * 1000));
  });

  it("a payment link Stripe refuses: the notice goes out without a link and the notice day is recorded", async () => {
    const r = replier({ prices: { STRIPE_PRICE_PLUS: "not_a_price" } });
    const { learner, m } = await inbound("one more question");
    await store.recordReply({
      learnerId: learner.id,
      usage: { learnerId: learner.id, day: utcDay(T), model: "local/llama-3.1-8b-instruct", messages: 30, promptTokens: 1, completionTokens: 1, costUsd: 0 },
      outbound: { key: "seed", payload: "{}", at: T },
    });
    const res = await r.handle(learner, m);
    expect(res).toMatchObject({ learner: { ...learner, quotaNoticeDay: utcDay(T) }, released: false });
    expect(peers.stripe.requests.filter((q) => q.path === "/v1/payment_links")).toHaveLength(1);
    expect(peers.cloud.sent.map((s) => s.text?.body)).toEqual([texts.overQuota()]);
    expect((await store.learnerByPhone(PHONE))!.quotaNoticeDay).toBe(utcDay(T));
    expect(inboxState(m.id)).toBe("done");
    expect(peers.llm.requests).toEqual([]);
  });

  it("carries history and usage from message to message: what it carries is what the store would read, and the store is not read again", async () => {
    const llm = await startLlmPeer();
    try {
      const r = replier({ llm: createLlmClient({ baseUrl: llm.url, retries: 0, backoffMs: 1 }) });
      const bodies = ["first question", "second question!", "third question!!"];
      await store.storeInbound(bodies.map((body, i) => ({ waId: `wamid.c${i}`, phone: PHONE, type: "text", body, sentAt: T })), [], [], T);
      let learner = (await store.learnerByPhone(PHONE))!;
      const pending = await store.pendingFor(learner.id, 10);
      const reads = { history: 0, usage: 0 };
      const history = store.history.bind(store);
      const usageTotals = store.usageTotals.bind(store);
      store.history = (...a) => (reads.history++, history(...a));
      store.usageTotals = (...a) => (reads.usage++, usageTotals(...a));
      let context: Context | undefined;
      for (const m of pending) {
        const res = await r.handle(learner, m, context);
        if ("retryAt" in res) throw new Error("expected a reply");
        ({ learner, context } = res);
        store.history = history;
        store.usageTotals = usageTotals;
        expect(context).toEqual({ day: utcDay(T), history: await history(learner.id, HISTORY_ROWS), usage: await usageTotals(learner.id, utcDay(T)) });
        store.history = (...a) => (reads.history++, history(...a));
        store.usageTotals = (...a) => (reads.usage++, usageTotals(...a));
      }
      // Read once, for the first message (no claim context was passed in).
      expect(reads).toEqual({ history: 1, usage: 1 });
      expect(context!.history.map((h) => h.role)).toEqual(["user", "assistant", "user", "assistant", "user", "assistant"]);
      expect(context!.usage.messages).toBe(3);
      // The LLM saw the earlier turns: the third request holds both earlier questions.
      const third = JSON.stringify(llm.requests[2].messages);
      expect(third).toContain("first question");
      expect(third).toContain("second question!");
      expect(peers.cloud.sent).toHaveLength(3);
    } finally {
      await llm.close();
    }
  });

  it("after: keeps the last HISTORY_ROWS turns and adds only the context's day's usage", () => {
    const c: Context = { day: "2026-11-22", history: Array.from({ length: HISTORY_ROWS }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `h${i}`, at: i })), usage: { messages: 2, tokens: 10, costUsd: 0.5 } };
    const rec = { learnerId: "l", outbound: { key: "k", payload: "{}", at: 9 }, history: { user: "u", assistant: "a", at: 9 } };
    const usage = { learnerId: "l", model: "m", messages: 1, promptTokens: 3, completionTokens: 4, costUsd: 0.25 };
    const today = after(c, { ...rec, usage: { ...usage, day: "2026-11-22" } });
    expect(today.history).toHaveLength(HISTORY_ROWS);
    expect(today.history.slice(-3).map((h) => h.content)).toEqual([`h${HISTORY_ROWS - 1}`, "u", "a"]);
    expect(today.usage).toEqual({ messages: 3, tokens: 17, costUsd: 0.75 });
    expect(after(c, { ...rec, usage: { ...usage, day: "2026-11-23" } }).usage).toEqual(c.usage);
    expect(after(c, { learnerId: "l", outbound: rec.outbound })).toEqual(c);
  });
});
