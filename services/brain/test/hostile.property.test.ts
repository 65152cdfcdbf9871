/**
 * Property, per HTTP API of the brain, on both stores at once: generated hostile requests — deep
 * nesting, NUL and lone surrogates, huge and non-finite numbers, unknown fields, wrong types,
 * oversized bodies, repeated and missing headers — never answer a 5xx, never crash the process,
 * answer only what the README's error table documents for the route, and get the same answer
 * from the SQLite brain and the PostgreSQL brain; after each API's run both stores hold the same
 * rows. Workers are off and the clock is fixed, so both brains see exactly the same inputs.
 */
import { readFileSync } from "node:fs";
import Stripe from "stripe";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signPayload } from "../src/webhook.js";
import { ADMIN_TOKEN, APP_SECRET, STRIPE_WEBHOOK_SECRET, VERIFY_TOKEN, notification, startHarness, type Harness } from "./harness.js";

const T = Date.UTC(2026, 10, 22, 12);
const RUNS = Number(process.env.BRAIN_PROPERTY_RUNS ?? 120);
/** A failure's seed (and path), to run that case again: BRAIN_PROPERTY_SEED=… BRAIN_PROPERTY_PATH=… */
const REPLAY = process.env.BRAIN_PROPERTY_SEED ? { seed: Number(process.env.BRAIN_PROPERTY_SEED), ...(process.env.BRAIN_PROPERTY_PATH ? { path: process.env.BRAIN_PROPERTY_PATH } : {}) } : {};
const signer = new Stripe("sk_test_signer");

// ---------------------------------------------------------------- the README's error table

