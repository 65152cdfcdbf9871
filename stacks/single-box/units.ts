/**
 * What runs on the single box, as typed data built from the service catalogue and the stack
 * config: one systemd unit per service or platform process, each a pinned container with its
 * plain environment and the Secret Manager secrets it needs. stacks/single-box/cloud-init.ts
 * renders it; nothing here holds a secret value, only secret ids. The llama-server unit and the
 * LiteLLM config come from gpu-node (render, tierLitellmConfig), as every tier's inference does.
 */
import { stringify } from "yaml";
import type { StackConfig } from "../../config/config.js";
import { secretId } from "../../catalog/secrets.js";
import { services, serviceNames, type ServiceName } from "../../catalog/services.js";
import { brainPlanModels, hostedModels } from "../../catalog/llm-models.js";
import { tierLitellmConfig, type ServedModel } from "../../gpu-node/litellm.js";
import { tierInference } from "../../gpu-node/models.js";
import { modelCacheDir, render } from "../../gpu-node/server-spec.js";
import type { InferenceServerSpec } from "../../gpu-node/types.js";
import { plainEnv, secretEnv as catalogSecretEnv, type ServiceWiring } from "../../catalog/service-env.js";
import type { NatsLeafRole } from "../../catalog/nats.js";
import { renderNatsServerConfig, type NatsServerConfig } from "../../components/nats/server-config.js";

export const dataDeviceName = "tierstack-data";
export const dataMount = "/mnt/data";
export const litellmPort = 4000;
/** The single-box plan's llama-server port (gpu-node/models.ts `tierInference["single-box"]`). */
export const llamaPort = tierInference["single-box"]?.servers[0]?.port ?? 8080;
export const natsPort = 4222;
/** The box's NATS monitoring port (loopback), rendered only with the migration's configuration file. */
export const natsMonitorPort = 8222;
/** Where the box's NATS configuration is written during a migration, and where its container reads it. */
export const natsConfigPaths = { host: "/etc/tierstack/nats.conf", container: "/etc/nats/tierstack.conf" } as const;

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

