/**
 * The infrastructure estimator: the monthly cost of every resource a stack declares, from its
 * Pulumi type and inputs (a recorded plan's resources, or the resources the policy pack
 * receives), and the stack's total as a range (min, max).
 *
 * - A resource type is priced by its entry in `resourceTypePricing` (infra.ts) and the region's
 *   prices (`priceBook`); a type without an entry, a region without prices, or a machine type,
 *   disk type, tier or band without a price is *unpriced*: reported, never guessed as zero.
 * - Ranges: autoscaled node pools run between their minimum and maximum nodes; free allowances
 *   that belong to the billing account (the GKE credit for one zonal cluster, Secret Manager's
 *   first six versions) lower the minimum only, since another stack may already use them.
 * - Usage that the program does not declare (GiB through NAT, GB stored in Artifact Registry or a
 *   bucket, Secret Manager accesses, Prometheus samples, snapshot increments) is not in the
 *   figure; each line names its usage rate instead.
 * - 730 hours a month (HOURS_PER_MONTH).
 */
import {
  HOURS_PER_MONTH, isFirstParty, natGatewayUsdPerHour, priceBook, resourceTypePricing,
  type DiskType, type MachinePrice, type RegionPrices, type ResourceTypePricing, type Sourced,
} from "./infra.js";

/** A resource as a plan records it or a policy receives it. */
export interface DeclaredResource {
  type: string;
  name: string;
  urn?: string;
  inputs: Record<string, unknown>;
}

export type CostCategory = "compute" | "storage" | "data" | "network" | "platform" | "edge";
export const costCategories: readonly CostCategory[] = ["compute", "storage", "data", "network", "platform", "edge"];

export interface PriceSource {
  source: string;
  date: string;
  /** Not from the provider's own pricing page (a secondary source). */
  unverified: boolean;
}

export interface CostPart {
  category: CostCategory;
  minUsd: number;
  maxUsd: number;
  /** How the figure is reached, one line. */
  basis: string;
}

export interface ResourceCost {
  type: string;
  name: string;
  urn?: string;
  /** "free": the type costs nothing by itself, on purpose (`reason`). */
  billing: "priced" | "free";
  parts: CostPart[];
  minUsd: number;
  maxUsd: number;
  /** Why a free type is free; for priced ones, what the entry bills by. */
  reason: string;
  /** Charges that depend on usage the program does not declare, with their rates (not in the figure). */
  usage?: string;
  sources: PriceSource[];
}

export interface UnpricedResource {
  type: string;
  name: string;
  urn?: string;
  reason: string;
}

export interface StackCost {
  region: string;
  resources: ResourceCost[];
  unpriced: UnpricedResource[];
  minUsd: number;
  maxUsd: number;
  byCategory: Record<CostCategory, { minUsd: number; maxUsd: number }>;
}

export class UnpricedError extends Error {
  override name = "UnpricedError";
}

// ---------------------------------------------------------------- reading inputs

/** The value at a dotted path ("nodeConfig.machineType", "containers.0.image"), or undefined. */
export function readPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && /^\d+(\.\d+)?$/.test(v)) return Number(v);
  return undefined;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** "projects/p/zones/us-central1-a/diskTypes/pd-ssd" or "pd-ssd" → "pd-ssd". */
function lastSegment(v: string): string {
  return v.split("/").pop() ?? v;
}

/** us-central1-a → us-central1; us-central1 → us-central1; US-CENTRAL1 → us-central1. */
export function regionOf(location: string): string {
  const l = location.toLowerCase();
  return /^[a-z]+-[a-z]+\d+-[a-z]$/.test(l) ? l.slice(0, -2) : l;
}

function isZone(location: string): boolean {
  return /^[a-z]+-[a-z]+\d+-[a-z]$/.test(location.toLowerCase());
}

/** The region a resource lives in, from its region, zone or location inputs; undefined when it names none. */
export function resourceRegion(r: DeclaredResource): string | undefined {
  const at = str(r.inputs.region) ?? str(r.inputs.zone) ?? str(r.inputs.location);
  return at === undefined ? undefined : regionOf(lastSegment(at));
}

