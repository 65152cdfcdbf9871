import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { GroupCommit } from "@tierstack/common";
import type { ClaimRequest, CompleteRequest, EnqueueInput, EnqueueResult, Lease, Outcome, TaskStore } from "./types.js";

export interface QueueOptions {
  backoffBaseMs: number;
  backoffMaxMs: number;
  reaperIntervalMs: number;
  retentionHours: number;
  batchConcurrency: number;
  /** Longest a batch may be (items). */
  maxBatch?: number;
  log?: { warn: (obj: object, msg: string) => void; info: (obj: object, msg: string) => void };
}

interface Waiter {
  queues: Set<string>;
  wake: () => void;
}

/**
 * The queue's behaviour over a store: group commit (the kit's `GroupCommit` for enqueue, claim
 * and complete), long-poll claims woken by the store, the lease reaper, retention, and the queue
 * metrics.
 */
export class TaskQueue {
  private readonly enqueues: GroupCommit<EnqueueInput[], EnqueueResult[]>;
  private readonly claims: GroupCommit<ClaimRequest, Lease[]>;
  private readonly completions: GroupCommit<CompleteRequest, Outcome>;
  private readonly waiters = new Set<Waiter>();
  private readonly unsubscribe: () => void;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  /** A cut-over's drain or freeze: claims answer empty and the reaper and retention pause (cutover.ts). */
  private claimsPaused = false;
  private maintenancePaused = false;
  private reaping?: Promise<unknown>;
  private lastPrune = 0;

  readonly claimLatency: Histogram<"store">;
  readonly leasesExpired: Counter;
  readonly deadLetters: Counter;
  readonly batchSize: Histogram<"op">;

