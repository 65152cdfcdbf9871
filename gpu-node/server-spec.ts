/**
 * Inference server specs rendered to the exact command line, environment, port and health check
 * of the server they run. Every rendered option is checked against the server's checked-in flag
 * table (gpu-node/flags/), and the image tag against the table's pinned tag: a flag the table
 * does not have, or an image of another tag, throws one line.
 */
import { createHash } from "node:crypto";
import { llamaServerFlags } from "./flags/llama-server.js";
import { vllmFlags } from "./flags/vllm.js";
import { artifactFor, modelFor, vllmDefaultGpuMemoryUtilization } from "./models.js";
import type { FlagSpec, FlagTable, HealthCheck, InferenceServerSpec, RenderedServer, ServerKind } from "./types.js";

export const flagTables: Record<ServerKind, FlagTable> = { "llama-server": llamaServerFlags, vllm: vllmFlags };

/** Directory model files are cached in, inside the container (a volume on the host/pod). */
export const modelCacheDir = "/models";

/**
 * The servers' real health endpoints. llama-server answers 503 while it loads the model and
 * 200 `{"status": "ok"}` once ready; vLLM's OpenAI server only listens once the engine is up
 * and answers 200 with an empty body while the engine is healthy.
 */
export const healthChecks: Record<ServerKind, HealthCheck> = {
  "llama-server": {
    path: "/health",
    readyStatus: 200,
    notReadyStatuses: [503],
    readyBody: { status: "ok" },
    source: "https://github.com/ggml-org/llama.cpp/blob/145b6280d6aa1890e22457143dad0badb3fd6820/tools/server/README.md (GET /health)",
  },
  vllm: {
    path: "/health",
    readyStatus: 200,
    notReadyStatuses: [],
    source: "https://github.com/vllm-project/vllm/blob/v0.8.5/vllm/entrypoints/openai/api_server.py (GET /health: engine check_health, then 200)",
  },
};

/** The image tag a table's pinned tag corresponds to (llama.cpp publishes `server-cuda-bNNNN`). */
export function expectedImageTag(table: FlagTable): string {
  return table.server === "llama-server" ? `server-cuda-${table.pinnedTag}` : table.pinnedTag;
}

export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

const imagePattern = /^([a-z0-9][a-z0-9._\-/:]*?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/;

/** `repo[:tag][@sha256:<64 hex>]`, or undefined when it is not an image reference. */
export function parseImage(ref: string): ImageRef | undefined {
  const m = imagePattern.exec(ref);
  if (!m || !m[1] || m[1].includes("@")) return undefined;
  const out: ImageRef = { repository: m[1] };
  if (m[2] !== undefined) out.tag = m[2];
  if (m[3] !== undefined) out.digest = m[3];
  return out;
}

/** The default image of a server: the table's repository at its pinned tag. */
export function defaultImage(server: ServerKind): string {
  const table = flagTables[server];
  return `${table.imageRepository}:${expectedImageTag(table)}`;
}

/** sha256 of the table's options (names, arity, descriptions), order-independent. */
export function flagFingerprint(table: FlagTable): string {
  const canonical = [...table.flags]
    .map((f) => ({ names: [...f.names], takesValue: f.takesValue, description: f.description }))
    .sort((a, b) => (a.names[0] ?? "").localeCompare(b.names[0] ?? ""));
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex");
}

function flagIndex(table: FlagTable): Map<string, FlagSpec> {
  const byName = new Map<string, FlagSpec>();
  for (const f of table.flags) for (const n of f.names) byName.set(n, f);
  return byName;
}

/** Throws one line on the first argv word that is not an option of the table, or an option missing its value. */
export function validateArgs(table: FlagTable, args: readonly string[]): void {
  const byName = flagIndex(table);
  const where = `${table.server} ${table.pinnedTag}`;
  for (let i = 0; i < args.length; i++) {
    const word = args[i] ?? "";
    const flag = byName.get(word);
    if (!flag) {
      throw new Error(word.startsWith("-")
        ? `${where}: flag "${word}" is not in the flag table (gpu-node/flags/${table.server}.ts)`
        : `${where}: unexpected argument "${word}" (not the value of an option)`);
    }
    if (flag.takesValue) {
      if (i + 1 >= args.length) throw new Error(`${where}: flag "${word}" needs a value`);
      i++;
    }
  }
}

function checkSpec(spec: InferenceServerSpec): void {
  const bad = (what: string, value: unknown) => new Error(`${spec.server} ${spec.modelKey}: ${what} ${String(value)} is not valid`);
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) throw bad("port", spec.port);
  if (!Number.isInteger(spec.gpuIndex) || spec.gpuIndex < 0) throw bad("gpuIndex", spec.gpuIndex);
  if (!Number.isInteger(spec.contextLength) || spec.contextLength < 1) throw bad("contextLength", spec.contextLength);
  if (!Number.isInteger(spec.parallel) || spec.parallel < 1) throw bad("parallel", spec.parallel);
  if (spec.weights !== undefined) {
    const where = "path" in spec.weights ? spec.weights.path : spec.weights.hub;
    if (typeof where !== "string" || where === "" || /\s/.test(where)) throw bad("weights", JSON.stringify(spec.weights));
    if ("path" in spec.weights && !where.startsWith("/")) throw bad("weights path (must be absolute)", where);
  }
  const util = spec.gpuMemoryUtilization;
  if (util !== undefined && (spec.server !== "vllm" || !(util > 0 && util <= 1))) throw bad("gpuMemoryUtilization", util);
}

