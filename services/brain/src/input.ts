/**
 * The brain's input contract, one module for every route.
 *
 * Every body is bounded before it is walked: by size (Fastify's bodyLimit per route, 413) and by
 * nesting (`jsonDepthExceeds` on the raw text, before JSON.parse). The brain's own APIs (sign-up,
 * admin) then read their input through `readFields`: a closed set of fields, each of one type,
 * nothing coerced beyond what the README documents, an unknown, missing, duplicated or mistyped
 * field refused with a 400 whose message starts with the field's name ("phone: …").
 *
 * The webhooks are different: their contracts are Meta's and Stripe's, who add fields over time,
 * so their payloads are never refused for an unknown field (webhook.ts, stripe.ts).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { HttpError } from "@tierstack/common";

/** Nesting limit for the brain's own JSON bodies (sign-up is one flat object). */
export const OWN_MAX_DEPTH = 8;

/**
 * True when the JSON text nests arrays/objects deeper than `max`. A linear scan that skips string
 * contents (with their escapes); it does not validate the JSON, JSON.parse does that afterwards.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** JSON.parse after the depth check; a 400 naming the body on either failure. */
export function parseBoundedJson(text: string, maxDepth = OWN_MAX_DEPTH): unknown {
  if (jsonDepthExceeds(text, maxDepth)) throw new HttpError(400, `body: nested deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `body: not JSON (${(err as Error).message.slice(0, 100)})`);
  }
}

/** One field of a request: its type, and for strings the longest value and the values allowed. */
export type FieldSpec =
  | { type: "string"; maxLength: number; required: boolean }
  | { type: "true"; required: boolean; accept?: readonly string[] }
  | { type: "integer"; min: number; max: number; required: boolean };

export type Spec = Record<string, FieldSpec>;

type Value<F extends FieldSpec> = F extends { type: "string" } ? string : F extends { type: "true" } ? true : number;
export type Fields<S extends Spec> = { [K in keyof S]?: Value<S[K]> };

export interface ReadOptions {
  /** The input is a query string or a form: values are strings, an array means the field was given twice. */
  strings?: boolean;
}

/**
 * The fields of `input` checked against `spec`: an object with only the spec's fields, each of
 * its type. Strings are read as they are (no trimming, no coercion); in a query string or form
 * (`strings`), an integer is a decimal string without sign or leading zeros, and a `true` field
 * is one of its `accept` strings. Anything else: HttpError 400, "<field>: <what was expected>".
 */
export function readFields<S extends Spec>(input: unknown, spec: S, opts: ReadOptions = {}): Fields<S> {
  if (input === undefined || input === null) input = {};
  if (typeof input !== "object" || Array.isArray(input)) throw new HttpError(400, "body: expected an object");
  const obj = input as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    if (!Object.prototype.hasOwnProperty.call(spec, key)) throw new HttpError(400, `${printable(key)}: unknown field (expected ${Object.keys(spec).join(", ") || "none"})`);
  }
  for (const [name, f] of Object.entries(spec)) {
    const v = Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
    if (v === undefined) {
      if (f.required) throw new HttpError(400, `${name}: required`);
      continue;
    }
    if (opts.strings && Array.isArray(v)) throw new HttpError(400, `${name}: given more than once`);
    out[name] = readField(name, v, f, opts);
  }
  return out as Fields<S>;
}

function readField(name: string, v: unknown, f: FieldSpec, opts: ReadOptions): unknown {
  switch (f.type) {
    case "string":
      if (typeof v !== "string") throw new HttpError(400, `${name}: expected a string`);
      if (v.length > f.maxLength) throw new HttpError(400, `${name}: longer than ${f.maxLength} characters`);
      return v;
    case "true":
      if (v === true && !opts.strings) return true;
      if (opts.strings && typeof v === "string" && (f.accept ?? []).includes(v)) return true;
      throw new HttpError(400, `${name}: expected ${opts.strings ? (f.accept ?? []).map((a) => `"${a}"`).join(" or ") : "true"}`);
    case "integer": {
      const n = opts.strings ? (typeof v === "string" && /^(0|[1-9]\d{0,15})$/.test(v) ? Number(v) : NaN) : typeof v === "number" && Number.isSafeInteger(v) ? v : NaN;
      if (!Number.isSafeInteger(n) || n < f.min || n > f.max) throw new HttpError(400, `${name}: expected an integer from ${f.min} to ${f.max}`);
      return n;
    }
  }
}

/** A field name as an error message may quote it: at most 64 characters, control characters escaped. */
function printable(key: string): string {
  const s = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
  return s.slice(1, -1);
}

/**
 * A header the brain reads once (a signature, the admin token). Node joins repeated headers with
 * ", " (or keeps only the first, for Authorization), so a repeat is found in the raw header list:
 * given more than once, the header counts as absent and the check it feeds fails (401 or 400)
 * instead of reading one copy or a splice of both.
 */
export function oneHeader(req: { headers: Record<string, string | string[] | undefined>; raw: { rawHeaders: string[] } }, name: string): string | undefined {
  const lower = name.toLowerCase();
  let count = 0;
  const raw = req.raw.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === lower) count++;
  if (count > 1) return undefined;
  const v = req.headers[lower];
  return Array.isArray(v) ? undefined : v;
}

/**
 * Constant-time string comparison (hashes first, so lengths do not leak either). Hashed as
 * UTF-16 code units: UTF-8 would turn every lone surrogate into U+FFFD and make "\ud800" equal
 * "\udc00".
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a, "utf16le").digest();
  const hb = createHash("sha256").update(b, "utf16le").digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** "+44 7700 900123", "0044…", "447700900123" ⇒ "447700900123"; anything else ⇒ undefined. */
export function normalizePhone(input: unknown): string | undefined {
  if (typeof input !== "string" || input.length > 32) return undefined;
  let s = input.trim().replace(/[\s().-]/g, "");
  if (s.startsWith("+")) s = s.slice(1);
  else if (s.startsWith("00")) s = s.slice(2);
  return /^[1-9]\d{7,14}$/.test(s) ? s : undefined;
}
