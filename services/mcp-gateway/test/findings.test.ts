/**
 * Issue #10's gateway findings, one test each, against real peers: SDK replicas as child processes and,
 * where a real server cannot be made to answer that way on demand, the scriptable fake shard.
 */
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonRpcMessage } from "../src/mcp.js";
import { MemorySessionRegistry } from "../src/registry.js";
import { json, startFakeShard, type FakeRequest } from "./fake-shard.js";
import { configFor, pidOf, rawPost, sdkClient, startInProcess, textOf, tokenDb } from "./helpers.js";
import { startReplica, type Proc } from "./peers.js";

type Fake = Awaited<ReturnType<typeof startFakeShard>>;
type Gw = Awaited<ReturnType<typeof startInProcess>>;
const INIT = (protocolVersion = "2025-11-25", id: number | string = 1) => ({ jsonrpc: "2.0", id, method: "initialize", params: { protocolVersion, capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
const errorOf = (text: string) => (JSON.parse(text) as { jsonrpc: string; id: unknown; error: { code: number; message: string; data?: unknown } });

let db: Awaited<ReturnType<typeof tokenDb>>;
const procs: Proc[] = [];
const fakes: Fake[] = [];
const gateways: Gw[] = [];

beforeAll(async () => {
  db = await tokenDb();
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await Promise.all([...procs.map((p) => p.kill()), ...fakes.map((f) => f.close())]);
  await db?.close();
});

const fake = async (handler: Parameters<typeof startFakeShard>[0]) => {
  const f = await startFakeShard(handler);
  fakes.push(f);
  return f;
};
const replica = async (ns: string, opts: Parameters<typeof startReplica>[1] = {}) => {
  const p = await startReplica(ns, opts);
  procs.push(p);
  return p;
};
const gateway = async (shards: Record<string, unknown>, env: Record<string, string> = {}, registry?: MemorySessionRegistry) => {
  const config = configFor(shards, env);
  const g = await startInProcess(config, db.tokens, registry ?? new MemorySessionRegistry(config.sessionTtlSeconds * 1000));
  gateways.push(g);
  return g;
};
const auth = async (agent: string) => ({ authorization: `Bearer ${await db.issue(agent)}` });

/** A modern (2026-07-28) fake shard answering tools/list pages: tools `a`, `b` | `c` | `d`, cursors p2, p3. */
function pages(r: FakeRequest, res: http.ServerResponse) {
  const id = r.msg?.id ?? null;
  if (r.msg?.method !== "tools/list") return json(res, 200, { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "called" }] } });
  const cursor = r.msg.params?.cursor;
  const tool = (name: string) => ({ name, inputSchema: { type: "object" } });
  if (cursor === undefined) return json(res, 200, { jsonrpc: "2.0", id, result: { tools: [tool("a"), tool("b")], nextCursor: "p2" } });
  if (cursor === "p2") return json(res, 200, { jsonrpc: "2.0", id, result: { tools: [tool("c")], nextCursor: "p3" } });
  if (cursor === "p3") return json(res, 200, { jsonrpc: "2.0", id, result: { tools: [tool("d")] } });
  return json(res, 200, { jsonrpc: "2.0", id, error: { code: -32602, message: "bad cursor" } });
}

