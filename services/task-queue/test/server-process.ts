import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "@tierstack/common/testing";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export interface ServerProcess {
  url: string;
  proc: ChildProcess;
  output: () => string;
  /** SIGTERM and wait for exit. */
  stop: () => Promise<void>;
}

/**
 * The real service as a child process (`node [nodeArgs] --import tsx src/server.ts`), ready when
 * /readyz says so. Used by the reliability tests and by bench/queue.
 */
export async function startServer(env: Record<string, string>, nodeArgs: string[] = []): Promise<ServerProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...nodeArgs, "--import", "tsx", "services/task-queue/src/server.ts"], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: "warn", HOST: "127.0.0.1", PORT: String(port), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout?.on("data", (d) => (out += d));
  proc.stderr?.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`task-queue exited ${proc.exitCode}: ${out}`);
    try {
      return (await fetch(`${url}/readyz`)).ok;
    } catch {
      return false;
    }
  }, { what: "task-queue /readyz", timeoutMs: 30_000, intervalMs: 100 });
  return {
    url,
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

