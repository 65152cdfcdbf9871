import { EnvReader, parseRedisUrl, readBase, type BaseConfig } from "@tierstack/common";
import { parseShardMap, type ShardConfig } from "@tierstack/shard-map";

// The shard map, its protocol versions and its parser live in @tierstack/shard-map (shared with the
// stack config); re-exported here so the gateway's modules keep importing them from ./config.js.
export { LEGACY_VERSIONS, MODERN_VERSION, type ShardConfig, type ShardProtocol } from "@tierstack/shard-map";

export interface GatewayConfig extends BaseConfig {
  shards: ShardConfig[];
  tokensDatabaseUrl: string;
  redisUrl?: string;
  /** CA the Redis server's certificate must chain to (required with rediss://). */
  redisCaFile?: string;
  redisPrefix: string;
  upstreamToken?: string;
  /** Allowed `Origin` values; a request without Origin (a non-browser agent) is always allowed. */
  allowedOrigins: string[];
  rateLimit: { perSecond: number; burst: number };
  healthIntervalMs: number;
  healthTimeoutMs: number;
  sessionTtlSeconds: number;
  maxBodyBytes: number;
  maxResponseBytes: number;
  upstreamTimeoutMs: number;
}

/** Every env key readConfig reads (a test checks catalog/services.ts lists the same set). */
export const ENV_KEYS = [
  "PORT",
  "HOST",
  "LOG_LEVEL",
  "GATEWAY_SHARDS",
  "TOKENS_DATABASE_URL",
  "REDIS_URL",
  "REDIS_CA_FILE",
  "GATEWAY_REDIS_PREFIX",
  "GATEWAY_UPSTREAM_TOKEN",
  "GATEWAY_ALLOWED_ORIGINS",
  "GATEWAY_RATE_PER_SECOND",
  "GATEWAY_RATE_BURST",
  "GATEWAY_HEALTH_INTERVAL_MS",
  "GATEWAY_HEALTH_TIMEOUT_MS",
  "GATEWAY_SESSION_TTL_SECONDS",
  "GATEWAY_MAX_BODY_BYTES",
  "GATEWAY_MAX_RESPONSE_BYTES",
  "GATEWAY_UPSTREAM_TIMEOUT_MS",
] as const;

/** Checks a parsed shard map: `{ shards, problems }`, one line per problem (see @tierstack/shard-map). */
export function checkShards(value: unknown): { shards: ShardConfig[]; problems: string[] } {
  return parseShardMap(value);
}

export function readConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const r = new EnvReader(env);
  const base = readBase(r, 7402);
  let shards: ShardConfig[] = [];
  // EnvReader reports unparsable JSON; the text (not the parsed value) goes to the parser so it also
  // refuses a namespace or key given twice, which JSON.parse would silently collapse.
  r.json<unknown>("GATEWAY_SHARDS", () => {
    const checked = parseShardMap(env.GATEWAY_SHARDS ?? "");
    shards = checked.shards;
    return checked.problems.length ? checked.problems.join("; ") : undefined;
  });
  const tokensDatabaseUrl = r.str("TOKENS_DATABASE_URL", { description: "sqlite:<path> or postgres://… (the task queue's database)" });
  const redisUrl = r.url("REDIS_URL", { protocols: ["redis", "rediss"], required: false });
  const redisCaFile = r.str("REDIS_CA_FILE", { required: false });
  // rediss:// needs REDIS_CA_FILE and the file must be a readable CA: one line now, not at the first session.
  // (REDIS_CA_FILE without REDIS_URL is harmless: a tier may mount the CA for every service.)
  if (redisUrl) {
    try {
      parseRedisUrl(redisUrl, redisCaFile);
    } catch (err) {
      r.problem((err as Error).message);
    }
  }
  const origins = r.str("GATEWAY_ALLOWED_ORIGINS", { default: "" });
  const allowedOrigins = origins.split(",").map((s) => s.trim()).filter(Boolean);
  for (const o of allowedOrigins) {
    try {
      if (new URL(o).origin !== o) throw new Error("not an origin");
    } catch {
      r.problem(`GATEWAY_ALLOWED_ORIGINS: ${JSON.stringify(o)} is not an origin (scheme://host[:port])`);
    }
  }
  const cfg: GatewayConfig = {
    ...base,
    shards,
    tokensDatabaseUrl,
    redisUrl,
    redisCaFile,
    redisPrefix: r.str("GATEWAY_REDIS_PREFIX", { default: "mcpgw:" }),
    upstreamToken: r.str("GATEWAY_UPSTREAM_TOKEN", { required: false }),
    allowedOrigins,
    rateLimit: {
      perSecond: r.int("GATEWAY_RATE_PER_SECOND", { default: 50, min: 1, max: 1_000_000 }),
      burst: r.int("GATEWAY_RATE_BURST", { default: 100, min: 1, max: 1_000_000 }),
    },
    healthIntervalMs: r.int("GATEWAY_HEALTH_INTERVAL_MS", { default: 2000, min: 50, max: 600_000 }),
    healthTimeoutMs: r.int("GATEWAY_HEALTH_TIMEOUT_MS", { default: 1000, min: 10, max: 60_000 }),
    sessionTtlSeconds: r.int("GATEWAY_SESSION_TTL_SECONDS", { default: 3600, min: 10, max: 7 * 86400 }),
    maxBodyBytes: r.int("GATEWAY_MAX_BODY_BYTES", { default: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 }),
    maxResponseBytes: r.int("GATEWAY_MAX_RESPONSE_BYTES", { default: 8 * 1024 * 1024, min: 1024, max: 1024 * 1024 * 1024 }),
    upstreamTimeoutMs: r.int("GATEWAY_UPSTREAM_TIMEOUT_MS", { default: 60_000, min: 100, max: 3_600_000 }),
  };
  r.done();
  return cfg;
}
