/**
 * The brain's reply decision for one inbound message, as a pure function: no I/O, no clock, no
 * randomness. Everything it needs comes in (`DecisionInput`); what the worker must do comes out as
 * a tagged `Decision`. The worker (reply.ts) performs the I/O for each kind: opt-out marks, the
 * Stripe payment link, the LLM call, recording and sending the reply, dead letters.
 *
 * Order of the rules (first match wins):
 *   1. "stop" / "unsubscribe" (trimmed, any case) ⇒ stop: opt out and confirm, whatever the state;
 *   2. opted out: "start" (trimmed, any case) ⇒ start: opt back in and welcome; anything else ⇒ ignore;
 *   3. the 24-hour window has closed (the message waited too long) ⇒ re-engage: the template, no LLM;
 *   4. request_welcome (the learner opened the chat) ⇒ notice "welcome";
 *   5. nothing to read (the webhook stores a sticker, a voice note, a photo without a caption… with
 *      an empty body, webhook.ts MESSAGE_TYPES) ⇒ notice "unreadable": no LLM call, no quota used;
 *   6. at or over the plan's messages/day or tokens/day ⇒ one notice per UTC day: payment-link when
 *      the next plan up has a price and Stripe is configured, else quota; after the notice ⇒ ignore;
 *   7. otherwise ⇒ llm: the plan's model and fallback, history trimmed to the plan's token budget.
 * ADR 0034; rules 4 and 5 are issue #10's (every inbound message type gets an answer).
 */
import { trimHistory } from "./history.js";
import type { ChatMessage } from "./llm.js";
import { planFor, plans, type Plan, type PlanId } from "./plans.js";
import type { HistoryEntry, Learner, UsageTotals } from "./store/index.js";
import { SYSTEM_PROMPT, templates, texts, windowOpen } from "./templates.js";

export interface DecisionInput {
  /** The inbound message's Cloud API type ("text", "image", "request_welcome"…). */
  type: string;
  /** The inbound message's text as received (the text, caption or title; empty when there is nothing to read). The decision trims it. */
  body: string;
  learner: Pick<Learner, "plan" | "optedOut" | "lastInboundAt" | "quotaNoticeDay">;
  /** The time the decision is made (epoch ms); its UTC day is the quota day. */
  now: number;
  /** The learner's usage on the UTC day of `now`. */
  usage: UsageTotals;
  /** The learner's recent history, oldest first. */
  history: readonly HistoryEntry[];
  /** Stripe price id per plan env key (plans[...].stripePriceEnv). */
  prices: Readonly<Record<string, string | undefined>>;
  /** Whether a Stripe client is configured (payment links can be created). */
  stripe: boolean;
}

export type IgnoreReason = "opted-out" | "quota-notice-sent";
export type NoticeReason = "unreadable" | "welcome";

export type Decision =
  /** Opt the learner out and send the confirmation `body`. */
  | { kind: "stop"; body: string }
  /** Opt the learner back in and send the welcome `body`. */
  | { kind: "start"; body: string }
  /** A fixed text, no LLM call, no quota used: `texts.unreadable` for a message with nothing to read, `texts.welcome` for request_welcome. */
  | { kind: "notice"; reason: NoticeReason; body: string }
  /** No reply: mark the message done. */
  | { kind: "ignore"; reason: IgnoreReason }
  /** The window closed while the message waited: only the re-engagement template may go out. */
  | { kind: "re-engage"; template: typeof templates.reengagement }
  /** Over quota, no upgrade link possible: send the notice `body`, record `day` as the notice day. */
  | { kind: "quota"; day: string; body: string }
  /** Over quota: create a payment link for `plan` at `priceId`, send the notice with it, record `day`. */
  | { kind: "payment-link"; day: string; plan: PlanId; priceId: string }
  /** Ask the LLM: `model` first, `fallbackModel` when it keeps failing; usage is booked on `day`. */
  | { kind: "llm"; day: string; plan: PlanId; model: string; fallbackModel: string; text: string; messages: ChatMessage[] };

export type DecisionKind = Decision["kind"];

const STOP = /^(stop|unsubscribe)$/i;
const START = /^start$/i;

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The plan an over-quota learner is offered: free ⇒ plus, plus ⇒ dedicated, dedicated ⇒ none. */
export function upgradeFor(plan: Plan): Plan | undefined {
  return plan.id === "free" ? plans.plus : plan.id === "plus" ? plans.dedicated : undefined;
}

export function overQuota(plan: Plan, usage: UsageTotals): boolean {
  return usage.messages >= plan.messagesPerDay || usage.tokens >= plan.tokensPerDay;
}

export function decide(input: DecisionInput): Decision {
  const { learner, now } = input;
  const text = input.body.trim();
  if (STOP.test(text)) return { kind: "stop", body: texts.stopped };
  if (learner.optedOut) return START.test(text) ? { kind: "start", body: texts.restarted } : { kind: "ignore", reason: "opted-out" };
  if (!windowOpen(learner.lastInboundAt, now)) return { kind: "re-engage", template: templates.reengagement };
  if (input.type === "request_welcome") return { kind: "notice", reason: "welcome", body: texts.welcome };
  if (text === "") return { kind: "notice", reason: "unreadable", body: texts.unreadable };
  const plan = planFor(learner.plan);
  const day = utcDay(now);
  if (overQuota(plan, input.usage)) {
    if (learner.quotaNoticeDay === day) return { kind: "ignore", reason: "quota-notice-sent" };
    const target = upgradeFor(plan);
    const priceId = target?.stripePriceEnv ? input.prices[target.stripePriceEnv] : undefined;
    if (input.stripe && target && priceId) return { kind: "payment-link", day, plan: target.id, priceId };
    return { kind: "quota", day, body: texts.overQuota() };
  }
  const messages = trimHistory(
    [{ role: "system", content: SYSTEM_PROMPT }, ...input.history.map((h) => ({ role: h.role, content: h.content })), { role: "user", content: text }],
    plan.historyTokenBudget,
  );
  return { kind: "llm", day, plan: plan.id, model: plan.model, fallbackModel: plan.fallbackModel, text, messages };
}
