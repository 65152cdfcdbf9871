/**
 * The one "with a healthy replica, retry on not-delivered" loop (ADR 0023). Every call the gateway
 * makes to a shard goes through `callReplica`: pick a live replica, call it, and when the call failed
 * in a way that proves it had no effect upstream, call again on another replica. A failure that may
 * have executed (a reset mid-request, a timeout after sending, an HTTP error answer) is never retried,
 * so a tool never runs twice because of the gateway.
 */
import { isReplicaDown, notDelivered } from "./upstream.js";

/** What the loop needs from the health checker (ReplicaHealth; a fake in unit tests). */
export interface ReplicaPicker {
  /** A live replica of the namespace not in `exclude`, round-robin; undefined when there is none. */
  pick(namespace: string, exclude?: Set<string>): string | undefined;
  markDead(replica: string, reason: string): void;
}

/** The namespace has no live replica (left to try): the gateway answers 503, JSON-RPC -32003, `data.namespace`. */
export class NoReplica extends Error {
  constructor(public readonly namespace: string) {
    super(`namespace ${namespace} has no live replica`);
  }
}

/**
 * Thrown by a call to say "this attempt had no effect upstream, try again" for a reason the error
 * code does not show: the replica forgot the session (404 before anything ran), or the pooled session
 * could not be opened. `cause` is what is thrown if no attempt is left.
 */
export class NotDelivered extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NotDelivered";
  }
}

export interface Attempt {
  /** 0 for the first attempt. */
  n: number;
  /** No attempt follows this one: a call should return what it has rather than throw NotDelivered. */
  last: boolean;
}

export interface ReplicaCallOptions {
  /** Failures (besides NotDelivered) that may be retried: default `notDelivered` (the request never left). */
  retryIf?: (err: unknown) => boolean;
  /** At most this many attempts; default: until no live replica is left untried. */
  attempts?: number;
  /**
   * Where an attempt goes; default: round-robin over the live replicas not tried yet. Undefined ⇒
   * NoReplica. Errors it throws end the loop as they are (they are not attempts).
   */
  choose?: (attempt: Attempt, tried: ReadonlySet<string>) => string | undefined | Promise<string | undefined>;
}

/**
 * Call `call` on a live replica of `namespace`; on a failure that was not delivered, call again on
 * another one. A replica-down failure (refused, reset, unreachable) marks the replica dead at once
 * (passive health check), whether or not the call is retried. Throws NoReplica when no replica is live
 * (left), and the last failure when it may not be retried or no attempt is left.
 */
export async function callReplica<T>(
  health: ReplicaPicker,
  namespace: string,
  call: (replica: string, attempt: Attempt) => Promise<T>,
  opts: ReplicaCallOptions = {},
): Promise<T> {
  const retryIf = opts.retryIf ?? notDelivered;
  const max = opts.attempts ?? Infinity;
  const tried = new Set<string>();
  for (let n = 0; ; n++) {
    const attempt: Attempt = { n, last: n + 1 >= max };
    const replica = opts.choose ? await opts.choose(attempt, tried) : health.pick(namespace, tried);
    if (replica === undefined) throw new NoReplica(namespace);
    tried.add(replica);
    try {
      return await call(replica, attempt);
    } catch (err) {
      const asked = err instanceof NotDelivered;
      const failure = asked && err.cause !== undefined ? err.cause : err;
      if (isReplicaDown(failure)) health.markDead(replica, (failure as Error).message);
      if (attempt.last || !(asked || retryIf(err))) throw failure;
    }
  }
}
