/**
 * Entry point: read and validate the configuration, open the store (migrations under an
 * advisory lock), wire the LLM client, the Cloud API sender behind the send-rate bucket (Redis
 * when REDIS_URL is set, so replicas share the number's limit) and Stripe, then serve until
 * SIGTERM: readiness flips, HTTP drains, workers finish the message in hand, the store closes.
 */
import { exitOnStartError, runService } from "@tierstack/common";
import { buildApp } from "./app.js";
import { loadConfig } from "./config.js";
import { createLlmClient } from "./llm.js";
import { localBucket, redisBucket } from "./ratelimit.js";
import { openRedis } from "./redis.js";
import { openBrainStore } from "./store/index.js";
import { createStripeClient } from "./stripe.js";
import { createWhatsAppSender } from "./whatsapp.js";

async function main(): Promise<void> {
  const config = loadConfig();
  const store = await openBrainStore(config.databaseUrl);
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
  const brain = buildApp(config, { store, llm, sender, stripe });
  await runService(brain, {
    port: config.port,
    host: config.host,
    graceMs: Math.min(config.llm.timeoutMs + 5_000, 60_000),
    onClose: async () => {
      await brain.close();
      await limiter.close?.();
      redis?.disconnect();
    },
  });
  brain.workers.start();
  brain.app.log.info({ store: store.kind, workers: config.workers, sendRate: config.whatsapp.sendRate }, "brain started");
}

main().catch((err: unknown) => exitOnStartError("brain", err));
