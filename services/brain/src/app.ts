/**
 * The brain's HTTP surface and its workers: WhatsApp and Stripe webhooks (raw bodies, verified
 * before anything is parsed), sign-up, admin, health/readiness/metrics from the common kit.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type Stripe from "stripe";
import { Counter, Gauge, Histogram } from "prom-client";
import { createServiceApp, GroupCommit, pingReadiness, HttpError, redactPhone, type ServiceApp } from "@tierstack/common";
import type { BrainConfig } from "./config.js";
import type { LlmClient } from "./llm.js";
import { sharedPlacement, type Placement } from "./placement.js";
import { planChangeFor, verifyStripeEvent } from "./stripe.js";
import type { BrainStore } from "./store/index.js";
import { signupPage } from "./signup-page.js";
import { templates, type OutboundPayload } from "./templates.js";
import { parseWhatsAppWebhook, validSignature, type ParsedWebhook } from "./webhook.js";
import { InboxWorkers } from "./worker.js";
import type { WhatsAppSender } from "./whatsapp.js";

export interface BrainDeps {
  store: BrainStore;
  llm: LlmClient;
  sender: WhatsAppSender;
  stripe: Stripe;
  placement?: Placement;
  /** Epoch ms; tests move it to cross day and window boundaries. */
  now?: () => number;
}

export interface Brain extends ServiceApp {
  workers: InboxWorkers;
  /** Stop the workers (in-flight messages finish), then close the store. */
  close(): Promise<void>;
}

/** Webhook bodies are small JSON documents; a megabyte is far above anything Meta or Stripe send. */
const BODY_LIMIT = 1024 * 1024;

