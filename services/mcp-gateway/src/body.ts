/**
 * The one gate every JSON body passes before the gateway walks it: client requests (the `/mcp` routes'
 * content-type parser) and the shard answers it reads (federated `tools/list`, its own sessions). The
 * bytes go through the platform's bounded parse (the kit's parseJsonBounded: size, UTF-8 per RFC 8259
 * §8.1, at most MAX_DEPTH containers, no member name twice in one object — the gateway and the shard
 * must not read different messages from one body —, no `__proto__` member, only numbers JavaScript
 * represents as written). A client request must also be JSON-RPC 2.0 as MCP uses it (jsonRpcBody).
 * Each refusal names the offending field.
 */
import type { Readable } from "node:stream";
import { JsonBodyError, parseJsonBounded } from "@tierstack/common";
import { ERR, type JsonRpcId, type JsonRpcMessage } from "./mcp.js";

/** Deepest nesting of objects and arrays accepted in a body. */
export const MAX_DEPTH = 64;
/** Most messages in one JSON-RPC batch (2025-03-26 sessions only). */
export const MAX_BATCH = 64;

/** A body the gateway refuses: the HTTP status and the JSON-RPC error it answers with. */
export class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "BodyError";
  }
}

const invalid = (message: string) => new BodyError(400, ERR.invalidRequest, `Invalid Request: ${message}`);

/**
 * Bytes ⇒ JSON value, through the kit's bounded parse (size, UTF-8, depth, members, numbers),
 * its refusals named in JSON-RPC's terms: over `maxBytes` ⇒ 413; empty, not UTF-8 or not JSON ⇒
 * a parse error; JSON the platform refuses ⇒ an invalid request naming the value's dotted path.
 */
export function parseJson(raw: Buffer, maxBytes: number): unknown {
  try {
    return parseJsonBounded(raw, { maxBytes, maxDepth: MAX_DEPTH, path: "dotted" });
  } catch (err) {
    if (!(err instanceof JsonBodyError)) throw err;
    if (err.reason === "too_large") throw new BodyError(413, ERR.invalidRequest, `body larger than ${maxBytes} bytes`);
    if (err.reason === "not_json") throw new BodyError(400, ERR.parse, `Parse error: ${err.message}`);
    throw invalid(err.message);
  }
}

/** A client's JSON-RPC body: the raw bytes (forwarded unchanged where nothing is rewritten) and its messages. */
export type JsonRpcBody = { raw: Buffer; batch: false; msg: JsonRpcMessage } | { raw: Buffer; batch: true; msgs: JsonRpcMessage[] };

const MEMBERS = new Set(["jsonrpc", "id", "method", "params", "result", "error"]);
const ERROR_MEMBERS = new Set(["code", "message", "data"]);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * One JSON-RPC 2.0 message as MCP uses it (2025-11-25 basic §Messages): `jsonrpc: "2.0"`; a request has a
 * string `method`, an `id` that is a string or an integer (never null) and `params`, when present, an
 * object; a notification has no `id`; a response has an `id` and exactly one of `result` / `error`
 * (`error.code` an integer, `error.message` a string). Members JSON-RPC does not define are refused.
 */
