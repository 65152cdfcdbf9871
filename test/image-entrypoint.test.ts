/**
 * Each service runs exactly as services/Dockerfile's final stage runs it: the stage's file
 * layout under /app (its COPY lines; node_modules = the service's production closure from
 * package-lock.json, as `npm ci --omit=dev --workspace=…` installs it), its USER, ENV, WORKDIR
 * and CMD, read from the Dockerfile. No container engine runs here, so bubblewrap builds that
 * filesystem: a read-only root (the host's /usr, /etc and friends stand in for the base image's;
 * the /app layout is read-only bind mounts) with exactly catalog/services.ts's
 * serviceWritablePaths writable, as the tier-50 Deployment declares them (emptyDirs). The network
 * is shared (the service must reach PostgreSQL on 127.0.0.1:5432), nothing else.
 *
 * Checks: the service starts and answers /readyz 200 from a fresh schema; every file-system
 * write it attempts (traced with strace from the CMD's exec on: open with a write flag, mkdir,
 * unlink, rename, …) lands under a writable path; what appeared there is listed; SIGTERM stops
 * it with exit 0. A probe in the same sandbox shows the root really is read-only (EROFS).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, posix, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, freePort, freshSchema, PG_URL, waitFor } from "@tierstack/common/testing";
import { serviceNames, services, serviceWritablePaths, type ServiceName } from "../catalog/services.js";

const repo = resolve(__dirname, "..");

// ---------------------------------------------------------------- the Dockerfile, parsed

export interface FinalStage {
  workdir: string;
  uid: number;
  gid: number;
  env: Record<string, string>;
  cmd: string[];
  copies: { src: string; dest: string }[];
}

/** The build's install command and the final stage (after the last FROM) of a Dockerfile. */
export function parseDockerfile(text: string): { install: string; final: FinalStage } {
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const install = lines.find((l) => /^RUN .*npm ci /.test(l)) ?? "";
  const lastFrom = lines.map((l, i) => (/^FROM /i.test(l) ? i : -1)).filter((i) => i >= 0).pop() ?? -1;
  const final: FinalStage = { workdir: "/", uid: 0, gid: 0, env: {}, cmd: [], copies: [] };
  for (const l of lines.slice(lastFrom + 1)) {
    const [op = "", ...rest] = l.split(/\s+/);
    const arg = l.slice(op.length).trim();
    switch (op.toUpperCase()) {
      case "WORKDIR":
        final.workdir = arg;
        break;
      case "USER": {
        const m = /^(\d+)(?::(\d+))?$/.exec(arg);
        if (!m) throw new Error(`USER ${arg}: expected a numeric uid[:gid] (Kubernetes' runAsNonRoot cannot verify a name)`);
        final.uid = Number(m[1]);
        final.gid = Number(m[2] ?? m[1]);
        break;
      }
      case "ENV":
        for (const kv of rest) {
          const [k = "", v = ""] = kv.split("=");
          final.env[k] = v;
        }
        break;
      case "CMD":
        final.cmd = JSON.parse(arg) as string[];
        break;
      case "COPY": {
        const m = /^--from=deps\s+(\S+)\s+(\S+)$/.exec(arg);
        if (!m) throw new Error(`COPY ${arg}: the test only knows COPY --from=deps <src> <dest>`);
        final.copies.push({ src: m[1] as string, dest: m[2] as string });
        break;
      }
      case "ARG":
      case "STOPSIGNAL":
        break;
      default:
        throw new Error(`${op}: an instruction the entry-point test does not model; teach it or drop the instruction`);
    }
  }
  return { install, final };
}

// ---------------------------------------------------------------- the production closure

