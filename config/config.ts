/**
 * Stack configuration: the schema of every key the program reads (Pulumi.yaml's `config`
 * block mirrors it, a test keeps the two equal) and the one parser that index.ts, `plan` and
 * the tests share. Every bad value throws a ConfigError whose message is one line naming the
 * key, the value and what is accepted.
 */
import { formatShardMap, parseShardMap } from "@tierstack/shard-map";
import { images, parseImageRef, type ImageRef } from "../catalog/images.js";
import { isStageId, stageOrder } from "../catalog/migration.js";
import { isRegion, regions, zonesOf } from "../catalog/regions.js";
import { defaultBudgets } from "../catalog/budgets.js";
import { acceptedMachineTypes, machineInfo, type MachineInfo } from "../catalog/machines.js";
import { isTierName, sizeKeys, tierNames, tiers, type SizeKey, type TierSpec } from "../catalog/tiers.js";

export const namespace = "tierstack";

export type ConfigType = "string" | "integer" | "boolean" | "array";

export interface ConfigKeySpec {
  key: string;
  type: ConfigType;
  description: string;
  /** Schema default (Pulumi.yaml). Keys without one either are required or default from the tier. */
  default?: string | number | boolean;
  required?: boolean;
  secret?: boolean;
}

export const configSchema: ConfigKeySpec[] = [
  { key: "tier", type: "string", required: true, description: `Scaling tier to build: ${tierNames.join(" | ")} (see catalog/tiers.ts)` },
  { key: "domain", type: "string", required: true, description: "DNS zone the public hostnames live under (a Cloudflare zone), e.g. example.com" },
  { key: "region", type: "string", default: "us-central1", description: "GCP region for the network, router and snapshot schedule" },
  { key: "zone", type: "string", default: "us-central1-a", description: "GCP zone of the VM and data disk (inside region)" },
  { key: "machineType", type: "string", default: "", description: "Machine type of the platform box; empty = the tier catalogue's (single-box: e2-standard-4). GPUs need g2-standard-*, a2-highgpu-1g or a3-highgpu-1g" },
  { key: "subnetCidr", type: "string", default: "10.10.0.0/24", description: "Primary IPv4 range of the platform subnet" },
  { key: "dataDiskType", type: "string", default: "pd-balanced", description: "Persistent disk type of the data disk: pd-standard | pd-balanced | pd-ssd" },
  { key: "snapshotStartTime", type: "string", default: "03:00", description: "Daily snapshot start, UTC, on the hour (HH:00)" },
  { key: "cloudflareAccountId", type: "string", required: true, description: "Cloudflare account id (tunnel, Access application and policy)" },
  { key: "cloudflareZoneId", type: "string", required: true, description: "Cloudflare zone id of `domain` (DNS records)" },
  { key: "accessEmails", type: "array", required: true, description: "E-mail addresses Cloudflare Access lets through to the private hostnames" },
  { key: "whatsappPhoneNumberId", type: "string", required: true, description: "WhatsApp Cloud API sending phone number id (not secret)" },
  { key: "llamaModel", type: "string", default: "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M", description: "Hugging Face GGUF repo:quant llama-server loads (-hf) when the box has a GPU" },
  { key: "cloudModel", type: "string", default: "openrouter/openai/gpt-4o-mini", description: "LiteLLM model id of the cloud model (through OpenRouter)" },
  { key: "budgetUsdPerMonth", type: "integer", default: 0, description: "Monthly infrastructure budget in USD: the cost guard refuses a stack whose estimated maximum exceeds it, and the billing budget alerts at it; 0 = the tier's default budget (catalog/budgets.ts)" },
  { key: "infraShareMax", type: "string", default: "0.2", description: "Advisory: largest share (0-1, as a string) of the monthly total (infrastructure + LLM) infrastructure may take before the cost report names the three costliest resources" },
  { key: "billingAccount", type: "string", default: "", description: "Billing account id (XXXXXX-XXXXXX-XXXXXX) the stack's billing budget is created on; empty = no billing budget (plan warns)" },
  { key: "projectNumber", type: "string", default: "", description: "The project's number for the billing budget's project filter; empty = looked up from gcp:project at deploy time (gcp.organizations.getProject)" },
  { key: "migrationTarget", type: "string", default: "", description: "The tier this stack is migrating to (tierstack migrate; empty when not migrating)" },
  { key: "migrationStage", type: "string", default: "", description: "The migration's current stage: expand | copy | cutover | contract (tierstack migrate; empty when not migrating)" },
  { key: "cutoverDrainSeconds", type: "integer", default: 30, description: "How long the cut-over's drain waits for the task queue's held leases to finish before the freeze (tierstack migrate writes drain; --drain-seconds overrides); 0-3600" },
  { key: "migrationVerified", type: "string", default: "", description: "The last migration stage whose verification passed (written by tierstack migrate verify)" },
  { key: "gatewayShardMap", type: "string", required: true, description: 'The MCP gateway\'s shard map (GATEWAY_SHARDS), JSON: {"<namespace>": ["http://…", …]} or {"<namespace>": {"replicas": ["http://…"], "protocol": "2026-07-28" | "2025-11-25" | …}}' },
  ...images.map((i): ConfigKeySpec => ({ key: i.key, type: "string", default: i.default, description: `Image of ${i.runs}: repo:tag, plus @sha256:<digest> where a source gives one. Default source: ${i.source}` })),
  // Declared keys without a default are required by the Pulumi CLI, so tier-dependent sizes
  // default to 0, which means "the tier's default" (0 is never a different allowed value).
  ...sizeKeys.map((k): ConfigKeySpec => ({ key: k, type: "integer", default: 0, description: `Size override (${tiers["single-box"].sizes[k].unit}); 0 = the tier catalogue's default; allowed range per tier in catalog/tiers.ts` })),
  // tier-100's learner sandboxes (catalog/sandbox.ts, components/k8s/agent-sandbox/); the other tiers ignore them.
  // The gVisor pool's size is the tier size learnerPoolMaxNodes (catalog/tiers.ts); it scales down to 0.
  { key: "sandboxPoolSpot", type: "boolean", default: true, description: "tier-100: run the gVisor learner pool on Spot VMs (about 0.6× the price; a preempted learner sandbox is replaced on the learner's next message); false = on-demand" },
  { key: "sandboxMaxPodsPerNode", type: "integer", default: 32, description: "tier-100: most pods on one gVisor node (fixed when the pool is created; it sizes each node's pod range); 8-110" },
  { key: "sandboxWarmPoolSize", type: "integer", default: 2, description: "tier-100: learner sandboxes kept warm (the SandboxWarmPool's replicas), claimed without a cold start; 0-50" },
  { key: "sandboxCpu", type: "string", default: "250m", description: "tier-100: CPU of one learner sandbox (request = limit), a Kubernetes quantity: 100m-2000m or 1-2" },
  { key: "sandboxMemory", type: "string", default: "256Mi", description: "tier-100: memory of one learner sandbox (request = limit), a Kubernetes quantity: 128Mi-4Gi" },
  { key: "whatsappAppSecret", type: "string", secret: true, required: true, description: "Meta app secret (verifies X-Hub-Signature-256)" },
  { key: "whatsappAccessToken", type: "string", secret: true, required: true, description: "WhatsApp Cloud API bearer token" },
  { key: "stripeSecretKey", type: "string", secret: true, required: true, description: "Stripe API secret key" },
  { key: "stripeWebhookSecret", type: "string", secret: true, required: true, description: "Stripe webhook signing secret (whsec_…)" },
  { key: "openrouterApiKey", type: "string", secret: true, required: true, description: "OpenRouter API key LiteLLM uses for cloud models" },
];

