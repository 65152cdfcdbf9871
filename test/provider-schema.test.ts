/**
 * Every input the program declares exists in the installed providers' declarations, nested
 * keys included (Pulumi's mocks accept any name; a typo would only fail on `pulumi up`).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runPlan, type PlanRun } from "../cli/plan.js";
import { configSecretValues, SENTINEL } from "./helpers.js";
import { checkedTypes, schemaProblems } from "./provider-schema.js";

let cpu: PlanRun;
let gpu: PlanRun;

beforeAll(async () => {
  cpu = await runPlan("single-box", { generatedValue: SENTINEL, overrides: configSecretValues });
  gpu = await runPlan("single-box", { generatedValue: SENTINEL, overrides: { ...configSecretValues, "tierstack:machineType": "g2-standard-4", "tierstack:gpus": "1" } });
});

describe("provider input names", () => {
  it("every resource type of the single-box stack is checked", () => {
    const custom = [...new Set(cpu.raw.map((r) => r.type).filter((t) => !t.startsWith("tierstack:")))].sort();
    expect(checkedTypes(cpu.raw)).toEqual(custom);
    expect(custom.length).toBeGreaterThan(15);
  });

  it("every input key path, with and without a GPU, is declared by @pulumi/gcp, @pulumi/cloudflare or @pulumi/random", () => {
    expect(schemaProblems(cpu.raw)).toEqual([]);
    expect(schemaProblems(gpu.raw)).toEqual([]);
  });

  it("finds misspelled keys at the top level and nested in objects and lists (the check is real)", () => {
    const find = (suffix: string) => {
      const r = cpu.raw.find((x) => x.type.endsWith(suffix));
      if (!r) throw new Error(suffix);
      return r;
    };
    const vm = find(":Instance");
    const tunnelConfig = find(":ZeroTrustTunnelCloudflaredConfig");
    const policy = find(":ZeroTrustAccessPolicy");
    const snapshots = find(":ResourcePolicy");
    const broken = [
      { ...vm, inputs: { ...vm.inputs, machinetype: "e2-standard-4", scheduling: { onHostMaintainance: "TERMINATE" } } },
      { ...tunnelConfig, inputs: { ...tunnelConfig.inputs, config: { ingresses: [{ hostnam: "a.example.com", service: "http://x" }] } } },
      { ...policy, inputs: { ...policy.inputs, includes: [{ serviceTokens: { tokenId: "x" } }] } },
      { ...snapshots, inputs: { ...snapshots.inputs, snapshotSchedulePolicy: { schedule: { dailySchedule: { daysInCycle: 1, startTme: "03:00" } } } } },
    ];
    expect(schemaProblems(broken).map((p) => p.path).sort()).toEqual(
      ["config.ingresses[0].hostnam", "includes[0].serviceTokens", "machinetype", "scheduling.onHostMaintainance", "snapshotSchedulePolicy.schedule.dailySchedule.startTme"].sort(),
    );
  });
});
