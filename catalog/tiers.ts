/**
 * The tier catalogue: what each scaling tier contains, its capacity targets and the sizes a
 * stack may choose. One source of truth for the Pulumi program, `tierstack plan`, and later
 * the policies, `capacity` and the migrations. Figures come from the product's own planning
 * analyses; where a figure was measured at a
 * different agent count than the tier's target, `atAgents` says so.
 */
export type TierName = "single-box" | "tier-50" | "tier-100";

export const tierNames: readonly TierName[] = ["single-box", "tier-50", "tier-100"];

/** A size a stack may override: the tier's default and the inclusive range it allows. */
export interface SizeSpec {
  default: number;
  min: number;
  max: number;
  unit: string;
}

/** Config keys (tierstack:<key>) whose defaults and ranges the tier sets. */
export type SizeKey =
  | "gpus"
  | "gatewayShards"
  | "gatewayReplicas"
  | "natsNodes"
  | "litellmReplicas"
  | "learnerPoolMaxNodes"
  | "brainWorkers"
  | "bootDiskGb"
  | "dataDiskGb"
  | "snapshotRetentionDays";

export const sizeKeys: readonly SizeKey[] = [
  "gpus",
  "gatewayShards",
  "gatewayReplicas",
  "natsNodes",
  "litellmReplicas",
  "learnerPoolMaxNodes",
  "brainWorkers",
  "bootDiskGb",
  "dataDiskGb",
  "snapshotRetentionDays",
];

export interface CapacityTargets {
  agents: number;
  products: number;
  /** Learners on WhatsApp the tier is sized for; 0 = no learner target at this tier. */
  learners: number;
  /** LLM tokens a day from the planning analysis, and the agent count it was stated for. */
  tokensPerDay: { tokens: number; atAgents: number };
  /** Share of tokens served by local inference in the hybrid design. */
  localShare: number;
  /** Monthly infrastructure in the planning analysis (USD), and the agent count. */
  infraUsdPerMonth: { usd: number; atAgents: number };
}

export interface Subsystems {
  compute: "vm" | "gke";
  store: "sqlite" | "postgres";
  /** PostgreSQL with a standby (REGIONAL). */
  storeHa: boolean;
  coordination: "files" | "redis";
  /** "basic" or "standard" Memorystore tier; undefined without Redis. */
  redisTier?: "basic" | "standard";
  inference: "llama.cpp" | "vllm";
  /** Inference runs on the platform box itself, on a separate GPU box, or on a dedicated node. */
  inferencePlacement: "same-box" | "gpu-box" | "dedicated-node";
  gatewayAffinity: "none" | "redis-session";
  litellmBehindLoadBalancer: boolean;
  /** Container-per-learner pool (gVisor) for learners on a dedicated plan. */
  learnerPool: boolean;
}

export interface TierSpec {
  name: TierName;
  summary: string;
  /** false until the tier's issue lands; the program refuses to build it. */
  built: boolean;
  /** The issue that builds this tier. */
  issue: string;
  capacity: CapacityTargets;
  subsystems: Subsystems;
  sizes: Record<SizeKey, SizeSpec>;
  /** Machine type of the platform box (single-box) or GPU box, unless config overrides it. */
  defaultMachineType: string;
}

const disks = {
  bootDiskGb: { default: 50, min: 20, max: 500, unit: "GB" },
  dataDiskGb: { default: 100, min: 20, max: 4000, unit: "GB" },
  snapshotRetentionDays: { default: 14, min: 1, max: 365, unit: "days" },
} satisfies Partial<Record<SizeKey, SizeSpec>>;

