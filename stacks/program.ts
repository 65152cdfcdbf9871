/**
 * The Pulumi program as a function: reads the stack config, checks it (one-line ConfigError),
 * and builds the stack's tier with that tier's builder. index.ts hands it to `pulumi up`;
 * `tierstack plan` and the tests call it under Pulumi's runtime mocks. A new tier plugs in by
 * adding its composition (stacks/<tier>.ts), its member of BuiltStack and its builder below, and
 * setting `built: true` in catalog/tiers.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { SingleBox } from "./single-box.js";
import { Tier50 } from "./tier-50.js";
import { litellmInternalName, Tier100 } from "./tier-100.js";
import { namespace, parseStackConfig, secretConfigKeys, type StackConfig } from "../config/config.js";
import type { TierName } from "../catalog/tiers.js";

export class TierNotBuiltError extends Error {
  override name = "TierNotBuiltError";
}

/** What every tier exports. */
export interface CommonOutputs {
  tier: string;
  publicHostnames: string[];
  privateHostnames: string[];
  secretIds: string[];
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

type TierBuilder<T extends TierName> = (
  cfg: StackConfig,
  configSecrets: Record<string, pulumi.Output<string>>,
) => Extract<BuiltStack, { tier: T }>;

function buildSingleBox(cfg: StackConfig, configSecrets: Record<string, pulumi.Output<string>>): Extract<BuiltStack, { tier: "single-box" }> {
  const box = new SingleBox(cfg.stack, { config: cfg, configSecrets });
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

function buildTier50(cfg: StackConfig, configSecrets: Record<string, pulumi.Output<string>>): Extract<BuiltStack, { tier: "tier-50" }> {
  const t = new Tier50(cfg.stack, { config: cfg, configSecrets });
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

function buildTier100(cfg: StackConfig, configSecrets: Record<string, pulumi.Output<string>>): Extract<BuiltStack, { tier: "tier-100" }> {
  const t = new Tier100(cfg.stack, { config: cfg, configSecrets });
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

export async function buildStackWithParts(): Promise<BuiltStack> {
  const cfg = currentConfig();
  const builder = tierBuilders[cfg.tier.name] as TierBuilder<TierName> | undefined;
  if (!cfg.tier.built || !builder) throw new TierNotBuiltError(`${cfg.tier.name} is not built yet (issue: ${cfg.tier.issue})`);
  const config = new pulumi.Config(namespace);
  const configSecrets: Record<string, pulumi.Output<string>> = {};
  for (const key of secretConfigKeys) configSecrets[key] = config.requireSecret(key);
  return builder(cfg, configSecrets);
}

/** The stack outputs (what `pulumi up` exports). */
export async function buildStack(): Promise<StackOutputs> {
  return (await buildStackWithParts()).outputs;
}
