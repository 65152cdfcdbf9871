/**
 * The gateway's protocol rules, pure (no I/O, no Fastify): which era a request belongs to, whether a
 * 2026-07-28 request may be routed (header–body checks), what is forwarded, and the transforms that
 * bridge 2026-07-28 clients to ≤ 2025-11-25 shards and back (ADR 0021), plus the federated endpoint's
 * naming and its own answers (ADR 0022). The wire primitives it builds on (JSON-RPC shapes, the
 * §Value Encoding codec, the header–body comparison a 2026-07-28 server performs) are in mcp.ts.
 */
import { LEGACY_VERSIONS, MODERN_VERSION } from "./config.js";
import { tryParseJsonText, type JsonRpcBody } from "./body.js";
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

/**
 * An answer the gateway gives itself instead of routing: always a JSON-RPC error body (also for 405,
 * whose `Allow` goes in `headers`); `status` 200 for an error answer to an accepted request.
 */
export interface Refusal {
  status: number;
  code: number;
  message: string;
  id: JsonRpcId;
  data?: unknown;
  headers?: Record<string, string>;
}

/** A POST without a body. */
export const EMPTY_BODY: Refusal = { status: 400, code: ERR.parse, message: "Parse error: empty body", id: null };

export const methodNotAllowed = (allow: string, why: string): Refusal => ({ status: 405, code: ERR.invalidRequest, message: `Method not allowed: ${why}`, id: null, headers: { allow } });

/** A legacy request without `Mcp-Session-Id` that is not an `initialize`. */
export const sessionRequired = (id: JsonRpcId): Refusal => ({ status: 400, code: ERR.invalidRequest, message: "Bad Request: Mcp-Session-Id header is required", id });

/** An `initialize` inside a batch (2025-03-26 lifecycle §Initialization: it MUST NOT be part of a batch). */
export const INITIALIZE_IN_BATCH: Refusal = { status: 400, code: ERR.invalidRequest, message: "Invalid Request: initialize must be sent alone, not in a JSON-RPC batch", id: null };

/** A batch where the protocol has none (batches exist in 2025-03-26 only; 2025-06-18 removed them). */
export const batchNotSupported = (version: string): Refusal => ({
  status: 400,
  code: ERR.invalidRequest,
  message: `Invalid Request: JSON-RPC batches are not part of protocol ${version} (only 2025-03-26 has them); send one message per request`,
  id: null,
});

/** Headers the gateway reads or forwards that must appear at most once (RFC 9110 §5.3: not list-valued). */
export const SINGLE_HEADERS = ["authorization", "content-type", "origin", "mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id"];

/** A header of SINGLE_HEADERS (or any `Mcp-Param-*`) given more than once, or undefined. */
export function repeatedHeader(distinct: Record<string, string[] | undefined>): Refusal | undefined {
  for (const [k, v] of Object.entries(distinct)) {
    if (v && v.length > 1 && (SINGLE_HEADERS.includes(k) || k.startsWith("mcp-param-"))) {
      return { status: 400, code: ERR.invalidRequest, message: `Bad Request: header ${k} given ${v.length} times (at most once)`, id: null };
    }
  }
  return undefined;
}

/**
 * Admission of a 2026-07-28 request, on either endpoint: POST only (§Backward Compatibility: GET and
 * DELETE ⇒ 405), one JSON-RPC message (no batches in this era), and for requests (not notifications)
 * the mirrored headers must agree with the body (§Server Validation ⇒ 400 HeaderMismatch).
 */
export function admitModern(method: string, headers: Headers, body: JsonRpcBody | undefined): { msg: JsonRpcMessage } | { refusal: Refusal } {
  if (method !== "POST") return { refusal: methodNotAllowed("POST", `${method} in protocol ${MODERN_VERSION} (§Backward Compatibility)`) };
  if (!body) return { refusal: EMPTY_BODY };
  if (body.batch) return { refusal: batchNotSupported(MODERN_VERSION) };
  const { msg } = body;
  if (msg.id !== undefined) {
    const problem = checkModernHeaders(headers, msg);
    if (problem) return { refusal: { status: 400, code: ERR.headerMismatch, message: `Header mismatch: ${problem}`, id: msg.id ?? null } };
  }
  return { msg };
}

/** `/mcp/<ns>` of a namespace this gateway does not route. */
export const unknownNamespace = (ns: string): Refusal => ({ status: 404, code: ERR.invalidRequest, message: `unknown namespace ${JSON.stringify(ns)}`, id: null, data: { namespace: ns } });

/** A legacy client on `/mcp/<ns>` of a shard that only speaks 2026-07-28. */
export const legacyClientOnModernShard = (ns: string): Refusal => ({
  status: 400,
  code: ERR.invalidRequest,
  message: `namespace ${ns} speaks ${MODERN_VERSION} only: send MCP-Protocol-Version: ${MODERN_VERSION}, or use the federated /mcp`,
  id: null,
});

