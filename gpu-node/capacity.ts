/**
 * The GPU capacity model: how many GPUs a tier's local inference needs at average and at peak,
 * how busy they are, whether the configured GPUs hold, and what sharing one GPU between two
 * models costs in swaps. Inputs are the tier catalogue's load figures (passed in), the tier's
 * inference plan (gpu-node/models.ts) and throughput figures below, each cited or derived by a
 * stated rule from cited figures.
 *
 * Units: tokens/s of the tier's whole token volume (prompt + completion). A server's effective
 * rate for that mix is 1 / (c / decode + (1 − c) / prefill) with c the completion share, or the
 * published rate of a benchmark that already mixes both ("mixed").
 */
import { coResident, gpus, models, referenceGpus, tierInference } from "./models.js";
import type { GpuModel, LocalModelShare, Provenance, ServerKind, TierInferencePlan } from "./types.js";

const SECONDS_PER_DAY = 86_400;
const SECONDS_PER_HOUR = 3_600;

/** The catalogue's load figures for a tier (structurally `TierSpec["capacity"]` plus the agent target). */
export interface TierLoad {
  agents: number;
  tokensPerDay: { tokens: number; atAgents: number };
  localShare: number;
}

export interface Param {
  value: number;
  provenance: Provenance;
}

export interface CapacityParams {
  peakToAverage: Param;
  completionShare: Param;
  callsPerAgentPerDay: Param;
  swapSeconds: { min: number; max: number; provenance: Provenance };
}

export const capacityParams: CapacityParams = {
  peakToAverage: { value: 3, provenance: { kind: "assumption", reason: "agents work a ~8-hour day: a day's tokens in 8 of 24 hours is 24 / 8 = 3× the daily average" } },
  completionShare: { value: 0.25, provenance: { kind: "assumption", reason: "agent requests carry more context than they generate: 1 completion token per 3 prompt tokens; no measured split yet" } },
  callsPerAgentPerDay: { value: 50, provenance: { kind: "cited", source: "product planning analysis (shared reference FACTS, 'Planning figures'): 100 agents × ~50 LLM calls/day ≈ 5,000 traces/day" } },
  swapSeconds: { min: 15, max: 30, provenance: { kind: "cited", source: "product planning analysis: a model swap on one GPU takes 15-30 s; consistent with https://developer.nvidia.com/blog/reducing-cold-start-latency-for-llm-inference-with-nvidia-runai-model-streamer (vLLM ready 23-66 s from storage)" } },
};

export type Metric = "decode" | "prefill" | "mixed";

export interface ThroughputFigure {
  id: string;
  server: ServerKind;
  /** A rented GPU, or a reference GPU a published benchmark ran on. */
  gpu: GpuModel | keyof typeof referenceGpus;
  model: string;
  quantization: string;
  /** Sequences served at once when the figure was measured. */
  concurrency: number;
  metric: Metric;
  tokensPerSecond: number;
  conditions: string;
  provenance: Provenance;
}

// ---------------------------------------------------------------- cited figures

const PR_15802 = "https://github.com/ggml-org/llama.cpp/pull/15802";
const PR_17505 = "https://github.com/ggml-org/llama.cpp/pull/17505";
const A100_SWEEP = "https://johnmusgrave.com/p/vllm-throughput-latency-sweep-on";
const GPUSTACK_32B = "https://docs.gpustack.ai/latest/performance-lab/qwen3-32b/a100";
const Q4_0_BLOCK = "https://github.com/ggml-org/llama.cpp/blob/145b6280d6aa1890e22457143dad0badb3fd6820/ggml/src/ggml-common.h (block_q4_0: fp16 scale + 16 bytes per 32 weights = 4.5 bits/weight)";

/** Llama 8B at Q4_0 (the model llama.cpp's CUDA benchmarks use): 8.03e9 params × 4.5 bits / 8. */
export const llama8bQ4_0Bytes = (8.03e9 * 4.5) / 8;

