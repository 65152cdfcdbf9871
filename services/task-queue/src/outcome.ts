import { backoffDelay, type BackoffPolicy } from "@tierstack/common";
import { stored, type Dialect } from "./dialect.js";
import { rowToTask, type TaskRow } from "./rows.js";
import type { Outcome } from "./types.js";

/**
 * The decisions both stores apply, written once: what a failure does to a task (dead letter,
 * or back to ready after a backoff), and what a fenced write that matched nothing answers.
 */

/** A task that has used all its attempts. The SQL form, for the reaper's bulk update. */
export const OUT_OF_ATTEMPTS = "attempts >= max_attempts";
export const outOfAttempts = (t: { attempts: number; max_attempts: number }): boolean => t.attempts >= t.max_attempts;

export type FailureDecision = { state: "dead" } | { state: "ready"; delayMs: number };

/**
 * A holder reported failure. Dead when it asked for no retry or the task is out of attempts;
 * otherwise ready again after backoffDelay(attempts − 1): attempt 1's failure waits up to
 * baseMs, each further one twice as long, capped (ADR 0012).
 */
export function decideFailure(t: { attempts: number; max_attempts: number }, retry: boolean, backoff: BackoffPolicy, random?: () => number): FailureDecision {
  if (!retry || outOfAttempts(t)) return { state: "dead" };
  return { state: "ready", delayMs: backoffDelay(Math.max(0, t.attempts - 1), backoff, random) };
}

/**
 * Why a fenced write matched nothing, from the task's current row: no such task; or (for a
 * completion, given its token) a retry of this lease's own committed completion, answered ok so
 * a client can retry after a lost answer without a second completion; or `miss`.
 */
export function missed(d: Dialect, row: TaskRow | undefined, miss: "stale" | "conflict", completionToken?: string): Outcome {
  if (!row) return { status: "not_found" };
  if (completionToken !== undefined && row.state === "completed" && stored.text(row.lease_token) === completionToken) return { status: "ok", task: rowToTask(d, row) };
  return { status: miss, task: rowToTask(d, row) };
}
