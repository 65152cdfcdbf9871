import { EnvReader, parseDatabaseUrl, readBase, type BaseConfig, type DatabaseTarget } from "@tierstack/common";

/** Every key this service reads; catalog/services.ts lists the same (a test checks both ways). */
export interface TaskQueueConfig extends BaseConfig {
  database: DatabaseTarget;
  databaseUrl: string;
  natsUrl?: string;
  natsStream: string;
  natsSubjectPrefix: string;
  natsStreamReplicas: number;
  natsDuplicateWindowSeconds: number;
  leaseSecondsDefault: number;
  leaseSecondsMax: number;
  payloadMaxBytes: number;
  maxAttemptsDefault: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  reaperIntervalMs: number;
  retentionHours: number;
  pgPoolMax: number;
  batchConcurrency: number;
}

export const DEFAULT_PORT = 7401;

export function readConfig(env: Record<string, string | undefined> = process.env): TaskQueueConfig {
  const r = new EnvReader(env);
  const base = readBase(r, DEFAULT_PORT);
  const databaseUrl = r.str("DATABASE_URL", { description: "sqlite:<path> or postgres://…" });
  let database: DatabaseTarget = { kind: "sqlite", path: ":memory:" };
  if (databaseUrl) {
    try {
      database = parseDatabaseUrl(databaseUrl);
    } catch (err) {
      r.problem((err as Error).message);
    }
  }
  const natsUrl = r.str("NATS_URL", { required: false });
  for (const u of natsUrl?.split(",") ?? []) {
    if (!/^(nats|tls|wss?):\/\/[^\s]+$/.test(u.trim())) r.problem(`NATS_URL=${JSON.stringify(natsUrl)}: expected nats://host:port[,nats://…]`);
  }
  const cfg: TaskQueueConfig = {
    ...base,
    database,
    databaseUrl,
    natsUrl,
    natsStream: r.str("NATS_STREAM", { default: "TASKS" }),
    natsSubjectPrefix: r.str("NATS_SUBJECT_PREFIX", { default: "tasks" }),
    natsStreamReplicas: r.int("NATS_STREAM_REPLICAS", { default: 1, min: 1, max: 5 }),
    natsDuplicateWindowSeconds: r.int("NATS_DUPLICATE_WINDOW_SECONDS", { default: 600, min: 1, max: 86_400 }),
    leaseSecondsDefault: r.int("LEASE_SECONDS_DEFAULT", { default: 30, min: 1, max: 86_400 }),
    leaseSecondsMax: r.int("LEASE_SECONDS_MAX", { default: 3600, min: 1, max: 86_400 }),
    payloadMaxBytes: r.int("PAYLOAD_MAX_BYTES", { default: 64 * 1024, min: 16, max: 16 * 1024 * 1024 }),
    maxAttemptsDefault: r.int("MAX_ATTEMPTS_DEFAULT", { default: 5, min: 1, max: 1000 }),
    backoffBaseMs: r.int("BACKOFF_BASE_MS", { default: 1000, min: 0, max: 3_600_000 }),
    backoffMaxMs: r.int("BACKOFF_MAX_MS", { default: 300_000, min: 0, max: 86_400_000 }),
    reaperIntervalMs: r.int("REAPER_INTERVAL_MS", { default: 1000, min: 50, max: 600_000 }),
    retentionHours: r.int("RETENTION_HOURS", { default: 168, min: 1, max: 87_600 }),
    pgPoolMax: r.int("PG_POOL_MAX", { default: 10, min: 2, max: 200 }),
    batchConcurrency: r.int("BATCH_CONCURRENCY", { default: 2, min: 1, max: 32 }),
  };
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cfg.natsStream)) r.problem(`NATS_STREAM=${JSON.stringify(cfg.natsStream)}: expected 1-64 of A-Z a-z 0-9 _ -`);
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(cfg.natsSubjectPrefix)) r.problem(`NATS_SUBJECT_PREFIX=${JSON.stringify(cfg.natsSubjectPrefix)}: expected dot-separated tokens without wildcards`);
  if (cfg.leaseSecondsDefault > cfg.leaseSecondsMax) r.problem("LEASE_SECONDS_DEFAULT must not exceed LEASE_SECONDS_MAX");
  if (cfg.backoffBaseMs > cfg.backoffMaxMs) r.problem("BACKOFF_BASE_MS must not exceed BACKOFF_MAX_MS");
  r.done();
  return cfg;
}
