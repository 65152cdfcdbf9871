/**
 * The reply workers in their own process, so webhook acknowledgements never queue behind worker
 * CPU. The entry point (server.ts) serves HTTP and forks itself with WORKER_ARG; this module has
 * both halves:
 *
 * - `ForkedWorkers` (HTTP process): forks and supervises the worker process — restarts it when it
 *   dies (after 0.25 s; a process that dies before it is running waits longer, doubling to 5 s),
 *   gives up (the service exits) after 5 such deaths in a row, stops it on SIGTERM (it finishes
 *   the message in hand) — and forwards wakes, the hold
 *   switch and metric scrapes over the IPC channel. The hold is remembered here, so a restarted
 *   worker process starts held.
 * - `runWorkerProcess` (worker process): the InboxWorkers of worker.ts on its own store connection,
 *   answering those messages. It exits at once when the HTTP process goes (the channel closes):
 *   leases expire and another process answers, as after any crash.
 */
import { fork, type ChildProcess } from "node:child_process";
import { Registry } from "prom-client";
import type { FastifyBaseLogger } from "fastify";
import type { RemoteWorkerSwitch } from "./app.js";
import { InboxWorkers, type WorkersState } from "./worker.js";
import { busyGauge, workerMetrics } from "./worker-metrics.js";
import type { WorkerContext } from "./worker.js";

/** The argument that makes the entry point run the workers instead of HTTP. */
export const WORKER_ARG = "--brain-workers";

type ToWorkers =
  | { t: "start"; held: boolean }
  | { t: "wake"; n: number }
  | { t: "hold" | "resume" | "state" | "metrics"; id: number }
  | { t: "stop" };
type FromWorkers = { t: "ready" } | { t: "reply"; id: number; value: unknown } | { t: "stopped" };

/** Deaths in a row before the worker process ever ran, after which the service exits. */
const MAX_FAILED_STARTS = 5;
const ASK_TIMEOUT_MS = 5_000;

export interface ForkOptions {
  log: FastifyBaseLogger;
  /** How long stop() waits for the message in hand before it kills the worker process. */
  graceMs: number;
  /** Called when the worker process cannot be kept running (the service should exit). */
  onGiveUp: (err: Error) => void;
  /** The script and node flags to fork (default: this process's own entry point and flags). */
  script?: string;
  execArgv?: string[];
  /** V8's young-generation semi-space for the worker process, in MB (BRAIN_WORKER_SEMI_SPACE_MB); 0 leaves V8's default. */
  semiSpaceMb?: number;
}

/**
 * The worker process's node flags: the parent's, and a larger young generation. A reply's state
 * (its claim, prompt, request and response objects) lives as long as its LLM call, seconds; with
 * V8's default semi-space (16 MB) a scavenge runs every ~0.2 s at 1,000 replies/s, so most of that
 * state is copied twice and promoted to the old generation, which then needs full collections.
 * With 64 MB, a quarter as many scavenges copy the same live state (bench/brain: worker CPU per
 * reply −4%, five pairs of runs; 192 MB was no better). The young generation takes three
 * semi-spaces of memory. A semi-space the parent was given already wins, on its command line or in
 * NODE_OPTIONS (which the worker process inherits, and which a command-line flag would override).
 */
export function workerExecArgv(parent: string[], semiSpaceMb: number, nodeOptions = process.env.NODE_OPTIONS ?? ""): string[] {
  const given = (a: string) => /^--max-semi-space-size(=|$)/.test(a);
  if (semiSpaceMb <= 0 || parent.some(given) || nodeOptions.split(/\s+/).some(given)) return [...parent];
  return [...parent, `--max-semi-space-size=${semiSpaceMb}`];
}

export class ForkedWorkers implements RemoteWorkerSwitch {
  private child: ChildProcess | undefined;
  private ready = false;
  private held = false;
  private stopping = false;
  private failedStarts = 0;
  private ranOnce = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private asks = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  private stopped: Promise<void> | undefined;
  private wakeCount = 0;
  private wakeTimer: NodeJS.Immediate | undefined;

  constructor(private readonly opts: ForkOptions) {}

  startupProblem(): string | undefined {
    return this.ranOnce ? undefined : "workers: the worker process is starting";
  }

