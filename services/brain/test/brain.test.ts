import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, PG_URL } from "@tierstack/common/testing";
import { stripeEvent } from "./peers/stripe.js";
import {
  ADMIN_TOKEN, APP_SECRET, STRIPE_WEBHOOK_SECRET, VERIFY_TOKEN,
  startHarness, statusNotification, textNotification, notification, until, type Db, type Harness,
} from "./harness.js";
import { signPayload } from "../src/webhook.js";
import { utcDay } from "../src/worker.js";

const dbs: Db[] = ["sqlite"];
if (await available("postgres", PG_URL)) dbs.push("postgres");

const stripeSigner = new Stripe("sk_test_signer");
let phoneSeq = 0;
const newPhone = () => `4477009${String(process.pid % 1000).padStart(3, "0")}${String(++phoneSeq).padStart(2, "0")}`;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sentTo = (h: Harness, phone: string): any[] => h.cloud.sent.filter((s) => s.to === phone);

describe.each(dbs)("brain on %s", (db) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ db });
  });
  afterAll(async () => h?.close());

  const admin = (method: "GET" | "DELETE", url: string, token = ADMIN_TOKEN) =>
    h.brain.app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it("answers the verification handshake only with the right token", async () => {
    const ok = await h.brain.app.inject({ method: "GET", url: `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=12345` });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toBe("12345");
    const bad = await h.brain.app.inject({ method: "GET", url: "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=12345" });
    expect(bad.statusCode).toBe(403);
    const noMode = await h.brain.app.inject({ method: "GET", url: `/webhooks/whatsapp?hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1` });
    expect(noMode.statusCode).toBe(403);
  });

  it("refuses unsigned or wrongly signed posts with 401 before parsing anything", async () => {
    const before = (await h.store.deadLetters(1000)).length;
    const phone = newPhone();
    const payload = textNotification([{ from: phone, body: "hello" }]);
    expect((await h.deliver(payload, { sign: false })).statusCode).toBe(401);
    expect((await h.deliver(payload, { signature: signPayload(JSON.stringify(payload), "other-secret") })).statusCode).toBe(401);
    expect((await h.deliver(payload, { signature: "sha256=zz" })).statusCode).toBe(401);
    expect((await h.deliver("{not json", { sign: false })).statusCode).toBe(401);
    const tampered = JSON.stringify(payload);
    expect((await h.deliver(tampered.replace("hello", "hellO"), { signature: signPayload(tampered, APP_SECRET) })).statusCode).toBe(401);
    expect(await h.store.learnerByPhone(phone)).toBeUndefined();
    expect((await h.store.deadLetters(1000)).length).toBe(before);
  });

  it("stores, answers 200, and replies through the LLM; usage and history are recorded", async () => {
    const phone = newPhone();
    const res = await h.deliver(textNotification([{ from: phone, body: "What is a noun?" }]));
    expect(res.statusCode).toBe(200);
    await until(() => sentTo(h, phone).length === 1, "reply");
    const [reply] = sentTo(h, phone);
    expect(reply.type).toBe("text");
    expect(reply.text.body).toBe("echo: What is a noun?");
    expect(reply.messaging_product).toBe("whatsapp");
    const req = h.llm.requests.find((r) => r.messages.at(-1).content === "What is a noun?");
    expect(req.model).toBe("local/llama-3.1-8b-instruct");
    expect(req.messages[0].role).toBe("system");
    const learner = (await h.store.learnerByPhone(phone))!;
    await until(async () => (await h.store.backlog()) === 0, "inbox drained");
    const usage = await h.store.usage(learner.id);
    expect(usage).toHaveLength(1);
    expect(usage[0]!.messages).toBe(1);
    expect(usage[0]!.promptTokens).toBeGreaterThan(0);
    expect((await h.store.history(learner.id, 10)).map((x) => x.content)).toEqual(["What is a noun?", "echo: What is a noun?"]);
    const out = await h.store.outboundFor(learner.id);
    expect(out.map((o) => o.state)).toEqual(["sent"]);
    expect(out[0]!.waMessageId).toBe(reply.id);
  });

  it("a message delivered three times (also concurrently) gets exactly one reply", async () => {
    const phone = newPhone();
    const payload = textNotification([{ from: phone, body: "only once", id: `wamid.thrice.${db}.${phone}` }]);
    const results = await Promise.all([h.deliver(payload), h.deliver(payload)]);
    results.push(await h.deliver(payload));
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    await until(() => sentTo(h, phone).length >= 1, "reply");
    await until(async () => (await h.store.backlog()) === 0, "inbox drained");
    await h.deliver(payload); // a redelivery after the reply went out
    await new Promise((r) => setTimeout(r, 300));
    expect(sentTo(h, phone)).toHaveLength(1);
    expect(h.llm.requests.filter((r) => r.messages.at(-1).content === "only once")).toHaveLength(1);
  });

  it("answers one learner's messages in order while learners run in parallel", async () => {
    const phones = [newPhone(), newPhone(), newPhone()];
    for (let i = 0; i < 6; i++) {
      await Promise.all(phones.map((p) => h.deliver(textNotification([{ from: p, body: `step ${i}` }]))));
    }
    await until(() => phones.every((p) => sentTo(h, p).length === 6), "18 replies");
    for (const p of phones) expect(sentTo(h, p).map((s) => s.text.body)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `echo: step ${i}`));
  });

  it("records statuses, keeping the furthest state whatever the arrival order", async () => {
    const recipient = newPhone();
    const id = `wamid.status.${db}.${recipient}`;
    for (const [status, ts] of [["read", 300], ["sent", 100], ["delivered", 200]] as const) {
      expect((await h.deliver(statusNotification([{ id, status, recipient, timestamp: ts }]))).statusCode).toBe(200);
    }
    const s = await h.store.status(id);
    expect(s!.status).toBe("read");
    expect(s!.at).toBe(300_000);
  });

  it("keeps validly signed but unusable payloads as dead letters, answers 200, never replies", async () => {
    const phone = newPhone();
    // A message type the Cloud API does not document (every documented type has an answer: test/inbound.test.ts).
    const unknown = notification({ messages: [{ from: phone, id: `wamid.holo.${phone}`, timestamp: "1", type: "hologram", hologram: { id: "media1" } }] });
    for (const p of ["{not json", "[]", JSON.stringify({ object: "page", entry: [] }), JSON.stringify(unknown)]) {
      expect((await h.deliver(p)).statusCode).toBe(200);
    }
    const reasons = (await h.store.deadLetters(10)).map((d) => d.reason);
    expect(reasons.some((r) => r.startsWith("invalid JSON"))).toBe(true);
    expect(reasons).toContain("unknown message type: hologram");
    expect(reasons).toContain("not a whatsapp_business_account notification");
    await new Promise((r) => setTimeout(r, 200));
    expect(sentTo(h, phone)).toHaveLength(0);
    const res = await admin("GET", "/admin/dead-letters?limit=3");
    expect(res.statusCode).toBe(200);
    expect(res.json().deadLetters).toHaveLength(3);
  });

  it("STOP opts out (one confirmation, no LLM); START opts back in", async () => {
    const phone = newPhone();
    await h.deliver(textNotification([{ from: phone, body: "STOP" }]));
    await until(() => sentTo(h, phone).length === 1, "stop confirmation");
    expect(sentTo(h, phone)[0].text.body).toContain("START");
    expect((await h.store.learnerByPhone(phone))!.optedOut).toBe(true);
    await h.deliver(textNotification([{ from: phone, body: "are you there?" }]));
    await until(async () => (await h.store.backlog()) === 0, "drained");
    expect(sentTo(h, phone)).toHaveLength(1);
    expect(h.llm.requests.some((r) => r.messages.at(-1).content === "are you there?")).toBe(false);
    await h.deliver(textNotification([{ from: phone, body: "start" }]));
    await until(() => sentTo(h, phone).length === 2, "welcome back");
    expect((await h.store.learnerByPhone(phone))!.optedOut).toBe(false);
  });

  it("over quota: one polite reply with a payment link, no LLM call, then silence for the day", async () => {
    const phone = newPhone();
    const learner = await h.store.signUp(phone, Date.now());
    const day = utcDay(Date.now());
    await h.store.recordReply({
      learnerId: learner.id,
      usage: { learnerId: learner.id, day, model: "local/llama-3.1-8b-instruct", messages: 30, promptTokens: 100, completionTokens: 100, costUsd: 0 },
      outbound: { key: `seed:${phone}`, payload: "{}", at: Date.now() },
    });
    const llmBefore = h.llm.requests.length;
    const stripeBefore = h.stripe.requests.length;
    await h.deliver(textNotification([{ from: phone, body: "one more question" }]));
    await until(() => sentTo(h, phone).length === 1, "quota notice");
    const notice = sentTo(h, phone)[0];
    expect(notice.text.body).toMatch(/limit/);
    expect(notice.text.body).toContain("https://buy.stripe.com/");
    expect(notice.text.body).toContain(`client_reference_id=${learner.id}`);
    const linkReq = h.stripe.requests.slice(stripeBefore).find((r) => r.path === "/v1/payment_links");
    expect(linkReq).toBeDefined();
    expect(linkReq!.raw).toContain("price_plus_test");
    await h.deliver(textNotification([{ from: phone, body: "and another" }]));
    await until(async () => (await h.store.backlog()) === 0, "drained");
    await new Promise((r) => setTimeout(r, 100));
    expect(sentTo(h, phone)).toHaveLength(1);
    expect(h.llm.requests.slice(llmBefore).some((r) => r.messages.at(-1).content.includes("one more question") || r.messages.at(-1).content === "and another")).toBe(false);
  });

  it("outside the 24-hour window sends the re-engagement template, not free text", async () => {
    const phone = newPhone();
    const old = Math.floor((Date.now() - 25 * 3600_000) / 1000);
    await h.deliver(textNotification([{ from: phone, body: "late message", timestamp: old }]));
    await until(() => sentTo(h, phone).length === 1, "template");
    const [msg] = sentTo(h, phone);
    expect(msg.type).toBe("template");
    expect(msg.template.name).toBe("tierstack_reengagement");
    expect(h.llm.requests.some((r) => r.messages.at(-1).content === "late message")).toBe(false);
  });

  it("sign-up records consent and sends the opt-in template; bad input is a 400", async () => {
    const page = await h.brain.app.inject({ method: "GET", url: "/signup" });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('type="checkbox" name="consent"');
    const phone = newPhone();
    const res = await h.brain.app.inject({ method: "POST", url: "/signup", payload: { phone: `+${phone.slice(0, 2)} ${phone.slice(2)}`, consent: true } });
    expect(res.statusCode).toBe(202);
    expect(res.json().optInSent).toBe(true);
    const [tpl] = sentTo(h, phone);
    expect(tpl.type).toBe("template");
    expect(tpl.template.name).toBe("tierstack_onboarding");
    const l = (await h.store.learnerByPhone(phone))!;
    expect(l.consentSource).toBe("signup");
    expect(res.json().learnerId).toBe(l.id);

    const form = await h.brain.app.inject({
      method: "POST", url: "/signup", headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      payload: `phone=${encodeURIComponent("+" + newPhone())}&consent=yes`,
    });
    expect(form.statusCode).toBe(202);
    expect(form.body).toContain("Check WhatsApp");
    expect((await h.brain.app.inject({ method: "POST", url: "/signup", payload: { phone: "12", consent: true } })).statusCode).toBe(400);
    expect((await h.brain.app.inject({ method: "POST", url: "/signup", payload: { phone: newPhone() } })).statusCode).toBe(400);
  });

  it("admin endpoints need the token; lookup, usage, send failures, delete", async () => {
    expect((await admin("GET", "/admin/dead-letters", "")).statusCode).toBe(401);
    expect((await admin("GET", "/admin/dead-letters", "wrong-token-wrong-token")).statusCode).toBe(401);
    const lower = await h.brain.app.inject({ method: "GET", url: "/admin/dead-letters", headers: { authorization: `bearer ${ADMIN_TOKEN}` } });
    expect(lower.statusCode).toBe(200); // the scheme's name is case-insensitive (RFC 9110 §11.1)
    const phone = newPhone();
    await h.deliver(textNotification([{ from: phone, body: "remember me" }]));
    await until(() => sentTo(h, phone).length === 1, "reply");
    const look = await admin("GET", `/admin/learners/${phone}`);
    expect(look.statusCode).toBe(200);
    const id = look.json().learner.id as string;
    expect(look.json().today.messages).toBe(1);
    expect((await admin("GET", `/admin/learners/${id}/usage`)).json().usage).toHaveLength(1);
    expect((await admin("GET", `/admin/learners/${id}/outbound`)).json().outbound).toHaveLength(1);
    expect((await admin("GET", "/admin/send-failures")).statusCode).toBe(200);
    expect((await admin("DELETE", `/admin/learners/${id}`)).statusCode).toBe(200);
    expect((await admin("GET", `/admin/learners/${id}`)).statusCode).toBe(404);
    expect(await h.store.history(id, 10)).toEqual([]);
    expect((await admin("DELETE", `/admin/learners/${id}`)).statusCode).toBe(404);
  });

  it("Stripe: bad signature is a 400 and changes nothing; events apply once by id", async () => {
    const phone = newPhone();
    const learner = await h.store.signUp(phone, Date.now());
    const post = (payload: string, signature?: string) =>
      h.brain.app.inject({ method: "POST", url: "/webhooks/stripe", headers: { "content-type": "application/json", ...(signature ? { "stripe-signature": signature } : {}) }, payload });
    const checkout = JSON.stringify(stripeEvent("checkout.session.completed", { object: "checkout.session", client_reference_id: learner.id, customer: "cus_" + phone, subscription: "sub_" + phone, payment_status: "paid", status: "complete", metadata: {} }));
    expect((await post(checkout)).statusCode).toBe(400);
    expect((await post(checkout, stripeSigner.webhooks.generateTestHeaderString({ payload: checkout, secret: "whsec_other" }))).statusCode).toBe(400);
    expect((await h.store.learnerById(learner.id))!.plan).toBe("free");

    const sign = (p: string) => stripeSigner.webhooks.generateTestHeaderString({ payload: p, secret: STRIPE_WEBHOOK_SECRET });
    const ok = await post(checkout, sign(checkout));
    expect(ok.statusCode).toBe(200);
    expect(ok.json().outcome).toBe("applied");
    expect((await h.store.learnerById(learner.id))!.plan).toBe("plus");
    const deleted = JSON.stringify(stripeEvent("customer.subscription.deleted", { object: "subscription", id: "sub_" + phone, customer: "cus_" + phone, status: "canceled", metadata: {} }));
    expect((await post(deleted, sign(deleted))).json().outcome).toBe("applied");
    expect((await h.store.learnerById(learner.id))!.plan).toBe("free");
    const replay = await post(checkout, sign(checkout));
    expect(replay.json().outcome).toBe("duplicate");
    expect((await h.store.learnerById(learner.id))!.plan).toBe("free");
    const other = JSON.stringify(stripeEvent("customer.created", { object: "customer", id: "cus_x" }));
    expect((await post(other, sign(other))).json().applied).toBe(false);
  });

  it("exposes backlog, replies, LLM latency and send failures as metrics; readiness checks the database", async () => {
    const res = await h.brain.app.inject({ method: "GET", url: "/metrics" });
    for (const name of ["brain_inbox_backlog", "brain_replies_total", "brain_llm_latency_seconds", "brain_send_failures_total"]) expect(res.body).toContain(name);
    expect((await h.brain.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
  });
});

describe("send failures are recorded and visible", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ db: "sqlite", cloud: { failFirst: 1, errorCode: 131026, status: 400 } });
  });
  afterAll(async () => h?.close());

  it("a non-retryable Cloud API error marks the reply failed, counts it, and shows it to admins", async () => {
    const phone = newPhone();
    await h.deliver(textNotification([{ from: phone, body: "hello?" }]));
    await until(async () => (await h.store.sendFailures(10)).length === 1, "failure recorded");
    const res = await h.brain.app.inject({ method: "GET", url: "/admin/send-failures", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.json().failures[0].error).toContain("131026");
    const metrics = await h.brain.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toMatch(/brain_send_failures_total\{[^}]*reason="final"[^}]*\} 1/);
    await until(async () => (await h.store.backlog()) === 0, "message settled");
  });
});
