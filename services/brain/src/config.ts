import { EnvReader, parseRedisUrl, readBase, type BaseConfig } from "@tierstack/common";

/**
 * The brain's configuration, validated once at start (one line per bad key). Every key read
 * here is listed in the "brain" entry of catalog/services.ts; config.test.ts checks both ways.
 */
export interface BrainConfig extends BaseConfig {
  databaseUrl: string;
  redisUrl?: string;
  /** CA the Redis server's certificate must chain to (required with rediss://). */
  redisCaFile?: string;
  whatsapp: {
    appSecret: string;
    verifyToken: string;
    accessToken: string;
    phoneNumberId: string;
    apiBase: string;
    apiVersion: string;
    /** Sends per second for the number (80 default; Meta allows up to 1,000; higher only against a loopback peer in benchmarks). */
    sendRate: number;
    templateLanguage: string;
  };
  llm: { baseUrl: string; apiKey?: string; timeoutMs: number; retries: number };
  stripe: {
    secretKey: string;
    webhookSecret: string;
    /** Point the Stripe client elsewhere (stripe-mock, a loopback peer); unset ⇒ api.stripe.com. */
    apiBase?: string;
    /** Price id per paid plan, keyed by the plan's stripePriceEnv name. */
    prices: Record<string, string | undefined>;
  };
  adminToken: string;
  /**
   * Concurrent worker loops per replica = LLM calls in flight (each loop holds one learner at a
   * time; a loop waiting on the LLM holds no database connection or transaction, only a promise).
   * Replies/s per replica ≈ workers ÷ LLM latency: 64 loops at 2 s per completion answer ~32
   * messages/s, 3,000 loops ~1,500/s (then the number's send rate is the limit). README: sizing.
   */
  workers: number;
  /** How long a worker's claim on a learner lasts before another replica may take over. */
  leaseMs: number;
  /** Niceness of the worker process (0-19): on a busy CPU webhook ingest runs first. */
  workersNice: number;
  /** V8 semi-space of the worker process in MB (0: V8's default). */
  workerSemiSpaceMb: number;
}

export const BRAIN_PORT = 7403;
export const PRICE_ENV_KEYS = ["STRIPE_PRICE_PLUS", "STRIPE_PRICE_DEDICATED"] as const;

export function loadConfig(env: Record<string, string | undefined> = process.env): BrainConfig {
  const r = new EnvReader(env);
  const base = readBase(r, BRAIN_PORT);
  const cfg: BrainConfig = {
    ...base,
    databaseUrl: r.str("DATABASE_URL", { description: "sqlite:<path> or postgres://…" }),
    redisUrl: r.url("REDIS_URL", { protocols: ["redis", "rediss"], required: false }),
    redisCaFile: r.str("REDIS_CA_FILE", { required: false }),
    whatsapp: {
      appSecret: r.str("WHATSAPP_APP_SECRET"),
      verifyToken: r.str("WHATSAPP_VERIFY_TOKEN"),
      accessToken: r.str("WHATSAPP_ACCESS_TOKEN"),
      phoneNumberId: r.str("WHATSAPP_PHONE_NUMBER_ID"),
      apiBase: r.url("WHATSAPP_API_BASE", { protocols: ["http", "https"], default: "https://graph.facebook.com" }) ?? "",
      apiVersion: r.str("WHATSAPP_API_VERSION", { default: "v23.0" }),
      sendRate: r.int("WHATSAPP_SEND_RATE", { default: 80, min: 1, max: 10_000 }),
      templateLanguage: r.str("WHATSAPP_TEMPLATE_LANGUAGE", { default: "en" }),
    },
    llm: {
      baseUrl: r.url("LLM_BASE_URL", { protocols: ["http", "https"] }) ?? "",
      apiKey: r.str("LLM_API_KEY", { required: false }),
      timeoutMs: r.int("LLM_TIMEOUT_MS", { default: 30_000, min: 100, max: 600_000 }),
      retries: r.int("LLM_RETRIES", { default: 2, min: 0, max: 10 }),
    },
    stripe: {
      secretKey: r.str("STRIPE_SECRET_KEY"),
      webhookSecret: r.str("STRIPE_WEBHOOK_SECRET"),
      apiBase: r.url("STRIPE_API_BASE", { protocols: ["http", "https"], required: false }),
      prices: Object.fromEntries(PRICE_ENV_KEYS.map((k) => [k, r.str(k, { required: false })])),
    },
    adminToken: r.str("BRAIN_ADMIN_TOKEN"),
    workers: r.int("BRAIN_WORKERS", { default: 64, min: 1, max: 10_000 }),
    workersNice: r.int("BRAIN_WORKERS_NICE", { default: 10, min: 0, max: 19 }),
    workerSemiSpaceMb: r.int("BRAIN_WORKER_SEMI_SPACE_MB", { default: 64, min: 0, max: 1024 }),
    leaseMs: r.int("BRAIN_LEASE_MS", { default: 120_000, min: 1_000, max: 3_600_000 }),
  };
  if (cfg.databaseUrl && !/^(sqlite:|postgres(ql)?:\/\/)/.test(cfg.databaseUrl)) r.problem(`DATABASE_URL: expected sqlite:<path> or postgres://…`);
  // rediss:// needs REDIS_CA_FILE and the file must be a readable CA: one line now, not at the first send.
  // (REDIS_CA_FILE without REDIS_URL is harmless: a tier may mount the CA for every service.)
  if (cfg.redisUrl) {
    try {
      parseRedisUrl(cfg.redisUrl, cfg.redisCaFile);
    } catch (err) {
      r.problem((err as Error).message);
    }
  }
  if (cfg.adminToken && cfg.adminToken.length < 16) r.problem("BRAIN_ADMIN_TOKEN: expected at least 16 characters");
  if (cfg.leaseMs <= cfg.llm.timeoutMs * 2) r.problem(`BRAIN_LEASE_MS=${cfg.leaseMs}: expected more than twice LLM_TIMEOUT_MS (${cfg.llm.timeoutMs}) so a slow reply keeps its lease`);
  r.done();
  return cfg;
}
