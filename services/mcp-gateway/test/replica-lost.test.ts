/**
 * A gateway replica lost mid-session (tier-100: gateway replicas behind one Service, sessions in
 * Redis). Two real gateway processes share a private redis-server; a loopback TCP balancer in
 * front of them stands for the Service (it sends each new connection to the first gateway that
 * accepts it, as a Service does once a dead pod's endpoint is gone). A client opens its session
 * through gateway A, with a standalone SSE stream open; A is SIGKILLed.
 *
 * What the code does, and this test pins: the session record lives in Redis and the upstream
 * session lives in the shard replica, neither in the dead gateway, so the client's next call is
 * served by gateway B on the same session (same Mcp-Session-Id, same shard replica, no 404 and no
 * re-initialize), on the pass-through route and on the federated /mcp alike. A request that was
 * in flight through A when it died is not answered at all (the connection closes: a transport
 * error, not a 404); the session survives it.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inCI, startPrivateRedis, waitFor, type PrivateServer } from "@tierstack/common/testing";
import { TEST_HEALTH_ENV, pidOf, rawPost, sdkClient, textOf, tokenDb } from "./helpers.js";
import { startGateway, startReplica, type Proc } from "./peers.js";

function redisServerInstalled(): boolean {
  if (spawnSync("redis-server", ["--version"]).status === 0) return true;
  if (inCI) throw new Error("redis-server is not installed and CI=true: install it (see .ci/apt-packages)");
  console.warn("[test] redis-server not found: skipping the lost-gateway-replica test");
  return false;
}
const redisInstalled = redisServerInstalled();

/**
 * A TCP balancer on loopback: each new connection goes to the first backend that accepts it, and
 * is closed when its backend's side closes. Counts connections per backend.
 */
