/**
 * Loopback Stripe API peer for the `stripe` client (host/port/protocol "http"): answers
 * POST /v1/payment_links (form-encoded, Stripe's bracket notation) with a payment_link object,
 * checks `Authorization: Bearer sk_...`, and answers Stripe-style errors otherwise.
 */
import { randomBytes } from "node:crypto";
import { listen, readBody, sendJson } from "./http.js";

export interface StripeRequest { method: string; path: string; authorization?: string; idempotencyKey?: string; stripeVersion?: string; raw: string; body: Record<string, unknown> }

/** Parses `a[b][0][c]=v&...` into nested objects/arrays (Stripe's encoding of params). */
export function parseStripeForm(raw: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const parts = k.replace(/\]/g, "").split("[");
    let cur: Record<string, unknown> | unknown[] = root;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(parts[i + 1]!);
      const key: string | number = Array.isArray(cur) ? Number(part) : part;
      const container = cur as Record<string | number, unknown>;
      if (last) container[key] = v;
      else {
        container[key] ??= nextIsIndex ? [] : {};
        cur = container[key] as Record<string, unknown> | unknown[];
      }
    });
  }
  return root;
}

const stripeError = (type: string, message: string, param?: string) => ({ error: { type, message, ...(param ? { param } : {}) } });

export async function startStripePeer(): Promise<{ host: string; port: number; requests: StripeRequest[]; close(): Promise<void> }> {
  const requests: StripeRequest[] = [];
  const peer = await listen((req, res) => {
    void readBody(req).then((buf) => {
      const raw = buf.toString("utf8");
      const path = (req.url ?? "").split("?")[0] ?? "";
      const body = parseStripeForm(raw);
      const h = (n: string) => (typeof req.headers[n] === "string" ? (req.headers[n] as string) : undefined);
      const auth = h("authorization");
      const idem = h("idempotency-key");
      const ver = h("stripe-version");
      requests.push({ method: req.method ?? "", path, raw, body, ...(auth ? { authorization: auth } : {}), ...(idem ? { idempotencyKey: idem } : {}), ...(ver ? { stripeVersion: ver } : {}) });
      const headers = { "request-id": `req_${randomBytes(7).toString("hex")}` };
      if (!auth || !/^Bearer sk_(test|live)_\w+$/.test(auth)) {
        return sendJson(res, 401, stripeError("invalid_request_error", "Invalid API Key provided"), headers);
      }
      if (req.method === "POST" && path === "/v1/payment_links") {
        const items = body.line_items;
        if (!Array.isArray(items) || items.length === 0) return sendJson(res, 400, stripeError("invalid_request_error", "Missing required param: line_items.", "line_items"), headers);
        for (const [i, it] of items.entries()) {
          const item = it as Record<string, unknown>;
          if (typeof item.price !== "string" || !item.price.startsWith("price_")) return sendJson(res, 400, stripeError("invalid_request_error", `No such price: '${String(item.price)}'`, `line_items[${i}][price]`), headers);
        }
        const id = `plink_${randomBytes(12).toString("hex")}`;
        return sendJson(res, 200, {
          id, object: "payment_link", active: true, livemode: false,
          metadata: body.metadata ?? {},
          subscription_data: body.subscription_data ?? null,
          url: `https://buy.stripe.com/test_${randomBytes(9).toString("base64url")}`,
        }, headers);
      }
      sendJson(res, 404, stripeError("invalid_request_error", `Unrecognized request URL (${req.method}: ${path}).`), headers);
    });
  });
  return { host: "127.0.0.1", port: peer.port, requests, close: peer.close };
}

/** A Stripe event envelope (API shape) around `object`, for webhook tests. */
export function stripeEvent(type: string, object: Record<string, unknown>, id = `evt_${randomBytes(12).toString("hex")}`): Record<string, unknown> {
  return {
    id, object: "event", api_version: "2025-10-29.clover", created: Math.floor(Date.now() / 1000),
    data: { object }, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type,
  };
}