const cited: ThroughputFigure[] = [
  {
    id: "llamacpp-3090-8b-q4_0-decode-c2", server: "llama-server", gpu: "rtx-3090", model: "llama-3.1-8b-instruct", quantization: "Q4_0",
    concurrency: 2, metric: "decode", tokensPerSecond: 277.36,
    conditions: "llama-bench pp512 at micro-batch 2 (the work of 2 sequences decoding a token each), master column",
    provenance: { kind: "cited", source: PR_15802 },
  },
  {
    id: "llamacpp-3090-8b-q4_0-decode-c4", server: "llama-server", gpu: "rtx-3090", model: "llama-3.1-8b-instruct", quantization: "Q4_0",
    concurrency: 4, metric: "decode", tokensPerSecond: 468.95,
    conditions: "llama-bench pp512 at micro-batch 4, master column",
    provenance: { kind: "cited", source: PR_15802 },
  },
  {
    id: "llamacpp-3090-8b-q4_0-prefill", server: "llama-server", gpu: "rtx-3090", model: "llama-3.1-8b-instruct", quantization: "Q4_0",
    concurrency: 1, metric: "prefill", tokensPerSecond: 1470.93,
    conditions: "llama-bench pp512 at micro-batch 512 and context depth 32,768 (slower than at short depth: conservative)",
    provenance: { kind: "cited", source: PR_17505 },
  },
  {
    id: "vllm-a100-40gb-8b-bf16-mixed-c8", server: "vllm", gpu: "nvidia-a100-40gb", model: "llama-3.1-8b-instruct", quantization: "bf16",
    concurrency: 8, metric: "mixed", tokensPerSecond: (75 * 6.6 * (1024 + 128)) / 128,
    conditions: "vLLM 0.23.0, 1,024 prompt + 128 completion tokens per request at concurrency 8: ~75 tok/s decode at 1 × 6.6 at 8 = 495 completion tok/s, × 1,152/128 for all tokens",
    provenance: { kind: "cited", source: A100_SWEEP, note: "the arithmetic turns the published completion rate into a prompt+completion rate for the benchmark's own mix" },
  },
  {
    id: "vllm-a100-80gb-32b-bf16-mixed", server: "vllm", gpu: "a100-80gb-sxm", model: "qwen3-32b", quantization: "bf16",
    concurrency: 256, metric: "mixed", tokensPerSecond: 1730.98,
    conditions: "vLLM v0.11.0 without tuning, ShareGPT, Total TPS (prompt + completion), one A100 SXM 80GB; concurrency up to vLLM's default 256 sequences",
    provenance: { kind: "cited", source: GPUSTACK_32B },
  },
];

// ---------------------------------------------------------------- derived figures

const BANDWIDTH_AND_WEIGHTS =
  "decode and small-batch prefill on one GPU are memory-bandwidth bound (every token reads all weights): tok/s × (target GB/s ÷ cited GB/s) × (cited weight bytes ÷ target weight bytes)";
const BANDWIDTH_ONLY =
  "high-concurrency serving: tok/s × (target GB/s ÷ cited GB/s); quantization is not credited (4-bit kernels at large batches are not faster than BF16) — conservative";

function bandwidthOf(gpu: ThroughputFigure["gpu"]): number {
  return gpu in gpus ? gpus[gpu as GpuModel].bandwidthGBs : referenceGpus[gpu as keyof typeof referenceGpus].bandwidthGBs;
}

function citedFigure(id: string): ThroughputFigure {
  const f = cited.find((x) => x.id === id);
  if (!f) throw new Error(`no cited figure ${id}`);
  return f;
}

function derive(
  id: string,
  fromId: string,
  target: { gpu: GpuModel; model: string; quantization: string; citedWeightsBytes?: number; targetWeightsBytes?: number },
): ThroughputFigure {
  const from = citedFigure(fromId);
  const bw = bandwidthOf(target.gpu) / bandwidthOf(from.gpu);
  const weights = target.citedWeightsBytes !== undefined && target.targetWeightsBytes !== undefined ? target.citedWeightsBytes / target.targetWeightsBytes : 1;
  const rule = weights === 1 ? BANDWIDTH_ONLY : BANDWIDTH_AND_WEIGHTS;
  return {
    id, server: from.server, gpu: target.gpu, model: target.model, quantization: target.quantization,
    concurrency: from.concurrency, metric: from.metric, tokensPerSecond: from.tokensPerSecond * bw * weights,
    conditions: `derived from ${from.id} (${from.conditions})`,
    provenance: { kind: "derived", rule, from: [from.id, gpus[target.gpu].source, ...(weights === 1 ? [] : [Q4_0_BLOCK])] },
  };
}

const q4km8b = models["llama-3.1-8b-instruct"]?.artifacts["llama-server"]?.weightsBytes ?? NaN;
const q4km32b = models["qwen3-32b"]?.artifacts["llama-server"]?.weightsBytes ?? NaN;