/** Kubernetes quantities: "10Gi" → 10 (GiB, the unit disks are billed in); "500Mi" → 0.49. */
export function gibOfQuantity(q: unknown): number | undefined {
  if (typeof q === "number") return q / 2 ** 30;
  if (typeof q !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const factor: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, K: 1e3, M: 1e6, G: 1e9, T: 1e12, "": 1 };
  return (n * (factor[m[2] ?? ""] ?? 1)) / 2 ** 30;
}

// ---------------------------------------------------------------- the pricers

const H = HOURS_PER_MONTH;

interface Priced {
  parts: CostPart[];
  sources: Sourced[];
  usage?: string;
}

type Pricer = (r: DeclaredResource, ctx: StackContext) => Priced;

interface StackContext {
  resources: readonly DeclaredResource[];
  prices: (r: DeclaredResource) => RegionPrices;
  defaultRegion: string;
}

function machine(prices: RegionPrices, machineType: string): MachinePrice {
  const p = prices.machines.find((m) => m.machineType === machineType);
  if (!p) throw new UnpricedError(`no price for machine type ${machineType} in ${prices.region}`);
  return p;
}

function diskPrice(prices: RegionPrices, type: string) {
  const p = prices.disks.find((d) => d.disk === (type as DiskType));
  if (!p) throw new UnpricedError(`no price for disk type ${type} in ${prices.region}`);
  return p;
}

/**
 * GPUs declared as guestAccelerators beyond the ones the machine type carries. GKE takes the
 * accelerator of an a2/g2/a3 node as a guestAccelerators entry naming the GPU the machine type
 * already includes (and where its driver comes from): that entry is the included GPU, priced once
 * in the machine type. Anything beyond it has no price here (N1 + attached GPUs is not supported).
 */
export function extraAccelerators(m: MachinePrice | undefined, accelerators: unknown): number {
  const declared = list(accelerators).reduce((n: number, a) => n + (num(readPath(a, "count")) ?? 0), 0);
  return Math.max(0, declared - (m?.gpu?.count ?? 0));
}

function gpuNote(m: MachinePrice): string {
  return m.gpu ? ` (${m.gpu.count}× ${m.gpu.type} included)` : "";
}

/** A VM: its machine type (GPUs of g2/a2/a3 included), spot if asked, and its boot disk. */
const instance: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const machineType = str(r.inputs.machineType);
  if (!machineType) throw new UnpricedError("no machineType");
  const m = machine(prices, lastSegment(machineType));
  if (extraAccelerators(m, r.inputs.guestAccelerators) > 0) throw new UnpricedError(`guestAccelerators beyond the ${m.gpu?.count ?? 0} GPU(s) ${m.machineType} carries have no price (the platform uses g2/a2/a3 machine types, which carry their GPUs)`);
  const spot = readPath(r.inputs, "scheduling.provisioningModel") === "SPOT" || readPath(r.inputs, "scheduling.preemptible") === true;
  const factor = spot ? prices.spot.factor : 1;
  const vm = m.usdPerHour * factor * H;
  const bootGb = num(readPath(r.inputs, "bootDisk.initializeParams.size")) ?? 10;
  const bootType = lastSegment(str(readPath(r.inputs, "bootDisk.initializeParams.type")) ?? "pd-standard");
  const bd = diskPrice(prices, bootType);
  const boot = bootGb * bd.usdPerGbMonth;
  return {
    parts: [
      { category: "compute", minUsd: vm, maxUsd: vm, basis: `${m.machineType}${gpuNote(m)} $${m.usdPerHour}/h${spot ? ` × spot ${prices.spot.factor}` : ""} × ${H} h` },
      { category: "storage", minUsd: boot, maxUsd: boot, basis: `${bootGb} GB ${bootType} boot disk × $${bd.usdPerGbMonth}/GB-month` },
    ],
    sources: spot ? [m, prices.spot, bd] : [m, bd],
  };
};

