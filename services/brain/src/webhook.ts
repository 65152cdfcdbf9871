/**
 * WhatsApp Cloud API webhook: signature check over the raw bytes and a defensive parser. The
 * parser never throws: whatever it cannot use becomes a dead letter, so a validly signed payload
 * is always answered 200 (anything else is redelivered for days).
 *
 * Its input contract is Meta's, not the brain's: Meta adds fields and message types over time,
 * so unknown fields are ignored (never refused), fields the brain reads are checked for type and
 * length where they are read, and what is unusable is kept as a dead letter — once per message
 * id, or once per payload when there is no message id. The body is bounded (1 MB, 413) and its
 * nesting (WEBHOOK_MAX_DEPTH) is checked on the raw text before JSON.parse.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { jsonDepthExceeds } from "./input.js";
import type { DeadLetterInput, InboundInput, StatusInput, StatusName } from "./store/index.js";

/** True when `header` is `sha256=<hex HMAC-SHA256(secret, raw)>`; constant-time over the digest. */
export function validSignature(raw: Buffer, header: string | undefined, secret: string): boolean {
  if (typeof header !== "string") return false;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) return false;
  const expected = createHmac("sha256", secret).update(raw).digest();
  const given = Buffer.from(m[1]!, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function signPayload(raw: Buffer | string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(raw).digest("hex")}`;
}

export type { DeadLetterInput } from "./store/index.js";

export interface ParsedWebhook {
  messages: InboundInput[];
  statuses: StatusInput[];
  deadLetters: DeadLetterInput[];
  /** Messages that need nothing (reactions): neither stored nor answered. */
  ignored: number;
}

/**
 * Meta's webhook payloads nest about ten levels deep; anything past this is refused (as a dead
 * letter) before JSON.parse or any walk touches it.
 */
export const WEBHOOK_MAX_DEPTH = 64;
/** WhatsApp's own limit on a text body; captions are shorter. */
const MAX_TEXT = 4096;
const STATUSES: ReadonlySet<string> = new Set(["sent", "delivered", "read", "failed"]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown, max = 512): string | undefined => (typeof v === "string" && v.length > 0 && v.length <= max ? v : undefined);
const own = (o: Obj, k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);

function seconds(v: unknown, now: number): number {
  const s = typeof v === "string" && /^\d{1,12}$/.test(v) ? Number(v) : typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (s === undefined) return now;
  return Math.min(s * 1000, now);
}

/**
 * A parsed value as dead-letter text. Never String(v): a JSON object with an own "toString" that
 * is not a function makes String() throw (and a throw here would be a 500).
 */
function jsonOf(v: unknown): string {
  try {
    return JSON.stringify(v) ?? "undefined";
  } catch {
    return "[not serializable]";
  }
}

/** A scalar as text for a message: strings and numbers only (see jsonOf). */
const scalar = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");

/**
 * What the brain does with one inbound message:
 * - read: stored and answered like a text message (the text, caption, button or list title);
 * - notice: stored with an empty body; the learner gets `texts.unreadable` ("I can only read text
 *   and captions…"), no LLM call, no quota used (decide.ts);
 * - welcome: request_welcome, stored; the learner gets `texts.welcome`;
 * - ignore: neither stored nor answered (a reaction is not a question);
 * - dead: not answered, kept once as a dead letter (keyed on the message id) for an operator.
 */
export type MessageOutcome =
  | { kind: "read"; text: string }
  | { kind: "notice" }
  | { kind: "welcome" }
  | { kind: "ignore" }
  | { kind: "dead"; reason: string };

const notice: MessageOutcome = { kind: "notice" };

/** Text the learner typed, as the brain reads it: a string of 1-4096 characters that is not only whitespace. */
function typed(v: unknown): string | undefined {
  return typeof v === "string" && v.trim().length > 0 && v.length <= MAX_TEXT ? v : undefined;
}

/** A required text field: read it, or the message is broken (dead letter). */
function required(v: unknown, what: string): MessageOutcome {
  const t = typed(v);
  if (t !== undefined) return { kind: "read", text: t };
  return { kind: "dead", reason: typeof v === "string" && v.length > MAX_TEXT ? `${what} over ${MAX_TEXT} characters` : `${what} message without a body` };
}

/** An optional caption or text on a message: read it when there is one, else the notice. */
const optional = (field: string, key: string) => (m: Obj): MessageOutcome => {
  const o = own(m, field);
  const t = isObj(o) ? typed(own(o, key)) : undefined;
  return t !== undefined ? { kind: "read", text: t } : notice;
};

/**
 * Every inbound message type of the Cloud API webhook (Graph v23.0, "messages" field) and what
 * the learner gets back. A type not in this table is kept as a dead letter. A Map, not an object
 * literal: "constructor" or "__proto__" must not find anything.
 */
export const MESSAGE_TYPES: ReadonlyMap<string, (m: Obj) => MessageOutcome> = new Map<string, (m: Obj) => MessageOutcome>([
  ["text", (m) => {
    const t = own(m, "text");
    return required(isObj(t) ? own(t, "body") : undefined, "text");
  }],
  ["image", optional("image", "caption")],
  ["video", optional("video", "caption")],
  ["document", optional("document", "caption")],
  ["audio", () => notice],
  ["sticker", () => notice],
  ["location", () => notice],
  ["contacts", () => notice],
  ["interactive", (m) => {
    // button_reply and list_reply carry the title the learner tapped; nfm_reply (Flows) and any other kind do not.
    const i = own(m, "interactive");
    if (!isObj(i)) return notice;
    const kind = own(i, "type");
    const reply = kind === "button_reply" || kind === "list_reply" ? own(i, kind) : own(i, "button_reply") ?? own(i, "list_reply");
    const t = isObj(reply) ? typed(own(reply, "title")) : undefined;
    return t !== undefined ? { kind: "read", text: t } : notice;
  }],
  ["button", optional("button", "text")],
  ["reaction", () => ({ kind: "ignore" })],
  ["order", optional("order", "text")],
  ["system", (m) => {
    const s = own(m, "system");
    const kind = isObj(s) ? str(own(s, "type"), 64) : undefined;
    return { kind: "dead", reason: `system message${kind ? `: ${kind}` : ""}` };
  }],
  ["request_welcome", () => ({ kind: "welcome" })],
  ["unsupported", () => notice],
  ["unknown", () => notice],
]);

/** The outcome for one message object (its type looked up in MESSAGE_TYPES). */
export function outcomeOf(m: Obj): MessageOutcome {
  const type = own(m, "type");
  const rule = typeof type === "string" ? MESSAGE_TYPES.get(type) : undefined;
  if (!rule) return { kind: "dead", reason: typeof type === "string" ? `unknown message type: ${type.slice(0, 64)}` : "message without a type" };
  return rule(m);
}

export function parseWhatsAppWebhook(raw: Buffer, now: number): ParsedWebhook {
  const out: ParsedWebhook = { messages: [], statuses: [], deadLetters: [], ignored: 0 };
  const dead = (reason: string, payload: string, key?: string) => out.deadLetters.push({ source: "whatsapp", reason, payload, ...(key !== undefined ? { key } : {}) });
  const rawText = raw.toString("utf8");
  if (jsonDepthExceeds(rawText, WEBHOOK_MAX_DEPTH)) {
    dead(`nested deeper than ${WEBHOOK_MAX_DEPTH} levels`, rawText);
    return out;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(rawText);
  } catch (err) {
    dead(`invalid JSON: ${(err as Error).message.slice(0, 200)}`, rawText);
    return out;
  }
  if (!isObj(doc) || own(doc, "object") !== "whatsapp_business_account" || !Array.isArray(own(doc, "entry"))) {
    dead("not a whatsapp_business_account notification", rawText);
    return out;
  }
  for (const entry of own(doc, "entry") as unknown[]) {
    const changes = isObj(entry) ? own(entry, "changes") : undefined;
    if (!Array.isArray(changes)) {
      dead("entry without changes", jsonOf(entry));
      continue;
    }
    for (const change of changes) {
      if (!isObj(change) || own(change, "field") !== "messages" || !isObj(own(change, "value"))) {
        dead(`unsupported change${isObj(change) && typeof own(change, "field") === "string" ? `: ${String(own(change, "field")).slice(0, 100)}` : ""}`, jsonOf(change));
        continue;
      }
      const value = own(change, "value") as Obj;
      const messages = own(value, "messages");
      const statuses = own(value, "statuses");
      const errors = own(value, "errors");
      if (messages === undefined && statuses === undefined) {
        dead(errors !== undefined ? "webhook errors" : "change without messages or statuses", jsonOf(value));
        continue;
      }
      if (messages !== undefined) {
        if (!Array.isArray(messages)) dead("messages is not an array", jsonOf(messages));
        else for (const m of messages) parseMessage(m, now, out, dead);
      }
      if (statuses !== undefined) {
        if (!Array.isArray(statuses)) dead("statuses is not an array", jsonOf(statuses));
        else for (const s of statuses) parseStatus(s, now, out, dead);
      }
    }
  }
  if (out.messages.length === 0 && out.statuses.length === 0 && out.deadLetters.length === 0 && out.ignored === 0) dead("nothing to process", rawText);
  return out;
}

type Dead = (reason: string, payload: string, key?: string) => void;

function parseMessage(m: unknown, now: number, out: ParsedWebhook, dead: Dead): void {
  if (!isObj(m)) return dead("message is not an object", jsonOf(m));
  const id = str(own(m, "id"), 256);
  // Keyed on the message id: a redelivery of the same message never adds a second dead letter.
  const key = id !== undefined ? `whatsapp:${id}` : undefined;
  const from = own(m, "from");
  if (!id || typeof from !== "string" || !/^\d{6,15}$/.test(from)) return dead("message without a valid id or sender", jsonOf(m), key);
  const outcome = outcomeOf(m);
  const type = typeof own(m, "type") === "string" ? (own(m, "type") as string) : "";
  const sentAt = seconds(own(m, "timestamp"), now);
  switch (outcome.kind) {
    case "read":
      return void out.messages.push({ waId: id, phone: from, type, body: outcome.text, sentAt });
    case "notice":
    case "welcome":
      return void out.messages.push({ waId: id, phone: from, type, body: "", sentAt });
    case "ignore":
      out.ignored++;
      return;
    case "dead":
      return dead(outcome.reason, jsonOf(m), key);
  }
}

function parseStatus(s: unknown, now: number, out: ParsedWebhook, dead: Dead): void {
  if (!isObj(s)) return dead("status is not an object", jsonOf(s));
  const id = str(own(s, "id"), 256);
  const status = own(s, "status");
  const recipient = own(s, "recipient_id");
  if (!id || typeof status !== "string" || !STATUSES.has(status) || typeof recipient !== "string" || !/^\d{6,15}$/.test(recipient)) {
    return dead("status without a valid id, status or recipient", jsonOf(s));
  }
  const errs = own(s, "errors");
  let error: string | undefined;
  if (Array.isArray(errs) && isObj(errs[0])) {
    const e = errs[0];
    error = `${scalar(own(e, "code"))} ${scalar(own(e, "title"))}`.trim().slice(0, 500);
  }
  out.statuses.push({ messageId: id, recipient, status: status as StatusName, at: seconds(own(s, "timestamp"), now), ...(error ? { error } : {}) });
}
