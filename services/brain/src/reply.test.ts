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
import { Replier, type ReplyContext } from "./reply.js";
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

    expect(await r.handle(learner, m)).toEqual({ learner });
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
    expect(res).toEqual({ learner: { ...learner, quotaNoticeDay: utcDay(T) }, released: false });
    expect(peers.stripe.requests.filter((q) => q.path === "/v1/payment_links")).toHaveLength(1);
    expect(peers.cloud.sent.map((s) => s.text?.body)).toEqual([texts.overQuota()]);
    expect((await store.learnerByPhone(PHONE))!.quotaNoticeDay).toBe(utcDay(T));
    expect(inboxState(m.id)).toBe("done");
    expect(peers.llm.requests).toEqual([]);
  });
});
