import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join, resolve } from "node:path";
import { intOption, parseCommandArgs, UsageError } from "./args.js";
import type { SecretName } from "../catalog/secrets.js";
import { plainEnv, secretEnv } from "../catalog/service-env.js";
import { services, serviceNames, type ServiceName } from "../catalog/services.js";

// The kit is an ES module; this CommonJS CLI loads it once, at the start of runLocal.
let freePort: () => Promise<number>;
let portOpen: (host: string, port: number) => Promise<boolean>;
let waitFor: (predicate: () => boolean | Promise<boolean>, opts: { timeoutMs?: number; intervalMs?: number; what?: string }) => Promise<void>;

/**
 * `npm run local`: the single-box tier on this machine. Starts the catalogue's services as
 * processes (SQLite under ./.data, NATS when nats-server is on PATH, a demo MCP shard for the
 * gateway), issues a local agent token, prints the URLs and stops everything on Ctrl-C.
 */
const root = resolve(__dirname, "..");

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

export interface LocalContext {
  dataDir: string;
  natsUrl?: string;
  secrets: Record<string, string>;
  shardsJson: string;
}

/**
 * The environment each service gets locally, derived from the service catalogue the way the boot
 * units and the Deployments derive theirs (catalog/service-env.ts); secret keys get the local
 * values (SQLite files under the data directory, generated secrets). Keys without a local value
 * (LLM_API_KEY: llama-server needs none) stay unset.
 */
export function localEnv(name: ServiceName, ctx: LocalContext): Record<string, string> {
  const sqlite: Partial<Record<SecretName, string>> = {
    "task-queue-database-url": `sqlite:${join(ctx.dataDir, "task-queue.db")}`,
    "brain-database-url": `sqlite:${join(ctx.dataDir, "brain.db")}`,
  };
  const wiring = { host: "127.0.0.1", natsUrl: ctx.natsUrl, llmBaseUrl: "http://127.0.0.1:8080/v1", gatewayShards: ctx.shardsJson, whatsappPhoneNumberId: "local-phone-number-id" };
  return { ...plainEnv(name, wiring), ...secretEnv(name, (secret, key) => sqlite[secret] ?? ctx.secrets[key]) };
}

/** Local secrets: generated once into .data/local-secrets.json (mode 600); the caller's environment overrides. */
export function localSecrets(dataDir: string): Record<string, string> {
  const file = join(dataDir, "local-secrets.json");
  const made: Record<string, string> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  const want: Record<string, () => string> = {
    WHATSAPP_APP_SECRET: () => randomBytes(16).toString("hex"),
    WHATSAPP_VERIFY_TOKEN: () => randomBytes(12).toString("hex"),
    WHATSAPP_ACCESS_TOKEN: () => "local-no-cloud-api-token",
    STRIPE_SECRET_KEY: () => "sk_test_local_no_stripe",
    STRIPE_WEBHOOK_SECRET: () => `whsec_${randomBytes(24).toString("base64url")}`,
    BRAIN_ADMIN_TOKEN: () => randomBytes(24).toString("base64url"),
    GATEWAY_UPSTREAM_TOKEN: () => randomBytes(24).toString("base64url"),
  };
  let changed = false;
  for (const [k, gen] of Object.entries(want)) {
    if (!made[k]) {
      made[k] = gen();
      changed = true;
    }
  }
  if (changed) writeFileSync(file, JSON.stringify(made, null, 2) + "\n", { mode: 0o600 });
  const out: Record<string, string> = {};
  for (const k of Object.keys(want)) out[k] = process.env[k] || (made[k] as string);
  return out;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });
}

