/** The stack estimator on resources written out by hand: each pricer, ranges, GPUs priced once, unpriced types and regions. */
import { describe, expect, it } from "vitest";
import { estimateStack, gibOfQuantity, poolNodes, pricedTypes, readPath, regionOf, type DeclaredResource } from "./estimate.js";
import { priceBook, resourceTypePricing } from "./infra.js";

const r = (type: string, name: string, inputs: Record<string, unknown>): DeclaredResource => ({ type, name, inputs });
const region = { region: "us-central1" };
const H = 730;

describe("reading inputs", () => {
  it("paths, regions, Kubernetes quantities, node counts", () => {
    expect(readPath({ a: { b: [{ c: 1 }] } }, "a.b.0.c")).toBe(1);
    expect(readPath({ a: 1 }, "a.b")).toBeUndefined();
    expect(regionOf("us-central1-a")).toBe("us-central1");
    expect(regionOf("US-CENTRAL1")).toBe("us-central1");
    expect(gibOfQuantity("20Gi")).toBe(20);
    expect(gibOfQuantity("512Mi")).toBe(0.5);
    expect(gibOfQuantity("lots")).toBeUndefined();
    expect(poolNodes(r("gcp:container/nodePool:NodePool", "p", { location: "us-central1-a", autoscaling: { totalMinNodeCount: 2, totalMaxNodeCount: 4 } }))).toEqual({ min: 2, max: 4 });
    // Per-zone limits of a regional pool: × the three zones.
    expect(poolNodes(r("gcp:container/nodePool:NodePool", "p", { location: "us-central1", autoscaling: { minNodeCount: 1, maxNodeCount: 2 } }))).toEqual({ min: 3, max: 6 });
    expect(poolNodes(r("gcp:container/nodePool:NodePool", "p", { location: "us-central1", nodeLocations: ["us-central1-a", "us-central1-b"], nodeCount: 2 }))).toEqual({ min: 4, max: 4 });
  });
});