describe("a GET SSE stream (finding: status and headers held until the first event)", () => {
  it("answers its status and headers at once, from an upstream that sends no event and no keep-alive", async () => {
    // The replica sends no keep-alive comments; before the fix the gateway sent the headers with the
    // first chunk, so this fetch never resolved (the test failed by timeout, not by a threshold).
    const quiet = await replica("quiet", { env: { REPLICA_KEEPALIVE_MS: "0" } });
    const gw = await gateway({ quiet: [quiet.url] });
    const h = await auth("agent-sse");
    const init = await rawPost(`${gw.base}/mcp/quiet`, h, INIT());
    const sid = init.headers.get("mcp-session-id") as string;
    const ac = new AbortController();
    const res = await fetch(`${gw.base}/mcp/quiet`, { headers: { ...h, accept: "text/event-stream", "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" }, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    ac.abort();
  });
});

describe("a replica that restarts faster than the health check notices (finding: the replica's 400 instead of 404)", () => {
  it("ends an old /mcp/<ns> session with 404 -32001 so the client re-initializes, and re-legs a federated session", async () => {
    // The replica answers an unknown session with 400 (as servers built on the SDK's examples do); the
    // health check runs only at start, so the gateway never sees the replica down.
    const env = { REPLICA_UNKNOWN_SESSION_STATUS: "400", REPLICA_JSON: "1" };
    const first = await replica("flaky", { env });
    const gw = await gateway({ flaky: [first.url] }, { GATEWAY_HEALTH_INTERVAL_MS: "600000" });
    const token = await db.issue("agent-restart");
    // The direct session is raw HTTP: an SDK client would reconnect its GET stream while the replica is
    // down, and that failed call would tell the gateway (passive check) what this test keeps unseen.
    const h = { authorization: `Bearer ${token}`, "mcp-protocol-version": "2025-11-25" };
    const whoami = (sid: string, id: number) => rawPost(`${gw.base}/mcp/flaky`, { ...h, "mcp-session-id": sid }, { jsonrpc: "2.0", id, method: "tools/call", params: { name: "whoami", arguments: {} } });
    const init = await rawPost(`${gw.base}/mcp/flaky`, { authorization: h.authorization }, INIT());
    const sid = init.headers.get("mcp-session-id") as string;
    expect(pidOf(textOf((await whoami(sid, 2)).message?.result))).toBe(first.pid);
    const federated = await sdkClient(`${gw.base}/mcp`, token);
    expect(pidOf(textOf(await federated.client.callTool({ name: "flaky__whoami", arguments: {} })))).toBe(first.pid);

    await first.kill("SIGKILL");
    const second = await replica("flaky", { env, port: first.port });
    expect(gw.gw.health.isAlive(first.url)).toBe(true); // unseen

    const stale = await whoami(sid, 3);
    expect(stale.status).toBe(404);
    expect(errorOf(stale.text)).toMatchObject({ id: 3, error: { code: -32001 } });
    // the SDK client re-initializes on 404 (2025-11-25 transports §Session Management)
    const again = await sdkClient(`${gw.base}/mcp/flaky`, token);
    expect(pidOf(textOf(await again.client.callTool({ name: "whoami", arguments: {} })))).toBe(second.pid);
    await again.close();

    // the gateway owns the federated session: its leg is reopened on the restarted replica
    expect(pidOf(textOf(await federated.client.callTool({ name: "flaky__whoami", arguments: {} })))).toBe(second.pid);
    await federated.close();
  });
});

describe("answers to bodies and credentials (findings: the wrong error, batches refused as parse errors, bodies not JSON-RPC)", () => {
  let gw: Gw;
  let pager: Fake;
  beforeAll(async () => {
    const quiet = await replica("echoes", { json: true });
    pager = await fake(pages);
    gw = await gateway({ echoes: [quiet.url], pager: { replicas: [pager.url], protocol: "2026-07-28" } }, { GATEWAY_MAX_BODY_BYTES: "2048" });
  });

  it("invalid JSON without a session is a parse error (-32700), on both endpoints", async () => {
    const h = await auth("agent-parse");
    for (const path of ["/mcp/echoes", "/mcp"]) {
      const res = await rawPost(`${gw.base}${path}`, h, '{"jsonrpc":"2.0","id":1,"method":"initialize"');
      expect(res.status).toBe(400);
      expect(errorOf(res.text).error.code).toBe(-32700);
      expect(errorOf(res.text).error.message).toContain("Parse error");
    }
  });

  it("answers 401 and 413 with the JSON-RPC bodies the README documents", async () => {
    const cases: Array<[string, Record<string, string>, unknown, number, string]> = [
      ["no token", {}, INIT(), 401, "Unauthorized: missing bearer token"],
      ["a token that is not one", { authorization: "Bearer tsa_0000000000000000_nope" }, INIT(), 401, "Unauthorized: unknown, expired or revoked agent token"],
      ["a body over GATEWAY_MAX_BODY_BYTES", await auth("agent-413"), { ...INIT(), params: { pad: "x".repeat(4000) } }, 413, "Payload too large"],
    ];
    for (const [what, headers, body, status, message] of cases) {
      const res = await rawPost(`${gw.base}/mcp/echoes`, headers, body);
      expect(res.status, what).toBe(status);
      expect(res.headers.get("content-type"), what).toContain("application/json");
      const e = errorOf(res.text);
      expect(e, what).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32600 } });
      expect(e.error.message, what).toContain(message);
      if (status === 401) expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
  });

  it("answers a 2025-03-26 federated session's JSON-RPC batch as a batch (2025-03-26 §Batching: a server MUST accept batches)", async () => {
    const h = await auth("agent-batch");
    const init = await rawPost(`${gw.base}/mcp`, h, INIT("2025-03-26"));
    expect((init.message?.result as { protocolVersion: string }).protocolVersion).toBe("2025-03-26");
    const s = { ...h, "mcp-session-id": init.headers.get("mcp-session-id") as string, "mcp-protocol-version": "2025-03-26" };
    const batch = [
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { jsonrpc: "2.0", id: "list", method: "tools/list" },
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "echoes__echo", arguments: { text: "in a batch" } } },
      { jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "nowhere__x", arguments: {} } },
      { jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "pager__whatever", arguments: {} } },
    ];
    const res = await rawPost(`${gw.base}/mcp`, s, batch);
    expect(res.status).toBe(200);
    const answers = JSON.parse(res.text) as JsonRpcMessage[];
    expect(answers.map((a) => a.id)).toEqual([1, "list", 3, 4, 5]); // one per request, none for the notification
    const by = new Map(answers.map((a) => [a.id, a]));
    expect(by.get(1)?.result).toEqual({});
    expect((by.get("list")?.result as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toEqual(expect.arrayContaining(["echoes__echo", "pager__a"]));
    expect(textOf(by.get(3)?.result)).toContain("echo:in a batch");
    expect(by.get(4)?.error?.code).toBe(-32602);
    expect(textOf(by.get(5)?.result)).toBe("called");
    // only notifications and responses ⇒ 202, no body (§Sending Messages)
    const quiet = await rawPost(`${gw.base}/mcp`, s, [{ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 9 } }, { jsonrpc: "2.0", id: "srv-1", result: {} }]);
    expect(quiet.status).toBe(202);
    expect(quiet.text).toBe("");
    // initialize may not be part of a batch (2025-03-26 lifecycle)
    const withInit = await rawPost(`${gw.base}/mcp`, s, [INIT("2025-03-26", 8), { jsonrpc: "2.0", id: 9, method: "ping" }]);
    expect((JSON.parse(withInit.text) as JsonRpcMessage[]).map((a) => [a.id, a.error?.code ?? "ok"])).toEqual([[8, -32600], [9, "ok"]]);
  });

  it("refuses a batch on a 2025-11-25 session with 400 -32600 saying batches are not part of that version, not as a parse error", async () => {
    const h = await auth("agent-nobatch");
    const init = await rawPost(`${gw.base}/mcp`, h, INIT("2025-11-25"));
    const s = { ...h, "mcp-session-id": init.headers.get("mcp-session-id") as string, "mcp-protocol-version": "2025-11-25" };
    const res = await rawPost(`${gw.base}/mcp`, s, [{ jsonrpc: "2.0", id: 1, method: "ping" }]);
    expect(res.status).toBe(400);
    const e = errorOf(res.text).error;
    expect(e.code).toBe(-32600);
    expect(e.message).toContain("JSON-RPC batches are not part of protocol 2025-11-25");
  });

  it("federated tools/list follows each shard's pagination with one opaque cursor", async () => {
    const token = await db.issue("agent-pages");
    const { client, close } = await sdkClient(`${gw.base}/mcp`, token);
    const first = await client.listTools();
    const names1 = first.tools.map((t) => t.name);
    expect(names1).toEqual(expect.arrayContaining(["echoes__echo", "pager__a", "pager__b"]));
    expect(names1).not.toContain("pager__c");
    expect(first.nextCursor).toMatch(/^gw1\./);
    const second = await client.listTools({ cursor: first.nextCursor });
    expect(second.tools.map((t) => t.name)).toEqual(["pager__c"]); // only the shard with more pages, at its page 2
    const third = await client.listTools({ cursor: second.nextCursor });
    expect(third.tools.map((t) => t.name)).toEqual(["pager__d"]);
    expect(third.nextCursor).toBeUndefined();
    const cursors = pager.requests.filter((r) => r.msg?.method === "tools/list").map((r) => r.msg?.params?.cursor);
    expect(cursors.slice(-3)).toEqual([undefined, "p2", "p3"]);
    // a cursor the gateway did not issue: -32602 (MCP pagination: invalid cursors SHOULD be -32602)
    const bad = await client.listTools({ cursor: "p2" }).catch((e: unknown) => e);
    expect((bad as { code?: number }).code).toBe(-32602);
    await close();
  });

  it("answers a federated tool name without a tool (`pager__`) with -32602 and forwards nothing", async () => {
    const h = await auth("agent-empty-tool");
    const init = await rawPost(`${gw.base}/mcp`, h, INIT());
    const s = { ...h, "mcp-session-id": init.headers.get("mcp-session-id") as string, "mcp-protocol-version": "2025-11-25" };
    const calls = () => pager.requests.filter((r) => r.msg?.method === "tools/call").length;
    const before = calls();
    const res = await rawPost(`${gw.base}/mcp`, s, { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "pager__", arguments: {} } });
    expect(res.status).toBe(200);
    expect(res.message?.error).toMatchObject({ code: -32602, message: expect.stringContaining("params.name") });
    expect(calls()).toBe(before);
  });
});

