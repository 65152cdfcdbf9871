/**
 * The program during a tier migration, under Pulumi's runtime mocks (stacks/migration.ts): for
 * single-box → tier-50 and tier-50 → tier-100, the plans of the stages in order (not migrating,
 * expand, cutover, contract; copy declares what expand does, by the same code path; the target
 * tier alone once the keys are cleared has contract's URNs, its aliases aside) are compared by
 * URN and alias, as the engine matches them between two `pulumi up`s:
 * - expand keeps every resource of the old tier as it was and adds the target tier's: each of
 *   the target's URNs is declared with the URN it has built alone, or is a resource the old tier
 *   already holds (shared, referred to), or is aliased to it;
 * - no stage drops a resource it does not mean to (everything declared in one stage is declared,
 *   or aliased, in the next), and contract drops exactly the old tier's own resources;
 * - the old tier's data stores are protected through expand, copy and cut-over, and retained from
 *   cut-over on; no two resources share a URN or an alias.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runPlan, type PlanRun } from "../cli/plan.js";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks.js";
import type { RawConfig } from "../config/config.js";
import { dataStoreTypes, rootTypes } from "../stacks/migration.js";
import type { ProgramResult } from "../stacks/program.js";
import type { TierName } from "../catalog/tiers.js";

/** retainOnDelete of every registration, by URN (the plan records protect; this records the rest). */
const retained = new Set<string>();
let lastUrns: string[] = [];
beforeAll(() => {
  const proto = MockMonitor.prototype as unknown as { registerResource(req: { getRetainondelete(): boolean }, cb: unknown): Promise<void> };
  const register = proto.registerResource;
  proto.registerResource = function (this: unknown, req, cb) {
    lastUrns.push(req.getRetainondelete() ? "retain" : "");
    return register.call(this, req, cb);
  };
});

interface Stage {
  run: PlanRun;
  urns: Set<string>;
  aliases: Map<string, string>;
}

const shardMap = '{"dev-tools": {"replicas": ["https://tools.example.com/mcp"], "protocol": "2025-11-25"}, "commerce": {"replicas": ["https://commerce-1.example.com/mcp"], "protocol": "2026-07-28"}, "search": {"replicas": ["https://search.example.com/mcp"], "protocol": "2025-11-25"}}';

async function plan(stack: string, overrides: RawConfig): Promise<Stage> {
  lastUrns = [];
  const run = await runPlan(stack, { overrides: { "tierstack:gatewayShardMap": shardMap, ...overrides } });
  retained.clear();
  run.urns.forEach((u, i) => lastUrns[i] === "retain" && retained.add(u.urn));
  const aliases = new Map<string, string>();
  for (const u of run.urns) {
    for (const a of u.aliases as { urn?: string }[]) {
      if (!a.urn) continue;
      if (aliases.has(a.urn)) throw new Error(`alias ${a.urn} claimed by ${aliases.get(a.urn)} and ${u.urn}`);
      aliases.set(a.urn, u.urn);
    }
  }
  return { run, urns: new Set(run.urns.map((u) => u.urn)), aliases };
}

/** What the engine would delete going from stage a to stage b: URNs of a neither declared nor aliased in b. */
const dropped = (a: Stage, b: Stage) => [...a.urns].filter((u) => !b.urns.has(u) && !b.aliases.has(u)).sort();
const swapRoot = (urn: string, from: TierName, to: TierName) => urn.replace(`::${rootTypes[from]}`, `::${rootTypes[to]}`);
const perTierKeys = ["tierstack:machineType", "tierstack:gpus", "tierstack:gatewayShards", "tierstack:gatewayReplicas", "tierstack:natsNodes", "tierstack:litellmReplicas", "tierstack:learnerPoolMaxNodes"];
const without = (keys: string[]): RawConfig => Object.fromEntries(keys.map((k) => [k, undefined]));

