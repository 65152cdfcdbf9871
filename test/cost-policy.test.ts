/**
 * Cost and policy on the built tiers, each rendered once under Pulumi's mocks: the estimator
 * against totals computed by hand here, every rule passing on the reference stack and failing on a
 * fixture made from that plan with exactly one resource changed, plan's exit code on a stack over
 * budget, and the checked-in chart (docs/cost-chart.svg) holding the report's numbers.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../config/config.js";
import { defaultBudgets } from "../catalog/budgets.js";
import { tiers } from "../catalog/tiers.js";
import { main } from "../cli/main.js";
import { builtStacks, costChartSvg, costRowFrom, renderCostTable, type TierCostRow } from "../cli/cost.js";
import { loadStackConfig, repoRoot, runPlan, type PlanRun } from "../cli/plan.js";
import { costReport, policyReport } from "../policy/report.js";
import { fromRecorded, type RecordedResource, type StackResource } from "../policy/resource.js";
import { evaluate, rules } from "../policy/rules/index.js";
import type { PolicyContext, Rule } from "../policy/rules/types.js";

const H = 730;
const runs: Record<string, PlanRun> = {};
const billing = { "tierstack:billingAccount": "0123AB-4567CD-89EF01", "tierstack:projectNumber": "123456789012" };

beforeAll(async () => {
  // The single box once with a billing account (its budget resource is free: the totals are the reference's).
  runs["single-box"] = await runPlan("single-box", { overrides: billing });
  runs["tier-50"] = await runPlan("tier-50");
  runs["tier-100"] = await runPlan("tier-100");
  // Every other built tier's reference stack, for the cost table and the chart.
  for (const s of builtStacks().stacks) runs[s] ??= await runPlan(s);
});

const seen = (run: PlanRun): StackResource[] => run.recorded.map(fromRecorded);
const ctxOf = (run: PlanRun, config = run.config): PolicyContext => ({ stack: run.stack, config });
const rule = (name: string): Rule => {
  const r = rules.find((x) => x.name === name);
  if (!r) throw new Error(`no rule ${name}`);
  return r;
};
const violations = (name: string, resources: readonly StackResource[], ctx: PolicyContext) => evaluate(resources, ctx, [rule(name)]).map((v) => v.message);

/** The plan's resources with exactly one of them (by name) changed. */
function changed(run: PlanRun, name: string, change: (r: RecordedResource) => void): StackResource[] {
  const hits = run.recorded.filter((r) => r.name === name);
  if (hits.length !== 1) throw new Error(`expected one resource named ${name}, found ${hits.length}`);
  const out = run.recorded.map((r) => {
    if (r.name !== name) return fromRecorded(r);
    const copy = structuredClone(r);
    change(copy);
    return fromRecorded(copy);
  });
  const before = seen(run);
  expect(out.filter((r, i) => JSON.stringify(r) !== JSON.stringify(before[i]))).toHaveLength(1);
  return out;
}

const at = (obj: Record<string, unknown>, path: string): Record<string, unknown> =>
  path.split(".").reduce((o, k) => (o[k] ??= {}) as Record<string, unknown>, obj);