export function checkMessage(v: unknown, where = ""): JsonRpcMessage {
  const at = (field: string) => (where ? `${where}.${field}` : field);
  if (!isObject(v)) throw invalid(`${where || "body"}: expected a JSON-RPC message (an object)`);
  for (const k of Object.keys(v)) if (!MEMBERS.has(k)) throw invalid(`${at(JSON.stringify(k).slice(1, -1))}: unknown member (a JSON-RPC message has jsonrpc, id, method, params, result, error)`);
  if (v.jsonrpc !== "2.0") throw invalid(`${at("jsonrpc")}: expected "2.0"`);
  const hasId = "id" in v;
  if (hasId && !(typeof v.id === "string" || (typeof v.id === "number" && Number.isInteger(v.id)) || (v.id === null && !("method" in v)))) {
    throw invalid(`${at("id")}: expected a string or an integer`);
  }
  if ("method" in v) {
    if (typeof v.method !== "string" || v.method === "") throw invalid(`${at("method")}: expected a non-empty string`);
    if ("params" in v && !isObject(v.params)) throw invalid(`${at("params")}: expected an object`);
    if (isObject(v.params) && "_meta" in v.params && !isObject(v.params._meta)) throw invalid(`${at("params._meta")}: expected an object`);
    if ("result" in v || "error" in v) throw invalid(`${at("method")}: a request has no result or error`);
    return v as JsonRpcMessage;
  }
  if (!hasId) throw invalid(`${at("method")}: missing (a request or notification needs a method, a response an id)`);
  if ("params" in v) throw invalid(`${at("params")}: a response has no params`);
  if (("result" in v) === ("error" in v)) throw invalid(`${where || "body"}: a response has exactly one of result or error`);
  if ("error" in v) {
    const e = v.error;
    if (!isObject(e)) throw invalid(`${at("error")}: expected an object`);
    for (const k of Object.keys(e)) if (!ERROR_MEMBERS.has(k)) throw invalid(`${at("error")}.${k}: unknown member`);
    if (typeof e.code !== "number" || !Number.isInteger(e.code)) throw invalid(`${at("error.code")}: expected an integer`);
    if (typeof e.message !== "string") throw invalid(`${at("error.message")}: expected a string`);
  }
  return v as JsonRpcMessage;
}

/** A client body: bounded JSON (parseJson), then one message or a batch of 1..MAX_BATCH messages, each checked. */
export function jsonRpcBody(raw: Buffer, maxBytes: number): JsonRpcBody {
  const value = parseJson(raw, maxBytes);
  if (!Array.isArray(value)) return { raw, batch: false, msg: checkMessage(value) };
  if (value.length === 0) throw invalid("body: an empty batch");
  if (value.length > MAX_BATCH) throw invalid(`body: a batch of ${value.length} messages (at most ${MAX_BATCH})`);
  const msgs = value.map((m, i) => checkMessage(m, `[${i}]`));
  const ids = new Set<string | number>();
  for (const [i, m] of msgs.entries()) {
    if (m.method === undefined || m.id === undefined || m.id === null) continue;
    if (ids.has(m.id)) throw invalid(`[${i}].id: ${JSON.stringify(m.id)} is used by another request of the batch`);
    ids.add(m.id);
  }
  return { raw, batch: true, msgs };
}

/** Read a stream to its end, at most `max` bytes: larger ⇒ the stream is destroyed and this throws. */
export async function readCapped(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      throw new BodyError(502, ERR.unavailable, `upstream answer larger than ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** JSON text ⇒ value through the same checks, or undefined when it is refused or not JSON. */
export function tryParseJsonText(text: string): unknown {
  try {
    return parseJsonBounded(text, { maxBytes: Infinity, maxDepth: MAX_DEPTH });
  } catch {
    return undefined;
  }
}

/**
 * The JSON-RPC response with `id` in an upstream answer that is either `application/json` or an SSE
 * stream (legacy servers answer requests on an SSE stream by default). The answer must already be
 * size-capped (readCapped); each JSON text in it goes through the bounded parse.
 */
export function findResponse(contentType: string | undefined, text: string, id: JsonRpcId): JsonRpcMessage | undefined {
  const candidates: unknown[] = [];
  if (contentType?.includes("text/event-stream")) {
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) candidates.push(tryParseJsonText(data));
    }
  } else candidates.push(tryParseJsonText(text));
  for (const c of candidates.flat()) {
    const m = c as JsonRpcMessage;
    if (m && typeof m === "object" && m.id === id && ("result" in m || "error" in m)) return m;
  }
  return undefined;
}

/** The error of a JSON-RPC error response in `text` (an upstream's error answer), or undefined when it is not one. */
export function rpcErrorOf(text: string): { code: number; message: string; data?: unknown } | undefined {
  const v = tryParseJsonText(text);
  if (!isObject(v) || v.jsonrpc !== "2.0" || !isObject(v.error)) return undefined;
  const { code, message, data } = v.error;
  if (typeof code !== "number" || !Number.isInteger(code) || typeof message !== "string") return undefined;
  return data === undefined ? { code, message } : { code, message, data };
}
