// The loopback peers are part of the test contract: check they speak the real wire formats and
// reject what the real services reject, so a client that passes against them is not fooled.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCloudApiPeer } from "./cloudapi.js";
import { startLlmPeer } from "./llm.js";
import { parseStripeForm, startStripePeer } from "./stripe.js";

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

describe("Cloud API peer", () => {
  let p: Awaited<ReturnType<typeof startCloudApiPeer>>;
  beforeAll(async () => { p = await startCloudApiPeer({ accessToken: "tok" }); });
  afterAll(() => p.close());
  const auth = { authorization: "Bearer tok" };

  it("answers a send with messaging_product, contacts and messages[].id", async () => {
    const res = await post(`${p.url}/v23.0/123/messages`, { messaging_product: "whatsapp", to: "15551234567", type: "text", text: { body: "hi" } }, auth);
    expect(res.status).toBe(200);
    const json = await res.json() as { messaging_product: string; contacts: { input: string; wa_id: string }[]; messages: { id: string }[] };
    expect(json.messaging_product).toBe("whatsapp");
    expect(json.contacts).toEqual([{ input: "15551234567", wa_id: "15551234567" }]);
    expect(json.messages[0]!.id).toMatch(/^wamid\./);
  });

  it("rejects a missing messaging_product, a bad token and unknown paths with Graph error bodies", async () => {
    const noProduct = await post(`${p.url}/v23.0/123/messages`, { to: "15551234567", text: { body: "hi" } }, auth);
    expect(noProduct.status).toBe(400);
    expect(((await noProduct.json()) as { error: { code: number } }).error.code).toBe(100);
    const badToken = await post(`${p.url}/v23.0/123/messages`, { messaging_product: "whatsapp", to: "15551234567", text: { body: "hi" } }, { authorization: "Bearer nope" });
    expect(badToken.status).toBe(401);
    expect(((await badToken.json()) as { error: { code: number; fbtrace_id: string } }).error).toMatchObject({ code: 190, fbtrace_id: expect.any(String) });
    const unknown = await post(`${p.url}/v23.0/123/media`, {}, auth);
    expect(unknown.status).toBe(404);
    expect(p.sent).toHaveLength(1);
  });
});

describe("LLM peer", () => {
  it("answers the OpenAI chat.completion shape with usage, and 400s a malformed body", async () => {
    const p = await startLlmPeer({ reply: () => "ok" });
    try {
      const res = await post(`${p.url}/v1/chat/completions`, { model: "m", messages: [{ role: "user", content: "hello" }] });
      const json = await res.json() as Record<string, unknown>;
      expect(json).toMatchObject({ object: "chat.completion", model: "m", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] });
      expect(json.usage).toEqual({ prompt_tokens: 6, completion_tokens: 1, total_tokens: 7 });
      expect((await post(`${p.url}/v1/chat/completions`, "{not json")).status).toBe(400);
      expect((await post(`${p.url}/v1/chat/completions`, { model: "m" })).status).toBe(400);
      expect(p.requests).toHaveLength(1);
    } finally {
      await p.close();
    }
  });
});

describe("Stripe peer", () => {
  it("parses Stripe's bracket form encoding", () => {
    expect(parseStripeForm("line_items[0][price]=price_1&line_items[0][quantity]=1&line_items[1][price]=price_2&metadata[a]=b&x=y")).toEqual({
      line_items: [{ price: "price_1", quantity: "1" }, { price: "price_2" }], metadata: { a: "b" }, x: "y",
    });
  });

  it("answers unknown routes and missing keys like Stripe", async () => {
    const p = await startStripePeer();
    try {
      const base = `http://${p.host}:${p.port}`;
      const noKey = await fetch(`${base}/v1/payment_links`, { method: "POST", body: "line_items[0][price]=price_1" });
      expect(noKey.status).toBe(401);
      const unknown = await fetch(`${base}/v1/charges`, { method: "POST", headers: { authorization: "Bearer sk_test_x" } });
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
      const noItems = await fetch(`${base}/v1/payment_links`, { method: "POST", headers: { authorization: "Bearer sk_test_x" } });
      expect(noItems.status).toBe(400);
    } finally {
      await p.close();
    }
  });
});