export function buildApp(config: BrainConfig, deps: BrainDeps): Brain {
  const now = deps.now ?? Date.now;
  const { store } = deps;
  const svc = createServiceApp({
    service: "brain",
    logLevel: config.logLevel,
    bodyLimit: BODY_LIMIT,
    readiness: pingReadiness("database", () => store.ping()),
  });
  const { app, metrics } = svc;

  const m = {
    replies: new Counter({ name: "brain_replies_total", help: "Messages accepted by the Cloud API, by kind (text, template)", labelNames: ["kind"] as const, registers: [metrics] }),
    sendFailures: new Counter({ name: "brain_send_failures_total", help: "Cloud API send failures (retry: will be retried; final/ambiguous: given up)", labelNames: ["reason"] as const, registers: [metrics] }),
    llmLatency: new Histogram({
      name: "brain_llm_latency_seconds", help: "LLM completion latency (retries and fallback included)", labelNames: ["model", "outcome"] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60], registers: [metrics],
    }),
    inbound: new Counter({ name: "brain_inbound_total", help: "WhatsApp webhook items, by result", labelNames: ["result"] as const, registers: [metrics] }),
    webhookRejected: new Counter({ name: "brain_webhook_rejected_total", help: "Webhook requests refused (bad signature)", labelNames: ["source"] as const, registers: [metrics] }),
  };
  new Gauge({
    name: "brain_inbox_backlog", help: "Inbound messages waiting for a reply", registers: [metrics],
    async collect() {
      try {
        this.set(await store.backlog());
      } catch {
        /* readiness reports the database */
      }
    },
  });

  const workers = new InboxWorkers(
    {
      store, llm: deps.llm, sender: deps.sender, stripe: deps.stripe, placement: deps.placement ?? sharedPlacement(), now, log: app.log, metrics: m,
      templateLanguage: config.whatsapp.templateLanguage, prices: config.stripe.prices, leaseMs: config.leaseMs,
    },
    config.workers,
  );
  new Gauge({ name: "brain_workers_busy", help: "Worker loops holding a learner", registers: [metrics], collect() { this.set(workers.busy); } });

  const storeInbound = inboxWriter(store, now);

  // Webhooks: raw bytes only, in their own encapsulated context so the rest of the app keeps JSON.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
    const rawOf = (req: FastifyRequest): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

    scope.get("/webhooks/whatsapp", async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      if (q["hub.mode"] === "subscribe" && typeof q["hub.verify_token"] === "string" && safeEqual(q["hub.verify_token"], config.whatsapp.verifyToken)) {
        return reply.type("text/plain").send(typeof q["hub.challenge"] === "string" ? q["hub.challenge"] : "");
      }
      return reply.code(403).send({ error: "forbidden", message: "verification failed" });
    });

    scope.post("/webhooks/whatsapp", async (req, reply) => {
      const raw = rawOf(req);
      if (!validSignature(raw, header(req, "x-hub-signature-256"), config.whatsapp.appSecret)) {
        m.webhookRejected.inc({ source: "whatsapp" });
        return reply.code(401).send({ error: "unauthorized", message: "bad or missing X-Hub-Signature-256" });
      }
      const parsed = parseWhatsAppWebhook(raw, now());
      try {
        await storeInbound(parsed);
      } catch (err) {
        // The database is unreachable: a non-200 makes Meta redeliver later, which loses nothing.
        req.log.error({ err }, "inbox write failed");
        return reply.code(503).send({ error: "unavailable", message: "try again" });
      }
      m.inbound.inc({ result: "message" }, parsed.messages.length);
      m.inbound.inc({ result: "status" }, parsed.statuses.length);
      m.inbound.inc({ result: "dead_letter" }, parsed.deadLetters.length);
      if (parsed.messages.length) workers.wake(parsed.messages.length);
      return reply.code(200).send({ ok: true });
    });

    scope.post("/webhooks/stripe", async (req, reply) => {
      let event: Stripe.Event;
      try {
        event = verifyStripeEvent(deps.stripe, rawOf(req), header(req, "stripe-signature"), config.stripe.webhookSecret);
      } catch (err) {
        m.webhookRejected.inc({ source: "stripe" });
        return reply.code(400).send({ error: "bad_request", message: (err as Error).message });
      }
      const change = planChangeFor(event);
      if (!change) {
        await store.markStripeEvent(event.id, now());
        return { received: true, applied: false };
      }
      const outcome = await store.applyPlanChange(change, now());
      if (outcome === "no_learner") {
        await store.addDeadLetter("stripe", `plan change for an unknown learner (${change.reason})`, JSON.stringify(change), now());
      }
      req.log.info({ event: event.id, type: event.type, plan: change.plan, outcome }, "stripe event");
      return { received: true, applied: outcome === "applied", outcome };
    });
  });

  // Sign-up: a page, and the endpoint it posts to (JSON or a classic form post).
  void app.register(async (scope) => {
    scope.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    scope.get("/signup", async (_req, reply) => reply.type("text/html; charset=utf-8").send(signupPage()));
    scope.post("/signup", async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const phone = normalizePhone(body.phone);
      if (!phone) throw new HttpError(400, "phone: expected a WhatsApp number in international format, e.g. +44 7700 900123");
      const consent = body.consent === true || body.consent === "on" || body.consent === "true" || body.consent === "yes";
      if (!consent) throw new HttpError(400, "consent: tick the box to agree to receive WhatsApp messages");
      const t = now();
      const learner = await store.signUp(phone, t);
      const msg = { kind: "template" as const, to: phone, template: templates.onboarding, language: config.whatsapp.templateLanguage };
      const payload: OutboundPayload = { msg, outsideWindow: msg };
      const out = await store.recordReply({ learnerId: learner.id, outbound: { key: `signup:${learner.id}:${randomUUID()}`, payload: JSON.stringify(payload), at: t } });
      await workers.deliver(out, learner);
      const sent = (await store.outboundByKey(out.key))?.state === "sent";
      req.log.info({ learner: redactPhone(phone), sent }, "sign-up");
      const html = (req.headers.accept ?? "").includes("text/html") && !(req.headers["content-type"] ?? "").includes("json");
      if (html) return reply.type("text/html; charset=utf-8").code(202).send(signupPage(sent ? "Check WhatsApp: we sent you a message. Reply to it to start learning." : "We could not reach WhatsApp just now; please try again in a minute."));
      return reply.code(202).send({ learnerId: learner.id, optInSent: sent });
    });
  });

  void app.register(async (scope) => adminRoutes(scope, config, store, now));

  let closed = false;
  return {
    ...svc,
    workers,
    close: async () => {
      if (closed) return;
      closed = true;
      await workers.stop();
      await store.close();
    },
  } satisfies Brain;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Constant-time string comparison (hashes first, so lengths do not leak either). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** "+44 7700 900123", "0044…", "447700900123" ⇒ "447700900123"; anything else ⇒ undefined. */
