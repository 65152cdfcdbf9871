/** The pure protocol rules, table by table (spec sections: Streamable HTTP 2026-07-28). */
import { describe, expect, it } from "vitest";
import { jsonRpcBody, type JsonRpcBody } from "./body.js";
import { ERR, type JsonRpcMessage } from "./mcp.js";
import {
  EMPTY_BODY,
  admitModern,
  batchNotSupported,
  decodeFederatedCursor,
  encodeFederatedCursor,
  eraOf,
  federatedInitializeBody,
  forShard,
  forwardHeaders,
  legacyClientOnModernShard,
  legacyHeaders,
  modernHeaders,
  negotiateLegacyVersion,
  prefixedTools,
  repeatedHeader,
  shardToolCall,
  shardToolsList,
  splitFederatedName,
  withModernMeta,
  withoutModernMeta,
  type Headers,
} from "./protocol.js";

const V = "io.modelcontextprotocol/protocolVersion";
const modernCall = (name: string, id: JsonRpcMessage["id"] = 1): JsonRpcMessage => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {}, _meta: { [V]: "2026-07-28" } } });
const buf = (v: unknown): JsonRpcBody => jsonRpcBody(Buffer.from(typeof v === "string" ? v : JSON.stringify(v)), 1 << 20);
const modernHdr = { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo" };

describe("eraOf", () => {
  it.each<[string, Headers, string]>([
    ["2026-07-28 header", { "mcp-protocol-version": "2026-07-28" }, "2026"],
    ["2025-11-25 header", { "mcp-protocol-version": "2025-11-25" }, "legacy"],
    ["no header (an initialize)", {}, "legacy"],
    ["an unknown future version", { "mcp-protocol-version": "2027-01-01" }, "legacy"],
    ["repeated header: the first one counts", { "mcp-protocol-version": ["2026-07-28", "2025-11-25"] }, "2026"],
  ])("%s", (_what, headers, era) => {
    expect(eraOf(headers)).toBe(era);
  });
});

describe("admitModern (§Backward Compatibility, §Server Validation)", () => {
  const mismatch = (status: number) => ({ refusal: expect.objectContaining({ status, code: ERR.headerMismatch }) });
  const notAllowed = { refusal: expect.objectContaining({ status: 405, code: ERR.invalidRequest, headers: { allow: "POST" } }) };
  it.each<[string, string, Headers, JsonRpcBody | undefined, unknown]>([
    ["GET ⇒ 405, Allow: POST", "GET", modernHdr, undefined, notAllowed],
    ["DELETE ⇒ 405", "DELETE", modernHdr, undefined, notAllowed],
    ["empty body ⇒ parse error", "POST", modernHdr, undefined, { refusal: EMPTY_BODY }],
    ["batch ⇒ 400 Invalid Request: no batches in 2026-07-28 (not a parse error)", "POST", modernHdr, buf([modernCall("echo")]), { refusal: batchNotSupported("2026-07-28") }],
    ["headers agree ⇒ admitted", "POST", modernHdr, buf(modernCall("echo")), { msg: modernCall("echo") }],
    ["Mcp-Name differs ⇒ 400", "POST", { ...modernHdr, "mcp-name": "whoami" }, buf(modernCall("echo")), mismatch(400)],
    ["Mcp-Method differs ⇒ 400", "POST", { ...modernHdr, "mcp-method": "tools/list" }, buf(modernCall("echo")), mismatch(400)],
    ["Mcp-Name missing ⇒ 400", "POST", { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call" }, buf(modernCall("echo")), mismatch(400)],
    ["Mcp-Method missing ⇒ 400", "POST", { "mcp-protocol-version": "2026-07-28", "mcp-name": "echo" }, buf(modernCall("echo")), mismatch(400)],
    ["base64-sentinel Mcp-Name is decoded ⇒ admitted", "POST", { ...modernHdr, "mcp-name": `=?base64?${Buffer.from("echo").toString("base64")}?=` }, buf(modernCall("echo")), { msg: modernCall("echo") }],
    [
      "stale _meta protocol version ⇒ 400",
      "POST",
      modernHdr,
      buf({ ...modernCall("echo"), params: { name: "echo", _meta: { [V]: "2025-11-25" } } }),
      mismatch(400),
    ],
    ["a notification is not checked", "POST", { "mcp-protocol-version": "2026-07-28" }, buf({ jsonrpc: "2.0", method: "notifications/cancelled" }), { msg: { jsonrpc: "2.0", method: "notifications/cancelled" } }],
  ])("%s", (_what, method, headers, body, expected) => {
    expect(admitModern(method, headers, body)).toEqual(expected);
  });

  it("answers a mismatch with the request's id and names both values", () => {
    const r = admitModern("POST", { ...modernHdr, "mcp-name": "whoami" }, buf(modernCall("echo", "req-7")));
    expect(r).toEqual({ refusal: { status: 400, code: ERR.headerMismatch, id: "req-7", message: "Header mismatch: Mcp-Name header value 'whoami' does not match body value 'echo'" } });
  });

  it("tells a legacy client on a 2026-only shard where to go", () => {
    expect(legacyClientOnModernShard("modern")).toMatchObject({ status: 400, code: ERR.invalidRequest, message: expect.stringContaining("federated /mcp") });
  });
});

describe("repeatedHeader (a header the gateway reads or forwards comes at most once)", () => {
  it.each<[string, Record<string, string[]>, string | undefined]>([
    ["each once", { authorization: ["Bearer a"], "mcp-session-id": ["gw_1"], accept: ["a", "b"] }, undefined],
    ["Accept is a list header: repeats are fine", { accept: ["application/json", "text/event-stream"] }, undefined],
    ["two Mcp-Session-Id", { "mcp-session-id": ["gw_1", "gw_2"] }, "mcp-session-id"],
    ["two Authorization", { authorization: ["Bearer a", "Bearer b"] }, "authorization"],
    ["two MCP-Protocol-Version", { "mcp-protocol-version": ["2026-07-28", "2025-11-25"] }, "mcp-protocol-version"],
    ["two Mcp-Param-*", { "mcp-param-region": ["eu", "us"] }, "mcp-param-region"],
  ])("%s", (_what, distinct, named) => {
    const r = repeatedHeader(distinct);
    if (named === undefined) expect(r).toBeUndefined();
    else expect(r).toMatchObject({ status: 400, code: ERR.invalidRequest, message: expect.stringContaining(`header ${named} given 2 times`) });
  });
});

describe("forwardHeaders (ADR 0024: an allow-list, never the agent's Authorization)", () => {
  it.each<[string, Headers, Record<string, string>]>([
    ["protocol headers pass", { accept: "text/event-stream", "content-type": "application/json", "mcp-protocol-version": "2025-11-25", "last-event-id": "7" }, { accept: "text/event-stream", "content-type": "application/json", "mcp-protocol-version": "2025-11-25", "last-event-id": "7" }],
    ["2026 headers and Mcp-Param-* pass", { "mcp-method": "tools/call", "mcp-name": "x", "mcp-param-region": "eu" }, { "mcp-method": "tools/call", "mcp-name": "x", "mcp-param-region": "eu" }],
    ["Authorization, Cookie, Origin, Host are dropped", { authorization: "Bearer tsa_secret", cookie: "a=b", origin: "https://x", host: "gw" }, {}],
    ["the client's session id is dropped (the gateway sets the replica's)", { "mcp-session-id": "gw_abc" }, {}],
    ["repeated (array) values are dropped", { "mcp-param-x": ["1", "2"] }, {}],
  ])("%s", (_what, headers, expected) => {
    expect(forwardHeaders(headers)).toEqual(expected);
  });
});

describe("the bridge: headers and _meta by the shard's protocol", () => {
  it.each<[string, JsonRpcMessage, Record<string, string>]>([
    ["tools/call mirrors the tool name", modernCall("echo"), { "mcp-method": "tools/call", "mcp-name": "echo" }],
    ["resources/read mirrors the uri", { id: 1, method: "resources/read", params: { uri: "file:///a b" } }, { "mcp-method": "resources/read", "mcp-name": "file:///a b" }],
    ["a non-ASCII name is base64-encoded (§Value Encoding)", modernCall("héllo"), { "mcp-name": `=?base64?${Buffer.from("héllo").toString("base64")}?=` }],
    ["tools/list has no Mcp-Name", { id: 1, method: "tools/list" }, { "mcp-method": "tools/list" }],
  ])("modernHeaders: %s", (_what, msg, expected) => {
    const h = modernHeaders(msg);
    expect(h).toMatchObject({ "mcp-protocol-version": "2026-07-28", "content-type": "application/json", accept: "application/json, text/event-stream", ...expected });
    if (!("mcp-name" in expected)) expect(h).not.toHaveProperty("mcp-name");
  });

  it("legacyHeaders carry the held session and its version", () => {
    expect(legacyHeaders("up-1", "2025-06-18")).toEqual({ "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": "up-1", "mcp-protocol-version": "2025-06-18" });
  });

  it.each<[string, JsonRpcMessage, JsonRpcMessage]>([
    ["no params: unchanged", { id: 1, method: "ping" }, { id: 1, method: "ping" }],
    ["params without _meta: unchanged", { id: 1, method: "tools/list", params: { cursor: "c" } }, { id: 1, method: "tools/list", params: { cursor: "c" } }],
    ["only 2026 keys: _meta removed", modernCall("echo"), { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: {} } }],
    [
      "other keys (progressToken) stay",
      { id: 1, method: "tools/call", params: { name: "x", _meta: { [V]: "2026-07-28", "io.modelcontextprotocol/clientInfo": {}, progressToken: 3 } } },
      { id: 1, method: "tools/call", params: { name: "x", _meta: { progressToken: 3 } } },
    ],
  ])("withoutModernMeta: %s", (_what, msg, expected) => {
    const before = structuredClone(msg);
    expect(withoutModernMeta(msg)).toEqual(expected);
    expect(msg).toEqual(before); // the client's message is not mutated
  });

  it.each<[string, JsonRpcMessage, JsonRpcMessage]>([
    ["adds the version to a message without params", { id: 1, method: "tools/list" }, { id: 1, method: "tools/list", params: { _meta: { [V]: "2026-07-28" } } }],
    ["keeps other _meta keys", { id: 1, method: "tools/list", params: { _meta: { progressToken: 1 } } }, { id: 1, method: "tools/list", params: { _meta: { progressToken: 1, [V]: "2026-07-28" } } }],
    ["overwrites a stale version", { id: 1, method: "tools/list", params: { _meta: { [V]: "2025-11-25" } } }, { id: 1, method: "tools/list", params: { _meta: { [V]: "2026-07-28" } } }],
  ])("withModernMeta: %s", (_what, msg, expected) => {
    expect(withModernMeta(msg)).toEqual(expected);
  });

  it.each<[string, boolean]>([
    ["2026-07-28", true],
    ["2025-11-25", false],
    ["2025-03-26", false],
  ])("forShard(%s) adds the 2026 _meta: %s", (protocol, adds) => {
    expect(forShard({ id: 1, method: "tools/list" }, protocol).params?._meta?.[V] === "2026-07-28").toBe(adds);
  });
});

describe("the federated endpoint", () => {
  const ours = (ns: string) => ["dev-tools", "commerce"].includes(ns);
  it.each<[unknown, { ns: string; tool: string } | undefined]>([
    ["dev-tools__git_status", { ns: "dev-tools", tool: "git_status" }],
    ["commerce__a__b", { ns: "commerce", tool: "a__b" }],
    ["unknown__echo", undefined],
    ["dev-tools__", undefined], // an empty tool name is no tool (answered -32602, never forwarded)
    ["__echo", undefined],
    ["echo", undefined],
    ["dev-tools_echo", undefined],
    [42, undefined],
    [undefined, undefined],
  ])("splitFederatedName(%j)", (name, expected) => {
    expect(splitFederatedName(name, ours)).toEqual(expected);
  });

  it.each<[string, JsonRpcMessage, string | undefined, JsonRpcMessage]>([
    ["keeps params", { jsonrpc: "2.0", id: 4, method: "tools/list", params: { _meta: { progressToken: 1 } } }, undefined, { jsonrpc: "2.0", id: 4, method: "tools/list", params: { _meta: { progressToken: 1 } } }],
    ["the federated cursor is replaced by the shard's", { jsonrpc: "2.0", id: 4, method: "tools/list", params: { cursor: "gw1.x" } }, "p2", { jsonrpc: "2.0", id: 4, method: "tools/list", params: { cursor: "p2" } }],
    ["a shard without a cursor gets none", { jsonrpc: "2.0", id: 4, method: "tools/list", params: { cursor: "gw1.x" } }, undefined, { jsonrpc: "2.0", id: 4, method: "tools/list" }],
    ["no id ⇒ null", { method: "tools/list" }, undefined, { jsonrpc: "2.0", id: null, method: "tools/list" }],
  ])("shardToolsList: %s", (_what, msg, cursor, expected) => {
    expect(shardToolsList(msg, cursor)).toEqual(expected);
  });

  it.each<[string, JsonRpcMessage | undefined, ReturnType<typeof prefixedTools>]>([
    ["no answer", undefined, { tools: [] }],
    ["an error answer", { id: 1, error: { code: -1, message: "x" } }, { tools: [] }],
    ["tools renamed, other fields kept", { id: 1, result: { tools: [{ name: "echo", description: "d" }, { name: "noop" }] } }, { tools: [{ name: "commerce__echo", description: "d" } as { name: string }, { name: "commerce__noop" }] }],
    ["the shard's nextCursor is kept", { id: 1, result: { tools: [{ name: "a" }], nextCursor: "p2" } }, { tools: [{ name: "commerce__a" }], nextCursor: "p2" }],
    ["entries without a string name and a non-string nextCursor are left out", { id: 1, result: { tools: [{ name: 5 }, "x", null, { name: "ok" }], nextCursor: 3 } }, { tools: [{ name: "commerce__ok" }] }],
    ["tools that is not an array", { id: 1, result: { tools: { name: "x" } } }, { tools: [] }],
  ])("prefixedTools: %s", (_what, answer, expected) => {
    expect(prefixedTools("commerce", answer)).toEqual(expected);
  });

  describe("the federated tools/list cursor (opaque: gw1. + base64url JSON of per-shard cursors)", () => {
    it("round-trips the shards that have more pages; none left ⇒ no cursor", () => {
      const next = new Map([["dev-tools", "page-2"], ["commerce", "c=\u0000/é"]]);
      const c = encodeFederatedCursor(next) as string;
      expect(c).toMatch(/^gw1\.[A-Za-z0-9_-]+$/);
      expect(decodeFederatedCursor(c, ours)).toEqual(next);
      expect(encodeFederatedCursor(new Map())).toBeUndefined();
    });
    const b64 = (v: unknown) => `gw1.${Buffer.from(JSON.stringify(v)).toString("base64url")}`;
    it.each<[string, string]>([
      ["a shard's own cursor", "page-2"],
      ["no prefix", Buffer.from(JSON.stringify({ "dev-tools": "p" })).toString("base64url")],
      ["not base64url", "gw1.***"],
      ["not JSON", `gw1.${Buffer.from("{nope").toString("base64url")}`],
      ["an array", b64(["dev-tools"])],
      ["no shard", b64({})],
      ["a namespace not ours", b64({ elsewhere: "p" })],
      ["a cursor that is not a string", b64({ "dev-tools": 2 })],
      ["the same namespace twice", `gw1.${Buffer.from('{"dev-tools":"a","dev-tools":"b"}').toString("base64url")}`],
    ])("refuses %s", (_what, cursor) => {
      expect(decodeFederatedCursor(cursor, ours)).toBeUndefined();
    });
  });

  it("shardToolCall sends the bare tool name and keeps the rest", () => {
    const msg: JsonRpcMessage = { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "dev-tools__echo", arguments: { text: "hi" } } };
    expect(shardToolCall(msg, "echo")).toEqual({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } });
    expect(msg.params?.name).toBe("dev-tools__echo");
  });

  it.each<[unknown, string]>([
    ["2025-11-25", "2025-11-25"],
    ["2025-06-18", "2025-06-18"],
    ["2025-03-26", "2025-03-26"],
    ["2026-07-28", "2025-11-25"],
    ["2024-11-05", "2025-11-25"],
    [undefined, "2025-11-25"],
    [20250618, "2025-11-25"],
  ])("negotiateLegacyVersion(%j) = %s", (requested, version) => {
    expect(negotiateLegacyVersion(requested)).toBe(version);
  });

  it("answers initialize itself: tools only, no list-changed", () => {
    expect(JSON.parse(federatedInitializeBody(1, "2025-06-18"))).toEqual({
      jsonrpc: "2.0",
      id: 1,
      result: { protocolVersion: "2025-06-18", capabilities: { tools: { listChanged: false } }, serverInfo: { name: "tierstack-mcp-gateway", version: "0.1.0" } },
    });
  });
});
