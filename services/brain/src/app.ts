/**
 * The brain's HTTP surface and its workers: WhatsApp and Stripe webhooks (raw bodies, verified
 * before anything is parsed), sign-up, admin, health/readiness/metrics from the common kit.
 */
import type { FastifyRequest } from "fastify";
import type Stripe from "stripe";
import { AggregatorRegistry, Counter, Gauge, type MetricObjectWithValues, type MetricValue } from "prom-client";
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
import { Replier } from "./reply.js";
import { InboxWorkers, type WorkerSwitch } from "./worker.js";
import { busyGauge, WORKER_METRIC_NAMES, workerMetrics } from "./worker-metrics.js";
import type { WhatsAppSender } from "./whatsapp.js";

export interface BrainDeps {
  store: BrainStore;
  llm: LlmClient;
  sender: WhatsAppSender;
  stripe: Stripe;
  placement?: Placement;
  /** Epoch ms; tests move it to cross day and window boundaries. */
  now?: () => number;
  /**
   * Reply workers run elsewhere (the forked worker process, worker-process.ts): the app forwards
   * wakes and the hold switch to them and merges their metrics into /metrics. Unset ⇒ in process.
   */
  workers?: RemoteWorkerSwitch;
}

/** Workers in another process: the switch, plus their metrics for this process's /metrics. */
export interface RemoteWorkerSwitch extends WorkerSwitch {
  metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[]>;
  /** Why the brain is not ready yet on the workers' side (they never ran so far), else undefined. */
  startupProblem(): string | undefined;
}

export interface Brain extends ServiceApp {
  workers: WorkerSwitch;
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
    // Ready once the database answers and (forked workers) the worker process has run once; a
    // later restart of it does not make the brain unready: webhooks are acknowledged meanwhile.
    readiness: async () => deps.workers?.startupProblem() ?? (await pingReadiness("database", () => store.ping())()),
  });
  const { app, metrics } = svc;

  const m = {
    inbound: new Counter({ name: "brain_inbound_total", help: "WhatsApp webhook items, by result", labelNames: ["result"] as const, registers: [metrics] }),
    webhookRejected: new Counter({ name: "brain_webhook_rejected_total", help: "Webhook requests refused (bad signature)", labelNames: ["source"] as const, registers: [metrics] }),
  };
  new Gauge({
    name: "brain_inbox_backlog", help: "Inbound messages waiting for a reply (the learners' maintained pending counts)", registers: [metrics],
    async collect() {
      try {
        this.set(await store.backlog());
      } catch {
        /* readiness reports the database */
      }
    },
  });

  const replyContext = (wm: ReturnType<typeof workerMetrics>) => ({
    store, llm: deps.llm, sender: deps.sender, stripe: deps.stripe, placement: deps.placement ?? sharedPlacement(), now, log: app.log, metrics: wm,
    templateLanguage: config.whatsapp.templateLanguage, prices: config.stripe.prices,
  });
  let workers: WorkerSwitch;
  let signupReplier: Replier;
  if (deps.workers) {
    // Workers in their own process: sign-up's opt-in send counts here, their replies there; each
    // scrape merges the two (counters and histograms summed by label).
    const remote = deps.workers;
    workers = remote;
    const local = workerMetrics([]);
    signupReplier = new Replier(replyContext(local));
    mergedWorkerMetrics(metrics, remote, local);
  } else {
    const wm = workerMetrics([metrics]);
    const inProcess = new InboxWorkers({ ...replyContext(wm), leaseMs: config.leaseMs }, config.workers);
    busyGauge([metrics], () => inProcess.busy);
    workers = inProcess;
    signupReplier = new Replier(replyContext(wm));
  }

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
  void app.register(async (scope) => signupRoutes(scope, { store, replier: signupReplier, templateLanguage: config.whatsapp.templateLanguage, now }));
  void app.register(async (scope) => adminRoutes(scope, { adminToken: config.adminToken, store, workers, now }));

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

/**
 * The worker process's metrics in this registry: one entry per worker metric whose value is, at
 * each scrape, this process's own (sign-up sends) plus the worker process's (asked over IPC).
 */
function mergedWorkerMetrics(registry: ServiceApp["metrics"], remote: RemoteWorkerSwitch, local: ReturnType<typeof workerMetrics>): void {
  let scrape: Promise<MetricObjectWithValues<MetricValue<string>>[]> | undefined;
  const theirs = () => {
    scrape ??= remote.metrics().catch(() => []).finally(() => setTimeout(() => (scrape = undefined), 100).unref());
    return scrape;
  };
  const own: Record<string, { get(): Promise<MetricObjectWithValues<MetricValue<string>>> } | undefined> = {
    brain_replies_total: local.replies, brain_send_failures_total: local.sendFailures, brain_llm_latency_seconds: local.llmLatency,
  };
  for (const name of WORKER_METRIC_NAMES) {
    registry.registerMetric({
      name, help: name, type: "gauge", aggregator: "sum",
      get: async () => {
        const parts = [(await theirs()).find((x) => x.name === name), await own[name]?.get()].filter((x): x is MetricObjectWithValues<MetricValue<string>> => x !== undefined);
        if (!parts.length) return { name, help: name, type: "gauge", aggregator: "sum", values: [] };
        return (AggregatorRegistry.aggregate(parts.map((p) => [p])).getSingleMetric(name) as unknown as { get(): MetricObjectWithValues<MetricValue<string>> }).get();
      },
    } as unknown as Parameters<ServiceApp["metrics"]["registerMetric"]>[0]);
  }
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
