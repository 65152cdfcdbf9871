import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tierInference } from "./models.js";
import { defaultImage, evaluateHealth, flagTables, healthChecks, probeHealth, render, validateArgs } from "./server-spec.js";
import type { FlagTable, InferenceServerSpec } from "./types.js";

const DIGEST = "sha256:" + "ab".repeat(32);

function spec(over: Partial<InferenceServerSpec> = {}): InferenceServerSpec {
  return { server: "llama-server", image: defaultImage("llama-server"), modelKey: "llama-3.1-8b-instruct", contextLength: 2048, parallel: 4, gpuIndex: 0, host: "127.0.0.1", port: 8080, ...over };
}

/** Every dash word of argv is an option of the table (independent of render's own check). */
function flagsOf(table: FlagTable, args: readonly string[]): string[] {
  const byName = new Map(table.flags.flatMap((f) => f.names.map((n) => [n, f] as const)));
  const used: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const f = byName.get(args[i] ?? "");
    expect(f, `argv[${i}] = ${args[i]}`).toBeDefined();
    used.push(args[i] ?? "");
    if (f?.takesValue) i++;
  }
  return used;
}

describe("render: llama-server", () => {
  it("renders the single box's llama-server command line (-c shared by the slots) with the GPU pinned", () => {
    const out = render(spec());
    expect(out.args).toEqual([
      "--host", "127.0.0.1", "--port", "8080",
      "-hf", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M",
      "-a", "llama-3.1-8b-instruct",
      "-c", "8192", "--parallel", "4", "-ngl", "99", "--metrics", "--no-webui",
    ]);
    expect(out.env).toEqual({ CUDA_VISIBLE_DEVICES: "0", LLAMA_CACHE: "/models" });
    expect(out.port).toBe(8080);
    expect(out.image).toBe("ghcr.io/ggml-org/llama.cpp:server-cuda-b5517");
  });

  it("gives each tier-50 server its own GPU and port; every rendered flag is in the table", () => {
    const plan = tierInference["tier-50"];
    if (!plan) throw new Error("no tier-50 plan");
    const rendered = plan.servers.map((s) => render({ ...s, image: defaultImage(s.server), host: "0.0.0.0" }));
    expect(rendered.map((r) => r.env.CUDA_VISIBLE_DEVICES)).toEqual(["0", "1"]);
    expect(new Set(rendered.map((r) => r.port)).size).toBe(2);
    for (const r of rendered) expect(flagsOf(flagTables["llama-server"], r.args)).toContain("--parallel");
    // 32B: 2 slots × 3,072 tokens = -c 6144
    expect(rendered[1]?.args.slice(rendered[1].args.indexOf("-c"), rendered[1].args.indexOf("-c") + 2)).toEqual(["-c", String(2 * 3072)]);
  });

  it("serves a local weights file with -m (no download cache), or another hub reference with -hf", () => {
    const local = render(spec({ weights: { path: "/models/llama-3.1-8b-instruct/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf" } }));
    expect(local.args.slice(4, 6)).toEqual(["-m", "/models/llama-3.1-8b-instruct/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"]);
    expect(local.args).not.toContain("-hf");
    expect(local.env).toEqual({ CUDA_VISIBLE_DEVICES: "0" });
    flagsOf(flagTables["llama-server"], local.args);
    const hub = render(spec({ weights: { hub: "someone/Other-GGUF:Q5_K_M" } }));
    expect(hub.args.slice(4, 6)).toEqual(["-hf", "someone/Other-GGUF:Q5_K_M"]);
    expect(hub.env.LLAMA_CACHE).toBe("/models");
    expect(() => render(spec({ weights: { path: "relative/file.gguf" } }))).toThrow(/weights path \(must be absolute\) relative\/file\.gguf/);
    expect(() => render(spec({ weights: { hub: "two words" } }))).toThrow(/weights/);
  });

  it("refuses a flag that is not in the table, in one line", () => {
    expect(() => render(spec({ extraArgs: ["--flash-attn"] }))).toThrowError(/^llama-server b5517: flag "--flash-attn" is not in the flag table[^\n]*$/);
    expect(() => render(spec({ extraArgs: ["--totally-new"] }))).toThrow(/not in the flag table/);
  });

  it("accepts table flags as extra args and checks their values are present", () => {
    expect(render(spec({ extraArgs: ["--threads-http", "4", "--jinja"] })).args.slice(-3)).toEqual(["--threads-http", "4", "--jinja"]);
    expect(() => render(spec({ extraArgs: ["--threads-http"] }))).toThrow(/"--threads-http" needs a value/);
    expect(() => validateArgs(flagTables["llama-server"], ["--jinja", "stray"])).toThrow(/unexpected argument "stray"/);
  });

  it("refuses an image whose tag is not the table's pinned tag, or of another repository", () => {
    expect(() => render(spec({ image: "ghcr.io/ggml-org/llama.cpp:server-cuda-b9999" }))).toThrow(/not ghcr\.io\/ggml-org\/llama\.cpp:server-cuda-b5517/);
    expect(() => render(spec({ image: "example.com/llama.cpp:server-cuda-b5517" }))).toThrow(/the tag the flag table was written for/);
    expect(() => render(spec({ image: "not an image" }))).toThrow(/not an image reference/);
  });

  it("warns when the image is pinned by tag only, not when a digest is given", () => {
    expect(render(spec()).warnings).toEqual([expect.stringMatching(/pinned by tag only/)]);
    expect(render(spec({ image: `${defaultImage("llama-server")}@${DIGEST}` })).warnings).toEqual([]);
  });

  it("rejects impossible specs", () => {
    expect(() => render(spec({ port: 0 }))).toThrow(/port 0/);
    expect(() => render(spec({ gpuIndex: -1 }))).toThrow(/gpuIndex -1/);
    expect(() => render(spec({ parallel: 0 }))).toThrow(/parallel 0/);
    expect(() => render(spec({ gpuMemoryUtilization: 0.5 }))).toThrow(/gpuMemoryUtilization/);
    expect(() => render(spec({ modelKey: "gpt-9" }))).toThrow(/unknown model "gpt-9"/);
  });
});

