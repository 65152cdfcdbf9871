/**
 * NATS during a tier migration, under Pulumi's runtime mocks (runPlan, as the migration program
 * test does): from expand to cut-over of single-box → tier-50 the box's NATS reads a rendered
 * configuration with its JetStream domain ("box") and a leaf node listener, and tier-50's node runs in its own domain ("tier50") with a leaf
 * node remote to the box's internal IP (the mocks give it 192.0.2.30). Not migrating, neither
 * side renders a domain or a leaf node and the box's NATS runs from its flags. The rendered
 * texts pass `nats-server -t`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPlan, type PlanRun } from "../cli/plan.js";
import { natsDomains, natsLeafPort } from "../catalog/nats.js";
import type { ProgramResult } from "../stacks/program.js";
import type { SingleBox } from "../stacks/single-box.js";
import { natsLeafRole } from "../catalog/nats.js";
import { renderNatsServerConfig } from "../components/nats/server-config.js";
import { tier50NatsMigrationArgs, tier50NatsServerConfig } from "../stacks/tier-50/nats.js";

const shardMap = '{"dev-tools": {"replicas": ["https://tools.example.com/mcp"], "protocol": "2025-11-25"}, "commerce": {"replicas": ["https://commerce-1.example.com/mcp"], "protocol": "2026-07-28"}, "search": {"replicas": ["https://search.example.com/mcp"], "protocol": "2025-11-25"}}';
/** The per-tier keys the cut-over's config leaves to the target tier's defaults (as the stage configs set them). */
const perTierKeys = ["machineType", "gpus", "gatewayShards", "gatewayReplicas", "natsNodes", "litellmReplicas", "learnerPoolMaxNodes"].map((k) => `tierstack:${k}`);
const plan = (stack: string, stage?: string, tier?: string) =>
  runPlan(stack, {
    overrides: {
      "tierstack:gatewayShardMap": shardMap,
      ...(stage ? { "tierstack:migrationTarget": "tier-50", "tierstack:migrationStage": stage } : {}),
      ...(tier ? { "tierstack:tier": tier, ...Object.fromEntries(perTierKeys.map((k) => [k, undefined])) } : {}),
    },
  });

/** The box's NATS unit and its configuration file, from the single-box composition of a run. */
function box(run: PlanRun) {
  const built = run.built as ProgramResult;
  const root = (built.migration ? built.migration.old?.root : built.root) as SingleBox;
  return { unit: root.boot.units.find((u) => u.name === "nats"), conf: root.boot.files.find((f) => f.path.endsWith("/nats.conf"))?.content };
}

