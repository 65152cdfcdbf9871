/**
 * What runs on the single box, as typed data built from the service catalogue and the stack
 * config: one systemd unit per service or platform process, each a pinned container with its
 * plain environment and the Secret Manager secrets it needs. components/cloud-init.ts renders
 * it; nothing here holds a secret value, only secret ids.
 */
import { stringify } from "yaml";
import type { StackConfig } from "../../config/config.js";
import { secretId, type SecretName } from "../../catalog/secrets.js";
import { services, serviceNames, type ServiceName } from "../../catalog/services.js";

export const dataDeviceName = "tierstack-data";
export const dataMount = "/mnt/data";
export const litellmPort = 4000;
export const llamaPort = 8080;
export const natsPort = 4222;

export interface UnitSpec {
  /** Unit name without prefix: the systemd unit is tierstack-<name>.service. */
  name: string;
  description: string;
  image: string;
  /** Non-secret environment, written to /etc/tierstack/<name>.env. */
  env: Record<string, string>;
  /** Environment variable → Secret Manager secret id, fetched at boot into /run/tierstack/<name>.secrets.env. */
  secretEnv: Record<string, string>;
  /** host path → container path. */
  volumes: Record<string, string>;
  /** Extra `docker run` flags (e.g. --gpus all). */
  dockerFlags: string[];
  /** Arguments after the image. */
  args: string[];
  /** Other units (names) this one starts after. */
  after: string[];
  requiresGpu: boolean;
  /** Local port and health path the unit serves, when it has one. */
  port?: number;
  healthPath?: string;
}

export interface BootFile {
  path: string;
  content: string;
  permissions: string;
}

export interface BootSpec {
  stack: string;
  dataDeviceName: string;
  dataMount: string;
  /** Directories created on the data disk (owned by root). */
  dataDirs: string[];
  units: UnitSpec[];
  /** Extra non-secret files (LiteLLM config). */
  files: BootFile[];
  gpu: boolean;
}

export const sqlitePaths: Record<"task-queue" | "brain", string> = {
  "task-queue": `${dataMount}/task-queue/queue.db`,
  brain: `${dataMount}/brain/brain.db`,
};

/** Environment variable → platform secret, per catalogue service (single-box wiring). */
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

function servicePlainEnv(name: ServiceName, cfg: StackConfig): Record<string, string> {
  const spec = services[name];
  const env: Record<string, string> = { PORT: String(spec.port), HOST: "127.0.0.1", LOG_LEVEL: "info" };
  if (name === "task-queue") env.NATS_URL = `nats://127.0.0.1:${natsPort}`;
  if (name === "mcp-gateway") env.GATEWAY_SHARDS = cfg.gatewayShardMap;
  if (name === "brain") {
    env.WHATSAPP_PHONE_NUMBER_ID = cfg.whatsappPhoneNumberId;
    env.LLM_BASE_URL = `http://127.0.0.1:${litellmPort}/v1`;
  }
  return env;
}

const serviceVolumes: Record<ServiceName, string[]> = {
  "task-queue": ["task-queue"],
  "mcp-gateway": ["task-queue"],
  brain: ["brain"],
};

function serviceUnit(name: ServiceName, cfg: StackConfig): UnitSpec {
  const spec = services[name];
  const image = cfg.images[spec.imageKey];
  if (!image) throw new Error(`no image for ${spec.imageKey}`);
  const secretEnv: Record<string, string> = {};
  for (const [env, secret] of Object.entries(serviceSecretBindings[name])) secretEnv[env] = secretId(cfg.stack, secret);
  const volumes: Record<string, string> = {};
  for (const dir of serviceVolumes[name]) volumes[`${dataMount}/${dir}`] = `${dataMount}/${dir}`;
  return {
    name,
    description: spec.description,
    image: image.ref,
    env: servicePlainEnv(name, cfg),
    secretEnv,
    volumes,
    dockerFlags: [],
    args: [],
    after: name === "brain" ? ["nats", "litellm"] : ["nats"],
    requiresGpu: false,
    port: spec.port,
    healthPath: spec.healthPath,
  };
}

function image(cfg: StackConfig, key: string): string {
  const ref = cfg.images[key];
  if (!ref) throw new Error(`no image for ${key}`);
  return ref.ref;
}

/**
 * Model names LiteLLM serves besides "local" and "cloud": the names the brain's plans ask for
 * (services/brain/src/plans.ts, model and fallbackModel; test/cloud-init.test.ts keeps the two
 * equal), each mapped to its OpenRouter model id. The program never imports a service, so the
 * list is repeated here as data.
 */
