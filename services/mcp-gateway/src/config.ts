import { EnvReader, readBase, type BaseConfig } from "@tierstack/common";

/** Protocol versions the gateway understands, newest first. */
export const MODERN_VERSION = "2026-07-28";
export const LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
export type ShardProtocol = typeof MODERN_VERSION | (typeof LEGACY_VERSIONS)[number];

export interface ShardConfig {
  namespace: string;
  replicas: string[];
  /** The newest protocol version the shard's servers speak; older than 2026-07-28 ⇒ the gateway bridges modern clients. */
  protocol: ShardProtocol;
}

export interface GatewayConfig extends BaseConfig {
  shards: ShardConfig[];
  tokensDatabaseUrl: string;
  redisUrl?: string;
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

/** Every env key readConfig reads (a test checks stacks/services.ts lists the same set). */
export const ENV_KEYS = [
  "PORT",
  "HOST",
  "LOG_LEVEL",
  "GATEWAY_SHARDS",
  "TOKENS_DATABASE_URL",
  "REDIS_URL",
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

/** Namespaces are path segments and tool-name prefixes (`<namespace>__<tool>`), so no `__`. */
const NAMESPACE_RE = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const VERSIONS: readonly string[] = [MODERN_VERSION, ...LEGACY_VERSIONS];

/**
 * Checks the shard map and returns one line per problem (empty when valid). Accepted shapes per namespace:
 *   "dev-tools": ["http://127.0.0.1:9101/mcp", ...]
 *   "dev-tools": { "replicas": [...], "protocol": "2025-11-25" }
 */
export function checkShards(value: unknown): { shards: ShardConfig[]; problems: string[] } {
  const problems: string[] = [];
  const shards: ShardConfig[] = [];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { shards, problems: ["expected an object mapping namespace to replica URLs"] };
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) problems.push("no namespaces: at least one is required");
  for (const [namespace, spec] of entries) {
    if (!NAMESPACE_RE.test(namespace)) {
      problems.push(`namespace ${JSON.stringify(namespace)}: expected 1-32 of a-z 0-9 -, starting and ending with a letter or digit`);
      continue;
    }
    let replicas: unknown = spec;
    let protocol: unknown = LEGACY_VERSIONS[0];
    if (typeof spec === "object" && spec !== null && !Array.isArray(spec)) {
      const o = spec as Record<string, unknown>;
      replicas = o.replicas;
      if (o.protocol !== undefined) protocol = o.protocol;
      for (const k of Object.keys(o)) if (k !== "replicas" && k !== "protocol") problems.push(`${namespace}: unknown key ${JSON.stringify(k)} (expected replicas, protocol)`);
    }
    if (typeof protocol !== "string" || !VERSIONS.includes(protocol)) {
      problems.push(`${namespace}.protocol=${JSON.stringify(protocol)}: expected one of ${VERSIONS.join(", ")}`);
    }
    if (!Array.isArray(replicas) || replicas.length === 0) {
      problems.push(`${namespace}: expected a non-empty array of replica URLs`);
      continue;
    }
    const seen = new Set<string>();
    const ok: string[] = [];
    replicas.forEach((r, i) => {
      if (typeof r !== "string") return problems.push(`${namespace}[${i}]: expected a URL string`);
      try {
        const u = new URL(r);
        if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("protocol");
      } catch {
        return problems.push(`${namespace}[${i}]=${JSON.stringify(r)}: expected an http(s) URL`);
      }
      if (seen.has(r)) return problems.push(`${namespace}[${i}]=${JSON.stringify(r)}: listed twice`);
      seen.add(r);
      ok.push(r);
    });
    shards.push({ namespace, replicas: ok, protocol: protocol as ShardProtocol });
  }
  return { shards, problems };
}

export function readConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const r = new EnvReader(env);
  const base = readBase(r, 7402);
  let shards: ShardConfig[] = [];
  r.json<unknown>("GATEWAY_SHARDS", (v) => {
    const checked = checkShards(v);
    shards = checked.shards;
    return checked.problems.length ? checked.problems.join("; ") : undefined;
  });
  const tokensDatabaseUrl = r.str("TOKENS_DATABASE_URL", { description: "sqlite:<path> or postgres://… (the task queue's database)" });
  const redisUrl = r.url("REDIS_URL", { protocols: ["redis", "rediss"], required: false });
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
