/**
 * The brain benchmark's modelled peers, answering after latencies drawn from stated, seeded
 * distributions (so two runs with the same flags see the same sequence of waits):
 *   - an OpenAI-compatible POST /v1/chat/completions (with usage), default lognormal with median
 *     1.5 s and p99 6 s: a real completion's wait, so thousands of completions are in flight;
 *   - a WhatsApp Cloud API POST /{version}/{phone-number-id}/messages after a short latency, with
 *     a share of 429 (Graph 130429, Retry-After) and of 503 answers the brain must retry. Every
 *     accepted send is recorded against the inbound message it answers (the LLM echoes the
 *     inbound text, which carries the load generator's `id=`), so duplicates are counted per
 *     inbound wamid.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { seeded } from "@tierstack/common/testing";

export type LatencyKind = "lognormal" | "fixed";
export interface LatencySpec { kind: LatencyKind; medianMs: number; p99Ms: number }

/** z of the standard normal's 99th percentile. */
const Z99 = 2.3263478740408408;

/** σ of the lognormal with this median and p99 (ln(p99 / median) / z99). */
export function lognormalSigma(spec: LatencySpec): number {
  return spec.p99Ms > spec.medianMs ? Math.log(spec.p99Ms / spec.medianMs) / Z99 : 0;
}

/** The distribution's mean in ms (lognormal: median · e^(σ²/2)). */
export function meanMs(spec: LatencySpec): number {
  if (spec.kind === "fixed") return spec.medianMs;
  const s = lognormalSigma(spec);
  return spec.medianMs * Math.exp((s * s) / 2);
}

export function describe(spec: LatencySpec): string {
  return spec.kind === "fixed" ? `fixed ${spec.medianMs} ms` : `lognormal, median ${spec.medianMs} ms, p99 ${spec.p99Ms} ms (σ ${lognormalSigma(spec).toFixed(3)}, mean ${meanMs(spec).toFixed(0)} ms)`;
}

/** A seeded sampler of the distribution (Box–Muller for the normal). */
export function sampler(spec: LatencySpec, seed: number): () => number {
  const u = seeded(seed);
  if (spec.kind === "fixed") return () => spec.medianMs;
  const sigma = lognormalSigma(spec);
  const mu = Math.log(spec.medianMs);
  return () => {
    const z = Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
    return Math.exp(mu + sigma * z);
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

interface Peer { url: string; close(): Promise<void> }

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Peer> {
  const server = createServer({ keepAliveTimeout: 60_000 }, handler);
  server.maxRequestsPerSocket = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface LlmPeer extends Peer { requests: number; inFlight: number; maxInFlight: number }

/** OpenAI-compatible chat completions answering `re: <last user message>` after a drawn latency. */
export async function startLlmPeer(latency: LatencySpec, seed: number): Promise<LlmPeer> {
  const draw = sampler(latency, seed);
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0 };
  const peer = await listen((req, res) => {
    void readBody(req).then((raw) => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "POST" || (path !== "/v1/chat/completions" && path !== "/chat/completions")) return sendJson(res, 404, { error: { message: "no route", type: "invalid_request_error" } });
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      let body: any;
      try { body = JSON.parse(raw.toString("utf8")); } catch { return sendJson(res, 400, { error: { message: "invalid JSON", type: "invalid_request_error" } }); }
      if (typeof body?.model !== "string" || !Array.isArray(body.messages)) return sendJson(res, 400, { error: { message: "model and messages are required", type: "invalid_request_error" } });
      stats.requests++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const msgs = body.messages as any[];
      const last = [...msgs].reverse().find((m) => m?.role === "user");
      const content = `re: ${String(last?.content ?? "")}`;
      const promptTokens = msgs.reduce((s: number, m) => s + Math.ceil(String(m?.content ?? "").length / 4) + 4, 0);
      const completionTokens = Math.ceil(content.length / 4);
      setTimeout(() => {
        stats.inFlight--;
        sendJson(res, 200, {
          id: `chatcmpl-${randomBytes(12).toString("hex")}`, object: "chat.completion", created: Math.floor(Date.now() / 1000), model: body.model,
          choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
          usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
        });
      }, draw());
    });
  });
  return {
    ...peer,
    get requests() { return stats.requests; },
    get inFlight() { return stats.inFlight; },
    get maxInFlight() { return stats.maxInFlight; },
  };
}