export const secretConfigKeys = configSchema.filter((k) => k.secret).map((k) => k.key);

/** Keys outside the tierstack namespace the program reads. */
export const externalKeys = [{ key: "gcp:project", description: "GCP project id (also read by the gcp provider)" }];

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The one-line message: key, value, what is accepted. */
function bad(key: string, value: unknown, accepted: string, problem = "is not valid"): ConfigError {
  const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
  const full = key.includes(":") ? key : `${namespace}:${key}`;
  return new ConfigError(`${full} = ${shown} ${problem}; accepted: ${accepted}`);
}

export interface StackConfig {
  stack: string;
  project: string;
  tier: TierSpec;
  domain: string;
  region: string;
  zone: string;
  machineType: string;
  machine: MachineInfo;
  gpu: boolean;
  sizes: Record<SizeKey, number>;
  subnetCidr: string;
  dataDiskType: string;
  snapshotStartTime: string;
  cloudflareAccountId: string;
  cloudflareZoneId: string;
  accessEmails: string[];
  whatsappPhoneNumberId: string;
  llamaModel: string;
  cloudModel: string;
  /** The shard map in the gateway's canonical one-line form (every namespace with its protocol). */
  gatewayShardMap: string;
  images: Record<string, ImageRef>;
  /** The infrastructure budget (USD a month) and where it comes from. */
  budget: { usdPerMonth: number; from: "config" | "tier default" };
  /** Advisory threshold: infrastructure's largest share of the monthly total. */
  infraShareMax: number;
  /** Billing account of the stack's billing budget; undefined = none. */
  billingAccount?: string;
  /** Project number for the budget's filter; undefined = looked up at deploy time. */
  projectNumber?: string;
  /** tier-100's learner sandboxes: the gVisor pool, the warm pool, one sandbox's resources. */
  sandbox: SandboxConfig;
  /** Non-fatal findings (images pinned by tag only); `plan` prints them on stderr. */
  warnings: string[];
}

