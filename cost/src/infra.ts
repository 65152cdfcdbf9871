/**
 * Infrastructure prices (GCP us-central1, on-demand list prices, 730 hours a month), each with
 * its source and date, for the cost guards. Sources (each entry names its own): the Cyclenerd
 * google-cloud-pricing-cost-calculator pricing.yml
 * (https://github.com/Cyclenerd/google-cloud-pricing-cost-calculator) and, for Cloud SQL,
 * Infracost's price data (https://github.com/infracost/cloud-pricing-api).
 */
export const HOURS_PER_MONTH = 730;

export interface Sourced { source: string; date: string }

const CYCLENERD = "Cyclenerd google-cloud-pricing-cost-calculator pricing.yml (us-central1, on-demand)";
const CYCLENERD_DATE = "2026-07-30";
/** Entries read from the repository's stored copy of pricing.yml, generated 2025-03-06 (commit 0166a59e). */
const CYCLENERD_2025 = "Cyclenerd google-cloud-pricing-cost-calculator pricing.yml generated 2025-03-06 (commit 0166a59e; us-central1, on-demand)";
const CYCLENERD_2025_DATE = "2025-03-06";
const INFRACOST = "Infracost price data (us-central1)";
const INFRACOST_DATE = "2024-07";

export interface MachinePrice extends Sourced {
  machineType: string;
  vcpus: number;
  memoryGb: number;
  /** GPUs included in the machine type's price (never add them a second time). */
  gpu?: { type: string; count: number };
  usdPerHour: number;
}

export const machinePrices: readonly MachinePrice[] = Object.freeze([
  { machineType: "e2-standard-2", vcpus: 2, memoryGb: 8, usdPerHour: 0.06701, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "e2-standard-4", vcpus: 4, memoryGb: 16, usdPerHour: 0.13402, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "e2-standard-8", vcpus: 8, memoryGb: 32, usdPerHour: 0.26805, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "n2-standard-4", vcpus: 4, memoryGb: 16, usdPerHour: 0.19424, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "n2-standard-8", vcpus: 8, memoryGb: 32, usdPerHour: 0.38847, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "n2-standard-16", vcpus: 16, memoryGb: 64, usdPerHour: 0.77694, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "g2-standard-4", vcpus: 4, memoryGb: 16, gpu: { type: "nvidia-l4", count: 1 }, usdPerHour: 0.70683, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "g2-standard-8", vcpus: 8, memoryGb: 32, gpu: { type: "nvidia-l4", count: 1 }, usdPerHour: 0.85362, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "g2-standard-24", vcpus: 24, memoryGb: 96, gpu: { type: "nvidia-l4", count: 2 }, usdPerHour: 2.000832574, source: CYCLENERD_2025, date: CYCLENERD_2025_DATE },
  { machineType: "g2-standard-32", vcpus: 32, memoryGb: 128, gpu: { type: "nvidia-l4", count: 1 }, usdPerHour: 1.734376367, source: CYCLENERD_2025, date: CYCLENERD_2025_DATE },
  { machineType: "a2-highgpu-1g", vcpus: 12, memoryGb: 85, gpu: { type: "nvidia-tesla-a100", count: 1 }, usdPerHour: 3.67339, source: CYCLENERD, date: CYCLENERD_DATE },
  { machineType: "a3-highgpu-1g", vcpus: 26, memoryGb: 234, gpu: { type: "nvidia-h100-80gb", count: 1 }, usdPerHour: 11.0612, source: CYCLENERD, date: CYCLENERD_DATE },
] satisfies MachinePrice[]);

/** Spot discount planning factor: spot ≈ 0.55-0.6 × on-demand; the guards use the upper (cautious) end. */
export const spotFactor: Sourced & { factor: number } = Object.freeze({ factor: 0.6, source: CYCLENERD + " (spot ≈ 0.55-0.6× on-demand)", date: CYCLENERD_DATE });

