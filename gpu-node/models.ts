/**
 * The local models, the GPUs they run on, and the memory arithmetic that says whether a server
 * spec fits its GPU: weights + KV cache at the configured context + runtime overhead within the
 * GPU's budget. Every size carries its source; numbers without a published figure are derived
 * by a stated rule or marked as assumptions.
 *
 * The 32B model: Qwen3-32B at BF16 is ~65.5 GB (ggml-org/Qwen3-32B-GGUF lists F16 at 65.5 GB)
 * and does not fit a 24 GB L4, nor two of them. On the L4 it runs as GGUF Q4_K_M (19.76 GB) with
 * an f16 KV cache of 2 slots × 3,072 tokens; on the A100 40 GB as AWQ 4-bit.
 */
import type { GpuModel, InferenceServerSpec, Provenance, ServerKind, TierInferencePlan } from "./types.js";

export interface GpuSpec {
  model: GpuModel;
  /** Memory as the vendor states it, in bytes (GB = 1e9). */
  memoryBytes: number;
  /** Peak memory bandwidth, GB/s. */
  bandwidthGBs: number;
  source: string;
  /** Compute Engine / GKE accelerator type (guestAccelerators[].type, node label cloud.google.com/gke-accelerator). */
  acceleratorType: string;
}

const GCE_GPUS = "https://cloud.google.com/compute/docs/gpus (accelerator types nvidia-l4, nvidia-tesla-a100, nvidia-a100-80gb, nvidia-h100-80gb)";

export const gpus: Record<GpuModel, GpuSpec> = {
  "nvidia-l4": { model: "nvidia-l4", memoryBytes: 24e9, bandwidthGBs: 300, source: "https://www.nvidia.com/en-us/data-center/l4/ (24 GB GDDR6, 300 GB/s)", acceleratorType: "nvidia-l4" },
  "nvidia-a100-40gb": { model: "nvidia-a100-40gb", memoryBytes: 40e9, bandwidthGBs: 1555, source: "https://www.nvidia.com/en-us/data-center/a100/ (A100 40GB: 1,555 GB/s)", acceleratorType: "nvidia-tesla-a100" },
  // a2-ultragpu machine types carry the SXM part (GCE_GPUS: "A2 Ultra: A100 80GB").
  "nvidia-a100-80gb": { model: "nvidia-a100-80gb", memoryBytes: 80e9, bandwidthGBs: 2039, source: "https://www.nvidia.com/en-us/data-center/a100/ (A100 80GB SXM: 80 GB HBM2e, 2,039 GB/s)", acceleratorType: "nvidia-a100-80gb" },
  "nvidia-h100-80gb": { model: "nvidia-h100-80gb", memoryBytes: 80e9, bandwidthGBs: 3350, source: "https://www.nvidia.com/en-us/data-center/h100/ (H100 SXM: 80 GB, 3.35 TB/s)", acceleratorType: "nvidia-h100-80gb" },
};

/** Where the accelerator type names come from. */
export const acceleratorTypeSource = GCE_GPUS;

/** GPUs that published benchmarks ran on but the platform does not rent; used only to derive figures. */
export const referenceGpus = {
  "rtx-3090": { bandwidthGBs: 936, source: "https://www.nvidia.com/en-us/geforce/graphics-cards/30-series/rtx-3090-3090ti/ (936 GB/s)" },
  "a100-80gb-sxm": { bandwidthGBs: 2039, source: "https://www.nvidia.com/en-us/data-center/a100/ (A100 80GB SXM: 2,039 GB/s)" },
} as const;

/** Attention shape: what the KV cache per token is made of. */
export interface ModelArch {
  layers: number;
  kvHeads: number;
  headDim: number;
  source: string;
}

/**
 * One weights file as its publisher lists it: what an operator downloads once, uploads to the
 * weights bucket and what the tier-50 box checks at boot before it starts a server.
 */
