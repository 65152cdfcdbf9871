/**
 * WhatsApp Cloud API sender: POST {apiBase}/{version}/{phoneNumberId}/messages with
 * `messaging_product: "whatsapp"`, bearer access token. Every attempt first takes a token from
 * the number's send-rate bucket. 429, 5xx and the Graph throttling codes (130429 throughput,
 * 131056 pair rate, 4 / 80007 app/account rate limits) are retried with exponential backoff and
 * jitter; the final outcome is returned, never thrown.
 *
 * Duplicates: the Cloud API has no idempotency key. A request that may have reached Meta (timeout,
 * connection reset after sending) is NOT retried here: it is returned as
 * `{ ok: false, retryable: true, ambiguous: true }` so the caller decides (and records) whether to
 * risk a duplicate.
 */
import { backoffDelay, type BackoffPolicy } from "@tierstack/common";
import { postOnce } from "./post.js";
import type { RateLimiter } from "./ratelimit.js";

export type Outbound =
  | { kind: "text"; to: string; body: string }
  | { kind: "template"; to: string; template: string; language: string; params?: string[] };

export type SendResult =
  | { ok: true; messageId: string }
  | { ok: false; retryable: boolean; status: number; code?: number; error: string; ambiguous?: boolean; attempts?: number };

export interface WhatsAppSender { send(msg: Outbound): Promise<SendResult> }

export interface WhatsAppSenderOptions {
  apiBase: string;
  version: string;
  phoneNumberId: string;
  accessToken: string;
  limiter: RateLimiter;
  /** Retries after the first attempt, default 3. */
  maxRetries?: number;
  /** Base of the exponential backoff, default 200 ms (attempt n waits rand(0, base·2^n), capped at 10 s). */
  backoffMs?: number;
  /** Per attempt, default 15 000 ms. */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Graph error codes that mean "slow down" and are retried. */
export const THROTTLING_CODES: ReadonlySet<number> = new Set([4, 80007, 130429, 131056]);
/** Network errors that prove the request never reached the server (safe to retry). */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

export function toCloudApiBody(msg: Outbound): Record<string, unknown> {
  if (msg.kind === "text") {
    return { messaging_product: "whatsapp", recipient_type: "individual", to: msg.to, type: "text", text: { preview_url: false, body: msg.body } };
  }
  const template: Record<string, unknown> = { name: msg.template, language: { code: msg.language } };
  if (msg.params && msg.params.length > 0) {
    template.components = [{ type: "body", parameters: msg.params.map((text) => ({ type: "text", text })) }];
  }
  return { messaging_product: "whatsapp", recipient_type: "individual", to: msg.to, type: "template", template };
}

const MAX_BACKOFF_MS = 10_000;

function errorCode(e: unknown): string | undefined {
  let cur = e as { code?: unknown; cause?: unknown } | undefined;
  for (let i = 0; i < 4 && cur; i++) {
    if (typeof cur.code === "string") return cur.code;
    cur = cur.cause as typeof cur;
  }
  return undefined;
}

export function createWhatsAppSender(opts: WhatsAppSenderOptions): WhatsAppSender {
  const url = `${opts.apiBase.replace(/\/+$/, "")}/${opts.version}/${encodeURIComponent(opts.phoneNumberId)}/messages`;
  const maxRetries = opts.maxRetries ?? 3;
  // Full jitter under min(10 s, base·2^attempt): many senders throttled at once spread out.
  const backoff: BackoffPolicy = { baseMs: opts.backoffMs ?? 200, maxMs: MAX_BACKOFF_MS, jitter: 1 };
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const headers = { authorization: `Bearer ${opts.accessToken}`, "content-type": "application/json" };

  async function once(body: string): Promise<SendResult & { retryAfter?: number }> {
    try {
      await opts.limiter.take();
    } catch (e) {
      // e.g. Redis unreachable: nothing was sent, the caller may retry later
      return { ok: false, retryable: true, status: 0, error: `rate limiter failed: ${(e as Error).message}` };
    }
    const r = await postOnce(url, headers, body, timeoutMs);
    if (!r.ok) {
      const code = r.timedOut ? undefined : errorCode(r.error);
      const notSent = code !== undefined && NOT_SENT.has(code);
      const err = r.error as Error;
      const what = r.timedOut ? `timeout after ${timeoutMs} ms` : `${err.message}${code ? ` (${code})` : ""}`;
      return { ok: false, retryable: true, status: 0, error: `network error: ${what}`, ...(notSent ? {} : { ambiguous: true }) };
    }
    const { status, retryAfter, text } = r;
    const ok = status >= 200 && status <= 299;
    let json: { messages?: { id?: unknown }[]; error?: { code?: unknown; message?: unknown; error_subcode?: unknown } } | undefined;
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      json = undefined;
    }
    if (ok) {
      const id = json?.messages?.[0]?.id;
      if (typeof id === "string" && id.length > 0) return { ok: true, messageId: id };
      // Accepted (2xx) but unreadable: Meta may well send it — never retry blindly.
      return { ok: false, retryable: true, ambiguous: true, status, error: `2xx without messages[0].id: ${text.slice(0, 200)}` };
    }
    const code = typeof json?.error?.code === "number" ? json.error.code : undefined;
    const message = typeof json?.error?.message === "string" ? json.error.message : text.slice(0, 200);
    const retryable = status === 429 || status >= 500 || (code !== undefined && THROTTLING_CODES.has(code));
    const ra = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
    return {
      ok: false, retryable, status, error: message,
      ...(code !== undefined ? { code } : {}),
      ...(Number.isFinite(ra) && ra > 0 ? { retryAfter: Math.min(MAX_BACKOFF_MS, ra * 1000) } : {}),
    };
  }

  return {
    async send(msg) {
      const body = JSON.stringify(toCloudApiBody(msg));
      for (let attempt = 0; ; attempt++) {
        const r = await once(body);
        if (r.ok) return r;
        const { retryAfter, ...result } = r;
        const final = !result.retryable || result.ambiguous === true || attempt >= maxRetries;
        if (final) return { ...result, attempts: attempt + 1 };
        await sleep(retryAfter ?? backoffDelay(attempt, backoff));
      }
    },
  };
}
