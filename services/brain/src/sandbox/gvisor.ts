/**
 * The gvisor SandboxRuntime: one runsc sandbox per learner on this host (tests, `npm run local`).
 * Each sandbox gets `--network=none` (a loopback of its own, nothing of the host's), a read-only
 * root that holds only mount points, the host's /usr read-only (node), this package's learner/
 * directory read-only at /runtime, a tmpfs /tmp and ONE writable bind: that learner's directory
 * <dataDir>/<learner> at /learner, which outlives the sandbox (ADR 0037). The channel is the
 * sandbox's stdin/stdout. State lives under a private --root, so `close()` (and a crash of the
 * brain, next time: `sweep()`) can find every sandbox it started and nothing else.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Channel, ChannelRuntime, SandboxGone, type Started } from "./runtime.js";

export interface GvisorOptions {
  /** Parent of the learners' private directories (kept between sandboxes). */
  dataDir: string;
  /** runsc's --root (container state) and the bundles; private to this runtime. */
  stateDir: string;
  runsc?: string;
  /** How long a learner runtime may take to start before it counts as failed (default 20 s). */
  startTimeoutMs?: number;
  /** runsc's stderr lines go here (runsc's own diagnostics and the runtime's). */
  onLog?: (line: string) => void;
}

export const learnerDir = fileURLToPath(new URL("./learner/", import.meta.url));

/** Is runsc installed and able to start a sandbox here (root or a working rootless setup)? */
export function runscAvailable(runsc = "runsc"): boolean {
  const r = spawnSync(runsc, ["--version"], { encoding: "utf8" });
  return r.status === 0 && process.getuid?.() === 0;
}

/** A learner id as a runsc container id / directory name: readable prefix plus a hash (ids are opaque). */
export function learnerSlug(learnerId: string): string {
  const h = createHash("sha256").update(learnerId).digest("hex").slice(0, 12);
  return `${learnerId.toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 24)}-${h}`.replace(/^-+/, "");
}

export class GvisorRuntime extends ChannelRuntime {
  readonly kind = "gvisor" as const;
  private readonly runsc: string;
  private readonly root: string;
  private readonly rootfs: string;
  private seq = 0;

  constructor(private readonly opts: GvisorOptions) {
    super();
    this.runsc = opts.runsc ?? "runsc";
    this.root = join(opts.stateDir, "runsc");
    this.rootfs = join(opts.stateDir, "rootfs");
    mkdirSync(this.root, { recursive: true });
    mkdirSync(opts.dataDir, { recursive: true });
    this.buildRootfs();
    this.sweep();
  }

  /** The learner's private directory on the host. */
  dirOf(learnerId: string): string {
    return join(this.opts.dataDir, learnerSlug(learnerId));
  }

  /** runsc's state for a container: its host pid (the sandbox process) while it runs. */
  state(name: string): { id: string; pid: number; status: string } | undefined {
    const r = spawnSync(this.runsc, ["--root", this.root, "state", name], { encoding: "utf8" });
    return r.status === 0 ? (JSON.parse(r.stdout) as { id: string; pid: number; status: string }) : undefined;
  }

  /** Containers runsc holds under this runtime's --root. */
  containers(): string[] {
    const r = spawnSync(this.runsc, ["--root", this.root, "list", "-quiet"], { encoding: "utf8" });
    return r.status === 0 ? r.stdout.split("\n").filter(Boolean) : [];
  }

  /** Kill and delete every container under this --root (what a crashed brain left behind). */
  sweep(): void {
    for (const id of this.containers()) this.remove(id);
  }