interface LockEntry {
  link?: boolean;
  resolved?: string;
  dev?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
type Lock = { packages: Record<string, LockEntry> };

const platformOk = (e: LockEntry) =>
  (!e.os || e.os.includes(process.platform)) && (!e.cpu || e.cpu.includes(process.arch));

/** Node's lookup of `dep` from the package at lockfile path `from` (node_modules up the tree). */
function resolveIn(lock: Lock, from: string, dep: string): string | undefined {
  let base = from;
  for (;;) {
    const cand = base ? `${base}/node_modules/${dep}` : `node_modules/${dep}`;
    if (lock.packages[cand]) return cand;
    if (!base) return undefined;
    base = base.includes("/") ? base.slice(0, base.lastIndexOf("/")) : "";
  }
}

/**
 * Lockfile paths a workspace needs at run time: its dependencies, optional ones for this
 * platform and required peers, transitively; links are followed to their workspace.
 */
export function productionClosure(lock: Lock, workspace: string): Set<string> {
  const out = new Set<string>();
  const visit = (path: string) => {
    if (out.has(path)) return;
    const e = lock.packages[path];
    if (!e) throw new Error(`${path} is not in package-lock.json`);
    out.add(path);
    if (e.link && e.resolved) return visit(e.resolved);
    const deps = [
      ...Object.keys(e.dependencies ?? {}).map((d) => ({ d, optional: false })),
      ...Object.keys(e.optionalDependencies ?? {}).map((d) => ({ d, optional: true })),
      ...Object.keys(e.peerDependencies ?? {}).map((d) => ({ d, optional: e.peerDependenciesMeta?.[d]?.optional === true })),
    ];
    for (const { d, optional } of deps) {
      const at = resolveIn(lock, path, d);
      if (!at) {
        if (optional) continue;
        throw new Error(`${path} needs ${d}, which package-lock.json does not resolve`);
      }
      const target = lock.packages[at] as LockEntry;
      if (optional && !platformOk(target)) continue;
      visit(at);
    }
  };
  visit(workspace);
  return out;
}

// ---------------------------------------------------------------- the sandbox

const hostSystem = ["usr", "etc", "bin", "sbin", "lib", "lib64", "lib32", "libx32"];

export interface Sandbox {
  args: string[];
  /** Host directories mounted at the writable paths (fresh and empty per run). */
  writable: Record<string, string>;
  destroy(): void;
}

/** bwrap arguments for one service's image: read-only root, the image's /app, writable paths only. */
export function imageSandbox(service: ServiceName, stage: FinalStage, lock: Lock, writablePaths: readonly string[]): Sandbox {
  const args: string[] = ["--die-with-parent", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
    "--uid", String(stage.uid), "--gid", String(stage.gid)];
  for (const d of hostSystem) {
    const p = `/${d}`;
    if (!existsSync(p)) continue;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) args.push("--symlink", readlinkSync(p), p);
    else args.push("--ro-bind", p, p);
  }
  args.push("--proc", "/proc", "--dev", "/dev");
  const app = stage.workdir;
  const closure = productionClosure(lock, `services/${service}`);
  const sub = (s: string) => s.replace(/\$\{SERVICE\}/g, service);
  for (const c of stage.copies) {
    const src = sub(c.src).replace(/^\/app\/?/, "");
    const dest = posix.join(app, sub(c.dest));
    if (src === "node_modules") {
      // Top-level packages of the closure; workspace links as npm makes them (relative symlinks).
      for (const path of [...closure].filter((p) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p)).sort()) {
        const e = lock.packages[path] as LockEntry;
        const at = posix.join(app, path);
        if (e.link && e.resolved) args.push("--symlink", posix.relative(posix.dirname(at), posix.join(app, e.resolved)), at);
        else args.push("--ro-bind", join(repo, path), at);
      }
      continue;
    }
    if (!existsSync(join(repo, src))) throw new Error(`COPY ${c.src}: ${src} does not exist in the repository`);
    args.push("--ro-bind", join(repo, src), dest);
  }
  // Directories .dockerignore keeps out of the build context (services/*/test, …) are not in the image either.
  const ignored = readFileSync(join(repo, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => /^services\/\*\/[\w.-]+$/.test(l));
  for (const pattern of ignored) {
    const rel = pattern.replace("*", service);
    if (existsSync(join(repo, rel))) args.push("--tmpfs", posix.join(app, rel), "--remount-ro", posix.join(app, rel));
  }
  // A workspace's own node_modules (npm nests a conflicting version there): only its closure entries.
  for (const ws of new Set([...closure].filter((p) => !p.startsWith("node_modules/") && !p.includes("/node_modules/")))) {
    const nested = [...closure].filter((p) => p.startsWith(`${ws}/node_modules/`));
    if (!existsSync(join(repo, ws, "node_modules"))) continue;
    args.push("--tmpfs", posix.join(app, ws, "node_modules"));
    for (const p of nested) args.push("--ro-bind", join(repo, p), posix.join(app, p));
    args.push("--remount-ro", posix.join(app, ws, "node_modules"));
  }
  const writable: Record<string, string> = {};
  const scratch = mkdtempSync(join(tmpdir(), `tierstack-image-${service}-`));
  for (const w of writablePaths) {
    const host = join(scratch, w.replace(/\//g, "_"));
    spawnSync("mkdir", ["-p", host]);
    // The image's user owns its emptyDir (Kubernetes' fsGroup); here the mapped uid is the host's root.
    writable[w] = host;
    args.push("--bind", host, w);
  }
  args.push("--remount-ro", "/", "--chdir", app, "--clearenv");
  return { args, writable, destroy: () => rmSync(scratch, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------- write attempts, from strace

const writeFlags = /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/;
const pathSyscalls = /^(mkdir|mkdirat|rmdir|unlink|unlinkat|rename|renameat|renameat2|link|linkat|symlink|symlinkat|truncate|chmod|fchmodat|chown|lchown|fchownat|utime|utimes|utimensat|futimesat|mknod|mknodat|setxattr|lsetxattr|removexattr|lremovexattr)$/;

export interface WriteAttempt {
  syscall: string;
  path: string;
  result: string;
}

/** strace -f lines with each interrupted call ("<unfinished ...>" … "<... x resumed>") joined into one. */
function joinedCalls(log: string): string[] {
  const pending = new Map<string, string>();
  const out: string[] = [];
  for (const line of log.split("\n")) {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid = "", rest = ""] = m;
    if (rest.endsWith("<unfinished ...>")) {
      pending.set(pid, rest.slice(0, -"<unfinished ...>".length).trimEnd());
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>\s?(.*)$/.exec(rest);
    if (resumed) {
      out.push(`${pid} ${pending.get(pid) ?? ""}${resumed[1] ?? ""}`);
      pending.delete(pid);
      continue;
    }
    out.push(line);
  }
  return out;
}

/** Every attempted write after the CMD's exec, with the path as the process named it (relative → cwd). */
export function writeAttempts(log: string, cwd: string): WriteAttempt[] {
  const lines = joinedCalls(log);
  const start = lines.findIndex((l) => /execve\("[^"]*\/sh", \["sh", "-c"/.test(l) && / = 0$/.test(l));
  if (start < 0) throw new Error("strace log: the CMD's exec (sh -c) was not found");
  const out: WriteAttempt[] = [];
  for (const l of lines.slice(start + 1)) {
    const m = /^\d+\s+(\w+)\((.*)\)\s+=\s+(.*)$/.exec(l);
    if (!m) continue;
    const [, syscall = "", argText = "", result = ""] = m;
    const isOpen = /^(open|openat|openat2|creat)$/.test(syscall);
    if (!(isOpen && (syscall === "creat" || writeFlags.test(argText))) && !pathSyscalls.test(syscall)) continue;
    const firstPath = /"((?:[^"\\]|\\.)*)"/.exec(argText)?.[1] ?? "?";
    const dirfdRelative = /^\d+, "/.test(argText) && !firstPath.startsWith("/");
    const path = firstPath.startsWith("/") ? firstPath : dirfdRelative ? `<fd>/${firstPath}` : posix.join(cwd, firstPath);
    out.push({ syscall, path, result });
  }
  return out;
}

const deviceOk = /^\/dev\/(null|tty|stdout|stderr|stdin)$|^\/proc\/self\/fd\/\d+$/;
const under = (path: string, dirs: readonly string[]) => dirs.some((d) => path === d || path.startsWith(`${d}/`));

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    return d.isDirectory() ? [`${relative(base, p)}/`, ...listFiles(p, base)] : [relative(base, p)];
  });
}

