import { describe, expect, it } from "vitest";
import { backoffDelay, type BackoffPolicy } from "./backoff.js";

const full: BackoffPolicy = { baseMs: 100, maxMs: 10_000, jitter: 1 };
const half: BackoffPolicy = { baseMs: 1000, maxMs: 300_000, jitter: 0.5 };
const none: BackoffPolicy = { baseMs: 250, maxMs: 5000, jitter: 0 };

describe("backoffDelay", () => {
  it("full jitter: uniform in [0, min(max, base·2^retry))", () => {
    expect(backoffDelay(0, full, () => 0.999)).toBe(99);
    expect(backoffDelay(3, full, () => 0.5)).toBe(400);
    expect(backoffDelay(30, full, () => 0.999)).toBe(9990);
    expect(backoffDelay(2, full, () => 0)).toBe(0);
  });

  it("half jitter: never below half the ceiling, below the ceiling itself", () => {
    expect(backoffDelay(0, half, () => 0)).toBe(500);
    expect(backoffDelay(0, half, () => 0.999)).toBe(999);
    expect(backoffDelay(2, half, () => 0.5)).toBe(3000);
    expect(backoffDelay(20, half, () => 0)).toBe(150_000);
  });

  it("no jitter: exactly the doubling ceiling, whatever random says", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, none, () => 0.3))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
  });

  it("stays finite and capped for very large retry numbers, also with a zero base", () => {
    expect(backoffDelay(5000, none)).toBe(5000);
    expect(backoffDelay(5000, { baseMs: 0, maxMs: 5000, jitter: 1 })).toBe(0);
  });

  it("draws in range with the real random source", () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(4, half);
      expect(d).toBeGreaterThanOrEqual(8000);
      expect(d).toBeLessThan(16_000);
    }
  });

  it("refuses nonsense parameters instead of sleeping NaN", () => {
    expect(() => backoffDelay(-1, full)).toThrow(RangeError);
    expect(() => backoffDelay(1.5, full)).toThrow(RangeError);
    expect(() => backoffDelay(0, { ...full, jitter: 2 })).toThrow(/jitter/);
    expect(() => backoffDelay(0, { ...full, baseMs: Number.NaN })).toThrow(/baseMs/);
  });
});
