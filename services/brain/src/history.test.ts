import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { estimateTokens, MESSAGE_OVERHEAD_TOKENS, messageTokens, trimHistory } from "./history.js";
import type { ChatMessage } from "./llm.js";

const total = (ms: ChatMessage[]) => ms.reduce((s, m) => s + messageTokens(m), 0);
const msg = (role: ChatMessage["role"], content: string): ChatMessage => ({ role, content });

describe("estimateTokens", () => {
  it("about 4 ASCII characters per token, one per non-ASCII code point", () => {
    expect(estimateTokens("")).toBe(0);
    expect(estimateTokens("abcd")).toBe(1);
    expect(estimateTokens("abcde")).toBe(2);
    expect(estimateTokens("x".repeat(400))).toBe(100);
    expect(estimateTokens("héllo")).toBe(1 + 1);
    expect(estimateTokens("日本語")).toBe(3);
    expect(estimateTokens("👋")).toBe(1);
  });

  it("is monotone under concatenation", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (a, b) => {
      expect(estimateTokens(a + b)).toBeGreaterThanOrEqual(Math.max(estimateTokens(a), estimateTokens(b)));
      expect(estimateTokens(a + b)).toBeLessThanOrEqual(estimateTokens(a) + estimateTokens(b) + 1);
    }));
  });
});

describe("trimHistory", () => {
  it("keeps the system prompt and the newest turns within the budget", () => {
    const sys = msg("system", "You are a patient tutor.");
    const turns = Array.from({ length: 10 }, (_, i) => msg(i % 2 ? "assistant" : "user", `turn ${i} ${"x".repeat(36)}`));
    const per = messageTokens(turns[0]!);
    const budget = messageTokens(sys) + 3 * per;
    const out = trimHistory([sys, ...turns], budget);
    expect(out).toEqual([sys, ...turns.slice(-3)]);
    expect(total(out)).toBeLessThanOrEqual(budget);
  });

  it("everything fits ⇒ unchanged; empty ⇒ empty", () => {
    const ms = [msg("system", "s"), msg("user", "hi"), msg("assistant", "hello")];
    expect(trimHistory(ms, 10_000)).toEqual(ms);
    expect(trimHistory([], 100)).toEqual([]);
  });

  it("always keeps the newest message, even alone over budget", () => {
    const big = msg("user", "y".repeat(4000));
    expect(trimHistory([msg("system", "s"), msg("user", "old"), big], 10)).toEqual([msg("system", "s"), big]);
  });

  it("a NaN or negative budget keeps only the mandatory part; Infinity keeps everything", () => {
    const ms = [msg("system", "s"), msg("user", "a"), msg("assistant", "b"), msg("user", "c")];
    expect(trimHistory(ms, Number.NaN)).toEqual([ms[0], ms[3]]);
    expect(trimHistory(ms, -5)).toEqual([ms[0], ms[3]]);
    expect(trimHistory(ms, Number.POSITIVE_INFINITY)).toEqual(ms);
  });

  it("drops whole turns and never leaves a hole", () => {
    const ms = [msg("user", "a".repeat(400)), msg("assistant", "b"), msg("user", "c")];
    // the big first turn does not fit: it goes, and nothing older than a dropped turn stays
    expect(trimHistory(ms, 2 * (1 + MESSAGE_OVERHEAD_TOKENS))).toEqual(ms.slice(1));
  });

  const arbMessages = fc.array(
    fc.record({ role: fc.constantFrom<ChatMessage["role"]>("system", "user", "assistant"), content: fc.string({ maxLength: 200 }) }),
    { maxLength: 30 },
  );

  it("properties: subsequence in order, systems kept, newest kept, suffix, within budget unless forced, maximal", () => {
    fc.assert(fc.property(arbMessages, fc.integer({ min: 0, max: 600 }), (ms, budget) => {
      const out = trimHistory(ms, budget);
      // subsequence, same objects, original order
      let j = 0;
      for (const m of ms) if (j < out.length && out[j] === m) j++;
      expect(j).toBe(out.length);
      // every system message kept
      expect(out.filter((m) => m.role === "system")).toEqual(ms.filter((m) => m.role === "system"));
      const others = ms.filter((m) => m.role !== "system");
      const kept = out.filter((m) => m.role !== "system");
      // the newest non-system message is kept; kept non-system turns are a suffix
      if (others.length > 0) expect(kept.at(-1)).toBe(others.at(-1));
      expect(kept).toEqual(others.slice(others.length - kept.length));
      // within budget, except for the mandatory part (systems + newest)
      const mandatory = total(ms.filter((m) => m.role === "system")) + (others.length ? messageTokens(others.at(-1)!) : 0);
      if (kept.length > 1) expect(total(out)).toBeLessThanOrEqual(budget);
      else expect(total(out)).toBe(mandatory);
      // maximal: the next older turn would not have fitted
      if (kept.length < others.length && kept.length > 0) {
        const next = others[others.length - kept.length - 1]!;
        expect(total(out) + messageTokens(next)).toBeGreaterThan(budget);
      }
    }), { numRuns: 300 });
  });
});
