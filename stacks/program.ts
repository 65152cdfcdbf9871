/**
 * The Pulumi program as a function: reads the stack config, checks it (one-line ConfigError),
 * and builds the stack's tier with that tier's builder. index.ts hands it to `pulumi up`;
 * `tierstack plan` and the tests call it under Pulumi's runtime mocks. A new tier plugs in by
 * adding its composition (stacks/<tier>.ts), its member of BuiltStack and its builder below, and
 * setting `built: true` in catalog/tiers.ts. While the stack migrates between tiers
 * (tierstack:migrationTarget / migrationStage), both tiers' compositions are built side by side
 * as stacks/migration.ts plans them.
 */
import * as pulumi from "@pulumi/pulumi";
import { SingleBox } from "./single-box.js";
import { Tier50 } from "./tier-50.js";
import { litellmInternalName, Tier100 } from "./tier-100.js";
import { namespace, parseStackConfig, secretConfigKeys, type StackConfig } from "../config/config.js";
import type { TierName } from "../catalog/tiers.js";
import type { StageId } from "../catalog/migration.js";
import { emptyRecord, migrationPhase, migrationTransformation, registered, tierConfig, type CompositionPlan, type CompositionRecord, type MigrationPhase } from "./migration.js";

export class TierNotBuiltError extends Error {
  override name = "TierNotBuiltError";
}

/** What every tier exports. */
export interface CommonOutputs {
  tier: string;
  publicHostnames: string[];
  privateHostnames: string[];
  secretIds: string[];
  /** Set while the stack migrates (stacks/migration.ts). */
  migration?: MigrationOutputs;
}

export interface MigrationOutputs {
  from: TierName;
  to: TierName;
  stage: StageId;
  /** The tiers whose compositions this stage declares. */
  declared: TierName[];
  /** URNs of the old tier's data stores: `pulumi state unprotect` each before contract (they are retained, not deleted). */
  releaseAtContract: string[];
}

export interface SingleBoxOutputs extends CommonOutputs {
  vmName: pulumi.Output<string>;
  dataDisk: pulumi.Output<string>;
  tunnelId: pulumi.Output<string>;
}

export interface Tier50Outputs extends CommonOutputs {
  clusterName: pulumi.Output<string>;
  namespace: string;
  /** Namespaces served by each gateway shard (mcp-gateway-<i>). */
  gatewayShards: Record<string, string[]>;
  databaseConnectionName: pulumi.Output<string>;
  /** Where service images are pushed: <region>-docker.pkg.dev/<project>/<repository>. */
  imagePrefix: pulumi.Output<string>;
  inferenceBox: pulumi.Output<string>;
  /** Upload target of the model weights (gpu-node/README.md). */
  weightsBucket: pulumi.Output<string>;
  tunnelId: pulumi.Output<string>;
}

export interface Tier100Outputs extends CommonOutputs {
  clusterName: pulumi.Output<string>;
  /** The zones the regional cluster's platform pools span. */
  zones: string[];
  namespace: string;
  /** Namespaces served by each gateway shard (mcp-gateway-<i>). */
  gatewayShards: Record<string, string[]>;
  databaseConnectionName: pulumi.Output<string>;
  imagePrefix: pulumi.Output<string>;
  /** nats://… of every NATS node, and the replicas every platform stream is created with. */
  natsUrls: string[];
  streamReplicas: number;
  /** The GPU node pool and the models it serves. */
  inferencePool: pulumi.Output<string>;
  inferenceModels: string[];
  /** The internal load balancer's Service in front of LiteLLM. */
  litellmInternalService: string;
  tunnelId: pulumi.Output<string>;
}

/** The program's result, one member per built tier. */
export type BuiltStack =
  | { tier: "single-box"; outputs: SingleBoxOutputs; root: SingleBox }
  | { tier: "tier-50"; outputs: Tier50Outputs; root: Tier50 }
  | { tier: "tier-100"; outputs: Tier100Outputs; root: Tier100 };

export type StackOutputs = BuiltStack["outputs"];

/** The program's result: the stack's tier (tierstack:tier), and during a migration what was built beside it. */
export type ProgramResult = BuiltStack & { migration?: MigrationParts };

export interface MigrationParts {
  phase: MigrationPhase;
  /** The old tier's composition (absent at contract). */
  old?: BuiltStack;
  /** The target tier's composition. */
  target: BuiltStack;
  records: { old?: CompositionRecord; target: CompositionRecord };
}

type TierBuilder<T extends TierName> = (
  cfg: StackConfig,
  configSecrets: Record<string, pulumi.Output<string>>,
  opts?: pulumi.ComponentResourceOptions,
) => Extract<BuiltStack, { tier: T }>;

function buildSingleBox(cfg: StackConfig, configSecrets: Record<string, pulumi.Output<string>>, opts?: pulumi.ComponentResourceOptions): Extract<BuiltStack, { tier: "single-box" }> {
  const box = new SingleBox(cfg.stack, { config: cfg, configSecrets }, opts);
  return {
    tier: "single-box",
    root: box,
    outputs: {
      ...commonOutputs(cfg, box),
      vmName: box.vmName,
      dataDisk: box.dataDiskName,
      tunnelId: box.tunnelId,
    },
  };
}

/** The outputs every tier exports. */
function commonOutputs(cfg: StackConfig, t: { publicHostnames: string[]; privateHostnames: string[]; secrets: { secretIds: Record<string, string> } }): CommonOutputs {
  return { tier: cfg.tier.name, publicHostnames: t.publicHostnames, privateHostnames: t.privateHostnames, secretIds: Object.values(t.secrets.secretIds) };
}