const disk: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const gb = num(r.inputs.size);
  if (gb === undefined) throw new UnpricedError("no size");
  const type = lastSegment(str(r.inputs.type) ?? "pd-standard");
  const p = diskPrice(prices, type);
  const v = gb * p.usdPerGbMonth;
  return { parts: [{ category: "storage", minUsd: v, maxUsd: v, basis: `${gb} GB ${type} × $${p.usdPerGbMonth}/GB-month` }], sources: [p] };
};

const nameOf = (r: DeclaredResource) => str(r.inputs.name) ?? r.name;

/** A snapshot schedule: one full copy of each disk attached to it (daily increments are usage). */
const snapshotSchedule: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  if (r.inputs.snapshotSchedulePolicy === undefined) return { parts: [], sources: [] };
  const at = readPath(r.inputs, "snapshotSchedulePolicy.snapshotProperties.storageLocations");
  const locations = Array.isArray(at) ? at : at === undefined ? [] : [at];
  if (locations.length === 0) throw new UnpricedError("no storageLocations: snapshots go to the nearest multi-region, whose storage is not priced here");
  if (!locations.every((l) => typeof l === "string" && regionOf(l) === prices.region)) throw new UnpricedError(`snapshot storage in ${locations.join(", ")}: only regional snapshot storage in ${prices.region} is priced`);
  const policyName = nameOf(r);
  const disks = ctx.resources
    .filter((a) => a.type === "gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment" && str(a.inputs.name) === policyName)
    .map((a) => ctx.resources.find((d) => d.type === "gcp:compute/disk:Disk" && (nameOf(d) === str(a.inputs.disk) || `${d.name}-id` === str(a.inputs.disk))));
  const snap = diskPrice(prices, "snapshot");
  const gb = disks.reduce((s, d) => s + (d ? (num(d.inputs.size) ?? 0) : 0), 0);
  if (disks.some((d) => d === undefined)) throw new UnpricedError("a disk attached to the schedule is not in the stack");
  const v = gb * snap.usdPerGbMonth;
  const days = num(readPath(r.inputs, "snapshotSchedulePolicy.retentionPolicy.maxRetentionDays"));
  return {
    parts: [{ category: "storage", minUsd: v, maxUsd: v, basis: `one full snapshot of ${gb} GB (${disks.length} disk${disks.length === 1 ? "" : "s"}) × $${snap.usdPerGbMonth}/GB-month` }],
    sources: [snap],
    usage: `each day's changed blocks add their size × $${snap.usdPerGbMonth}/GB-month for the ${days ?? "kept"} days they are retained`,
  };
};

/** VMs behind the NAT: instances without an external IP, and every node of every pool (private nodes). */
function natVms(ctx: StackContext, region: string): { min: number; max: number } {
  let min = 0;
  let max = 0;
  for (const x of ctx.resources) {
    if ((resourceRegion(x) ?? ctx.defaultRegion) !== region) continue;
    if (x.type === "gcp:compute/instance:Instance") {
      const external = list(x.inputs.networkInterfaces).some((n) => list(readPath(n, "accessConfigs")).length > 0);
      if (!external) {
        min += 1;
        max += 1;
      }
    } else if (x.type === "gcp:container/nodePool:NodePool") {
      const n = poolNodes(x);
      min += n.min;
      max += n.max;
    }
  }
  return { min, max };
}