const derived: ThroughputFigure[] = [
  derive("llamacpp-l4-8b-q4_k_m-decode-c4", "llamacpp-3090-8b-q4_0-decode-c4", { gpu: "nvidia-l4", model: "llama-3.1-8b-instruct", quantization: "Q4_K_M", citedWeightsBytes: llama8bQ4_0Bytes, targetWeightsBytes: q4km8b }),
  derive("llamacpp-l4-8b-q4_k_m-prefill", "llamacpp-3090-8b-q4_0-prefill", { gpu: "nvidia-l4", model: "llama-3.1-8b-instruct", quantization: "Q4_K_M", citedWeightsBytes: llama8bQ4_0Bytes, targetWeightsBytes: q4km8b }),
  derive("llamacpp-l4-32b-q4_k_m-decode-c2", "llamacpp-3090-8b-q4_0-decode-c2", { gpu: "nvidia-l4", model: "qwen3-32b", quantization: "Q4_K_M", citedWeightsBytes: llama8bQ4_0Bytes, targetWeightsBytes: q4km32b }),
  derive("llamacpp-l4-32b-q4_k_m-prefill", "llamacpp-3090-8b-q4_0-prefill", { gpu: "nvidia-l4", model: "qwen3-32b", quantization: "Q4_K_M", citedWeightsBytes: llama8bQ4_0Bytes, targetWeightsBytes: q4km32b }),
  derive("vllm-a100-40gb-32b-awq-mixed", "vllm-a100-80gb-32b-bf16-mixed", { gpu: "nvidia-a100-40gb", model: "qwen3-32b", quantization: "awq" }),
  // a2-ultragpu (A100 80GB) and a3-highgpu (H100 80GB) machine types, for tier-100 stacks configured on them.
  derive("vllm-a100-80gb-8b-bf16-mixed", "vllm-a100-40gb-8b-bf16-mixed-c8", { gpu: "nvidia-a100-80gb", model: "llama-3.1-8b-instruct", quantization: "bf16" }),
  derive("vllm-a100-80gb-32b-awq-mixed", "vllm-a100-80gb-32b-bf16-mixed", { gpu: "nvidia-a100-80gb", model: "qwen3-32b", quantization: "awq" }),
  derive("vllm-h100-80gb-8b-bf16-mixed", "vllm-a100-40gb-8b-bf16-mixed-c8", { gpu: "nvidia-h100-80gb", model: "llama-3.1-8b-instruct", quantization: "bf16" }),
  derive("vllm-h100-80gb-32b-awq-mixed", "vllm-a100-80gb-32b-bf16-mixed", { gpu: "nvidia-h100-80gb", model: "qwen3-32b", quantization: "awq" }),
];

export const throughputFigures: readonly ThroughputFigure[] = [...cited, ...derived];

/** The server's tokens/s for the tier's prompt+completion mix on one GPU. Throws when no figure covers it. */
export function effectiveTokensPerSecond(server: ServerKind, gpu: GpuModel, model: string, completionShare: number, figures: readonly ThroughputFigure[] = throughputFigures): number {
  const match = (metric: Metric) => figures.filter((f) => f.server === server && f.gpu === gpu && f.model === model && f.metric === metric);
  const mixed = match("mixed")[0];
  if (mixed) return mixed.tokensPerSecond;
  const decode = match("decode")[0];
  const prefill = match("prefill")[0];
  if (!decode || !prefill) throw new Error(`no throughput figure for ${model} on ${server} / ${gpu}`);
  return 1 / (completionShare / decode.tokensPerSecond + (1 - completionShare) / prefill.tokensPerSecond);
}

export interface ModelCapacity {
  modelKey: string;
  averageTps: number;
  peakTps: number;
  effectiveTps: number;
  gpusAtAverage: number;
  gpusAtPeak: number;
  /** Whole GPUs the model needs: ceil(gpusAtPeak), at least 1. */
  gpusNeeded: number;
  /** GPUs the configuration gives it (one per plan server, in plan order, while configured GPUs last). */
  gpusConfigured: number;
  /** Fraction of the configured GPUs' throughput used; Infinity when the model has none. */
  utilisationAverage: number;
  utilisationPeak: number;
}

export interface TierCapacity {
  tier: string;
  localTokensPerDay: number;
  averageTps: number;
  peakTps: number;
  models: ModelCapacity[];
  gpusNeeded: number;
  configuredGpus: number;
  holds: boolean;
}

