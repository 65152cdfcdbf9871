import { describe, expect, it } from "vitest";
import { ackSeconds } from "./latency.js";

describe("acks per second", () => {
  it("counts the seconds whose own p99 is over the threshold", () => {
    const acks: [number, number][] = [];
    for (let s = 0; s < 10; s++) for (let i = 0; i < 100; i++) acks.push([1_000 + s * 1000 + i * 10, s === 3 || s === 7 ? (i < 5 ? 120 : 5) : 5]);
    expect(ackSeconds(acks, 1_000, 50)).toEqual({ seconds: 10, slow: 2, worstP99: 120 });
    // one slow ack in a second of 100 is under that second's p99
    acks.push([1_000 + 500, 400]);
    expect(ackSeconds(acks, 1_000, 50).slow).toBe(2);
  });
  it("reports nothing for no acks", () => {
    const r = ackSeconds([], 0, 50);
    expect(r.seconds).toBe(0);
    expect(r.slow).toBe(0);
    expect(r.worstP99).toBeNaN();
  });
});