/** Waits with the kit's waitFor; a process that exits meanwhile fails at once, naming its log. */
function alive(proc: Proc): void {
  if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with code ${proc.child.exitCode}; see ${proc.log}`);
}

/** Loads the kit (an ES module) into this CommonJS module; runLocal and the exported helpers call it first. */
async function loadKit(): Promise<void> {
  ({ freePort, portOpen, waitFor } = await import("@tierstack/common"));
}

/**
 * The processes of one local run: each started with its output appended to <dataDir>/logs/<name>.log,
 * stopped in reverse order (SIGTERM, SIGKILL after 10 s). `npm run local` and the live migration
 * test (migrate/live.test.ts) both run the services through this.
 */
export class LocalProcesses {
  readonly procs: Proc[] = [];
  stopping = false;

  constructor(readonly dataDir: string) {
    mkdirSync(join(dataDir, "logs"), { recursive: true });
  }

  start(name: string, cmd: string, args: string[], env: Record<string, string>): Proc {
    const log = join(this.dataDir, "logs", `${name}.log`);
    const out = createWriteStream(log, { flags: "a" });
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    const p = { name, child, log };
    this.procs.push(p);
    return p;
  }

  /** SIGTERM one process and wait for it to exit (SIGKILL after 10 s). */
  async stop(p: Proc): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    const exited = new Promise((r) => p.child.once("exit", r));
    p.child.kill("SIGTERM");
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const p of [...this.procs].reverse()) await this.stop(p);
  }
}

/**
 * One catalogue service as a local process with its local environment (`env` overrides it, e.g.
 * another PORT or DATABASE_URL), ready when its readiness path answers 200.
 */
export async function startService(run: LocalProcesses, name: ServiceName, ctx: LocalContext, opts: { env?: Record<string, string>; label?: string; readyTimeoutMs?: number } = {}): Promise<Proc & { url: string }> {
  await loadKit();
  const spec = services[name];
  const env = { ...localEnv(name, ctx), ...opts.env };
  const p = run.start(opts.label ?? name, process.execPath, ["--import", "tsx", spec.localEntry], env);
  const url = `http://127.0.0.1:${env.PORT ?? spec.port}`;
  await waitReady(`${url}${spec.readyPath}`, p, opts.readyTimeoutMs ?? 60_000);
  return { ...p, url };
}

async function waitReady(url: string, proc: Proc, timeoutMs: number): Promise<void> {
  const answers = async () => {
    alive(proc);
    return fetch(url).then((r) => r.ok, () => false);
  };
  await waitFor(answers, { timeoutMs, intervalMs: 200, what: `${proc.name} to be ready at ${url} (see ${proc.log})` });
}

async function waitTcp(port: number, proc: Proc, timeoutMs: number): Promise<void> {
  await waitFor(async () => (alive(proc), portOpen("127.0.0.1", port)), { timeoutMs, intervalMs: 100, what: `${proc.name} to open port ${port} (see ${proc.log})` });
}

/**
 * Dedicated-plan learners get their own gVisor sandbox locally when runsc can run (Debian's
 * `runsc`, as root), as on tier-100 they get an agent-sandbox; BRAIN_SANDBOX_RUNTIME set in the
 * caller's environment wins (e.g. `none`).
 */
function localSandboxEnv(dataDir: string): Record<string, string> {
  if (process.env.BRAIN_SANDBOX_RUNTIME) return {};
  const runsc = process.getuid?.() === 0 && spawnSync("runsc", ["--version"], { stdio: "ignore" }).status === 0;
  return runsc ? { BRAIN_SANDBOX_RUNTIME: "gvisor", BRAIN_SANDBOX_DIR: join(dataDir, "brain-sandboxes") } : {};
}

