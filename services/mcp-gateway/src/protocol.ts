/**
 * The gateway's protocol rules, pure (no I/O, no Fastify): which era a request belongs to, whether a
 * 2026-07-28 request may be routed (header–body checks), what is forwarded, and the transforms that
 * bridge 2026-07-28 clients to ≤ 2025-11-25 shards and back (ADR 0021), plus the federated endpoint's
 * naming and its own answers (ADR 0022). The wire primitives it builds on (JSON-RPC shapes, the
 * §Value Encoding codec, the header–body comparison a 2026-07-28 server performs) are in mcp.ts.
 */
import { LEGACY_VERSIONS, MODERN_VERSION } from "./config.js";
import { ERR, checkModernHeaders, encodeHeaderValue, isModern, targetName, type JsonRpcId, type JsonRpcMessage } from "./mcp.js";

export type Headers = Record<string, string | string[] | undefined>;

/** The protocol era of a request, as the `era` metric label reads it. */
export type Era = "2026" | "legacy";

/** `MCP-Protocol-Version: 2026-07-28` ⇒ stateless era; anything else (or none) ⇒ legacy session handling. */
export function eraOf(headers: Headers): Era {
  return isModern(headers) ? "2026" : "legacy";
}

/** The registry namespace of federated sessions and the metrics label of the federated endpoint. */
export const FEDERATED = "*";
/** Separator between namespace and tool name on the federated endpoint: `dev-tools__git_status`. */
export const FEDERATED_SEP = "__";

/** The body as JSON, or undefined when it is empty or not JSON (it may still be a batch, a scalar or null). */
export function parseBody(body: Buffer | undefined): JsonRpcMessage | undefined {
  if (!body || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString("utf8")) as JsonRpcMessage;
  } catch {
    return undefined;
  }
}

/** One JSON-RPC message (an object, not a batch or a scalar), or undefined. */
export function parseOneMessage(body: Buffer | undefined): JsonRpcMessage | undefined {
  const msg = parseBody(body);
  return msg && typeof msg === "object" && !Array.isArray(msg) ? msg : undefined;
}

/** An answer the gateway gives itself instead of routing: a JSON-RPC error, or an empty 405. */
export type Refusal = { status: 405; allow: string } | { status: number; code: number; message: string; id: JsonRpcId };

export const PARSE_ERROR: Refusal = { status: 400, code: ERR.parse, message: "Parse error: expected one JSON-RPC message", id: null };

/** A legacy request without `Mcp-Session-Id` that is not an `initialize`. */
export const sessionRequired = (id: JsonRpcId): Refusal => ({ status: 400, code: ERR.invalidRequest, message: "Bad Request: Mcp-Session-Id header is required", id });

/**
 * Admission of a 2026-07-28 request, on either endpoint: POST only (§Backward Compatibility: GET and
 * DELETE ⇒ 405), one JSON-RPC message, and for requests (not notifications) the mirrored headers must
 * agree with the body (§Server Validation ⇒ 400 HeaderMismatch).
 */
export function admitModern(method: string, headers: Headers, body: Buffer | undefined): { msg: JsonRpcMessage } | { refusal: Refusal } {
  if (method !== "POST") return { refusal: { status: 405, allow: "POST" } };
  const msg = parseOneMessage(body);
  if (!msg) return { refusal: PARSE_ERROR };
  if (msg.id !== undefined) {
    const problem = checkModernHeaders(headers, msg);
    if (problem) return { refusal: { status: 400, code: ERR.headerMismatch, message: `Header mismatch: ${problem}`, id: msg.id ?? null } };
  }
  return { msg };
}

/** A legacy client on `/mcp/<ns>` of a shard that only speaks 2026-07-28. */
export const legacyClientOnModernShard = (ns: string): Refusal => ({
  status: 400,
  code: ERR.invalidRequest,
  message: `namespace ${ns} speaks ${MODERN_VERSION} only: send MCP-Protocol-Version: ${MODERN_VERSION}, or use the federated /mcp`,
  id: null,
});

const FORWARD_HEADERS = ["accept", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id"];
/** Upstream answer headers passed back to the client (`Mcp-Session-Id` is replaced by the gateway's own). */
export const RESPONSE_HEADERS = ["content-type", "cache-control", "mcp-protocol-version", "retry-after"];

/** Headers copied from the client to a replica: protocol headers and `Mcp-Param-*`; never `Authorization`. */
export function forwardHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== "string") continue;
    if (FORWARD_HEADERS.includes(k) || k.startsWith("mcp-param-")) out[k] = v;
  }
  return out;
}

// ---- the bridge: what goes to a shard, by the protocol it speaks

