import { available, REDIS_URL } from "@tierstack/common/testing";
import fc from "fast-check";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localBucket, redisBucket, type Clock } from "./ratelimit.js";

/** A virtual clock: sleep() records the wait and resolves at once; time moves only by hand. */
function virtualClock(): Clock & { t: number; waits: number[] } {
  const c = {
    t: 0,
    waits: [] as number[],
    now: () => c.t,
    sleep: (ms: number) => {
      c.waits.push(ms);
      return Promise.resolve();
    },
  };
  return c;
}

describe("localBucket (virtual clock)", () => {
  it("lets a burst through, then spaces sends at 1/rate, and refills while idle", async () => {
    const clock = virtualClock();
    const bucket = localBucket(10, 3, clock); // 100 ms per token, 3 back to back
    for (let i = 0; i < 5; i++) await bucket.take();
    expect(clock.waits).toEqual([100, 200]); // takes 1-3 immediate, then 100 and 200 ms
    clock.t = 10_000; // long idle: full burst again, never more
    clock.waits.length = 0;
    for (let i = 0; i < 4; i++) await bucket.take();
    expect(clock.waits).toEqual([100]);
  });

  it("burst defaults to 1 (strict spacing) and bad parameters throw", async () => {
    const clock = virtualClock();
    const bucket = localBucket(4, undefined, clock);
    await bucket.take();
    await bucket.take();
    await bucket.take();
    expect(clock.waits).toEqual([250, 500]);
    expect(() => localBucket(0)).toThrow(/ratePerSec/);
    expect(() => localBucket(-1)).toThrow(/ratePerSec/);
    expect(() => localBucket(5, 0)).toThrow(/burst/);
    expect(() => localBucket(5, 1.5)).toThrow(/burst/);
  });

  it("property: any arrival pattern ⇒ grants in order, never before arrival, and j-i grants span ≥ (j-i-burst+1)/rate", async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 10 }),
      fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 60 }),
      async (rate, burst, gaps) => {
        const clock = virtualClock();
        const bucket = localBucket(rate, burst, clock);
        const grants: number[] = [];
        for (const gap of gaps) {
          clock.t += gap;
          const before = clock.waits.length;
          await bucket.take();
          const wait = clock.waits.length > before ? clock.waits.at(-1)! : 0;
          expect(wait).toBeGreaterThan(-1e-9);
          grants.push(clock.t + wait);
        }
        const interval = 1000 / rate;
        for (let i = 0; i < grants.length; i++) {
          for (let j = i + 1; j < grants.length; j++) {
            expect(grants[j]!).toBeGreaterThanOrEqual(grants[i]! - 1e-6);
            expect(grants[j]! - grants[i]!).toBeGreaterThanOrEqual((j - i - burst + 1) * interval - 1e-6);
          }
        }
      },
    ), { numRuns: 200 });
  });
});

describe("localBucket (real time)", () => {
  it("N concurrent takes at rate r take at least (N - burst)/r seconds", async () => {
    const bucket = localBucket(200, 2);
    const start = performance.now();
    await Promise.all(Array.from({ length: 30 }, () => bucket.take()));
    expect(performance.now() - start).toBeGreaterThanOrEqual(((30 - 2) / 200) * 1000 - 2);
  });
});

const redisUp = await available("redis", REDIS_URL);

describe.skipIf(!redisUp)("redisBucket (real Redis)", () => {
  let a: Redis;
  let b: Redis;
  const keys: string[] = [];
  const key = (name: string) => {
    const k = `tierstack:test:ratelimit:${name}:${randomUUID()}`;
    keys.push(k);
    return k;
  };
  beforeAll(() => {
    a = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
    b = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (keys.length) await a.del(...keys);
    a.disconnect();
    b.disconnect();
  });

  it("two limiters (two connections, as two replicas) sharing one key keep the combined rate", async () => {
    const k = key("shared");
    const rate = 50;
    const one = redisBucket(a, k, rate, 1);
    const two = redisBucket(b, k, rate, 1);
    const start = performance.now();
    const stamps: number[] = [];
    const run = (l: typeof one) => Promise.all(Array.from({ length: 20 }, () => l.take().then(() => stamps.push(performance.now()))));
    await Promise.all([run(one), run(two)]);
    const elapsed = performance.now() - start;
    // 40 sends at a combined 50/s need ≥ 39 intervals (780 ms); a per-replica limit would let them
    // through in about half of that.
    expect(stamps).toHaveLength(40);
    expect(elapsed).toBeGreaterThanOrEqual((39 / rate) * 1000 - 5);
    await one.close?.();
    await two.close?.();
  });

  it("reserves consecutive slots from the server clock and sets an expiry on the key", async () => {
    const k = key("slots");
    const bucket = redisBucket(a, k, 1, 2); // 1/s, burst 2
    // two immediate grants (burst) — then the third would wait about a second; read the reservation directly
    await bucket.take();
    await bucket.take();
    const tat = Number(await a.get(k));
    const t = await a.time();
    const nowUs = Number(t[0]) * 1e6 + Number(t[1]);
    // theoretical arrival time is two intervals after the first grant: at most 2 s ahead of now
    expect(tat - nowUs).toBeGreaterThan(0);
    expect(tat - nowUs).toBeLessThanOrEqual(2e6);
    const pttl = await a.pttl(k);
    expect(pttl).toBeGreaterThan(0);
  });

  it("keys are independent", async () => {
    const k1 = key("k1");
    const k2 = key("k2");
    const l1 = redisBucket(a, k1, 1, 1);
    await l1.take();
    await redisBucket(a, k2, 1, 1).take();
    const t = await a.time();
    const nowUs = Number(t[0]) * 1e6 + Number(t[1]);
    // each key holds exactly one reservation (≤ 1 s ahead); a shared state would put k2 2 s ahead
    for (const k of [k1, k2]) expect(Number(await a.get(k)) - nowUs).toBeLessThanOrEqual(1e6);
  });
});
