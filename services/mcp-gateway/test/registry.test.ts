/** One contract over both session registries; Redis is the real server at 6379 with a per-run key prefix. */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { REDIS_URL, available } from "@tierstack/common/testing";
import { MemorySessionRegistry, RedisSessionRegistry, type SessionRegistry } from "../src/registry.js";

const TTL = 60_000;
const redisUp = await available("redis", REDIS_URL);
const prefix = `mcpgw-test-${process.pid}-${randomBytes(4).toString("hex")}:`;
const clients: Redis[] = [];

afterAll(async () => {
  if (clients[0]) {
    const keys = await clients[0].keys(`${prefix}*`);
    if (keys.length) await clients[0].del(...keys);
  }
  await Promise.all(clients.map((c) => c.quit()));
});

type Make = (now: () => number) => SessionRegistry;
const makers: Array<[string, Make, boolean]> = [
  ["MemorySessionRegistry", (now) => new MemorySessionRegistry(TTL, now), true],
  [
    "RedisSessionRegistry",
    (now) => {
      const c = new Redis(REDIS_URL);
      clients.push(c);
      return new RedisSessionRegistry(c, `${prefix}${randomBytes(3).toString("hex")}:`, TTL, now);
    },
    redisUp,
  ],
];

const rec = (id: string, namespace = "dev-tools") => ({
  id,
  agent: "agent-a",
  namespace,
  legs: { [namespace]: { replica: "http://127.0.0.1:9101/mcp", upstream: `up-${id}` } },
  protocolVersion: "2025-11-25",
});

for (const [name, make, enabled] of makers) {
  describe.skipIf(!enabled)(`${name} contract`, () => {
    let t = 1_000_000;
    const now = () => t;

    it("stores, returns and deletes a session", async () => {
      const r = make(now);
      expect(await r.get("missing")).toBeUndefined();
      const put = await r.put(rec("s1"));
      expect(put.expiresAt).toBe(t + TTL);
      expect(await r.get("s1")).toMatchObject(rec("s1"));
      expect(await r.delete("s1")).toBe(true);
      expect(await r.delete("s1")).toBe(false);
      expect(await r.get("s1")).toBeUndefined();
    });

    it("replaces legs of a live session", async () => {
      const r = make(now);
      await r.put({ ...rec("fed", "*"), legs: {} });
      await r.setLegs("fed", { commerce: { replica: "http://127.0.0.1:9201/mcp", upstream: "u1" } });
      expect((await r.get("fed"))?.legs).toEqual({ commerce: { replica: "http://127.0.0.1:9201/mcp", upstream: "u1" } });
    });

    it("expires after the TTL, and slides the expiry when used after half of it", async () => {
      const r = make(now);
      await r.put(rec("slide"));
      await r.put(rec("idle"));
      t += TTL * 0.6;
      expect(await r.get("slide")).toBeDefined();
      t += TTL * 0.6;
      expect(await r.get("slide")).toBeDefined();
      expect(await r.get("idle")).toBeUndefined();
    });

    it("counts open sessions per namespace, leaving out expired ones", async () => {
      const r = make(now);
      await r.put(rec("a1", "alpha"));
      await r.put(rec("a2", "alpha"));
      await r.put(rec("b1", "beta"));
      expect(await r.countOpen("alpha")).toBe(2);
      expect(await r.countOpen("beta")).toBe(1);
      await r.delete("a1");
      expect(await r.countOpen("alpha")).toBe(1);
      t += TTL + 1;
      expect(await r.countOpen("alpha")).toBe(0);
    });
  });
}

describe.skipIf(!redisUp)("RedisSessionRegistry reading what another writer left", () => {
  it.each<[string, string]>([
    ["not JSON", "{nope"],
    ["JSON but not a record", '"gw_x"'],
    ["a record without legs", JSON.stringify({ ...rec("x"), legs: undefined, expiresAt: Date.now() + TTL })],
    ["a record whose leg lacks its replica", JSON.stringify({ ...rec("x"), legs: { "dev-tools": { upstream: "u" } }, expiresAt: Date.now() + TTL })],
  ])("%s reads as no session (the client gets 404), and is deleted", async (_what, raw) => {
    const c = new Redis(REDIS_URL);
    clients.push(c);
    const p = `${prefix}garbage:${randomBytes(3).toString("hex")}:`;
    const r = new RedisSessionRegistry(c, p, TTL);
    await c.set(`${p}s:x`, raw, "PX", TTL);
    expect(await r.get("x")).toBeUndefined();
    await r.setLegs("x", {});
    expect(await c.get(`${p}s:x`)).toBe(raw);
    expect(await r.delete("x")).toBe(true);
    expect(await c.get(`${p}s:x`)).toBeNull();
  });
});

describe.skipIf(!redisUp)("RedisSessionRegistry shared by two gateway replicas", () => {
  it("a session written by one instance is read and deleted by another", async () => {
    const p = `${prefix}shared:`;
    const [c1, c2] = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
    clients.push(c1, c2);
    const a = new RedisSessionRegistry(c1, p, TTL);
    const b = new RedisSessionRegistry(c2, p, TTL);
    await a.put(rec("x"));
    expect((await b.get("x"))?.legs).toEqual(rec("x").legs);
    expect(await b.delete("x")).toBe(true);
    expect(await a.get("x")).toBeUndefined();
  });
});