export async function runLocal(argv: string[]): Promise<number> {
  await loadKit();
  let values: { data?: string; "ready-timeout"?: string };
  let readyTimeout: number;
  try {
    ({ values } = parseCommandArgs("local", "tierstack local [--data DIR] [--ready-timeout SECONDS]", argv, { data: { type: "string" }, "ready-timeout": { type: "string" } }));
    readyTimeout = intOption("local", "ready-timeout", values["ready-timeout"], 60, 1) * 1000;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  const dataDir = resolve(values.data ?? join(root, ".data"));
  const run = new LocalProcesses(dataDir);

  for (const name of serviceNames) {
    if (!(await portFree(services[name].port))) {
      process.stderr.write(`local: port ${services[name].port} (${name}) is in use: stop whatever holds it, or the earlier npm run local\n`);
      return 1;
    }
  }

  const start = run.start.bind(run);
  const stopAll = () => run.stopAll();

  try {
    const secrets = localSecrets(dataDir);
    let natsUrl: string | undefined;
    if (spawnSync("sh", ["-c", "command -v nats-server"]).status === 0) {
      const port = (await portFree(4222)) ? 4222 : await freePort();
      mkdirSync(join(dataDir, "nats"), { recursive: true });
      const nats = start("nats", "nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dataDir, "nats"), "-m", "0"], {});
      natsUrl = `nats://127.0.0.1:${port}`;
      await waitTcp(port, nats, readyTimeout);
    } else {
      process.stderr.write("local: nats-server is not on PATH: task events stay in the outbox\n");
    }

    const shardPort = await freePort();
    const shard = start("demo-mcp-shard", process.execPath, ["--import", "tsx", "services/mcp-gateway/test/demo-server.ts"], { PORT: String(shardPort), NAMESPACE: "dev-tools" });
    await waitTcp(shardPort, shard, readyTimeout);
    const ctx: LocalContext = { dataDir, natsUrl, secrets, shardsJson: JSON.stringify({ "dev-tools": [`http://127.0.0.1:${shardPort}/mcp`] }) };

    const sandbox = localSandboxEnv(dataDir);
    for (const name of serviceNames) await startService(run, name, ctx, { readyTimeoutMs: readyTimeout, ...(name === "brain" ? { env: sandbox } : {}) });

    const { runToken } = await import("./token.js");
    let token = "";
    await runToken(["issue", "local-agent", "--label", "npm run local", "--db", `sqlite:${join(dataDir, "task-queue.db")}`], (l) => (token = l));

    const lines = [
      "tierstack single-box tier running locally (Ctrl-C stops it)",
      ...serviceNames.map((n) => `  ${n.padEnd(12)} http://127.0.0.1:${services[n].port}   (${services[n].description})`),
      `  nats         ${natsUrl ?? "not started"}`,
      `  sandboxes    ${sandbox.BRAIN_SANDBOX_RUNTIME === "gvisor" ? `gVisor (runsc), one per dedicated-plan learner, under ${sandbox.BRAIN_SANDBOX_DIR}` : `none (${process.env.BRAIN_SANDBOX_RUNTIME ? `BRAIN_SANDBOX_RUNTIME=${process.env.BRAIN_SANDBOX_RUNTIME}` : "runsc needs root and Debian's runsc package"}): dedicated-plan learners answered shared`}`,
      `  demo shard   http://127.0.0.1:${shardPort}/mcp (namespace "dev-tools": http://127.0.0.1:${services["mcp-gateway"].port}/mcp/dev-tools)`,
      `agent token (local-agent): ${token}`,
      `secrets: ${join(dataDir, "local-secrets.json")}   logs: ${join(dataDir, "logs")}`,
      `try: curl -H "authorization: Bearer ${token}" -H "content-type: application/json" \\\n       -d '{"queue":"demo","payload":{"hello":"world"}}' http://127.0.0.1:${services["task-queue"].port}/v1/tasks`,
    ];
    console.log(lines.join("\n"));
  } catch (err) {
    process.stderr.write(`local: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    return 1;
  }

  return new Promise<number>((resolveExit) => {
    const onSignal = async () => {
      if (run.stopping) return;
      console.log("stopping…");
      await stopAll();
      console.log("stopped");
      resolveExit(0);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    for (const p of run.procs) {
      p.child.once("exit", async (code, signal) => {
        if (run.stopping) return;
        process.stderr.write(`local: ${p.name} exited (${signal ?? code}); stopping the rest. See ${p.log}\n`);
        await stopAll();
        resolveExit(1);
      });
    }
  });
}
