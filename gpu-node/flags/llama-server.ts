/**
 * llama.cpp `llama-server` options the platform may render, from the argument definitions in
 * `common/arg.cpp` (each `add_opt(common_arg({names…}, "VALUE_HINT", help, …))`: a value hint
 * means the option consumes the next argv word). Only long-standing server options are listed;
 * `render` refuses any option not here.
 *
 * Provenance, stated plainly: the only copy of `common/arg.cpp` the author could read was the
 * upstream file at commit 145b6280d6aa1890e22457143dad0badb3fd6820 (a master commit after
 * b5517: it already has the router-mode `--models-*` options). Options that changed between
 * b5517 and that commit are left out, e.g. `-fa/--flash-attn`: a bare switch in the b5xxx builds
 * (ggml-org/llama.cpp#14201 runs b5614 with a bare `--flash-attn`) but `-fa on|off|auto` at the
 * read commit (ggml-org/llama.cpp#17384 runs b7100 with `-fa on`). Re-read the file at the tag
 * whenever `pinnedTag` moves; gpu-node/flags/flags.test.ts makes a tag change without a table
 * change fail.
 */
import type { FlagTable } from "../types.js";

const ARG_CPP_AT_READ_COMMIT =
  "https://github.com/ggml-org/llama.cpp/blob/145b6280d6aa1890e22457143dad0badb3fd6820/common/arg.cpp";