describe("estimator totals, computed by hand", () => {
  it("single-box: the VM, its disks and snapshots, NAT for one VM, 14 secret versions", () => {
    const c = costReport(seen(runs["single-box"] as PlanRun), ctxOf(runs["single-box"] as PlanRun));
    const vm = 0.13402 * H + 50 * 0.1; // e2-standard-4 + 50 GB pd-balanced boot disk = 102.8346
    const dataDisk = 100 * 0.1; // 100 GB pd-balanced = 10
    const snapshots = 100 * 0.05; // one full copy of the data disk = 5
    const nat = (1 * 0.0014 + 1 * 0.005) * H; // one VM, one NAT IP = 4.672
    const secrets = { min: (14 - 6) * 0.06, max: 14 * 0.06 }; // six free versions per billing account at the minimum
    expect(c.infra.minUsd).toBeCloseTo(vm + dataDisk + snapshots + nat + secrets.min, 2); // 122.9866
    expect(c.infra.maxUsd).toBeCloseTo(vm + dataDisk + snapshots + nat + secrets.max, 2); // 123.3466
    expect(c.infra.unpriced).toEqual([]);
    // LLM: 2M tokens a day at 10 agents → 4M at 20; 30% cloud on gpt-4o-mini ($0.2625/M at 25% completion),
    // 70% for the local 8B with no GPU → its cloud twin meta-llama/llama-3.1-8b-instruct ($0.0225/M).
    const days = H / 24;
    expect(c.llm.usdPerMonth).toBeCloseTo((1.2 * 0.2625 + 2.8 * 0.0225) * days, 2); // 11.50
    expect(c.infraShare).toBeCloseTo(c.infra.maxUsd / (c.infra.maxUsd + c.llm.usdPerMonth), 10);
  });

  it("tier-50: the GPU box (L4s in its price), two autoscaled pools, the cluster fee, Cloud SQL, Redis, NAT, NATS's volume", () => {
    const c = costReport(seen(runs["tier-50"] as PlanRun), ctxOf(runs["tier-50"] as PlanRun));
    const gpuBox = 2.000832574 * H + 131 * 0.1; // g2-standard-24 with its 2 L4s, 131 GB boot disk = 1,473.71
    const system = (n: number) => n * (0.06701 * H + 50 * 0.1); // e2-standard-2 nodes, 1-2
    const services = (n: number) => n * (0.13402 * H + 100 * 0.1); // e2-standard-4 nodes, 2-4
    const cluster = { min: 0, max: 0.1 * H }; // zonal: the $74.40 credit covers the $73 fee at the minimum
    const sql = (2 * 0.0413 + 7.5 * 0.007) * H + 200 * 0.17; // db-custom-2-7680, 200 GB SSD, zonal = 132.62
    const redis = 0.049 * 1 * H; // BASIC M1, 1 GB = 35.77
    const nat = (vms: number) => (vms * 0.0014 + 0.005) * H; // the GPU box + 3-6 nodes
    const nats = 20 * 0.17; // 20 GiB premium-rwo (pd-ssd)
    const secrets = { min: (16 - 6) * 0.06, max: 16 * 0.06 };
    expect(c.infra.minUsd).toBeCloseTo(gpuBox + system(1) + services(2) + cluster.min + sql + redis + nat(4) + nats + secrets.min, 2); // 1,923.43
    expect(c.infra.maxUsd).toBeCloseTo(gpuBox + system(2) + services(4) + cluster.max + sql + redis + nat(7) + nats + secrets.max, 2); // 2,269.44
    expect(c.infra.unpriced).toEqual([]);
    expect(c.gpus).toEqual({ min: 2, max: 2 });
  });

  it("tier-100: the A100 pool (its GPU named as a guestAccelerator, priced once), three-zone pools, regional cluster and HA data, the internal load balancer", () => {
    const c = costReport(seen(runs["tier-100"] as PlanRun), ctxOf(runs["tier-100"] as PlanRun));
    const inference = (n: number) => n * (3.67339 * H + 200 * 0.1); // a2-highgpu-1g with its A100, 1-2 nodes = 2,701.57 each
    const system = (n: number) => n * (0.06701 * H + 50 * 0.1); // 3-6 nodes
    const services = (n: number) => n * (0.13402 * H + 100 * 0.1); // 3-9 nodes
    const learners = (n: number) => n * (0.19424 * 0.6 * H + 50 * 0.1); // the gVisor learner pool: n2-standard-4 on Spot, 0-4 nodes = 90.08 each
    const cluster = 0.1 * H; // regional: no credit
    const sql = 2 * ((4 * 0.0413 + 15 * 0.007) * H + 500 * 0.17); // db-custom-4-15360, 500 GB SSD, REGIONAL doubles both = 564.49
    const redis = 0.064 * 2 * H; // STANDARD_HA M1, 2 GB = 93.44
    const nat = (vms: number) => (vms * 0.0014 + 0.005) * H; // 7-21 VMs (all pool nodes)
    const lb = 0.025 * H; // LiteLLM's internal load balancer: the block of the first five rules
    const nats = 3 * 50 * 0.17; // three 50 GiB pd-ssd volumes
    const secrets = { min: (16 - 6) * 0.06, max: 16 * 0.06 };
    expect(c.infra.minUsd).toBeCloseTo(inference(1) + system(3) + services(3) + learners(0) + cluster + sql + redis + nat(7) + lb + nats + secrets.min, 2); // 3,972.92
    expect(c.infra.maxUsd).toBeCloseTo(inference(2) + system(6) + services(9) + learners(4) + cluster + sql + redis + nat(21) + lb + nats + secrets.max, 2); // 7,858.23
    expect(c.infra.unpriced).toEqual([]);
    expect(c.gpus).toEqual({ min: 1, max: 2 });
    // LLM: 20M agent tokens a day, 30% on gpt-4o-mini; the two A100s serve the local 70%; the learners' 563.6M on gpt-4.1-mini.
    expect(c.llm.usdPerMonth).toBeCloseTo((6 * 0.2625 + 563.6 * 0.7) * (H / 24), 2); // 12,047.89
  });

  it("the GPU box is priced once: its line is the machine type's price, no GPU line beside it", () => {
    const c = costReport(seen(runs["tier-50"] as PlanRun), ctxOf(runs["tier-50"] as PlanRun));
    const box = c.infra.resources.find((r) => r.type === "gcp:compute/instance:Instance");
    expect(box?.maxUsd).toBeCloseTo(2.000832574 * H + 13.1, 4);
    expect(c.infra.resources.filter((r) => /accelerator|gpu/i.test(r.type))).toEqual([]);
  });

  it("an autoscaled pool gives a min and a max", () => {
    const c = costReport(seen(runs["tier-50"] as PlanRun), ctxOf(runs["tier-50"] as PlanRun));
    const pool = c.infra.resources.find((r) => r.name === "tier-50-gke-services-pool");
    expect(pool?.minUsd).toBeCloseTo(2 * (0.13402 * H + 10), 4);
    expect(pool?.maxUsd).toBeCloseTo(4 * (0.13402 * H + 10), 4);
  });
});