/** Tokens a day at the tier's agent target: the planning figure scaled linearly from the agent count it was stated for. */
export function tokensPerDayAtTarget(load: TierLoad): number {
  return (load.tokensPerDay.tokens * load.agents) / load.tokensPerDay.atAgents;
}

/**
 * How configured GPUs are given to a plan's models: one per plan server, in plan order, while
 * they last; every GPU beyond that goes, one at a time, to the model whose GPUs are busiest at
 * peak (`gpusAtPeak(key) / GPUs it has`), ties to the earlier server. InferenceNode sizes its
 * Deployments' replicas the same way.
 */
export function allocateGpus(plan: { servers: readonly { modelKey: string }[] }, configuredGpus: number, gpusAtPeak: (modelKey: string) => number): Map<string, number> {
  const out = new Map<string, number>();
  let left = configuredGpus;
  for (const s of plan.servers) {
    if (left <= 0) break;
    out.set(s.modelKey, (out.get(s.modelKey) ?? 0) + 1);
    left--;
  }
  const keys = [...new Set(plan.servers.map((s) => s.modelKey))];
  for (; left > 0; left--) {
    let best = keys[0] ?? "";
    let bestLoad = -Infinity;
    for (const key of keys) {
      const load = gpusAtPeak(key) / (out.get(key) ?? 0);
      if (load > bestLoad) [best, bestLoad] = [key, load];
    }
    out.set(best, (out.get(best) ?? 0) + 1);
  }
  return out;
}

/** GPUs needed per model at average and at peak, utilisation of the configured GPUs, and whether they hold. */
export function gpusNeeded(tier: string, load: TierLoad, plan: TierInferencePlan, configuredGpus: number, params: CapacityParams = capacityParams): TierCapacity {
  const shareSum = plan.shares.reduce((s, x) => s + x.share, 0);
  if (Math.abs(shareSum - 1) > 1e-9) throw new Error(`${tier}: local model shares sum to ${shareSum}, not 1`);
  const localTokensPerDay = tokensPerDayAtTarget(load) * load.localShare;
  const averageTps = localTokensPerDay / SECONDS_PER_DAY;
  const peakTps = averageTps * params.peakToAverage.value;
  const rates = new Map(plan.shares.map((m) => [m.modelKey, effectiveTokensPerSecond(plan.server, plan.gpu, m.modelKey, params.completionShare.value)]));
  const configuredFor = allocateGpus(plan, configuredGpus, (key) => (peakTps * (plan.shares.find((m) => m.modelKey === key)?.share ?? 0)) / (rates.get(key) ?? Infinity));
  const perModel = plan.shares.map((m: LocalModelShare): ModelCapacity => {
    const eff = rates.get(m.modelKey) ?? NaN;
    const avg = averageTps * m.share;
    const peak = peakTps * m.share;
    const have = configuredFor.get(m.modelKey) ?? 0;
    return {
      modelKey: m.modelKey, averageTps: avg, peakTps: peak, effectiveTps: eff,
      gpusAtAverage: avg / eff, gpusAtPeak: peak / eff, gpusNeeded: Math.max(1, Math.ceil(peak / eff)), gpusConfigured: have,
      utilisationAverage: have > 0 ? avg / (eff * have) : Infinity, utilisationPeak: have > 0 ? peak / (eff * have) : Infinity,
    };
  });
  const needed = perModel.reduce((s, m) => s + m.gpusNeeded, 0);
  return { tier, localTokensPerDay, averageTps, peakTps, models: perModel, gpusNeeded: needed, configuredGpus, holds: configuredGpus >= needed && perModel.every((m) => m.gpusConfigured >= m.gpusNeeded) };
}

export interface SwapInputs {
  agents: number;
  /** Share of requests per model on the shared GPU. */
  shares: readonly number[];
  /** Whether the models fit the GPU together (then nothing swaps). */
  coResident: boolean;
}

export interface SwapLoss {
  requestsPerHourAverage: number;
  requestsPerHourPeak: number;
  /** Probability the next request needs the other model: 1 − Σ share². */
  switchProbability: number;
  swapsPerHourAverage: number;
  swapsPerHourPeak: number;
  /** Seconds per hour spent swapping, at the low and high swap time, capped at the hour. */
  lostSecondsPerHourAverage: { min: number; max: number };
  lostSecondsPerHourPeak: { min: number; max: number };
  /** At peak, swaps alone can fill the hour (the GPU thrashes). */
  saturated: boolean;
}