const nat: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const p = prices.nat;
  const region = resourceRegion(r) ?? ctx.defaultRegion;
  const vms = natVms(ctx, region);
  const manual = str(r.inputs.natIpAllocateOption) === "MANUAL_ONLY";
  const minPorts = num(r.inputs.minPortsPerVm) ?? p.defaultMinPortsPerVm;
  const ips = (v: number) => (manual ? list(r.inputs.natIps).length : Math.max(1, Math.ceil((v * minPorts) / p.portsPerIp)));
  const gw = (v: number) => natGatewayUsdPerHour(v) * H;
  const ip = (v: number) => ips(v) * p.usdPerIpHour * H;
  return {
    parts: [
      { category: "network", minUsd: gw(vms.min), maxUsd: gw(vms.max), basis: `gateway for ${vms.min === vms.max ? vms.min : `${vms.min}-${vms.max}`} VMs × $${p.usdPerVmHour}/VM-hour (flat $${p.usdPerHourAboveMax}/h above ${p.maxBilledVms}) × ${H} h` },
      { category: "network", minUsd: ip(vms.min), maxUsd: ip(vms.max), basis: `${ips(vms.min) === ips(vms.max) ? ips(vms.min) : `${ips(vms.min)}-${ips(vms.max)}`} NAT IP × $${p.usdPerIpHour}/IP-hour × ${H} h` },
    ],
    sources: [p],
    usage: `$${p.usdPerGib} per GiB processed (both directions)`,
  };
};

/** Nodes of a pool, across its zones: autoscaling totals, per-zone limits × zones, or a fixed count. */
export function poolNodes(r: DeclaredResource): { min: number; max: number } {
  const location = str(r.inputs.location) ?? "";
  const zones = list(r.inputs.nodeLocations).length || (isZone(location) || location === "" ? 1 : 3);
  const totalMin = num(readPath(r.inputs, "autoscaling.totalMinNodeCount"));
  const totalMax = num(readPath(r.inputs, "autoscaling.totalMaxNodeCount"));
  if (totalMax !== undefined) return { min: totalMin ?? 0, max: totalMax };
  const zoneMax = num(readPath(r.inputs, "autoscaling.maxNodeCount"));
  if (zoneMax !== undefined) return { min: (num(readPath(r.inputs, "autoscaling.minNodeCount")) ?? 0) * zones, max: zoneMax * zones };
  const fixed = (num(r.inputs.nodeCount) ?? num(r.inputs.initialNodeCount) ?? 1) * zones;
  return { min: fixed, max: fixed };
}

const nodePool: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const machineType = str(readPath(r.inputs, "nodeConfig.machineType")) ?? "e2-medium";
  const m = machine(prices, machineType);
  if (extraAccelerators(m, readPath(r.inputs, "nodeConfig.guestAccelerators")) > 0) throw new UnpricedError(`guestAccelerators beyond the ${m.gpu?.count ?? 0} GPU(s) ${m.machineType} carries have no price (use g2/a2/a3 machine types, which carry their GPUs)`);
  const spot = readPath(r.inputs, "nodeConfig.spot") === true || readPath(r.inputs, "nodeConfig.preemptible") === true;
  const factor = spot ? prices.spot.factor : 1;
  const diskGb = num(readPath(r.inputs, "nodeConfig.diskSizeGb")) ?? 100;
  const diskType = str(readPath(r.inputs, "nodeConfig.diskType")) ?? "pd-balanced";
  const dp = diskPrice(prices, diskType);
  const n = poolNodes(r);
  const perNode = m.usdPerHour * factor * H;
  const diskPerNode = diskGb * dp.usdPerGbMonth;
  const nodes = n.min === n.max ? `${n.min}` : `${n.min}-${n.max}`;
  return {
    parts: [
      { category: "compute", minUsd: perNode * n.min, maxUsd: perNode * n.max, basis: `${nodes} × ${m.machineType}${gpuNote(m)} $${m.usdPerHour}/h${spot ? ` × spot ${prices.spot.factor}` : ""} × ${H} h` },
      { category: "storage", minUsd: diskPerNode * n.min, maxUsd: diskPerNode * n.max, basis: `${nodes} × ${diskGb} GB ${diskType} boot disk × $${dp.usdPerGbMonth}/GB-month` },
    ],
    sources: spot ? [m, prices.spot, dp] : [m, dp],
  };
};

