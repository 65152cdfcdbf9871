/**
 * The SandboxRuntime contract, run against both implementations: gvisor (real runsc sandboxes
 * on this host) and kubernetes (SandboxClaims against an in-test API server that validates
 * every object against the agent-sandbox CRD schemas and plays the controller).
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChatMessage } from "../llm.js";
import { SandboxGone } from "./runtime.js";
import { gvisorHarness, kubernetesHarness, recordingLlm, requireRunsc, type RuntimeHarness } from "./testing.js";

const history: ChatMessage[] = [
  { role: "system", content: "You are a patient English tutor." },
  { role: "user", content: "What is a noun?" },
  { role: "assistant", content: "A word that names a thing." },
  { role: "user", content: "And a verb?" },
];
const req = (messages = history) => ({ model: "anthropic/claude-sonnet-4.5", fallbackModel: "openai/gpt-4.1-mini", messages, user: "learner-a" });

function contract(kind: string, make: () => Promise<RuntimeHarness>, ready: () => boolean): void {
  describe(`SandboxRuntime contract: ${kind}`, () => {
    let ok = false;
    let h: RuntimeHarness | undefined;
    beforeAll(() => {
      ok = ready();
    });
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });
    const start = async (ctx: { skip: () => void }) => {
      if (!ok) ctx.skip();
      h = await make();
      return h;
    };

    it("claims one sandbox per learner, forwards the message list and relays the answer; the LLM call is the brain's, as the learner", async (ctx) => {
      const { runtime, held } = await start(ctx);
      const a = await runtime.claim("learner-a");
      expect(await runtime.claim("learner-a")).toEqual(a);
      const b = await runtime.claim("learner-b");
      expect(b.name).not.toBe(a.name);
      expect(runtime.list().map((s) => s.learnerId).sort()).toEqual(["learner-a", "learner-b"]);
      expect((await held()).sort()).toEqual([a.name, b.name].sort());

      const llm = recordingLlm();
      const res = await runtime.ask("learner-a", req(), llm);
      expect(res).toMatchObject({ text: "answer: And a verb?", model: "anthropic/claude-sonnet-4.5", promptTokens: 10, completionTokens: 3 });
      expect(llm.calls).toEqual([req()]);
      // The learner is the one the brain forwarded for, whatever the sandbox says.
      await runtime.ask("learner-b", { ...req(), user: "learner-b" }, llm);
      expect(llm.calls[1]!.user).toBe("learner-b");
    });

    it("release stops the sandbox and keeps the learner's files: the next claim is a new sandbox that resumes them", async (ctx) => {
      const { runtime, held } = await start(ctx);
      const llm = recordingLlm();
      const first = await runtime.claim("learner-a");
      expect(first.resumedEntries).toBe(0);
      await runtime.ask("learner-a", req(), llm);
      await runtime.ask("learner-a", req([{ role: "user", content: "one more" }]), llm);
      await runtime.claim("learner-b");
      await runtime.release("learner-a");
      expect(runtime.status("learner-a")).toBeUndefined();
      expect(runtime.list().map((s) => s.learnerId)).toEqual(["learner-b"]);
      expect(await held()).not.toContain(first.name);
      await runtime.release("learner-a"); // twice is fine

      const again = await runtime.claim("learner-a");
      expect(again.name).not.toBe(first.name);
      expect(again.resumedEntries).toBe(2);
      expect(await runtime.ask("learner-a", req(), llm)).toMatchObject({ text: "answer: And a verb?" });
    });

    it("an LLM failure in the brain comes back as a failed answer; the sandbox stays", async (ctx) => {
      const { runtime } = await start(ctx);
      const s = await runtime.claim("learner-a");
      await expect(runtime.ask("learner-a", req(), recordingLlm({ fail: true }))).rejects.toThrow(/LLM down/);
      await expect(runtime.ask("learner-a", req(), recordingLlm({ fail: true }))).rejects.not.toBeInstanceOf(SandboxGone);
      expect(runtime.status("learner-a")?.name).toBe(s.name);
      expect(await runtime.ask("learner-a", req(), recordingLlm())).toMatchObject({ text: "answer: And a verb?" });
    });

    it("a sandbox killed mid-answer fails that request with SandboxGone; the next claim replaces it", async (ctx) => {
      const { runtime, crash, held } = await start(ctx);
      const s = await runtime.claim("learner-a");
      const llm = recordingLlm({ onCall: () => crash("learner-a").then(() => new Promise((r) => setTimeout(r, 300))) });
      await expect(runtime.ask("learner-a", req(), llm)).rejects.toBeInstanceOf(SandboxGone);
      expect(runtime.status("learner-a")).toBeUndefined();
      const next = await runtime.claim("learner-a");
      expect(next.name).not.toBe(s.name);
      expect(await held()).toEqual([next.name]);
      expect(await runtime.ask("learner-a", req(), recordingLlm())).toMatchObject({ text: "answer: And a verb?" });
    });

    it("close releases every sandbox", async (ctx) => {
      const { runtime, held } = await start(ctx);
      await Promise.all([runtime.claim("learner-a"), runtime.claim("learner-b")]);
      expect(await held()).toHaveLength(2);
      await runtime.close();
      expect(runtime.list()).toEqual([]);
      expect(await held()).toEqual([]);
      await expect(runtime.claim("learner-c")).rejects.toThrow(/closed/);
    });
  });
}

contract("gvisor", async () => gvisorHarness(), requireRunsc);
contract("kubernetes", () => kubernetesHarness(), () => true);
