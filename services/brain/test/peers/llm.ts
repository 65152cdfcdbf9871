/**
 * Loopback OpenAI-compatible peer: POST /v1/chat/completions (and /chat/completions).
 * Answers `{ id, object: "chat.completion", created, model, choices: [{ index, message: { role,
 * content }, finish_reason }], usage: { prompt_tokens, completion_tokens, total_tokens } }`.
 * `hold: true` keeps every request open until release() (or close()).
 * `failModels` makes requests for a model fail with a status (OpenAI error body);
 * `failFirst` fails the first N requests whatever the model; `noUsage` omits usage.
 */
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { listen, readBody, sendJson } from "./http.js";

export interface LlmPeerOptions {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  reply?: (body: any) => string;
  hold?: boolean;
  failFirst?: number;
  failStatus?: number;
  failModels?: Record<string, number>;
  apiKey?: string;
  noUsage?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function startLlmPeer(opts: LlmPeerOptions = {}): Promise<{ url: string; requests: any[]; held: number; release(): void; close(): Promise<void> }> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const requests: any[] = [];
  const waiting: (() => void)[] = [];
  let holding = opts.hold ?? false;
  let toFail = opts.failFirst ?? 0;
  const reply = opts.reply ?? ((body: { messages?: { content?: string }[] }) => `echo: ${body.messages?.at(-1)?.content ?? ""}`);

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const respond = (res: ServerResponse, body: any) => {
    if (res.destroyed) return;
    const status = opts.failModels?.[body.model];
    if (status !== undefined) return sendJson(res, status, { error: { message: `injected failure for ${body.model}`, type: "server_error", code: status } });
    if (toFail > 0) {
      toFail--;
      return sendJson(res, opts.failStatus ?? 503, { error: { message: "injected failure", type: "server_error", code: opts.failStatus ?? 503 } });
    }
    const content = reply(body);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const promptTokens = (body.messages as any[]).reduce((s: number, m) => s + Math.ceil(String(m.content ?? "").length / 4) + 4, 0);
    const completionTokens = Math.ceil(content.length / 4);
    sendJson(res, 200, {
      id: `chatcmpl-${randomBytes(12).toString("hex")}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      ...(opts.noUsage ? {} : { usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } }),
    });
  };

  const peer = await listen((req, res) => {
    void readBody(req).then((raw) => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "POST" || (path !== "/v1/chat/completions" && path !== "/chat/completions")) {
        return sendJson(res, 404, { error: { message: `no route ${req.method} ${path}`, type: "invalid_request_error" } });
      }
      if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
        return sendJson(res, 401, { error: { message: "invalid api key", type: "invalid_request_error", code: "invalid_api_key" } });
      }
      let body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
      try { body = JSON.parse(raw.toString("utf8")); } catch { return sendJson(res, 400, { error: { message: "invalid JSON", type: "invalid_request_error" } }); }
      if (typeof body?.model !== "string" || !Array.isArray(body.messages)) {
        return sendJson(res, 400, { error: { message: "model and messages are required", type: "invalid_request_error" } });
      }
      requests.push({ ...body, authorization: req.headers.authorization, path });
      if (holding) waiting.push(() => respond(res, body));
      else respond(res, body);
    });
  });

  const api = {
    url: `http://127.0.0.1:${peer.port}`,
    requests,
    get held() { return waiting.length; },
    release() {
      holding = false;
      for (const go of waiting.splice(0)) go();
    },
    close: async () => {
      waiting.splice(0);
      await peer.close();
    },
  };
  return api;
}
