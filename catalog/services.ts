/**
 * The service catalogue: what every tier deploys and how it is wired. One source of truth
 * for the Pulumi program (boot units, later Kubernetes deployments), `tierstack plan`,
 * `npm run local` and the policies. Services never import this file; each service's own
 * `src/config.ts` validates the same keys at start, and a test checks the two agree.
 */
export type ServiceName = "task-queue" | "mcp-gateway" | "brain";

export interface EnvKey {
  /** Environment variable name, as the service's config.ts reads it. */
  name: string;
  description: string;
  /** Required at start; the service refuses to start without it. */
  required: boolean;
  /** Fetched from Secret Manager at boot; never rendered into boot configuration or outputs. */
  secret: boolean;
  /** Default used by the service when unset (documentation; the service owns the default). */
  default?: string;
}

export interface ServiceSpec {
  name: ServiceName;
  description: string;
  port: number;
  healthPath: "/healthz";
  readyPath: "/readyz";
  metricsPath: "/metrics";
  /** Stack config key holding the image reference (tag, plus digest where a source gives one). */
  imageKey: string;
  /** Path prefixes reachable from the internet through the tunnel; everything else sits behind Access. */
  publicPaths: string[];
  /** Entry point for `npm run local` (run with tsx). */
  localEntry: string;
  env: EnvKey[];
  /** Keys a module other than config.ts reads at start (the brain's placement), with that module; a test there checks them. */
  moduleEnv?: { readBy: string; keys: EnvKey[] };
}

const common: EnvKey[] = [
  { name: "PORT", description: "TCP port to listen on", required: false, secret: false },
  { name: "HOST", description: "Address to bind", required: false, secret: false, default: "0.0.0.0" },
  { name: "LOG_LEVEL", description: "pino log level", required: false, secret: false, default: "info" },
];