export interface SandboxConfig {
  /** The gVisor pool's maximum nodes: the tier size learnerPoolMaxNodes. */
  poolMaxNodes: number;
  poolSpot: boolean;
  maxPodsPerNode: number;
  warmPoolSize: number;
  /** One learner sandbox's CPU and memory (requests = limits). */
  resources: { cpu: string; memory: string };
}

/** Kubernetes quantities in millicores / MiB, for the sandbox bounds. */
function cpuMillis(q: string): number | undefined {
  const m = /^(\d+)m$/.exec(q);
  if (m) return Number(m[1]);
  return /^\d+(\.\d{1,3})?$/.test(q) ? Math.round(Number(q) * 1000) : undefined;
}
function memoryMi(q: string): number | undefined {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  return m ? Number(m[1]) * (m[2] === "Gi" ? 1024 : 1) : undefined;
}

function parseSandboxConfig(value: (key: string) => string | undefined, poolMaxNodes: number): SandboxConfig {
  const int = (key: string, min: number, max: number, what: string): number => {
    const v = value(key) ?? "";
    const accepted = `a whole number ${min}-${max} (${what})`;
    if (!/^\d+$/.test(v)) throw bad(key, v, accepted);
    const n = Number(v);
    if (n < min || n > max) throw bad(key, v, accepted, "is out of range");
    return n;
  };
  const maxPodsPerNode = int("sandboxMaxPodsPerNode", 8, 110, "pods on one gVisor node");
  const warmPoolSize = int("sandboxWarmPoolSize", 0, 50, "warm learner sandboxes");
  const spotRaw = value("sandboxPoolSpot") ?? "";
  if (spotRaw !== "true" && spotRaw !== "false") throw bad("sandboxPoolSpot", spotRaw, "true | false");
  // The warm sandboxes must fit the pool at its largest (kube-system's per-node pods take at least 4 slots). Tiers without a learner pool ignore the keys.
  if (poolMaxNodes > 0 && warmPoolSize > poolMaxNodes * (maxPodsPerNode - 4)) {
    throw bad("sandboxWarmPoolSize", String(warmPoolSize), `at most learnerPoolMaxNodes × (sandboxMaxPodsPerNode - 4) = ${poolMaxNodes * (maxPodsPerNode - 4)}`, "does not fit the learner pool");
  }
  const cpu = value("sandboxCpu") ?? "";
  const millis = cpuMillis(cpu);
  if (millis === undefined || millis < 100 || millis > 2000) throw bad("sandboxCpu", cpu, "a CPU quantity from 100m to 2000m (or 0.1-2), e.g. 250m");
  const memory = value("sandboxMemory") ?? "";
  const mi = memoryMi(memory);
  if (mi === undefined || mi < 128 || mi > 4096) throw bad("sandboxMemory", memory, "a memory quantity from 128Mi to 4Gi, e.g. 256Mi");
  return { poolMaxNodes, poolSpot: spotRaw === "true", maxPodsPerNode, warmPoolSize, resources: { cpu, memory } };
}

