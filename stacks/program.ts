/**
 * The Pulumi program as a function: reads the stack config, checks it (one-line ConfigError),
 * and builds the stack's tier with that tier's builder. index.ts hands it to `pulumi up`;
 * `tierstack plan` and the tests call it under Pulumi's runtime mocks. A new tier plugs in by
 * adding its builder below and setting `built: true` in stacks/tiers.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { SingleBox } from "../components/single-box.js";
import { namespace, parseStackConfig, secretConfigKeys, type StackConfig } from "./config.js";
import type { TierName } from "./tiers.js";

export class TierNotBuiltError extends Error {
  override name = "TierNotBuiltError";
}

export interface StackOutputs {
  tier: string;
  publicHostnames: string[];
  privateHostnames: string[];
  vmName: pulumi.Output<string>;
  dataDisk: pulumi.Output<string>;
  tunnelId: pulumi.Output<string>;
  secretIds: string[];
}

export interface BuiltStack {
  outputs: StackOutputs;
  singleBox: SingleBox;
}

type TierBuilder = (cfg: StackConfig, configSecrets: Record<string, pulumi.Output<string>>) => BuiltStack;

function buildSingleBox(cfg: StackConfig, configSecrets: Record<string, pulumi.Output<string>>): BuiltStack {
  const box = new SingleBox(cfg.stack, { config: cfg, configSecrets });
  return {
    singleBox: box,
    outputs: {
      tier: cfg.tier.name,
      publicHostnames: box.publicHostnames,
      privateHostnames: box.privateHostnames,
      vmName: box.vmName,
      dataDisk: box.dataDiskName,
      tunnelId: box.tunnelId,
      secretIds: Object.values(box.secrets.secretIds),
    },
  };
}

/** One builder per built tier. */
export const tierBuilders: Partial<Record<TierName, TierBuilder>> = {
  "single-box": buildSingleBox,
};

/** Reads and checks the current stack's config (throws ConfigError). */
export function currentConfig(): StackConfig {
  return parseStackConfig(pulumi.runtime.allConfig(), pulumi.getStack());
}

export async function buildStackWithParts(): Promise<BuiltStack> {
  const cfg = currentConfig();
  const builder = tierBuilders[cfg.tier.name];
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
