/**
 * `tierstack plan <stack>`: runs the Pulumi program offline under Pulumi's runtime mocks with
 * stacks/Pulumi.<stack>.yaml and lists every resource it declares (type, name, the inputs
 * that matter). No credentials, no cloud calls: a read-only rendering for review.
 * Secret values (config secrets, generated passwords, anything secret-marked) print as [secret].
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks.js";
import { isMap, isNode, isScalar, isSeq, parseDocument } from "yaml";
import { ConfigError, configSchema, namespace, parseStackConfig, secretConfigKeys, type RawConfig, type StackConfig } from "../config/config.js";
import { costReport, policyReport, type CostReport, type PolicyReport } from "../policy/report.js";
import { fromRecorded, type RecordedResource } from "../policy/resource.js";
import { stackCapacityWarnings } from "../gpu-node/capacity.js";
import { buildStackWithParts, type BuiltStack } from "../stacks/program.js";
import { isSecretMarked, secretStrings } from "./secret-walk.js";
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
  /** Each resource's monthly cost, the totals and the LLM projection (policy/report.ts). */
  cost?: CostReport;
  /** Every policy rule's result and its violations (policy/rules). */
  policy?: PolicyReport;
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
  /** The raw resources with their URNs and the options the policies read (protect, parent). */
  recorded: RecordedResource[];
  config: StackConfig;
}

/** The protect option and parent of every registration, in order (aligned with raw and urns). */
const recordedOptions: { protect: boolean; parent?: string }[] = [];
let optionsInstalled = false;