export const brainLocalModel = "local/llama-3.1-8b-instruct";
export const openRouterModels: Record<string, string> = {
  "meta-llama/llama-3.1-8b-instruct": "meta-llama/llama-3.1-8b-instruct",
  "openai/gpt-4.1-mini": "openai/gpt-4.1-mini",
  "openai/gpt-4o-mini": "openai/gpt-4o-mini",
  "anthropic/claude-sonnet-4.5": "anthropic/claude-sonnet-4.5",
};

/**
 * LiteLLM's config (docs.litellm.ai/docs/proxy/configs: model_list, litellm_params,
 * os.environ/<KEY> references): with a GPU, "local" and the brain's local model go to
 * llama-server on this box; without one the brain's local model falls to the same 8B model on
 * OpenRouter. "cloud" (tierstack:cloudModel) and the brain's hosted models go through OpenRouter.
 * Keys come from the environment (secrets fetched at boot), never from this file.
 */
export function litellmConfig(cfg: StackConfig): string {
  const openrouter = (model: string) => ({ model: model.startsWith("openrouter/") ? model : `openrouter/${model}`, api_key: "os.environ/OPENROUTER_API_KEY" });
  const local = { model: `openai/${cfg.llamaModel}`, api_base: `http://127.0.0.1:${llamaPort}/v1`, api_key: "none" };
  const models: { model_name: string; litellm_params: Record<string, string> }[] = [];
  if (cfg.gpu) {
    models.push({ model_name: "local", litellm_params: { ...local } }, { model_name: brainLocalModel, litellm_params: { ...local } });
  } else {
    models.push({ model_name: brainLocalModel, litellm_params: openrouter("meta-llama/llama-3.1-8b-instruct") });
  }
  models.push({ model_name: "cloud", litellm_params: openrouter(cfg.cloudModel) });
  for (const [name, id] of Object.entries(openRouterModels)) models.push({ model_name: name, litellm_params: openrouter(id) });
  return stringify({ model_list: models, general_settings: { master_key: "os.environ/LITELLM_MASTER_KEY" } }, { lineWidth: 0 });
}

export function singleBoxBoot(cfg: StackConfig): BootSpec {
  const units: UnitSpec[] = [
    {
      name: "nats",
      description: "NATS JetStream, one node (event bus)",
      image: image(cfg, "natsImage"),
      env: {},
      secretEnv: {},
      volumes: { [`${dataMount}/nats`]: "/data" },
      dockerFlags: [],
      args: ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", "/data"],
      after: [],
      requiresGpu: false,
      port: natsPort,
    },
    {
      name: "litellm",
      description: "LiteLLM proxy: routes to the local model and cloud models",
      image: image(cfg, "litellmImage"),
      env: {},
      secretEnv: {
        LITELLM_MASTER_KEY: secretId(cfg.stack, "litellm-master-key"),
        OPENROUTER_API_KEY: secretId(cfg.stack, "openrouter-api-key"),
      },
      volumes: { "/etc/tierstack/litellm.yaml": "/app/config.yaml" },
      dockerFlags: [],
      args: ["--config", "/app/config.yaml", "--host", "127.0.0.1", "--port", String(litellmPort)],
      after: cfg.gpu ? ["llama-server"] : [],
      requiresGpu: false,
      port: litellmPort,
      healthPath: "/health/liveliness",
    },
  ];
  if (cfg.gpu) {
    units.push({
      name: "llama-server",
      description: "llama.cpp server on the box's GPU",
      image: image(cfg, "llamaServerImage"),
      env: { LLAMA_CACHE: "/models" },
      secretEnv: {},
      volumes: { [`${dataMount}/models`]: "/models" },
      dockerFlags: ["--gpus", "all"],
      args: ["--host", "127.0.0.1", "--port", String(llamaPort), "-hf", cfg.llamaModel, "-c", "8192", "-ngl", "99", "--parallel", "4", "--metrics"],
      after: [],
      requiresGpu: true,
      port: llamaPort,
      healthPath: "/health",
    });
  }
  for (const name of serviceNames) units.push(serviceUnit(name, cfg));
  units.push({
    name: "cloudflared",
    description: "Cloudflare tunnel connector (outbound only)",
    image: image(cfg, "cloudflaredImage"),
    env: {},
    secretEnv: { TUNNEL_TOKEN: secretId(cfg.stack, "cloudflared-tunnel-token") },
    volumes: {},
    dockerFlags: [],
    args: ["tunnel", "--no-autoupdate", "run"],
    after: [...serviceNames],
    requiresGpu: false,
  });
  return {
    stack: cfg.stack,
    dataDeviceName,
    dataMount,
    dataDirs: ["task-queue", "brain", "nats", "models", "coordination"].map((d) => `${dataMount}/${d}`),
    units,
    files: [{ path: "/etc/tierstack/litellm.yaml", content: litellmConfig(cfg), permissions: "0644" }],
    gpu: cfg.gpu,
  };
}
