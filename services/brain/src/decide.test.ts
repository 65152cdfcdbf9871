import { describe, expect, it } from "vitest";
import { decide, utcDay, type Decision, type DecisionInput, type DecisionKind } from "./decide.js";
import { estimateTokens, MESSAGE_OVERHEAD_TOKENS } from "./history.js";
import { plans } from "./plans.js";
import { SYSTEM_PROMPT, templates, texts, WINDOW_MS } from "./templates.js";

const NOW = Date.UTC(2026, 10, 22, 12); // 2026-11-22 12:00 UTC
const TODAY = "2026-11-22";

type Overrides = Omit<Partial<DecisionInput>, "learner" | "usage"> & { learner?: Partial<DecisionInput["learner"]>; usage?: Partial<DecisionInput["usage"]> };

function input(o: Overrides = {}): DecisionInput {
  return {
    type: o.type ?? "text",
    body: o.body ?? "What is a noun?",
    now: o.now ?? NOW,
    learner: { plan: "free", optedOut: false, lastInboundAt: (o.now ?? NOW) - 60_000, quotaNoticeDay: null, ...o.learner },
    usage: { messages: 0, tokens: 0, costUsd: 0, ...o.usage },
    history: o.history ?? [],
    prices: o.prices ?? { STRIPE_PRICE_PLUS: "price_plus", STRIPE_PRICE_DEDICATED: "price_dedicated" },
    stripe: o.stripe ?? true,
  };
}

const stop: Decision = { kind: "stop", body: texts.stopped };
const start: Decision = { kind: "start", body: texts.restarted };
const optedOut: Decision = { kind: "ignore", reason: "opted-out" };
const noticeSent: Decision = { kind: "ignore", reason: "quota-notice-sent" };
const reengage: Decision = { kind: "re-engage", template: templates.reengagement };
const unreadable: Decision = { kind: "notice", reason: "unreadable", body: texts.unreadable };
const welcome: Decision = { kind: "notice", reason: "welcome", body: texts.welcome };
const quota = (day = TODAY): Decision => ({ kind: "quota", day, body: texts.overQuota() });
const toPlus = (day = TODAY): Decision => ({ kind: "payment-link", day, plan: "plus", priceId: "price_plus" });
const toDedicated: Decision = { kind: "payment-link", day: TODAY, plan: "dedicated", priceId: "price_dedicated" };
/** The llm decision, compared on everything but the prompt (checked in its own table below). */
const llm = (text: string, plan: "free" | "plus" | "dedicated" = "free", day = TODAY) =>
  ({ kind: "llm", day, plan, model: plans[plan].model, fallbackModel: plans[plan].fallbackModel, text }) as const;

type Row = [name: string, overrides: Overrides, expected: Decision | ReturnType<typeof llm>];

const optedOutLearner = { optedOut: true };
const closed = { lastInboundAt: NOW - WINDOW_MS };

