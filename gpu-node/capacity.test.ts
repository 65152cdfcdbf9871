import { describe, expect, it } from "vitest";
import { tiers } from "../catalog/tiers.js";
import { allocateGpus, capacityParams, capacityWarnings, effectiveTokensPerSecond, gpusNeeded, stackCapacityWarnings, swapLoss, throughputFigures, tokensPerDayAtTarget, type TierLoad } from "./capacity.js";
import { coResident, tierInference } from "./models.js";

// ---- hand-computed throughput (tokens/s for the tier's prompt + completion mix) ----------------
// Cited: llama.cpp PR #15802 (RTX 3090, llama 8B Q4_0): 277.36 tok/s at 2 sequences, 468.95 at 4;
// PR #17505: 1,470.93 tok/s prefill (micro-batch 512, depth 32k). L4 300 GB/s, RTX 3090 936 GB/s.
const bw = 300 / 936; // L4 ÷ RTX 3090 bandwidth
const q4_0 = (8.03e9 * 4.5) / 8; // 8B at Q4_0: 4.517 GB
const w8 = q4_0 / 4.92e9; // ÷ 8B Q4_K_M
const w32 = q4_0 / 19.8e9; // ÷ 32B Q4_K_M
const c = 0.25; // completion share
const mix = (decode: number, prefill: number) => 1 / (c / decode + (1 - c) / prefill);
const l4_8b = mix(468.95 * bw * w8, 1470.93 * bw * w8); //  ≈ 282.1 tok/s (decode 138.0, prefill 432.8)
const l4_32b = mix(277.36 * bw * w32, 1470.93 * bw * w32); // ≈ 51.8 tok/s (decode 20.3, prefill 107.5)
const a100_8b = (75 * 6.6 * (1024 + 128)) / 128; // 4,455 tok/s: 495 completion tok/s at 8 × 1,152/128
const a100_32b = (1730.98 * 1555) / 2039; // ≈ 1,320.1 tok/s: A100-80GB ShareGPT total × 1,555/2,039 GB/s

const load = (tier: keyof typeof tiers): TierLoad => ({ agents: tiers[tier].capacity.agents, tokensPerDay: tiers[tier].capacity.tokensPerDay, localShare: tiers[tier].capacity.localShare });
const plan = (tier: string) => {
  const p = tierInference[tier];
  if (!p) throw new Error(`no plan for ${tier}`);
  return p;
};
const configured = (tier: keyof typeof tiers) => tiers[tier].sizes.gpus.default;

