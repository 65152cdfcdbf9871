import { available, freePort, REDIS_URL } from "@tierstack/common/testing";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startCloudApiPeer } from "../test/peers/cloudapi.js";
import { localBucket, redisBucket, type RateLimiter } from "./ratelimit.js";
import { createWhatsAppSender, toCloudApiBody, type WhatsAppSenderOptions } from "./whatsapp.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});
async function peer(opts: Parameters<typeof startCloudApiPeer>[0] = {}) {
  const p = await startCloudApiPeer(opts);
  closers.push(p.close);
  return p;
}
function countingLimiter(): RateLimiter & { takes: number } {
  const l = { takes: 0, take: () => { l.takes++; return Promise.resolve(); } };
  return l;
}
const sleeps: number[] = [];
const recordSleep = (ms: number) => { sleeps.push(ms); return Promise.resolve(); };
function sender(url: string, extra: Partial<WhatsAppSenderOptions> = {}) {
  return createWhatsAppSender({ apiBase: url, version: "v23.0", phoneNumberId: "106540352242922", accessToken: "test-access-token", limiter: countingLimiter(), backoffMs: 1, ...extra });
}

describe("Cloud API message bodies", () => {
  it("text and template payloads follow the Cloud API format", () => {
    expect(toCloudApiBody({ kind: "text", to: "15551234567", body: "Hi" })).toEqual({
      messaging_product: "whatsapp", recipient_type: "individual", to: "15551234567", type: "text", text: { preview_url: false, body: "Hi" },
    });
    expect(toCloudApiBody({ kind: "template", to: "15551234567", template: "payment_link", language: "en_US", params: ["Ana", "https://buy.stripe.com/x"] })).toEqual({
      messaging_product: "whatsapp", recipient_type: "individual", to: "15551234567", type: "template",
      template: { name: "payment_link", language: { code: "en_US" }, components: [{ type: "body", parameters: [{ type: "text", text: "Ana" }, { type: "text", text: "https://buy.stripe.com/x" }] }] },
    });
    expect(toCloudApiBody({ kind: "template", to: "1555", template: "hello_world", language: "en_US" })).not.toHaveProperty("template.components");
  });
});

