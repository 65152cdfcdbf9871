/**
 * Entry point, one command for both halves of the brain. Read and validate the configuration,
 * open the store (migrations under an advisory lock), wire the LLM client, the Cloud API sender
 * behind the send-rate bucket (Redis when REDIS_URL is set, so replicas share the number's limit)
 * and Stripe. Then:
 *
 * - as started (no argument): serve HTTP — webhooks, sign-up, admin — and fork this same entry
 *   point with `--brain-workers` for the reply workers (worker-process.ts), supervised; until
 *   SIGTERM: readiness flips, HTTP drains, the worker process finishes the message in hand, the
 *   store closes. Webhook acknowledgements never wait behind reply work.
 * - with `--brain-workers` (forked by the above): run the reply workers until told to stop.
 */
import { exitOnStartError, loggerOptions, runService } from "@tierstack/common";
import fastify from "fastify";
import { buildApp } from "./app.js";
import { loadConfig, type BrainConfig } from "./config.js";
import { createLlmClient } from "./llm.js";
import { lowerPriority } from "./priority.js";
import { sharedPlacement } from "./placement.js";
import { localBucket, redisBucket } from "./ratelimit.js";
import { openRedis } from "./redis.js";
import { openBrainStore } from "./store/index.js";
import { createStripeClient } from "./stripe.js";
import { createWhatsAppSender } from "./whatsapp.js";
import { ForkedWorkers, runWorkerProcess, WORKER_ARG } from "./worker-process.js";

/**
 * PostgreSQL connections per replica stay 16 + 6 (tier-50's connection budget counts them): the
 * HTTP process takes 6 for ingest and 4 for admin reads and sign-up, the worker process 11 + 1.
 */
const POOLS = { http: { max: 4, ingestMax: 6 }, workers: { max: 11, ingestMax: 1 } } as const;

/** What both halves open: the store and the clients (each process its own). */
async function openDeps(config: BrainConfig, role: keyof typeof POOLS) {
  const store = await openBrainStore(config.databaseUrl, POOLS[role]);
  const redis = config.redisUrl ? await openRedis(config.redisUrl, config.redisCaFile) : undefined;
  const burst = Math.max(1, Math.floor(config.whatsapp.sendRate / 10));
  const limiter = redis
    ? redisBucket(redis, `brain:send-rate:${config.whatsapp.phoneNumberId}`, config.whatsapp.sendRate, burst)
    : localBucket(config.whatsapp.sendRate, burst);
  const sender = createWhatsAppSender({
    apiBase: config.whatsapp.apiBase,
    version: config.whatsapp.apiVersion,
    phoneNumberId: config.whatsapp.phoneNumberId,
    accessToken: config.whatsapp.accessToken,
    limiter,
  });
  const llm = createLlmClient({ baseUrl: config.llm.baseUrl, apiKey: config.llm.apiKey, timeoutMs: config.llm.timeoutMs, retries: config.llm.retries });
  const stripeBase = config.stripe.apiBase ? new URL(config.stripe.apiBase) : undefined;
  const stripe = createStripeClient({
    secretKey: config.stripe.secretKey,
    ...(stripeBase
      ? { host: stripeBase.hostname, port: Number(stripeBase.port || (stripeBase.protocol === "https:" ? 443 : 80)), protocol: stripeBase.protocol === "https:" ? "https" as const : "http" as const }
      : {}),
  });
  const close = async () => {
    await limiter.close?.();
    redis?.disconnect();
  };
  return { store, sender, llm, stripe, close };
}

/** How long a stop waits for the message in hand (an LLM call with its timeout, then the send). */
const graceMs = (config: BrainConfig) => Math.min(config.llm.timeoutMs + 5_000, 60_000);

async function main(): Promise<void> {
  const config = loadConfig();
  const deps = await openDeps(config, "http");
  const log = fastify({ logger: loggerOptions(config.logLevel, "brain") }).log;
  const workers = new ForkedWorkers({
    log,
    semiSpaceMb: config.workerSemiSpaceMb,
    graceMs: graceMs(config) - 2_000,
    onGiveUp: (err) => {
      log.error({ err }, "reply workers cannot run: exiting");
      process.exit(1);
    },
  });
  const brain = buildApp(config, { ...deps, workers });
  // The worker process starts while HTTP does; /readyz waits for both.
  workers.start();
  await runService(brain, {
    port: config.port,
    host: config.host,
    graceMs: graceMs(config),
    onClose: async () => {
      await brain.close();
      await deps.close();
    },
  });
  brain.app.log.info({ store: deps.store.kind, workers: config.workers, sendRate: config.whatsapp.sendRate }, "brain started");
}

async function workersMain(): Promise<void> {
  const config = loadConfig();
  // Before anything starts threads of its own: they inherit the lowered priority.
  const lowered = lowerPriority(config.workersNice);
  const deps = await openDeps(config, "workers");
  const log = fastify({ logger: loggerOptions(config.logLevel, "brain-workers") }).log;
  log.info(lowered, "worker process priority lowered (BRAIN_WORKERS_NICE)");
  // Dedicated learners' sandboxes (ADR 0037) answer in the worker process; the runtime's modules
  // (the Kubernetes client among them) load only when BRAIN_SANDBOX_RUNTIME asks for one.
  const sandbox = process.env.BRAIN_SANDBOX_RUNTIME ?? "none";
  const placement = sandbox === "none"
    ? { ...sharedPlacement(), close: async () => undefined }
    : await (await import("./sandbox/index.js")).openPlacement(process.env, deps.llm, log);
  runWorkerProcess(
    {
      store: deps.store, llm: deps.llm, sender: deps.sender, stripe: deps.stripe, placement, now: Date.now, log,
      templateLanguage: config.whatsapp.templateLanguage, prices: config.stripe.prices, leaseMs: config.leaseMs,
    },
    config.workers,
    async () => {
      await placement.close();
      await deps.store.close();
      await deps.close();
    },
  );
}

if (process.argv.includes(WORKER_ARG)) workersMain().catch((err: unknown) => exitOnStartError("brain-workers", err));
else main().catch((err: unknown) => exitOnStartError("brain", err));