function imageChecks(table: FlagTable, image: string): string[] {
  const ref = parseImage(image);
  if (!ref) throw new Error(`${table.server}: "${image}" is not an image reference`);
  const tag = expectedImageTag(table);
  if (ref.repository !== table.imageRepository || ref.tag !== tag) {
    throw new Error(`${table.server}: image "${image}" is not ${table.imageRepository}:${tag}, the tag the flag table was written for`);
  }
  return ref.digest ? [] : [`image ${image} is pinned by tag only: no cited source gives its digest; set ${table.imageRepository}:${tag}@sha256:<digest> from the registry`];
}

/** The command line, environment, port and health check of one inference server. */
export function render(spec: InferenceServerSpec): RenderedServer {
  checkSpec(spec);
  const table = flagTables[spec.server];
  const warnings = imageChecks(table, spec.image);
  const model = modelFor(spec.modelKey);
  const artifact = artifactFor(spec.server, spec.modelKey);
  let args: string[];
  const env: Record<string, string> = { CUDA_VISIBLE_DEVICES: String(spec.gpuIndex) };
  if (spec.server === "llama-server") {
    const weights = spec.weights ?? { hub: artifact.ref };
    args = [
      "--host", spec.host,
      "--port", String(spec.port),
      ...("path" in weights ? ["-m", weights.path] : ["-hf", weights.hub]),
      "-a", model.key,
      // llama-server splits -c across its slots: contextLength tokens per slot.
      "-c", String(spec.contextLength * spec.parallel),
      "--parallel", String(spec.parallel),
      "-ngl", "99",
      "--metrics",
      "--no-webui",
    ];
    // -hf downloads into LLAMA_CACHE; a local file needs no cache.
    if (!("path" in weights)) env.LLAMA_CACHE = modelCacheDir;
  } else {
    const weights = spec.weights ?? { hub: artifact.ref };
    args = [
      "--model", "path" in weights ? weights.path : weights.hub,
      "--served-model-name", model.key,
      "--host", spec.host,
      "--port", String(spec.port),
      "--max-model-len", String(spec.contextLength),
      "--max-num-seqs", String(spec.parallel),
      "--gpu-memory-utilization", String(spec.gpuMemoryUtilization ?? vllmDefaultGpuMemoryUtilization),
      ...("path" in weights ? [] : ["--download-dir", modelCacheDir]),
      "--disable-log-requests",
    ];
    if (artifact.quantization === "awq") args.push("--quantization", "awq");
  }
  args.push(...(spec.extraArgs ?? []));
  validateArgs(table, args);
  return { image: spec.image, args, env, port: spec.port, health: healthChecks[spec.server], warnings };
}

export type HealthState = "ready" | "starting" | "unhealthy";

/** What an answer from the health endpoint means for a server of this kind. */
export function evaluateHealth(check: HealthCheck, status: number, body: string): HealthState {
  if (status === check.readyStatus) {
    if (!check.readyBody) return "ready";
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return "unhealthy";
    }
    if (typeof parsed !== "object" || parsed === null) return "unhealthy";
    const record = parsed as Record<string, unknown>;
    return Object.entries(check.readyBody).every(([k, v]) => record[k] === v) ? "ready" : "unhealthy";
  }
  return check.notReadyStatuses.includes(status) ? "starting" : "unhealthy";
}

/** GET the health endpoint once (loopback or cluster address); a refused connection counts as "starting". */
export async function probeHealth(baseUrl: string, check: HealthCheck, timeoutMs = 2000): Promise<HealthState> {
  try {
    const res = await fetch(new URL(check.path, baseUrl), { signal: AbortSignal.timeout(timeoutMs) });
    return evaluateHealth(check, res.status, await res.text());
  } catch {
    return "starting";
  }
}