describe("throughput figures", () => {
  it("every figure is cited with a URL or derived by a stated rule from cited figures", () => {
    const ids = new Set(throughputFigures.map((f) => f.id));
    for (const f of throughputFigures) {
      if (f.provenance.kind === "cited") expect(f.provenance.source).toMatch(/^https:\/\//);
      else if (f.provenance.kind === "derived") {
        expect(f.provenance.rule.length).toBeGreaterThan(20);
        expect(ids.has(f.provenance.from[0] ?? "")).toBe(true);
      } else throw new Error(`${f.id} has no source`);
    }
  });

  it("effective rates match the hand computation", () => {
    expect(effectiveTokensPerSecond("llama-server", "nvidia-l4", "llama-3.1-8b-instruct", c)).toBeCloseTo(l4_8b, 9);
    expect(effectiveTokensPerSecond("llama-server", "nvidia-l4", "qwen3-32b", c)).toBeCloseTo(l4_32b, 9);
    expect(effectiveTokensPerSecond("vllm", "nvidia-a100-40gb", "llama-3.1-8b-instruct", c)).toBeCloseTo(a100_8b, 9);
    expect(effectiveTokensPerSecond("vllm", "nvidia-a100-40gb", "qwen3-32b", c)).toBeCloseTo(a100_32b, 9);
    expect(l4_8b).toBeCloseTo(282.1, 1);
    expect(l4_32b).toBeCloseTo(51.8, 1);
    expect(() => effectiveTokensPerSecond("vllm", "nvidia-l4", "qwen3-32b", c)).toThrow(/no throughput figure/);
  });
});

describe("GPUs needed per tier (arithmetic in the comments)", () => {
  it("single-box: 2M tokens/day at 10 agents → 4M at 20; 70% local = 2.8M/day", () => {
    // average 2,800,000 / 86,400 = 32.41 tok/s; peak × 3 = 97.22 tok/s; 97.22 / 282.1 = 0.345 GPU → 1 L4
    const cap = gpusNeeded("single-box", load("single-box"), plan("single-box"), 1);
    expect(tokensPerDayAtTarget(load("single-box"))).toBe((2_000_000 * 20) / 10);
    expect(cap.averageTps).toBeCloseTo(2_800_000 / 86_400, 9);
    expect(cap.peakTps).toBeCloseTo((3 * 2_800_000) / 86_400, 9);
    const [m] = cap.models;
    expect(m?.gpusAtPeak).toBeCloseTo((3 * 2_800_000) / 86_400 / l4_8b, 9);
    expect(m?.utilisationAverage).toBeCloseTo(2_800_000 / 86_400 / l4_8b, 9); // ≈ 11.5%
    expect(cap.gpusNeeded).toBe(1);
    expect(cap.holds).toBe(true);
    // The catalogue's default is no GPU: the model says one L4 is needed, so it does not hold.
    expect(configured("single-box")).toBe(0);
    expect(gpusNeeded("single-box", load("single-box"), plan("single-box"), 0).holds).toBe(false);
  });

  it("tier-50: 10M tokens/day at 50 agents, 70% local, half to each model", () => {
    // per model: 7,000,000 × 0.5 / 86,400 = 40.51 tok/s average, 121.53 at peak
    // 8B:  121.53 / 282.1 = 0.43 → 1 L4;   32B: 121.53 / 51.8 = 2.35 → 3 L4 (0.78 at average)
    const cap = gpusNeeded("tier-50", load("tier-50"), plan("tier-50"), configured("tier-50"));
    const [small, large] = cap.models;
    const perModelPeak = (3 * 7_000_000 * 0.5) / 86_400;
    expect(small?.gpusAtPeak).toBeCloseTo(perModelPeak / l4_8b, 9);
    expect(large?.gpusAtPeak).toBeCloseTo(perModelPeak / l4_32b, 9);
    expect(large?.gpusAtAverage).toBeCloseTo(perModelPeak / 3 / l4_32b, 9);
    expect([small?.gpusNeeded, large?.gpusNeeded]).toEqual([1, Math.ceil(perModelPeak / l4_32b)]);
    expect(cap.gpusNeeded).toBe(1 + 3);
    expect(large?.utilisationPeak).toBeGreaterThan(1); // the 32B's one L4 is 235% busy at peak
    expect(cap.configuredGpus).toBe(2);
    expect(cap.holds).toBe(false);
  });

  it("tier-100: 20M tokens/day at 100 agents, 70% local, vLLM on A100 40GB", () => {
    // per model peak: 3 × 14,000,000 × 0.5 / 86,400 = 243.06 tok/s
    // 8B: 243.06 / 4,455 = 0.055 → 1 GPU;  32B AWQ: 243.06 / 1,320.1 = 0.18 → 1 GPU;  2 GPUs (one per model)
    const cap = gpusNeeded("tier-100", load("tier-100"), plan("tier-100"), configured("tier-100"));
    const perModelPeak = (3 * 14_000_000 * 0.5) / 86_400;
    expect(cap.models.map((m) => m.gpusAtPeak)).toEqual([expect.closeTo(perModelPeak / a100_8b, 9), expect.closeTo(perModelPeak / a100_32b, 9)]);
    expect(cap.gpusNeeded).toBe(2);
    expect(configured("tier-100")).toBe(1);
    expect(cap.holds).toBe(false);
    expect(gpusNeeded("tier-100", load("tier-100"), plan("tier-100"), 2).holds).toBe(true);
  });

  it("refuses shares that do not add up", () => {
    const p = plan("tier-50");
    expect(() => gpusNeeded("tier-50", load("tier-50"), { ...p, shares: [{ modelKey: "qwen3-32b", share: 0.4 }] }, 2)).toThrow(/sum to 0.4/);
  });
});

describe("one GPU shared by two models", () => {
  it("thrashes at 50 agents: the 8B and the 32B cannot sit on one L4 together", () => {
    // 50 agents × 50 calls/day = 2,500 requests/day = 104.17/h (312.5/h at peak)
    // P(next request needs the other model) = 1 − (0.5² + 0.5²) = 0.5
    // swaps: 52.08/h on average → 781-1,562 s lost per hour (22-43%); 156.25/h at peak → 2,344-4,688 s ≥ 3,600 s
    const loss = swapLoss({ agents: 50, shares: [0.5, 0.5], coResident: coResident("llama-server", ["llama-3.1-8b-instruct", "qwen3-32b"], "nvidia-l4") });
    expect(loss.requestsPerHourAverage).toBeCloseTo((50 * 50) / 24, 9);
    expect(loss.switchProbability).toBe(0.5);
    expect(loss.swapsPerHourAverage).toBeCloseTo((50 * 50) / 24 / 2, 9);
    expect(loss.lostSecondsPerHourAverage).toEqual({ min: expect.closeTo(((50 * 50) / 24 / 2) * 15, 9), max: expect.closeTo(((50 * 50) / 24 / 2) * 30, 9) });
    expect(loss.swapsPerHourPeak).toBeCloseTo(156.25, 9);
    expect(loss.lostSecondsPerHourPeak).toEqual({ min: 156.25 * 15, max: 3600 }); // 4,687.5 s capped at the hour
    expect(loss.saturated).toBe(true);
  });

  it("costs nothing when the models fit together, and little at the single box's 20 agents with one model", () => {
    expect(swapLoss({ agents: 50, shares: [0.5, 0.5], coResident: true }).swapsPerHourPeak).toBe(0);
    expect(swapLoss({ agents: 20, shares: [1], coResident: false }).swapsPerHourPeak).toBe(0);
  });

  it("uses the planning figures: 50 calls per agent a day, 15-30 s a swap, peak 3× average", () => {
    expect(capacityParams.callsPerAgentPerDay.value).toBe(50);
    expect([capacityParams.swapSeconds.min, capacityParams.swapSeconds.max]).toEqual([15, 30]);
    expect(capacityParams.peakToAverage.value).toBe(3);
  });
});

describe("capacityWarnings", () => {
  const inputs = (tier: keyof typeof tiers) => ({ tier, load: load(tier), plan: plan(tier) });

  it("is silent when the configured GPUs hold", () => {
    expect(capacityWarnings(inputs("single-box"), 1)).toEqual([]);
    expect(capacityWarnings(inputs("tier-100"), 2)).toEqual([]);
  });

  it("warns in one line per finding when the configured GPUs are below what the tier needs", () => {
    const w = capacityWarnings(inputs("tier-50"), configured("tier-50"));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^tier-50: 2 GPU\(s\) configured, the capacity model needs 4 at peak: llama-3.1-8b-instruct 1 .*qwen3-32b 3 /);
    for (const line of w) expect(line).not.toContain("\n");
    expect(capacityWarnings(inputs("single-box"), 0)[0]).toMatch(/^single-box: 0 GPU\(s\) configured, the capacity model needs 1/);
  });

  it("adds the swap cost when the plan's models would share fewer GPUs", () => {
    const w = capacityWarnings(inputs("tier-100"), configured("tier-100"));
    expect(w).toHaveLength(2);
    // 100 agents: 100 × 50 / 24 × 3 = 625 requests/h at peak × 0.5 = 312.5 swaps/h → the whole hour
    expect(w[1]).toBe("tier-100: 2 models on 1 GPU(s) swap ~313 times an hour at peak, losing 3600-3600 s of every hour (thrashing)");
  });
});

