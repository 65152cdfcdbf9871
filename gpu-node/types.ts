/**
 * Types shared by the inference server specs, the model catalogue, the LiteLLM generator and the
 * capacity model. The Pulumi components' arguments live beside them (InferenceBoxArgs in
 * inference-box.ts, InferenceNodeArgs in inference-node.ts). Nothing here imports the tier
 * catalogue: callers pass what they read from it as plain arguments.
 */

/** The two inference servers the platform runs. */
export type ServerKind = "llama-server" | "vllm";

/** GPU models the platform's machine types carry (the machine catalogue's `GpuInfo.model`). */
export type GpuModel = "nvidia-l4" | "nvidia-a100-40gb" | "nvidia-a100-80gb" | "nvidia-h100-80gb";

/** One option a server accepts, as its argument definitions spell it. */
export interface FlagSpec {
  /** Every spelling the source accepts for this option, short forms first (e.g. `-c`, `--ctx-size`). */
  names: readonly string[];
  /** true when the option consumes the next argv word. */
  takesValue: boolean;
  /** One line, from the source's help text. */
  description: string;
}

/** A checked-in flag table: the options of one server at one pinned image tag. */
export interface FlagTable {
  server: ServerKind;
  /** The image tag the table is for; `render` refuses an image with any other tag. */
  pinnedTag: string;
  /** Image repository (without tag) the tag belongs to. */
  imageRepository: string;
  /** URLs of the argument definitions at `pinnedTag`. */
  sourceAtTag: readonly string[];
  /** What was actually read to write the table, and how it relates to `pinnedTag`. */
  readFrom: { urls: readonly string[]; note: string };
  flags: readonly FlagSpec[];
}

/** Where a number comes from: a published figure (URL), or a rule applied to other figures. */
export type Provenance =
  | { kind: "cited"; source: string; note?: string }
  | { kind: "derived"; rule: string; from: readonly string[] }
  | { kind: "assumption"; reason: string };

/**
 * What one inference server process runs: typed data that `render` turns into the exact
 * command line, environment, port and health check.
 */
export interface InferenceServerSpec {
  server: ServerKind;
  /** Image reference `repo:tag[@sha256:…]`; its tag must equal the flag table's `pinnedTag`. */
  image: string;
  /** Key into the model catalogue (`gpu-node/models.ts`). */
  modelKey: string;
  /**
   * Where the server loads the weights from. Default: the artifact's hub reference
   * (llama-server `-hf`, vLLM `--model <id>`). `hub` overrides the reference (the single box's
   * `tierstack:llamaModel`); `path` is a file or directory already on the host (llama-server
   * `-m`, vLLM `--model <dir>`), e.g. copied from the weights bucket and checksummed at boot.
   */
  weights?: { hub: string } | { path: string };
  /** Context length per request (tokens). llama-server gets `-c contextLength × parallel`. */
  contextLength: number;
  /** Parallel slots (llama-server `--parallel`) / max concurrent sequences (vLLM `--max-num-seqs`). */
  parallel: number;
  /** Index of the GPU on the host this server owns (CUDA_VISIBLE_DEVICES). */
  gpuIndex: number;
  /** Listen address inside the host or pod. */
  host: string;
  port: number;
  /** vLLM only: fraction of GPU memory vLLM may use (vLLM's default is 0.9). */
  gpuMemoryUtilization?: number;
  /** Extra options appended after the rendered ones; each flag must be in the table. */
  extraArgs?: readonly string[];
}

/** A health check on the server's real endpoint. */
export interface HealthCheck {
  path: string;
  /** The HTTP status a ready server answers. */
  readyStatus: number;
  /** Statuses that mean "up but not ready yet" (e.g. llama-server 503 while loading the model). */
  notReadyStatuses: readonly number[];
  /** When set, a ready answer's JSON body must contain these fields with these values. */
  readyBody?: Record<string, string>;
  /** Where the endpoint's behaviour is documented. */
  source: string;
}

export interface RenderedServer {
  image: string;
  /** Arguments after the image (the image's entrypoint is the server binary). */
  args: string[];
  env: Record<string, string>;
  port: number;
  health: HealthCheck;
  /** One-line warnings for `plan` (e.g. image pinned by tag only). */
  warnings: string[];
}

/** Per-model load split of a tier's local tokens. */
export interface LocalModelShare {
  modelKey: string;
  /** Fraction (0..1] of the tier's local tokens this model serves; shares sum to 1. */
  share: number;
}

/**
 * How a tier runs local inference: which server, which GPU type, which model on which GPU.
 * The catalogue says *whether* a tier has local inference and where; this says what runs.
 */
export interface TierInferencePlan {
  tier: string;
  server: ServerKind;
  gpu: GpuModel;
  /** One server process per entry, each owning one GPU. */
  servers: readonly Omit<InferenceServerSpec, "image" | "host">[];
  /** How the tier's local tokens split across the models (same keys as `servers`). */
  shares: readonly LocalModelShare[];
  /** Why this split (assumption, stated). */
  shareReason: string;
}
