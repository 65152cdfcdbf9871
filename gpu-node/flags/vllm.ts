/**
 * vLLM OpenAI-compatible server options the platform may render: engine options from
 * `vllm/engine/arg_utils.py` (`EngineArgs.add_cli_args` / `AsyncEngineArgs.add_cli_args`) and
 * frontend options from `vllm/entrypoints/openai/cli_args.py`. `render` refuses anything else.
 *
 * Provenance, stated plainly: the copies the author could read were `arg_utils.py` at commit
 * 001999d2f360c2c5da23a916510c273b1a73d06c (v0.7 line: explicit `parser.add_argument` calls)
 * and `cli_args.py` at commit 005223338608bc94fd165a4f976c102a57bd1fc4 (a later master, where
 * the frontend options are dataclass fields turned into `--kebab-case` flags). Only options
 * present with the same spelling and arity in both, and in the v0.8 usage synopsis at
 * docs.vllm.ai/en/v0.8.5/serving/engine_args.html, are listed. Re-read the files at the tag
 * whenever `pinnedTag` moves; gpu-node/flags/flags.test.ts makes a tag change without a table
 * change fail. v0.8.5 is the pin because Qwen3 (the 32B model) needs vLLM ≥ 0.8.4.
 */
import type { FlagTable } from "../types.js";

export const vllmFlags: FlagTable = {
  server: "vllm",
  pinnedTag: "v0.8.5",
  imageRepository: "vllm/vllm-openai",
  sourceAtTag: [
    "https://github.com/vllm-project/vllm/blob/v0.8.5/vllm/engine/arg_utils.py",
    "https://github.com/vllm-project/vllm/blob/v0.8.5/vllm/entrypoints/openai/cli_args.py",
  ],
  readFrom: {
    urls: [
      "https://github.com/vllm-project/vllm/blob/001999d2f360c2c5da23a916510c273b1a73d06c/vllm/engine/arg_utils.py",
      "https://github.com/vllm-project/vllm/blob/005223338608bc94fd165a4f976c102a57bd1fc4/vllm/entrypoints/openai/cli_args.py",
      "https://docs.vllm.ai/en/v0.8.5/serving/engine_args.html",
    ],
    note: "engine options read at a v0.7-line commit, frontend options at a later master; only options common to both and to the v0.8.5 usage synopsis are listed",
  },
  flags: [
    // Engine (arg_utils.py)
    { names: ["--model"], takesValue: true, description: "Name or path of the huggingface model to use" },
    { names: ["--tokenizer"], takesValue: true, description: "Name or path of the huggingface tokenizer to use" },
    { names: ["--revision"], takesValue: true, description: "The specific model version to use (branch, tag or commit id)" },
    { names: ["--trust-remote-code"], takesValue: false, description: "Trust remote code from huggingface" },
    { names: ["--download-dir"], takesValue: true, description: "Directory to download and load the weights" },
    { names: ["--load-format"], takesValue: true, description: "The format of the model weights to load" },
    { names: ["--dtype"], takesValue: true, description: "Data type for model weights and activations" },
    { names: ["--kv-cache-dtype"], takesValue: true, description: "Data type for kv cache storage (auto = model data type)" },
    { names: ["--max-model-len"], takesValue: true, description: "Model context length" },
    { names: ["--pipeline-parallel-size", "-pp"], takesValue: true, description: "Number of pipeline stages" },
    { names: ["--tensor-parallel-size", "-tp"], takesValue: true, description: "Number of tensor parallel replicas" },
    { names: ["--block-size"], takesValue: true, description: "Token block size for contiguous chunks of tokens" },
    { names: ["--enable-prefix-caching"], takesValue: false, description: "Enables automatic prefix caching" },
    { names: ["--no-enable-prefix-caching"], takesValue: false, description: "Disables automatic prefix caching" },
    { names: ["--seed"], takesValue: true, description: "Random seed for operations" },
    { names: ["--gpu-memory-utilization"], takesValue: true, description: "The fraction of GPU memory to be used for the model executor (default 0.9)" },
    { names: ["--max-num-batched-tokens"], takesValue: true, description: "Maximum number of batched tokens per iteration" },
    { names: ["--max-num-seqs"], takesValue: true, description: "Maximum number of sequences per iteration" },
    { names: ["--max-logprobs"], takesValue: true, description: "Max number of log probs to return" },
    { names: ["--disable-log-stats"], takesValue: false, description: "Disable logging statistics" },
    { names: ["--quantization", "-q"], takesValue: true, description: "Method used to quantize the weights" },
    { names: ["--enforce-eager"], takesValue: false, description: "Always use eager-mode PyTorch" },
    { names: ["--served-model-name"], takesValue: true, description: "The model name(s) used in the API" },
    { names: ["--generation-config"], takesValue: true, description: "The folder path to the generation config ('auto' = from the model path)" },
    { names: ["--disable-log-requests"], takesValue: false, description: "Disable logging requests" },
    // Frontend (cli_args.py)
    { names: ["--host"], takesValue: true, description: "Host name" },
    { names: ["--port"], takesValue: true, description: "Port number" },
    { names: ["--uvicorn-log-level"], takesValue: true, description: "Log level for uvicorn" },
    { names: ["--disable-uvicorn-access-log"], takesValue: false, description: "Disable uvicorn access log" },
    { names: ["--allow-credentials"], takesValue: false, description: "Allow credentials" },
    { names: ["--allowed-origins"], takesValue: true, description: "Allowed origins" },
    { names: ["--allowed-methods"], takesValue: true, description: "Allowed methods" },
    { names: ["--allowed-headers"], takesValue: true, description: "Allowed headers" },
    { names: ["--api-key"], takesValue: true, description: "If provided, the server will require this key to be presented in the header" },
    { names: ["--chat-template"], takesValue: true, description: "The file path to the chat template, or the template in single-line form" },
    { names: ["--response-role"], takesValue: true, description: "The role name to return if request.add_generation_prompt=true" },
    { names: ["--ssl-keyfile"], takesValue: true, description: "The file path to the SSL key file" },
    { names: ["--ssl-certfile"], takesValue: true, description: "The file path to the SSL cert file" },
    { names: ["--root-path"], takesValue: true, description: "FastAPI root_path when app is behind a path based routing proxy" },
    { names: ["--enable-request-id-headers"], takesValue: false, description: "API server will add X-Request-Id header to responses" },
    { names: ["--enable-auto-tool-choice"], takesValue: false, description: "Enable auto tool choice for supported models" },
    { names: ["--tool-call-parser"], takesValue: true, description: "Select the tool call parser depending on the model" },
    { names: ["--max-log-len"], takesValue: true, description: "Max number of prompt characters or prompt ID numbers being printed in log" },
  ],
};
