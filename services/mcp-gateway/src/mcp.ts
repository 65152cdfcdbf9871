/** MCP wire helpers: JSON-RPC shapes and errors, the 2026-07-28 request-metadata headers (reading bodies: body.ts). */
import { MODERN_VERSION } from "./config.js";

export type JsonRpcId = string | number | null;
export interface JsonRpcMessage {
  jsonrpc?: string;
  id?: JsonRpcId;
  method?: string;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export const ERR = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** Used by the TypeScript SDK for "session not found"; the gateway answers unknown sessions the same way. */
  sessionNotFound: -32001,
  /** 2026-07-28 Streamable HTTP §Server Validation. */
  headerMismatch: -32020,
  /** Gateway: the namespace has no live replica / the upstream failed. */
  unavailable: -32003,
  rateLimited: -32029,
} as const;

export function rpcError(code: number, message: string, id: JsonRpcId = null, data?: unknown): string {
  return JSON.stringify({ jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } });
}

/** Methods whose target is mirrored into `Mcp-Name` (2026-07-28 §Standard Request Headers). */
const NAMED: Record<string, "name" | "uri"> = { "tools/call": "name", "prompts/get": "name", "resources/read": "uri" };

export function targetName(msg: JsonRpcMessage): string | undefined {
  const field = msg.method ? NAMED[msg.method] : undefined;
  const v = field ? msg.params?.[field] : undefined;
  return typeof v === "string" ? v : undefined;
}

export function isNamedMethod(method: string | undefined): boolean {
  return method !== undefined && method in NAMED;
}

/** `=?base64?…?=` sentinel (2026-07-28 §Value Encoding); other values are taken as-is. */
export function decodeHeaderValue(v: string): string {
  const m = /^=\?base64\?([A-Za-z0-9+/=]*)\?=$/.exec(v);
  return m ? Buffer.from(m[1] ?? "", "base64").toString("utf8") : v;
}

export function encodeHeaderValue(v: string): string {
  const plain = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(v) && !(v.startsWith("=?base64?") && v.endsWith("?="));
  return plain ? v : `=?base64?${Buffer.from(v, "utf8").toString("base64")}?=`;
}

type Headers = Record<string, string | string[] | undefined>;
const one = (h: Headers, k: string) => {
  const v = h[k];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * Header–body validation of a 2026-07-28 request (§Request Metadata, §Server Validation): returns the
 * problem, or undefined when the mirrored headers agree with the body.
 */
export function checkModernHeaders(headers: Headers, msg: JsonRpcMessage): string | undefined {
  const version = one(headers, "mcp-protocol-version");
  const method = one(headers, "mcp-method");
  if (!version) return "missing MCP-Protocol-Version header";
  if (!method) return "missing Mcp-Method header";
  if (method !== msg.method) return `Mcp-Method header value '${method}' does not match body value '${msg.method}'`;
  const metaVersion = msg.params?._meta?.["io.modelcontextprotocol/protocolVersion"];
  if (metaVersion !== version) {
    return `MCP-Protocol-Version header value '${version}' does not match body value '${String(metaVersion)}'`;
  }
  if (isNamedMethod(msg.method)) {
    const bodyName = targetName(msg);
    const raw = one(headers, "mcp-name");
    if (raw === undefined) return "missing Mcp-Name header";
    const name = decodeHeaderValue(raw);
    if (name !== bodyName) return `Mcp-Name header value '${name}' does not match body value '${String(bodyName)}'`;
  }
  return undefined;
}

export function isModern(headers: Headers): boolean {
  return one(headers, "mcp-protocol-version") === MODERN_VERSION;
}
