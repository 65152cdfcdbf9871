/**
 * The Pulumi program as a function: reads the stack config, checks it (one-line ConfigError),
 * and builds the stack's tier. index.ts hands it to `pulumi up`; `tierstack plan` and the
 * tests call it under Pulumi's runtime mocks.
 */
import * as pulumi from "@pulumi/pulumi";
import { SingleBox } from "../components/single-box.js";
import { namespace, parseStackConfig, secretConfigKeys, type StackConfig } from "./config.js";

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

/** Reads and checks the current stack's config (throws ConfigError). */
export function currentConfig(): StackConfig {
  return parseStackConfig(pulumi.runtime.allConfig(), pulumi.getStack());
}

export interface BuiltStack {
  outputs: StackOutputs;
  singleBox: SingleBox;
}

export async function buildStackWithParts(): Promise<BuiltStack> {
  const cfg = currentConfig();
  if (!cfg.tier.built) throw new TierNotBuiltError(`${cfg.tier.name} is not built yet (issue: ${cfg.tier.issue})`);
  const config = new pulumi.Config(namespace);
  const configSecrets: Record<string, pulumi.Output<string>> = {};
  for (const key of secretConfigKeys) configSecrets[key] = config.requireSecret(key);
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

/** The stack outputs (what `pulumi up` exports). */
export async function buildStack(): Promise<StackOutputs> {
  return (await buildStackWithParts()).outputs;
}
