/**
 * Send-rate token buckets (GCRA, the "virtual scheduling" form of a token bucket): each take()
 * reserves the next free slot and resolves when that slot arrives, so callers are served in
 * arrival order and the long-run rate never exceeds `ratePerSec`, with at most `burst` sends
 * back to back. The Redis variant keeps the one shared state (the theoretical arrival time) in a
 * single key updated by one Lua script, so several brain replicas share one number's limit.
 */
import type { Redis } from "ioredis";

export interface RateLimiter {
  /** Resolves when a send may proceed. */
  take(): Promise<void>;
  close?(): Promise<void>;
}

export interface Clock {
  now(): number; // milliseconds
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

function checkRate(ratePerSec: number, burst: number): void {
  if (!Number.isFinite(ratePerSec) || ratePerSec <= 0) throw new Error(`ratePerSec must be > 0, got ${ratePerSec}`);
  if (!Number.isInteger(burst) || burst < 1) throw new Error(`burst must be an integer >= 1, got ${burst}`);
}

/** In-process bucket. `burst` defaults to 1 (strictly spaced sends). */
export function localBucket(ratePerSec: number, burst = 1, clock: Clock = realClock): RateLimiter {
  checkRate(ratePerSec, burst);
  const interval = 1000 / ratePerSec;
  const tolerance = (burst - 1) * interval;
  let tat = -Infinity; // theoretical arrival time of the next conforming send
  return {
    async take() {
      const now = clock.now();
      const t = Math.max(tat, now);
      const allowAt = t - tolerance;
      tat = t + interval;
      const wait = allowAt - now;
      if (wait > 0) await clock.sleep(wait);
    },
    close: () => Promise.resolve(),
  };
}

/**
 * KEYS[1] = bucket key; ARGV[1] = interval (µs), ARGV[2] = tolerance (µs).
 * Returns the wait in µs before the reserved slot. Uses the Redis server clock, so replicas with
 * skewed clocks still agree. The key expires once it no longer constrains anyone.
 */
export const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local allow_at = tat - tolerance
local wait = allow_at - now
if wait < 0 then wait = 0 end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return string.format('%.0f', wait)
`;

type GcraRedis = Redis & { tierstackGcra(key: string, interval: string, tolerance: string): Promise<string> };

/** Bucket shared by every replica using the same Redis and key. Does not own (or close) `redis`. */
export function redisBucket(redis: Redis, key: string, ratePerSec: number, burst = 1): RateLimiter {
  checkRate(ratePerSec, burst);
  const intervalUs = 1_000_000 / ratePerSec;
  const toleranceUs = (burst - 1) * intervalUs;
  const r = redis as GcraRedis;
  if (typeof r.tierstackGcra !== "function") {
    redis.defineCommand("tierstackGcra", { numberOfKeys: 1, lua: GCRA_LUA });
  }
  return {
    async take() {
      const waitUs = Number(await r.tierstackGcra(key, intervalUs.toFixed(3), toleranceUs.toFixed(3)));
      if (waitUs > 0) await realClock.sleep(waitUs / 1000);
    },
    close: () => Promise.resolve(),
  };
}