// ---------------------------------------------------------------- the runs

let pgUp = false;
const dockerfile = parseDockerfile(readFileSync(join(repo, "services", "Dockerfile"), "utf8"));
const lock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")) as Lock;

for (const tool of ["bwrap", "strace"]) {
  const ok = spawnSync(tool, ["--version"], { encoding: "utf8" }).status === 0;
  if (!ok) throw new Error(`${tool} is not installed: the image entry-point test needs it (Debian: ${tool === "bwrap" ? "bubblewrap" : "strace"})`);
}

/** Plain values for the keys a service requires (the test owns them; no real secret). */
function serviceEnv(service: ServiceName, port: number, databaseUrl: string, mcpStub: string): Record<string, string> {
  const env: Record<string, string> = { PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn" };
  const values: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    TOKENS_DATABASE_URL: databaseUrl,
    GATEWAY_SHARDS: JSON.stringify({ "dev-tools": [mcpStub] }),
    WHATSAPP_APP_SECRET: "image-test-app-secret",
    WHATSAPP_VERIFY_TOKEN: "image-test-verify-token",
    WHATSAPP_ACCESS_TOKEN: "image-test-access-token",
    WHATSAPP_PHONE_NUMBER_ID: "100000000000001",
    LLM_BASE_URL: "http://127.0.0.1:9/v1",
    STRIPE_SECRET_KEY: "sk_test_image_entrypoint",
    STRIPE_WEBHOOK_SECRET: "whsec_image_entrypoint",
    BRAIN_ADMIN_TOKEN: "image-test-admin-token-0123456789",
  };
  for (const k of services[service].env.filter((e) => e.required)) {
    const v = values[k.name];
    if (v === undefined) throw new Error(`${service}: required ${k.name} has no test value`);
    env[k.name] = v;
  }
  return env;
}