export function normalizePhone(input: unknown): string | undefined {
  if (typeof input !== "string" || input.length > 32) return undefined;
  let s = input.trim().replace(/[\s().-]/g, "");
  if (s.startsWith("+")) s = s.slice(1);
  else if (s.startsWith("00")) s = s.slice(2);
  return /^[1-9]\d{7,14}$/.test(s) ? s : undefined;
}

function adminRoutes(scope: FastifyInstance, config: BrainConfig, store: BrainStore, now: () => number): void {
  scope.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    const auth = header(req, "authorization") ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (!token || !safeEqual(token, config.adminToken)) return reply.code(401).send({ error: "unauthorized", message: "admin token required" });
  });
  const limitOf = (q: unknown) => {
    const n = Number((q as Record<string, unknown>)?.limit ?? 100);
    return Number.isInteger(n) && n > 0 && n <= 1000 ? n : 100;
  };
  const find = async (idOrPhone: string) => (await store.learnerById(idOrPhone)) ?? (normalizePhone(idOrPhone) ? await store.learnerByPhone(normalizePhone(idOrPhone)!) : undefined);

  scope.get("/admin/learners/:idOrPhone", async (req) => {
    const learner = await find((req.params as { idOrPhone: string }).idOrPhone);
    if (!learner) throw new HttpError(404, "no such learner");
    const day = new Date(now()).toISOString().slice(0, 10);
    return { learner, today: { day, ...(await store.usageTotals(learner.id, day)) } };
  });
  scope.get("/admin/learners/:idOrPhone/usage", async (req) => {
    const learner = await find((req.params as { idOrPhone: string }).idOrPhone);
    if (!learner) throw new HttpError(404, "no such learner");
    return { learnerId: learner.id, usage: await store.usage(learner.id) };
  });
  scope.get("/admin/learners/:idOrPhone/outbound", async (req) => {
    const learner = await find((req.params as { idOrPhone: string }).idOrPhone);
    if (!learner) throw new HttpError(404, "no such learner");
    return { learnerId: learner.id, outbound: await store.outboundFor(learner.id) };
  });
  scope.delete("/admin/learners/:idOrPhone", async (req) => {
    const learner = await find((req.params as { idOrPhone: string }).idOrPhone);
    if (!learner || !(await store.deleteLearner(learner.id))) throw new HttpError(404, "no such learner");
    req.log.info({ learner: redactPhone(learner.phone) }, "learner data deleted");
    return { deleted: learner.id };
  });
  scope.get("/admin/dead-letters", async (req) => ({ deadLetters: await store.deadLetters(limitOf(req.query)) }));
  scope.get("/admin/send-failures", async (req) => ({ failures: await store.sendFailures(limitOf(req.query)) }));
}

/**
 * Concurrent webhook requests share one transaction ("group commit", the kit's `GroupCommit`):
 * each request waits for the commit that holds its items, so a 200 still means "durably stored",
 * and one fsync (SQLite) or one commit round trip (PostgreSQL) serves every request that arrived
 * meanwhile. One request's bad rows fail only that request (the kit reruns a failed batch item
 * by item). PostgreSQL takes several batches at once (more connections); SQLite has one writer.
 */
function inboxWriter(store: BrainStore, now: () => number): (p: ParsedWebhook) => Promise<void> {
  const commit = new GroupCommit<ParsedWebhook, void>(
    async (batch) => {
      await store.storeInbound(batch.flatMap((p) => p.messages), batch.flatMap((p) => p.statuses), batch.flatMap((p) => p.deadLetters), now());
      return batch.map(() => undefined);
    },
    { maxBatch: 200, concurrency: store.kind === "postgres" ? 4 : 1 },
  );
  return (p) => (!p.messages.length && !p.statuses.length && !p.deadLetters.length ? Promise.resolve() : commit.submit(p));
}
