/**
 * The one gate every JSON body passes before the gateway walks it: client requests (the `/mcp` routes'
 * content-type parser) and the shard answers it reads (federated `tools/list`, its own sessions). A body
 * is size-capped, then must be UTF-8 (RFC 8259 §8.1), nest at most MAX_DEPTH containers, have no member
 * name twice in one object (the gateway and the shard must not read different messages from one body),
 * and hold only numbers JavaScript represents as written (no overflow to Infinity, no underflow of a
 * non-zero literal to 0, no integer literal that loses digits). Only then is it parsed. A client request
 * must also be JSON-RPC 2.0 as MCP uses it (jsonRpcBody). Each refusal names the offending field.
 */
import { isUtf8 } from "node:buffer";
import type { Readable } from "node:stream";
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

/** `a.b[2]["x y"]` for the path of a value; `body` for the top level. */
function pathOf(parts: ReadonlyArray<string | number>): string {
  let out = "";
  for (const p of parts) {
    if (typeof p === "number") out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out || "body";
}

function checkNumber(literal: string, at: () => string): void {
  // Fast path: up to 15 characters without an exponent cannot overflow, underflow or lose an integer digit.
  if (literal.length <= 15 && literal.indexOf("e") < 0 && literal.indexOf("E") < 0) return;
  const value = Number(literal);
  if (Number.isNaN(value)) return; // not a JSON number: JSON.parse reports it
  if (!Number.isFinite(value)) throw invalid(`${at()}: number ${literal} is out of range (IEEE 754 double)`);
  const mantissa = literal.split(/[eE]/)[0] ?? "";
  if (value === 0 && /[1-9]/.test(mantissa)) throw invalid(`${at()}: number ${literal} underflows to 0`);
  if (/^-?\d+$/.test(literal) && literal.replace("-", "").length > 15 && BigInt(literal) !== BigInt(value)) {
    throw invalid(`${at()}: integer ${literal} cannot be represented exactly (beyond ±2^53); send it as a string`);
  }
}

/** 0-9 e E + - . */
const isNumberChar = (d: number) => (d >= 0x30 && d <= 0x39) || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d || d === 0x2e;

type Frame = { kind: "object"; keys: Set<string>; key: string | undefined; expectKey: boolean } | { kind: "array"; index: number };

/**
 * One linear pass over JSON text (before JSON.parse): nesting depth, duplicate member names, number
 * literals. It never throws on malformed text (that is JSON.parse's to report); it throws BodyError for
 * well-formed text the gateway refuses.
 */
export function scanJson(text: string, maxDepth = MAX_DEPTH): void {
  const stack: Frame[] = [];
  const at = () => pathOf(stack.flatMap((f): Array<string | number> => (f.kind === "array" ? [f.index] : f.key === undefined ? [] : [f.key])));
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      if (j >= n) return; // unterminated string
      const top = stack[stack.length - 1];
      if (top?.kind === "object" && top.expectKey) {
        let key: string;
        try {
          key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        } catch {
          return; // bad escape
        }
        if (top.keys.has(key)) {
          top.key = key;
          throw invalid(`${at()}: member given twice`);
        }
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j + 1;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) throw invalid(`${at()}: nested deeper than ${maxDepth} levels`);
      stack.push(c === 0x7b ? { kind: "object", keys: new Set(), key: undefined, expectKey: true } : { kind: "array", index: 0 });
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      i++;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.kind === "object") top.expectKey = true;
      else if (top?.kind === "array") top.index++;
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < n && isNumberChar(text.charCodeAt(j))) j++;
      checkNumber(text.slice(i, j), at);
      i = j;
    } else i++;
  }
}

/**
 * Bytes ⇒ JSON value, through the checks above. `maxBytes` is checked here too (the HTTP layer's
 * limit answers 413 first for requests; this keeps every caller bounded).
 */
export function parseJson(raw: Buffer, maxBytes: number): unknown {
  if (raw.length > maxBytes) throw new BodyError(413, ERR.invalidRequest, `body larger than ${maxBytes} bytes`);
  if (raw.length === 0) throw new BodyError(400, ERR.parse, "Parse error: empty body");
  if (!isUtf8(raw)) throw new BodyError(400, ERR.parse, "Parse error: body is not valid UTF-8");
  const text = raw.toString("utf8");
  scanJson(text);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BodyError(400, ERR.parse, `Parse error: ${(err as Error).message}`);
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
    scanJson(text);
    return JSON.parse(text) as unknown;
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