const rows: Row[] = [
  // STOP: trimmed, any case, "stop" or "unsubscribe" alone; it wins over every other rule.
  ["STOP", { body: "STOP" }, stop],
  ["stop", { body: "stop" }, stop],
  ["Stop", { body: "Stop" }, stop],
  ["sToP with spaces around", { body: "  sToP  " }, stop],
  ["STOP with a newline and a tab", { body: "\nSTOP\t" }, stop],
  ["STOP between no-break spaces", { body: "\u00a0STOP\u00a0" }, stop],
  ["unsubscribe", { body: "unsubscribe" }, stop],
  ["UNSUBSCRIBE", { body: " UNSUBSCRIBE\r\n" }, stop],
  ["STOP while already opted out (confirms again)", { body: "STOP", learner: optedOutLearner }, stop],
  ["unsubscribe while opted out", { body: "unsubscribe", learner: optedOutLearner }, stop],
  ["STOP after the window closed", { body: "STOP", learner: closed }, stop],
  ["STOP over quota with the notice sent", { body: "stop", usage: { messages: 30 }, learner: { quotaNoticeDay: TODAY } }, stop],
  // Not STOP: anything more than the word goes on as an ordinary message.
  ["stop please", { body: "stop please" }, llm("stop please")],
  ["STOP.", { body: "STOP." }, llm("STOP.")],
  ["st op", { body: "st op" }, llm("st op")],
  ["don't stop", { body: "don't stop" }, llm("don't stop")],
  ["unsubscribe me", { body: "unsubscribe me" }, llm("unsubscribe me")],
  // Opted out: only START (trimmed, any case) brings the learner back; everything else is ignored.
  ["start while opted out", { body: "start", learner: optedOutLearner }, start],
  ["START while opted out", { body: "START", learner: optedOutLearner }, start],
  ["Start with whitespace while opted out", { body: " \tStart\n", learner: optedOutLearner }, start],
  ["START while opted out and the window closed", { body: "START", learner: { ...optedOutLearner, ...closed } }, start],
  ["START while opted out and over quota", { body: "START", learner: optedOutLearner, usage: { messages: 30 } }, start],
  ["a question while opted out", { body: "are you there?", learner: optedOutLearner }, optedOut],
  ["start now while opted out", { body: "start now", learner: optedOutLearner }, optedOut],
  ["restart while opted out", { body: "restart", learner: optedOutLearner }, optedOut],
  ["a question while opted out and the window closed", { body: "hello", learner: { ...optedOutLearner, ...closed } }, optedOut],
  ["start while opted in is an ordinary message", { body: " start " }, llm("start")],
  // The 24-hour window: open strictly less than 24 h after the learner's last message.
  ["exactly 24 h after the last message", { learner: closed }, reengage],
  ["24 h + 1 ms after", { learner: { lastInboundAt: NOW - WINDOW_MS - 1 } }, reengage],
  ["24 h - 1 ms after", { learner: { lastInboundAt: NOW - WINDOW_MS + 1 } }, llm("What is a noun?")],
  ["the last message at this instant", { learner: { lastInboundAt: NOW } }, llm("What is a noun?")],
  ["no last message", { learner: { lastInboundAt: null } }, reengage],
  ["window closed and over quota: the window first", { learner: closed, usage: { messages: 30 } }, reengage],
  // Quota: at or over messages/day or tokens/day of the learner's plan.
  ["free, one message below the limit", { usage: { messages: 29 } }, llm("What is a noun?")],
  ["free, messages exactly at the limit", { usage: { messages: 30 } }, toPlus()],
  ["free, over the message limit", { usage: { messages: 31 } }, toPlus()],
  ["free, one token below the limit", { usage: { tokens: 29_999 } }, llm("What is a noun?")],
  ["free, tokens exactly at the limit", { usage: { tokens: 30_000 } }, toPlus()],
  ["free, notice already sent today", { usage: { messages: 30 }, learner: { quotaNoticeDay: TODAY } }, noticeSent],
  ["free, notice sent yesterday", { usage: { messages: 30 }, learner: { quotaNoticeDay: "2026-11-21" } }, toPlus()],
  ["notice sent today, under quota again (usage is per day)", { usage: { messages: 3 }, learner: { quotaNoticeDay: TODAY } }, llm("What is a noun?")],
  ["free, no Stripe client", { usage: { messages: 30 }, stripe: false }, quota()],
  ["free, no price for plus", { usage: { messages: 30 }, prices: { STRIPE_PRICE_DEDICATED: "price_dedicated" } }, quota()],
  ["free, an empty price for plus", { usage: { messages: 30 }, prices: { STRIPE_PRICE_PLUS: "" } }, quota()],
  ["quota day is the UTC day: last instant of the notice day", { now: Date.UTC(2026, 10, 22, 23, 59, 59, 999), usage: { messages: 30 }, learner: { quotaNoticeDay: TODAY } }, noticeSent],
  ["quota day is the UTC day: first instant of the next", { now: Date.UTC(2026, 10, 23), usage: { messages: 30 }, learner: { quotaNoticeDay: TODAY } }, toPlus("2026-11-23")],
  // Plan changes: the learner's current plan sets the model, the limits and the upgrade offered.
  ["upgraded to plus: free's limit no longer applies", { learner: { plan: "plus" }, usage: { messages: 30, tokens: 30_000 } }, llm("What is a noun?", "plus")],
  ["plus, messages exactly at the limit", { learner: { plan: "plus" }, usage: { messages: 300 } }, toDedicated],
  ["plus, tokens exactly at the limit", { learner: { plan: "plus" }, usage: { tokens: 400_000 } }, toDedicated],
  ["plus, no price for dedicated", { learner: { plan: "plus" }, usage: { messages: 300 }, prices: { STRIPE_PRICE_PLUS: "price_plus" } }, quota()],
  ["dedicated: below its limit", { learner: { plan: "dedicated" }, usage: { messages: 1_999 } }, llm("What is a noun?", "dedicated")],
  ["dedicated: at its limit, nothing to upgrade to", { learner: { plan: "dedicated" }, usage: { messages: 2_000 } }, quota()],
  ["downgraded to free with plus-sized usage", { learner: { plan: "free" }, usage: { messages: 200 } }, toPlus()],
  ["an unknown plan counts as free (limits)", { learner: { plan: "gold" }, usage: { messages: 30 } }, toPlus()],
  ["an unknown plan counts as free (model)", { learner: { plan: "__proto__" } }, llm("What is a noun?")],
  // LLM: the trimmed text.
  ["the text is trimmed", { body: "  What is a verb?\n" }, llm("What is a verb?")],
  // Nothing to read (the webhook stores an empty body: a sticker, a voice note, a photo without a caption…): the notice, no LLM.
  ["a sticker (empty body)", { type: "sticker", body: "" }, unreadable],
  ["a voice note (empty body)", { type: "audio", body: "" }, unreadable],
  ["a body of whitespace only", { body: " \n\t " }, unreadable],
  ["nothing to read while over quota: the notice, not the quota notice", { type: "image", body: "", usage: { messages: 30 } }, unreadable],
  ["nothing to read with the quota notice sent today", { type: "image", body: "", usage: { messages: 30 }, learner: { quotaNoticeDay: TODAY } }, unreadable],
  ["nothing to read while opted out", { type: "sticker", body: "", learner: optedOutLearner }, optedOut],
  ["nothing to read after the window closed", { type: "sticker", body: "", learner: closed }, reengage],
  ["an image's caption is read like a text", { type: "image", body: "What does this say?" }, llm("What does this say?")],
  ["STOP as a caption", { type: "image", body: "STOP" }, stop],
  ["START as a caption while opted out", { type: "video", body: "start", learner: optedOutLearner }, start],
  // request_welcome: the learner opened the chat.
  ["request_welcome", { type: "request_welcome", body: "" }, welcome],
  ["request_welcome while opted out", { type: "request_welcome", body: "", learner: optedOutLearner }, optedOut],
  ["request_welcome over quota", { type: "request_welcome", body: "", usage: { messages: 30 } }, welcome],
];

