import { describe, expect, it } from "vitest";
import { pooledFloor } from "./trial.js";

describe("the pooled floor", () => {
  it("is both trials' CPU over both trials' messages, not the mean of their ratios", () => {
    // 20,000 messages at 0.25 and 10,000 at 0.40: 9,000 CPU-ms over 30,000 messages
    expect(pooledFloor([{ cpuMs: 5_000, perUnit: 0.25 }, { cpuMs: 4_000, perUnit: 0.4 }])).toBeCloseTo(0.3, 10);
  });
  it("leaves out a trial that measured no message, and is NaN with none", () => {
    expect(pooledFloor([{ cpuMs: 6_000, perUnit: 0.3 }, { cpuMs: 50, perUnit: NaN }])).toBeCloseTo(0.3, 10);
    expect(pooledFloor([])).toBeNaN();
  });
});
