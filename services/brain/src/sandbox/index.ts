/**
 * The brain's placement from its environment: BRAIN_SANDBOX_RUNTIME picks where dedicated
 * learners run (ADR 0037).
 *   none (default)  every learner shared, whatever the plan (sharedPlacement)
 *   gvisor          one runsc sandbox per learner on this host (`npm run local`, the tests);
 *                   BRAIN_SANDBOX_DIR holds the learners' directories and runsc's state
 *   kubernetes      SandboxClaims on BRAIN_SANDBOX_WARM_POOL in BRAIN_SANDBOX_NAMESPACE (tier-100),
 *                   the pod's learner runtime on BRAIN_SANDBOX_PORT, the learners' files kept
 *                   between sandboxes in BRAIN_SANDBOX_VAULT_DIR when given (one replica), else in
 *                   the brain's PostgreSQL (DATABASE_URL postgres://…, pg-vault.ts: every replica
 *                   sees them); the cluster from the in-cluster service account or KUBECONFIG
 * BRAIN_SANDBOX_IDLE_MS releases a sandbox after that long without a message (default 10 min).
 */
import { join } from "node:path";
import type { FastifyBaseLogger } from "fastify";
import { ConfigError, EnvReader } from "@tierstack/common";
import type { LlmClient } from "../llm.js";
import { dedicatedPlacement, sharedPlacement, type Placement } from "../placement.js";
import { GvisorRuntime, runscAvailable } from "./gvisor.js";
import { directoryVault, KubernetesRuntime, type FileVault } from "./kubernetes.js";
import { openPgVault } from "./pg-vault.js";
import type { SandboxRuntime } from "./runtime.js";

export { GvisorRuntime, runscAvailable } from "./gvisor.js";
export { directoryVault, KubernetesRuntime, type FileVault } from "./kubernetes.js";
export { SandboxGone, type AskRequest, type SandboxInfo, type SandboxRuntime } from "./runtime.js";

export type ClosablePlacement = Placement & { close(): Promise<void>; runtime?: SandboxRuntime };

export const sandboxRuntimes = ["none", "gvisor", "kubernetes"] as const;

export async function openPlacement(env: Record<string, string | undefined>, llm: LlmClient, log?: FastifyBaseLogger): Promise<ClosablePlacement> {
  const r = new EnvReader(env);
  const kind = r.str("BRAIN_SANDBOX_RUNTIME", { default: "none" });
  const idleMs = r.int("BRAIN_SANDBOX_IDLE_MS", { default: 10 * 60_000, min: 1_000 });
  if (!(sandboxRuntimes as readonly string[]).includes(kind)) r.problem(`BRAIN_SANDBOX_RUNTIME=${JSON.stringify(kind)}: expected one of ${sandboxRuntimes.join(", ")}`);
  let runtime: SandboxRuntime | undefined;
  let closeVault = async (): Promise<void> => undefined;
  if (kind === "gvisor") {
    const dir = r.str("BRAIN_SANDBOX_DIR", { description: "a directory for the learners' sandboxes (BRAIN_SANDBOX_RUNTIME=gvisor)" });
    r.done();
    if (!runscAvailable()) throw new ConfigError(["BRAIN_SANDBOX_RUNTIME=gvisor: runsc is not installed or not runnable (it needs root)"]);
    runtime = new GvisorRuntime({ dataDir: join(dir, "learners"), stateDir: join(dir, "state"), onLog: (l) => log?.debug({ sandbox: l }, "runsc") });
  } else if (kind === "kubernetes") {
    const namespace = r.str("BRAIN_SANDBOX_NAMESPACE", { default: "learners" });
    const warmPool = r.str("BRAIN_SANDBOX_WARM_POOL", { default: "learner" });
    const port = r.int("BRAIN_SANDBOX_PORT", { default: 8888, min: 1, max: 65535 });
    const vaultDir = r.str("BRAIN_SANDBOX_VAULT_DIR", { required: false });
    const databaseUrl = r.str("DATABASE_URL", { required: false });
    const inPostgres = !vaultDir && databaseUrl !== undefined && /^postgres(ql)?:\/\//.test(databaseUrl);
    if (!vaultDir && !inPostgres) r.problem("BRAIN_SANDBOX_VAULT_DIR is required (BRAIN_SANDBOX_RUNTIME=kubernetes): a directory keeping the learners' files between sandboxes, or a postgres:// DATABASE_URL to keep them there");
    r.done();
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    let vault: FileVault;
    if (inPostgres) {
      const pgVault = await openPgVault(databaseUrl);
      closeVault = () => pgVault.close();
      vault = pgVault;
    } else {
      vault = directoryVault(vaultDir as string);
    }
    runtime = new KubernetesRuntime({ kubeConfig, namespace, warmPool, port, vault });
  } else {
    r.done();
  }
  if (!runtime) return { ...sharedPlacement(), close: async () => undefined };
  const placement = dedicatedPlacement({ runtime, llm, idleMs, log });
  // The sandboxes first (their last snapshots go to the vault), then the vault.
  const close = async () => {
    try {
      await placement.close();
    } finally {
      await closeVault();
    }
  };
  return { place: placement.place, close, runtime };
}