export interface CloudApiOptions { latency: LatencySpec; seed: number; rate429: number; rate5xx: number; retryAfterS: number; accessToken: string }

export interface CloudApiPeer extends Peer {
  /** Accepted sends answering a load-generator message: arrival time (epoch ms) and the message's intended send time. */
  accepted: { at: number; intended: number; first: boolean }[];
  /** Accepted sends per inbound key (the load generator's `id=`). */
  perKey: Map<string, number>;
  /** Accepted sends that carried no `id=` (templates, notices), and the first few of their bodies. */
  other: number;
  samples: string[];
  rejected429: number;
  rejected5xx: number;
  /** Sends answering the key's message more than once. */
  readonly duplicates: number;
}

/** The Cloud API's send endpoint with modelled latency and injected 429 / 503 answers. */
export async function startCloudApiPeer(opts: CloudApiOptions): Promise<CloudApiPeer> {
  const draw = sampler(opts.latency, opts.seed);
  const fault = seeded(opts.seed ^ 0x5bd1e995);
  const state = { accepted: [] as CloudApiPeer["accepted"], perKey: new Map<string, number>(), other: 0, samples: [] as string[], rejected429: 0, rejected5xx: 0, duplicates: 0 };
  const graphError = (status: number, code: number, message: string) => ({ error: { message, type: "OAuthException", code, fbtrace_id: randomBytes(8).toString("base64url") } });
  const peer = await listen((req, res) => {
    void readBody(req).then((raw) => {
      const m = /^\/(v\d+\.\d+)\/([^/]+)\/messages$/.exec((req.url ?? "").split("?")[0] ?? "");
      if (req.method !== "POST" || !m) return sendJson(res, 404, graphError(404, 803, "Unknown path components"));
      if (req.headers.authorization !== `Bearer ${opts.accessToken}`) return sendJson(res, 401, graphError(401, 190, "Invalid OAuth access token"));
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      let body: any;
      try { body = JSON.parse(raw.toString("utf8")); } catch { return sendJson(res, 400, graphError(400, 100, "(#100) Invalid parameter")); }
      if (body?.messaging_product !== "whatsapp" || typeof body.to !== "string") return sendJson(res, 400, graphError(400, 100, "(#100) Invalid parameter"));
      const r = fault();
      setTimeout(() => {
        if (r < opts.rate429) {
          state.rejected429++;
          return sendJson(res, 429, graphError(429, 130429, "(#130429) Rate limit hit"), { "retry-after": String(opts.retryAfterS) });
        }
        if (r < opts.rate429 + opts.rate5xx) {
          state.rejected5xx++;
          return sendJson(res, 503, graphError(503, 2, "Service temporarily unavailable"));
        }
        const text = String(body.text?.body ?? "");
        const key = /id=(\S+)/.exec(text)?.[1];
        if (key) {
          const n = (state.perKey.get(key) ?? 0) + 1;
          state.perKey.set(key, n);
          if (n > 1) state.duplicates++;
          state.accepted.push({ at: Date.now(), intended: Number(/t=([\d.]+)/.exec(text)?.[1] ?? NaN), first: n === 1 });
        } else {
          state.other++;
          if (state.samples.length < 3) state.samples.push(JSON.stringify(body).slice(0, 300));
        }
        sendJson(res, 200, { messaging_product: "whatsapp", contacts: [{ input: body.to, wa_id: String(body.to).replace(/^\+/, "") }], messages: [{ id: `wamid.${randomBytes(24).toString("base64url")}` }] });
      }, draw());
    });
  });
  return Object.assign(state, peer);
}
