/**
 * The brain's HTTP surface and its workers: WhatsApp and Stripe webhooks (raw bodies, verified
 * before anything is parsed), sign-up, admin, health/readiness/metrics from the common kit.
 */
import type { FastifyRequest } from "fastify";
import type Stripe from "stripe";
import { Counter, Gauge, Histogram } from "prom-client";
import { createServiceApp, GroupCommit, pingReadiness, type ServiceApp } from "@tierstack/common";
import { adminRoutes } from "./admin.js";
import type { BrainConfig } from "./config.js";
import { oneHeader, safeEqual } from "./input.js";
import type { LlmClient } from "./llm.js";
import { sharedPlacement, type Placement } from "./placement.js";
import { signupRoutes } from "./signup.js";
import { stripeWebhook } from "./stripe-webhook.js";
import type { BrainStore } from "./store/index.js";
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
    // The raw body is read whatever the content type; an empty Content-Type would otherwise be a 415.
    scope.addHook("onRequest", async (req) => {
      if (req.headers["content-type"] === "") delete req.headers["content-type"];
    });
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
      m.inbound.inc({ result: "ignored" }, parsed.ignored);
      if (parsed.messages.length) workers.wake(parsed.messages.length);
      return reply.code(200).send({ ok: true });
    });

    const stripeHook = stripeWebhook({
      stripe: deps.stripe, secret: config.stripe.webhookSecret, store, now, rejected: () => m.webhookRejected.inc({ source: "stripe" }),
    });
    scope.post("/webhooks/stripe", async (req, reply) => {
      const answer = await stripeHook(rawOf(req), header(req, "stripe-signature"), req.log);
      return reply.code(answer.status).send(answer.body);
    });
  });

  // Sign-up: a page, and the endpoint it posts to (JSON or a classic form post). Admin. Each route
  // module owns its input contract (input.ts).
  void app.register(async (scope) => signupRoutes(scope, { store, workers, templateLanguage: config.whatsapp.templateLanguage, now }));
  void app.register(async (scope) => adminRoutes(scope, { adminToken: config.adminToken, store, now }));

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

/** A signature header: given more than once it counts as missing (input.ts oneHeader). */
function header(req: FastifyRequest, name: string): string | undefined {
  return oneHeader(req, name);
}

export { normalizePhone, safeEqual } from "./input.js";

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
