/**
 * The gateway against real peers: SDK MCP servers (2025-11-25) as replica processes, SDK clients as
 * agents, a spec-built 2026-07-28 server and raw 2026-07-28 requests (the SDK has no 2026 support).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { waitFor } from "@tierstack/common/testing";
import { configFor, modernRequest, pidOf, rawPost, sdkClient, startInProcess, textOf, tokenDb } from "./helpers.js";
import { startReplica, type Proc } from "./peers.js";

let db: Awaited<ReturnType<typeof tokenDb>>;
let dev: Proc[] = [];
let commerce: Proc[] = [];
let modern: Proc;
let gw: Awaited<ReturnType<typeof startInProcess>>;
const UPSTREAM = "gateway-own-credential";

beforeAll(async () => {
  db = await tokenDb();
  [dev, commerce, modern] = await Promise.all([
    Promise.all([startReplica("dev-tools"), startReplica("dev-tools")]),
    Promise.all([startReplica("commerce", { json: true }), startReplica("commerce", { json: true })]),
    startReplica("modern", { modern: true }),
  ]);
  const config = configFor(
    {
      "dev-tools": dev.map((p) => p.url),
      commerce: { replicas: commerce.map((p) => p.url), protocol: "2025-11-25" },
      modern: { replicas: [modern.url], protocol: "2026-07-28" },
    },
    { GATEWAY_UPSTREAM_TOKEN: UPSTREAM, GATEWAY_ALLOWED_ORIGINS: "https://console.example.com", GATEWAY_MAX_BODY_BYTES: "4096" },
  );
  gw = await startInProcess(config, db.tokens);
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([...dev, ...commerce, modern].filter(Boolean).map((p) => p.kill()));
  await db?.close();
});

describe("2025-11-25 sessions through /mcp/<namespace> (SDK client → SDK replicas)", () => {
  it("keeps a session on its owner across many calls and spreads new sessions over the replicas", async () => {
    const token = await db.issue("agent-sticky");
    const devPids = new Set(dev.map((p) => p.pid));
    const seen = new Set<number>();
    for (let c = 0; c < 4; c++) {
      const { client, close } = await sdkClient(`${gw.base}/mcp/dev-tools`, token);
      const pids = new Set<number>();
      for (let i = 0; i < 8; i++) pids.add(pidOf(textOf(await client.callTool({ name: "whoami", arguments: {} }))));
      expect(pids.size).toBe(1);
      const [pid] = [...pids] as [number];
      expect(devPids.has(pid)).toBe(true);
      seen.add(pid);
      await close();
    }
    expect(seen).toEqual(devPids);
  });

  it("never forwards the agent's token upstream: the replica sees the gateway's own credential", async () => {
    const token = await db.issue("agent-auth");
    const { client, close } = await sdkClient(`${gw.base}/mcp/dev-tools`, token);
    const seen = textOf(await client.callTool({ name: "last_authorization", arguments: {} }));
    expect(seen).toBe(`Bearer ${UPSTREAM}`);
    expect(seen).not.toContain(token);
    await close();
  });

  it("streams SSE without buffering: a progress notification arrives while the tool is still running", async () => {
    // The replica's `gate` tool sends progress, then blocks until /release is POSTed. The test releases
    // it only from the progress callback: a buffering proxy would never deliver the progress, and the
    // call would hang (fail by timeout) instead of completing.
    const token = await db.issue("agent-stream");
    const { client, close } = await sdkClient(`${gw.base}/mcp/dev-tools`, token);
    const owner = pidOf(textOf(await client.callTool({ name: "whoami", arguments: {} })));
    const replica = dev.find((p) => p.pid === owner) as Proc;
    const progress: string[] = [];
    const result = await client.callTool({ name: "gate", arguments: {} }, undefined, {
      onprogress: (p) => {
        progress.push(String(p.message));
        void fetch(`http://127.0.0.1:${replica.port}/release`, { method: "POST" });
      },
    });
    expect(progress).toEqual(["waiting at the gate"]);
    expect(textOf(result)).toBe(`pid:${owner} released`);
    await close();
  });

  it("answers 401 without a token, 403 for a foreign Origin, and lets an allowed Origin in", async () => {
    const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } };
    expect((await rawPost(`${gw.base}/mcp/dev-tools`, {}, init)).status).toBe(401);
    const token = await db.issue("agent-origin");
    const bad = await rawPost(`${gw.base}/mcp/dev-tools`, { authorization: `Bearer ${token}`, origin: "https://evil.example" }, init);
    expect(bad.status).toBe(403);
    const good = await rawPost(`${gw.base}/mcp/dev-tools`, { authorization: `Bearer ${token}`, origin: "https://console.example.com" }, init);
    expect(good.status).toBe(200);
    expect(good.headers.get("mcp-session-id")).toMatch(/^gw_/);
  });

  it("answers 404 for an unknown session and for another agent's session", async () => {
    const a = await db.issue("agent-owner");
    const b = await db.issue("agent-thief");
    const { transport, close } = await sdkClient(`${gw.base}/mcp/dev-tools`, a);
    const sid = transport.sessionId as string;
    const call = { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "whoami", arguments: {} } };
    const hdr = (tok: string, s: string) => ({ authorization: `Bearer ${tok}`, "mcp-session-id": s, "mcp-protocol-version": "2025-11-25" });
    expect((await rawPost(`${gw.base}/mcp/dev-tools`, hdr(a, sid), call)).status).toBe(200);
    expect((await rawPost(`${gw.base}/mcp/dev-tools`, hdr(b, sid), call)).status).toBe(404);
    expect((await rawPost(`${gw.base}/mcp/dev-tools`, hdr(a, "gw_unknown"), call)).status).toBe(404);
    expect((await rawPost(`${gw.base}/mcp/commerce`, hdr(a, sid), call)).status).toBe(404);
    // DELETE ends the session on its owner and in the registry
    await transport.terminateSession();
    expect((await rawPost(`${gw.base}/mcp/dev-tools`, hdr(a, sid), call)).status).toBe(404);
    await close();
  });

  it("rejects a body over the limit with 413 and an unknown namespace with 404", async () => {
    const token = await db.issue("agent-limits");
    const big = { jsonrpc: "2.0", id: 1, method: "initialize", params: { pad: "x".repeat(8000) } };
    expect((await rawPost(`${gw.base}/mcp/dev-tools`, { authorization: `Bearer ${token}` }, big)).status).toBe(413);
    expect((await rawPost(`${gw.base}/mcp/nope`, { authorization: `Bearer ${token}` }, { jsonrpc: "2.0", id: 1, method: "ping" })).status).toBe(404);
  });
});

describe("per-agent rate limit", () => {
  it("answers 429 with Retry-After once an agent's bucket is empty, while other agents pass", async () => {
    const limited = await startInProcess(configFor({ "dev-tools": dev.map((p) => p.url) }, { GATEWAY_RATE_BURST: "2", GATEWAY_RATE_PER_SECOND: "1" }), db.tokens);
    try {
      const [a, b] = [await db.issue("agent-greedy"), await db.issue("agent-polite")];
      const ping = { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} };
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await rawPost(`${limited.base}/mcp/dev-tools`, { authorization: `Bearer ${a}` }, ping)).status);
      expect(statuses.slice(0, 2)).not.toContain(429);
      const third = await rawPost(`${limited.base}/mcp/dev-tools`, { authorization: `Bearer ${a}` }, ping);
      expect(third.status).toBe(429);
      expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await rawPost(`${limited.base}/mcp/dev-tools`, { authorization: `Bearer ${b}` }, ping)).status).not.toBe(429);
    } finally {
      await limited.stop();
    }
  });
});

describe("federated /mcp (SDK client)", () => {
  it("lists tools of every namespace with a prefix and routes each call by it", async () => {
    const token = await db.issue("agent-federated");
    const { client, close } = await sdkClient(`${gw.base}/mcp`, token);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["dev-tools__whoami", "dev-tools__echo", "commerce__whoami", "commerce__noop", "modern__whoami"]));
    const devPid = pidOf(textOf(await client.callTool({ name: "dev-tools__whoami", arguments: {} })));
    const comText = textOf(await client.callTool({ name: "commerce__echo", arguments: { text: "hi" } }));
    expect(dev.map((p) => p.pid)).toContain(devPid);
    expect(commerce.map((p) => p.pid)).toContain(pidOf(comText));
    expect(comText).toContain("echo:hi");
    // the federated session holds one session per shard: repeated calls stay on the same replica
    expect(pidOf(textOf(await client.callTool({ name: "dev-tools__whoami", arguments: {} })))).toBe(devPid);
    // a 2025-11-25 client reaches a 2026-07-28-only shard; the gateway builds the headers that server validates
    const modernText = textOf(await client.callTool({ name: "modern__whoami", arguments: {} }));
    expect(modernText).toContain("era:2026-07-28");
    expect(modernText).toContain(`auth:Bearer ${UPSTREAM}`);
    const unknown = await client.callTool({ name: "nowhere__x", arguments: {} }).catch((e: Error) => e);
    expect(unknown).toBeInstanceOf(Error);
    await close();
  });
});

describe("2026-07-28 requests (raw HTTP built from Streamable HTTP 2026-07-28 §Request Metadata)", () => {
  const auth = async (agent: string) => ({ authorization: `Bearer ${await db.issue(agent)}` });

  it("bridges a stateless tools/call to a 2025-11-25 SDK shard over pooled sessions", async () => {
    const h = await auth("agent-modern");
    const { body, headers } = modernRequest("tools/call", { name: "echo", arguments: { text: "bridged" } });
    const res = await rawPost(`${gw.base}/mcp/dev-tools`, { ...h, ...headers }, body);
    expect(res.status).toBe(200);
    expect(res.headers.get("mcp-session-id")).toBeNull(); // §Backward Compatibility: no sessions in this era
    const text = textOf(res.message?.result);
    expect(text).toContain("echo:bridged");
    expect(dev.map((p) => p.pid)).toContain(pidOf(text));
    const list = modernRequest("tools/list", {}, 2);
    const tools = await rawPost(`${gw.base}/mcp/commerce`, { ...h, ...list.headers }, list.body);
    expect((tools.message?.result as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toContain("noop");
  });

  it("forwards to a native 2026-07-28 shard without sessions", async () => {
    const h = await auth("agent-native");
    const { body, headers } = modernRequest("tools/call", { name: "whoami", arguments: {} });
    const res = await rawPost(`${gw.base}/mcp/modern`, { ...h, ...headers }, body);
    expect(res.status).toBe(200);
    expect(textOf(res.message?.result)).toContain(`pid:${modern.pid}`);
  });

  it("answers 400 HeaderMismatch (-32020) when a header disagrees with the body or is missing (§Server Validation)", async () => {
    const h = await auth("agent-mismatch");
    const { body, headers } = modernRequest("tools/call", { name: "echo", arguments: { text: "x" } });
    const cases: Array<Record<string, string>> = [
      { ...headers, "mcp-name": "whoami" },
      { ...headers, "mcp-method": "tools/list" },
      Object.fromEntries(Object.entries(headers).filter(([k]) => k !== "mcp-name")),
      Object.fromEntries(Object.entries(headers).filter(([k]) => k !== "mcp-method")),
    ];
    for (const c of cases) {
      const res = await rawPost(`${gw.base}/mcp/dev-tools`, { ...h, ...c }, body);
      expect(res.status).toBe(400);
      expect((JSON.parse(res.text) as { error: { code: number } }).error.code).toBe(-32020);
    }
    // §Protocol Version Header: the header must match `_meta["io.modelcontextprotocol/protocolVersion"]`
    const stale = { ...body, params: { ...body.params, _meta: { "io.modelcontextprotocol/protocolVersion": "2025-11-25" } } };
    const meta = await rawPost(`${gw.base}/mcp/dev-tools`, { ...h, ...headers }, stale);
    expect(meta.status).toBe(400);
    expect((JSON.parse(meta.text) as { error: { code: number } }).error.code).toBe(-32020);
    // §Value Encoding: a base64-sentinel Mcp-Name is decoded before the comparison
    const encoded = await rawPost(`${gw.base}/mcp/dev-tools`, { ...h, ...headers, "mcp-name": `=?base64?${Buffer.from("echo").toString("base64")}?=` }, body);
    expect(encoded.status).toBe(200);
  });

  it("answers GET with 405 in this era (§Backward Compatibility) and routes the federated endpoint by the Mcp-Name prefix", async () => {
    const h = await auth("agent-modern-fed");
    const get = await fetch(`${gw.base}/mcp/dev-tools`, { headers: { ...h, "mcp-protocol-version": "2026-07-28" } });
    expect(get.status).toBe(405);
    const { body, headers } = modernRequest("tools/call", { name: "commerce__whoami", arguments: {} });
    const res = await rawPost(`${gw.base}/mcp`, { ...h, ...headers }, body);
    expect(res.status).toBe(200);
    expect(commerce.map((p) => p.pid)).toContain(pidOf(textOf(res.message?.result)));
    const list = modernRequest("tools/list", {}, 3);
    const tools = await rawPost(`${gw.base}/mcp`, { ...h, ...list.headers }, list.body);
    expect((tools.message?.result as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toEqual(expect.arrayContaining(["commerce__noop", "modern__whoami"]));
  });
});

describe("metrics", () => {
  it("exposes per-namespace requests, latency, open sessions and replica health", async () => {
    const text = await (await fetch(`${gw.base}/metrics`)).text();
    expect(text).toMatch(/mcp_gateway_requests_total\{[^}]*namespace="dev-tools"[^}]*\} [1-9]/);
    expect(text).toMatch(/mcp_gateway_upstream_seconds_count\{[^}]*namespace="commerce"/);
    expect(text).toMatch(/mcp_gateway_open_sessions\{[^}]*namespace="dev-tools"[^}]*\} [1-9]/);
    expect(text).toMatch(/mcp_gateway_replica_up\{[^}]*namespace="modern"[^}]*\} 1/);
  });
});

describe("failover (runs last: kills the commerce replicas)", () => {
  it("a replica killed mid-session gives 404, a fresh initialize lands on a live replica; no live replica gives 503 naming the namespace", async () => {
    const token = await db.issue("agent-failover");
    const first = await sdkClient(`${gw.base}/mcp/commerce`, token);
    const owner = pidOf(textOf(await first.client.callTool({ name: "whoami", arguments: {} })));
    const victim = commerce.find((p) => p.pid === owner) as Proc;
    const survivor = commerce.find((p) => p.pid !== owner) as Proc;
    await victim.kill("SIGKILL");
    await waitFor(() => !gw.gw.health.isAlive(victim.url), { what: "health check to mark the replica dead" });
    const err = await first.client.callTool({ name: "whoami", arguments: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamableHTTPError);
    expect((err as StreamableHTTPError).code).toBe(404);
    await first.close().catch(() => undefined);

    const second = await sdkClient(`${gw.base}/mcp/commerce`, token);
    for (let i = 0; i < 3; i++) expect(pidOf(textOf(await second.client.callTool({ name: "whoami", arguments: {} })))).toBe(survivor.pid);
    await second.close();

    await survivor.kill("SIGKILL");
    await waitFor(() => gw.gw.health.live("commerce").length === 0, { what: "commerce to have no live replica" });
    const init = { jsonrpc: "2.0", id: 7, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } };
    const res = await rawPost(`${gw.base}/mcp/commerce`, { authorization: `Bearer ${token}` }, init);
    expect(res.status).toBe(503);
    const body = JSON.parse(res.text) as { id: number; error: { message: string; data: { namespace: string } } };
    expect(body.id).toBe(7);
    expect(body.error.message).toContain("commerce");
    expect(body.error.data.namespace).toBe("commerce");
    // other namespaces keep working
    const ok = await sdkClient(`${gw.base}/mcp/dev-tools`, token);
    expect(dev.map((p) => p.pid)).toContain(pidOf(textOf(await ok.client.callTool({ name: "whoami", arguments: {} }))));
    await ok.close();
  });
});
