/**
 * Each service's environment on any tier, derived once from the service catalogue: the plain
 * values come from the tier's wiring (where NATS, the LLM endpoint and the MCP shards are), the
 * secret ones from the platform secret bound to each key. The single box's boot units, the
 * Kubernetes Deployments and `npm run local` all call this, so a key is never listed twice;
 * `environmentProblems` says which required key a wiring leaves unset.
 */
import type { SecretName } from "./secrets.js";
import { services, type ServiceName } from "./services.js";

/** Where a tier's services find what they talk to (plain values only). */
export interface ServiceWiring {
  /** Address the services bind (127.0.0.1 on the box and locally, 0.0.0.0 in a pod). */
  host: string;
  logLevel?: string;
  /** NATS server URL(s); without one the task queue keeps events in its outbox. */
  natsUrl?: string;
  /** OpenAI-compatible endpoint the brain calls (LiteLLM on the tiers, llama-server locally). */
  llmBaseUrl: string;
  /** The gateway's shard map, canonical JSON (config/config.ts renders it from the stack config). */
  gatewayShards: string;
  whatsappPhoneNumberId: string;
  /** The brain's worker loops per replica (BRAIN_WORKERS): the tier size brainWorkers; unset = the service's default. */
  brainWorkers?: number;
  /** Extra plain keys a tier sets (e.g. NATS_STREAM_REPLICAS on the tier-100 cluster); must be catalogued keys. */
  extra?: Partial<Record<ServiceName, Record<string, string>>>;
}

/** Which platform secret feeds each secret environment key, per service. */
export const serviceSecretBindings: Record<ServiceName, Record<string, SecretName>> = {
  "task-queue": { DATABASE_URL: "task-queue-database-url" },
  "mcp-gateway": { TOKENS_DATABASE_URL: "task-queue-database-url", GATEWAY_UPSTREAM_TOKEN: "gateway-upstream-token" },
  brain: {
    DATABASE_URL: "brain-database-url",
    WHATSAPP_APP_SECRET: "whatsapp-app-secret",
    WHATSAPP_VERIFY_TOKEN: "whatsapp-verify-token",
    WHATSAPP_ACCESS_TOKEN: "whatsapp-access-token",
    LLM_API_KEY: "litellm-master-key",
    STRIPE_SECRET_KEY: "stripe-secret-key",
    STRIPE_WEBHOOK_SECRET: "stripe-webhook-secret",
    BRAIN_ADMIN_TOKEN: "brain-admin-token",
  },
};

/** The plain (non-secret) environment of one service on a tier. */
export function plainEnv(name: ServiceName, w: ServiceWiring): Record<string, string> {
  const spec = services[name];
  const env: Record<string, string> = { PORT: String(spec.port), HOST: w.host, LOG_LEVEL: w.logLevel ?? "info" };
  if (name === "task-queue" && w.natsUrl) env.NATS_URL = w.natsUrl;
  if (name === "mcp-gateway") env.GATEWAY_SHARDS = w.gatewayShards;
  if (name === "brain") {
    env.WHATSAPP_PHONE_NUMBER_ID = w.whatsappPhoneNumberId;
    env.LLM_BASE_URL = w.llmBaseUrl;
    if (w.brainWorkers !== undefined) env.BRAIN_WORKERS = String(w.brainWorkers);
  }
  Object.assign(env, w.extra?.[name] ?? {});
  return env;
}

/** The secret environment keys of one service, each mapped through `value` (a secret id, a local value, …). */
export function secretEnv<T>(name: ServiceName, value: (secret: SecretName, envKey: string) => T | undefined): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [key, secret] of Object.entries(serviceSecretBindings[name])) {
    const v = value(secret, key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** One line per catalogued key that is unknown, in the wrong half (plain vs secret), or required and unset. */
export function environmentProblems(name: ServiceName, plain: Record<string, string>, secretKeys: string[]): string[] {
  const problems: string[] = [];
  const keys = new Map([...services[name].env, ...(services[name].moduleEnv?.keys ?? [])].map((k) => [k.name, k]));
  for (const key of Object.keys(plain)) {
    const spec = keys.get(key);
    if (!spec) problems.push(`${name}: ${key} is not in the service catalogue`);
    else if (spec.secret) problems.push(`${name}: ${key} is a secret but was given as a plain value`);
  }
  for (const key of secretKeys) {
    const spec = keys.get(key);
    if (!spec) problems.push(`${name}: ${key} is not in the service catalogue`);
    else if (!spec.secret) problems.push(`${name}: ${key} is not a secret but was bound to one`);
  }
  for (const spec of keys.values()) {
    if (spec.required && !(spec.name in plain) && !secretKeys.includes(spec.name)) problems.push(`${name}: required ${spec.name} is not set`);
  }
  return problems;
}
