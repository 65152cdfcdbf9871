/**
 * The platform's one exponential backoff. Every retry loop (task-queue failures and its relay,
 * the brain's LLM, Cloud API and worker retries) takes its delay from here, so "how long before
 * the next try" means the same thing everywhere:
 *
 *   ceiling = min(maxMs, baseMs · 2^retry)
 *   delay   = floor(ceiling · (1 − jitter + jitter · random()))
 *
 * `retry` counts from 0: the wait before the second attempt is retry 0 (it waits up to baseMs).
 * `jitter` is the share of the ceiling that is random:
 *   - 1   "full jitter": uniform in [0, ceiling) — spreads a crowd of retries the most;
 *   - 0.5 uniform in [ceiling/2, ceiling) — the task queue's retry delay (never much shorter
 *         than the schedule promises);
 *   - 0   no jitter: exactly the ceiling (a single retrier, e.g. one reconnect loop).
 */
export interface BackoffPolicy {
  /** The first retry's ceiling, ms (≥ 0). */
  baseMs: number;
  /** No delay is longer than this, ms (≥ 0). */
  maxMs: number;
  /** Share of the ceiling that is random, 0…1. */
  jitter: number;
}

export function backoffDelay(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const { baseMs, maxMs, jitter } = policy;
  if (!Number.isInteger(retry) || retry < 0) throw new RangeError(`backoffDelay: retry must be a whole number ≥ 0, got ${retry}`);
  if (!(baseMs >= 0) || !(maxMs >= 0)) throw new RangeError(`backoffDelay: baseMs and maxMs must be ≥ 0, got ${baseMs} and ${maxMs}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoffDelay: jitter must be in [0, 1], got ${jitter}`);
  // 2^1024 is Infinity and 0 · Infinity is NaN: past 2^64 every ceiling is maxMs anyway.
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(retry, 64));
  return Math.floor(ceiling * (1 - jitter + jitter * random()));
}