export interface WeightsFile {
  /** File name in the publisher's repository (and in the bucket, under `<model key>/`). */
  name: string;
  /** Hugging Face repository and the revision the size and checksum are for. */
  repo: string;
  revision: string;
  /** Exact size in bytes. */
  bytes: number;
  /** sha256 of the file (64 lowercase hex). */
  sha256: string;
  /** Where the size and checksum are listed. */
  source: string;
}

export interface ModelArtifact {
  /** llama-server: `-hf` repo[:quant]; vLLM: Hugging Face model id. */
  ref: string;
  quantization: string;
  /** Bytes the weights take in GPU memory (memoryFit). */
  weightsBytes: number;
  provenance: Provenance;
  /** The single file to serve from local disk (GGUF); absent where the server downloads a directory. */
  file?: WeightsFile;
}

/** The download URL of a weights file at its pinned revision. */
export function weightsUrl(file: WeightsFile): string {
  return `https://huggingface.co/${file.repo}/resolve/${file.revision}/${file.name}`;
}

export interface LocalModel {
  key: string;
  /** The name LiteLLM serves it under, as the brain and the agents request it (priced in @tierstack/cost). */
  litellmName: string;
  /** The same model hosted in the cloud (OpenRouter id), the LiteLLM fallback. */
  cloudFallback: string;
  params: number;
  paramsSource: string;
  arch: ModelArch;
  artifacts: Partial<Record<ServerKind, ModelArtifact>>;
}

/**
 * Size and sha256 of each GGUF file: the publisher's Git LFS pointer at the pinned revision
 * (shown on the file's Hugging Face page and in `https://huggingface.co/api/models/<repo>/tree/<revision>`
 * as `lfs.oid`). The values were read from independent copies of that listing, not recomputed
 * here: the box recomputes them at boot and refuses to start a server on a mismatch, and the
 * operator compares them with `sha256sum` before uploading (gpu-node/README.md).
 */
const LFS_NOTE = "publisher's Git LFS pointer (sha256 oid, size) at the pinned revision, https://huggingface.co/<repo>/blob/<revision>/<file>";