export type DiskType = "pd-standard" | "pd-balanced" | "pd-ssd" | "snapshot";
export interface DiskPrice extends Sourced { disk: DiskType; usdPerGbMonth: number }
export const diskPrices: readonly DiskPrice[] = Object.freeze([
  { disk: "pd-standard", usdPerGbMonth: 0.04, source: CYCLENERD, date: CYCLENERD_DATE },
  { disk: "pd-balanced", usdPerGbMonth: 0.1, source: CYCLENERD, date: CYCLENERD_DATE },
  { disk: "pd-ssd", usdPerGbMonth: 0.17, source: CYCLENERD, date: CYCLENERD_DATE },
  { disk: "snapshot", usdPerGbMonth: 0.05, source: CYCLENERD, date: CYCLENERD_DATE },
] satisfies DiskPrice[]);

/**
 * Cloud NAT (Public NAT) as Google bills it: per hour, $0.0014 for each VM that gets a NAT
 * assignment up to 32 VMs, a flat $0.044 above 32; $0.005 per hour for each external IP the
 * gateway uses; $0.045 per GiB processed, both directions (https://cloud.google.com/nat/pricing).
 * One NAT IP gives 64,512 source ports and each VM reserves at least 64 by default
 * (https://cloud.google.com/nat/docs/ports-and-addresses), so an AUTO_ONLY gateway needs
 * ceil(VMs × minPortsPerVm / 64,512) IPs.
 */
export const natPrice: Sourced & {
  usdPerVmHour: number; maxBilledVms: number; usdPerHourAboveMax: number; usdPerIpHour: number; usdPerGib: number;
  portsPerIp: number; defaultMinPortsPerVm: number;
} = Object.freeze({
  usdPerVmHour: 0.0014, maxBilledVms: 32, usdPerHourAboveMax: 0.044, usdPerIpHour: 0.005, usdPerGib: 0.045,
  portsPerIp: 64_512, defaultMinPortsPerVm: 64,
  source: "https://cloud.google.com/nat/pricing", date: "2026-12-01",
});

/** The NAT gateway's hourly charge for `vms` VMs (Google's per-VM rate, flat above 32). */
export function natGatewayUsdPerHour(vms: number): number {
  return vms > natPrice.maxBilledVms ? natPrice.usdPerHourAboveMax : vms * natPrice.usdPerVmHour;
}

export const loadBalancerPrice: Sourced & { firstRules: number; usdPerHourFirst: number; usdPerHourAfter: number } = Object.freeze({
  firstRules: 5, usdPerHourFirst: 0.025, usdPerHourAfter: 0.01, source: CYCLENERD, date: CYCLENERD_DATE,
});

export const gkePrice: Sourced & { usdPerClusterHour: number; monthlyFreeCreditUsd: number } = Object.freeze({
  usdPerClusterHour: 0.1,
  /** Per billing account, zonal or Autopilot clusters only. */
  monthlyFreeCreditUsd: 74.4,
  source: "https://cloud.google.com/kubernetes-engine/pricing", date: "2026-12-01",
});

export const cloudSqlPostgresPrice: Sourced & { edition: "ENTERPRISE"; usdPerVcpuHour: number; usdPerGbRamHour: number; usdPerGbSsdMonth: number; haMultiplier: number } = Object.freeze({
  edition: "ENTERPRISE",
  usdPerVcpuHour: 0.0413, usdPerGbRamHour: 0.007, usdPerGbSsdMonth: 0.17,
  /** REGIONAL (HA) doubles compute and storage. */
  haMultiplier: 2,
  source: INFRACOST, date: INFRACOST_DATE,
});