function recordOptions(): void {
  if (optionsInstalled) return;
  optionsInstalled = true;
  const proto = MockMonitor.prototype as unknown as { registerResource(req: { getProtect(): boolean | undefined; getParent(): string }, cb: unknown): Promise<void> };
  const register = proto.registerResource;
  proto.registerResource = function (this: unknown, req, cb) {
    recordedOptions.push({ protect: req.getProtect() === true, ...(req.getParent() ? { parent: req.getParent() } : {}) });
    return register.call(this, req, cb);
  };
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

/** The stack file's path as a user would type it: relative to the repository when inside it. */
export function stackFileLabel(file: string): string {
  const rel = relative(repoRoot, file);
  return rel.startsWith("..") || isAbsolute(rel) ? file : rel;
}

/** Keys of the platform's own schema that hold plain (non-secret) strings. */
const plainStringKeys = new Set(configSchema.filter((k) => k.type === "string" && !k.secret).map((k) => `${namespace}:${k.key}`));
/** Keys whose values are secrets: the schema's, and the providers' credentials. */
const secretKeysOfSchema = new Set([...secretConfigKeys.map((k) => `${namespace}:${k}`), "cloudflare:apiToken", "gcp:credentials"]);

/**
 * Reads a stack file into Pulumi's flat config form; `secure:` values become placeholders.
 * Refuses, in one line naming the file, the key and the fix: YAML errors (line and column), a
 * `config:` that is not a mapping, empty values, secrets written in plain text, `secure:` on a
 * key that is not a secret, and numbers where the schema wants a string (an unquoted 17-digit
 * id loses precision in YAML's number type).
 */
export function loadStackConfig(stack: string, opts: PlanOptions = {}): LoadedConfig {
  const dir = opts.stacksDir ?? defaultStacksDir();
  const file = join(dir, `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) {
    throw new PlanError(`unknown stack "${stack}": no stacks/Pulumi.${stack}.yaml (known: ${knownStacks(dir).join(", ")})`);
  }
  const label = stackFileLabel(file);
  const text = readFileSync(file, "utf8");
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const at = yamlError.linePos?.[0];
    const where = at ? `${label}:${at.line}:${at.col}` : label;
    throw new PlanError(`${where}: YAML error: ${yamlError.message.split("\n")[0]}; fix the file's syntax`);
  }
  const root = doc.contents;
  if (root !== null && !isMap(root)) throw new PlanError(`${label}: the file must be a mapping with a "config:" key; found ${describeNode(root)}`);
  const configNode = root === null ? null : root.get("config", true);
  if (configNode !== undefined && configNode !== null && !isMap(configNode)) {
    throw new PlanError(`${label}: "config:" must be a mapping of key: value lines; found ${describeNode(configNode)}`);
  }
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  const warnings: string[] = [];
  for (const pair of isMap(configNode) ? configNode.items : []) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const node = pair.value;
    const value: unknown = node === null ? null : isNode(node) ? node.toJSON() : node;
    const source = isNode(node) && node.range ? text.slice(node.range[0], node.range[1]).trim() : String(value);
    if (isMap(node) && node.has("secure")) {
      if (plainStringKeys.has(key) || (key.startsWith(`${namespace}:`) && !secretKeysOfSchema.has(key))) {
        throw new PlanError(`${label}: ${key} is encrypted (secure:) but is not a secret, so plan cannot check it; write it in plain text: pulumi config set ${key} <value>`);
      }
      config[key] = placeholder;
      secretKeys.push(key);
      continue;
    }
    if (value === null || value === "") {
      throw new PlanError(`${label}: ${key} is empty; give it a value or remove the line`);
    }
    if (secretKeysOfSchema.has(key)) {
      throw new PlanError(`${label}: ${key} is a secret written in plain text; remove the line and run: pulumi config set --secret ${key} <value>`);
    }
    if (typeof value === "number" && (plainStringKeys.has(key) || !Number.isSafeInteger(value) && Number.isInteger(value))) {
      throw new PlanError(`${label}: ${key} is written as a number (${source}), which YAML reads as ${String(value)}; quote it: ${key}: "${source}"`);
    }
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
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

function describeNode(node: unknown): string {
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return `the value ${JSON.stringify(node.value)}`;
  return "something else";
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

/** A PEM-shaped placeholder for a CA certificate the provider computes at apply. */
function mockCertificate(issuer: string): string {
  return `-----BEGIN CERTIFICATE-----\n(server CA of ${issuer}, computed at apply)\n-----END CERTIFICATE-----`;
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
    // Provider-computed outputs the cluster tiers read. Addresses are RFC 5737 documentation
    // addresses and names end in .invalid (RFC 2606): visibly not real. Secrets are the generated value.
    case "gcp:sql/databaseInstance:DatabaseInstance":
      return { ...state, privateIpAddress: "192.0.2.10", connectionName: `${String(inputs.project ?? "project")}:${String(inputs.region)}:${name}`, serverCaCerts: [{ cert: mockCertificate("Cloud SQL") }] };
    case "gcp:redis/instance:Instance":
      return { ...state, host: "192.0.2.20", port: 6378, authString: generated, serverCaCerts: [{ cert: mockCertificate("Memorystore") }] };
    case "gcp:compute/instance:Instance": {
      const nics = Array.isArray(inputs.networkInterfaces) ? (inputs.networkInterfaces as Record<string, unknown>[]) : [];
      return { ...state, networkInterfaces: nics.map((n, i) => ({ ...n, networkIp: `192.0.2.${30 + i}` })) };
    }
    case "gcp:container/cluster:Cluster":
      // The private endpoint is a private address by nature (172.16.0.2: GKE's classic control-plane range), so a policy test can tell it from the internet.
      return { ...state, endpoint: "192.0.2.40", privateClusterConfig: { ...((inputs.privateClusterConfig as object | undefined) ?? {}), privateEndpoint: "172.16.0.2" }, controlPlaneEndpointsConfig: { ...((inputs.controlPlaneEndpointsConfig as object | undefined) ?? {}), dnsEndpointConfig: { allowExternalTraffic: true, endpoint: `${name}.${String(inputs.location)}.gke.invalid` } } };
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
  let cfg: ReturnType<typeof parseStackConfig>;
  try {
    cfg = parseStackConfig(loaded.config, stack);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${stackFileLabel(join(opts.stacksDir ?? defaultStacksDir(), `Pulumi.${stack}.yaml`))}: ${err.message}`);
    throw err;
  }
  const generated = opts.generatedValue ?? "generated-at-apply";
  const raw: PlanRun["raw"] = [];

  recordUrns();
  recordOptions();
  takeUrns();
  recordedOptions.splice(0, recordedOptions.length);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        raw.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
        return { id: `${args.name}-id`, state: mockState(args.type, args.name, args.inputs as Record<string, unknown>, generated) };
      },
      // The billing budget looks the project's number up when tierstack:projectNumber is unset.
      call: (args) => (args.token === "gcp:organizations/getProject:getProject" ? { ...args.inputs, number: "000000000000" } : args.inputs) as Record<string, unknown>,
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
      ...raw.flatMap((r) => secretStrings(r.inputs)).filter((v) => v.length >= 8),
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
  // The GPU capacity model's findings for the configured GPUs (gpu-node/capacity.ts).
  const capacity = stackCapacityWarnings(cfg.tier, cfg.sizes.gpus, cfg.machine.gpu?.model);
  const urns = takeUrns();
  const options = recordedOptions.splice(0, recordedOptions.length);
  if (urns.length !== raw.length || options.length !== raw.length) throw new PlanError(`recorded ${raw.length} resources, ${urns.length} URNs and ${options.length} option sets: they must match`);
  const recorded = raw.map((r, i) => ({ ...r, urn: urns[i]?.urn ?? "", ...(options[i] ?? { protect: false }) }));
  return { stack, tier: cfg.tier.name, resources, outputs, warnings: [...loaded.warnings, ...cfg.warnings, ...capacity], raw, built, leaks, urns, recorded, config: cfg };
}

/** The printable plan (no raw inputs). */
export async function planStack(stack: string, opts: PlanOptions = {}): Promise<PlanResult> {
  const run = await runPlan(stack, opts);
  if (run.leaks.length > 0) throw new PlanError(`secret value in plain inputs or outputs at ${run.leaks.join(", ")}`);
  const seen = run.recorded.map(fromRecorded);
  const ctx = { stack: run.stack, config: run.config };
  return { stack: run.stack, tier: run.tier, resources: run.resources, outputs: run.outputs, warnings: run.warnings, cost: costReport(seen, ctx), policy: policyReport(seen, ctx) };
}
