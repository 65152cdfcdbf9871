/**
 * The benchmark's modelled peers: the seeded latency distribution has the stated median and p99,
 * the same seed gives the same waits, and the Cloud API peer answers 429 with Retry-After at the
 * stated share and counts a second accepted send for one inbound message as a duplicate.
 */
import { describe, expect, it } from "vitest";
import { meanMs, sampler, startCloudApiPeer, type LatencySpec } from "./peers.js";

const spec: LatencySpec = { kind: "lognormal", medianMs: 1500, p99Ms: 6000 };

describe("latency distribution", () => {
  it("has the stated median, p99 and mean, and repeats for one seed", () => {
    const draw = sampler(spec, 7);
    const xs = Array.from({ length: 200_000 }, draw);
    const again = sampler(spec, 7);
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, again));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    xs.sort((a, b) => a - b);
    expect(xs[100_000]! / 1500).toBeCloseTo(1, 1);
    expect(xs[198_000]! / 6000).toBeCloseTo(1, 1);
    expect(mean / meanMs(spec)).toBeCloseTo(1, 1);
    expect(sampler({ kind: "fixed", medianMs: 40, p99Ms: 0 }, 1)()).toBe(40);
  });
});

describe("Cloud API peer", () => {
  const send = (url: string, text: string) =>
    fetch(`${url}/v23.0/1098765432/messages`, { method: "POST", headers: { authorization: "Bearer t", "content-type": "application/json" }, body: JSON.stringify({ messaging_product: "whatsapp", to: "447000000001", type: "text", text: { body: text } }) });

  it("answers 429 with Retry-After at the stated share", async () => {
    const peer = await startCloudApiPeer({ latency: { kind: "fixed", medianMs: 0, p99Ms: 0 }, seed: 3, rate429: 1, rate5xx: 0, retryAfterS: 2, accessToken: "t" });
    try {
      const r = await send(peer.url, "re: t=1 id=a.1");
      expect(r.status).toBe(429);
      expect(r.headers.get("retry-after")).toBe("2");
      expect(((await r.json()) as { error: { code: number } }).error.code).toBe(130429);
      expect(peer.accepted).toHaveLength(0);
    } finally {
      await peer.close();
    }
  });

  it("records accepted sends per inbound message and counts duplicates", async () => {
    const peer = await startCloudApiPeer({ latency: { kind: "fixed", medianMs: 0, p99Ms: 0 }, seed: 3, rate429: 0, rate5xx: 0, retryAfterS: 1, accessToken: "t" });
    try {
      for (const text of ["re: t=10.5 id=a.1", "re: t=11 id=a.2", "re: t=10.5 id=a.1", "welcome"]) expect((await send(peer.url, text)).status).toBe(200);
      expect(peer.duplicates).toBe(1);
      expect(peer.other).toBe(1);
      expect(peer.accepted.map((a) => [a.intended, a.first])).toEqual([[10.5, true], [11, true], [10.5, false]]);
    } finally {
      await peer.close();
    }
  });
});