/** Where the box's services find NATS, LiteLLM and the MCP shards (catalog/service-env.ts derives the rest). */
function boxWiring(cfg: StackConfig): ServiceWiring {
  return {
    host: "127.0.0.1",
    natsUrl: `nats://127.0.0.1:${natsPort}`,
    llmBaseUrl: `http://127.0.0.1:${litellmPort}/v1`,
    gatewayShards: cfg.gatewayShardMap,
    whatsappPhoneNumberId: cfg.whatsappPhoneNumberId,
    brainWorkers: cfg.sizes.brainWorkers,
  };
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
  const secretEnv = catalogSecretEnv(name, (secret) => secretId(cfg.stack, secret));
  const volumes: Record<string, string> = {};
  for (const dir of serviceVolumes[name]) volumes[`${dataMount}/${dir}`] = `${dataMount}/${dir}`;
  return {
    name,
    description: spec.description,
    image: image.ref,
    env: plainEnv(name, boxWiring(cfg)),
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
 * The brain's local model and the hosted models LiteLLM serves, from the catalogue
 * (catalog/llm-models.ts, kept equal to services/brain/src/plans.ts by its test).
 */
export const brainLocalModel = brainPlanModels.free.model;
export const openRouterModels: Readonly<Record<string, string>> = hostedModels;

/**
 * The single box's llama-server, from gpu-node: the single-box plan's server (the 8B on GPU 0,
 * 4 slots of 2,048 tokens, port 8080) at the configured image, on localhost, loading
 * `tierstack:llamaModel` from the hub. render() checks every flag against the table at the
 * image's pinned tag.
 */
export function llamaServerSpec(cfg: StackConfig): InferenceServerSpec {
  const server = tierInference["single-box"]?.servers[0];
  if (!server) throw new Error("no single-box inference plan in gpu-node/models.ts");
  return { ...server, image: image(cfg, "llamaServerImage"), host: "127.0.0.1", weights: { hub: cfg.llamaModel } };
}

/**
 * LiteLLM's config (docs.litellm.ai/docs/proxy/configs), generated by gpu-node/litellm.ts from
 * what this box serves: with a GPU, "local" and the brain's local model go to llama-server on
 * this box (the agents' "local" falls back to the same 8B on OpenRouter; the brain falls back
 * itself, ADR 0005); without one the local names go to their OpenRouter twins. "cloud"
 * (tierstack:cloudModel) and the brain's hosted models go through OpenRouter. Keys come from the
 * environment (secrets fetched at boot), never from this file.
 */
export function litellmConfig(cfg: StackConfig): string {
  const served: ServedModel[] = cfg.gpu ? [{ modelKey: llamaServerSpec(cfg).modelKey, apiBase: `http://127.0.0.1:${llamaPort}/v1` }] : [];
  return stringify(tierLitellmConfig(served, cfg.cloudModel), { lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * The box's NATS while it is the old side of single-box → tier-50 (catalog/nats.ts natsLeafRole):
 * the same node as the flags outside a migration (clients on loopback, the store under /data),
 * plus its JetStream domain and a leaf node listener on every interface (the VPC firewall lets
 * only the GKE pod range in, components/network.ts), which tier-50's node connects to. The store
 * may use half the data disk (the flags' default is most of it; the disk also holds SQLite).
 */
export function boxNatsServerConfig(cfg: StackConfig, leaf: Extract<NatsLeafRole, { side: "old" }>): NatsServerConfig {
  return {
    serverName: `${cfg.stack}-box`.slice(0, 63),
    clusterName: "box",
    standalone: true,
    host: "127.0.0.1",
    clientPort: natsPort,
    clusterPort: 6222,
    monitorPort: natsMonitorPort,
    routes: [],
    jetStream: { storeDir: "/data", maxMemoryStoreBytes: 256 * 1024 * 1024, maxFileStoreBytes: Math.floor(cfg.sizes.dataDiskGb / 2) * 1024 * 1024 * 1024, domain: leaf.domain },
    lameDuck: { durationSeconds: 30, gracePeriodSeconds: 10 },
    leafNodes: { listen: { host: "0.0.0.0", port: leaf.port } },
  };
}

/** The box's units and files; `natsLeaf` during a migration away from the box (its NATS then reads a rendered configuration). */
export function singleBoxBoot(cfg: StackConfig, natsLeaf?: Extract<NatsLeafRole, { side: "old" }>): BootSpec {
  const units: UnitSpec[] = [
    {
      name: "nats",
      description: "NATS JetStream, one node (event bus)",
      image: image(cfg, "natsImage"),
      env: {},
      secretEnv: {},
      volumes: { [`${dataMount}/nats`]: "/data", ...(natsLeaf ? { [natsConfigPaths.host]: natsConfigPaths.container } : {}) },
      dockerFlags: [],
      args: natsLeaf ? ["-c", natsConfigPaths.container] : ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", "/data"],
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
    // The config warns about an image pinned by tag only; render's own warning would repeat it.
    const llama = render(llamaServerSpec(cfg));
    units.push({
      name: "llama-server",
      description: "llama.cpp server on the box's GPU",
      image: llama.image,
      env: llama.env,
      secretEnv: {},
      volumes: { [`${dataMount}/models`]: modelCacheDir },
      dockerFlags: ["--gpus", "all"],
      args: llama.args,
      after: [],
      requiresGpu: true,
      port: llama.port,
      healthPath: llama.health.path,
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
    files: [
      { path: "/etc/tierstack/litellm.yaml", content: litellmConfig(cfg), permissions: "0644" },
      ...(natsLeaf ? [{ path: natsConfigPaths.host, content: renderNatsServerConfig(boxNatsServerConfig(cfg, natsLeaf)), permissions: "0644" }] : []),
    ],
    gpu: cfg.gpu,
  };
}