/** `route → statuses` from the "Errors" table of services/brain/README.md. */
function documentedStatuses(): Map<string, Set<number>> {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const section = readme.split("\n### Errors\n")[1]?.split("\n## ")[0] ?? "";
  const table = new Map<string, Set<number>>();
  for (const m of section.matchAll(/^\| `([^`]+)` \| (\d{3}) \|/gm)) {
    const set = table.get(m[1]!) ?? new Set<number>();
    set.add(Number(m[2]));
    table.set(m[1]!, set);
  }
  return table;
}
const DOCUMENTED = documentedStatuses();

// ---------------------------------------------------------------- hostile values

const PHONES = ["447700900301", "447700900302", "447700900303", "15550000001"];
const nastyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 2, arbitrary: fc.constantFrom("\u0000", "a\u0000b", "\ud800", "\udc00x", "\ud83d", "\u{1F600}", "\u0010", "\u00100", "\u0010d800", "", " ", "STOP", "start", "__proto__", "constructor", "toString", "x".repeat(5000), "<script>", "%00", "\\u0000", "1e400") },
);
/** Numbers JSON.stringify cannot write (1e400 parses to Infinity) travel as a marker replaced in the text. */
const NUM = "\u0001num:";
const hugeNumber = fc.constantFrom("1e400", "-1e400", "1e-400", "123456789012345678901234567890", "-0", "0.1e99999", "9007199254740993").map((n) => `${NUM}${n}\u0001`);
const nastyNumber = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -1, 0, 1e308));
const leaf = fc.oneof(nastyString, nastyNumber, hugeNumber, fc.boolean(), fc.constant(null));
const junk = fc.oneof(leaf, fc.array(leaf, { maxLength: 3 }), fc.dictionary(nastyString, leaf, { maxKeys: 3 }));
/** Unknown fields to add to any object. */
const extras = fc.dictionary(fc.oneof(nastyString, fc.constantFrom("__proto__", "constructor", "extra")), junk, { maxKeys: 3 });

/** JSON text of `v`, with the number markers written as the numbers themselves. */
function jsonText(v: unknown): string {
  return (JSON.stringify(v) ?? "null").replace(/"\\u0001num:([^"\\]*)\\u0001"/g, "$1");
}
const deep = fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom("[", '{"a":')).map(([d, open]) => open.repeat(d) + (open === "[" ? "1" + "]".repeat(d) : "1" + "}".repeat(d)));
const OVERSIZED = "x".repeat(1024 * 1024 + 1);

// ---------------------------------------------------------------- requests

interface Req {
  /** The README's name of the route: "POST /signup", "GET /admin/learners/:idOrPhone". */
  route: string;
  method: "GET" | "POST" | "DELETE";
  url: string;
  headers: Record<string, string | string[]>;
  payload?: string;
}

const contentType = fc.constantFrom<string | string[] | undefined>("application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream", "multipart/form-data; boundary=x", "", ["application/json", "text/plain"], undefined);
const withCt = (headers: Record<string, string | string[]>, ct: string | string[] | undefined) => (ct === undefined ? headers : { ...headers, "content-type": ct });

// WhatsApp Cloud API webhook

const messageTypes = fc.constantFrom("text", "image", "video", "document", "audio", "sticker", "location", "contacts", "interactive", "button", "reaction", "order", "system", "request_welcome", "unsupported", "unknown", "poll", "__proto__", "TEXT", "");
const message = fc.record({
  from: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PHONES) }, { weight: 1, arbitrary: junk }),
  id: fc.oneof({ weight: 4, arbitrary: nastyString.map((s) => `wamid.${s}`) }, { weight: 1, arbitrary: junk }),
  timestamp: fc.oneof(fc.constant("1790000000"), hugeNumber, junk),
  type: fc.oneof({ weight: 5, arbitrary: messageTypes }, { weight: 1, arbitrary: junk }),
  text: fc.oneof({ weight: 3, arbitrary: fc.record({ body: nastyString }) }, { weight: 1, arbitrary: junk }),
  image: fc.oneof(fc.record({ id: nastyString, caption: fc.oneof(nastyString, junk) }, { requiredKeys: [] }), junk),
  video: fc.record({ caption: nastyString }, { requiredKeys: [] }),
  document: fc.record({ caption: nastyString, filename: nastyString }, { requiredKeys: [] }),
  interactive: fc.oneof(
    fc.record({ type: fc.constantFrom("button_reply", "list_reply", "nfm_reply"), button_reply: fc.record({ id: nastyString, title: fc.oneof(nastyString, junk) }), list_reply: fc.record({ title: nastyString }) }, { requiredKeys: ["type"] }),
    junk,
  ),
  button: fc.record({ text: fc.oneof(nastyString, junk), payload: nastyString }, { requiredKeys: [] }),
  reaction: fc.record({ message_id: nastyString, emoji: nastyString }, { requiredKeys: [] }),
  order: fc.record({ text: nastyString, product_items: junk }, { requiredKeys: [] }),
  system: fc.record({ type: nastyString, body: nastyString }, { requiredKeys: [] }),
}, { requiredKeys: ["type"] }).chain((m) => extras.map((x) => ({ ...x, ...m })));
const status = fc.record({
  id: nastyString, status: fc.oneof(fc.constantFrom("sent", "delivered", "read", "failed"), nastyString), recipient_id: fc.oneof(fc.constantFrom(...PHONES), nastyString),
  timestamp: fc.oneof(fc.constant("1790000000"), hugeNumber, junk), errors: fc.oneof(fc.array(fc.record({ code: junk, title: nastyString }), { maxLength: 2 }), junk),
}, { requiredKeys: [] });
const whatsappBody = fc.oneof(
  { weight: 6, arbitrary: fc.record({ messages: fc.oneof(fc.array(message, { maxLength: 4 }), junk), statuses: fc.oneof(fc.array(status, { maxLength: 2 }), junk) }, { requiredKeys: [] }).chain((value) => extras.map((x) => jsonText({ ...notification({ ...x, ...value }) }))) },
  { weight: 1, arbitrary: fc.record({ object: fc.oneof(fc.constant("whatsapp_business_account"), junk), entry: junk }).map(jsonText) },
  { weight: 1, arbitrary: junk.map(jsonText) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString("latin1")) },
  { weight: 1, arbitrary: deep.map((d) => jsonText(notification({ messages: [{ from: PHONES[0], id: "wamid.deep", type: "text", text: { body: "x" } }] })).replace('"x"', d)) },
);
const whatsappSigning = fc.constantFrom("valid", "valid", "valid", "none", "wrong", "repeated", "garbage");
const whatsappPost = fc.tuple(fc.oneof({ weight: 30, arbitrary: whatsappBody }, { weight: 1, arbitrary: fc.constant(OVERSIZED) }), whatsappSigning, contentType).map(([payload, how, ct]): Req => {
  const sig = signPayload(payload, APP_SECRET);
  const headers: Record<string, string | string[]> = {};
  if (how === "valid") headers["x-hub-signature-256"] = sig;
  if (how === "wrong") headers["x-hub-signature-256"] = signPayload(payload, "not-the-secret");
  if (how === "repeated") headers["x-hub-signature-256"] = [sig, sig];
  if (how === "garbage") headers["x-hub-signature-256"] = "sha256=" + "g".repeat(64);
  return { route: "POST /webhooks/whatsapp", method: "POST", url: "/webhooks/whatsapp", headers: withCt(headers, ct), payload };
});

/** Percent-encoding as UTF-8, a lone surrogate as the invalid bytes it would be (ED A0 80). */
function pct(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) out += "%ED%A0%80";
    else if (/^[A-Za-z0-9._~-]$/.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, "utf8")) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
const qs = (pairs: [string, string][]) => pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join("&");
const queryValue = fc.oneof(nastyString, fc.constantFrom("1", "100", "1000", "1001", "0", "-1", "1e400", "99999999999999999999", "1.5", "05", "+5", ""));
const whatsappVerify = fc.tuple(
  fc.array(fc.tuple(fc.oneof(fc.constantFrom("hub.mode", "hub.verify_token", "hub.challenge", "limit", "__proto__"), nastyString), fc.oneof(fc.constantFrom("subscribe", VERIFY_TOKEN, "12345"), queryValue)), { maxLength: 5 }),
  fc.boolean(),
).map(([pairs, good]): Req => {
  const all: [string, string][] = good ? [["hub.mode", "subscribe"], ["hub.verify_token", VERIFY_TOKEN], ["hub.challenge", "42"], ...pairs] : pairs;
  return { route: "GET /webhooks/whatsapp", method: "GET", url: `/webhooks/whatsapp?${qs(all)}`, headers: {} };
});

// Stripe

const stripeBody = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      id: fc.oneof({ weight: 3, arbitrary: nastyString.map((s) => `evt_${s}`) }, { weight: 1, arbitrary: junk }),
      object: fc.oneof(fc.constant("event"), junk),
      type: fc.oneof(fc.constantFrom("checkout.session.completed", "customer.subscription.updated", "customer.subscription.deleted", "invoice.payment_failed", "customer.created"), junk),
      data: fc.oneof(fc.record({ object: fc.record({ client_reference_id: fc.oneof(nastyString, junk), customer: fc.oneof(nastyString, junk), subscription: junk, status: fc.oneof(fc.constantFrom("active", "canceled", "past_due"), junk), payment_status: fc.oneof(fc.constantFrom("paid", "unpaid"), junk), metadata: fc.oneof(fc.record({ learnerId: nastyString, plan: fc.oneof(fc.constantFrom("plus", "dedicated", "free"), junk) }, { requiredKeys: [] }), junk), id: nastyString }, { requiredKeys: [] }) }), junk),
      created: fc.oneof(fc.constant(1790000000), hugeNumber),
    }, { requiredKeys: [] }).chain((e) => extras.map((x) => jsonText({ ...x, ...e }))),
  },
  { weight: 1, arbitrary: junk.map(jsonText) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: nastyString },
);
const stripePost = fc.tuple(fc.oneof({ weight: 30, arbitrary: stripeBody }, { weight: 1, arbitrary: fc.constant(OVERSIZED) }), fc.constantFrom("valid", "valid", "valid", "none", "wrong", "repeated", "stale"), contentType).map(([payload, how, ct]): Req => {
  const sig = signer.webhooks.generateTestHeaderString({ payload, secret: STRIPE_WEBHOOK_SECRET, timestamp: Math.floor(Date.now() / 1000) });
  const headers: Record<string, string | string[]> = {};
  if (how === "valid") headers["stripe-signature"] = sig;
  if (how === "wrong") headers["stripe-signature"] = signer.webhooks.generateTestHeaderString({ payload, secret: "whsec_other" });
  if (how === "repeated") headers["stripe-signature"] = [sig, sig];
  if (how === "stale") headers["stripe-signature"] = signer.webhooks.generateTestHeaderString({ payload, secret: STRIPE_WEBHOOK_SECRET, timestamp: 1_000_000 });
  return { route: "POST /webhooks/stripe", method: "POST", url: "/webhooks/stripe", headers: withCt(headers, ct), payload };
});

// Sign-up

const phoneValue = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PHONES.map((p) => `+${p}`), "+44 7700 900304", "0044 7700 900305") }, { weight: 2, arbitrary: nastyString }, { weight: 1, arbitrary: junk });
const signupJson = fc.record({ phone: phoneValue, consent: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: junk }) }, { requiredKeys: [] })
  .chain((b) => fc.oneof({ weight: 3, arbitrary: fc.constant(b) }, { weight: 1, arbitrary: extras.map((x) => ({ ...x, ...b })) }))
  .map(jsonText);
const signupForm = fc.array(fc.tuple(fc.oneof(fc.constantFrom("phone", "consent", "extra"), nastyString), fc.oneof(fc.constantFrom(`+${PHONES[1]}`, "yes", "on", "true"), nastyString)), { maxLength: 4 })
  .map(qs);
const signupPost = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(signupJson, fc.constantFrom<string | string[] | undefined>("application/json", "application/json; charset=utf-8")).map(([p, ct]) => [p, ct] as const) },
  { weight: 2, arbitrary: signupForm.map((p) => [p, "application/x-www-form-urlencoded"] as const) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(deep, junk.map(jsonText), fc.constant("x".repeat(9000)), fc.constant(OVERSIZED)), contentType).map(([p, ct]) => [p, ct] as const) },
).chain(([payload, ct]) => fc.constantFrom<Record<string, string>>({}, { accept: "text/html" }).map((accept): Req => ({ route: "POST /signup", method: "POST", url: "/signup", headers: withCt(accept, ct), payload })));
const signupGet = fc.array(fc.tuple(nastyString, queryValue), { maxLength: 3 }).map((pairs): Req => ({ route: "GET /signup", method: "GET", url: `/signup${pairs.length ? `?${qs(pairs)}` : ""}`, headers: {} }));

// Admin

const ADMIN_ROUTES = [
  ["GET", "/admin/learners/:idOrPhone", ""], ["GET", "/admin/learners/:idOrPhone/usage", "/usage"], ["GET", "/admin/learners/:idOrPhone/outbound", "/outbound"],
  ["DELETE", "/admin/learners/:idOrPhone", ""], ["GET", "/admin/dead-letters", null], ["GET", "/admin/send-failures", null],
  ["GET", "/admin/workers", null], ["POST", "/admin/workers/hold", null], ["POST", "/admin/workers/resume", null],
] as const;
/** A learner's id or phone as it appears in the path: percent-encoded, or raw bytes that are not valid encodings. */
const pathSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PHONES, ...PHONES.map((p) => `%2B${p}`)) },
  { weight: 2, arbitrary: nastyString.map(pct) },
  { weight: 1, arbitrary: fc.constantFrom("%00", "%ED%A0%80", "%", "%zz", "x".repeat(150), "..", "%2F", "") },
);
const authorization = fc.constantFrom<string | string[] | undefined>(`Bearer ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}`, undefined, "Bearer wrong-token-wrong-token", [`Bearer ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}`], ADMIN_TOKEN, `bearer ${ADMIN_TOKEN}`);
const adminReq = fc.tuple(
  fc.constantFrom(...ADMIN_ROUTES), pathSegment,
  fc.array(fc.tuple(fc.oneof(fc.constantFrom("limit", "extra", "__proto__"), nastyString), queryValue), { maxLength: 3 }),
  authorization,
  fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(fc.oneof(junk.map(jsonText), deep, fc.constant("x".repeat(2000))), contentType) }),
).map(([[method, route, suffix], seg, pairs, auth, body]): Req => {
  const path = suffix === null ? route : `/admin/learners/${seg}${suffix}`;
  const headers: Record<string, string | string[]> = auth === undefined ? {} : { authorization: auth };
  return { route: `${method} ${route}`, method, url: `${path}${pairs.length ? `?${qs(pairs)}` : ""}`, headers: body ? withCt(headers, body[1]) : headers, ...(body ? { payload: body[0] } : {}) };
});
const kitReq = fc.tuple(fc.constantFrom("/healthz", "/readyz", "/metrics"), fc.array(fc.tuple(nastyString, queryValue), { maxLength: 2 })).map(([path, pairs]): Req => ({ route: `GET ${path}`, method: "GET", url: `${path}${pairs.length ? `?${qs(pairs)}` : ""}`, headers: {} }));

// ---------------------------------------------------------------- the run

/** Ids chosen differently per brain (UUIDs, serial ids after a skipped sequence value, each Cloud API peer's message ids) are masked; everything else must match. */
const normalize = (body: string) => body
  .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
  .replace(/"id":\d+/g, '"id":0')
  .replace(/"waMessageId":"[^"]*"/g, '"waMessageId":"<peer\'s id>"');

describe("every HTTP API of the brain under hostile input, SQLite and PostgreSQL side by side", () => {
  let sqlite: Harness;
  let postgres: Harness;
  const seen = new Map<string, Set<number>>();
  beforeAll(async () => {
    [sqlite, postgres] = await Promise.all([startHarness({ db: "sqlite", workers: false }), startHarness({ db: "postgres", workers: false })]);
    sqlite.clock.now = T;
    postgres.clock.now = T;
  });
  afterAll(async () => {
    await Promise.all([sqlite?.close(), postgres?.close()]);
  });

  async function both(req: Req): Promise<void> {
    const send = (h: Harness) => h.brain.app.inject({ method: req.method, url: req.url, headers: req.headers, ...(req.payload !== undefined ? { payload: req.payload } : {}) });
    const [a, b] = [await send(sqlite), await send(postgres)];
    const documented = DOCUMENTED.get(req.route);
    expect(documented, `${req.route} is in the README's error table`).toBeDefined();
    expect(a.statusCode, `${req.route} answered ${a.statusCode}: ${a.body.slice(0, 200)}`).toBeLessThan(500);
    expect(documented!.has(a.statusCode) || (DOCUMENTED.get("any route")?.has(a.statusCode) ?? false), `${req.route} answered ${a.statusCode}, not in the README: ${a.body.slice(0, 200)}`).toBe(true);
    expect({ status: b.statusCode, body: req.route === "GET /metrics" ? "" : normalize(b.body) }).toEqual({ status: a.statusCode, body: req.route === "GET /metrics" ? "" : normalize(a.body) });
    const s = seen.get(req.route) ?? new Set<number>();
    s.add(a.statusCode);
    seen.set(req.route, s);
  }

  /** Both stores hold the same rows: dead letters, pending messages, learners (ids masked). */
  async function sameState(): Promise<void> {
    const view = async (h: Harness) => {
      const dead = (await h.store.deadLetters(100_000)).map((d) => ({ ...d, id: 0 }));
      const learners = [];
      for (const p of [...PHONES, "447700900304", "447700900305"]) {
        const l = await h.store.learnerByPhone(p);
        if (!l) continue;
        learners.push({ ...l, id: "", pending: (await h.store.pendingFor(l.id, 10_000)).map((m) => ({ ...m, id: 0, learnerId: "" })), outbound: (await h.store.outboundFor(l.id)).map((o) => ({ ...o, id: 0, learnerId: "", key: normalize(o.key), waMessageId: o.waMessageId === null ? null : "<peer's id>" })) });
      }
      return { dead, learners, backlog: await h.store.backlog() };
    };
    const [a, b] = await Promise.all([view(sqlite), view(postgres)]);
    expect(b).toEqual(a);
  }

  const apis: [string, fc.Arbitrary<Req>][] = [
    ["POST /webhooks/whatsapp", whatsappPost],
    ["GET /webhooks/whatsapp", whatsappVerify],
    ["POST /webhooks/stripe", stripePost],
    ["POST /signup, GET /signup", fc.oneof({ weight: 4, arbitrary: signupPost }, { weight: 1, arbitrary: signupGet })],
    ["/admin/*", adminReq],
    ["/healthz, /readyz, /metrics", kitReq],
  ];

  it.each(apis)("%s: no 5xx, only documented answers, the same on both stores", async (_name, arb) => {
    await fc.assert(fc.asyncProperty(arb, both), { numRuns: RUNS, ...REPLAY });
    await sameState();
    for (const h of [sqlite, postgres]) expect((await h.brain.app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
  });

  it("asked nothing of the LLM, and sent only sign-up templates", () => {
    for (const h of [sqlite, postgres]) {
      expect(h.llm.requests).toHaveLength(0);
      expect(h.cloud.sent.every((s) => s.type === "template" && s.template.name === "tierstack_onboarding")).toBe(true);
    }
  });

  it("every route of the README's error table was exercised", () => {
    for (const route of DOCUMENTED.keys()) if (route !== "any route") expect(seen.has(route), route).toBe(true);
  });
});
