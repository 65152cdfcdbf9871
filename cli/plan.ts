/**
 * `tierstack plan <stack>`: runs the Pulumi program offline under Pulumi's runtime mocks with
 * stacks/Pulumi.<stack>.yaml and lists every resource it declares (type, name, the inputs
 * that matter). No credentials, no cloud calls: a read-only rendering for review.
 * Secret values (config secrets, generated passwords, anything secret-marked) print as [secret].
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { namespace, parseStackConfig, secretConfigKeys, type RawConfig } from "../config/config.js";
import { buildStackWithParts, type BuiltStack } from "../stacks/program.js";
import { recordUrns, takeUrns, type RecordedUrn } from "./plan-urns.js";

export const SECRET = "[secret]";
export const repoRoot = resolve(__dirname, "..");

export class PlanError extends Error {
  override name = "PlanError";
}

export interface PlanResource {
  type: string;
  name: string;
  /** Inputs with every secret replaced by [secret]. */
  inputs: Record<string, unknown>;
}

export interface PlanResult {
  stack: string;
  tier: string;
  resources: PlanResource[];
  outputs: Record<string, unknown>;
  warnings: string[];
}

export interface PlanOptions {
  /** Directory of Pulumi.<stack>.yaml files (default: the repo's stacks/). */
  stacksDir?: string;
  /** Config entries laid over the file's (fully qualified keys; undefined removes one). */
  overrides?: RawConfig;
  /** What the mocks return for every generated secret (random results). */
  generatedValue?: string;
}

/** Everything a plan saw, including raw (unscrubbed) inputs: for tests, never printed. */
export interface PlanRun extends PlanResult {
  raw: { type: string; name: string; inputs: Record<string, unknown> }[];
  built: BuiltStack;
  /** Paths where a generated or config secret value appeared without a secret marker. */
  leaks: string[];
  /** Every registered resource's URN as the engine forms it, with its aliases. */
  urns: RecordedUrn[];
}

const placeholder = "plan-placeholder-secret";

/** stacks/ of the repository, or TIERSTACK_STACKS_DIR when set (tests point it at fixtures). */
export function defaultStacksDir(): string {
  return process.env.TIERSTACK_STACKS_DIR ?? join(repoRoot, "stacks");
}