describe("pricing each type from its inputs", () => {
  it("a VM: machine type × 730 h plus its boot disk; spot at the planning factor", () => {
    const vm = r("gcp:compute/instance:Instance", "vm", { zone: "us-central1-a", machineType: "e2-standard-4", bootDisk: { initializeParams: { size: 50, type: "pd-balanced" } } });
    const est = estimateStack([vm], region);
    expect(est.resources[0]?.maxUsd).toBeCloseTo(0.13402 * H + 50 * 0.1, 6);
    expect(est.byCategory.compute.maxUsd).toBeCloseTo(97.8346, 4);
    expect(est.byCategory.storage.maxUsd).toBeCloseTo(5, 6);
    const spot = estimateStack([{ ...vm, inputs: { ...vm.inputs, scheduling: { provisioningModel: "SPOT" } } }], region);
    expect(spot.byCategory.compute.maxUsd).toBeCloseTo(0.13402 * 0.6 * H, 6);
  });

  it("the GPU is in the g2/a2 price and is never counted twice, even when a pool names it as a guestAccelerator", () => {
    const g2 = estimateStack([r("gcp:compute/instance:Instance", "box", { zone: "us-central1-a", machineType: "g2-standard-24", bootDisk: { initializeParams: { size: 100, type: "pd-balanced" } } })], region);
    expect(g2.byCategory.compute.maxUsd).toBeCloseTo(2.000832574 * H, 6);
    const a2 = r("gcp:container/nodePool:NodePool", "inference", {
      location: "us-central1", nodeLocations: ["us-central1-a"], autoscaling: { totalMinNodeCount: 1, totalMaxNodeCount: 2 },
      nodeConfig: { machineType: "a2-highgpu-1g", diskSizeGb: 200, diskType: "pd-balanced", guestAccelerators: [{ type: "nvidia-tesla-a100", count: 1 }] },
    });
    const est = estimateStack([a2], region);
    expect(est.unpriced).toEqual([]);
    expect(est.byCategory.compute.minUsd).toBeCloseTo(3.67339 * H, 6);
    expect(est.byCategory.compute.maxUsd).toBeCloseTo(2 * 3.67339 * H, 6);
    // A second accelerator beyond the one the machine type carries has no price: reported, not added.
    const extra = estimateStack([{ ...a2, inputs: { ...a2.inputs, nodeConfig: { ...(a2.inputs.nodeConfig as object), guestAccelerators: [{ type: "nvidia-tesla-a100", count: 2 }] } } }], region);
    expect(extra.unpriced[0]?.reason).toMatch(/beyond the 1 GPU/);
  });

  it("an autoscaled pool gives a min and a max", () => {
    const pool = r("gcp:container/nodePool:NodePool", "services", { location: "us-central1-a", autoscaling: { totalMinNodeCount: 2, totalMaxNodeCount: 4 }, nodeConfig: { machineType: "e2-standard-4", diskSizeGb: 100, diskType: "pd-balanced" } });
    const est = estimateStack([pool], region);
    expect(est.minUsd).toBeCloseTo(2 * (0.13402 * H + 100 * 0.1), 6);
    expect(est.maxUsd).toBeCloseTo(4 * (0.13402 * H + 100 * 0.1), 6);
  });

  it("Cloud NAT counts the VMs behind it (instances without an external IP, every pool node) and its IPs", () => {
    const nat = r("gcp:compute/routerNat:RouterNat", "nat", { region: "us-central1", natIpAllocateOption: "AUTO_ONLY" });
    const vm = r("gcp:compute/instance:Instance", "vm", { zone: "us-central1-a", machineType: "e2-standard-2", networkInterfaces: [{ subnetwork: "s" }] });
    const exposed = r("gcp:compute/instance:Instance", "exposed", { zone: "us-central1-a", machineType: "e2-standard-2", networkInterfaces: [{ subnetwork: "s", accessConfigs: [{}] }] });
    const pool = r("gcp:container/nodePool:NodePool", "p", { location: "us-central1-a", autoscaling: { totalMinNodeCount: 1, totalMaxNodeCount: 40 }, nodeConfig: { machineType: "e2-standard-2" } });
    const line = estimateStack([nat, vm, exposed, pool], region).resources.find((x) => x.name === "nat");
    // 2 VMs at the minimum: 2 × $0.0014; 41 at the maximum: flat $0.044 above 32. One NAT IP ($0.005/h) either way.
    expect(line?.minUsd).toBeCloseTo((2 * 0.0014 + 0.005) * H, 6);
    expect(line?.maxUsd).toBeCloseTo((0.044 + 0.005) * H, 6);
    expect(line?.usage).toContain("$0.045 per GiB");
  });

  it("Cloud SQL (HA doubles compute and storage), Memorystore by band, the GKE credit lowers the minimum only", () => {
    const sql = (availabilityType: string) => r("gcp:sql/databaseInstance:DatabaseInstance", "pg", { region: "us-central1", databaseVersion: "POSTGRES_17", settings: { tier: "db-custom-2-7680", diskSize: 200, diskType: "PD_SSD", availabilityType } });
    const zonal = (2 * 0.0413 + 7.5 * 0.007) * H + 200 * 0.17;
    expect(estimateStack([sql("ZONAL")], region).maxUsd).toBeCloseTo(zonal, 6);
    expect(estimateStack([sql("REGIONAL")], region).maxUsd).toBeCloseTo(2 * zonal, 6);
    expect(estimateStack([r("gcp:redis/instance:Instance", "redis", { region: "us-central1", tier: "STANDARD_HA", memorySizeGb: 5 })], region).maxUsd).toBeCloseTo(0.054 * 5 * H, 6);
    const zonalCluster = estimateStack([r("gcp:container/cluster:Cluster", "c", { location: "us-central1-a", removeDefaultNodePool: true })], region);
    expect([zonalCluster.minUsd, zonalCluster.maxUsd]).toEqual([0, 0.1 * H]);
    const regional = estimateStack([r("gcp:container/cluster:Cluster", "c", { location: "us-central1", removeDefaultNodePool: true })], region);
    expect(regional.minUsd).toBeCloseTo(73, 6);
  });

  it("snapshots, stateful volumes, load balancers, secret versions", () => {
    const disk = r("gcp:compute/disk:Disk", "data", { zone: "us-central1-a", size: 100, type: "pd-balanced" });
    const schedule = r("gcp:compute/resourcePolicy:ResourcePolicy", "snaps", { region: "us-central1", snapshotSchedulePolicy: { snapshotProperties: { storageLocations: "us-central1" }, retentionPolicy: { maxRetentionDays: 14 } } });
    const attach = r("gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment", "attach", { disk: "data", name: "snaps", zone: "us-central1-a" });
    const sts = r("kubernetes:apps/v1:StatefulSet", "nats", { spec: { replicas: 3, volumeClaimTemplates: [{ spec: { storageClassName: "premium-rwo", resources: { requests: { storage: "20Gi" } } } }] } });
    const lb = (name: string) => r("kubernetes:core/v1:Service", name, { spec: { type: "LoadBalancer" } });
    const versions = Array.from({ length: 8 }, (_, i) => r("gcp:secretmanager/secretVersion:SecretVersion", `v${i}`, { secretData: "x" }));
    const est = estimateStack([disk, schedule, attach, sts, lb("a"), lb("b"), r("kubernetes:core/v1:Service", "c", { spec: { type: "ClusterIP" } }), ...versions], region);
    const line = (name: string) => est.resources.find((x) => x.name === name);
    expect(line("snaps")?.maxUsd).toBeCloseTo(100 * 0.05, 6);
    expect(line("nats")?.maxUsd).toBeCloseTo(3 * 20 * 0.17, 6);
    // Forwarding rules: the first five are one block at $0.025/h.
    expect(line("a")?.maxUsd).toBeCloseTo(0.025 * H, 6);
    expect(line("b")?.maxUsd).toBe(0);
    expect(line("c")?.maxUsd).toBe(0);
    // Eight versions: $0.06 each at most; the billing account's first six are free at the minimum.
    const secrets = est.resources.filter((x) => x.type.endsWith(":SecretVersion"));
    expect(secrets.reduce((s, x) => s + x.maxUsd, 0)).toBeCloseTo(8 * 0.06, 6);
    expect(secrets.reduce((s, x) => s + x.minUsd, 0)).toBeCloseTo(2 * 0.06, 6);
  });
});

