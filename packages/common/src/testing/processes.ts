import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../net.js";
import { waitForPort } from "../wait.js";

/**
 * Private server instances for fault tests (stop, kill, restart) on their own ports in a temp
 * dir. Only processes started here are ever signalled, by their own pid.
 */

function pgBin(name: string): string {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    for (const v of readdirSync(root).sort().reverse()) {
      const p = join(root, v, "bin", name);
      if (existsSync(p)) return p;
    }
  }
  return name;
}

/** PostgreSQL refuses to run as root: run its tools as the postgres user when we are root. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
}

export interface PrivatePostgres {
  url: string;
  port: number;
  dir: string;
  /** pg_ctl stop -m <mode> (immediate = crash-like: no checkpoint, recovery on start). */
  stop(mode?: "smart" | "fast" | "immediate"): void;
  start(): Promise<void>;
  destroy(): void;
}

export async function startPrivatePostgres(opts: { settings?: Record<string, string | number> } = {}): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), "tierstack-pg-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) chownSync(dir, ...pgIds());
  const port = await freePort();
  const [cmd, args] = asPostgres(pgBin("initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const init = spawnSync(cmd, args, { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const settings = { listen_addresses: "127.0.0.1", port, unix_socket_directories: dir, max_connections: 300, fsync: "on", ...opts.settings };
  const o = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(" ");
  const ctl = (...a: string[]) => {
    const [c, args2] = asPostgres(pgBin("pg_ctl"), ["-D", data, ...a]);
    return spawnSync(c, args2, { encoding: "utf8" });
  };
  const start = async () => {
    const r = ctl("-o", o, "-l", join(dir, "log"), "-w", "-t", "60", "start");
    if (r.status !== 0) throw new Error(`pg_ctl start failed: ${r.stderr || r.stdout}`);
    await waitForPort(port, { what: "private postgres" });
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop: (mode = "fast") => void ctl("-m", mode, "-w", "stop"),
    start,
    destroy: () => {
      ctl("-m", "immediate", "-w", "stop");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function pgIds(): [number, number] {
  const r = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const g = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  return [Number(r.stdout.trim()), Number(g.stdout.trim())];
}

export interface PrivateServer {
  url: string;
  port: number;
  /** SIGTERM (or SIGKILL) the process we started, and wait for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again on the same port with the same data dir. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function privateProcess(name: string, build: (port: number, dir: string) => [string, string[]], scheme: string): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), `tierstack-${name}-`));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const [cmd, args] = build(port, dir);
    child = spawn(cmd, args, { stdio: "ignore" });
    child.once("error", () => undefined);
    await waitForPort(port, { what: `private ${name} on ${port}` });
  };
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await exited;
  };
  await start();
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    stop,
    start,
    destroy: async () => {
      await stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** nats-server with JetStream, its store in a temp dir (kept across stop/start). */
export function startPrivateNats(): Promise<PrivateServer> {
  return privateProcess("nats", (port, dir) => ["nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir]], "nats");
}

/** redis-server on its own port, nothing persisted. */
export function startPrivateRedis(): Promise<PrivateServer> {
  return privateProcess("redis", (port, dir) => ["redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir]], "redis");
}
