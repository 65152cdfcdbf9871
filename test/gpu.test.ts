/** The single-box stack with an L4 (g2-standard-4) under Pulumi's mocks. */
import { beforeAll, describe, expect, it } from "vitest";
import { loadStackConfig, runPlan, type PlanRun } from "../cli/plan.js";
import { parseStackConfig } from "../config/config.js";
import { render } from "../gpu-node/server-spec.js";
import { llamaServerSpec } from "../stacks/single-box/units.js";
import { configSecretValues, one, SENTINEL } from "./helpers.js";

let run: PlanRun;

beforeAll(async () => {
  run = await runPlan("single-box", {
    generatedValue: SENTINEL,
    overrides: { ...configSecretValues, "tierstack:machineType": "g2-standard-4", "tierstack:gpus": "1" },
  });
});

describe("single-box with a GPU", () => {
  it("stops the VM on host maintenance (GPUs cannot live-migrate)", () => {
    const vm = one(run, ":Instance");
    expect(vm.inputs.machineType).toBe("g2-standard-4");
    expect(vm.inputs.scheduling).toMatchObject({ onHostMaintenance: "TERMINATE", automaticRestart: true });
    // G2 carries its L4: no guestAccelerators.
    expect(vm.inputs.guestAccelerators ?? []).toEqual([]);
  });

  it("boots with the driver step and the llama-server unit", () => {
    const userData = (one(run, ":Instance").inputs.metadata as Record<string, string>)["user-data"] ?? "";
    expect(userData).toContain("tierstack-install-gpu-driver");
    expect(userData).toContain("tierstack-gpu-driver.service");
    expect(userData).toContain("tierstack-llama-server.service");
    expect(userData).not.toContain(SENTINEL);
  });

  it("runs gpu-node's rendered llama-server command line, pinned to GPU 0", () => {
    const userData = (one(run, ":Instance").inputs.metadata as Record<string, string>)["user-data"] ?? "";
    const cfg = parseStackConfig(loadStackConfig("single-box", { overrides: { "tierstack:machineType": "g2-standard-4", "tierstack:gpus": "1" } }).config, "single-box");
    const rendered = render(llamaServerSpec(cfg));
    expect(userData).toContain(`ghcr.io/ggml-org/llama.cpp:server-cuda-b5517 ${rendered.args.join(" ")}\n`);
    expect(rendered.env.CUDA_VISIBLE_DEVICES).toBe("0");
    expect(userData).toContain("CUDA_VISIBLE_DEVICES=0\n");
  });
});

describe("plan's GPU capacity warnings (gpu-node/capacity.ts)", () => {
  it("with the L4 the single box's local share holds: no capacity warning", () => {
    expect(run.warnings.filter((w) => w.includes("capacity model"))).toEqual([]);
  });

  it("without a GPU plan warns, in one line, that the capacity model needs one", async () => {
    const cpu = await runPlan("single-box", { generatedValue: SENTINEL, overrides: configSecretValues });
    const capacity = cpu.warnings.filter((w) => w.includes("capacity model"));
    expect(capacity).toEqual([expect.stringMatching(/^single-box: 0 GPU\(s\) configured, the capacity model needs 1 at peak: llama-3\.1-8b-instruct 1 \(peak 97\.2 tok\/s at 282\.1 tok\/s per GPU\)$/)]);
  });
});