/** The cluster fee; a zonal cluster may be the billing account's one covered by the monthly credit (min). */
const cluster: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const g = prices.gke;
  if (r.inputs.enableAutopilot === true) throw new UnpricedError("Autopilot bills pod resources, which are not priced here");
  const fee = g.usdPerClusterHour * H;
  const zonal = isZone(str(r.inputs.location) ?? "");
  const min = zonal ? Math.max(0, fee - g.monthlyFreeCreditUsd) : fee;
  const parts: CostPart[] = [{ category: "compute", minUsd: min, maxUsd: fee, basis: `$${g.usdPerClusterHour}/cluster-hour × ${H} h${zonal ? ` (min: the billing account's $${g.monthlyFreeCreditUsd} monthly credit for one zonal cluster)` : " (regional: no credit)"}` }];
  const sources: Sourced[] = [g];
  if (r.inputs.removeDefaultNodePool !== true) {
    const pool = nodePool({ ...r, inputs: { location: r.inputs.location, nodeLocations: r.inputs.nodeLocations, nodeConfig: r.inputs.nodeConfig, initialNodeCount: r.inputs.initialNodeCount ?? 3 } }, ctx);
    parts.push(...pool.parts.map((p) => ({ ...p, basis: `default pool: ${p.basis}` })));
    sources.push(...pool.sources);
  }
  return { parts, sources };
};

/** Cloud SQL PostgreSQL Enterprise: db-custom-<vCPUs>-<MB> compute and SSD storage, doubled for REGIONAL (HA). */
const cloudSql: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const p = prices.cloudSql;
  const version = str(r.inputs.databaseVersion) ?? "";
  if (!version.startsWith("POSTGRES")) throw new UnpricedError(`database version ${version || "(none)"}: only PostgreSQL is priced`);
  const edition = str(readPath(r.inputs, "settings.edition")) ?? "ENTERPRISE";
  if (edition !== p.edition) throw new UnpricedError(`edition ${edition}: only ${p.edition} is priced`);
  const tier = str(readPath(r.inputs, "settings.tier")) ?? "";
  const custom = /^db-custom-(\d+)-(\d+)$/.exec(tier);
  if (!custom) throw new UnpricedError(`tier ${tier || "(none)"}: only db-custom-<vCPUs>-<MB> tiers are priced`);
  const vcpus = Number(custom[1]);
  const memoryGb = Number(custom[2]) / 1024;
  const diskType = str(readPath(r.inputs, "settings.diskType")) ?? "PD_SSD";
  if (diskType !== "PD_SSD") throw new UnpricedError(`disk type ${diskType}: only PD_SSD is priced`);
  const gb = num(readPath(r.inputs, "settings.diskSize")) ?? 10;
  const ha = str(readPath(r.inputs, "settings.availabilityType")) === "REGIONAL";
  const mult = ha ? p.haMultiplier : 1;
  const compute = (vcpus * p.usdPerVcpuHour + memoryGb * p.usdPerGbRamHour) * H * mult;
  const storage = gb * p.usdPerGbSsdMonth * mult;
  const haNote = ha ? ` × ${p.haMultiplier} (REGIONAL)` : "";
  const autoresize = readPath(r.inputs, "settings.diskAutoresize") !== false;
  return {
    parts: [
      { category: "data", minUsd: compute, maxUsd: compute, basis: `${tier}: (${vcpus} vCPU × $${p.usdPerVcpuHour} + ${memoryGb} GB × $${p.usdPerGbRamHour})/h × ${H} h${haNote}` },
      { category: "data", minUsd: storage, maxUsd: storage, basis: `${gb} GB SSD × $${p.usdPerGbSsdMonth}/GB-month${haNote}` },
    ],
    sources: [p],
    usage: `backups and point-in-time-recovery logs are billed by GB stored${autoresize ? "; the disk grows with the data (autoresize)" : ""}`,
  };
};

const memorystore: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const tier = str(r.inputs.tier) ?? "BASIC";
  const gb = num(r.inputs.memorySizeGb);
  if (gb === undefined) throw new UnpricedError("no memorySizeGb");
  if (str(r.inputs.readReplicasMode) === "READ_REPLICAS_ENABLED" && (num(r.inputs.replicaCount) ?? 1) > 1) throw new UnpricedError("read replicas beyond the standard tier's one replica have no price here");
  const p = prices.memorystore.find((m) => m.tier === tier && gb >= m.minGb && gb <= m.maxGb);
  if (!p) throw new UnpricedError(`no Memorystore price for ${tier} ${gb} GB in ${prices.region}`);
  const v = p.usdPerGbHour * gb * H;
  return { parts: [{ category: "data", minUsd: v, maxUsd: v, basis: `${tier} ${p.band} ${gb} GB × $${p.usdPerGbHour}/GB-hour × ${H} h` }], sources: [p] };
};