export const tiers: Record<TierName, TierSpec> = {
  "single-box": {
    name: "single-box",
    summary: "One GCE VM (optional L4 GPU): SQLite on a data disk, files for coordination, one of everything",
    built: true,
    issue: "foundation",
    capacity: {
      agents: 20,
      products: 30,
      learners: 0,
      tokensPerDay: { tokens: 2_000_000, atAgents: 10 },
      localShare: 0.7,
      infraUsdPerMonth: { usd: 313, atAgents: 10 },
    },
    subsystems: {
      compute: "vm",
      store: "sqlite",
      storeHa: false,
      coordination: "files",
      inference: "llama.cpp",
      inferencePlacement: "same-box",
      gatewayAffinity: "none",
      litellmBehindLoadBalancer: false,
      learnerPool: false,
    },
    sizes: {
      gpus: { default: 0, min: 0, max: 1, unit: "GPUs" },
      gatewayShards: { default: 1, min: 1, max: 1, unit: "shards" },
      gatewayReplicas: { default: 1, min: 1, max: 1, unit: "replicas per shard" },
      natsNodes: { default: 1, min: 1, max: 1, unit: "nodes" },
      litellmReplicas: { default: 1, min: 1, max: 1, unit: "replicas" },
      learnerPoolMaxNodes: { default: 0, min: 0, max: 0, unit: "nodes" },
      brainWorkers: { default: 256, min: 1, max: 10000, unit: "worker loops per brain replica (LLM calls in flight)" },
      ...disks,
    },
    defaultMachineType: "e2-standard-4",
  },
  "tier-50": {
    name: "tier-50",
    summary: "GKE cluster + a GPU box with two GPUs: Cloud SQL PostgreSQL, Memorystore Redis, sharded MCP gateway",
    built: true,
    issue: "tier-50",
    capacity: {
      agents: 50,
      products: 50,
      learners: 0,
      tokensPerDay: { tokens: 10_000_000, atAgents: 50 },
      localShare: 0.7,
      infraUsdPerMonth: { usd: 525, atAgents: 50 },
    },
    subsystems: {
      compute: "gke",
      store: "postgres",
      storeHa: false,
      coordination: "redis",
      redisTier: "basic",
      inference: "llama.cpp",
      inferencePlacement: "gpu-box",
      // Shards run up to two replicas (and two pods during a rolling update): sessions live in the
      // Redis registry (ADR 0020), so any replica serves any session.
      gatewayAffinity: "redis-session",
      litellmBehindLoadBalancer: false,
      learnerPool: false,
    },
    sizes: {
      gpus: { default: 2, min: 2, max: 2, unit: "GPUs" },
      gatewayShards: { default: 2, min: 2, max: 4, unit: "shards" },
      gatewayReplicas: { default: 1, min: 1, max: 2, unit: "replicas per shard" },
      natsNodes: { default: 1, min: 1, max: 1, unit: "nodes" },
      litellmReplicas: { default: 1, min: 1, max: 2, unit: "replicas" },
      learnerPoolMaxNodes: { default: 0, min: 0, max: 0, unit: "nodes" },
      brainWorkers: { default: 512, min: 1, max: 10000, unit: "worker loops per brain replica (LLM calls in flight)" },
      ...disks,
    },
    defaultMachineType: "g2-standard-24",
  },
  "tier-100": {
    name: "tier-100",
    summary: "GKE + dedicated vLLM inference node + gVisor learner pool: PostgreSQL HA, Redis standard, 3-node NATS",
    built: true,
    issue: "tier-100",
    capacity: {
      agents: 100,
      products: 100,
      learners: 16_000,
      tokensPerDay: { tokens: 20_000_000, atAgents: 100 },
      localShare: 0.7,
      infraUsdPerMonth: { usd: 1_200, atAgents: 100 },
    },
    subsystems: {
      compute: "gke",
      store: "postgres",
      storeHa: true,
      coordination: "redis",
      redisTier: "standard",
      inference: "vllm",
      inferencePlacement: "dedicated-node",
      gatewayAffinity: "redis-session",
      litellmBehindLoadBalancer: true,
      learnerPool: true,
    },
    sizes: {
      gpus: { default: 1, min: 1, max: 8, unit: "GPUs" },
      gatewayShards: { default: 2, min: 2, max: 8, unit: "shards" },
      gatewayReplicas: { default: 2, min: 2, max: 6, unit: "replicas per shard" },
      // Odd only (3 or 5): config/config.ts refuses 4, so a majority survives the loss of a node.
      natsNodes: { default: 3, min: 3, max: 5, unit: "nodes" },
      litellmReplicas: { default: 2, min: 2, max: 8, unit: "replicas" },
      learnerPoolMaxNodes: { default: 4, min: 1, max: 50, unit: "nodes" },
      brainWorkers: { default: 1024, min: 1, max: 10000, unit: "worker loops per brain replica (LLM calls in flight)" },
      ...disks,
    },
    defaultMachineType: "a2-highgpu-1g",
  },
};

export function isTierName(value: string): value is TierName {
  return (tierNames as readonly string[]).includes(value);
}
