/**
 * The task queue's write path during a tier cut-over (ADR 0043): serving → draining → frozen.
 *
 * - draining: no new claims (a claim is answered 503 with Retry-After; waiting long polls are
 *   answered empty); everything else is taken, so the leases already held can heartbeat,
 *   complete or fail, and enqueues keep landing in the store the final copy reads.
 * - frozen: every write is refused the same way; the freeze waits for the writes already in
 *   flight to commit, pauses the reaper and retention, lets the relay publish what the outbox
 *   holds and stops it. From then on the store does not change, so the final copy misses nothing
 *   the service acknowledged; the leases still held are copied with their tokens and expiries.
 * - resume: back to serving (a cut-over called off before the switch).
 *
 * A refusal is not an error an agent should treat as failure: it says when to come back, and by
 * then the new store answers.
 */
import type { FastifyReply } from "fastify";

export type CutoverMode = "serving" | "draining" | "frozen";
/** What a route does to the store: claims stop at the drain, every other write at the freeze. */
export type WriteKind = "claim" | "write";

export const CUTOVER_ERROR = "cutover";

export class Cutover {
  private current: CutoverMode = "serving";
  private inflight = 0;
  private idle: (() => void)[] = [];
  /** Seconds an agent is told to wait (Retry-After), set by the drain. */
  retryAfterSeconds = 5;

  get mode(): CutoverMode {
    return this.current;
  }

  get inflightWrites(): number {
    return this.inflight;
  }

  set(mode: CutoverMode): void {
    this.current = mode;
  }

  refuses(kind: WriteKind): boolean {
    return this.current === "frozen" || (this.current === "draining" && kind === "claim");
  }

  /** Runs a write unless the mode refuses it; counted while it runs, so a freeze waits for it. */
  async guard<T>(kind: WriteKind, reply: FastifyReply, run: () => Promise<T>): Promise<T | FastifyReply> {
    if (this.refuses(kind)) return this.refuse(kind, reply);
    this.inflight++;
    try {
      return await run();
    } finally {
      if (--this.inflight === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  refuse(kind: WriteKind, reply: FastifyReply): FastifyReply {
    const s = this.retryAfterSeconds;
    const message = kind === "claim" && this.current === "draining"
      ? `the task queue is draining for a cut-over to a new store: no new claims; retry after ${s} s (leases you hold stay valid: heartbeat, complete or fail them)`
      : `the task queue is frozen for the final copy of a cut-over: nothing was written; retry after ${s} s, when the new store takes it`;
    return reply.code(503).header("retry-after", String(s)).send({ error: CUTOVER_ERROR, message, retryAfterSeconds: s });
  }

  /** Resolves when no guarded write is running (or after timeoutMs); true when none is. */
  quiesce(timeoutMs: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.inflight === 0), timeoutMs);
      timer.unref();
      this.idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** Polls `check` every intervalMs until it is true or timeoutMs passed; returns its last answer. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(1, end - Date.now()))));
  }
}
