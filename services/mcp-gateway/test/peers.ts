/** Test/bench helpers: start replica and gateway processes and wait until they listen. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export interface Proc {
  child: ChildProcess;
  port: number;
  pid: number;
  url: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

function waitListening(child: ChildProcess, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${err}`)), 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out) ?? /"msg":"Server listening at http:\/\/[^:]+:(\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${err}`));
    });
  });
}

function wrap(child: ChildProcess, port: number, path: string): Proc {
  return {
    child,
    port,
    pid: child.pid ?? 0,
    url: `http://127.0.0.1:${port}${path}`,
    kill: (signal: NodeJS.Signals = "SIGTERM") =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill(signal);
      }),
  };
}

export async function startReplica(namespace: string, opts: { modern?: boolean; json?: boolean; port?: number; env?: Record<string, string> } = {}): Promise<Proc> {
  const script = here(opts.modern ? "./modern-replica.ts" : "./replica.ts");
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, NAMESPACE: namespace, PORT: String(opts.port ?? 0), REPLICA_JSON: opts.json ? "1" : "0", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const port = await waitListening(child, `replica ${namespace}`);
  return wrap(child, port, "/mcp");
}

export async function startGateway(env: Record<string, string>, extraArgs: string[] = []): Promise<Proc> {
  const child = spawn(process.execPath, [...extraArgs, "--import", "tsx", here("../src/server.ts")], {
    env: { ...process.env, HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const port = await waitListening(child, "gateway");
  return wrap(child, port, "");
}
