/**
 * The brain's Redis over TLS + AUTH, through the code server.ts runs (openRedis → the kit's
 * connectRedis → ioredis) and the shared send-rate bucket on it, against a private TLS-only
 * redis-server whose certificate a throw-away CA signed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueServerCert, makeCa, startTlsRedis, tlsDir, type TestCa, type TlsRedis } from "@tierstack/common/testing";
import { redisBucket } from "../src/ratelimit.js";
import { openRedis } from "../src/redis.js";

let dir: { dir: string; destroy: () => void };
let ca: TestCa;
let otherCa: TestCa;
let server: TlsRedis;

beforeAll(async () => {
  dir = tlsDir();
  ca = makeCa(dir.dir, "tierstack-test-ca");
  otherCa = makeCa(dir.dir, "some-other-ca");
  server = await startTlsRedis(issueServerCert(ca, "redis", { cn: "127.0.0.1", san: ["IP:127.0.0.1"] }), ca);
});

afterAll(async () => {
  await server?.stop();
  dir?.destroy();
});

const fails = async (url: string, caFile?: string) => {
  try {
    (await openRedis(url, caFile)).disconnect();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the connection to fail");
};

describe("brain Redis over TLS with AUTH", () => {
  it("the right CA and auth string: the send-rate bucket grants through the TLS connection", async () => {
    const redis = await openRedis(`rediss://:${server.password}@127.0.0.1:${server.port}`, ca.certFile);
    try {
      const key = `brain:send-rate:tls-test-${process.pid}`;
      const bucket = redisBucket(redis, key, 1000, 5);
      for (let i = 0; i < 5; i++) await bucket.take();
      expect(Number(await redis.get(key))).toBeGreaterThan(0);
      expect(await redis.pttl(key)).toBeGreaterThan(0);
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });

  it("plaintext, a wrong CA and a wrong auth string each fail with one line", async () => {
    const plain = await fails(`redis://:${server.password}@127.0.0.1:${server.port}`);
    const wrongCa = await fails(`rediss://:${server.password}@127.0.0.1:${server.port}`, otherCa.certFile);
    const wrongPw = await fails(`rediss://:wrong@127.0.0.1:${server.port}`, ca.certFile);
    for (const m of [plain, wrongCa, wrongPw]) expect(m.split("\n")).toHaveLength(1);
    expect(plain).toMatch(/: a TLS-only server needs rediss:\/\/ and REDIS_CA_FILE$/);
    expect(wrongCa).toContain(`TLS: the server's certificate is not signed by the CA in REDIS_CA_FILE=${otherCa.certFile}`);
    expect(wrongPw).toMatch(/AUTH failed: WRONGPASS/);
    expect(wrongPw).not.toContain("wrong@");
  });
});
