/**
 * OpenAI-compatible chat completions client (LiteLLM proxy, OpenRouter, vLLM, llama.cpp alike):
 * POST {baseUrl}/v1/chat/completions (or {baseUrl}/chat/completions when baseUrl already ends in
 * /v1). Per attempt timeout; retries with exponential backoff and full jitter on network errors,
 * timeouts, 429 and 5xx; then the fallback model (same retries); then LlmError.
 * Every model must be priced in @tierstack/cost: an unpriced model fails before any request.
 */
import { backoffDelay, type BackoffPolicy } from "@tierstack/common";
import { llmCostUsd, llmPriceOf } from "@tierstack/cost";
import { estimateTokens } from "./history.js";
import { postOnce } from "./post.js";

export interface ChatMessage { role: "system" | "user" | "assistant"; content: string }

export interface LlmResult {
  text: string;
  /** The model that answered, as requested (the catalogue name: primary or fallback). */
  model: string;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** True when the endpoint returned no usage and the tokens were estimated. */
  usageEstimated?: boolean;
  /** True when the fallback model answered. */
  fellBack?: boolean;
  /** Attempts made in total (primary + fallback). */
  attempts?: number;
}

export interface LlmClient {
  complete(req: { model: string; fallbackModel?: string; messages: ChatMessage[]; user?: string }): Promise<LlmResult>;
}

export interface LlmAttemptError { model: string; status?: number; error: string; retryable: boolean }

export class LlmError extends Error {
  override readonly name = "LlmError";
  constructor(message: string, readonly attempts: readonly LlmAttemptError[]) {
    super(message);
  }
}

export interface LlmClientOptions {
  baseUrl: string;
  apiKey?: string;
  /** Per attempt, default 30 000 ms. */
  timeoutMs?: number;
  /** Retries per model after the first attempt, default 2. */
  retries?: number;
  /** Base of the exponential backoff, default 250 ms (attempt n waits rand(0, base·2^n), capped at 10 s). */
  backoffMs?: number;
  /** Extra request fields (e.g. max_tokens, temperature). */
  extraBody?: Record<string, unknown>;
  sleep?: (ms: number) => Promise<void>;
}

const MAX_BACKOFF_MS = 10_000;

export function chatCompletionsUrl(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, "");
  return base.endsWith("/v1") ? `${base}/chat/completions` : `${base}/v1/chat/completions`;
}

/** Retry n (from 0) waits backoffDelay(n, llmBackoff(base)): full jitter under min(10 s, base·2^n). */
export const llmBackoff = (baseMs: number): BackoffPolicy => ({ baseMs, maxMs: MAX_BACKOFF_MS, jitter: 1 });

function retryAfterMs(v: string | string[] | undefined): number | undefined {
  const h = Array.isArray(v) ? v[0] : v;
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s) && s >= 0) return Math.min(MAX_BACKOFF_MS, s * 1000);
  return undefined;
}

type Attempt = { ok: true; result: LlmResult } | { ok: false; err: LlmAttemptError; retryAfter?: number };

export function createLlmClient(opts: LlmClientOptions): LlmClient {
  const url = chatCompletionsUrl(opts.baseUrl);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const retries = opts.retries ?? 2;
  const backoff = llmBackoff(opts.backoffMs ?? 250);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  async function attempt(model: string, messages: ChatMessage[], user: string | undefined): Promise<Attempt> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
    const body = JSON.stringify({ ...opts.extraBody, model, messages, ...(user ? { user } : {}) });
    const r = await postOnce(url, headers, body, timeoutMs);
    if (!r.ok) {
      const err = r.error as Error;
      const what = r.timedOut ? `timeout after ${timeoutMs} ms` : `network error: ${err.message}${err.cause ? ` (${String((err.cause as Error).message ?? err.cause)})` : ""}`;
      return { ok: false, err: { model, error: what, retryable: true } };
    }
    const { status, retryAfter, text } = r;
    if (status < 200 || status > 299) {
      const retryable = status === 429 || status >= 500 || status === 408;
      return { ok: false, err: { model, status, error: `HTTP ${status}: ${text.slice(0, 300)}`, retryable }, retryAfter: retryAfterMs(retryAfter) };
    }
    let json: { choices?: { message?: { content?: unknown } }[]; usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } };
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      return { ok: false, err: { model, status, error: "response is not JSON", retryable: true } };
    }
    const content = json.choices?.[0]?.message?.content;
    if (typeof content !== "string") {
      return { ok: false, err: { model, status, error: "response has no choices[0].message.content", retryable: true } };
    }
    const pt = json.usage?.prompt_tokens;
    const ct = json.usage?.completion_tokens;
    const haveUsage = typeof pt === "number" && typeof ct === "number" && pt >= 0 && ct >= 0;
    const promptTokens = haveUsage ? pt : messages.reduce((s, m) => s + estimateTokens(m.content) + 4, 0);
    const completionTokens = haveUsage ? ct : estimateTokens(content);
    return {
      ok: true,
      result: {
        text: content, model, promptTokens, completionTokens,
        costUsd: llmCostUsd(model, promptTokens, completionTokens),
        ...(haveUsage ? {} : { usageEstimated: true }),
      },
    };
  }

  return {
    async complete(req) {
      const models = [req.model, ...(req.fallbackModel && req.fallbackModel !== req.model ? [req.fallbackModel] : [])];
      for (const m of models) {
        if (!llmPriceOf(m)) throw new LlmError(`model "${m}" has no price in @tierstack/cost; refusing to call it`, []);
      }
      const errors: LlmAttemptError[] = [];
      for (const [mi, model] of models.entries()) {
        for (let i = 0; i <= retries; i++) {
          const a = await attempt(model, req.messages, req.user);
          if (a.ok) return { ...a.result, fellBack: mi > 0, attempts: errors.length + 1 };
          errors.push(a.err);
          if (!a.err.retryable) break; // 4xx: this model will not answer; go to the fallback
          if (i < retries) await sleep(a.retryAfter ?? backoffDelay(i, backoff));
        }
      }
      const last = errors[errors.length - 1];
      throw new LlmError(`LLM failed after ${errors.length} attempts (${models.join(" → ")}): ${last?.error ?? "no attempt"}`, errors);
    },
  };
}
