/**
 * The channel's side of the brain, against a scripted learner runtime over in-memory streams:
 * the sandbox's LLM call is made with the forwarded request's learner, only for that request's
 * models and a bounded number of times; a channel that closes fails what is pending with
 * SandboxGone.
 */
import { createInterface } from "node:readline";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { Channel, SandboxGone, type AskRequest } from "./runtime.js";
import { recordingLlm } from "./testing.js";

type Line = { t: string; id?: number; ok?: boolean; error?: string; req?: AskRequest; res?: unknown };

/** A channel whose far end is `script`: it gets each line the brain sends and may answer. */
function scripted(script: (msg: Line, send: (m: unknown) => void) => void) {
  const toBrain = new PassThrough();
  const toSandbox = new PassThrough();
  const send = (m: unknown) => toBrain.write(`${JSON.stringify(m)}\n`);
  createInterface({ input: toSandbox }).on("line", (l) => script(JSON.parse(l) as Line, send));
  const channel = new Channel(toBrain, toSandbox, "scripted");
  send({ t: "ready", entries: 3 });
  return { channel, end: () => toBrain.end(), reset: () => toBrain.destroy(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })) };
}

const req: AskRequest = { model: "anthropic/claude-sonnet-4.5", fallbackModel: "openai/gpt-4.1-mini", messages: [{ role: "user", content: "Hi" }], user: "learner-a" };

describe("Channel", () => {
  it("relays the sandbox's LLM call as the forwarded learner, whatever user the sandbox names", async () => {
    const llm = recordingLlm();
    const { channel } = scripted((m, send) => {
      if (m.t === "ask") send({ t: "llm", id: m.id, req: { ...m.req, user: "someone-else" } });
      if (m.t === "llm-result") send({ t: "answer", id: m.id, ok: true, res: m.res });
    });
    expect(await channel.ready).toBe(3);
    expect(await channel.ask(req, llm)).toMatchObject({ text: "answer: Hi" });
    expect(llm.calls.map((c) => c.user)).toEqual(["learner-a"]);
  });

  it("refuses an LLM call for a model the request did not name, and any call past the fourth for one request", async () => {
    const llm = recordingLlm();
    const results: Line[] = [];
    let calls = 0;
    const { channel } = scripted((m, send) => {
      if (m.t === "ask") send({ t: "llm", id: m.id, req: { ...m.req, model: "openai/gpt-5-pro" } });
      if (m.t !== "llm-result") return;
      results.push(m);
      if (++calls < 6) send({ t: "llm", id: m.id, req: { model: m.id === 1 ? "anthropic/claude-sonnet-4.5" : "x", messages: [] } });
      else send({ t: "answer", id: m.id, ok: false, error: results.map((r) => (r.ok ? "ok" : r.error)).join("|") });
    });
    // Four calls in all, the refused one included; the fifth and sixth are refused for the count.
    await expect(channel.ask(req, llm)).rejects.toThrow("scripted: the request's models only|ok|ok|ok|too many LLM calls for one request|too many LLM calls for one request");
    expect(llm.calls).toHaveLength(3);
  });

  it("records the usage of the LLM calls the brain made, not what the sandbox reports, and refuses an answer without text", async () => {
    const llm = recordingLlm();
    const { channel } = scripted((m, send) => {
      if (m.t === "ask" && m.id === 1) send({ t: "llm", id: m.id, req: m.req });
      if (m.t === "llm-result") send({ t: "llm", id: 99, req: m.req }); // another request's id: ignored
      if (m.t === "llm-result") send({ t: "answer", id: m.id, ok: true, res: { text: "mine", model: "free/model", promptTokens: 0, completionTokens: 0, costUsd: 0 } });
      if (m.t === "ask" && m.id === 2) send({ t: "answer", id: m.id, ok: true, res: { text: 42 } });
    });
    await channel.ready;
    expect(await channel.ask(req, llm)).toEqual({ text: "mine", model: req.model, promptTokens: 10, completionTokens: 3, costUsd: 0.001, attempts: 1 });
    await expect(channel.ask(req, llm)).rejects.toThrow("scripted: an answer without text");
    expect(llm.calls).toHaveLength(1);
  });

  it("a sandbox that never ends its line closes the channel at the line limit instead of growing the buffer", async () => {
    const toBrain = new PassThrough();
    const channel = new Channel(toBrain, new PassThrough(), "flood");
    toBrain.write(`${JSON.stringify({ t: "ready", entries: 0 })}\n`);
    await channel.ready;
    const pending = channel.ask(req, recordingLlm());
    const chunk = "x".repeat(1 << 20);
    for (let i = 0; i < 5 && !toBrain.destroyed; i++) toBrain.write(chunk);
    await expect(pending).rejects.toThrow("flood: line over 4194304 bytes");
    expect(toBrain.destroyed).toBe(true);
  });

  it("a channel that closes fails the pending request and every later one with SandboxGone", async () => {
    const { channel, end } = scripted(() => undefined);
    await channel.ready;
    const pending = channel.ask(req, recordingLlm());
    end();
    await expect(pending).rejects.toBeInstanceOf(SandboxGone);
    await expect(channel.ask(req, recordingLlm())).rejects.toBeInstanceOf(SandboxGone);
    expect(channel.closed).toBe(true);
  });

  it("a connection reset (an error on the input, which readline re-emits) fails the pending request with SandboxGone", async () => {
    const { channel, reset } = scripted(() => undefined);
    await channel.ready;
    const pending = channel.ask(req, recordingLlm());
    reset();
    await expect(pending).rejects.toThrow(/scripted: read ECONNRESET/);
    expect(channel.closed).toBe(true);
  });
});