export const llamaServerFlags: FlagTable = {
  server: "llama-server",
  pinnedTag: "b5517",
  imageRepository: "ghcr.io/ggml-org/llama.cpp",
  sourceAtTag: ["https://github.com/ggml-org/llama.cpp/blob/b5517/common/arg.cpp"],
  readFrom: {
    urls: [ARG_CPP_AT_READ_COMMIT, "https://github.com/ggml-org/llama.cpp/issues/14201", "https://github.com/ggml-org/llama.cpp/issues/17384"],
    note: "definitions read at commit 145b6280 (later than b5517); only options with the same spelling and arity in the b5xxx builds are listed; -fa is excluded because its arity changed",
  },
  flags: [
    { names: ["-h", "--help", "--usage"], takesValue: false, description: "print usage and exit" },
    { names: ["--version"], takesValue: false, description: "show version and build info" },
    { names: ["-t", "--threads"], takesValue: true, description: "number of CPU threads to use during generation" },
    { names: ["-tb", "--threads-batch"], takesValue: true, description: "number of threads to use during batch and prompt processing" },
    { names: ["-c", "--ctx-size"], takesValue: true, description: "size of the prompt context (0 = loaded from model)" },
    { names: ["-n", "--predict", "--n-predict"], takesValue: true, description: "number of tokens to predict (-1 = infinity)" },
    { names: ["-b", "--batch-size"], takesValue: true, description: "logical maximum batch size" },
    { names: ["-ub", "--ubatch-size"], takesValue: true, description: "physical maximum batch size" },
    { names: ["--keep"], takesValue: true, description: "number of tokens to keep from the initial prompt (-1 = all)" },
    { names: ["-np", "--parallel"], takesValue: true, description: "number of parallel sequences to decode" },
    { names: ["-cb", "--cont-batching"], takesValue: false, description: "enable continuous batching (a.k.a dynamic batching)" },
    { names: ["-nocb", "--no-cont-batching"], takesValue: false, description: "disable continuous batching" },
    { names: ["-ctk", "--cache-type-k"], takesValue: true, description: "KV cache data type for K" },
    { names: ["-ctv", "--cache-type-v"], takesValue: true, description: "KV cache data type for V" },
    { names: ["--mlock"], takesValue: false, description: "force system to keep model in RAM rather than swapping or compressing" },
    { names: ["--no-mmap"], takesValue: false, description: "do not memory-map the model" },
    { names: ["-dev", "--device"], takesValue: true, description: "comma-separated list of devices to use for offloading (none = don't offload)" },
    { names: ["-ngl", "--gpu-layers", "--n-gpu-layers"], takesValue: true, description: "max. number of layers to store in VRAM" },
    { names: ["-sm", "--split-mode"], takesValue: true, description: "how to split the model across multiple GPUs: none, layer or row" },
    { names: ["-ts", "--tensor-split"], takesValue: true, description: "fraction of the model to offload to each GPU, e.g. 3,1" },
    { names: ["-mg", "--main-gpu"], takesValue: true, description: "the GPU to use for the model (with split-mode = none)" },
    { names: ["-a", "--alias"], takesValue: true, description: "set alias for model name (to be used by REST API)" },
    { names: ["-m", "--model"], takesValue: true, description: "model path to load" },
    { names: ["-mu", "--model-url"], takesValue: true, description: "model download url" },
    { names: ["-hf", "-hfr", "--hf-repo"], takesValue: true, description: "Hugging Face model repository <user>/<model>[:quant]" },
    { names: ["-hff", "--hf-file"], takesValue: true, description: "Hugging Face model file; overrides the quant in --hf-repo" },
    { names: ["-hft", "--hf-token"], takesValue: true, description: "Hugging Face access token" },
    { names: ["--host"], takesValue: true, description: "ip address to listen" },
    { names: ["--port"], takesValue: true, description: "port to listen" },
    { names: ["--path"], takesValue: true, description: "path to serve static files from" },
    { names: ["--no-webui"], takesValue: false, description: "disable the Web UI" },
    { names: ["--embedding", "--embeddings"], takesValue: false, description: "restrict to only support embedding use case" },
    { names: ["--api-key"], takesValue: true, description: "API key to use for authentication" },
    { names: ["--api-key-file"], takesValue: true, description: "path to file containing API keys" },
    { names: ["-to", "--timeout"], takesValue: true, description: "server read/write timeout in seconds" },
    { names: ["--threads-http"], takesValue: true, description: "number of threads used to process HTTP requests" },
    { names: ["--cache-reuse"], takesValue: true, description: "min chunk size to attempt reusing from the cache via KV shifting" },
    { names: ["--metrics"], takesValue: false, description: "enable prometheus compatible metrics endpoint" },
    { names: ["--props"], takesValue: false, description: "enable changing global properties via POST /props" },
    { names: ["--slot-save-path"], takesValue: true, description: "path to save slot kv cache" },
    { names: ["--jinja"], takesValue: false, description: "use jinja template engine for chat" },
    { names: ["--reasoning-format"], takesValue: true, description: "controls whether thought tags are allowed and/or extracted from the response" },
    { names: ["--chat-template"], takesValue: true, description: "set custom jinja chat template" },
    { names: ["--chat-template-file"], takesValue: true, description: "set custom jinja chat template file" },
    { names: ["-sps", "--slot-prompt-similarity"], takesValue: true, description: "how much the prompt of a request must match the prompt of a slot to use that slot" },
    { names: ["--log-disable"], takesValue: false, description: "Log disable" },
    { names: ["--log-file"], takesValue: true, description: "Log to file" },
    { names: ["-v", "--verbose", "--log-verbose"], takesValue: false, description: "Set verbosity level to infinity" },
    { names: ["-lv", "--verbosity", "--log-verbosity"], takesValue: true, description: "Set the verbosity threshold" },
    { names: ["--log-prefix"], takesValue: false, description: "Enable prefix in log messages" },
    { names: ["--log-timestamps"], takesValue: false, description: "Enable timestamps in log messages" },
    { names: ["-s", "--seed"], takesValue: true, description: "RNG seed" },
    { names: ["--temp"], takesValue: true, description: "temperature" },
    { names: ["--top-k"], takesValue: true, description: "top-k sampling (0 = disabled)" },
    { names: ["--top-p"], takesValue: true, description: "top-p sampling (1.0 = disabled)" },
    { names: ["--min-p"], takesValue: true, description: "min-p sampling (0.0 = disabled)" },
  ],
};
