import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.js";

describe("RateLimiter (per-agent token bucket)", () => {
  it("allows a burst, then refills at the configured rate, per agent", () => {
    let t = 0;
    const rl = new RateLimiter(2, 3, () => t);
    expect([rl.take("a"), rl.take("a"), rl.take("a")]).toEqual([0, 0, 0]);
    expect(rl.take("a")).toBe(500); // one token per 500 ms at 2/s
    expect(rl.take("b")).toBe(0); // another agent has its own bucket
    t += 500;
    expect(rl.take("a")).toBe(0);
    expect(rl.take("a")).toBeGreaterThan(0);
    t += 10_000;
    expect([rl.take("a"), rl.take("a"), rl.take("a"), rl.take("a")].filter((w) => w === 0)).toHaveLength(3); // capped at burst
  });
});
