/**
 * Test support for the sandbox runtimes: whether runsc can run here (under CI=true a missing
 * runsc fails the suite instead of skipping it), a gvisor runtime in a temp dir with a private
 * runsc --root, a kubernetes runtime against the in-test API server, and an LLM client that records what the sandboxes asked the brain for.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inCI } from "@tierstack/common/testing";
import type { LlmClient, LlmResult } from "../llm.js";
import { GvisorRuntime, runscAvailable } from "./gvisor.js";
import { startKubeApiServer, type KubeApiServer } from "./kube-apiserver.js";
import { directoryVault, KubernetesRuntime } from "./kubernetes.js";
import type { AskRequest, SandboxRuntime } from "./runtime.js";

/** True when runsc can start sandboxes; throws under CI=true when it cannot. */
export function requireRunsc(): boolean {
  const ok = runscAvailable();
  if (!ok && inCI) throw new Error("runsc (gVisor) is not installed or not runnable as root and CI=true: .ci/apt-packages installs it");
  if (!ok) console.warn("[test] runsc not available: skipping the gvisor suites");
  return ok;
}

/** What a contract test needs of one implementation. */
export interface RuntimeHarness {
  runtime: SandboxRuntime;
  /** Kill the learner's sandbox from outside, as a crash would. */
  crash(learnerId: string): Promise<void>;
  /** The sandboxes the backend still holds (runsc containers under the private --root; SandboxClaims in the API server). */
  held(): Promise<string[]>;
  close(): Promise<void>;
}

export function gvisorHarness(): RuntimeHarness & { runtime: GvisorRuntime; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "brain-gvisor-"));
  const runtime = new GvisorRuntime({ dataDir: join(dir, "learners"), stateDir: join(dir, "state") });
  return {
    runtime,
    dir,
    async crash(learnerId) {
      const s = runtime.status(learnerId);
      const st = s && runtime.state(s.name);
      if (!st?.pid) throw new Error(`no running sandbox for ${learnerId}`);
      process.kill(st.pid, "SIGKILL");
    },
    held: async () => runtime.containers(),
    async close() {
      await runtime.close();
      runtime.sweep();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function kubernetesHarness(opts: { readyTimeoutMs?: number } = {}): Promise<RuntimeHarness & { runtime: KubernetesRuntime; api: KubeApiServer }> {
  const dir = mkdtempSync(join(tmpdir(), "brain-kube-"));
  const api = await startKubeApiServer({ namespace: "learners", warmPools: ["learner"] });
  const runtime = new KubernetesRuntime({
    kubeConfig: api.kubeConfig(), namespace: api.namespace, warmPool: "learner", port: api.port,
    vault: directoryVault(join(dir, "vault")), pollMs: 20, readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
  });
  return {
    runtime,
    api,
    async crash(learnerId) {
      api.killPod(runtime.claimName(learnerId));
    },
    held: async () => api.claims().map((c) => c.sandbox ?? c.name),
    async close() {
      await runtime.close();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An LLM client that answers "answer: <last user message>" and records every call. */
export function recordingLlm(opts: { fail?: boolean; onCall?: (req: AskRequest) => Promise<void> | void } = {}): LlmClient & { calls: AskRequest[] } {
  const calls: AskRequest[] = [];
  return {
    calls,
    async complete(req): Promise<LlmResult> {
      calls.push(req);
      await opts.onCall?.(req);
      if (opts.fail) throw new Error("LLM down");
      const last = req.messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
      return { text: `answer: ${last}`, model: req.model, promptTokens: 10, completionTokens: 3, costUsd: 0.001 };
    },
  };
}
