import { describe, expect, it } from "vitest";
import { machineInfo } from "../catalog/machines.js";
import { tierNames, tiers } from "../catalog/tiers.js";
import { coResident, gpus, kvBytesPerToken, memoryFit, models, tierInference, weightsUrl } from "./models.js";

const GB = 1e9;

describe("local models and the GPUs they run on", () => {
  it("KV cache per token: 2 (K, V) × layers × KV heads × head dim × 2 bytes", () => {
    expect(kvBytesPerToken(models["llama-3.1-8b-instruct"]!.arch)).toBe(2 * 32 * 8 * 128 * 2); // 131,072 B
    expect(kvBytesPerToken(models["qwen3-32b"]!.arch)).toBe(2 * 64 * 8 * 128 * 2); // 262,144 B
  });

  it("a 32B model at BF16 does not fit a 24 GB L4 (why the L4 runs Q4_K_M)", () => {
    const bf16 = models["qwen3-32b"]!.params * 2; // 65.6 GB
    expect(bf16).toBeGreaterThan(gpus["nvidia-l4"].memoryBytes * 2);
  });

  it("8B Q4_K_M on an L4: 4.92 GB + 4 slots × 2,048 tokens of KV + 1 GB ≤ 95% of 24 GB", () => {
    const fit = memoryFit({ server: "llama-server", modelKey: "llama-3.1-8b-instruct", contextLength: 2048, parallel: 4 }, "nvidia-l4");
    expect(fit.kvBytes).toBe(4 * 2048 * 131_072); // 1.07 GB
    expect(fit.totalBytes).toBeCloseTo(4.92 * GB + 4 * 2048 * 131_072 + 1 * GB, 0);
    expect(fit.budgetBytes).toBeCloseTo(0.95 * 24 * GB, 0);
    expect(fit.fits).toBe(true);
  });

  it("32B Q4_K_M on an L4: 19.8 GB + 2 × 3,072 tokens of KV (1.61 GB) + 1 GB = 22.41 GB ≤ 22.8 GB", () => {
    const fit = memoryFit({ server: "llama-server", modelKey: "qwen3-32b", contextLength: 3072, parallel: 2 }, "nvidia-l4");
    expect(fit.totalBytes / GB).toBeCloseTo(19.8 + (2 * 3072 * 262_144) / GB + 1, 6);
    expect(fit.fits).toBe(true);
    // …and 2 × 4,096 would not: 19.8 + 2.15 + 1 = 22.95 GB > 22.8 GB.
    expect(memoryFit({ server: "llama-server", modelKey: "qwen3-32b", contextLength: 4096, parallel: 2 }, "nvidia-l4").fits).toBe(false);
  });

  it("the 8B and the 32B cannot share one L4 without swapping: 4.92 + 19.8 + 2 × 1 GB > 22.8 GB", () => {
    expect(coResident("llama-server", ["llama-3.1-8b-instruct", "qwen3-32b"], "nvidia-l4")).toBe(false);
    expect(coResident("llama-server", ["llama-3.1-8b-instruct"], "nvidia-l4")).toBe(true);
  });

  it.each(tierNames)("every server of %s fits its GPU with a margin", (tier) => {
    const plan = tierInference[tier];
    expect(plan, `no inference plan for ${tier}`).toBeDefined();
    for (const s of plan!.servers) {
      const fit = memoryFit(s, plan!.gpu);
      expect(fit.fits, `${tier} ${s.modelKey}: ${(fit.totalBytes / GB).toFixed(2)} GB of ${(fit.budgetBytes / GB).toFixed(2)} GB`).toBe(true);
      // The budget already keeps ≥ 5% of the GPU free (95% for llama-server, 90% for vLLM).
      expect(gpus[plan!.gpu].memoryBytes - fit.totalBytes).toBeGreaterThanOrEqual(0.05 * gpus[plan!.gpu].memoryBytes);
    }
  });

  it.each(tierNames)("%s: the plan runs the catalogue's server on the GPU of the tier's default machine type", (tier) => {
    const plan = tierInference[tier]!;
    const spec = tiers[tier];
    expect(plan.server).toBe(spec.subsystems.inference === "vllm" ? "vllm" : "llama-server");
    const machine = machineInfo(spec.defaultMachineType);
    if (tier === "single-box") {
      // The box itself has no GPU by default; with tierstack:gpus = 1 it is a g2-standard-* (L4).
      expect(machineInfo("g2-standard-8")?.gpu?.model).toBe(plan.gpu);
    } else {
      expect(machine?.gpu?.model).toBe(plan.gpu);
    }
    const gpuIndexes = plan.servers.map((s) => s.gpuIndex);
    if (plan.server === "llama-server") expect(new Set(gpuIndexes).size).toBe(gpuIndexes.length);
    expect(plan.shares.reduce((s, x) => s + x.share, 0)).toBeCloseTo(1, 12);
  });

  it("every GPU the machine catalogue rents is in the GPU table, with its accelerator type", () => {
    for (const name of ["g2-standard-4", "a2-highgpu-1g", "a2-ultragpu-1g", "a2-ultragpu-8g", "a3-highgpu-8g"]) {
      const model = machineInfo(name)?.gpu?.model;
      expect(model, name).toBeDefined();
      expect(gpus[model!].acceleratorType, name).toMatch(/^nvidia-/);
    }
    expect(gpus["nvidia-a100-80gb"]).toMatchObject({ memoryBytes: 80e9, bandwidthGBs: 2039, acceleratorType: "nvidia-a100-80gb" });
    expect(gpus["nvidia-a100-40gb"].acceleratorType).toBe("nvidia-tesla-a100");
  });

  it("each GGUF weights file is pinned: revision, exact size, sha256; its size is what memoryFit counts (rounded up)", () => {
    for (const key of Object.keys(models)) {
      const artifact = models[key]!.artifacts["llama-server"]!;
      const file = artifact.file!;
      expect(file.sha256, key).toMatch(/^[a-f0-9]{64}$/);
      expect(file.revision, key).toMatch(/^[a-f0-9]{40}$/);
      expect(artifact.ref.startsWith(`${file.repo}:`), key).toBe(true);
      expect(file.name.endsWith(".gguf")).toBe(true);
      expect(artifact.weightsBytes).toBeGreaterThanOrEqual(file.bytes - 1e6);
      expect(artifact.weightsBytes - file.bytes).toBeLessThan(0.05e9);
      expect(weightsUrl(file)).toBe(`https://huggingface.co/${file.repo}/resolve/${file.revision}/${file.name}`);
    }
  });

  it("tier-50's two servers match the g2-standard-24's two L4s", () => {
    expect(machineInfo(tiers["tier-50"].defaultMachineType)?.gpu?.count).toBe(tierInference["tier-50"]!.servers.length);
  });
});
