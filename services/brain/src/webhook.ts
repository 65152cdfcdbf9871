/**
 * WhatsApp Cloud API webhook: signature check over the raw bytes and a defensive parser. The
 * parser never throws: whatever it cannot use becomes a dead letter, so a validly signed payload
 * is always answered 200 (anything else is redelivered for days).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { InboundInput, StatusInput, StatusName } from "./store/index.js";

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

export interface DeadLetterInput { source: string; reason: string; payload: string }

export interface ParsedWebhook {
  messages: InboundInput[];
  statuses: StatusInput[];
  deadLetters: DeadLetterInput[];
}

/** Message types whose text the brain reads; every other type is kept as a dead letter. */
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

function jsonOf(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** The text of a message the brain can answer, or undefined for types it does not read. */
function textOf(m: Obj): string | undefined {
  const type = own(m, "type");
  if (type === "text") {
    const t = own(m, "text");
    return isObj(t) ? str(own(t, "body"), MAX_TEXT) : undefined;
  }
  if (type === "button") {
    const b = own(m, "button");
    return isObj(b) ? str(own(b, "text"), MAX_TEXT) : undefined;
  }
  if (type === "interactive") {
    const i = own(m, "interactive");
    if (!isObj(i)) return undefined;
    const reply = own(i, "button_reply") ?? own(i, "list_reply");
    return isObj(reply) ? str(own(reply, "title"), MAX_TEXT) : undefined;
  }
  return undefined;
}

export function parseWhatsAppWebhook(raw: Buffer, now: number): ParsedWebhook {
  const out: ParsedWebhook = { messages: [], statuses: [], deadLetters: [] };
  const dead = (reason: string, payload: string) => out.deadLetters.push({ source: "whatsapp", reason, payload });
  const rawText = raw.toString("utf8");
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
  if (out.messages.length === 0 && out.statuses.length === 0 && out.deadLetters.length === 0) dead("nothing to process", rawText);
  return out;
}

function parseMessage(m: unknown, now: number, out: ParsedWebhook, dead: (reason: string, payload: string) => void): void {
  if (!isObj(m)) return dead("message is not an object", jsonOf(m));
  const id = str(own(m, "id"), 256);
  const from = own(m, "from");
  if (!id || typeof from !== "string" || !/^\d{6,15}$/.test(from)) return dead("message without a valid id or sender", jsonOf(m));
  const type = str(own(m, "type"), 64) ?? "unknown";
  const text = textOf(m);
  if (text === undefined) return dead(`unsupported message type: ${type}`, jsonOf(m));
  out.messages.push({ waId: id, phone: from, type, body: text, sentAt: seconds(own(m, "timestamp"), now) });
}

function parseStatus(s: unknown, now: number, out: ParsedWebhook, dead: (reason: string, payload: string) => void): void {
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
    error = `${String(own(e, "code") ?? "")} ${String(own(e, "title") ?? "")}`.trim().slice(0, 500);
  }
  out.statuses.push({ messageId: id, recipient, status: status as StatusName, at: seconds(own(s, "timestamp"), now), ...(error ? { error } : {}) });
}