describe("the federated tools/list fan-out reads each shard's answer like any other (finding a)", () => {
  it("leaves out a shard whose answer is an HTTP error or larger than GATEWAY_MAX_RESPONSE_BYTES", async () => {
    const quiet = await replica("fine", { json: true });
    const errorStatus = await fake((r, res) => json(res, 500, { jsonrpc: "2.0", id: r.msg?.id ?? null, result: { tools: [{ name: "from_an_error_answer", inputSchema: { type: "object" } }] } }));
    const oversized = await fake((r, res) =>
      json(res, 200, { jsonrpc: "2.0", id: r.msg?.id ?? null, result: { tools: [{ name: "from_an_oversized_answer", inputSchema: { type: "object" }, description: "x".repeat(40_000) }] } }),
    );
    const gw = await gateway(
      { fine: [quiet.url], failing: { replicas: [errorStatus.url], protocol: "2026-07-28" }, big: { replicas: [oversized.url], protocol: "2026-07-28" } },
      { GATEWAY_MAX_RESPONSE_BYTES: "32768" },
    );
    const token = await db.issue("agent-fanout");
    const { client, close } = await sdkClient(`${gw.base}/mcp`, token);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("fine__echo");
    expect(names).not.toContain("failing__from_an_error_answer");
    expect(names).not.toContain("big__from_an_oversized_answer");
    await close();
    const metrics = await (await fetch(`${gw.base}/metrics`)).text();
    expect(metrics).toMatch(/mcp_gateway_errors_total\{[^}]*namespace="failing"[^}]*reason="fanout"[^}]*\} 1/);
    expect(metrics).toMatch(/mcp_gateway_errors_total\{[^}]*namespace="big"[^}]*reason="fanout"[^}]*\} 1/);
  });
});