function buildTier50(cfg: StackConfig, configSecrets: Record<string, pulumi.Output<string>>, opts?: pulumi.ComponentResourceOptions): Extract<BuiltStack, { tier: "tier-50" }> {
  const t = new Tier50(cfg.stack, { config: cfg, configSecrets }, opts);
  return {
    tier: "tier-50",
    root: t,
    outputs: {
      ...commonOutputs(cfg, t),
      clusterName: t.cluster.cluster.name,
      namespace: t.namespace,
      gatewayShards: Object.fromEntries(t.gatewayShards.map((s) => [s.name, s.namespaces])),
      databaseConnectionName: t.postgres.connectionName,
      imagePrefix: t.images.imagePrefix,
      inferenceBox: t.inference.instance.name,
      weightsBucket: t.inference.bucketName,
      tunnelId: t.tunnelId,
    },
  };
}

function buildTier100(cfg: StackConfig, configSecrets: Record<string, pulumi.Output<string>>, opts?: pulumi.ComponentResourceOptions): Extract<BuiltStack, { tier: "tier-100" }> {
  const t = new Tier100(cfg.stack, { config: cfg, configSecrets }, opts);
  return {
    tier: "tier-100",
    root: t,
    outputs: {
      ...commonOutputs(cfg, t),
      clusterName: t.cluster.cluster.name,
      zones: t.zones,
      namespace: t.namespace,
      gatewayShards: Object.fromEntries(t.gatewayShards.map((s) => [s.name, s.namespaces])),
      databaseConnectionName: t.postgres.connectionName,
      imagePrefix: t.images.imagePrefix,
      natsUrls: t.nats.layout.nodeUrls,
      streamReplicas: t.nats.streamReplicas,
      inferencePool: t.inference.nodePool.name,
      inferenceModels: t.inference.servers.map((s) => s.litellmName),
      litellmInternalService: `${t.namespace}/${litellmInternalName}`,
      tunnelId: t.tunnelId,
    },
  };
}

/** One builder per built tier. */
export const tierBuilders: { [T in TierName]?: TierBuilder<T> } = {
  "single-box": buildSingleBox,
  "tier-50": buildTier50,
  "tier-100": buildTier100,
};

/** Reads and checks the current stack's config (throws ConfigError). */
export function currentConfig(): StackConfig {
  return parseStackConfig(pulumi.runtime.allConfig(), pulumi.getStack());
}

function builderOf(cfg: StackConfig): TierBuilder<TierName> {
  const builder = tierBuilders[cfg.tier.name] as TierBuilder<TierName> | undefined;
  if (!cfg.tier.built || !builder) throw new TierNotBuiltError(`${cfg.tier.name} is not built yet (issue: ${cfg.tier.issue})`);
  return builder;
}

export async function buildStackWithParts(): Promise<ProgramResult> {
  const cfg = currentConfig();
  const config = new pulumi.Config(namespace);
  const configSecrets: Record<string, pulumi.Output<string>> = {};
  for (const key of secretConfigKeys) configSecrets[key] = config.requireSecret(key);
  const raw = pulumi.runtime.allConfig();
  const phase = migrationPhase(raw);
  if (!phase) return builderOf(cfg)(cfg, configSecrets);
  return await buildMigrating(cfg, raw, phase, configSecrets);
}

/**
 * Both tiers during a migration (stacks/migration.ts): the one registering the shared resources
 * is built first, the other refers to them. Returns the composition of tierstack:tier.
 */
async function buildMigrating(cfg: StackConfig, raw: Record<string, string>, phase: MigrationPhase, configSecrets: Record<string, pulumi.Output<string>>): Promise<ProgramResult> {
  const build = (tier: TierName, plan: Omit<CompositionPlan, "tier" | "other">) => {
    const tc = tierConfig(raw, cfg.stack, tier);
    const record = emptyRecord();
    const t = migrationTransformation({ ...plan, tier, other: tier === phase.from ? phase.to : phase.from }, record);
    return { built: builderOf(tc)(tc, configSecrets, { transformations: [t] }), record };
  };
  let old: { built: BuiltStack; record: CompositionRecord } | undefined;
  let target: { built: BuiltStack; record: CompositionRecord };
  switch (phase.stage) {
    case "expand":
    case "copy":
      old = build(phase.from, { protect: true, retain: false });
      await registered(old.record);
      target = build(phase.to, { referTo: old.record.registered, protect: false, retain: false });
      break;
    case "cutover":
      target = build(phase.to, { protect: true, retain: false });
      await registered(target.record);
      old = build(phase.from, { referTo: target.record.registered, protect: true, retain: true });
      break;
    case "contract":
      target = build(phase.to, { protect: false, retain: false });
      break;
  }
  const current = [old?.built, target.built].find((b) => b?.tier === cfg.tier.name);
  if (!current) throw new Error(`migration ${phase.from} → ${phase.to} at ${phase.stage}: tierstack:tier = ${cfg.tier.name} is neither tier`);
  const migration: MigrationOutputs = {
    ...phase,
    declared: old ? [phase.from, phase.to] : [phase.to],
    releaseAtContract: phase.stage === "cutover" ? (old?.record.protectedStores ?? []) : [],
  };
  return {
    ...current,
    outputs: { ...current.outputs, migration },
    migration: { phase, ...(old ? { old: old.built } : {}), target: target.built, records: { ...(old ? { old: old.record } : {}), target: target.record } },
  } as ProgramResult;
}

/** The stack outputs (what `pulumi up` exports). */
export async function buildStack(): Promise<StackOutputs> {
  return (await buildStackWithParts()).outputs;
}