  /** Run a command inside the learner's live sandbox (`runsc exec`): the isolation probe. */
  exec(learnerId: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
    const s = this.status(learnerId);
    if (!s) throw new Error(`learner ${learnerId} has no live sandbox`);
    const r = spawnSync(this.runsc, ["--root", this.root, "exec", s.name, ...args], { encoding: "utf8", timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  protected async start(learnerId: string): Promise<Started> {
    const name = `${learnerSlug(learnerId)}-${process.pid}-${++this.seq}`;
    const dir = this.dirOf(learnerId);
    mkdirSync(dir, { recursive: true });
    const bundle = join(this.opts.stateDir, "bundles", name);
    mkdirSync(bundle, { recursive: true });
    writeFileSync(join(bundle, "config.json"), JSON.stringify(this.spec(dir)));
    const child = spawn(this.runsc, ["--root", this.root, "--network=none", "run", "--bundle", bundle, name], { stdio: ["pipe", "pipe", "pipe"] });
    const channel = new Channel(child.stdout, child.stdin, `sandbox ${name}`);
    child.stdin.on("error", () => undefined);
    createLines(child.stderr, (l) => this.opts.onLog?.(`${name}: ${l}`));
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    child.once("error", (err) => channel.fail(new SandboxGone(`sandbox ${name}: ${err.message}`)));
    child.once("close", () => channel.fail(new SandboxGone(`sandbox ${name} exited`)));
    const timeoutMs = this.opts.startTimeoutMs ?? 20_000;
    const timer = setTimeout(() => channel.fail(new SandboxGone(`sandbox ${name} not ready after ${timeoutMs} ms`)), timeoutMs);
    const stop = async () => {
      child.stdin.end();
      this.remove(name);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
      rmSync(bundle, { recursive: true, force: true });
    };
    try {
      const entries = await channel.ready;
      return { name, channel, entries, stop };
    } catch (err) {
      await stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private remove(name: string): void {
    spawnSync(this.runsc, ["--root", this.root, "kill", name, "KILL"], { encoding: "utf8" });
    spawnSync(this.runsc, ["--root", this.root, "delete", "--force", name], { encoding: "utf8" });
  }

  /** The OCI runtime spec of one learner's sandbox. */
  private spec(dir: string): unknown {
    const node = realpathSync(process.execPath);
    const ro = (source: string, destination = source) => ({ destination, type: "bind", source, options: ["rbind", "ro", "nosuid", "nodev"] });
    // node outside /usr (nvm, a tarball): its install prefix, read-only at the same path.
    const extra = node.startsWith("/usr/") ? [] : [ro(dirname(dirname(node)))];
    return {
      ociVersion: "1.0.0",
      process: {
        user: { uid: 0, gid: 0 },
        args: [node, "/runtime/runtime.mjs"],
        env: ["PATH=/usr/local/bin:/usr/bin:/bin", "LEARNER_DIR=/learner", "NODE_OPTIONS=--max-old-space-size=256"],
        cwd: "/learner",
        terminal: false,
        capabilities: { bounding: [], effective: [], inheritable: [], permitted: [] },
        rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
        noNewPrivileges: true,
      },
      root: { path: this.rootfs, readonly: true },
      hostname: "learner",
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/dev", type: "tmpfs", source: "tmpfs" },
        { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["size=64m"] },
        ro("/usr"),
        ...extra,
        ro(learnerDir, "/runtime"),
        { destination: "/learner", type: "bind", source: dir, options: ["rbind", "rw", "nosuid", "nodev"] },
      ],
      linux: { namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }] },
    };
  }

  /** The read-only root: mount points and the merged-/usr symlinks, nothing else of the host. */
  private buildRootfs(): void {
    if (existsSync(join(this.rootfs, "runtime"))) return;
    for (const d of ["usr", "proc", "dev", "tmp", "runtime", "learner", "etc"]) mkdirSync(join(this.rootfs, d), { recursive: true });
    for (const l of ["bin", "lib", "lib64", "sbin"]) symlinkSync(`usr/${l}`, join(this.rootfs, l));
    const node = realpathSync(process.execPath);
    if (!node.startsWith("/usr/")) mkdirSync(join(this.rootfs, dirname(dirname(node))), { recursive: true });
  }
}

function createLines(stream: NodeJS.ReadableStream, onLine: (l: string) => void): void {
  let buf = "";
  stream.on("data", (d: Buffer) => {
    buf += d.toString("utf8");
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    if (buf.length > 64 * 1024) buf = "";
  });
}