describe("stackCapacityWarnings (what plan prints)", () => {
  it("uses the tier's plan and the configured GPUs: the catalogue defaults warn, enough GPUs do not", () => {
    expect(stackCapacityWarnings(tiers["single-box"], 0)).toEqual(capacityWarnings({ tier: "single-box", load: load("single-box"), plan: plan("single-box") }, 0));
    expect(stackCapacityWarnings(tiers["single-box"], 0)[0]).toMatch(/^single-box: 0 GPU\(s\) configured, the capacity model needs 1 at peak/);
    expect(stackCapacityWarnings(tiers["single-box"], 1, "nvidia-l4")).toEqual([]);
    expect(stackCapacityWarnings(tiers["tier-50"], 2, "nvidia-l4")).toHaveLength(1);
    expect(stackCapacityWarnings(tiers["tier-100"], 2, "nvidia-a100-40gb")).toEqual([]);
  });

  it("rates the plan on the configured machine's GPU: an H100 pool holds where the A100 40GB pool does", () => {
    // 8B on H100: 4,455 × 3,350 / 1,555 = 9,597.6 tok/s; 32B: 1,730.98 × 3,350 / 2,039 = 2,843.9 tok/s
    const h100 = gpusNeeded("tier-100", load("tier-100"), { ...plan("tier-100"), gpu: "nvidia-h100-80gb" }, 2);
    expect(h100.models.map((m) => m.effectiveTps)).toEqual([expect.closeTo((a100_8b * 3350) / 1555, 9), expect.closeTo((1730.98 * 3350) / 2039, 9)]);
    expect(stackCapacityWarnings(tiers["tier-100"], 2, "nvidia-h100-80gb")).toEqual([]);
    // The A100 80GB 32B figure is the cited run itself (same GPU): ratio 1.
    expect(effectiveTokensPerSecond("vllm", "nvidia-a100-80gb", "qwen3-32b", c)).toBeCloseTo(1730.98, 9);
  });

  it("says so in one line when no throughput figure covers the configured GPU", () => {
    expect(stackCapacityWarnings(tiers["tier-100"], 1, "nvidia-l4")).toEqual(["tier-100: GPU capacity not checked: no throughput figure for llama-3.1-8b-instruct on vllm / nvidia-l4"]);
  });

  it("gives GPUs beyond one per model to the busiest model", () => {
    // tier-50 at 4 L4s: 8B 1, 32B 1, then both extras to the 32B (2.35 GPUs at peak vs 0.43)
    const p = plan("tier-50");
    const peak = (key: string) => gpusNeeded("tier-50", load("tier-50"), p, 4).models.find((m) => m.modelKey === key)?.gpusAtPeak ?? 0;
    expect(Object.fromEntries(allocateGpus(p, 4, peak))).toEqual({ "llama-3.1-8b-instruct": 1, "qwen3-32b": 3 });
    expect(gpusNeeded("tier-50", load("tier-50"), p, 4).holds).toBe(true);
    expect(Object.fromEntries(allocateGpus(p, 1, peak))).toEqual({ "llama-3.1-8b-instruct": 1 });
  });
});
