import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signPayload } from "../src/webhook.js";
import { APP_SECRET, notification, startHarness, until, type Harness } from "./harness.js";

/**
 * Property: whatever arrives at POST /webhooks/whatsapp — malformed bytes, arbitrary JSON,
 * notification-shaped documents with hostile or unknown-type contents, oversized bodies — the
 * answer is never a 5xx, the process keeps serving, and nothing is ever sent to a learner.
 * More than half of the payloads are validly signed so they get past the signature check and
 * into the parser.
 */

const junk = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }));
const validPhone = fc.stringMatching(/^[1-9]\d{9,13}$/);
/**
 * Types the brain never answers: not in the Cloud API's documented list (every documented type
 * has an answer, most of them a notice: test/inbound.test.ts), plus reaction (ignored) and system
 * (dead letter), and names that would find something on a plain object's prototype.
 */
const unknownTypes = fc.constantFrom("reaction", "system", "poll", "hologram", "__proto__", "constructor", "toString", "hasOwnProperty", "TEXT", "Image", "");

/** A message the brain must never answer: unknown type, or a text message with a broken sender or body. */
const unanswerableMessage = fc.oneof(
  fc.record({ from: fc.oneof(validPhone, junk), id: fc.oneof(fc.string({ minLength: 1 }), junk), timestamp: fc.oneof(fc.string(), junk), type: unknownTypes, text: fc.oneof(fc.record({ body: fc.string() }), junk) }, { requiredKeys: ["type"] }),
  fc.record({ from: junk.filter((f) => typeof f !== "string" || !/^\d{6,15}$/.test(f)), id: fc.string({ minLength: 1 }), type: fc.constant("text"), text: fc.record({ body: fc.string({ minLength: 1 }) }) }),
  fc.record({
    from: validPhone, id: fc.string({ minLength: 1, maxLength: 40 }), type: fc.constant("text"),
    text: junk.filter((t) => !(typeof t === "object" && t !== null && !Array.isArray(t) && typeof (t as Record<string, unknown>).body === "string" && ((t as Record<string, unknown>).body as string).length > 0)),
  }),
  fc.jsonValue({ maxDepth: 2 }),
);

const hostile = fc.constantFrom(
  "[".repeat(20_000) + "]".repeat(20_000),
  '{"__proto__":{"polluted":true},"object":"whatsapp_business_account","entry":[{"__proto__":{"changes":[1]}}]}',
  '{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":{"length":1e9}}}]}]}',
  '{"object":"whatsapp_business_account","entry":"x".repeat}',
  "\u0000\u0001\u0002",
  '{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"x","status":"read","recipient_id":"1e400","timestamp":"99999999999999999999"}]}}]}]}',
  JSON.stringify({ object: "whatsapp_business_account", entry: [{ changes: [{ field: "messages", value: { messages: [{ from: "447700900000", id: "x".repeat(10_000), type: "text", text: { body: "hi" } }] } }] }] }),
  JSON.stringify({ object: "whatsapp_business_account", entry: [{ changes: [{ field: "messages", value: { messages: [{ from: "447700900000", id: "wamid.long", type: "text", text: { body: "x".repeat(5000) } }] } }] }] }),
);

const body = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null") },
  { weight: 4, arbitrary: fc.array(unanswerableMessage, { maxLength: 4 }).map((messages) => JSON.stringify(notification({ messages }))) },
  { weight: 2, arbitrary: fc.record({ object: fc.oneof(fc.constant("whatsapp_business_account"), junk), entry: fc.oneof(junk, fc.array(fc.record({ changes: fc.oneof(junk, fc.array(fc.record({ field: fc.oneof(fc.constant("messages"), fc.string()), value: junk }))) }))) }).map((d) => JSON.stringify(d)) },
  { weight: 1, arbitrary: hostile },
);

const signing = fc.oneof(
  { weight: 3, arbitrary: fc.constant<"valid">("valid") },
  { weight: 1, arbitrary: fc.constantFrom<"none" | "wrong" | "garbage">("none", "wrong", "garbage") },
);
const contentType = fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream", "multipart/form-data; boundary=x", undefined);

describe("WhatsApp webhook under arbitrary input", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ db: "sqlite" });
  });
  afterAll(async () => h?.close());

  it("never answers 5xx, never crashes, never replies", async () => {
    let signed = 0;
    let total = 0;
    await fc.assert(
      fc.asyncProperty(body, signing, contentType, async (payload, how, ct) => {
        const raw = typeof payload === "string" ? Buffer.from(payload) : payload;
        const headers: Record<string, string> = {};
        if (ct) headers["content-type"] = ct;
        if (how === "valid") headers["x-hub-signature-256"] = signPayload(raw, APP_SECRET);
        if (how === "wrong") headers["x-hub-signature-256"] = signPayload(raw, "not-the-secret");
        if (how === "garbage") headers["x-hub-signature-256"] = "sha256=" + "g".repeat(64);
        const res = await h.brain.app.inject({ method: "POST", url: "/webhooks/whatsapp", headers, payload: raw });
        total++;
        if (how === "valid") signed++;
        expect(res.statusCode).toBeLessThan(500);
        expect(res.statusCode).toBe(how === "valid" ? 200 : 401);
      }),
      { numRuns: 400 },
    );
    expect(signed / total).toBeGreaterThan(0.5);
    await until(async () => (await h.store.backlog()) === 0, "inbox drained");
    await new Promise((r) => setTimeout(r, 300));
    expect(h.cloud.received).toHaveLength(0);
    expect(h.llm.requests).toHaveLength(0);
    expect((await h.brain.app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    expect((await h.store.deadLetters(1)).length).toBe(1);
  });

  it("an oversized body is refused with 413, signed or not, and the service keeps serving", async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x61);
    for (const sig of [signPayload(big, APP_SECRET), undefined]) {
      const res = await h.brain.app.inject({ method: "POST", url: "/webhooks/whatsapp", headers: { "content-type": "application/json", ...(sig ? { "x-hub-signature-256": sig } : {}) }, payload: big });
      expect(res.statusCode).toBe(413);
    }
    expect((await h.brain.app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    expect(h.cloud.received).toHaveLength(0);
  });
});