export type MemorystoreTier = "BASIC" | "STANDARD_HA";
/** Capacity bands: M1 1-4 GB, M2 5-10 GB, M3 11-35 GB. */
export interface MemorystorePrice extends Sourced { tier: MemorystoreTier; band: "M1" | "M2" | "M3"; minGb: number; maxGb: number; usdPerGbHour: number }
export const memorystoreRedisPrices: readonly MemorystorePrice[] = Object.freeze([
  { tier: "BASIC", band: "M1", minGb: 1, maxGb: 4, usdPerGbHour: 0.049, source: CYCLENERD, date: CYCLENERD_DATE },
  { tier: "BASIC", band: "M2", minGb: 5, maxGb: 10, usdPerGbHour: 0.027, source: CYCLENERD, date: CYCLENERD_DATE },
  { tier: "BASIC", band: "M3", minGb: 11, maxGb: 35, usdPerGbHour: 0.023, source: CYCLENERD, date: CYCLENERD_DATE },
  { tier: "STANDARD_HA", band: "M1", minGb: 1, maxGb: 4, usdPerGbHour: 0.064, source: CYCLENERD, date: CYCLENERD_DATE },
  { tier: "STANDARD_HA", band: "M2", minGb: 5, maxGb: 10, usdPerGbHour: 0.054, source: CYCLENERD, date: CYCLENERD_DATE },
  { tier: "STANDARD_HA", band: "M3", minGb: 11, maxGb: 35, usdPerGbHour: 0.046, source: CYCLENERD, date: CYCLENERD_DATE },
] satisfies MemorystorePrice[]);

/** Cloudflare DNS and Zero Trust (under 50 users) cost nothing. */
export const cloudflarePrice: Sourced & { usdPerMonth: number } = Object.freeze({ usdPerMonth: 0, source: "secondary: Zero Trust Free plan up to 50 users with no overage (https://community.cloudflare.com/t/cloudflare-billing/30110); DNS records on the Free plan", date: "2026-12-01" });

/** Secret Manager: active secret versions per location and month, and access operations; the first 6 versions and 10,000 accesses a month are free per billing account. */
export const secretManagerPrice: Sourced & { usdPerVersionMonth: number; usdPer10kAccesses: number; freeVersions: number; freeAccesses: number } = Object.freeze({
  usdPerVersionMonth: 0.06, usdPer10kAccesses: 0.03, freeVersions: 6, freeAccesses: 10_000,
  source: "https://cloud.google.com/secret-manager/pricing", date: "2026-12-01",
});

/** Artifact Registry storage (Docker repositories): the first 0.5 GB free per billing account; pulls within the region free. */
export const artifactRegistryPrice: Sourced & { usdPerGbMonth: number; freeGb: number } = Object.freeze({
  usdPerGbMonth: 0.1, freeGb: 0.5, source: "https://cloud.google.com/artifact-registry/pricing", date: "2026-12-01",
});

/**
 * Managed Service for Prometheus ingestion, first tier (0-50 billion samples a month). The
 * figure is the official pricing page as archived on 2023-06-05 (effective 2022-05-16); later
 * secondary sources quote $0.06: the guards use the higher, cautious figure until re-read.
 */
export const managedPrometheusPrice: Sourced & { usdPerMillionSamples: number } = Object.freeze({
  usdPerMillionSamples: 0.15, source: "https://cloud.google.com/stackdriver/pricing (archived 2023-06-05)", date: "2023-06-05",
});

/** Cloud Storage, Standard class in a region (us-central1); the GPU box's weights bucket. */
export const cloudStoragePrice: Sourced & { usdPerGbMonth: number } = Object.freeze({
  usdPerGbMonth: 0.02, source: "https://cloud.google.com/storage/pricing (us-central1, Standard)", date: "2026-12-01",
});

// ---------------------------------------------------------------- resource types

/**
 * How each Pulumi resource type the program declares is billed: by which price above (its
 * quantity comes from the resource's inputs), or free, with the reason. A type missing here is
 * unpriced: the cost guard refuses it.
 */
export type ResourceTypePricing =
  | { billed: "machine" | "disk" | "nat" | "gke" | "cloudSql" | "memorystore" | "secretManager" | "artifactRegistry" | "cloudStorage" | "managedPrometheus" | "cloudflare" | "forwardingRule"; by: string }
  | { free: string };

const FREE_IAM = "IAM objects are free";
const K8S_OBJECT = "a Kubernetes API object: runs on the node pools, which are priced";