describe("createWhatsAppSender against the loopback Cloud API peer", () => {
  it("sends a text with the bearer token to /{version}/{phone-number-id}/messages and returns the wamid", async () => {
    const p = await peer();
    const r = await sender(p.url).send({ kind: "text", to: "15551234567", body: "Welcome!" });
    expect(r.ok).toBe(true);
    expect(p.sent).toHaveLength(1);
    expect(r).toEqual({ ok: true, messageId: p.sent[0].id });
    expect(p.sent[0]).toMatchObject({ messaging_product: "whatsapp", to: "15551234567", type: "text", text: { body: "Welcome!" }, phoneNumberId: "106540352242922", version: "v23.0" });
    expect(p.received[0]).toMatchObject({ method: "POST", path: "/v23.0/106540352242922/messages", authorization: "Bearer test-access-token", status: 200 });
  });

  it("sends templates with parameters", async () => {
    const p = await peer();
    const r = await sender(p.url).send({ kind: "template", to: "15551234567", template: "opt_in", language: "en", params: ["Ana"] });
    expect(r.ok).toBe(true);
    expect(p.sent[0].template).toEqual({ name: "opt_in", language: { code: "en" }, components: [{ type: "body", parameters: [{ type: "text", text: "Ana" }] }] });
  });

  it("error 130429 (throughput) is throttling: retried with backoff until accepted", async () => {
    const p = await peer({ failFirst: 2, errorCode: 130429 });
    const limiter = countingLimiter();
    sleeps.length = 0;
    const r = await sender(p.url, { limiter, maxRetries: 3, backoffMs: 100, sleep: recordSleep }).send({ kind: "text", to: "15551234567", body: "x" });
    expect(r.ok).toBe(true);
    expect(p.received.map((q) => q.status)).toEqual([400, 400, 200]);
    expect(p.sent).toHaveLength(1);
    expect(limiter.takes).toBe(3); // every attempt goes through the send-rate bucket
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeLessThan(100);
    expect(sleeps[1]).toBeLessThan(200);
  });

  it("HTTP 429 and 5xx are retried", async () => {
    for (const status of [429, 500, 503]) {
      const p = await peer({ failFirst: 1, status });
      const r = await sender(p.url).send({ kind: "text", to: "15551234567", body: "x" });
      expect(r.ok, `status ${status}`).toBe(true);
      expect(p.received.map((q) => q.status)).toEqual([status, 200]);
    }
  });

  it("Retry-After is honoured", async () => {
    const p = await peer({ failFirst: 1, status: 429, retryAfter: 2 });
    sleeps.length = 0;
    const r = await sender(p.url, { sleep: recordSleep }).send({ kind: "text", to: "15551234567", body: "x" });
    expect(r.ok).toBe(true);
    expect(sleeps).toEqual([2000]);
  });

  it("gives up after maxRetries and returns (not throws) the last throttling error", async () => {
    const p = await peer({ failFirst: 100, errorCode: 130429 });
    const r = await sender(p.url, { maxRetries: 2 }).send({ kind: "text", to: "15551234567", body: "x" });
    expect(r).toMatchObject({ ok: false, retryable: true, status: 400, code: 130429, attempts: 3 });
    expect(p.received).toHaveLength(3);
    expect(p.sent).toHaveLength(0);
  });

  it("a validation error (code 100) is final at once", async () => {
    const p = await peer();
    const r = await sender(p.url, { maxRetries: 5 }).send({ kind: "text", to: "not-a-number", body: "x" });
    expect(r).toMatchObject({ ok: false, retryable: false, status: 400, code: 100, attempts: 1 });
    expect(p.received).toHaveLength(1);
  });

  it("a bad access token (190) is final at once", async () => {
    const p = await peer({ accessToken: "the-real-one" });
    const r = await sender(p.url, { maxRetries: 5 }).send({ kind: "text", to: "15551234567", body: "x" });
    expect(r).toMatchObject({ ok: false, retryable: false, status: 401, code: 190 });
    expect(p.received).toHaveLength(1);
  });

  it("connection refused (never sent) is retried, then reported retryable and not ambiguous", async () => {
    const port = await freePort();
    const limiter = countingLimiter();
    const r = await sender(`http://127.0.0.1:${port}`, { limiter, maxRetries: 2 }).send({ kind: "text", to: "15551234567", body: "x" });
    expect(r).toMatchObject({ ok: false, retryable: true, status: 0, attempts: 3 });
    expect(r.ok === false && r.ambiguous).toBeFalsy();
    expect(limiter.takes).toBe(3);
  });

  it("a timeout (request may have reached Meta) is not retried and is flagged ambiguous", async () => {
    let hits = 0;
    const hang = createServer(() => { hits++; /* never answers */ });
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", () => r()));
    closers.push(() => new Promise<void>((r) => { hang.closeAllConnections(); hang.close(() => r()); }));
    const r = await sender(`http://127.0.0.1:${(hang.address() as AddressInfo).port}`, { timeoutMs: 150, maxRetries: 3 }).send({ kind: "text", to: "15551234567", body: "x" });
    expect(r).toMatchObject({ ok: false, retryable: true, ambiguous: true, status: 0, attempts: 1 });
    expect(hits).toBe(1);
  });

  it("a failing limiter (e.g. Redis down) is a retryable failure, not an exception, and nothing is sent", async () => {
    const p = await peer();
    const r = await sender(p.url, { limiter: { take: () => Promise.reject(new Error("ECONNREFUSED 6379")) }, maxRetries: 1 }).send({ kind: "text", to: "15551234567", body: "x" });
    expect(r).toMatchObject({ ok: false, retryable: true, status: 0 });
    expect(r.ok === false && r.error).toMatch(/rate limiter failed/);
    expect(p.received).toHaveLength(0);
  });

  it("a shared bucket paces concurrent sends at the configured rate", async () => {
    const p = await peer();
    const s = sender(p.url, { limiter: localBucket(100, 1) });
    const start = performance.now();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => s.send({ kind: "text", to: "15551234567", body: `m${i}` })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(performance.now() - start).toBeGreaterThanOrEqual((19 / 100) * 1000 - 2);
    const at = p.received.map((q) => q.at);
    expect(new Set(p.sent.map((m) => m.text.body)).size).toBe(20);
    expect(at).toHaveLength(20);
  });
});

const redisUp = await available("redis", REDIS_URL);

describe.skipIf(!redisUp)("two senders (two replicas) sharing one Redis send-rate bucket", () => {
  it("the Cloud API sees the combined rate, not twice it", async () => {
    const p = await peer();
    const r1 = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const r2 = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const key = `tierstack:test:sendrate:${randomUUID()}`;
    try {
      const rate = 40;
      const a = sender(p.url, { limiter: redisBucket(r1, key, rate, 1) });
      const b = sender(p.url, { limiter: redisBucket(r2, key, rate, 1) });
      const send = (s: typeof a, i: number) => s.send({ kind: "text", to: "15551234567", body: `m${i}` });
      const start = performance.now();
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => send(i % 2 ? a : b, i)));
      const elapsed = performance.now() - start;
      expect(results.every((r) => r.ok)).toBe(true);
      expect(p.sent).toHaveLength(24);
      // 24 sends at a combined 40/s need ≥ 23 intervals (575 ms); separate buckets would need half
      expect(elapsed).toBeGreaterThanOrEqual((23 / rate) * 1000 - 5);
    } finally {
      await r1.del(key);
      r1.disconnect();
      r2.disconnect();
    }
  });
});
