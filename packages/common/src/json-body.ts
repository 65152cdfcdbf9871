/**
 * The platform's one bounded JSON parse: every JSON body a service reads passes it before
 * anything walks the value (a validator, JSON.stringify for a size check, a store).
 *
 * In order: the size (more than `maxBytes` ⇒ 413), UTF-8 (RFC 8259 §8.1), then one linear scan
 * of the text before JSON.parse: at most `maxDepth` nested objects and arrays, no member name
 * twice in one object (one body, one reading), no `__proto__` member and no `constructor` member
 * holding a `prototype` (Fastify's default parser refuses those too), and only numbers JavaScript
 * holds as written (no overflow to ±Infinity, no non-zero literal underflowing to 0, no integer
 * literal beyond ±2^53 losing digits). Only then JSON.parse. Each refusal is a 400 whose message
 * starts with the JSON pointer of the offending value (`body/tasks/3/payload: …`), the form
 * Fastify's validation errors use.
 *
 * createServiceApp({ json: {…} }) installs it as the parser of every application/json body; a
 * service that parses some bodies itself (raw bytes for a signature, JSON-RPC) calls
 * parseJsonBounded from its own content-type parser.
 */
import { isUtf8 } from "node:buffer";

/** Deepest nesting of objects and arrays accepted in a body (the body itself is level 1). */
export const JSON_MAX_DEPTH = 64;

/** too_large: over maxBytes; not_json: empty, not UTF-8 or not JSON; refused: JSON the platform does not accept. */
export type JsonRefusal = "too_large" | "not_json" | "refused";

/** A refused body: statusCode 413 (too large) or 400, the error handlers answer it as it is. */
export class JsonBodyError extends Error {
  constructor(
    readonly statusCode: 400 | 413,
    readonly reason: JsonRefusal,
    message: string,
  ) {
    super(message);
    this.name = "JsonBodyError";
  }
}

/** How the scan names a value in its messages: a JSON pointer, or JavaScript's dotted path. */
export type JsonPathStyle = "pointer" | "dotted";

export interface JsonScan {
  /** Deepest nesting; default JSON_MAX_DEPTH. */
  maxDepth?: number;
  /** The name the messages start with; default "body" (for "dotted", the top level's only name). */
  name?: string;
  /** "pointer" (default): `body/tasks/3/payload`; "dotted": `tasks[3].payload` (JSON-RPC's fields). */
  path?: JsonPathStyle;
}

export interface JsonBounds extends JsonScan {
  /** Largest body in bytes (UTF-8). */
  maxBytes: number;
}

/** Bytes (or text) ⇒ the JSON value, through every check above; JsonBodyError otherwise. */
export function parseJsonBounded(raw: Buffer | string, bounds: JsonBounds): unknown {
  const name = bounds.name ?? "body";
  const size = typeof raw === "string" ? Buffer.byteLength(raw) : raw.length;
  if (size > bounds.maxBytes) throw new JsonBodyError(413, "too_large", `${name} is ${size} bytes; the limit is ${bounds.maxBytes}`);
  if (typeof raw !== "string" && !isUtf8(raw)) throw new JsonBodyError(400, "not_json", `${name}: not valid UTF-8`);
  const text = typeof raw === "string" ? raw : raw.toString("utf8");
  if (text.trim() === "") throw new JsonBodyError(400, "not_json", `${name}: empty (a JSON value was expected)`);
  scanJson(text, bounds);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new JsonBodyError(400, "not_json", `${name}: not JSON (${(err as Error).message.slice(0, 200)})`);
  }
}

/** One JSON-pointer segment (RFC 6901 escapes), shortened when long. */
export function pointerSegment(key: string | number): string {
  if (typeof key === "number") return String(key);
  const s = key.replace(/~/g, "~0").replace(/\//g, "~1");
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

type Frame = { obj: true; keys: Set<string>; key: string | undefined; expectKey: boolean } | { obj: false; index: number };

const refuse = (message: string) => new JsonBodyError(400, "refused", message);
const shown = (literal: string) => (literal.length > 40 ? `${literal.slice(0, 40)}…` : literal);

function checkNumber(literal: string, at: () => string): void {
  // Up to 15 characters without an exponent cannot overflow, underflow or lose an integer digit.
  if (literal.length <= 15 && literal.indexOf("e") < 0 && literal.indexOf("E") < 0) return;
  const value = Number(literal);
  if (Number.isNaN(value)) return; // not a JSON number: JSON.parse reports it
  if (!Number.isFinite(value)) throw refuse(`${at()}: number ${shown(literal)} is out of range (an IEEE 754 double holds up to ±1.8e308)`);
  const mantissa = literal.split(/[eE]/)[0] ?? "";
  if (value === 0 && /[1-9]/.test(mantissa)) throw refuse(`${at()}: number ${shown(literal)} underflows to 0`);
  if (/^-?\d{16,}$/.test(literal) && BigInt(literal) !== BigInt(value)) {
    throw refuse(`${at()}: number ${shown(literal)} cannot be represented exactly (an integer beyond ±2^53); send it as a string`);
  }
}

/** 0-9 e E + - . */
const isNumberChar = (d: number) => (d >= 0x30 && d <= 0x39) || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d || d === 0x2e;

/** `a.b[2]["x y"]`, or `name` for the top level. */
function dotted(stack: readonly Frame[], name: string): string {
  let out = "";
  for (const f of stack) {
    if (!f.obj) out += `[${f.index}]`;
    else if (f.key === undefined) continue;
    else if (/^[A-Za-z_$][\w$]*$/.test(f.key)) out += out ? `.${f.key}` : f.key;
    else out += `[${JSON.stringify(f.key.length > 64 ? `${f.key.slice(0, 64)}…` : f.key)}]`;
  }
  return out || name;
}

function pointer(stack: readonly Frame[], name: string): string {
  let p = name;
  for (const f of stack) {
    if (!f.obj) p += `/${f.index}`;
    else if (f.key !== undefined) p += `/${pointerSegment(f.key)}`;
  }
  return p;
}

/**
 * The linear pass over JSON text, before JSON.parse: depth, member names, numbers. It never throws
 * for malformed text (JSON.parse reports that); it throws JsonBodyError for well-formed text that
 * is refused.
 */
export function scanJson(text: string, opts: JsonScan = {}): void {
  const maxDepth = opts.maxDepth ?? JSON_MAX_DEPTH;
  const name = opts.name ?? "body";
  const stack: Frame[] = [];
  const style = opts.path === "dotted" ? dotted : pointer;
  const at = () => style(stack, name);
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
      if (top?.obj && top.expectKey) {
        let key: string;
        try {
          key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        } catch {
          return; // a bad escape
        }
        top.key = key;
        top.expectKey = false;
        if (top.keys.has(key)) throw refuse(`${at()}: member given twice`);
        top.keys.add(key);
        if (key === "__proto__") throw refuse(`${at()}: member name __proto__ is not accepted`);
        const parent = stack[stack.length - 2];
        if (key === "prototype" && parent?.obj && parent.key === "constructor") throw refuse(`${at()}: member name prototype is not accepted under constructor`);
      }
      i = j + 1;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) throw refuse(`${at()}: nested deeper than ${maxDepth} levels`);
      stack.push(c === 0x7b ? { obj: true, keys: new Set(), key: undefined, expectKey: true } : { obj: false, index: 0 });
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      i++;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.obj) top.expectKey = true;
      else if (top) top.index++;
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < n && isNumberChar(text.charCodeAt(j))) j++;
      checkNumber(text.slice(i, j), at);
      i = j;
    } else i++;
  }
}