const FORWARD_HEADERS = ["accept", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id"];
/** Upstream answer headers passed back to the client (`Mcp-Session-Id` is replaced by the gateway's own). */
export const RESPONSE_HEADERS = ["content-type", "cache-control", "mcp-protocol-version", "retry-after", "allow"];

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

/** `<namespace>__<tool>` ⇒ its parts, when the namespace is one of ours and the tool name is not empty. */
export function splitFederatedName(name: unknown, isNamespace: (ns: string) => boolean): { ns: string; tool: string } | undefined {
  if (typeof name !== "string") return undefined;
  const i = name.indexOf(FEDERATED_SEP);
  if (i <= 0) return undefined;
  const ns = name.slice(0, i);
  const tool = name.slice(i + FEDERATED_SEP.length);
  return isNamespace(ns) && tool !== "" ? { ns, tool } : undefined;
}

/**
 * The federated `tools/list` cursor: `gw1.` + base64url of `{"<namespace>": "<that shard's cursor>"}`,
 * one entry per shard that has more pages. Opaque to clients (MCP pagination: cursors are opaque); the
 * gateway asks each listed shard for its next page and no other shard.
 */
const CURSOR_PREFIX = "gw1.";

export function encodeFederatedCursor(next: ReadonlyMap<string, string>): string | undefined {
  if (next.size === 0) return undefined;
  return CURSOR_PREFIX + Buffer.from(JSON.stringify(Object.fromEntries(next)), "utf8").toString("base64url");
}

/** The per-shard cursors in a federated cursor, or undefined when it is not one this gateway issued for these namespaces. */
export function decodeFederatedCursor(cursor: string, isNamespace: (ns: string) => boolean): Map<string, string> | undefined {
  if (!cursor.startsWith(CURSOR_PREFIX)) return undefined;
  const b64 = cursor.slice(CURSOR_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) return undefined;
  const value = tryParseJsonText(Buffer.from(b64, "base64url").toString("utf8"));
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  if (entries.length === 0 || !entries.every(([ns, c]) => isNamespace(ns) && typeof c === "string")) return undefined;
  return new Map(entries as Array<[string, string]>);
}

/** The `tools/list` sent to one shard for a federated one: the client's params, with that shard's cursor (or none). */
export function shardToolsList(msg: JsonRpcMessage, cursor: string | undefined): JsonRpcMessage {
  const { cursor: _federated, ...params } = msg.params ?? {};
  const out: JsonRpcMessage = { jsonrpc: "2.0", id: msg.id ?? null, method: "tools/list" };
  const p = cursor === undefined ? params : { ...params, cursor };
  if (Object.keys(p).length > 0) out.params = p;
  return out;
}

/**
 * A shard's `tools/list` answer: its tools renamed `<namespace>__<tool>` (entries without a string name
 * are left out) and its `nextCursor` when it is a string.
 */
export function prefixedTools(ns: string, answer: JsonRpcMessage | undefined): { tools: Array<{ name: string }>; nextCursor?: string } {
  const result = answer?.result as { tools?: unknown; nextCursor?: unknown } | undefined;
  const tools = Array.isArray(result?.tools) ? (result.tools as unknown[]) : [];
  const named = tools.filter((t): t is { name: string } => typeof t === "object" && t !== null && typeof (t as { name?: unknown }).name === "string");
  const out: { tools: Array<{ name: string }>; nextCursor?: string } = { tools: named.map((t) => ({ ...t, name: `${ns}${FEDERATED_SEP}${t.name}` })) };
  if (typeof result?.nextCursor === "string") out.nextCursor = result.nextCursor;
  return out;
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

/** A request the gateway answers itself whose params it cannot use: a JSON-RPC error (HTTP 200) naming the field. */
export const invalidParams = (field: string, problem: string, id: JsonRpcId): Refusal => ({ status: 200, code: ERR.invalidParams, message: `Invalid params: ${field}: ${problem}`, id });

/** A federated tool name that names no namespace of this gateway, or no tool (`dev-tools__`). */
export const unknownFederatedTool = (name: string, id: JsonRpcId): Refusal =>
  invalidParams("params.name", `unknown tool ${JSON.stringify(name)}: expected <namespace>${FEDERATED_SEP}<tool> with a namespace of this gateway and a non-empty tool name`, id);

export const notFederated = (method: string | undefined, id: JsonRpcId): Refusal => ({
  status: 200,
  code: ERR.methodNotFound,
  message: `method ${method} is not served by the federated endpoint (tools only; use /mcp/<namespace>)`,
  id,
});