describe("decide", () => {
  it.each(rows)("%s", (_name, overrides, expected) => {
    const d = decide(input(overrides));
    if (expected.kind === "llm") expect(d).toMatchObject(expected);
    else expect(d).toEqual(expected);
  });

  it("the table produces every kind of decision", () => {
    const every = { stop: true, start: true, ignore: true, "re-engage": true, notice: true, quota: true, "payment-link": true, llm: true } satisfies Record<DecisionKind, true>;
    expect(new Set(rows.map(([, o]) => decide(input(o)).kind))).toEqual(new Set(Object.keys(every)));
  });

  it("is pure: frozen input, same answer twice, nothing read from the clock", () => {
    const i = input({ usage: { messages: 30 }, history: [Object.freeze({ role: "user" as const, content: "hi", at: NOW - 5 })] });
    const frozen = Object.freeze({ ...i, learner: Object.freeze(i.learner), usage: Object.freeze(i.usage), prices: Object.freeze(i.prices), history: Object.freeze(i.history) });
    expect(decide(frozen)).toEqual(decide(frozen));
    // A `now` years away from the real clock decides by `now` alone.
    expect(decide(input({ now: Date.UTC(2031, 0, 1, 8), usage: { messages: 30 } }))).toEqual(toPlus("2031-01-01"));
  });
});

describe("decide: the LLM prompt", () => {
  const turn = (role: "user" | "assistant", content: string, at: number) => ({ role, content, at });
  const history = [turn("user", "Hi", NOW - 3000), turn("assistant", "Hello! What shall we learn?", NOW - 2000), turn("user", "Nouns", NOW - 1000)];
  /** Enough old turns that free's budget (1,500 tokens) keeps only some, plus's (6,000) all. */
  const long = Array.from({ length: 40 }, (_, i) => turn(i % 2 ? "assistant" : "user", `${"x".repeat(400)} ${i}`, NOW - 100_000 + i));

  const prompt = (o: Overrides) => {
    const d = decide(input(o));
    if (d.kind !== "llm") throw new Error(`expected llm, got ${d.kind}`);
    return d.messages;
  };

  it.each([
    ["no history", [], "What is a noun?", [{ role: "system", content: SYSTEM_PROMPT }, { role: "user", content: "What is a noun?" }]],
    ["history oldest first, then the trimmed text", history, "  and verbs? ", [
      { role: "system", content: SYSTEM_PROMPT },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello! What shall we learn?" },
      { role: "user", content: "Nouns" },
      { role: "user", content: "and verbs?" },
    ]],
  ] as const)("%s", (_name, h, body, expected) => {
    expect(prompt({ history: [...h], body })).toEqual(expected);
  });

  it.each([
    ["free", 1_500],
    ["plus", 6_000],
    ["dedicated", 16_000],
  ] as const)("%s: history trimmed to the plan's budget of %i tokens, newest turns kept", (plan, budget) => {
    const messages = prompt({ learner: { plan }, history: long, body: "next" });
    const tokens = messages.reduce((n, m) => n + estimateTokens(m.content) + MESSAGE_OVERHEAD_TOKENS, 0);
    expect(tokens).toBeLessThanOrEqual(budget);
    expect(messages[0]).toEqual({ role: "system", content: SYSTEM_PROMPT });
    expect(messages.at(-1)).toEqual({ role: "user", content: "next" });
    const kept = messages.slice(1, -1).map((m) => m.content);
    expect(kept).toEqual(long.slice(long.length - kept.length).map((t) => t.content));
    // Either everything fitted, or one more (older) turn would have broken the budget.
    if (kept.length < long.length) {
      const older = long[long.length - kept.length - 1]!;
      expect(tokens + estimateTokens(older.content) + MESSAGE_OVERHEAD_TOKENS).toBeGreaterThan(budget);
    }
  });

  it("a plan change changes the budget: plus sees more of the same history than free", () => {
    const free = prompt({ history: long });
    const plus = prompt({ learner: { plan: "plus" }, history: long });
    expect(free.length).toBeLessThan(long.length + 2);
    expect(plus).toHaveLength(long.length + 2);
  });

  it("utcDay is the UTC calendar day", () => {
    expect(utcDay(Date.UTC(2026, 10, 22, 23, 59, 59, 999))).toBe("2026-11-22");
    expect(utcDay(Date.UTC(2026, 10, 23))).toBe("2026-11-23");
  });
});