describe("render: vLLM", () => {
  const plan = tierInference["tier-100"];
  if (!plan) throw new Error("no tier-100 plan");

  it("renders the OpenAI server for the 8B at BF16 and the 32B with AWQ, only with table flags", () => {
    const [small, large] = plan.servers.map((s) => render({ ...s, image: defaultImage("vllm"), host: "0.0.0.0" }));
    expect(small?.args).toEqual([
      "--model", "meta-llama/Llama-3.1-8B-Instruct", "--served-model-name", "llama-3.1-8b-instruct",
      "--host", "0.0.0.0", "--port", "8000", "--max-model-len", "8192", "--max-num-seqs", "16",
      "--gpu-memory-utilization", "0.9", "--download-dir", "/models", "--disable-log-requests",
    ]);
    expect(large?.args.slice(-2)).toEqual(["--quantization", "awq"]);
    expect(large?.args).toEqual(expect.arrayContaining(["--model", "Qwen/Qwen3-32B-AWQ", "--max-model-len", "4096"]));
    for (const r of [small, large]) {
      flagsOf(flagTables.vllm, r?.args ?? []);
      expect(r?.env).toEqual({ CUDA_VISIBLE_DEVICES: "0" });
      expect(r?.health.path).toBe("/health");
    }
  });

  it("loads a local directory without --download-dir", () => {
    const s = { ...plan.servers[0], image: defaultImage("vllm"), host: "0.0.0.0", weights: { path: "/models/llama-3.1-8b-instruct" } } as InferenceServerSpec;
    const r = render(s);
    expect(r.args.slice(0, 2)).toEqual(["--model", "/models/llama-3.1-8b-instruct"]);
    expect(r.args).not.toContain("--download-dir");
    flagsOf(flagTables.vllm, r.args);
  });

  it("refuses llama.cpp flags and other tags", () => {
    const s = { ...plan.servers[0], image: defaultImage("vllm"), host: "0.0.0.0" } as InferenceServerSpec;
    expect(() => render({ ...s, extraArgs: ["-ngl", "99"] })).toThrowError(/^vllm v0\.8\.5: flag "-ngl" is not in the flag table/);
    expect(() => render({ ...s, image: "vllm/vllm-openai:latest" })).toThrow(/not vllm\/vllm-openai:v0\.8\.5/);
  });
});

describe("health checks on the servers' real endpoints", () => {
  const llama = healthChecks["llama-server"];
  const vllm = healthChecks.vllm;

  it("llama-server: 503 while loading the model, 200 {\"status\": \"ok\"} when ready", () => {
    expect(llama.path).toBe("/health");
    expect(evaluateHealth(llama, 503, JSON.stringify({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }))).toBe("starting");
    expect(evaluateHealth(llama, 200, JSON.stringify({ status: "ok" }))).toBe("ready");
    expect(evaluateHealth(llama, 200, "not json")).toBe("unhealthy");
    expect(evaluateHealth(llama, 200, JSON.stringify({ status: "error" }))).toBe("unhealthy");
    expect(evaluateHealth(llama, 500, "")).toBe("unhealthy");
  });

  it("vLLM: 200 with an empty body is ready, anything else is not", () => {
    expect(vllm.path).toBe("/health");
    expect(evaluateHealth(vllm, 200, "")).toBe("ready");
    expect(evaluateHealth(vllm, 500, "")).toBe("unhealthy");
    expect(evaluateHealth(vllm, 503, "")).toBe("unhealthy");
  });

  describe("probeHealth over HTTP against a server answering like llama-server", () => {
    let server: Server;
    let base = "";
    let loading = true;
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url !== "/health") return void res.writeHead(404).end();
        if (loading) return void res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok" }));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it("reports starting, then ready once the model is loaded", async () => {
      expect(await probeHealth(base, llama)).toBe("starting");
      loading = false;
      expect(await probeHealth(base, llama)).toBe("ready");
    });

    it("reports starting when nothing listens yet (vLLM before the engine is up)", async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      const port = (probe.address() as AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      expect(await probeHealth(`http://127.0.0.1:${port}`, vllm)).toBe("starting");
    });
  });
});
