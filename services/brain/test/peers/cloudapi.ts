/**
 * Loopback WhatsApp Cloud API peer: POST /{version}/{phone-number-id}/messages.
 * Checks the bearer token and `messaging_product: "whatsapp"`; answers like Graph:
 * `{ messaging_product, contacts: [{ input, wa_id }], messages: [{ id }] }`, or the Graph error
 * body `{ error: { message, type, code, error_subcode?, fbtrace_id } }`.
 * The first `failFirst` well-formed sends fail: with Graph error `errorCode` (default: HTTP 429
 * and code 130429 when errorCode is 130429, else HTTP `status` — default 503, code 2).
 */
import { randomBytes } from "node:crypto";
import { listen, readBody, sendJson } from "./http.js";

export interface CloudApiPeerOptions {
  failFirst?: number;
  errorCode?: number;
  /** HTTP status of the injected failures; default 400 with an errorCode, else 503. */
  status?: number;
  /** Bearer token expected, default "test-access-token". */
  accessToken?: string;
  /** Sets Retry-After (seconds) on injected failures. */
  retryAfter?: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface CloudApiRequest { method: string; path: string; authorization?: string; body: any; status: number; at: number }

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function startCloudApiPeer(opts: CloudApiPeerOptions = {}): Promise<{ url: string; sent: any[]; received: CloudApiRequest[]; accessToken: string; close(): Promise<void> }> {
  const accessToken = opts.accessToken ?? "test-access-token";
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const sent: any[] = [];
  const received: CloudApiRequest[] = [];
  let toFail = opts.failFirst ?? 0;
  const graphError = (status: number, code: number, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => ({
    status, headers,
    body: { error: { message, type: "OAuthException", code, ...extra, fbtrace_id: randomBytes(8).toString("base64url") } },
  });

  const peer = await listen((req, res) => {
    void readBody(req).then((raw) => {
      const path = (req.url ?? "").split("?")[0] ?? "";
      let body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
      try { body = JSON.parse(raw.toString("utf8")); } catch { body = undefined; }
      const answer = (r: { status: number; body: unknown; headers?: Record<string, string> }) => {
        received.push({ method: req.method ?? "", path, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), body, status: r.status, at: Date.now() });
        sendJson(res, r.status, r.body, r.headers);
      };
      const m = /^\/(v\d+\.\d+)\/([^/]+)\/messages$/.exec(path);
      if (req.method !== "POST" || !m) return answer(graphError(404, 803, `Unknown path components: ${path}`));
      if (req.headers.authorization !== `Bearer ${accessToken}`) return answer(graphError(401, 190, "Invalid OAuth access token - Cannot parse access token"));
      if (!body || typeof body !== "object") return answer(graphError(400, 100, "(#100) Invalid parameter"));
      if (body.messaging_product !== "whatsapp") return answer(graphError(400, 100, "(#100) The parameter messaging_product is required.", { error_data: { messaging_product: "whatsapp", details: "messaging_product must be whatsapp" } }));
      if (typeof body.to !== "string" || !/^\+?\d{6,15}$/.test(body.to)) return answer(graphError(400, 100, "(#100) Invalid parameter", { error_data: { details: "to" } }));
      const type = body.type ?? "text";
      if (type === "text" && typeof body.text?.body !== "string") return answer(graphError(400, 100, "(#100) The parameter text['body'] is required."));
      if (type === "template" && (typeof body.template?.name !== "string" || typeof body.template?.language?.code !== "string")) return answer(graphError(400, 100, "(#100) The parameter template['name'] and template['language']['code'] are required."));
      if (type !== "text" && type !== "template") return answer(graphError(400, 100, `(#100) Unsupported message type ${String(type)}`));
      if (toFail > 0) {
        toFail--;
        const headers: Record<string, string> = opts.retryAfter !== undefined ? { "retry-after": String(opts.retryAfter) } : {};
        if (opts.errorCode !== undefined) {
          const message = opts.errorCode === 130429 ? "(#130429) Rate limit hit" : `(#${opts.errorCode}) Injected failure`;
          return answer(graphError(opts.status ?? 400, opts.errorCode, message, { error_data: { messaging_product: "whatsapp", details: "Cloud API message throughput has been reached." } }, headers));
        }
        const status = opts.status ?? 503;
        return answer(graphError(status, status === 429 ? 80007 : 2, status === 429 ? "(#80007) Rate limit issues" : "Service temporarily unavailable", {}, headers));
      }
      const id = `wamid.${randomBytes(24).toString("base64url")}`;
      sent.push({ ...body, phoneNumberId: m[2], version: m[1], id });
      answer({ status: 200, body: { messaging_product: "whatsapp", contacts: [{ input: body.to, wa_id: String(body.to).replace(/^\+/, "") }], messages: [{ id, ...(type === "template" ? { message_status: "accepted" } : {}) }] } });
    });
  });
  return { url: `http://127.0.0.1:${peer.port}`, sent, received, accessToken, close: peer.close };
}
