/**
 * Inbox workers: each loop leases one learner (the lease keeps every other loop and replica off
 * that learner), answers its pending messages oldest first, then releases it. Learners are
 * answered in parallel, one learner's messages strictly in order. This module owns claims, leases
 * and order; one message is answered by reply.ts, whose reply decision is the pure decide.ts.
 *
 * Crash safety, step by step for one inbound message M (key "reply:<M's wamid>"):
 *   1. no outbound row for the key: decide the reply (maybe an LLM call: nothing is written yet,
 *      so a crash here just repeats the call after the lease expires);
 *   2. one transaction: history, usage and the outbound row ("pending", with the exact message);
 *   3. send through the Cloud API; 4. mark the row "sent" and M done.
 * A crash after 2 resends the recorded message without a second LLM call. A crash after the
 * Cloud API accepted (3) and before 4 sends it again: the one duplicate the API allows, since it
 * has no idempotency key.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { redactPhone } from "@tierstack/common";
import { utcDay } from "./decide.js";
import { HISTORY_ROWS, Replier, type Context, type Handled, type ReplyContext } from "./reply.js";
import type { InboundMessage, Learner, OutboundRow, Release, Work } from "./store/index.js";

export { utcDay } from "./decide.js";
export type { WorkerMetrics } from "./reply.js";

export interface WorkerContext extends ReplyContext {
  leaseMs: number;
  /** Idle poll interval when no learner has pending messages (new webhooks wake the loops at once). */
  pollMs?: number;
}

const BATCH = 20;
/** Most learners one claim statement takes: a claim for every idle loop at once (thousands) held the statement for ~0.5 s on PostgreSQL, and on SQLite the write lock, while loops and acks waited. */
const CLAIM_MAX = 64;
/** After a claim that found nothing, idle loops wait this long (or for a wake) before the next claim. */
const IDLE_GAP_MS = 200;
/**
 * After a claim that got fewer learners than it asked for, the next one starts no sooner than
 * this after it began: loops that fall idle and wakes that arrive meanwhile join it. Without the
 * gap the claims followed the webhook batches (~2 learners each, ~470 claims a second at
 * 1,000 msg/s on SQLite, each a write transaction); with it a claim takes ~10 and a reply waits
 * at most this much more for its claim (bench/brain/RESULTS.md).
 */
const CLAIM_GAP_MS = 10;

/** What `GET /admin/workers` shows: held (no new claims) and how many loops still hold a learner. */
export interface WorkersState {
  held: boolean;
  busy: number;
  /** Workers in their own process (worker-process.ts): its pid (null while it restarts) and restarts so far. */
  process?: { pid: number | null; restarts: number };
}

/**
 * What the HTTP side needs of the reply workers, whether they run in this process (InboxWorkers)
 * or in the forked worker process (worker-process.ts, RemoteWorkers).
 */
export interface WorkerSwitch {
  start(): void;
  /** New inbound work: wake up to `count` idle loops. */
  wake(count?: number): void;
  /** No new claims; messages in hand finish. Resolves with the state after the switch. */
  hold(): Promise<WorkersState>;
  resume(): Promise<WorkersState>;
  state(): Promise<WorkersState>;
  stop(): Promise<void>;
}

export class InboxWorkers implements WorkerSwitch {
  private loops: Promise<void>[] = [];
  private stopping = false;
  /** Held: no loop claims; each finishes the message in hand and then idles until resumed. */
  private holding = false;
  private sleepers = new Set<() => void>();
  private readonly instance = randomUUID().slice(0, 8);
  private inFlight = 0;
  /** Claimed learners not yet taken by a loop; one claim in flight per replica serves every idle loop. */
  private claimed: Work[] = [];
  private claiming: Promise<boolean> | undefined;
  private waiting = 0;
  private claims = 0;
  /** When a claim last found nothing (0: since then a wake came). Idle loops do not claim again sooner than IDLE_GAP_MS. */
  private emptyAt = 0;
  private wakes = 0;
  /** `wakes` when the claim in flight began. */
  private claimWakes = 0;
  /** When the last claim that was not full began (performance.now(); 0: the last one was full). */
  private partialAt = 0;