export const resourceTypePricing: Readonly<Record<string, ResourceTypePricing>> = Object.freeze({
  // Tier-50 cluster.
  "gcp:container/cluster:Cluster": { billed: "gke", by: "one cluster; zonal clusters get the monthly credit" },
  "gcp:container/nodePool:NodePool": { billed: "machine", by: "nodeConfig.machineType × nodes (autoscaling.totalMinNodeCount at least), plus nodeConfig.diskSizeGb of pd-balanced per node" },
  "gcp:serviceaccount/account:Account": { free: FREE_IAM },
  "gcp:serviceaccount/iAMMember:IAMMember": { free: FREE_IAM },
  "gcp:projects/iAMMember:IAMMember": { free: FREE_IAM },
  "gcp:secretmanager/secretIamMember:SecretIamMember": { free: FREE_IAM },
  "gcp:secretmanager/secret:Secret": { free: "the secret itself is free; its versions are billed (SecretVersion)" },
  "gcp:secretmanager/secretVersion:SecretVersion": { billed: "secretManager", by: "one active version each; accesses at every pod start" },
  "gcp:compute/network:Network": { free: "VPC networks are free" },
  "gcp:compute/subnetwork:Subnetwork": { free: "subnets and their secondary ranges are free" },
  "gcp:compute/firewall:Firewall": { free: "firewall rules are free" },
  "gcp:compute/router:Router": { free: "Cloud Router without BGP sessions is free" },
  "gcp:compute/routerNat:RouterNat": { billed: "nat", by: "one gateway, plus GB processed" },
  "pulumi:providers:kubernetes": { free: "a Pulumi provider, not a cloud resource" },
  "kubernetes:core/v1:Namespace": { free: K8S_OBJECT },
  "kubernetes:core/v1:ServiceAccount": { free: K8S_OBJECT },
  "kubernetes:core/v1:Service": { billed: "forwardingRule", by: "spec.type LoadBalancer: one forwarding rule; ClusterIP and NodePort Services create none and cost nothing" },
  "kubernetes:core/v1:PersistentVolumeClaim": { billed: "disk", by: "spec.resources.requests.storage of its storage class (standard-rwo = pd-balanced)" },
  "gcp:compute/forwardingRule:ForwardingRule": { billed: "forwardingRule", by: "one rule; the first five in a project are billed as a block" },
  "gcp:compute/globalForwardingRule:GlobalForwardingRule": { billed: "forwardingRule", by: "one rule; the first five in a project are billed as a block" },
  "gcp:billing/budget:Budget": { free: "Cloud Billing budgets and their alert e-mails are free" },
  "kubernetes:core/v1:ConfigMap": { free: K8S_OBJECT },
  "kubernetes:apps/v1:Deployment": { free: K8S_OBJECT },
  "kubernetes:apps/v1:StatefulSet": { billed: "disk", by: "each volumeClaimTemplate's storage of its storage class (premium-rwo = pd-ssd)" },
  "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": { free: K8S_OBJECT },
  "kubernetes:policy/v1:PodDisruptionBudget": { free: K8S_OBJECT },
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": { free: "enforced by Dataplane V2 at no charge" },
  "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass": { free: "the Secret Manager add-on is free; the secret accesses it makes are billed as Secret Manager accesses" },
  "kubernetes:rbac.authorization.k8s.io/v1:Role": { free: K8S_OBJECT },
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": { free: K8S_OBJECT },
  "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxTemplate": { free: "an agent-sandbox object (the GKE add-on is free); its sandboxes run on the learner pool, which is priced" },
  "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxWarmPool": { free: "an agent-sandbox object (the GKE add-on is free); its warm sandboxes run on the learner pool, which is priced" },
  "kubernetes:monitoring.googleapis.com/v1:PodMonitoring": { billed: "managedPrometheus", by: "samples ingested: series per scrape × scrapes (interval) a month" },
  // The data plane and images of tier-50.
  "gcp:compute/globalAddress:GlobalAddress": { free: "an internal range reserved for private services access is free" },
  "gcp:servicenetworking/connection:Connection": { free: "VPC peering with service producers is free" },
  "gcp:sql/databaseInstance:DatabaseInstance": { billed: "cloudSql", by: "settings.tier's vCPUs and memory, settings.diskSize of SSD, doubled for REGIONAL" },
  "gcp:sql/database:Database": { free: "databases inside an instance are free" },
  "gcp:sql/user:User": { free: "users inside an instance are free" },
  "gcp:redis/instance:Instance": { billed: "memorystore", by: "tier × memorySizeGb" },
  "gcp:artifactregistry/repository:Repository": { billed: "artifactRegistry", by: "GB of images stored (cleanup policies bound it)" },
  "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": { free: FREE_IAM },
  "gcp:storage/bucket:Bucket": { billed: "cloudStorage", by: "GB stored (the model weights)" },
  "gcp:storage/bucketIAMMember:BucketIAMMember": { free: FREE_IAM },
  "gcp:compute/instance:Instance": { billed: "machine", by: "machineType (GPUs included in g2/a2/a3 prices), plus its boot disk" },
  "gcp:compute/disk:Disk": { billed: "disk", by: "size × type" },
  "gcp:compute/resourcePolicy:ResourcePolicy": { billed: "disk", by: "the snapshots it keeps (snapshot storage)" },
  "gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment": { free: "attaching a schedule is free" },
  "random:index/randomPassword:RandomPassword": { free: "generated locally by Pulumi" },
  "random:index/randomBytes:RandomBytes": { free: "generated locally by Pulumi" },
  "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": { billed: "cloudflare", by: "free plan" },
  "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig": { billed: "cloudflare", by: "free plan" },
  "cloudflare:index/dnsRecord:DnsRecord": { billed: "cloudflare", by: "free plan" },
  "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication": { billed: "cloudflare", by: "Zero Trust free under 50 users" },
  "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy": { billed: "cloudflare", by: "Zero Trust free under 50 users" },
  "cloudflare:index/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken": { billed: "cloudflare", by: "Zero Trust free under 50 users" },
} satisfies Record<string, ResourceTypePricing>);