  constructor(readonly store: TaskStore, private readonly opts: QueueOptions, registry?: Registry) {
    const registers = registry ? [registry] : [];
    this.claimLatency = new Histogram({
      name: "task_queue_claim_duration_seconds",
      help: "Time to claim (store round trip including group commit; long-poll waiting excluded)",
      labelNames: ["store"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.leasesExpired = new Counter({ name: "task_queue_leases_expired_total", help: "Leases that expired and were reclaimed", registers });
    this.deadLetters = new Counter({ name: "task_queue_dead_letters_total", help: "Tasks moved to the dead-letter state", registers });
    this.batchSize = new Histogram({
      name: "task_queue_batch_size",
      help: "Callers sharing one commit (group commit)",
      labelNames: ["op"] as const,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200],
      registers,
    });
    const depth = new Gauge({ name: "task_queue_depth", help: "Tasks per queue and state (ready, running, dead)", labelNames: ["queue", "state"] as const, registers,
      collect: async () => {
        depth.reset();
        for (const r of await store.depth()) depth.set({ queue: r.queue, state: r.state }, r.count);
      },
    });
    const lag: Gauge = new Gauge({ name: "task_queue_outbox_unpublished", help: "Outbox events not yet published to NATS", registers,
      collect: async () => {
        lag.set((await store.outboxLag()).unpublished);
      },
    });
    const age: Gauge = new Gauge({ name: "task_queue_outbox_lag_seconds", help: "Age of the oldest unpublished outbox event", registers,
      collect: async () => {
        age.set((await store.outboxLag()).oldestSeconds);
      },
    });

    const maxBatch = opts.maxBatch ?? 200;
    const concurrency = opts.batchConcurrency;
    this.enqueues = new GroupCommit(async (lists) => {
      const flat = await store.enqueue(lists.flat());
      let k = 0;
      return lists.map((l) => flat.slice(k, (k += l.length)));
    }, { maxBatch, concurrency, onBatch: (n) => this.batchSize.observe({ op: "enqueue" }, n) });
    this.claims = new GroupCommit((reqs) => store.claim(reqs), { maxBatch, concurrency, onBatch: (n) => this.batchSize.observe({ op: "claim" }, n) });
    this.completions = new GroupCommit((reqs) => store.complete(reqs), { maxBatch, concurrency, onBatch: (n) => this.batchSize.observe({ op: "complete" }, n) });

    this.unsubscribe = store.onWake((queue) => {
      for (const w of this.waiters) if (queue === "*" || w.queues.has(queue)) w.wake();
    });
  }

  /** Start the reaper (expired leases) and retention loops. */
  start(): void {
    const reap = setInterval(() => void this.maintain(), this.opts.reaperIntervalMs);
    reap.unref();
    this.timers.push(reap);
  }

  /** One reaper pass (and, at most every minute, a retention pass). */
  async maintain(): Promise<void> {
    if (this.reaping || this.maintenancePaused) return;
    const run = (async () => {
      try {
        const r = await this.store.reapExpired();
        this.leasesExpired.inc(r.requeued + r.dead);
        this.deadLetters.inc(r.dead);
        if (Date.now() - this.lastPrune > 60_000) {
          this.lastPrune = Date.now();
          const p = await this.store.prune(Date.now() - this.opts.retentionHours * 3_600_000);
          if (p.tasks || p.outbox) this.opts.log?.info(p, "pruned finished tasks and published events");
        }
      } catch (err) {
        this.opts.log?.warn({ err }, "reaper pass failed; retrying");
      }
    })();
    this.reaping = run;
    await run;
    this.reaping = undefined;
  }

  enqueue(items: EnqueueInput[]): Promise<EnqueueResult[]> {
    return this.enqueues.submit(items);
  }

  /** Claim, waiting up to waitMs for work (long poll). Returns [] when nothing came or the service is stopping. */
  async claim(req: ClaimRequest, waitMs: number): Promise<Lease[]> {
    const deadline = Date.now() + waitMs;
    const queues = new Set(req.queues);
    for (;;) {
      if (this.stopping || this.claimsPaused) return [];
      let woken = false;
      let wakeUp: () => void = () => undefined;
      const w: Waiter = { queues, wake: () => { woken = true; wakeUp(); } };
      // Register before claiming so an enqueue between the claim and the wait is not missed.
      this.waiters.add(w);
      try {
        const t0 = process.hrtime.bigint();
        const leases = await this.claims.submit(req);
        this.claimLatency.observe({ store: this.store.kind }, Number(process.hrtime.bigint() - t0) / 1e9);
        const remaining = deadline - Date.now();
        if (leases.length > 0 || remaining <= 0) return leases;
        if (!woken) {
          // Poll at least every second: delayed runAt, backoff and other replicas' reaper.
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(remaining, 1000));
            wakeUp = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      } finally {
        this.waiters.delete(w);
      }
    }
  }

  complete(req: CompleteRequest): Promise<Outcome> {
    return this.completions.submit(req);
  }

  async fail(id: number, leaseToken: string, error: string, retry: boolean): Promise<Outcome> {
    // Half jitter: a retry waits between half and all of its scheduled delay (ADR 0012).
    const out = await this.store.fail({ id, leaseToken, error, retry, backoff: { baseMs: this.opts.backoffBaseMs, maxMs: this.opts.backoffMaxMs, jitter: 0.5 } });
    if (out.status === "ok" && out.task.state === "dead") this.deadLetters.inc();
    return out;
  }

  /** Stop claiming: pending long polls return empty, new claims get nothing. */
  stop(): void {
    this.stopping = true;
    for (const w of this.waiters) w.wake();
  }

  /** Cut-over drain: no new claims (waiting long polls are answered empty); resumeClaims undoes it. */
  pauseClaims(): void {
    this.claimsPaused = true;
    for (const w of this.waiters) w.wake();
  }

  resumeClaims(): void {
    this.claimsPaused = false;
  }

  /** Cut-over freeze: the reaper and retention stop writing; resolves once a running pass has finished. */
  async pauseMaintenance(): Promise<void> {
    this.maintenancePaused = true;
    await this.reaping;
  }

  resumeMaintenance(): void {
    this.maintenancePaused = false;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  async close(): Promise<void> {
    this.stop();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.reaping;
    this.unsubscribe();
  }
}