describe.each([
  { from: "single-box" as TierName, to: "tier-50" as TierName, stack: "single-box" },
  { from: "tier-50" as TierName, to: "tier-100" as TierName, stack: "tier-50" },
])("$from → $to, stage by stage", ({ from, to, stack }) => {
  const s: Record<string, Stage> = {};
  const migrating = (stage: string, tier: TierName) => ({ "tierstack:migrationTarget": to, "tierstack:migrationStage": stage, ...(tier === to ? { "tierstack:tier": to, ...without(perTierKeys) } : {}) });
  beforeAll(async () => {
    s.before = await plan(stack, {});
    s.expand = await plan(stack, migrating("expand", from));
    s.cutover = await plan(stack, migrating("cutover", to));
    const retainedAtCutover = new Set(retained);
    s.contract = await plan(stack, migrating("contract", to));
    // The target tier alone, once the migration keys are cleared: contract's URNs, without the aliases.
    s.after = { ...s.contract, aliases: new Map() };
    s.retainedAtCutover = { ...s.cutover, urns: retainedAtCutover };
  }, 120_000);

  it("no stage declares a URN twice, and no alias names a URN the stage declares", () => {
    for (const [name, st] of Object.entries(s)) {
      if (name === "retainedAtCutover") continue;
      expect(st.urns.size, name).toBe(st.run.urns.length);
      expect([...st.aliases.keys()].filter((a) => st.urns.has(a)), name).toEqual([]);
    }
  });

  it("no stage declares two Kubernetes objects of one kind with the same namespace and name (both tiers share the cluster)", () => {
    for (const name of ["before", "expand", "cutover", "contract"]) {
      const seen = new Map<string, string>();
      const clashes: string[] = [];
      for (const r of s[name]!.run.raw) {
        if (!r.type.startsWith("kubernetes:")) continue;
        const meta = (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
        if (!meta.name) continue;
        const key = `${r.type.split(":").slice(1).join(":")} ${meta.namespace ?? ""}/${meta.name}`;
        if (seen.has(key)) clashes.push(`${key}: ${seen.get(key)} and ${r.name}`);
        else seen.set(key, r.name);
      }
      expect(clashes, name).toEqual([]);
    }
  });

  it("expand keeps the old tier as it was and adds the target tier: each target URN declared as built alone, shared or aliased", () => {
    expect(dropped(s.before!, s.expand!)).toEqual([]);
    for (const u of s.before!.urns) expect(s.expand!.urns.has(u), u).toBe(true);
    const { expand, after } = s as Record<string, Stage>;
    const unmatched = [...after!.urns].filter((u) => !expand!.urns.has(u) && !expand!.aliases.has(u) && !expand!.urns.has(swapRoot(u, to, from)));
    expect(unmatched).toEqual([]);
    // Most of the target's new resources carry exactly the URN they have built alone.
    const exact = [...after!.urns].filter((u) => expand!.urns.has(u));
    expect(exact.length).toBeGreaterThan(10);
    expect(exact.every((u) => u.includes(`::${rootTypes[to]}`))).toBe(true);
    const parts = (s.expand!.run.built as ProgramResult).migration;
    expect(parts?.records.target.referenced.size).toBeGreaterThan(0);
    expect(s.expand!.run.outputs.migration).toMatchObject({ from, to, stage: "expand", declared: [from, to] });
  });

  it("no stage drops what it does not mean to; contract drops exactly the old tier's own resources", () => {
    expect(dropped(s.expand!, s.cutover!)).toEqual([]);
    const gone = dropped(s.cutover!, s.contract!);
    // The old tier's own: not in the target tier under either root; and its composition's root.
    const root = `urn:pulumi:${stack}::tierstack::${rootTypes[from]}::${stack}`;
    const own = [...s.before!.urns].filter((u) => u === root || !s.after!.urns.has(swapRoot(u, from, to)));
    expect(own.length).toBeGreaterThan(0);
    // Declared only while migrating (in neither tier built alone): the NATS leaf node's VPC rule
    // on single-box → tier-50, and nothing else; contract removes it with the old tier.
    const during = [...s.cutover!.urns].filter((u) => !s.before!.urns.has(swapRoot(u, to, from)) && !s.before!.urns.has(u) && !s.after!.urns.has(u) && !s.after!.urns.has(swapRoot(u, from, to)));
    expect(during.map((u) => u.split("::").slice(2).join("::"))).toEqual(from === "single-box" ? [`${rootTypes[to]}$tierstack:network:PlatformNetwork$gcp:compute/firewall:Firewall::${stack}-net-nats-leaf`] : []);
    expect(gone.map((u) => swapRoot(u, to, from)).sort()).toEqual([...own, ...during.map((u) => swapRoot(u, to, from))].sort());
  });

  it("the old tier's data stores are protected through expand and cut-over, retained from cut-over, and listed for contract", () => {
    const stores = (st: Stage, root: string) => st.run.recorded.filter((r) => (dataStoreTypes as readonly string[]).includes(r.type) && r.urn.includes(`::${root}`));
    for (const name of ["expand"]) {
      const old = stores(s[name]!, rootTypes[from]);
      expect(old.length, name).toBeGreaterThan(0);
      expect(old.every((r) => r.protect), name).toBe(true);
    }
    const atCutover = [...stores(s.cutover!, rootTypes[from]), ...stores(s.cutover!, rootTypes[to])];
    expect(atCutover.length).toBeGreaterThan(0);
    expect(atCutover.every((r) => r.protect)).toBe(true);
    const oldAtCutover = stores(s.cutover!, rootTypes[from]);
    expect(oldAtCutover.every((r) => s.retainedAtCutover!.urns.has(r.urn))).toBe(true);
    expect((s.cutover!.run.outputs.migration as { releaseAtContract: string[] }).releaseAtContract.sort()).toEqual(oldAtCutover.map((r) => r.urn).sort());
  });
});