// ---------------------------------------------------------------- prices by region

/** Every price the estimator reads, for one region. */
export interface RegionPrices {
  region: string;
  machines: readonly MachinePrice[];
  spot: typeof spotFactor;
  disks: readonly DiskPrice[];
  nat: typeof natPrice;
  forwardingRules: typeof loadBalancerPrice;
  gke: typeof gkePrice;
  cloudSql: typeof cloudSqlPostgresPrice;
  memorystore: readonly MemorystorePrice[];
  secretManager: typeof secretManagerPrice;
  artifactRegistry: typeof artifactRegistryPrice;
  cloudStorage: typeof cloudStoragePrice;
  managedPrometheus: typeof managedPrometheusPrice;
  cloudflare: typeof cloudflarePrice;
}

/**
 * The prices by region: us-central1 first. A resource in a region not listed here is unpriced
 * (the cost guard reports it) rather than priced at another region's rates.
 */
export const priceBook: Readonly<Record<string, RegionPrices>> = Object.freeze({
  "us-central1": Object.freeze({
    region: "us-central1",
    machines: machinePrices,
    spot: spotFactor,
    disks: diskPrices,
    nat: natPrice,
    forwardingRules: loadBalancerPrice,
    gke: gkePrice,
    cloudSql: cloudSqlPostgresPrice,
    memorystore: memorystoreRedisPrices,
    secretManager: secretManagerPrice,
    artifactRegistry: artifactRegistryPrice,
    cloudStorage: cloudStoragePrice,
    managedPrometheus: managedPrometheusPrice,
    cloudflare: cloudflarePrice,
  }),
});