export const models: Record<string, LocalModel> = {
  "llama-3.1-8b-instruct": {
    key: "llama-3.1-8b-instruct",
    litellmName: "local/llama-3.1-8b-instruct",
    cloudFallback: "meta-llama/llama-3.1-8b-instruct",
    params: 8.03e9,
    paramsSource: "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct (8.03B params)",
    arch: { layers: 32, kvHeads: 8, headDim: 128, source: "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/blob/main/config.json (num_hidden_layers 32, num_key_value_heads 8, hidden_size 4096 / 32 heads)" },
    artifacts: {
      "llama-server": {
        ref: "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M",
        quantization: "Q4_K_M",
        weightsBytes: 4.92e9,
        provenance: { kind: "cited", source: "https://huggingface.co/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF (Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf 4.92 GB)" },
        file: {
          name: "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
          repo: "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
          revision: "bf5b95e96dac0462e2a09145ec66cae9a3f12067",
          bytes: 4_920_739_232,
          sha256: "7b064f5842bf9532c91456deda288a1b672397a54fa729aa665952863033557c",
          source: LFS_NOTE,
        },
      },
      vllm: {
        ref: "meta-llama/Llama-3.1-8B-Instruct",
        quantization: "bf16",
        weightsBytes: 16.06e9,
        provenance: { kind: "derived", rule: "8.03e9 params × 2 bytes (BF16)", from: ["https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct"] },
      },
    },
  },
  "qwen3-32b": {
    key: "qwen3-32b",
    litellmName: "local/qwen3-32b",
    cloudFallback: "qwen/qwen3-32b",
    params: 32.8e9,
    paramsSource: "https://huggingface.co/Qwen/Qwen3-32B (32.8B params)",
    arch: { layers: 64, kvHeads: 8, headDim: 128, source: "https://huggingface.co/Qwen/Qwen3-32B/blob/main/config.json (num_hidden_layers 64, num_key_value_heads 8, head_dim 128)" },
    artifacts: {
      "llama-server": {
        // The publisher's own GGUF (Qwen/Qwen3-32B-GGUF), whose file checksum is listed; 19,762,149,024
        // bytes, rounded up to 19.8 GB for the memory fit (ggml-org/Qwen3-32B-GGUF lists the same 19.8 GB).
        ref: "Qwen/Qwen3-32B-GGUF:Q4_K_M",
        quantization: "Q4_K_M",
        weightsBytes: 19.8e9,
        provenance: { kind: "cited", source: "https://huggingface.co/Qwen/Qwen3-32B-GGUF (Qwen3-32B-Q4_K_M.gguf 19,762,149,024 bytes); https://huggingface.co/ggml-org/Qwen3-32B-GGUF (Q4_K_M 19.8 GB; F16 65.5 GB)" },
        file: {
          name: "Qwen3-32B-Q4_K_M.gguf",
          repo: "Qwen/Qwen3-32B-GGUF",
          revision: "938a7432affaec9157f883a87164e2646ae17555",
          bytes: 19_762_149_024,
          sha256: "efd971561896866f0e910cce52761ca77b1b138090c7f15fe284676d57d1f689",
          source: LFS_NOTE,
        },
      },
      vllm: {
        ref: "Qwen/Qwen3-32B-AWQ",
        quantization: "awq",
        weightsBytes: 19.7e9,
        provenance: {
          kind: "derived",
          rule:
            "no file size read: embeddings + lm_head stay BF16 (2 × 151,936 vocab × 5,120 hidden × 2 B = 3.11 GB); the other ~31.2e9 params at 4 bits + one fp16 scale and a packed 4-bit zero per group of 128 (4.16 bits) = 16.2 GB; 3.11 + 16.2 ≈ 19.3 GB, rounded up to 19.7 GB",
          from: ["https://huggingface.co/Qwen/Qwen3-32B", "https://huggingface.co/Qwen/Qwen3-32B/blob/main/config.json"],
        },
      },
    },
  },
};

/** Bytes of runtime memory besides weights and KV cache (CUDA context, compute buffers, graphs). */
export const runtimeOverheadBytes: Record<ServerKind, { bytes: number; provenance: Provenance }> = {
  "llama-server": { bytes: 1.0e9, provenance: { kind: "assumption", reason: "CUDA context + compute buffers of a single-GPU llama-server; no published per-model figure" } },
  vllm: { bytes: 2.0e9, provenance: { kind: "assumption", reason: "activations + CUDA graphs reserved inside vLLM's memory budget; no published per-model figure" } },
};

/** llama-server keeps this fraction of the GPU free; vLLM's budget is --gpu-memory-utilization. */
export const llamaServerMemoryFraction = 0.95;
export const vllmDefaultGpuMemoryUtilization = 0.9;

/** KV cache bytes per token at f16 (K and V, every layer, every KV head). */
export function kvBytesPerToken(arch: ModelArch, bytesPerElement = 2): number {
  return 2 * arch.layers * arch.kvHeads * arch.headDim * bytesPerElement;
}

export function modelFor(key: string): LocalModel {
  const m = models[key];
  if (!m) throw new Error(`unknown model "${key}" (known: ${Object.keys(models).join(", ")})`);
  return m;
}

export function artifactFor(server: ServerKind, key: string): ModelArtifact {
  const a = modelFor(key).artifacts[server];
  if (!a) throw new Error(`model "${key}" has no ${server} artifact`);
  return a;
}

export interface MemoryFit {
  weightsBytes: number;
  /** KV cache for `parallel` sequences of `contextLength` tokens each. */
  kvBytes: number;
  overheadBytes: number;
  totalBytes: number;
  budgetBytes: number;
  headroomBytes: number;
  fits: boolean;
}

type FitSpec = Pick<InferenceServerSpec, "server" | "modelKey" | "contextLength" | "parallel" | "gpuMemoryUtilization">;