interface Container { name: string; command?: string[]; env?: { name: string; value?: string }[] }
/** tier-50's NATS container as declared (its StatefulSet's inputs). */
function tier50Nats(run: PlanRun): Container | undefined {
  const sts = run.raw.find((r) => r.type === "kubernetes:apps/v1:StatefulSet" && r.name === "nats-sts");
  return (sts?.inputs as { spec?: { template: { spec: { containers: Container[] } } } } | undefined)?.spec?.template.spec.containers[0];
}
interface PolicySpec { spec: { ingress?: unknown[]; egress?: unknown[] } }
/** The NATS workload's NetworkPolicy as the stage declares it (the one the engine applies: registered, not a reference). */
function allowNats(run: PlanRun): PolicySpec | undefined {
  return run.raw.find((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && (r.inputs.metadata as { name?: string }).name === "allow-nats")?.inputs as PolicySpec | undefined;
}
const natsConfigEnv = (c: Container | undefined) => c?.env?.find((e) => e.name === "NATS_CONFIG")?.value;

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function natsServerTest(text: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "tierstack-migration-nats-"));
  dirs.push(dir);
  const file = join(dir, "nats.conf");
  // -t does not create the store directory; point it at the temp dir.
  writeFileSync(file, text.replace('store_dir: "/data"', `store_dir: "${join(dir, "data")}"`));
  const r = spawnSync("nats-server", ["-c", file, "-t"], { encoding: "utf8" });
  return { status: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

describe("NATS leaf node and domains, single-box → tier-50", () => {
  const runs: Record<string, PlanRun> = {};
  beforeAll(async () => {
    runs.before = await plan("single-box");
    runs.expand = await plan("single-box", "expand");
    runs.cutover = await plan("single-box", "cutover", "tier-50");
    runs.tier50 = await plan("tier-50");
  }, 120_000);

  it("expand: the box's NATS reads a rendered configuration with domain box and a leaf node listener", () => {
    const { unit, conf } = box(runs.expand!);
    expect(unit?.args).toEqual(["-c", "/etc/nats/tierstack.conf"]);
    expect(unit?.volumes).toMatchObject({ "/etc/tierstack/nats.conf": "/etc/nats/tierstack.conf", "/mnt/data/nats": "/data" });
    expect(conf).toContain(`  domain: "${natsDomains["single-box"]}"\n`);
    expect(conf).toContain(`leafnodes {\n  host: "0.0.0.0"\n  port: ${natsLeafPort}\n}\n`);
    expect(conf).toContain('listen: "127.0.0.1:4222"\n');
    expect(conf).not.toContain("cluster {");
    const t = natsServerTest(conf ?? "");
    expect(t.output).toContain("is valid");
    expect(t.status).toBe(0);
  });

  it("expand and cut-over: tier-50's node runs in domain tier50 with a leaf node remote to the box's internal IP", () => {
    for (const stage of ["expand", "cutover"]) {
      const c = tier50Nats(runs[stage]!);
      const text = natsConfigEnv(c);
      expect(text, stage).toContain(`  domain: "${natsDomains["tier-50"]}"\n`);
      expect(text, stage).toContain(`        "nats-leaf://192.0.2.30:${natsLeafPort}"\n`);
      expect(c?.command?.join(" "), stage).toMatch(/exec nats-server --config \/run\/nats-config\/nats.conf$/);
      const t = natsServerTest(text ?? "");
      expect(t.output, stage).toContain("is valid");
      expect(t.status, stage).toBe(0);
    }
    // The box still listens at cut-over (its streams are switched back from there on a rollback).
    expect(box(runs.cutover!).conf).toContain("leafnodes {");
  });

  it("expand and cut-over: tier-50's NATS policy lets it reach the box's IP on the leaf port, and nothing of it outside a migration", () => {
    for (const stage of ["expand", "cutover"]) {
      const egress = allowNats(runs[stage]!)?.spec.egress ?? [];
      expect(egress, stage).toContainEqual({ to: [{ ipBlock: { cidr: "192.0.2.30/32" } }], ports: [{ protocol: "TCP", port: natsLeafPort }] });
    }
    const plain = JSON.stringify(allowNats(runs.tier50!));
    expect(plain).not.toContain(String(natsLeafPort));
    expect(plain).not.toContain("ipBlock");
  });

  it("not migrating: no domain, no leaf node; the box's NATS runs from its flags and tier-50's too", () => {
    const { unit, conf } = box(runs.before!);
    expect(conf).toBeUndefined();
    expect(unit?.args).toEqual(["-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/data"]);
    const c = tier50Nats(runs.tier50!);
    expect(natsConfigEnv(c)).toBeUndefined();
    expect(c?.command).toEqual(["nats-server", "--jetstream", "--store_dir", "/data", "--port", "4222", "--http_port", "8222"]);
  });
});

describe("NATS leaf node, routes and policies, tier-50 → tier-100", () => {
  const runs: Record<string, PlanRun> = {};
  const t100 = (stage?: string, tier?: string) =>
    runPlan("tier-50", {
      overrides: {
        "tierstack:gatewayShardMap": shardMap,
        ...(stage ? { "tierstack:migrationTarget": "tier-100", "tierstack:migrationStage": stage } : {}),
        ...(tier ? { "tierstack:tier": tier, ...Object.fromEntries(perTierKeys.map((k) => [k, undefined])) } : {}),
      },
    });
  beforeAll(async () => {
    runs.expand = await t100("expand");
    runs.cutover = await t100("cutover", "tier-100");
    runs.contract = await t100("contract", "tier-100");
  }, 120_000);
  const clusterConf = (run: PlanRun) => (run.raw.find((r) => r.type === "kubernetes:core/v1:ConfigMap" && (r.inputs.metadata as { name?: string }).name === "nats-cluster-config")?.inputs as { data?: Record<string, string> } | undefined)?.data?.["nats.conf"];
  const nats = { podSelector: { matchLabels: { "app.kubernetes.io/name": "nats", "app.kubernetes.io/part-of": "tierstack" } } };

  it("expand and cut-over: tier-100's cluster runs in domain tier100, a leaf node of tier-50's node through its Service", () => {
    for (const stage of ["expand", "cutover"]) {
      const conf = clusterConf(runs[stage]!);
      expect(conf, stage).toContain(`  domain: "${natsDomains["tier-100"]}"\n`);
      expect(conf, stage).toContain(`"nats-leaf://nats.tierstack.svc.cluster.local:${natsLeafPort}"`);
    }
    expect(clusterConf(runs.contract!)).not.toContain("leafnodes");
  });

  it("the policies applied allow the leaf port between the two tiers' NATS pods, and tier-100's routes from expand on", () => {
    for (const stage of ["expand", "cutover"]) {
      const p = allowNats(runs[stage]!)!;
      for (const port of [natsLeafPort, 6222]) {
        expect(p.spec.ingress, `${stage} ${port}`).toContainEqual({ from: [nats], ports: [{ protocol: "TCP", port }] });
        expect(p.spec.egress, `${stage} ${port}`).toContainEqual({ to: [nats], ports: [{ protocol: "TCP", port }] });
      }
    }
    // At contract tier-100 alone: its routes, no leaf port.
    const after = JSON.stringify(allowNats(runs.contract!));
    expect(after).toContain("6222");
    expect(after).not.toContain(String(natsLeafPort));
  });
});

describe("tier-50's node as the old side of tier-50 → tier-100", () => {
  it("renders domain tier50 and a leaf node listener, exposes the leaf port, and passes nats-server -t", () => {
    const role = natsLeafRole("tier-50", { from: "tier-50", to: "tier-100", stage: "expand" });
    if (role?.side !== "old") throw new Error("tier-50 is the old side of tier-50 → tier-100");
    const text = renderNatsServerConfig(tier50NatsServerConfig(role));
    expect(text).toContain('  domain: "tier50"\n');
    expect(text).toContain(`leafnodes {\n  host: "0.0.0.0"\n  port: ${natsLeafPort}\n}\n`);
    expect(tier50NatsMigrationArgs(role, undefined).extraPorts).toEqual([{ name: "leafnodes", port: natsLeafPort }]);
    const t = natsServerTest(text);
    expect(t.output).toContain("is valid");
    expect(t.status).toBe(0);
  });

  it("refuses to render the target side without the old side's host", () => {
    const role = natsLeafRole("tier-50", { from: "single-box", to: "tier-50", stage: "expand" });
    if (role?.side !== "target") throw new Error("tier-50 is the target of single-box → tier-50");
    expect(() => tier50NatsServerConfig(role)).toThrow(/needs the old side's leaf host/);
  });
});