/** Headers of a request on a legacy (≤ 2025-11-25) session the gateway holds. */
export function legacyHeaders(sid: string, version: string): Record<string, string> {
  return {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-session-id": sid,
    "mcp-protocol-version": version,
  };
}

/** The 2026-07-28 request-metadata headers for a message (§Standard Request Headers). */
export function modernHeaders(msg: JsonRpcMessage): Record<string, string> {
  const h: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": MODERN_VERSION,
    "mcp-method": msg.method ?? "",
  };
  const name = targetName(msg);
  if (name !== undefined) h["mcp-name"] = encodeHeaderValue(name);
  return h;
}

/** Add the 2026-07-28 `_meta` a modern shard validates against the headers. */
export function withModernMeta(msg: JsonRpcMessage): JsonRpcMessage {
  return { ...msg, params: { ...msg.params, _meta: { ...msg.params?._meta, "io.modelcontextprotocol/protocolVersion": MODERN_VERSION } } };
}

/** Strip the 2026-07-28 `_meta` keys before a message goes to a legacy server. */
export function withoutModernMeta(msg: JsonRpcMessage): JsonRpcMessage {
  if (!msg.params?._meta) return msg;
  const meta = Object.fromEntries(Object.entries(msg.params._meta).filter(([k]) => !k.startsWith("io.modelcontextprotocol/")));
  const params = { ...msg.params, _meta: meta };
  if (Object.keys(meta).length === 0) delete (params as { _meta?: unknown })._meta;
  return { ...msg, params };
}

/** A message the gateway built (federated endpoint) as a shard of `protocol` expects it. */
export function forShard(msg: JsonRpcMessage, protocol: string): JsonRpcMessage {
  return protocol === MODERN_VERSION ? withModernMeta(msg) : msg;
}

// ---- the federated endpoint

/** `<namespace>__<tool>` ⇒ its parts, when the namespace is one of ours. */
export function splitFederatedName(name: unknown, isNamespace: (ns: string) => boolean): { ns: string; tool: string } | undefined {
  if (typeof name !== "string") return undefined;
  const i = name.indexOf(FEDERATED_SEP);
  if (i <= 0) return undefined;
  const ns = name.slice(0, i);
  return isNamespace(ns) ? { ns, tool: name.slice(i + FEDERATED_SEP.length) } : undefined;
}

/** The `tools/list` sent to each shard for a federated one (pagination is not federated: a cursor lists from the start). */
export function shardToolsList(msg: JsonRpcMessage): JsonRpcMessage {
  return { jsonrpc: "2.0", id: msg.id ?? null, method: "tools/list", params: msg.params?.cursor ? {} : msg.params };
}

/** The tools in a shard's `tools/list` answer, renamed `<namespace>__<tool>`. */
export function prefixedTools(ns: string, answer: JsonRpcMessage | undefined): Array<{ name: string }> {
  const tools = (answer?.result as { tools?: Array<{ name: string }> } | undefined)?.tools ?? [];
  return tools.map((t) => ({ ...t, name: `${ns}${FEDERATED_SEP}${t.name}` }));
}

/** A federated `tools/call` as the shard sees it: the bare tool name. */
export function shardToolCall(msg: JsonRpcMessage, tool: string): JsonRpcMessage {
  return { ...msg, params: { ...msg.params, name: tool } };
}

/** The version the gateway answers a federated `initialize` with: the client's if it is a legacy one we speak, else the newest. */
export function negotiateLegacyVersion(requested: unknown): string {
  return typeof requested === "string" && (LEGACY_VERSIONS as readonly string[]).includes(requested) ? requested : LEGACY_VERSIONS[0];
}

export function resultBody(id: JsonRpcId, result: unknown): string {
  return JSON.stringify({ jsonrpc: "2.0", id, result });
}

/** The gateway's own `initialize` answer on the federated endpoint (tools only, no list-changed notifications). */
export function federatedInitializeBody(id: JsonRpcId, version: string): string {
  return resultBody(id, { protocolVersion: version, capabilities: { tools: { listChanged: false } }, serverInfo: { name: "tierstack-mcp-gateway", version: "0.1.0" } });
}

export const unknownFederatedTool = (name: unknown, id: JsonRpcId): Refusal => ({
  status: 200,
  code: ERR.invalidParams,
  message: `unknown tool ${String(name)}: expected <namespace>${FEDERATED_SEP}<tool>`,
  id,
});

export const notFederated = (method: string | undefined, id: JsonRpcId): Refusal => ({
  status: 200,
  code: ERR.methodNotFound,
  message: `method ${method} is not served by the federated endpoint (tools only; use /mcp/<namespace>)`,
  id,
});