/** One active secret version each; the billing account's first free versions lower the minimum (stack-wide, in order). */
const secretVersion: Pricer = (r, ctx) => {
  const p = ctx.prices(r).secretManager;
  if (r.inputs.enabled === false) return { parts: [{ category: "platform", minUsd: 0, maxUsd: 0, basis: "disabled version" }], sources: [p] };
  const versions = ctx.resources.filter((x) => x.type === r.type && x.inputs.enabled !== false);
  const index = versions.indexOf(r);
  const free = index >= 0 && index < p.freeVersions;
  return {
    parts: [{ category: "platform", minUsd: free ? 0 : p.usdPerVersionMonth, maxUsd: p.usdPerVersionMonth, basis: `one active version × $${p.usdPerVersionMonth}/month${free ? ` (min: among the billing account's ${p.freeVersions} free versions)` : ""}` }],
    sources: [p],
    usage: `$${p.usdPer10kAccesses} per 10,000 accesses beyond ${p.freeAccesses.toLocaleString("en-US")} a month`,
  };
};

const artifactRegistry: Pricer = (r, ctx) => {
  const p = ctx.prices(r).artifactRegistry;
  return { parts: [{ category: "storage", minUsd: 0, maxUsd: 0, basis: "images stored (usage)" }], sources: [p], usage: `$${p.usdPerGbMonth}/GB-month stored beyond ${p.freeGb} GB` };
};

const bucket: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const p = prices.cloudStorage;
  const cls = str(r.inputs.storageClass) ?? "STANDARD";
  if (cls !== "STANDARD") throw new UnpricedError(`storage class ${cls}: only STANDARD is priced`);
  const location = str(r.inputs.location) ?? "";
  if (regionOf(location) !== prices.region) throw new UnpricedError(`location ${location}: only regional buckets in ${prices.region} are priced`);
  return { parts: [{ category: "storage", minUsd: 0, maxUsd: 0, basis: "objects stored (usage)" }], sources: [p], usage: `$${p.usdPerGbMonth}/GB-month stored` };
};

const podMonitoring: Pricer = (r, ctx) => {
  const p = ctx.prices(r).managedPrometheus;
  return { parts: [{ category: "platform", minUsd: 0, maxUsd: 0, basis: "samples ingested (usage)" }], sources: [p], usage: `$${p.usdPerMillionSamples} per million samples ingested` };
};

const cloudflare: Pricer = (r, ctx) => {
  const p = ctx.prices(r).cloudflare;
  return { parts: [{ category: "edge", minUsd: p.usdPerMonth, maxUsd: p.usdPerMonth, basis: "Cloudflare free plan" }], sources: [p] };
};

const storageClassDisk: Record<string, DiskType> = { "standard-rwo": "pd-balanced", "premium-rwo": "pd-ssd", standard: "pd-standard", "": "pd-balanced" };

/** Persistent volumes a claim asks for, on GKE's storage classes (the default, standard-rwo, is pd-balanced). */
function claimCost(prices: RegionPrices, spec: unknown, copies: number): { part: CostPart; source: Sourced } {
  const gib = gibOfQuantity(readPath(spec, "resources.requests.storage"));
  if (gib === undefined) throw new UnpricedError("a volume claim without a storage request");
  const cls = str(readPath(spec, "storageClassName")) ?? "";
  const type = storageClassDisk[cls];
  if (!type) throw new UnpricedError(`storage class ${cls}: no disk type known for it`);
  const p = diskPrice(prices, type);
  const v = gib * copies * p.usdPerGbMonth;
  return { part: { category: "storage", minUsd: v, maxUsd: v, basis: `${copies} × ${gib} GiB ${type} (${cls || "default class"}) × $${p.usdPerGbMonth}/GB-month` }, source: p };
}

const statefulSet: Pricer = (r, ctx) => {
  const prices = ctx.prices(r);
  const replicas = num(readPath(r.inputs, "spec.replicas")) ?? 1;
  const claims = list(readPath(r.inputs, "spec.volumeClaimTemplates")).map((t) => claimCost(prices, readPath(t, "spec"), replicas));
  return { parts: claims.map((c) => c.part), sources: claims.map((c) => c.source) };
};

const persistentVolumeClaim: Pricer = (r, ctx) => {
  const c = claimCost(ctx.prices(r), r.inputs.spec, 1);
  return { parts: [c.part], sources: [c.source] };
};

/** Forwarding rules in the stack, in declaration order: explicit rules and LoadBalancer Services. */
function forwardingRules(ctx: StackContext): DeclaredResource[] {
  return ctx.resources.filter((x) =>
    x.type === "gcp:compute/forwardingRule:ForwardingRule" || x.type === "gcp:compute/globalForwardingRule:GlobalForwardingRule"
    || (x.type === "kubernetes:core/v1:Service" && readPath(x.inputs, "spec.type") === "LoadBalancer"));
}

/** The first rules of a project are billed as one block at the first rate; each one after at the second. */
const forwardingRule: Pricer = (r, ctx) => {
  const p = ctx.prices(r).forwardingRules;
  const rules = forwardingRules(ctx);
  const index = rules.indexOf(r);
  if (index < 0) return { parts: [{ category: "network", minUsd: 0, maxUsd: 0, basis: "no load balancer (ClusterIP/NodePort)" }], sources: [] };
  const v = index === 0 ? p.usdPerHourFirst * H : index < p.firstRules ? 0 : p.usdPerHourAfter * H;
  const basis = index === 0 ? `the block of the first ${p.firstRules} rules, $${p.usdPerHourFirst}/h × ${H} h` : index < p.firstRules ? `rule ${index + 1} of the first ${p.firstRules} (in the block)` : `rule ${index + 1}: $${p.usdPerHourAfter}/h × ${H} h`;
  return { parts: [{ category: "network", minUsd: v, maxUsd: v, basis }], sources: [p], usage: "data processed by the load balancer is billed per GB" };
};

const pricers: Record<string, Pricer> = {
  "gcp:compute/instance:Instance": instance,
  "gcp:compute/disk:Disk": disk,
  "gcp:compute/resourcePolicy:ResourcePolicy": snapshotSchedule,
  "gcp:compute/routerNat:RouterNat": nat,
  "gcp:container/cluster:Cluster": cluster,
  "gcp:container/nodePool:NodePool": nodePool,
  "gcp:sql/databaseInstance:DatabaseInstance": cloudSql,
  "gcp:redis/instance:Instance": memorystore,
  "gcp:secretmanager/secretVersion:SecretVersion": secretVersion,
  "gcp:artifactregistry/repository:Repository": artifactRegistry,
  "gcp:storage/bucket:Bucket": bucket,
  "kubernetes:monitoring.googleapis.com/v1:PodMonitoring": podMonitoring,
  "kubernetes:apps/v1:StatefulSet": statefulSet,
  "kubernetes:core/v1:PersistentVolumeClaim": persistentVolumeClaim,
  "kubernetes:core/v1:Service": forwardingRule,
  "gcp:compute/forwardingRule:ForwardingRule": forwardingRule,
  "gcp:compute/globalForwardingRule:GlobalForwardingRule": forwardingRule,
};

/** The reader for a billed type (Cloudflare types share one: the free plan). */
function pricerFor(type: string, entry: ResourceTypePricing): Pricer | undefined {
  if ("free" in entry) return undefined;
  if (entry.billed === "cloudflare") return cloudflare;
  return pricers[type];
}

/** How a type is billed: its catalogue entry, or the rules for component and provider types. */
export function typePricing(type: string): ResourceTypePricing | undefined {
  const entry = resourceTypePricing[type];
  if (entry) return entry;
  if (type.startsWith("tierstack:")) return { free: "a component resource: it groups its children, which are priced one by one" };
  if (type.startsWith("pulumi:providers:")) return { free: "a Pulumi provider, not a cloud resource" };
  return undefined;
}

/** Every type the estimator has a reader for (a test keeps this and the catalogue's billed entries equal). */
export const pricedTypes: readonly string[] = Object.keys(pricers);

const sourceOf = (s: Sourced): PriceSource => ({ source: s.source, date: s.date, unverified: !isFirstParty(s.source) });

function sum(parts: readonly CostPart[], key: "minUsd" | "maxUsd"): number {
  return parts.reduce((s, p) => s + p[key], 0);
}

/**
 * Prices every resource of a stack. `region` is where resources that name no region of their
 * own (Kubernetes objects, global resources) are priced.
 */
export function estimateStack(resources: readonly DeclaredResource[], opts: { region: string }): StackCost {
  const ctx: StackContext = {
    resources,
    defaultRegion: opts.region,
    prices: (r) => {
      const region = resourceRegion(r) ?? opts.region;
      const p = priceBook[region];
      if (!p) throw new UnpricedError(`no prices for region ${region} (priced: ${Object.keys(priceBook).join(", ")})`);
      return p;
    },
  };
  const priced: ResourceCost[] = [];
  const unpriced: UnpricedResource[] = [];
  for (const r of resources) {
    const id = { type: r.type, name: r.name, ...(r.urn !== undefined ? { urn: r.urn } : {}) };
    const entry = typePricing(r.type);
    if (!entry) {
      unpriced.push({ ...id, reason: `resource type ${r.type} has no entry in the price catalogue (cost/src/infra.ts resourceTypePricing)` });
      continue;
    }
    if ("free" in entry) {
      priced.push({ ...id, billing: "free", parts: [], minUsd: 0, maxUsd: 0, reason: entry.free, sources: [] });
      continue;
    }
    const pricer = pricerFor(r.type, entry);
    if (!pricer) {
      unpriced.push({ ...id, reason: `resource type ${r.type} is billed by ${entry.billed} but the estimator cannot read it` });
      continue;
    }
    try {
      const p = pricer(r, ctx);
      const seen = new Set<string>();
      const sources = p.sources.map(sourceOf).filter((s) => !seen.has(s.source) && seen.add(s.source));
      priced.push({ ...id, billing: "priced", parts: p.parts, minUsd: sum(p.parts, "minUsd"), maxUsd: sum(p.parts, "maxUsd"), reason: entry.by, ...(p.usage ? { usage: p.usage } : {}), sources });
    } catch (err) {
      if (!(err instanceof UnpricedError)) throw err;
      unpriced.push({ ...id, reason: err.message });
    }
  }
  const byCategory = Object.fromEntries(costCategories.map((c) => [c, { minUsd: 0, maxUsd: 0 }])) as StackCost["byCategory"];
  for (const r of priced) {
    for (const p of r.parts) {
      byCategory[p.category].minUsd += p.minUsd;
      byCategory[p.category].maxUsd += p.maxUsd;
    }
  }
  return {
    region: opts.region,
    resources: priced,
    unpriced,
    minUsd: priced.reduce((s, r) => s + r.minUsd, 0),
    maxUsd: priced.reduce((s, r) => s + r.maxUsd, 0),
    byCategory,
  };
}

/** "$1,234.56". */
export function formatUsd(n: number): string {
  return `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