/** Whether a server spec's model, KV cache and runtime fit one GPU of the given type. */
export function memoryFit(spec: FitSpec, gpu: GpuModel): MemoryFit {
  const model = modelFor(spec.modelKey);
  const weightsBytes = artifactFor(spec.server, spec.modelKey).weightsBytes;
  const kvBytes = spec.contextLength * spec.parallel * kvBytesPerToken(model.arch);
  const overheadBytes = runtimeOverheadBytes[spec.server].bytes;
  const fraction = spec.server === "vllm" ? (spec.gpuMemoryUtilization ?? vllmDefaultGpuMemoryUtilization) : llamaServerMemoryFraction;
  const budgetBytes = gpus[gpu].memoryBytes * fraction;
  const totalBytes = weightsBytes + kvBytes + overheadBytes;
  return { weightsBytes, kvBytes, overheadBytes, totalBytes, budgetBytes, headroomBytes: budgetBytes - totalBytes, fits: totalBytes <= budgetBytes };
}

/** Whether several models' weights + overheads fit one GPU together (no KV): if not, sharing means swapping. */
export function coResident(server: ServerKind, modelKeys: readonly string[], gpu: GpuModel): boolean {
  const fraction = server === "vllm" ? vllmDefaultGpuMemoryUtilization : llamaServerMemoryFraction;
  const total = modelKeys.reduce((s, k) => s + artifactFor(server, k).weightsBytes + runtimeOverheadBytes[server].bytes, 0);
  return total <= gpus[gpu].memoryBytes * fraction;
}

/**
 * What each tier runs locally. single-box: the 8B on the box's one L4 (the single box's
 * llama-server today). tier-50: 8B on GPU 0 and 32B on GPU 1 of a g2-standard-24. tier-100:
 * vLLM on A100 40 GB nodes, one model per GPU.
 */
const evenSplit = "assumption: half of the local tokens need the 32B model (plans, reviews), half the 8B (chat, tools); no measured split yet";

export const tierInference: Record<string, TierInferencePlan> = {
  "single-box": {
    tier: "single-box",
    server: "llama-server",
    gpu: "nvidia-l4",
    // The single box's llama-server today: -c 8192 shared by --parallel 4 (2,048 tokens a slot).
    servers: [{ server: "llama-server", modelKey: "llama-3.1-8b-instruct", contextLength: 2048, parallel: 4, gpuIndex: 0, port: 8080 }],
    shares: [{ modelKey: "llama-3.1-8b-instruct", share: 1 }],
    shareReason: "one local model on the single box",
  },
  "tier-50": {
    tier: "tier-50",
    server: "llama-server",
    gpu: "nvidia-l4",
    servers: [
      { server: "llama-server", modelKey: "llama-3.1-8b-instruct", contextLength: 8192, parallel: 4, gpuIndex: 0, port: 8080 },
      { server: "llama-server", modelKey: "qwen3-32b", contextLength: 3072, parallel: 2, gpuIndex: 1, port: 8081 },
    ],
    shares: [
      { modelKey: "llama-3.1-8b-instruct", share: 0.5 },
      { modelKey: "qwen3-32b", share: 0.5 },
    ],
    shareReason: evenSplit,
  },
  "tier-100": {
    tier: "tier-100",
    server: "vllm",
    gpu: "nvidia-a100-40gb",
    servers: [
      { server: "vllm", modelKey: "llama-3.1-8b-instruct", contextLength: 8192, parallel: 16, gpuIndex: 0, port: 8000, gpuMemoryUtilization: 0.9 },
      { server: "vllm", modelKey: "qwen3-32b", contextLength: 4096, parallel: 12, gpuIndex: 0, port: 8000, gpuMemoryUtilization: 0.9 },
    ],
    shares: [
      { modelKey: "llama-3.1-8b-instruct", share: 0.5 },
      { modelKey: "qwen3-32b", share: 0.5 },
    ],
    shareReason: evenSplit,
  },
};