/** A price is first-party when its source is the provider's own pricing page; anything else is shown as unverified. */
export function isFirstParty(source: string): boolean {
  return /(^|\s|\()https:\/\/(cloud\.google\.com|www\.cloudflare\.com|developers\.cloudflare\.com)\//.test(source);
}

// ---------------------------------------------------------------- estimators (pure)

export type InfraItem =
  | { kind: "machine"; machineType: string; count?: number; spot?: boolean }
  | { kind: "disk"; disk: DiskType; gb: number }
  | { kind: "nat"; vms?: number; natIps?: number; gbPerMonth?: number }
  | { kind: "forwardingRules"; count: number }
  | { kind: "gke"; clusters?: number; applyFreeCredit?: boolean }
  | { kind: "cloudSql"; vcpus: number; memoryGb: number; storageGb: number; ha?: boolean }
  | { kind: "memorystore"; tier: MemorystoreTier; gb: number };

export interface CostLine { item: InfraItem; usdPerMonth: number; source: string; date: string }

function machinePrice(machineType: string): MachinePrice {
  const p = machinePrices.find((m) => m.machineType === machineType);
  if (!p) throw new Error(`no price for machine type "${machineType}" in @tierstack/cost`);
  return p;
}

/** Monthly (730 h) cost of one item; unknown machine types or capacities throw. */
export function monthlyUsd(item: InfraItem): CostLine {
  const h = HOURS_PER_MONTH;
  switch (item.kind) {
    case "machine": {
      const p = machinePrice(item.machineType);
      const factor = item.spot ? spotFactor.factor : 1;
      return { item, usdPerMonth: p.usdPerHour * factor * h * (item.count ?? 1), source: p.source, date: p.date };
    }
    case "disk": {
      const p = diskPrices.find((d) => d.disk === item.disk);
      if (!p) throw new Error(`no price for disk "${item.disk}"`);
      return { item, usdPerMonth: p.usdPerGbMonth * item.gb, source: p.source, date: p.date };
    }
    case "nat":
      return { item, usdPerMonth: (natGatewayUsdPerHour(item.vms ?? 1) + natPrice.usdPerIpHour * (item.natIps ?? 1)) * h + natPrice.usdPerGib * (item.gbPerMonth ?? 0), source: natPrice.source, date: natPrice.date };
    case "forwardingRules": {
      const p = loadBalancerPrice;
      const first = Math.min(item.count, p.firstRules);
      const rest = Math.max(0, item.count - p.firstRules);
      // Billing: the first 5 rules are billed as a block at the first-tier hourly rate.
      const usd = item.count === 0 ? 0 : (first > 0 ? p.usdPerHourFirst : 0) * h + rest * p.usdPerHourAfter * h;
      return { item, usdPerMonth: usd, source: p.source, date: p.date };
    }
    case "gke": {
      const gross = gkePrice.usdPerClusterHour * h * (item.clusters ?? 1);
      const net = item.applyFreeCredit ? Math.max(0, gross - gkePrice.monthlyFreeCreditUsd) : gross;
      return { item, usdPerMonth: net, source: gkePrice.source, date: gkePrice.date };
    }
    case "cloudSql": {
      const p = cloudSqlPostgresPrice;
      const mult = item.ha ? p.haMultiplier : 1;
      const compute = (item.vcpus * p.usdPerVcpuHour + item.memoryGb * p.usdPerGbRamHour) * h;
      return { item, usdPerMonth: (compute + item.storageGb * p.usdPerGbSsdMonth) * mult, source: p.source, date: p.date };
    }
    case "memorystore": {
      const p = memorystoreRedisPrices.find((m) => m.tier === item.tier && item.gb >= m.minGb && item.gb <= m.maxGb);
      if (!p) throw new Error(`no Memorystore price for ${item.tier} ${item.gb} GB`);
      return { item, usdPerMonth: p.usdPerGbHour * item.gb * h, source: p.source, date: p.date };
    }
  }
}

/** Sum of the monthly cost of several items, with one line per item (each carrying its source). */
export function estimateMonthlyUsd(items: readonly InfraItem[]): { totalUsd: number; lines: CostLine[] } {
  const lines = items.map(monthlyUsd);
  return { totalUsd: lines.reduce((s, l) => s + l.usdPerMonth, 0), lines };
}
