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

export const natPrice: Sourced & { usdPerGatewayHour: number; usdPerGb: number } = Object.freeze({
  usdPerGatewayHour: 0.0448, usdPerGb: 0.045, source: CYCLENERD, date: CYCLENERD_DATE,
});

export const loadBalancerPrice: Sourced & { firstRules: number; usdPerHourFirst: number; usdPerHourAfter: number } = Object.freeze({
  firstRules: 5, usdPerHourFirst: 0.025, usdPerHourAfter: 0.01, source: CYCLENERD, date: CYCLENERD_DATE,
});

export const gkePrice: Sourced & { usdPerClusterHour: number; monthlyFreeCreditUsd: number } = Object.freeze({
  usdPerClusterHour: 0.1,
  /** Per billing account, zonal or Autopilot clusters only. */
  monthlyFreeCreditUsd: 74.4,
  source: CYCLENERD, date: CYCLENERD_DATE,
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
export const cloudflarePrice: Sourced & { usdPerMonth: number } = Object.freeze({ usdPerMonth: 0, source: "Cloudflare plans page (DNS free; Zero Trust free under 50 users)", date: CYCLENERD_DATE });

// ---------------------------------------------------------------- estimators (pure)

export type InfraItem =
  | { kind: "machine"; machineType: string; count?: number; spot?: boolean }
  | { kind: "disk"; disk: DiskType; gb: number }
  | { kind: "nat"; gateways?: number; gbPerMonth?: number }
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
      return { item, usdPerMonth: natPrice.usdPerGatewayHour * h * (item.gateways ?? 1) + natPrice.usdPerGb * (item.gbPerMonth ?? 0), source: natPrice.source, date: natPrice.date };
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
