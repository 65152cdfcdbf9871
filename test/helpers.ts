/** Shared helpers for the program tests: sentinels, raw-input walking, lookups. */
import * as pulumi from "@pulumi/pulumi";
import { expect } from "vitest";
import { runPlan, type PlanRun } from "../cli/plan.js";
import { ConfigError } from "../config/config.js";
import type { BuiltStack } from "../stacks/program.js";

/** What the mocks return for every generated secret (random results). */
export const SENTINEL = "SENTINEL0generated0c0ffee";

/** Config secrets set to recognisable values. */
export const configSecretValues: Record<string, string> = {
  "tierstack:whatsappAppSecret": "CFGSECRET0whatsapp0app",
  "tierstack:whatsappAccessToken": "CFGSECRET0whatsapp0access",
  "tierstack:stripeSecretKey": "CFGSECRET0stripe0key",
  "tierstack:stripeWebhookSecret": "CFGSECRET0stripe0webhook",
  "tierstack:openrouterApiKey": "CFGSECRET0openrouter",
};

export const allSecretMarkers = [SENTINEL, "CFGSECRET0"];

export { plainStrings, secretStrings } from "../cli/secret-walk.js";

export type RawResource = PlanRun["raw"][number];

export function ofType(run: PlanRun, suffix: string): RawResource[] {
  return run.raw.filter((r) => r.type.endsWith(suffix));
}

export function one(run: PlanRun, suffix: string): RawResource {
  const found = ofType(run, suffix);
  if (found.length !== 1) throw new Error(`expected one ${suffix}, found ${found.length}`);
  return found[0] as RawResource;
}

/** Unwraps a secret marker (or returns the value). */
export function reveal(value: unknown): unknown {
  return pulumi.runtime.isRpcSecret(value) ? (value as { value: unknown }).value : value;
}

/** The program's result for one tier (fails the test when the plan built another). */
export function builtAs<T extends BuiltStack["tier"]>(run: PlanRun, tier: T): Extract<BuiltStack, { tier: T }> {
  if (run.built.tier !== tier) throw new Error(`expected a ${tier} plan, got ${run.built.tier}`);
  return run.built as Extract<BuiltStack, { tier: T }>;
}

/** The one-line ConfigError a stack's plan fails with under these config overrides (fails the test when it plans). */
export async function configErrorOf(stack: string, overrides: Record<string, string>): Promise<string> {
  try {
    await runPlan(stack, { overrides: { ...configSecretValues, ...overrides } });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`no error for ${JSON.stringify(overrides)}`);
}