interface RunResult {
  ready: { status: number; body: string };
  exitCode: number | null;
  attempts: WriteAttempt[];
  appeared: Record<string, string[]>;
  stderr: string;
}

async function runImage(service: ServiceName, mcpStub: string): Promise<RunResult> {
  const schema = await freshSchema(`image_${service}`);
  const sandbox = imageSandbox(service, dockerfile.final, lock, serviceWritablePaths);
  const traceDir = mkdtempSync(join(tmpdir(), `tierstack-trace-${service}-`));
  const traceFile = join(traceDir, "strace.log");
  const port = await freePort();
  const env = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/home/node", ...dockerfile.final.env, SERVICE: service, ...serviceEnv(service, port, schema.url, mcpStub) };
  const envArgs = Object.entries(env).flatMap(([k, v]) => ["--setenv", k, v]);
  let child: ChildProcess | undefined;
  let stderr = "";
  try {
    child = spawn("strace", ["-f", "-qq", "--seccomp-bpf", "-s", "256", "-e", "trace=%file,%desc", "-o", traceFile,
      "bwrap", ...sandbox.args, ...envArgs, "--", ...dockerfile.final.cmd], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((res) => child?.once("exit", (code) => res(code)));
    let ready = { status: 0, body: "" };
    await waitFor(async () => {
      if (child?.exitCode !== null) throw new Error(`${service} exited early (${String(child?.exitCode)}): ${stderr.trim()}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        ready = { status: r.status, body: await r.text() };
        return r.status === 200;
      } catch {
        return false;
      }
    }, { what: `${service} /readyz`, timeoutMs: 60_000 });
    // SIGTERM the service itself (the process that exec'd the CMD), as the kubelet does.
    const log = joinedCalls(readFileSync(traceFile, "utf8")).join("\n");
    const pid = Number(/^(\d+)\s+execve\("[^"]*\/node", \["node".* = 0$/m.exec(log)?.[1]);
    if (!pid) throw new Error("no node exec in the trace");
    process.kill(pid, "SIGTERM");
    const exitCode = await exited;
    child = undefined;
    const attempts = writeAttempts(readFileSync(traceFile, "utf8"), dockerfile.final.workdir);
    const appeared = Object.fromEntries(Object.entries(sandbox.writable).map(([w, host]) => [w, listFiles(host)]));
    return { ready, exitCode, attempts, appeared, stderr };
  } finally {
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child?.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    }
    sandbox.destroy();
    rmSync(traceDir, { recursive: true, force: true });
    await schema.drop();
  }
}

let stub: Server;
let stubUrl: string;
const results = new Map<ServiceName, RunResult>();

beforeAll(async () => {
  // Missing PostgreSQL under CI=true throws here (the runs fail); elsewhere they are skipped.
  pgUp = await available("postgres", PG_URL);
  if (!pgUp) return;
  // An MCP replica for the gateway's health checks (any answer below 500 is "up").
  stub = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end('{"jsonrpc":"2.0","id":"gateway-health","result":{}}');
  });
  const p = await freePort();
  await new Promise<void>((r) => stub.listen(p, "127.0.0.1", r));
  stubUrl = `http://127.0.0.1:${p}/mcp`;
});

afterAll(async () => {
  await new Promise((r) => (stub ? stub.close(r) : r(undefined)));
});

describe("services/Dockerfile", () => {
  it("is multi-stage, pins its base by digest, runs as a numeric non-root user, installs production dependencies of one workspace", () => {
    const text = readFileSync(join(repo, "services", "Dockerfile"), "utf8");
    expect(text.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^ARG NODE_IMAGE=node:20\.20\.2-bookworm-slim@sha256:[a-f0-9]{64}$/m);
    expect(dockerfile.final.uid).toBeGreaterThan(0);
    expect(dockerfile.install).toContain("npm ci --omit=dev --workspace=\"@tierstack/${SERVICE}\"");
    expect(dockerfile.final.cmd).toEqual(["sh", "-c", "exec node --import tsx services/${SERVICE}/src/server.ts"]);
    // The sandbox runs the host's node: it must be the image's major for the runs below to stand for the image.
    const tag = /^ARG NODE_IMAGE=node:(\d+)\./m.exec(text)?.[1];
    const host = spawnSync("node", ["--version"], { encoding: "utf8" }).stdout.trim();
    expect(host.replace(/^v(\d+)\..*$/, "$1")).toBe(tag);
  });

  it.each(serviceNames)("%s: the production closure has no development-only package (no Pulumi, no test tooling)", (service) => {
    const closure = productionClosure(lock, `services/${service}`);
    const dev = [...closure].filter((p) => lock.packages[p]?.dev === true);
    expect(dev).toEqual([]);
    const names = [...closure].map((p) => p.replace(/^.*node_modules\//, ""));
    for (const forbidden of ["@pulumi/pulumi", "@pulumi/gcp", "@pulumi/random", "vitest", "typescript", "eslint", "fast-check"]) expect(names).not.toContain(forbidden);
    expect(names).toContain("tsx");
  });
});

describe("each service as the image's entry point runs it (bubblewrap, read-only root)", () => {
  it("the sandbox's root is read-only, only the writable paths take writes, and the trace sees every attempt", () => {
    const sandbox = imageSandbox("task-queue", dockerfile.final, lock, serviceWritablePaths);
    const traceDir = mkdtempSync(join(tmpdir(), "tierstack-trace-probe-"));
    const readOnly = ["/x", "/app/x", "/app/node_modules/x", "/app/services/task-queue/test/x", "/etc/x", "/usr/x"];
    try {
      const script = `for p in ${readOnly.join(" ")}; do touch $p 2>&1; done; for w in "$@"; do touch $w/probe && echo ok $w; done`;
      const probe = spawnSync("strace", ["-f", "-qq", "-e", "trace=%file,%desc", "-o", join(traceDir, "log"),
        "bwrap", ...sandbox.args, "--setenv", "PATH", "/usr/bin:/bin", "--", "sh", "-c", script, "sh", ...serviceWritablePaths], { encoding: "utf8" });
      expect(probe.status, probe.stderr).toBe(0);
      const lines = probe.stdout.trim().split("\n");
      for (const p of readOnly) expect(lines, probe.stdout).toContain(`touch: cannot touch '${p}': Read-only file system`);
      for (const w of serviceWritablePaths) expect(lines).toContain(`ok ${w}`);
      const attempts = writeAttempts(readFileSync(join(traceDir, "log"), "utf8"), dockerfile.final.workdir);
      for (const p of readOnly) expect(attempts.some((a) => a.path === p && /EROFS/.test(a.result)), p).toBe(true);
      for (const w of serviceWritablePaths) expect(attempts.some((a) => a.path === `${w}/probe` && /^\d+$/.test(a.result)), w).toBe(true);
    } finally {
      sandbox.destroy();
      rmSync(traceDir, { recursive: true, force: true });
    }
  });

  it.for(serviceNames)("%s starts, answers /readyz 200, writes only under the writable paths, stops on SIGTERM with 0", async (service, ctx) => {
    if (!pgUp) ctx.skip();
    const r = await runImage(service, stubUrl);
    results.set(service, r);
    expect(r.ready.status, r.stderr).toBe(200);
    expect(r.exitCode, r.stderr).toBe(0);
    const elsewhere = r.attempts.filter((a) => !under(a.path, serviceWritablePaths) && !deviceOk.test(a.path));
    expect(elsewhere, `write attempts outside ${serviceWritablePaths.join(", ")}`).toEqual([]);
    // What the service wrote, for the record (the run log prints it): tsx's compile cache.
    const summary = Object.entries(r.appeared).map(([w, files]) => {
      const top = [...new Set(files.map((f) => f.split("/")[0] + (f.includes("/") ? "/" : "")))];
      return `${w}: ${top.join(", ") || "nothing"} (${files.filter((f) => !f.endsWith("/")).length} files)`;
    });
    console.log(`[image] ${service}: ${r.attempts.length} write calls, all under ${serviceWritablePaths.join(", ")}; appeared ${summary.join("; ")}`);
  });
});
