/**
 * The gateway's session registry over TLS + AUTH, through the code server.ts runs
 * (openRedisRegistry → the kit's connectRedis → ioredis), against a private TLS-only
 * redis-server (`--port 0 --tls-port N --requirepass …`) whose certificate a throw-away CA signed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueServerCert, makeCa, startTlsRedis, tlsDir, type TestCa, type TlsRedis } from "@tierstack/common/testing";
import { openRedisRegistry } from "../src/redis-registry.js";
import { readConfig } from "../src/config.js";

let dir: { dir: string; destroy: () => void };
let ca: TestCa;
let otherCa: TestCa;
/** Certificate like Memorystore's: the IP in the subject CN, no subjectAltName. */
let ipInCn: TlsRedis;
/** Certificate for another name (subjectAltName DNS:other.example). */
let otherName: TlsRedis;

beforeAll(async () => {
  dir = tlsDir();
  ca = makeCa(dir.dir, "tierstack-test-ca");
  otherCa = makeCa(dir.dir, "some-other-ca");
  ipInCn = await startTlsRedis(issueServerCert(ca, "redis-ip-cn", { cn: "127.0.0.1", san: [] }), ca);
  otherName = await startTlsRedis(issueServerCert(ca, "redis-other", { cn: "other.example", san: ["DNS:other.example"] }), ca);
});

afterAll(async () => {
  await ipInCn?.stop();
  await otherName?.stop();
  dir?.destroy();
});

const url = (s: TlsRedis, opts: { scheme?: string; password?: string | null } = {}) => {
  const pw = opts.password === undefined ? s.password : opts.password;
  return `${opts.scheme ?? "rediss"}://${pw === null ? "" : `:${pw}@`}127.0.0.1:${s.port}`;
};

async function startError(u: string, caFile?: string): Promise<string> {
  try {
    const r = await openRedisRegistry(u, "mcpgw-test:", 60_000, caFile);
    await r.close();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the connection to fail");
}

describe("gateway session registry over TLS with AUTH", () => {
  it("the right CA and auth string: a session is stored and read back", async () => {
    const registry = await openRedisRegistry(url(ipInCn), `mcpgw-test-${process.pid}:`, 60_000, ca.certFile);
    try {
      const rec = await registry.put({ id: "s1", agent: "a1", namespace: "dev-tools", legs: { "dev-tools": { replica: "http://r", upstream: "u1" } }, protocolVersion: "2025-11-25" });
      expect(await registry.get("s1")).toEqual(rec);
      expect(await registry.countOpen("dev-tools")).toBe(1);
    } finally {
      await registry.delete("s1");
      await registry.close();
    }
  });

  it("plaintext is refused: the server has no plaintext port, one line says so", async () => {
    const msg = await startError(url(ipInCn, { scheme: "redis" }));
    expect(msg.split("\n")).toHaveLength(1);
    expect(msg).toMatch(new RegExp(`^Redis 127\\.0\\.0\\.1:${ipInCn.port}: the server closed the connection before answering \\(.+\\): a TLS-only server needs rediss:// and REDIS_CA_FILE$`));
  });

  it("a wrong CA fails with one line naming the CA file", async () => {
    const msg = await startError(url(ipInCn), otherCa.certFile);
    expect(msg.split("\n")).toHaveLength(1);
    // redis-server sends its CA with the chain: Node names it "self-signed certificate in certificate chain".
    expect(msg).toBe(`Redis 127.0.0.1:${ipInCn.port}: TLS: the server's certificate is not signed by the CA in REDIS_CA_FILE=${otherCa.certFile} (self-signed certificate in certificate chain)`);
  });

  it("a wrong auth string fails with one line; none at all says AUTH is required", async () => {
    const wrong = await startError(url(ipInCn, { password: "not-the-auth-string" }), ca.certFile);
    expect(wrong).toBe(`Redis 127.0.0.1:${ipInCn.port}: AUTH failed: WRONGPASS invalid username-password pair or user is disabled. (the auth string in REDIS_URL is wrong)`);
    const none = await startError(url(ipInCn, { password: null }), ca.certFile);
    expect(none.split("\n")).toHaveLength(1);
    expect(none).toMatch(new RegExp(`^Redis 127\\.0\\.0\\.1:${ipInCn.port}: the server requires AUTH: put its auth string in REDIS_URL`));
  });

  it("a certificate from the right CA that names another host is refused", async () => {
    const msg = await startError(url(otherName), ca.certFile);
    expect(msg.split("\n")).toHaveLength(1);
    expect(msg).toMatch(new RegExp(`^Redis 127\\.0\\.0\\.1:${otherName.port}: TLS: the server's certificate does not name 127\\.0\\.0\\.1 \\(`));
  });

  it("the config refuses rediss:// without REDIS_CA_FILE, and an unreadable CA file, one line each", () => {
    const base = { GATEWAY_SHARDS: '{"dev-tools":["http://127.0.0.1:9"]}', TOKENS_DATABASE_URL: "sqlite::memory:" };
    const problems = (env: Record<string, string>) => {
      try {
        readConfig({ ...base, ...env });
      } catch (err) {
        return (err as { problems: string[] }).problems;
      }
      return [];
    };
    expect(problems({ REDIS_URL: "rediss://:x@10.0.0.3:6378" })).toEqual(["REDIS_URL is rediss:// but REDIS_CA_FILE is not set: the server's certificate is checked against that CA"]);
    expect(problems({ REDIS_URL: "rediss://:x@10.0.0.3:6378", REDIS_CA_FILE: "/nonexistent/ca.pem" })).toEqual(["REDIS_CA_FILE=/nonexistent/ca.pem: cannot read the CA file (ENOENT)"]);
    expect(problems({ REDIS_URL: "redis://10.0.0.3:6379", REDIS_CA_FILE: ca.certFile })).toEqual(["REDIS_CA_FILE is set but REDIS_URL is redis:// (plaintext): use rediss://"]);
    expect(problems({ REDIS_URL: "rediss://:x@10.0.0.3:6378", REDIS_CA_FILE: ca.certFile })).toEqual([]);
    // A tier may mount the CA for a gateway that keeps its sessions in memory.
    expect(problems({ REDIS_CA_FILE: ca.certFile })).toEqual([]);
  });
});