/**
 * Expected swaps per hour and the time lost to them when models that do not fit one GPU together
 * share it, requests arriving independently in proportion to the shares and served in order.
 */
export function swapLoss(inputs: SwapInputs, params: CapacityParams = capacityParams): SwapLoss {
  const perHour = (inputs.agents * params.callsPerAgentPerDay.value) / 24;
  const peakPerHour = perHour * params.peakToAverage.value;
  const switchProbability = inputs.coResident ? 0 : 1 - inputs.shares.reduce((s, p) => s + p * p, 0);
  const swapsAvg = perHour * switchProbability;
  const swapsPeak = peakPerHour * switchProbability;
  const lost = (swaps: number) => ({ min: Math.min(SECONDS_PER_HOUR, swaps * params.swapSeconds.min), max: Math.min(SECONDS_PER_HOUR, swaps * params.swapSeconds.max) });
  return {
    requestsPerHourAverage: perHour, requestsPerHourPeak: peakPerHour, switchProbability,
    swapsPerHourAverage: swapsAvg, swapsPerHourPeak: swapsPeak,
    lostSecondsPerHourAverage: lost(swapsAvg), lostSecondsPerHourPeak: lost(swapsPeak),
    saturated: swapsPeak * params.swapSeconds.max >= SECONDS_PER_HOUR,
  };
}

export interface TierInputs {
  tier: string;
  load: TierLoad;
  plan: TierInferencePlan;
  params?: CapacityParams;
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/**
 * One-line warnings when the configured GPUs are below what the capacity model says the tier
 * needs, and when the plan's models would have to share GPUs. `plan` prints them; a policy can
 * reuse the same function as an advisory check.
 */
export function capacityWarnings(inputs: TierInputs, configuredGpus: number): string[] {
  const params = inputs.params ?? capacityParams;
  const cap = gpusNeeded(inputs.tier, inputs.load, inputs.plan, configuredGpus, params);
  const out: string[] = [];
  if (!cap.holds) {
    const detail = cap.models.map((m) => `${m.modelKey} ${m.gpusNeeded} (peak ${round(m.peakTps)} tok/s at ${round(m.effectiveTps)} tok/s per GPU)`).join(", ");
    out.push(`${inputs.tier}: ${configuredGpus} GPU(s) configured, the capacity model needs ${cap.gpusNeeded} at peak: ${detail}`);
  }
  const modelsOnPlan = inputs.plan.servers.length;
  if (configuredGpus > 0 && configuredGpus < modelsOnPlan) {
    const keys = inputs.plan.servers.map((s) => s.modelKey);
    const loss = swapLoss({ agents: inputs.load.agents, shares: inputs.plan.shares.map((s) => s.share), coResident: coResident(inputs.plan.server, keys, inputs.plan.gpu) }, params);
    if (loss.switchProbability > 0) {
      out.push(`${inputs.tier}: ${modelsOnPlan} models on ${configuredGpus} GPU(s) swap ~${round(loss.swapsPerHourPeak, 0)} times an hour at peak, losing ${round(loss.lostSecondsPerHourPeak.min, 0)}-${round(loss.lostSecondsPerHourPeak.max, 0)} s of every hour${loss.saturated ? " (thrashing)" : ""}`);
    }
  }
  return out;
}

/** A tier as the catalogue describes it (structurally `TierSpec`): its name and load figures. */
export interface TierCapacitySpec {
  name: string;
  capacity: { agents: number; tokensPerDay: { tokens: number; atAgents: number }; localShare: number };
}

/**
 * The capacity warnings `plan` prints for a stack: the tier's inference plan
 * (gpu-node/models.ts `tierInference`) on the configured machine's GPU, against the configured
 * GPUs (tierstack:gpus). A GPU no throughput figure covers is one warning, not an error.
 */
export function stackCapacityWarnings(tier: TierCapacitySpec, configuredGpus: number, gpu?: GpuModel): string[] {
  const plan = tierInference[tier.name];
  if (!plan) return [];
  const load = { agents: tier.capacity.agents, tokensPerDay: tier.capacity.tokensPerDay, localShare: tier.capacity.localShare };
  try {
    return capacityWarnings({ tier: tier.name, load, plan: gpu ? { ...plan, gpu } : plan }, configuredGpus);
  } catch (err) {
    return [`${tier.name}: GPU capacity not checked: ${(err as Error).message}`];
  }
}