describe("each policy passes on the reference plan and fails with one resource changed", () => {
  const sb = () => runs["single-box"] as PlanRun;
  const t50 = () => runs["tier-50"] as PlanRun;

  it("the reference plans break no mandatory rule", () => {
    for (const run of [sb(), t50()]) {
      const p = policyReport(seen(run), ctxOf(run));
      expect(p.violations.filter((v) => v.enforcementLevel === "mandatory"), run.stack).toEqual([]);
    }
  });

  it("infra-within-budget: an L4 box breaks the single box's $313", () => {
    expect(violations("infra-within-budget", seen(sb()), ctxOf(sb()))).toEqual([]);
    const gpu = changed(sb(), "single-box-platform-vm", (r) => void (r.inputs.machineType = "g2-standard-4"));
    expect(violations("infra-within-budget", gpu, ctxOf(sb()))).toEqual([expect.stringMatching(/^infrastructure up to \$54\d\.\d\d a month exceeds the budget of \$313\.00 .*costliest: single-box-platform-vm \$5\d\d\.\d\d/)]);
  });

  it("every-resource-priced: a disk type without a price is reported", () => {
    expect(violations("every-resource-priced", seen(sb()), ctxOf(sb()))).toEqual([]);
    const disk = changed(sb(), "single-box-data-disk", (r) => void (r.inputs.type = "hyperdisk-balanced"));
    expect(violations("every-resource-priced", disk, ctxOf(sb()))).toEqual(["gcp:compute/disk:Disk single-box-data-disk is not priced: no price for disk type hyperdisk-balanced in us-central1"]);
  });

  it("gpu-count: two L4s on the single box, one on tier-50", () => {
    expect(violations("gpu-count", seen(sb()), ctxOf(sb()))).toEqual([]);
    expect(violations("gpu-count", seen(t50()), ctxOf(t50()))).toEqual([]);
    const two = changed(sb(), "single-box-platform-vm", (r) => void (r.inputs.machineType = "g2-standard-24"));
    expect(violations("gpu-count", two, ctxOf(sb()))).toEqual(["2 GPU(s) declared (single-box-platform-vm 2); tier single-box allows 0-1"]);
    const one = changed(t50(), "tier-50-gpu-vm", (r) => void (r.inputs.machineType = "g2-standard-8"));
    expect(violations("gpu-count", one, ctxOf(t50()))).toEqual(["1 GPU(s) declared (tier-50-gpu-vm 1); tier tier-50 allows 2-2"]);
  });

  it("machine-families: an A100 on the L4 tier, a machine type the catalogue does not accept", () => {
    expect(violations("machine-families", seen(t50()), ctxOf(t50()))).toEqual([]);
    const a100 = changed(t50(), "tier-50-gpu-vm", (r) => void (r.inputs.machineType = "a2-highgpu-2g"));
    expect(violations("machine-families", a100, ctxOf(t50()))).toEqual(["machineType = a2-highgpu-2g carries 2× nvidia-a100-40gb; tier tier-50 runs its inference on nvidia-l4"]);
    const odd = changed(t50(), "tier-50-gke-services-pool", (r) => void (at(r.inputs, "nodeConfig").machineType = "e2-standard-3"));
    expect(violations("machine-families", odd, ctxOf(t50()))).toEqual(["nodeConfig.machineType = e2-standard-3 is not a machine type the catalogue accepts (catalog/machines.ts)"]);
  });

  it("learner pool: bounded nodes, gVisor, spot (the services pool made the learner pool)", () => {
    for (const name of ["learner-pool-max-nodes", "learner-pool-gvisor", "learner-pool-spot"]) expect(violations(name, seen(t50()), ctxOf(t50()))).toEqual([]);
    const learners = changed(t50(), "tier-50-gke-services-pool", (r) => void (r.inputs.name = "learners"));
    expect(violations("learner-pool-max-nodes", learners, ctxOf(t50()))).toEqual(["learner pool runs up to 4 nodes; tier tier-50 allows 0"]);
    expect(violations("learner-pool-gvisor", learners, ctxOf(t50()))).toEqual(["learner pool has no GKE Sandbox: set nodeConfig.sandboxConfig.type = GVISOR"]);
    expect(violations("learner-pool-spot", learners, ctxOf(t50()))).toEqual(["learner pool runs on on-demand VMs: set nodeConfig.spot (about 0.6× the price)"]);
    const sandboxed = changed(t50(), "tier-50-gke-services-pool", (r) => {
      r.inputs.name = "learners";
      Object.assign(at(r.inputs, "nodeConfig"), { sandboxConfig: { type: "GVISOR" }, spot: true });
    });
    expect(violations("learner-pool-gvisor", sandboxed, ctxOf(t50()))).toEqual([]);
    expect(violations("learner-pool-spot", sandboxed, ctxOf(t50()))).toEqual([]);
    // Up to 4 nodes is within tier-100's bound (learnerPoolMaxNodes max 50).
    const tier100 = parseStackConfig(loadStackConfig("tier-100").config, "tier-100");
    expect(violations("learner-pool-max-nodes", sandboxed, ctxOf(t50(), tier100))).toEqual([]);
  });

  it("infra-share (advisory): the single box is mostly infrastructure; a higher infraShareMax accepts it", () => {
    expect(violations("infra-share", seen(sb()), ctxOf(sb()))).toEqual([expect.stringMatching(/^infrastructure is 9\d% of the month's total .* above 20% \(tierstack:infraShareMax\); costliest: single-box-platform-vm \$102\.83, single-box-data-disk \$10\.00, single-box-data-daily-snapshots \$5\.00$/)]);
    expect(violations("infra-share", seen(sb()), ctxOf(sb(), { ...sb().config, infraShareMax: 0.95 }))).toEqual([]);
  });

  it("gpu-capacity (advisory): the warnings plan prints, gone when the single box gets its L4", () => {
    expect(violations("gpu-capacity", seen(sb()), ctxOf(sb()))).toEqual([expect.stringMatching(/^single-box: 0 GPU\(s\) configured, the capacity model needs 1 at peak/)]);
    expect(violations("gpu-capacity", seen(sb()), ctxOf(sb()))).toEqual(sb().warnings.filter((w) => w.startsWith("single-box: ")));
    const l4 = changed(sb(), "single-box-platform-vm", (r) => void (r.inputs.machineType = "g2-standard-4"));
    expect(violations("gpu-capacity", l4, ctxOf(sb()))).toEqual([]);
    expect(violations("gpu-capacity", seen(t50()), ctxOf(t50()))).toEqual(t50().warnings.filter((w) => w.startsWith("tier-50: ")));
  });

  it("billing-budget-declared (advisory): the budget at the stack's budget; none, or another amount, is named", () => {
    expect(violations("billing-budget-declared", seen(sb()), ctxOf(sb()))).toEqual([]);
    const other = changed(sb(), "single-box-budget-budget", (r) => void (at(r.inputs, "amount.specifiedAmount").units = "100"));
    expect(violations("billing-budget-declared", other, ctxOf(sb()))).toEqual(["billing budget single-box-budget-budget is for $100, the stack's budget is $313"]);
    expect(violations("billing-budget-declared", seen(t50()), ctxOf(t50()))).toEqual(["no gcp:billing/budget:Budget: nothing alerts when spend reaches $2,800.00 a month; set tierstack:billingAccount"]);
  });

  it("cloud-sql-no-public-ip", () => {
    expect(violations("cloud-sql-no-public-ip", seen(t50()), ctxOf(t50()))).toEqual([]);
    const pub = changed(t50(), "tier-50-pg-instance", (r) => void (at(r.inputs, "settings.ipConfiguration").ipv4Enabled = true));
    expect(violations("cloud-sql-no-public-ip", pub, ctxOf(t50()))).toEqual(["public IPv4 is on: set settings.ipConfiguration.ipv4Enabled = false (the provider's default is true)"]);
  });

  it("no-open-ssh-or-database-ingress: SSH from anywhere fails; an inference port from anywhere is not this rule's", () => {
    expect(violations("no-open-ssh-or-database-ingress", seen(sb()), ctxOf(sb()))).toEqual([]);
    const open = changed(sb(), "single-box-net-ssh-from-iap", (r) => void (r.inputs.sourceRanges = ["0.0.0.0/0"]));
    expect(violations("no-open-ssh-or-database-ingress", open, ctxOf(sb()))).toEqual(["ingress from 0.0.0.0/0 to 22 (SSH)"]);
    const everySource = changed(t50(), "tier-50-gpu-inference-ingress", (r) => {
      delete r.inputs.sourceRanges;
      r.inputs.allows = [{ protocol: "tcp", ports: ["5000-6000"] }];
    });
    expect(violations("no-open-ssh-or-database-ingress", everySource, ctxOf(t50()))).toEqual(["ingress from every source (no source ranges, tags or service accounts) to 5432 (PostgreSQL)"]);
    const inference = changed(t50(), "tier-50-gpu-inference-ingress", (r) => void (r.inputs.sourceRanges = ["0.0.0.0/0"]));
    expect(violations("no-open-ssh-or-database-ingress", inference, ctxOf(t50()))).toEqual([]);
  });

  it("redis-auth-and-tls", () => {
    expect(violations("redis-auth-and-tls", seen(t50()), ctxOf(t50()))).toEqual([]);
    const plain = changed(t50(), "tier-50-redis-instance", (r) => {
      r.inputs.authEnabled = false;
      delete r.inputs.transitEncryptionMode;
    });
    expect(violations("redis-auth-and-tls", plain, ctxOf(t50()))).toEqual(["AUTH is off: set authEnabled = true", "in-transit encryption is DISABLED: set transitEncryptionMode = SERVER_AUTHENTICATION"]);
  });

  it("workload-identity-on-every-pool", () => {
    expect(violations("workload-identity-on-every-pool", seen(t50()), ctxOf(t50()))).toEqual([]);
    const node = changed(t50(), "tier-50-gke-system-pool", (r) => void (at(r.inputs, "nodeConfig.workloadMetadataConfig").mode = "GCE_METADATA"));
    expect(violations("workload-identity-on-every-pool", node, ctxOf(t50()))).toEqual(["pods on this pool reach the node's credentials (workloadMetadataConfig.mode = GCE_METADATA): set GKE_METADATA"]);
    const cluster = changed(t50(), "tier-50-gke-cluster", (r) => void delete r.inputs.workloadIdentityConfig);
    expect(violations("workload-identity-on-every-pool", cluster, ctxOf(t50()))).toEqual(["Workload Identity is off: set workloadIdentityConfig.workloadPool = <project>.svc.id.goog"]);
  });

  it("data-store-deletion-protection: from tier-50 up, Cloud SQL, disks and stateful volumes", () => {
    expect(violations("data-store-deletion-protection", seen(t50()), ctxOf(t50()))).toEqual([]);
    const sql = changed(t50(), "tier-50-pg-instance", (r) => void (at(r.inputs, "settings").deletionProtectionEnabled = false));
    expect(violations("data-store-deletion-protection", sql, ctxOf(t50()))).toEqual(["settings.deletionProtectionEnabled is not true: the API may delete the instance"]);
    const nats = changed(t50(), "nats-sts", (r) => void (at(r.inputs, "spec.persistentVolumeClaimRetentionPolicy").whenDeleted = "Delete"));
    expect(violations("data-store-deletion-protection", nats, ctxOf(t50()))).toEqual(["its volumes are deleted with it (persistentVolumeClaimRetentionPolicy.whenDeleted = Delete): use Retain"]);
    // The single box's data disk is protected (the option the plan recorded); the rule starts at tier-50.
    expect(sb().recorded.find((r) => r.name === "single-box-data-disk")?.protect).toBe(true);
    const unprotected = changed(sb(), "single-box-data-disk", (r) => void (r.protect = false));
    expect(violations("data-store-deletion-protection", unprotected, ctxOf(sb()))).toEqual([]);
    expect(violations("data-store-deletion-protection", unprotected, ctxOf(sb(), { ...sb().config, tier: tiers["tier-50"] }))).toEqual(["the disk is not protected: add the protect resource option"]);
  });

  it("no-plaintext-secrets: in instance metadata, a container's environment, a ConfigMap", () => {
    for (const run of [sb(), t50()]) expect(violations("no-plaintext-secrets", seen(run), ctxOf(run))).toEqual([]);
    const metadata = changed(sb(), "single-box-platform-vm", (r) => void (at(r.inputs, "metadata")["stripe-key"] = "sk_live_0123456789abcdefghij"));
    expect(violations("no-plaintext-secrets", metadata, ctxOf(sb()))).toEqual(["instance metadata stripe-key contains a Stripe secret key"]);
    const env = changed(t50(), "brain-deploy", (r) => {
      const c = (at(r.inputs, "spec.template.spec").containers as { env: unknown[] }[])[0];
      c?.env.push({ name: "WHATSAPP_VERIFY_TOKEN", value: "letmein" });
    });
    expect(violations("no-plaintext-secrets", env, ctxOf(t50()))).toEqual(["container brain env WHATSAPP_VERIFY_TOKEN is a literal secret: use valueFrom or a mounted secret"]);
    const cm = changed(t50(), "brain-config", (r) => void (at(r.inputs, "data")["database.url"] = "postgres://brain:hunter2hunter2@192.0.2.10/brain"));
    expect(violations("no-plaintext-secrets", cm, ctxOf(t50()))).toEqual(["ConfigMap data.database.url contains a URL with a password"]);
  });

  it("no-moving-image-tags: a container by :latest, a docker run without a tag", () => {
    for (const run of [sb(), t50()]) expect(violations("no-moving-image-tags", seen(run), ctxOf(run))).toEqual([]);
    const latest = changed(t50(), "brain-deploy", (r) => {
      const c = (at(r.inputs, "spec.template.spec").containers as { image: string }[])[0];
      if (c) c.image = "ghcr.io/tierstack/brain:latest";
    });
    expect(violations("no-moving-image-tags", latest, ctxOf(t50()))).toEqual(["container brain image ghcr.io/tierstack/brain:latest uses the moving tag latest"]);
    const untagged = changed(sb(), "single-box-platform-vm", (r) => {
      const md = at(r.inputs, "metadata");
      md["user-data"] = String(md["user-data"]).replace("nats:2.11.6-alpine", "nats");
    });
    expect(violations("no-moving-image-tags", untagged, ctxOf(sb()))).toEqual(["instance metadata user-data: docker run image nats has no tag (Docker pulls :latest)"]);
  });

  it("every rule of the pack is exercised above", () => {
    const text = readFileSync(join(repoRoot, "test", "cost-policy.test.ts"), "utf8");
    for (const r of rules) expect(text, r.name).toContain(`"${r.name}"`);
  });
});

describe("the budget: config keys and the runtime guard", () => {
  const raw = () => loadStackConfig("single-box").config;
  it("tierstack:budgetUsdPerMonth defaults to the tier's budget in catalog/budgets.ts; infraShareMax to 0.2", () => {
    const cfg = parseStackConfig(raw(), "single-box");
    expect(cfg.budget).toEqual({ usdPerMonth: defaultBudgets["single-box"].usdPerMonth, from: "tier default" });
    expect(cfg.infraShareMax).toBe(0.2);
    expect(parseStackConfig({ ...raw(), "tierstack:budgetUsdPerMonth": "600", "tierstack:infraShareMax": "0.5" }, "single-box")).toMatchObject({ budget: { usdPerMonth: 600, from: "config" }, infraShareMax: 0.5 });
    expect(cfg.warnings).toContain("tierstack:billingAccount is not set: no billing budget alerts at $313 a month after pulumi up; set it to create one");
  });

  it.each([
    ["tierstack:budgetUsdPerMonth", "lots", /^tierstack:budgetUsdPerMonth = "lots" is not valid; accepted: a whole number of USD a month ≥ 0 \(0 = tier single-box's default, 313, catalog\/budgets\.ts\)$/],
    ["tierstack:infraShareMax", "1.5", /^tierstack:infraShareMax = "1\.5" is not valid; accepted: a number above 0 and at most 1/],
    ["tierstack:billingAccount", "my-account", /^tierstack:billingAccount = "my-account" is not valid; accepted: a billing account id, XXXXXX-XXXXXX-XXXXXX/],
    ["tierstack:projectNumber", "tierstack-example", /^tierstack:projectNumber = "tierstack-example" is not valid; accepted: the project's number/],
  ])("%s = %s is refused in one line", (key, value, expected) => {
    expect(() => parseStackConfig({ ...raw(), [key]: value }, "single-box")).toThrow(expected);
  });

  it("with a billing account the single box declares a billing budget at its budget, on its project by number", () => {
    const budgets = (runs["single-box"] as PlanRun).recorded.filter((r) => r.type === "gcp:billing/budget:Budget");
    expect(budgets).toHaveLength(1);
    expect(budgets[0]?.inputs).toMatchObject({
      billingAccount: "0123AB-4567CD-89EF01",
      budgetFilter: { projects: ["projects/123456789012"], calendarPeriod: "MONTH" },
      amount: { specifiedAmount: { currencyCode: "USD", units: "313" } },
      thresholdRules: [{ thresholdPercent: 0.9, spendBasis: "CURRENT_SPEND" }, { thresholdPercent: 1, spendBasis: "CURRENT_SPEND" }, { thresholdPercent: 1, spendBasis: "FORECASTED_SPEND" }],
    });
    expect((runs["tier-50"] as PlanRun).recorded.filter((r) => r.type === "gcp:billing/budget:Budget")).toEqual([]);
  });
});

describe("plan on a stack over budget", () => {
  it("exits non-zero and names the violation in one line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tierstack-budget-"));
    const reference = readFileSync(join(repoRoot, "stacks", "Pulumi.single-box.yaml"), "utf8");
    writeFileSync(join(dir, "Pulumi.tight.yaml"), `${reference}  tierstack:budgetUsdPerMonth: 100\n`);
    const io = { out: "", err: "" };
    const before = process.env.TIERSTACK_STACKS_DIR;
    process.env.TIERSTACK_STACKS_DIR = dir;
    let code: number;
    try {
      code = await main(["plan", "tight"], { out: (s) => (io.out += s), err: (s) => (io.err += s) });
    } finally {
      if (before === undefined) delete process.env.TIERSTACK_STACKS_DIR;
      else process.env.TIERSTACK_STACKS_DIR = before;
    }
    expect(code).toBe(1);
    const lines = io.err.trim().split("\n").filter((l) => !l.startsWith("warning: "));
    expect(lines).toEqual([expect.stringMatching(/^plan tight: mandatory policy infra-within-budget: infrastructure up to \$123\.35 a month exceeds the budget of \$100\.00 \(tierstack:budgetUsdPerMonth\); costliest: /)]);
    expect(io.out).toMatch(/^ {2}FAIL {2}infra-within-budget \(mandatory, cost\)$/m);
  });
});

describe("tierstack cost and its chart", () => {
  let rows: TierCostRow[];
  beforeAll(() => {
    rows = builtStacks().stacks.map((s) => {
      const run = runs[s];
      if (!run) throw new Error(`built tier's stack ${s} was not rendered`);
      const resources = seen(run);
      return costRowFrom(s, costReport(resources, ctxOf(run)), policyReport(resources, ctxOf(run)));
    });
  });

  it("the table shows each built tier's min, max, LLM and share", () => {
    const table = renderCostTable(rows, []);
    expect(table).toMatch(/^single-box +single-box +\$122\.99 +\$123\.35 +\$11\.50 +\$134\.8\d +9\d% +\$313\.00/m);
    expect(table).toMatch(/^tier-50 +tier-50 +\$1,923\.43 +\$2,269\.44 +\$\d+\.\d\d/m);
    expect(table).toMatch(/^tier-100 +tier-100 +\$3,972\.92 +\$7,858\.23 +\$12,047\.89 +\$19,906\.12 +39%/m);
  });

  it("the command refuses an unknown stack or option in one line", async () => {
    const io = { out: "", err: "" };
    const sink = { out: (s: string) => void (io.out += s), err: (s: string) => void (io.err += s) };
    expect(await main(["cost", "--stack", "nope"], sink)).toBe(1);
    expect(await main(["cost", "--pretty"], sink)).toBe(2);
    expect(io.err.trim().split("\n")).toEqual([expect.stringMatching(/^cost nope: unknown stack "nope"/), expect.stringMatching(/^cost: unknown option --pretty; usage: tierstack cost/)]);
    expect(io.out).toBe("");
  });

  it("docs/cost-chart.svg is the chart of these figures (regenerate: npx tsx cli/main.ts cost --svg docs/cost-chart.svg)", () => {
    const svg = readFileSync(join(repoRoot, "docs", "cost-chart.svg"), "utf8");
    for (const row of rows) {
      const group = new RegExp(`<g data-stack="${row.stack}"[^>]*>([\\s\\S]*?)</g>`).exec(svg);
      expect(group, row.stack).not.toBeNull();
      const usd = (category: string) => Number(new RegExp(`data-category="${category}" data-usd="([\\d.]+)"`).exec(group?.[1] ?? "")?.[1]);
      for (const [category, value] of Object.entries(row.byCategory)) expect(usd(category), `${row.stack} ${category}`).toBeCloseTo(value, 2);
      expect(usd("llm"), `${row.stack} llm`).toBeCloseTo(row.llmUsd, 2);
      expect(Number(/data-total-usd="([\d.]+)"/.exec(group?.[0] ?? "")?.[1])).toBeCloseTo(row.totalMaxUsd, 2);
    }
    expect(svg).toBe(costChartSvg(rows));
  });
});
