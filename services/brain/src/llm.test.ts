import { llmCostUsd } from "@tierstack/cost";
import { backoffDelay } from "@tierstack/common";
import { freePort, waitFor } from "@tierstack/common/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startLlmPeer } from "../test/peers/llm.js";
import { chatCompletionsUrl, createLlmClient, llmBackoff, LlmError, type ChatMessage } from "./llm.js";

const PRIMARY = "openai/gpt-4.1-mini";
const FALLBACK = "openai/gpt-4o-mini";
const messages: ChatMessage[] = [
  { role: "system", content: "You are a patient tutor." },
  { role: "user", content: "What is a prime number?" },
];

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});
async function peer(opts: Parameters<typeof startLlmPeer>[0] = {}) {
  const p = await startLlmPeer(opts);
  closers.push(p.close);
  return p;
}
const delays: number[] = [];
const recordSleep = (ms: number) => {
  delays.push(ms);
  return Promise.resolve();
};

describe("createLlmClient against the loopback OpenAI-compatible peer", () => {
  it("sends the OpenAI chat format with the bearer key and prices the usage from the catalogue", async () => {
    const p = await peer({ apiKey: "sk-litellm-test", reply: () => "A number with exactly two divisors." });
    const llm = createLlmClient({ baseUrl: p.url, apiKey: "sk-litellm-test" });
    const r = await llm.complete({ model: PRIMARY, fallbackModel: FALLBACK, messages, user: "learner-1" });
    expect(r.text).toBe("A number with exactly two divisors.");
    expect(r.model).toBe(PRIMARY);
    expect(r.fellBack).toBe(false);
    expect(r.promptTokens).toBeGreaterThan(0);
    expect(r.completionTokens).toBeGreaterThan(0);
    expect(r.costUsd).toBeCloseTo(llmCostUsd(PRIMARY, r.promptTokens, r.completionTokens), 15);
    expect(r.costUsd).toBeGreaterThan(0);
    expect(r.usageEstimated).toBeUndefined();
    expect(p.requests).toHaveLength(1);
    expect(p.requests[0]).toMatchObject({ model: PRIMARY, messages, user: "learner-1", authorization: "Bearer sk-litellm-test", path: "/v1/chat/completions" });
  });

  it("accepts a base URL that already ends in /v1 (OpenRouter style)", async () => {
    expect(chatCompletionsUrl("https://openrouter.ai/api/v1/")).toBe("https://openrouter.ai/api/v1/chat/completions");
    expect(chatCompletionsUrl("http://litellm:4000")).toBe("http://litellm:4000/v1/chat/completions");
    const p = await peer();
    const r = await createLlmClient({ baseUrl: `${p.url}/v1` }).complete({ model: PRIMARY, messages });
    expect(r.text).toBe("echo: What is a prime number?");
    expect(p.requests[0].authorization).toBeUndefined();
  });

  it("retries 5xx with backoff and succeeds on the same model", async () => {
    const p = await peer({ failFirst: 2, failStatus: 503 });
    delays.length = 0;
    const r = await createLlmClient({ baseUrl: p.url, retries: 2, backoffMs: 100, sleep: recordSleep }).complete({ model: PRIMARY, fallbackModel: FALLBACK, messages });
    expect(r.model).toBe(PRIMARY);
    expect(r.attempts).toBe(3);
    expect(p.requests.map((q) => q.model)).toEqual([PRIMARY, PRIMARY, PRIMARY]);
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeLessThan(100);
    expect(delays[1]).toBeLessThan(200);
  });

  it("retries 429 too", async () => {
    const p = await peer({ failFirst: 1, failStatus: 429 });
    const r = await createLlmClient({ baseUrl: p.url, retries: 1, backoffMs: 1 }).complete({ model: PRIMARY, messages });
    expect(r.attempts).toBe(2);
  });

  it("falls back to the fallback model after the primary's retries, priced as the fallback", async () => {
    const p = await peer({ failModels: { [PRIMARY]: 500 } });
    const r = await createLlmClient({ baseUrl: p.url, retries: 2, backoffMs: 1 }).complete({ model: PRIMARY, fallbackModel: FALLBACK, messages });
    expect(r.model).toBe(FALLBACK);
    expect(r.fellBack).toBe(true);
    expect(r.attempts).toBe(4);
    expect(r.costUsd).toBeCloseTo(llmCostUsd(FALLBACK, r.promptTokens, r.completionTokens), 15);
    expect(p.requests.map((q) => q.model)).toEqual([PRIMARY, PRIMARY, PRIMARY, FALLBACK]);
  });

  it("a non-retryable 4xx skips the primary's retries and goes straight to the fallback", async () => {
    const p = await peer({ failModels: { [PRIMARY]: 404 } });
    const r = await createLlmClient({ baseUrl: p.url, retries: 3, backoffMs: 1 }).complete({ model: PRIMARY, fallbackModel: FALLBACK, messages });
    expect(r.model).toBe(FALLBACK);
    expect(p.requests.map((q) => q.model)).toEqual([PRIMARY, FALLBACK]);
  });

  it("throws LlmError with every attempt once both models are exhausted", async () => {
    const p = await peer({ failModels: { [PRIMARY]: 502, [FALLBACK]: 503 } });
    const err = await createLlmClient({ baseUrl: p.url, retries: 1, backoffMs: 1 })
      .complete({ model: PRIMARY, fallbackModel: FALLBACK, messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmError);
    const e = err as LlmError;
    expect(e.attempts.map((a) => [a.model, a.status])).toEqual([[PRIMARY, 502], [PRIMARY, 502], [FALLBACK, 503], [FALLBACK, 503]]);
    expect(e.message).toMatch(/4 attempts/);
  });

  it("a wrong API key (401) is not retried", async () => {
    const p = await peer({ apiKey: "right" });
    const err = (await createLlmClient({ baseUrl: p.url, apiKey: "wrong", retries: 3, backoffMs: 1 }).complete({ model: PRIMARY, messages }).catch((e: unknown) => e)) as LlmError;
    expect(err).toBeInstanceOf(LlmError);
    expect(err.attempts).toHaveLength(1);
    expect(err.attempts[0]).toMatchObject({ status: 401, retryable: false });
  });

  it("times out each attempt on a held request, retries, then fails", async () => {
    const p = await peer({ hold: true });
    const err = (await createLlmClient({ baseUrl: p.url, timeoutMs: 150, retries: 1, backoffMs: 1 }).complete({ model: PRIMARY, messages }).catch((e: unknown) => e)) as LlmError;
    expect(err).toBeInstanceOf(LlmError);
    expect(err.attempts.map((a) => a.error)).toEqual(["timeout after 150 ms", "timeout after 150 ms"]);
    expect(p.requests).toHaveLength(2);
  });

  it("hold mode: the answer comes only after release()", async () => {
    const p = await peer({ hold: true });
    let settled = false;
    const pending = createLlmClient({ baseUrl: p.url }).complete({ model: PRIMARY, messages }).finally(() => { settled = true; });
    await waitFor(() => p.held === 1, { what: "the peer to hold the request" });
    expect(settled).toBe(false);
    p.release();
    await expect(pending).resolves.toMatchObject({ text: "echo: What is a prime number?" });
    expect(p.held).toBe(0);
  });

  it("network errors are retried and reported", async () => {
    const port = await freePort(); // nothing listens there
    const err = (await createLlmClient({ baseUrl: `http://127.0.0.1:${port}`, retries: 2, backoffMs: 1 }).complete({ model: PRIMARY, fallbackModel: FALLBACK, messages }).catch((e: unknown) => e)) as LlmError;
    expect(err).toBeInstanceOf(LlmError);
    expect(err.attempts).toHaveLength(6);
    expect(err.attempts.every((a) => a.retryable && a.status === undefined && /network error/.test(a.error))).toBe(true);
  });

  it("refuses an unpriced model before any request", async () => {
    const p = await peer();
    await expect(createLlmClient({ baseUrl: p.url }).complete({ model: "acme/unpriced", messages })).rejects.toThrow(/acme\/unpriced/);
    await expect(createLlmClient({ baseUrl: p.url }).complete({ model: PRIMARY, fallbackModel: "acme/unpriced", messages })).rejects.toBeInstanceOf(LlmError);
    expect(p.requests).toHaveLength(0);
  });

  it("missing usage ⇒ estimated tokens, flagged", async () => {
    const p = await peer({ noUsage: true, reply: () => "x".repeat(40) });
    const r = await createLlmClient({ baseUrl: p.url }).complete({ model: PRIMARY, messages });
    expect(r.usageEstimated).toBe(true);
    expect(r.completionTokens).toBe(10);
    expect(r.promptTokens).toBeGreaterThan(0);
  });

  it("backoff: full jitter within base·2^attempt, capped at 10 s", () => {
    expect(backoffDelay(0, llmBackoff(100), () => 0.999)).toBe(99);
    expect(backoffDelay(3, llmBackoff(100), () => 0.5)).toBe(400);
    expect(backoffDelay(30, llmBackoff(100), () => 0.999)).toBe(9990);
    expect(backoffDelay(2, llmBackoff(100), () => 0)).toBe(0);
  });

  it("sleeps backoffDelay(retry, llmBackoff(base)) between attempts", async () => {
    const p = await peer({ failFirst: 4, failStatus: 503 });
    delays.length = 0;
    const random = vi.spyOn(Math, "random").mockReturnValue(0.999);
    try {
      const r = await createLlmClient({ baseUrl: p.url, retries: 4, backoffMs: 100, sleep: recordSleep }).complete({ model: PRIMARY, messages });
      expect(r.attempts).toBe(5);
    } finally {
      random.mockRestore();
    }
    expect(delays).toEqual([99, 199, 399, 799]);
  });
});