  private readonly replier: Replier;

  constructor(private readonly ctx: WorkerContext, private readonly concurrency: number) {
    this.replier = new Replier(ctx);
  }

  start(): void {
    if (this.loops.length) return;
    this.stopping = false;
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop());
  }

  /** New inbound work: wake up to `count` idle loops now rather than at their next poll. */
  wake(count = Number.POSITIVE_INFINITY): void {
    this.emptyAt = 0;
    this.wakes++;
    let n = 0;
    // No copy of the set (thousands of sleepers, hundreds of wakes a second): a sleeper woken
    // removes itself, which a Set's iteration allows.
    for (const s of this.sleepers) {
      if (n++ >= count) break;
      s();
    }
  }

  get busy(): number {
    return this.inFlight;
  }

  get held(): boolean {
    return this.holding;
  }

  /**
   * Hold: no new claims. A loop answering a learner finishes the message in hand, then releases
   * the learner (its later messages stay pending); learners claimed but not yet taken by a loop
   * are released at once. Webhook ingest is not affected: messages keep arriving in the inbox.
   */
  async hold(): Promise<WorkersState> {
    this.holding = true;
    await this.releaseClaimed();
    return this.snapshot();
  }

  /** Resume claiming; idle loops are woken at once. */
  async resume(): Promise<WorkersState> {
    this.holding = false;
    this.wake();
    return this.snapshot();
  }

  async state(): Promise<WorkersState> {
    return this.snapshot();
  }

  private snapshot(): WorkersState {
    return { held: this.holding, busy: this.inFlight };
  }

  private async releaseClaimed(): Promise<void> {
    for (const w of this.claimed.splice(0)) {
      await this.ctx.store.releaseLearner(w.learner.id, w.owner).catch((err: unknown) => this.ctx.log.error({ err }, "lease release failed"));
    }
  }

  /** Stop claiming, let each loop finish the message in hand, release leases. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await Promise.all(this.loops);
    this.loops = [];
    await this.claiming?.catch(() => undefined);
    await this.releaseClaimed();
  }

  /**
   * The next claimed learner for a loop. Claims are batched: while one claim statement runs, loops
   * that fall idle wait for it, and the next claim takes as many learners as loops are waiting
   * (the claim's scan of the pending inbox is the costly part; PostgreSQL ran it for every message).
   * Undefined when nothing is claimable now.
   */
  private async nextWork(): Promise<Work | undefined> {
    this.waiting++;
    try {
      for (;;) {
        if (this.holding) {
          // A claim that was in flight when the hold came: give its learners back.
          await this.releaseClaimed();
          return undefined;
        }
        const w = this.claimed.shift();
        if (w) return w;
        if (this.stopping) return undefined;
        if (this.claiming) {
          const startedAt = this.claimWakes;
          const full = await this.claiming.catch(() => false);
          // Nothing for us, unless a wake came after that claim began: then claim again.
          if (!full && !this.claimed.length && this.wakes === startedAt) return undefined;
          continue;
        }
        // Thousands of idle loops each polling would claim thousands of times a second: after an
        // empty claim, only a wake (new inbound here) or the gap's end lets the next one run.
        if (this.emptyAt && performance.now() - this.emptyAt < IDLE_GAP_MS) return undefined;
        this.claiming = this.pacedClaim().finally(() => {
          this.claiming = undefined;
        });
        const full = await this.claiming;
        if (!full && !this.claimed.length) return undefined;
      }
    } finally {
      this.waiting--;
    }
  }

  /** The next claim, CLAIM_GAP_MS after a partial one began, for as many loops as wait by then. */
  private async pacedClaim(): Promise<boolean> {
    const wait = this.partialAt ? this.partialAt + CLAIM_GAP_MS - performance.now() : 0;
    if (wait > 0) await delay(wait);
    if (this.holding || this.stopping) return false;
    return this.claimBatch(Math.min(CLAIM_MAX, Math.max(1, this.waiting)));
  }

  /** Claim up to n learners into the queue; true when it got all n (there may be more). */
  private async claimBatch(n: number): Promise<boolean> {
    const began = performance.now();
    const t = this.ctx.now();
    const wakes = (this.claimWakes = this.wakes);
    const got = await this.ctx.store.claimWork(`${this.instance}:${++this.claims}`, t, this.ctx.leaseMs, { learners: n, batch: BATCH, historyRows: HISTORY_ROWS, day: utcDay(t) });
    // Empty, and no wake came while it ran (that wake's message may have committed after this claim's snapshot).
    this.emptyAt = got.length || wakes !== this.wakes ? 0 : performance.now();
    this.claimed.push(...got);
    this.partialAt = got.length >= n ? 0 : began;
    return got.length >= n;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private async loop(): Promise<void> {
    const { log } = this.ctx;
    while (!this.stopping) {
      let claim;
      try {
        claim = await this.nextWork();
      } catch (err) {
        log.error({ err }, "claim failed");
        await this.sleep(500);
        continue;
      }
      if (!claim) {
        // Idle: new webhooks wake loops directly; the poll (with jitter, so idle loops do not
        // claim in lockstep) finds retries coming due and work that arrived at other replicas.
        await this.sleep((this.ctx.pollMs ?? 1000) * (0.5 + Math.random()));
        continue;
      }
      this.inFlight++;
      try {
        await this.drain(claim);
      } finally {
        this.inFlight--;
      }
    }
  }

  private async drain(work: Work): Promise<void> {
    const { store, log } = this.ctx;
    const owner = work.owner;
    let learner = work.learner;
    let retryAt = 0;
    let released = false;
    let first: InboundMessage[] | undefined = work.pending;
    // The claim's history and usage, carried from message to message (reply.ts: Context).
    let context: Context | undefined = work.context;
    const heartbeat = setInterval(() => {
      store.renewLease(learner.id, owner, this.ctx.now(), this.ctx.leaseMs).catch((err: unknown) => log.warn({ err }, "lease renewal failed"));
    }, Math.max(250, Math.floor(this.ctx.leaseMs / 3)));
    try {
      outer: while (!this.stopping && !this.holding) {
        const batch = first ?? (await store.pendingFor(learner.id, BATCH));
        first = undefined;
        for (const [i, m] of batch.entries()) {
          // A short batch was the whole backlog: its last message's final write also releases the lease.
          const release = batch.length < BATCH && i === batch.length - 1 ? { learnerId: learner.id, owner } : undefined;
          const r = await this.replier.handle(learner, m, context, release);
          if ("retryAt" in r) {
            retryAt = r.retryAt;
            break outer;
          }
          learner = r.learner;
          context = r.context;
          if (r.released) released = true;
          if (this.stopping || this.holding) break outer;
        }
        // A short batch was the whole backlog; anything that arrived meanwhile is claimed afresh.
        if (batch.length < BATCH) break;
      }
    } catch (err) {
      log.error({ err, learner: redactPhone(learner.phone) }, "worker failed on a learner; retrying later");
      retryAt = this.ctx.now() + (this.ctx.retryBaseMs ?? 1000);
    } finally {
      clearInterval(heartbeat);
      if (!released) await store.releaseLearner(learner.id, owner, retryAt).catch((err: unknown) => log.error({ err }, "lease release failed"));
    }
  }

  /** Answer one inbound message (or resume a recorded reply); resolves once it is settled or to be retried. */
  handle(learner: Learner, m: InboundMessage, context?: Context, release?: Release): Promise<Handled> {
    return this.replier.handle(learner, m, context, release);
  }

  /** Send a recorded outbound row; true when settled (sent or failed for good), else when to retry. */
  deliver(out: OutboundRow, learner: Learner, inboundId?: number, release?: Release): Promise<true | { retryAt: number }> {
    return this.replier.deliver(out, learner, inboundId, release);
  }
}