export const services: Record<ServiceName, ServiceSpec> = {
  "task-queue": {
    name: "task-queue",
    description: "Work queue the agents share: leases, fencing, retries, dead letters, events on NATS",
    port: 7401,
    healthPath: "/healthz",
    readyPath: "/readyz",
    metricsPath: "/metrics",
    imageKey: "taskQueueImage",
    publicPaths: [],
    localEntry: "services/task-queue/src/server.ts",
    env: [
      ...common,
      { name: "DATABASE_URL", description: "sqlite:/path/file.db (single-box) or postgres://… (tier-50+; TLS: ?sslmode=verify-ca|verify-full&sslrootcert=<CA file>); also holds agent tokens", required: true, secret: true },
      { name: "NATS_URL", description: "NATS server(s), comma-separated; unset keeps events in the outbox", required: false, secret: false },
      { name: "NATS_STREAM", description: "JetStream stream the outbox relay publishes to (created at start if absent)", required: false, secret: false, default: "TASKS" },
      { name: "NATS_SUBJECT_PREFIX", description: "Event subjects are <prefix>.<queue>.<event>", required: false, secret: false, default: "tasks" },
      { name: "NATS_STREAM_REPLICAS", description: "Stream replicas when the service creates it (3 on the tier-100 cluster)", required: false, secret: false, default: "1" },
      { name: "NATS_DUPLICATE_WINDOW_SECONDS", description: "JetStream dedupe window for msgID (longer than any NATS outage)", required: false, secret: false, default: "600" },
      { name: "LEASE_SECONDS_DEFAULT", description: "Lease length when a claim names none", required: false, secret: false, default: "30" },
      { name: "LEASE_SECONDS_MAX", description: "Longest lease a claim or heartbeat may ask for", required: false, secret: false, default: "3600" },
      { name: "PAYLOAD_MAX_BYTES", description: "Largest task payload or result (JSON bytes); larger ⇒ 413", required: false, secret: false, default: "65536" },
      { name: "MAX_ATTEMPTS_DEFAULT", description: "Attempts before dead-letter when the task names none", required: false, secret: false, default: "5" },
      { name: "BACKOFF_BASE_MS", description: "Retry backoff: min(max, base·2^(attempt-1)) with jitter", required: false, secret: false, default: "1000" },
      { name: "BACKOFF_MAX_MS", description: "Retry backoff cap", required: false, secret: false, default: "300000" },
      { name: "REAPER_INTERVAL_MS", description: "How often expired leases are reclaimed", required: false, secret: false, default: "1000" },
      { name: "RETENTION_HOURS", description: "Finished tasks and published events are pruned after this", required: false, secret: false, default: "168" },
      { name: "PG_POOL_MAX", description: "PostgreSQL connections per replica", required: false, secret: false, default: "10" },
      { name: "BATCH_CONCURRENCY", description: "Group-commit batches in flight per operation", required: false, secret: false, default: "2" },
    ],
  },
  "mcp-gateway": {
    name: "mcp-gateway",
    description: "Front door from agents to MCP tool servers, sharded by namespace",
    port: 7402,
    healthPath: "/healthz",
    readyPath: "/readyz",
    metricsPath: "/metrics",
    imageKey: "mcpGatewayImage",
    publicPaths: [],
    localEntry: "services/mcp-gateway/src/server.ts",
    env: [
      ...common,
      { name: "GATEWAY_SHARDS", description: "JSON shard map: namespace → replica URLs, or { replicas, protocol } (protocol ≤ 2025-11-25 ⇒ bridged for 2026-07-28 clients)", required: true, secret: false },
      { name: "TOKENS_DATABASE_URL", description: "Where agent tokens live (the task queue's database; TLS parameters as DATABASE_URL's)", required: true, secret: true },
      { name: "REDIS_URL", description: "Session registry in Redis (tier-50+): rediss://:<auth>@host:6378 (TLS + AUTH); unset keeps it in memory", required: false, secret: true },
      { name: "REDIS_CA_FILE", description: "PEM CA the Redis server's certificate must chain to; required with rediss://", required: false, secret: false },
      { name: "GATEWAY_REDIS_PREFIX", description: "Key prefix of the Redis session registry", required: false, secret: false, default: "mcpgw:" },
      { name: "GATEWAY_UPSTREAM_TOKEN", description: "The gateway's own credential towards the shards", required: false, secret: true },
      { name: "GATEWAY_ALLOWED_ORIGINS", description: "Comma-separated allowed Origin values; requests without Origin are allowed", required: false, secret: false, default: "" },
      { name: "GATEWAY_RATE_PER_SECOND", description: "Per-agent token-bucket refill rate (requests/s, per gateway process)", required: false, secret: false, default: "50" },
      { name: "GATEWAY_RATE_BURST", description: "Per-agent token-bucket size", required: false, secret: false, default: "100" },
      { name: "GATEWAY_HEALTH_INTERVAL_MS", description: "Active health-check interval per replica", required: false, secret: false, default: "2000" },
      { name: "GATEWAY_HEALTH_TIMEOUT_MS", description: "Health-check timeout", required: false, secret: false, default: "1000" },
      { name: "GATEWAY_SESSION_TTL_SECONDS", description: "Idle lifetime of a client session", required: false, secret: false, default: "3600" },
      { name: "GATEWAY_MAX_BODY_BYTES", description: "Largest accepted request body", required: false, secret: false, default: "1048576" },
      { name: "GATEWAY_MAX_RESPONSE_BYTES", description: "Largest relayed JSON response (SSE streams are not capped)", required: false, secret: false, default: "8388608" },
      { name: "GATEWAY_UPSTREAM_TIMEOUT_MS", description: "Upstream header/body timeout for POSTs", required: false, secret: false, default: "60000" },
    ],
  },
  brain: {
    name: "brain",
    description: "Learner-facing service: WhatsApp Cloud API webhooks, LLM routing, Stripe plans",
    port: 7403,
    healthPath: "/healthz",
    readyPath: "/readyz",
    metricsPath: "/metrics",
    imageKey: "brainImage",
    publicPaths: ["/webhooks/whatsapp", "/webhooks/stripe", "/signup"],
    localEntry: "services/brain/src/server.ts",
    env: [
      ...common,
      { name: "DATABASE_URL", description: "sqlite:/path/file.db (single-box) or postgres://… (tier-50+; TLS: ?sslmode=verify-ca|verify-full&sslrootcert=<CA file>)", required: true, secret: true },
      { name: "REDIS_URL", description: "Shared send-rate bucket across replicas: rediss://:<auth>@host:6378 (TLS + AUTH); unset uses a local bucket", required: false, secret: true },
      { name: "REDIS_CA_FILE", description: "PEM CA the Redis server's certificate must chain to; required with rediss://", required: false, secret: false },
      { name: "WHATSAPP_APP_SECRET", description: "Meta app secret: verifies X-Hub-Signature-256", required: true, secret: true },
      { name: "WHATSAPP_VERIFY_TOKEN", description: "Webhook verification token (hub.verify_token)", required: true, secret: true },
      { name: "WHATSAPP_ACCESS_TOKEN", description: "Cloud API bearer token for sending", required: true, secret: true },
      { name: "WHATSAPP_PHONE_NUMBER_ID", description: "Sending phone number id", required: true, secret: false },
      { name: "LLM_BASE_URL", description: "OpenAI-compatible endpoint (LiteLLM in the tiers)", required: true, secret: false },
      { name: "LLM_API_KEY", description: "Key for the LLM endpoint", required: false, secret: true },
      { name: "STRIPE_SECRET_KEY", description: "Stripe API key (payment links)", required: true, secret: true },
      { name: "STRIPE_WEBHOOK_SECRET", description: "Stripe webhook signing secret", required: true, secret: true },
      { name: "BRAIN_ADMIN_TOKEN", description: "Bearer token for the admin endpoints (at least 16 characters)", required: true, secret: true },
      { name: "WHATSAPP_API_BASE", description: "Cloud API base URL", required: false, secret: false, default: "https://graph.facebook.com" },
      { name: "WHATSAPP_API_VERSION", description: "Graph API version used for sends", required: false, secret: false, default: "v23.0" },
      { name: "WHATSAPP_SEND_RATE", description: "Send-rate limit of the number, messages/s (Cloud API: 80 default, up to 1,000; the config accepts up to 10,000 for benchmarks against a peer)", required: false, secret: false, default: "80" },
      { name: "WHATSAPP_TEMPLATE_LANGUAGE", description: "Language code of the approved templates", required: false, secret: false, default: "en" },
      { name: "LLM_TIMEOUT_MS", description: "Per-attempt LLM timeout", required: false, secret: false, default: "30000" },
      { name: "LLM_RETRIES", description: "LLM retries per model before the fallback model", required: false, secret: false, default: "2" },
      { name: "STRIPE_API_BASE", description: "Stripe API base URL override (stripe-mock or a loopback peer); unset uses api.stripe.com", required: false, secret: false },
      { name: "STRIPE_PRICE_PLUS", description: "Stripe price id of the plus plan (payment links)", required: false, secret: false },
      { name: "STRIPE_PRICE_DEDICATED", description: "Stripe price id of the dedicated plan (payment links)", required: false, secret: false },
      { name: "BRAIN_WORKERS", description: "Concurrent inbox worker loops per replica (replies/s ≈ workers ÷ LLM latency)", required: false, secret: false, default: "64" },
      { name: "BRAIN_WORKERS_NICE", description: "Niceness (0-19) of the reply worker process, so webhook ingest gets the CPU first when both want it", required: false, secret: false, default: "10" },
      { name: "BRAIN_WORKER_SEMI_SPACE_MB", description: "V8 young-generation semi-space of the reply worker process in MB (0: V8's default): fewer scavenges of replies waiting on the LLM", required: false, secret: false, default: "64" },
      { name: "BRAIN_LEASE_MS", description: "Lease on a learner while a worker answers it; more than twice LLM_TIMEOUT_MS", required: false, secret: false, default: "120000" },
    ],
    moduleEnv: {
      readBy: "services/brain/src/sandbox/index.ts (openPlacement)",
      keys: [
        { name: "BRAIN_SANDBOX_RUNTIME", description: "Where dedicated learners run: none (all shared), gvisor (runsc on the host), kubernetes (SandboxClaims, tier-100)", required: false, secret: false, default: "none" },
        { name: "BRAIN_SANDBOX_IDLE_MS", description: "A sandbox is released after this long without a message", required: false, secret: false, default: "600000" },
        { name: "BRAIN_SANDBOX_DIR", description: "gvisor: the directory of the learners' sandboxes and runsc's state", required: false, secret: false },
        { name: "BRAIN_SANDBOX_NAMESPACE", description: "kubernetes: the learners' namespace (catalog/sandbox.ts)", required: false, secret: false, default: "learners" },
        { name: "BRAIN_SANDBOX_WARM_POOL", description: "kubernetes: the SandboxWarmPool the claims name", required: false, secret: false, default: "learner" },
        { name: "BRAIN_SANDBOX_PORT", description: "kubernetes: the learner runtime's channel port in the pod", required: false, secret: false, default: "8888" },
        { name: "BRAIN_SANDBOX_VAULT_DIR", description: "kubernetes: keep the learners' files in this directory (one replica); unset with a PostgreSQL DATABASE_URL keeps them in the brain's database", required: false, secret: false },
      ],
    },
  },
};

export const serviceNames = Object.keys(services) as ServiceName[];

/**
 * The only writable paths of a service container on GKE (the root filesystem is read-only):
 * the Deployment mounts an emptyDir at each (`writablePaths` of components/k8s/service-deployment.ts),
 * and test/image-entrypoint.test.ts runs each service's image entry point under bubblewrap with a
 * read-only root and exactly these paths writable. /tmp: tsx's compile cache (the image runs the
 * TypeScript sources through tsx) and Node's os.tmpdir().
 */
export const serviceWritablePaths: readonly string[] = ["/tmp"];

/**
 * Where a pod finds the data plane's CA certificates (read-only files, not secrets): the Cloud SQL
 * instance's server CA (DATABASE_URL's sslrootcert) and Memorystore's server CA (REDIS_CA_FILE).
 */
export const dataPlaneCaFiles = {
  postgres: "/etc/tierstack/ca/postgres.pem",
  redis: "/etc/tierstack/ca/redis.pem",
} as const;
