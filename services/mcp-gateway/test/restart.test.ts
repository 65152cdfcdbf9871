/**
 * Gateway restarts. Redis mode (tier-50+): two gateway processes route one session to its owner, and a
 * restarted gateway loses no session. Memory mode (single box): a restart answers 404 and the client
 * re-initializes.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { REDIS_URL, available } from "@tierstack/common/testing";
import { TEST_HEALTH_ENV, configFor, pidOf, rawPost, sdkClient, startInProcess, textOf, tokenDb } from "./helpers.js";
import { startGateway, startReplica, type Proc } from "./peers.js";

const redisUp = await available("redis", REDIS_URL);
const prefix = `mcpgw-restart-${process.pid}-${randomBytes(4).toString("hex")}:`;
let db: Awaited<ReturnType<typeof tokenDb>>;
let replicas: Proc[] = [];
const gateways: Proc[] = [];

beforeAll(async () => {
  db = await tokenDb();
  replicas = await Promise.all([startReplica("dev-tools"), startReplica("dev-tools")]);
});

afterAll(async () => {
  await Promise.all([...gateways, ...replicas].map((p) => p.kill()));
  if (redisUp) {
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
  }
  await db?.close();
});

const whoamiRaw = async (base: string, token: string, sid: string, id: number) => {
  const res = await rawPost(
    `${base}/mcp/dev-tools`,
    { authorization: `Bearer ${token}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" },
    { jsonrpc: "2.0", id, method: "tools/call", params: { name: "whoami", arguments: {} } },
  );
  expect(res.status).toBe(200);
  return pidOf(textOf(res.message?.result));
};

describe.skipIf(!redisUp)("Redis session registry across gateway processes", () => {
  it("routes a session to its owner through either gateway, and across a gateway restart", async () => {
    const env = {
      GATEWAY_SHARDS: JSON.stringify({ "dev-tools": replicas.map((r) => r.url) }),
      TOKENS_DATABASE_URL: db.url,
      REDIS_URL,
      GATEWAY_REDIS_PREFIX: prefix,
      // The default 2 s interval, but a 10 s ping timeout: a replica stalled past 1 s on a loaded box
      // would be marked dead and the session's owner lost (helpers.ts).
      GATEWAY_HEALTH_TIMEOUT_MS: TEST_HEALTH_ENV.GATEWAY_HEALTH_TIMEOUT_MS,
      PORT: "0",
    };
    const [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
    gateways.push(a, b);
    const token = await db.issue("agent-redis");
    const { client, transport, close } = await sdkClient(`${a.url}/mcp/dev-tools`, token);
    const owner = pidOf(textOf(await client.callTool({ name: "whoami", arguments: {} })));
    const sid = transport.sessionId as string;
    for (let i = 0; i < 5; i++) {
      expect(await whoamiRaw(b.url, token, sid, 100 + i)).toBe(owner);
      expect(pidOf(textOf(await client.callTool({ name: "whoami", arguments: {} })))).toBe(owner);
    }
    // restart gateway A on the same port: the SDK client keeps its session and still reaches its owner
    await a.kill("SIGTERM");
    const a2 = await startGateway({ ...env, PORT: String(a.port) });
    gateways.push(a2);
    for (let i = 0; i < 3; i++) expect(pidOf(textOf(await client.callTool({ name: "whoami", arguments: {} })))).toBe(owner);
    await close();
  });
});

describe("memory session registry (single box)", () => {
  it("a restarted gateway answers 404 and the client re-initializes", async () => {
    const config = configFor({ "dev-tools": replicas.map((r) => r.url) });
    const first = await startInProcess(config, db.tokens);
    const port = new URL(first.base).port;
    const token = await db.issue("agent-memory");
    const { client, close } = await sdkClient(`${first.base}/mcp/dev-tools`, token);
    await client.callTool({ name: "whoami", arguments: {} });
    await first.stop();
    const gw = await startInProcess(config, db.tokens, undefined, Number(port));
    try {
      const err = await client.callTool({ name: "whoami", arguments: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StreamableHTTPError);
      expect((err as StreamableHTTPError).code).toBe(404);
      await close().catch(() => undefined);
      const again = await sdkClient(`http://127.0.0.1:${port}/mcp/dev-tools`, token);
      expect(replicas.map((r) => r.pid)).toContain(pidOf(textOf(await again.client.callTool({ name: "whoami", arguments: {} }))));
      await again.close();
    } finally {
      await gw.stop();
    }
  });
});