/** Raw config as Pulumi holds it: fully qualified keys ("tierstack:domain") to strings. */
export type RawConfig = Record<string, string | undefined>;

const hostnamePattern = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function parseStackConfig(raw: RawConfig, stack: string): StackConfig {
  const known = new Set(configSchema.map((k) => k.key));
  for (const full of Object.keys(raw)) {
    if (!full.startsWith(`${namespace}:`)) continue;
    const key = full.slice(namespace.length + 1);
    if (!known.has(key)) throw bad(full, raw[full], `one of ${[...known].join(", ")}`, "is not a known key");
  }
  const value = (key: string): string | undefined => {
    const v = raw[`${namespace}:${key}`];
    if (v !== undefined && v !== "") return v;
    const d = configSchema.find((k) => k.key === key)?.default;
    return d === undefined ? undefined : String(d);
  };
  const required = (key: string, accepted: string): string => {
    const v = value(key);
    if (v === undefined) throw bad(key, "", accepted, "is not set");
    return v;
  };

  const tierName = required("tier", tierNames.join(" | "));
  if (!isTierName(tierName)) throw bad("tier", tierName, tierNames.join(" | "), "is not a known tier");
  const tier = tiers[tierName];

  const project = raw["gcp:project"];
  if (!project) throw bad("gcp:project", "", "a GCP project id (pulumi config set gcp:project <id>)", "is not set");
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project)) throw bad("gcp:project", project, "6-30 lowercase letters, digits, hyphens");

  const domain = required("domain", "a DNS zone name such as example.com");
  if (!hostnamePattern.test(domain)) throw bad("domain", domain, "a lowercase DNS name such as example.com");

  const region = required("region", "a GCP region such as us-central1");
  if (!isRegion(region)) throw bad("region", region, `a GCP region such as us-central1 (catalog/regions.ts lists ${Object.keys(regions).length})`, "is not a known region");
  const zone = required("zone", `a zone of ${region}, such as ${region}-a`);
  if (!zonesOf(region).includes(zone)) {
    throw bad("zone", zone, `a zone of region ${region}: ${zonesOf(region).join(", ")}`, "is not a zone of the region");
  }

  const machineType = value("machineType") || tier.defaultMachineType;
  const machine = machineInfo(machineType);
  if (!machine) throw bad("machineType", machineType, acceptedMachineTypes, "is not a supported machine type");

  const sizes = {} as Record<SizeKey, number>;
  for (const key of sizeKeys) {
    const spec = tier.sizes[key];
    const v = value(key);
    const accepted = `${spec.min}-${spec.max} ${spec.unit} on tier ${tier.name} (0 = the tier's default, ${spec.default})`;
    if (v === undefined) {
      sizes[key] = spec.default;
      continue;
    }
    if (!/^-?\d+$/.test(v)) throw bad(key, v, `a whole number, ${accepted}`);
    const n = Number(v);
    if (n < 0) throw bad(key, v, accepted, "is negative");
    if (n === 0) {
      sizes[key] = spec.default;
      continue;
    }
    if (n < spec.min || n > spec.max) throw bad(key, v, accepted, "is outside what the tier allows");
    sizes[key] = n;
  }

  if (sizes.natsNodes > 1 && sizes.natsNodes % 2 === 0) throw bad("natsNodes", String(sizes.natsNodes), `an odd number of nodes, ${tier.sizes.natsNodes.min}-${tier.sizes.natsNodes.max} on tier ${tier.name} (a NATS cluster keeps a majority through the loss of one node)`, "is even");

  const carried = machine.gpu?.count ?? 0;
  if (sizes.gpus > 0 && carried === 0) {
    throw bad("machineType", machineType, `g2-standard-* (L4), a2-highgpu-1g, a3-highgpu-1g for tierstack:gpus = ${sizes.gpus}`, "cannot carry a GPU");
  }
  if (sizes.gpus !== carried) {
    throw bad("gpus", String(sizes.gpus), `${carried} (machine type ${machineType} carries ${carried}× ${machine.gpu?.model ?? "GPU"}), or a machine type with ${sizes.gpus} GPU(s)`, "does not match the machine type");
  }
  const gpu = sizes.gpus > 0;

  const subnetCidr = required("subnetCidr", "an IPv4 CIDR /16-/29");
  const cidr = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnetCidr);
  const octetsOk = cidr !== null && cidr.slice(1, 5).every((o) => Number(o) <= 255);
  const prefix = Number(cidr?.[5]);
  if (!octetsOk || prefix < 16 || prefix > 29) throw bad("subnetCidr", subnetCidr, "an IPv4 CIDR with a /16-/29 prefix, e.g. 10.10.0.0/24");

  const dataDiskType = required("dataDiskType", "pd-standard | pd-balanced | pd-ssd");
  if (!["pd-standard", "pd-balanced", "pd-ssd"].includes(dataDiskType)) throw bad("dataDiskType", dataDiskType, "pd-standard | pd-balanced | pd-ssd");

  const snapshotStartTime = required("snapshotStartTime", "HH:00 (UTC, on the hour)");
  if (!/^([01]\d|2[0-3]):00$/.test(snapshotStartTime)) throw bad("snapshotStartTime", snapshotStartTime, "HH:00 (UTC, on the hour), e.g. 03:00");

  const cloudflareAccountId = required("cloudflareAccountId", "the 32-hex Cloudflare account id");
  if (!/^[a-f0-9]{32}$/.test(cloudflareAccountId)) throw bad("cloudflareAccountId", cloudflareAccountId, "32 lowercase hex characters");
  const cloudflareZoneId = required("cloudflareZoneId", "the 32-hex Cloudflare zone id");
  if (!/^[a-f0-9]{32}$/.test(cloudflareZoneId)) throw bad("cloudflareZoneId", cloudflareZoneId, "32 lowercase hex characters");

  const emailsRaw = required("accessEmails", 'a list of e-mail addresses, e.g. ["ops@example.com"]');
  let accessEmails: unknown;
  try {
    accessEmails = JSON.parse(emailsRaw);
  } catch {
    accessEmails = undefined;
  }
  if (!Array.isArray(accessEmails) || accessEmails.length === 0 || !accessEmails.every((e) => typeof e === "string" && emailPattern.test(e))) {
    throw bad("accessEmails", emailsRaw, 'a non-empty list of e-mail addresses, e.g. ["ops@example.com"]');
  }

  const whatsappPhoneNumberId = required("whatsappPhoneNumberId", "the numeric phone number id from Meta's WhatsApp manager");
  if (!/^\d+$/.test(whatsappPhoneNumberId)) throw bad("whatsappPhoneNumberId", whatsappPhoneNumberId, "digits only (the phone number id, not the phone number)");

  const llamaModel = required("llamaModel", "a Hugging Face GGUF repo[:quant]");
  if (!/^[\w.-]+\/[\w.-]+(:[\w.-]+)?$/.test(llamaModel)) throw bad("llamaModel", llamaModel, "owner/repo[:quant], e.g. bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M");
  const cloudModel = required("cloudModel", "a LiteLLM model id such as openrouter/openai/gpt-4o-mini");
  if (!/^[\w.-]+(\/[\w.:-]+)+$/.test(cloudModel)) throw bad("cloudModel", cloudModel, "provider/model, e.g. openrouter/openai/gpt-4o-mini");

  for (const key of ["migrationStage", "migrationVerified"] as const) {
    const v = value(key);
    if (v && !isStageId(v)) throw bad(key, v, `${stageOrder.join(" | ")} (set by tierstack migrate)`, "is not a migration stage");
  }
  const migrationTarget = value("migrationTarget");
  if (migrationTarget && !isTierName(migrationTarget)) throw bad("migrationTarget", migrationTarget, tierNames.join(" | "), "is not a known tier");
  if (!migrationTarget !== !value("migrationStage")) throw bad("migrationStage", value("migrationStage") ?? "", "set together with tierstack:migrationTarget, by tierstack migrate", "does not match tierstack:migrationTarget");

  const shardMapShape = 'JSON {"<namespace>": ["http://…"]} or {"<namespace>": {"replicas": ["http://…"], "protocol": "2026-07-28"}}';
  const shardMap = parseShardMap(required("gatewayShardMap", shardMapShape));
  if (shardMap.problems.length > 0) throw bad("gatewayShardMap", value("gatewayShardMap"), shardMapShape, `is not valid (${shardMap.problems.join("; ")})`);
  const gatewayShardMap = formatShardMap(shardMap.shards);

  const warnings: string[] = [];
  const imageRefs: Record<string, ImageRef> = {};
  for (const spec of images) {
    const ref = required(spec.key, "repo:tag or repo:tag@sha256:<digest>");
    const parsed = parseImageRef(ref);
    if (!parsed) throw bad(spec.key, ref, "repo:tag or repo:tag@sha256:<64 hex digest>", "is not an image reference");
    if (parsed.tag === undefined && parsed.digest === undefined) throw bad(spec.key, ref, "repo:tag or repo:tag@sha256:<digest>", "has neither tag nor digest");
    if (parsed.tag === "latest" || parsed.tag === "main") throw bad(spec.key, ref, "a pinned tag or a digest", "uses a moving tag");
    if (parsed.digest === undefined) {
      warnings.push(`${namespace}:${spec.key} = ${ref} is pinned by tag only (no digest from a cited source); set repo:tag@sha256:<digest> before production`);
    }
    imageRefs[spec.key] = parsed;
  }

  const budgetRaw = required("budgetUsdPerMonth", "a whole number of USD a month");
  if (!/^\d+$/.test(budgetRaw)) throw bad("budgetUsdPerMonth", budgetRaw, `a whole number of USD a month ≥ 0 (0 = tier ${tier.name}'s default, ${defaultBudgets[tier.name].usdPerMonth}, catalog/budgets.ts)`);
  const budget = Number(budgetRaw) === 0
    ? { usdPerMonth: defaultBudgets[tier.name].usdPerMonth, from: "tier default" as const }
    : { usdPerMonth: Number(budgetRaw), from: "config" as const };
  const shareRaw = required("infraShareMax", "a number between 0 and 1");
  const infraShareMax = Number(shareRaw);
  if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(shareRaw) || infraShareMax <= 0) throw bad("infraShareMax", shareRaw, 'a number above 0 and at most 1, as a string, e.g. "0.2"');
  const billingAccount = value("billingAccount") || undefined;
  if (billingAccount !== undefined && !/^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$/.test(billingAccount)) throw bad("billingAccount", billingAccount, "a billing account id, XXXXXX-XXXXXX-XXXXXX (uppercase hex), or empty for no billing budget");
  const projectNumber = value("projectNumber") || undefined;
  if (projectNumber !== undefined && !/^\d{6,20}$/.test(projectNumber)) throw bad("projectNumber", projectNumber, "the project's number (digits; gcloud projects describe <id> --format='value(projectNumber)'), or empty");
  if (billingAccount === undefined) warnings.push(`${namespace}:billingAccount is not set: no billing budget alerts at $${budget.usdPerMonth} a month after pulumi up; set it to create one`);

  for (const key of secretConfigKeys) {
    if (!raw[`${namespace}:${key}`]) throw bad(key, "", `a secret: pulumi config set --secret ${namespace}:${key} <value>`, "is not set");
  }
  const sandbox = parseSandboxConfig(value, sizes.learnerPoolMaxNodes);

  return {
    stack,
    project,
    tier,
    domain,
    region,
    zone,
    machineType,
    machine,
    gpu,
    sizes,
    subnetCidr,
    dataDiskType,
    snapshotStartTime,
    cloudflareAccountId,
    cloudflareZoneId,
    accessEmails: accessEmails as string[],
    whatsappPhoneNumberId,
    llamaModel,
    cloudModel,
    gatewayShardMap,
    images: imageRefs,
    budget,
    infraShareMax,
    ...(billingAccount !== undefined ? { billingAccount } : {}),
    ...(projectNumber !== undefined ? { projectNumber } : {}),
    sandbox,
    warnings,
  };
}