  /** The worker process's pid (tests SIGKILL it), undefined while it is restarting. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.child || this.stopping) return;
    const script = this.opts.script ?? process.argv[1] ?? "";
    const child = fork(script, [WORKER_ARG], { execArgv: workerExecArgv(this.opts.execArgv ?? process.execArgv, this.opts.semiSpaceMb ?? 0), stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child = child;
    this.ready = false;
    child.on("message", (msg: FromWorkers) => this.onMessage(msg));
    child.on("error", (err) => this.opts.log.error({ err }, "worker process error"));
    child.once("exit", (code, signal) => this.onExit(child, code, signal));
  }

  private onMessage(msg: FromWorkers): void {
    if (msg.t === "ready") {
      this.ready = true;
      this.ranOnce = true;
      this.failedStarts = 0;
      this.send({ t: "start", held: this.held });
      this.opts.log.info({ pid: this.child?.pid, held: this.held }, "worker process running");
    } else if (msg.t === "reply") {
      const p = this.pending.get(msg.id);
      if (!p) return;
      clearTimeout(p.timer);
      this.pending.delete(msg.id);
      p.resolve(msg.value);
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child === child) this.child = undefined;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error("worker process exited"));
      this.pending.delete(id);
    }
    if (this.stopping) return;
    const ran = this.ready;
    this.ready = false;
    if (!ran) this.failedStarts++;
    this.restarts++;
    this.opts.log.error({ code, signal, restarts: this.restarts, failedStarts: this.failedStarts }, "worker process died; restarting");
    if (this.failedStarts >= MAX_FAILED_STARTS) {
      this.opts.onGiveUp(new Error(`worker process died ${this.failedStarts} times in a row before it ran (last: ${signal ?? `exit ${code}`})`));
      return;
    }
    const delay = Math.min(5_000, 250 * 2 ** this.failedStarts);
    this.restartTimer = setTimeout(() => this.start(), delay);
  }

  private send(msg: ToWorkers): boolean {
    const c = this.child;
    if (!c || !c.connected) return false;
    try {
      c.send(msg);
      return true;
    } catch {
      return false;
    }
  }

  private ask<T>(t: "hold" | "resume" | "state" | "metrics"): Promise<T> {
    const id = ++this.asks;
    return new Promise<T>((resolve, reject) => {
      if (!this.ready || !this.send({ t, id })) return reject(new Error("worker process not running"));
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`worker process did not answer ${t}`));
      }, ASK_TIMEOUT_MS);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
    });
  }

  /**
   * Wakes are coalesced over one turn of the event loop: at hundreds of webhooks a second, one
   * IPC message per turn carries the sum instead of one per webhook (each costs a JSON encode and
   * a pipe write on both sides). Sent on setImmediate, i.e. after this turn's acknowledgements.
   */
  wake(count = Number.POSITIVE_INFINITY): void {
    if (!this.ready) return;
    this.wakeCount += count;
    if (this.wakeTimer) return;
    this.wakeTimer = setImmediate(() => {
      this.wakeTimer = undefined;
      const n = this.wakeCount;
      this.wakeCount = 0;
      if (this.ready) this.send({ t: "wake", n: Number.isFinite(n) ? n : -1 });
    });
  }

  /** Remembered here (a restarted worker process starts held) and forwarded when it runs. */
  async hold(): Promise<WorkersState> {
    this.held = true;
    return this.ask<WorkersState>("hold").catch(() => ({ held: true, busy: 0 }));
  }

  async resume(): Promise<WorkersState> {
    this.held = false;
    return this.ask<WorkersState>("resume").catch(() => ({ held: false, busy: 0 }));
  }

  /** The worker process's state, with its pid and how often it was restarted. */
  async state(): Promise<WorkersState> {
    const s = await this.ask<WorkersState>("state").catch(() => ({ held: this.held, busy: 0 }));
    return { ...s, process: { pid: this.ready ? (this.child?.pid ?? null) : null, restarts: this.restarts } };
  }

  metrics(): ReturnType<RemoteWorkerSwitch["metrics"]> {
    return this.ask("metrics");
  }

  /** Ask the worker process to stop (the message in hand finishes); SIGKILL after graceMs. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      clearTimeout(this.restartTimer);
      if (this.wakeTimer) clearImmediate(this.wakeTimer);
      const c = this.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      if (!this.send({ t: "stop" })) c.kill("SIGKILL");
      const timer = setTimeout(() => {
        this.opts.log.error("worker process did not stop in time: killing it");
        c.kill("SIGKILL");
      }, this.opts.graceMs);
      await exited;
      clearTimeout(timer);
    })();
    return this.stopped;
  }
}

/**
 * The worker process: run the loops until the HTTP process says stop (or goes away). `close`
 * closes what the context opened (store, Redis) after the loops stopped.
 */
export function runWorkerProcess(ctx: Omit<WorkerContext, "metrics">, concurrency: number, close: () => Promise<void>): void {
  const registry = new Registry();
  const metrics = workerMetrics([registry]);
  const workers = new InboxWorkers({ ...ctx, metrics }, concurrency);
  busyGauge([registry], () => workers.busy);
  const send = (msg: FromWorkers) => {
    if (process.connected) process.send?.(msg);
  };
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await workers.stop();
      await close();
      process.exitCode = 0;
    } catch (err) {
      ctx.log.error({ err }, "worker process stop failed");
      process.exitCode = 1;
    }
    process.disconnect?.();
    process.exit();
  };
  // The HTTP process is gone (crashed or killed): exit now, as it did. Leases expire; the next
  // brain answers. Finishing the message in hand here would race a restarted brain.
  process.on("disconnect", () => {
    if (!stopping) process.exit(1);
  });
  // SIGTERM to the whole group (systemd, a terminal): the HTTP process decides when we stop.
  process.on("SIGTERM", () => undefined);
  process.on("SIGINT", () => undefined);
  process.on("message", (msg: ToWorkers) => {
    switch (msg.t) {
      case "start":
        if (msg.held) void workers.hold();
        workers.start();
        return;
      case "wake":
        workers.wake(msg.n < 0 ? Number.POSITIVE_INFINITY : msg.n);
        return;
      case "stop":
        void stop();
        return;
      case "metrics":
        void registry.getMetricsAsJSON().then((value) => send({ t: "reply", id: msg.id, value }));
        return;
      default: {
        const op = msg.t === "hold" ? workers.hold() : msg.t === "resume" ? workers.resume() : workers.state();
        void op.then((value) => send({ t: "reply", id: msg.id, value }));
      }
    }
  });
  send({ t: "ready" });
}