async function balancer(backends: number[]) {
  const opened = new Map<number, number>(backends.map((b) => [b, 0]));
  const open = new Map<number, Set<net.Socket>>(backends.map((b) => [b, new Set()]));
  const server = net.createServer((client) => {
    client.pause();
    let upstream: net.Socket | undefined;
    const attempt = (i: number) => {
      const port = backends[i];
      if (port === undefined) return void client.destroy();
      const up = net.connect({ host: "127.0.0.1", port });
      upstream = up;
      let connected = false;
      up.once("connect", () => {
        connected = true;
        opened.set(port, (opened.get(port) ?? 0) + 1);
        open.get(port)?.add(up);
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
      up.on("error", () => {
        if (!connected) attempt(i + 1);
      });
      up.once("close", () => {
        open.get(port)?.delete(up);
        if (connected) client.destroy();
      });
    };
    client.on("error", () => undefined);
    client.once("close", () => upstream?.destroy());
    attempt(0);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    opened: (port: number) => opened.get(port) ?? 0,
    openNow: (port: number) => open.get(port)?.size ?? 0,
    close: () => new Promise<void>((r) => {
      for (const set of open.values()) for (const s of set) s.destroy();
      server.close(() => r());
    }),
  };
}

const prefix = `mcpgw-lost-${process.pid}-${randomBytes(4).toString("hex")}:`;
let redis: PrivateServer | undefined;
let db: Awaited<ReturnType<typeof tokenDb>>;
let replicas: Proc[] = [];
const gateways: Proc[] = [];
let lb: Awaited<ReturnType<typeof balancer>> | undefined;

beforeAll(async () => {
  db = await tokenDb();
  if (!redisInstalled) return;
  redis = await startPrivateRedis();
  replicas = await Promise.all([startReplica("dev-tools"), startReplica("dev-tools")]);
});

afterAll(async () => {
  await lb?.close();
  await Promise.all([...gateways, ...replicas].map((p) => p.kill("SIGKILL")));
  await redis?.destroy();
  await db?.close();
});

describe.skipIf(!redisInstalled)("a gateway replica lost mid-session (sessions in Redis)", () => {
  it("the next call through the surviving replica is served on the same session; an in-flight call fails at the transport", async () => {
    const env = {
      GATEWAY_SHARDS: JSON.stringify({ "dev-tools": replicas.map((r) => r.url) }),
      TOKENS_DATABASE_URL: db.url,
      REDIS_URL: (redis as PrivateServer).url,
      GATEWAY_REDIS_PREFIX: prefix,
      ...TEST_HEALTH_ENV, // a 200 ms interval, a 10 s ping timeout (helpers.ts)
      PORT: "0",
    };
    const [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
    gateways.push(a, b);
    lb = await balancer([a.port, b.port]);
    const token = await db.issue("agent-lost-replica");

    // Sessions opened through A: pass-through (with its standalone SSE stream) and federated.
    const errors: Error[] = [];
    const ns = await sdkClient(`${lb.url}/mcp/dev-tools`, token);
    ns.client.onerror = (e) => errors.push(e);
    const fed = await sdkClient(`${lb.url}/mcp`, token);
    const owner = pidOf(textOf(await ns.client.callTool({ name: "whoami", arguments: {} })));
    const fedOwner = pidOf(textOf(await fed.client.callTool({ name: "dev-tools__whoami", arguments: {} })));
    expect(replicas.map((r) => r.pid)).toContain(owner);
    expect(replicas.map((r) => r.pid)).toContain(fedOwner);
    const sid = ns.transport.sessionId as string;
    const fedSid = fed.transport.sessionId as string;
    expect(sid).toMatch(/^gw_/);
    expect(lb.opened(a.port)).toBeGreaterThan(0);
    expect(lb.opened(b.port)).toBe(0);

    // A call in flight through A when it dies: `gate` holds it at the owner until /release.
    const ownerReplica = replicas.find((r) => r.pid === owner) as Proc;
    const inflight = await fetch(`${lb.url}/mcp/dev-tools`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25", "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 900, method: "tools/call", params: { name: "gate", arguments: {}, _meta: { progressToken: 900 } } }),
    });
    expect(inflight.status).toBe(200);
    const reader = (inflight.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain("waiting at the gate");

    await a.kill("SIGKILL");
    const rest = await (async () => {
      let text = "";
      for (let i = 0; i < 1000; i++) {
        const { value, done } = await reader.read();
        if (done) return { text, error: undefined };
        text += new TextDecoder().decode(value);
      }
      return { text, error: undefined };
    })().catch((err: unknown) => ({ text: "", error: err as Error }));
    // No answer, no status: the connection closed under the stream (undici: "terminated").
    expect(rest.text).not.toContain('"result"');
    expect(rest.error).toBeInstanceOf(Error);
    expect(rest.error?.message).toBe("terminated");
    await fetch(ownerReplica.url.replace(/\/mcp$/, "/release"), { method: "POST" });
    await waitFor(() => lb?.openNow(a.port) === 0, { what: "the balancer to drop every connection to the dead gateway", timeoutMs: 10_000 });

    // Same session through B: same id, same shard replica, on both routes; no 404 reached the client.
    for (let i = 0; i < 3; i++) {
      expect(pidOf(textOf(await ns.client.callTool({ name: "whoami", arguments: {} })))).toBe(owner);
      expect(pidOf(textOf(await fed.client.callTool({ name: "dev-tools__whoami", arguments: {} })))).toBe(fedOwner);
    }
    expect(ns.transport.sessionId).toBe(sid);
    expect(fed.transport.sessionId).toBe(fedSid);
    expect(lb.opened(b.port)).toBeGreaterThan(0);
    // The call that died with A is the client's to retry; through B it is served on the session.
    const retried = await rawPost(`${lb.url}/mcp/dev-tools`, { authorization: `Bearer ${token}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" },
      { jsonrpc: "2.0", id: 901, method: "tools/call", params: { name: "echo", arguments: { text: "again" } } });
    expect(retried.status).toBe(200);
    expect(textOf(retried.message?.result)).toBe(`pid:${owner} echo:again`);
    // Whatever the client reported on the side (its standalone SSE stream dropping, which the SDK
    // reopens on its own), nothing said 404.
    expect(errors.map((e) => e.message).filter((m) => /404|not found/i.test(m))).toEqual([]);

    // The record is in Redis all along; closing the session through B removes it.
    const r = new Redis((redis as PrivateServer).url);
    try {
      expect(await r.exists(`${prefix}s:${sid}`)).toBe(1);
      await ns.transport.terminateSession();
      await fed.transport.terminateSession();
      expect(await r.exists(`${prefix}s:${sid}`)).toBe(0);
      expect(await r.exists(`${prefix}s:${fedSid}`)).toBe(0);
    } finally {
      await r.quit();
    }
    await ns.close();
    await fed.close();
  }, 60_000);
});