describe("unpriced is reported, never zero", () => {
  it("a type without an entry, a region without prices, a machine type without a price", () => {
    const est = estimateStack([
      r("aws:ec2/instance:Instance", "elsewhere", {}),
      r("gcp:compute/instance:Instance", "eu", { zone: "europe-west1-b", machineType: "e2-standard-4" }),
      r("gcp:compute/instance:Instance", "big", { zone: "us-central1-a", machineType: "n2-highmem-128" }),
    ], region);
    expect(est.resources).toEqual([]);
    expect(est.unpriced.map((u) => [u.name, u.reason])).toEqual([
      ["elsewhere", expect.stringMatching(/aws:ec2\/instance:Instance has no entry in the price catalogue/)],
      ["eu", expect.stringMatching(/no prices for region europe-west1/)],
      ["big", expect.stringMatching(/no price for machine type n2-highmem-128 in us-central1/)],
    ]);
    expect(est.maxUsd).toBe(0);
  });

  it("components, providers and free types are free on purpose, with their reason", () => {
    const est = estimateStack([r("tierstack:tier:SingleBox", "sb", {}), r("pulumi:providers:gcp", "default", {}), r("gcp:projects/iAMMember:IAMMember", "m", {})], region);
    expect(est.unpriced).toEqual([]);
    expect(est.resources.every((x) => x.billing === "free" && x.reason.length > 0 && x.maxUsd === 0)).toBe(true);
  });

  it("every billed type in the catalogue has a reader, and every reader a catalogue entry", () => {
    const billed = Object.entries(resourceTypePricing).filter(([, p]) => "billed" in p && p.billed !== "cloudflare").map(([t]) => t).sort();
    expect([...pricedTypes].sort()).toEqual(billed);
    expect(Object.keys(priceBook)[0]).toBe("us-central1");
  });
});