describe("session records and the registry (findings d and e)", () => {
  it("a session record without its namespace's leg is a 404 (-32001), not a 500", async () => {
    const quiet = await replica("legless", { json: true });
    const registry = new MemorySessionRegistry(60_000);
    const gw = await gateway({ legless: [quiet.url] }, {}, registry);
    await registry.put({ id: "gw_legless", agent: "agent-legless", namespace: "legless", legs: {}, protocolVersion: "2025-11-25" });
    const h = { authorization: `Bearer ${await db.issue("agent-legless")}`, "mcp-session-id": "gw_legless", "mcp-protocol-version": "2025-11-25" };
    const res = await rawPost(`${gw.base}/mcp/legless`, h, { jsonrpc: "2.0", id: 3, method: "tools/list" });
    expect(res.status).toBe(404);
    expect(errorOf(res.text)).toMatchObject({ id: 3, error: { code: -32001 } });
    expect(await registry.get("gw_legless")).toBeUndefined();
  });

  it("when the registry fails after the replica answered initialize: the answer is dropped, its session closed, the client gets 503", async () => {
    let answerClosed!: () => void;
    let sessionDeleted!: () => void;
    const closed = new Promise<void>((r) => (answerClosed = r));
    const deleted = new Promise<void>((r) => (sessionDeleted = r));
    // A legacy server that answers initialize on an SSE stream it keeps open (as a server may).
    const holding = await fake((r, res) => {
      if (r.method === "DELETE" && r.headers["mcp-session-id"] === "up-1") {
        sessionDeleted();
        return void res.writeHead(200).end();
      }
      res.once("close", () => answerClosed());
      res.writeHead(200, { "content-type": "text/event-stream", "mcp-session-id": "up-1" });
      res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: r.msg?.id ?? null, result: { protocolVersion: "2025-11-25", capabilities: {}, serverInfo: { name: "f", version: "1" } } })}\n\n`);
    });
    class PutFails extends MemorySessionRegistry {
      override async put(): Promise<never> {
        throw new Error("connection lost");
      }
    }
    const gw = await gateway({ holding: [holding.url] }, {}, new PutFails(60_000));
    const res = await rawPost(`${gw.base}/mcp/holding`, await auth("agent-putfails"), INIT("2025-11-25", 11));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(errorOf(res.text)).toMatchObject({ id: 11, error: { code: -32003, message: expect.stringContaining("session registry unavailable") } });
    await closed; // before the fix the answer was never read nor destroyed: this waited forever
    await deleted;
  });
});