export function knownStacks(stacksDir = defaultStacksDir()): string[] {
  return readdirSync(stacksDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

export interface LoadedConfig {
  config: Record<string, string>;
  /** Fully qualified keys whose values are secrets. */
  secretKeys: string[];
  warnings: string[];
}

/** Reads a stack file into Pulumi's flat config form; `secure:` values become placeholders. */
export function loadStackConfig(stack: string, opts: PlanOptions = {}): LoadedConfig {
  const dir = opts.stacksDir ?? defaultStacksDir();
  const file = join(dir, `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) {
    throw new PlanError(`unknown stack "${stack}": no stacks/Pulumi.${stack}.yaml (known: ${knownStacks(dir).join(", ")})`);
  }
  const doc = (parse(readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
      config[key] = placeholder;
      secretKeys.push(key);
    } else if (typeof value === "string") {
      config[key] = value;
    } else {
      config[key] = JSON.stringify(value);
    }
  }
  for (const [key, value] of Object.entries(opts.overrides ?? {})) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  for (const key of secretConfigKeys) {
    const full = `${namespace}:${key}`;
    if (!secretKeys.includes(full)) secretKeys.push(full);
    if (config[full] === undefined) {
      config[full] = placeholder;
      warnings.push(`${full} is not set in stacks/Pulumi.${stack}.yaml; plan uses a placeholder. Before pulumi up: pulumi config set --secret ${full} <value>`);
    }
  }
  return { config, secretKeys, warnings };
}

function isSecretMarked(v: unknown): v is { value: unknown } {
  return pulumi.runtime.isRpcSecret(v);
}

/** Replaces secret-marked values (and any known secret string) by [secret]; records unmarked hits. */
function scrub(value: unknown, secrets: string[], path: string, leaks: string[]): unknown {
  if (isSecretMarked(value)) return SECRET;
  if (typeof value === "string") {
    if (secrets.some((s) => value.includes(s))) {
      leaks.push(path);
      return SECRET;
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => scrub(v, secrets, `${path}[${i}]`, leaks));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrub(v, secrets, `${path}.${k}`, leaks);
    return out;
  }
  return value;
}

/** Strings under a secret marker. */
function markedStrings(value: unknown, inSecret: boolean): string[] {
  if (isSecretMarked(value)) return markedStrings(value.value, true);
  if (typeof value === "string") return inSecret ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((v) => markedStrings(v, inSecret));
  if (value !== null && typeof value === "object") return Object.values(value).flatMap((v) => markedStrings(v, inSecret));
  return [];
}

/** Computed outputs the program reads, as the mocks return them. */
function mockState(type: string, name: string, inputs: Record<string, unknown>, generated: string): Record<string, unknown> {
  const state: Record<string, unknown> = { ...inputs, name: inputs.name ?? name };
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
      return { ...state, result: generated };
    case "random:index/randomBytes:RandomBytes":
      return { ...state, base64: generated, hex: generated };
    case "cloudflare:index/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken":
      // Cloudflare computes both; the secret is a generated value like the random ones.
      return { ...state, clientId: `${name}.access`, clientSecret: generated };
    case "gcp:serviceaccount/account:Account":
      return { ...state, email: `${String(inputs.accountId)}@${String(inputs.project)}.iam.gserviceaccount.com` };
    default:
      return state;
  }
}

async function settle<T>(o: pulumi.Input<T>): Promise<{ value: T; secret: boolean }> {
  const out = pulumi.output(o) as pulumi.Output<T>;
  const secret = await pulumi.isSecret(out);
  const value = await new Promise<T>((res) => pulumi.unsecret(out).apply((v) => { res(v as T); return v; }));
  return { value, secret };
}

const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;

/** Runs the program under mocks; throws ConfigError, PlanError or TierNotBuiltError. */
export async function runPlan(stack: string, opts: PlanOptions = {}): Promise<PlanRun> {
  const loaded = loadStackConfig(stack, opts);
  const cfg = parseStackConfig(loaded.config, stack);
  const generated = opts.generatedValue ?? "generated-at-apply";
  const raw: PlanRun["raw"] = [];

  recordUrns();
  takeUrns();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        raw.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
        return { id: `${args.name}-id`, state: mockState(args.type, args.name, args.inputs as Record<string, unknown>, generated) };
      },
      call: (args) => args.inputs as Record<string, unknown>,
    },
    "tierstack",
    stack,
    false,
  );
  pulumi.runtime.setAllConfig(loaded.config, loaded.secretKeys);

  const built = await buildStackWithParts();
  const outputs: Record<string, unknown> = {};
  if (waitForRPCs) await waitForRPCs();
  // Everything that is secret somewhere must be secret everywhere: collect the secret-marked
  // strings (derived values such as the tunnel token included) and look for them in plain places.
  const secretValues = [
    ...new Set([
      generated,
      ...loaded.secretKeys.map((k) => loaded.config[k]).filter((v): v is string => !!v),
      ...raw.flatMap((r) => markedStrings(r.inputs, false)).filter((v) => v.length >= 8),
    ]),
  ];
  const leaks: string[] = [];
  for (const [key, value] of Object.entries(built.outputs)) {
    const { value: v, secret } = await settle(value as pulumi.Input<unknown>);
    outputs[key] = secret ? SECRET : scrub(v, secretValues, `outputs.${key}`, leaks);
  }

  const resources = raw.map((r) => ({
    type: r.type,
    name: r.name,
    inputs: scrub(r.inputs, secretValues, `${r.type}::${r.name}`, leaks) as Record<string, unknown>,
  }));
  return { stack, tier: cfg.tier.name, resources, outputs, warnings: [...loaded.warnings, ...cfg.warnings], raw, built, leaks, urns: takeUrns() };
}

/** The printable plan (no raw inputs). */
export async function planStack(stack: string, opts: PlanOptions = {}): Promise<PlanResult> {
  const run = await runPlan(stack, opts);
  if (run.leaks.length > 0) throw new PlanError(`secret value in plain inputs or outputs at ${run.leaks.join(", ")}`);
  return { stack: run.stack, tier: run.tier, resources: run.resources, outputs: run.outputs, warnings: run.warnings };
}
