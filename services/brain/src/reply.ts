/**
 * One inbound message of a leased learner, end to end. Either resume the reply a crash left
 * recorded, or: read what the decision needs, `decide` (decide.ts, pure), perform what the
 * decision asks (opt-out marks, the payment link, the LLM call with its retries and dead letter),
 * record the reply in one transaction, then send it and settle: the outbound row "sent" or
 * "failed" and the inbound message done in one statement (which may also release the lease).
 * The worker loops (worker.ts) own claims, leases and order; this module owns one message.
 */
import type { FastifyBaseLogger } from "fastify";
import type Stripe from "stripe";
import type { Counter, Histogram } from "prom-client";
import { backoffDelay, GroupCommit, redactPhone } from "@tierstack/common";
import { decide, utcDay, type Decision, type DecisionInput } from "./decide.js";
import { LlmError, type LlmClient } from "./llm.js";
import type { Placement } from "./placement.js";
import type { BrainStore, InboundMessage, Learner, OutboundRow, Release, ReplyRecord, SendResult, Settle, Work } from "./store/index.js";
import { createPaymentLink } from "./stripe.js";
import { choose, reengagement, templates, texts, type OutboundPayload } from "./templates.js";
import type { Outbound, WhatsAppSender } from "./whatsapp.js";

export interface WorkerMetrics {
  replies: Counter<"kind">;
  sendFailures: Counter<"reason">;
  llmLatency: Histogram<"model" | "outcome">;
}

/** What answering one message needs; the worker's context adds the lease and the poll. */
export interface ReplyContext {
  store: BrainStore;
  llm: LlmClient;
  sender: WhatsAppSender;
  stripe?: Stripe;
  placement: Placement;
  now: () => number;
  log: FastifyBaseLogger;
  metrics: WorkerMetrics;
  templateLanguage: string;
  /** Stripe price id per plan env key (plans[...].stripePriceEnv). */
  prices: Record<string, string | undefined>;
  /** Give up on a message after this many failed LLM rounds (dead letter). */
  maxAttempts?: number;
  /** Give up on a send after this many retryable failures. */
  maxSendAttempts?: number;
  /** Base delay before a learner with a failing message is tried again. */
  retryBaseMs?: number;
}

/**
 * Settled (the learner as it now is; `released` when the final write also released the lease;
 * `context`, when known, the history and usage the learner's next message starts from), or retry at.
 */
export type Handled = { learner: Learner; released?: boolean; context?: Context } | { retryAt: number };
/**
 * History and usage: read with the claim for the learner's first pending message, then carried
 * from message to message (each reply's record appends to it), so that a learner's later messages
 * do not read them again. The lease keeps every other writer of a learner's history and usage off.
 */
export type Context = Work["context"];
/** What performing a decision produced: a reply to record, a message settled without one, or a retry. */
type Acted = { learner: Learner; record: ReplyRecord } | { learner: Learner; inbound: "done" | "failed" } | { retryAt: number };

export const HISTORY_ROWS = 60;
const MAX_REPLY = 4096;

/** The row recordReply returned is the one this record wrote (not one already under its key). */
function ours(out: OutboundRow, rec: ReplyRecord): boolean {
  return out.state === "pending" && out.payload === rec.outbound.payload && out.createdAt === rec.outbound.at;
}

/** The context after `rec` was recorded: its turns appended (the last HISTORY_ROWS kept), its usage added when it is the context's day. */
export function after(c: Context, rec: ReplyRecord): Context {
  const h = rec.history;
  const u = rec.usage;
  const history = h ? [...c.history, { role: "user" as const, content: h.user, at: h.at }, { role: "assistant" as const, content: h.assistant, at: h.at }].slice(-HISTORY_ROWS) : c.history;
  if (u && u.day !== c.day) return { ...c, history };
  const usage = u ? { messages: c.usage.messages + u.messages, tokens: c.usage.tokens + u.promptTokens + u.completionTokens, costUsd: c.usage.costUsd + u.costUsd } : c.usage;
  return { day: c.day, history, usage };
}

export class Replier {
  /**
   * "Sent"/"failed" marks ready at the same moment share one transaction (the kit's GroupCommit:
   * one commit, and on PostgreSQL one statement, per batch). A caller waits for the commit that
   * holds its mark, so a learner's next message is not sent before its previous mark committed.
   */
  private readonly settles: GroupCommit<Settle, void>;
  /**
   * Reply records ready at the same moment share one transaction too (one commit; on PostgreSQL
   * one statement, and batches side by side as for the settles). Each record still commits before
   * its send.
   */
  private readonly records: GroupCommit<ReplyRecord, OutboundRow>;

  constructor(private readonly ctx: ReplyContext) {
    // SQLite has one writer; PostgreSQL takes four batches side by side on its pool.
    const grouping = { maxBatch: 256, concurrency: ctx.store.kind === "postgres" ? 4 : 1 };
    this.settles = new GroupCommit<Settle, void>(async (items) => {
      await ctx.store.finishReplies(items);
      return items.map(() => undefined);
    }, grouping);
    this.records = new GroupCommit<ReplyRecord, OutboundRow>((recs) => ctx.store.recordReplies(recs), grouping);
  }

  /** Settle one send (grouped with the others ready now); resolves once committed. */
  private settle(outboundId: number, result: SendResult, inboundId: number | undefined, now: number, release: Release | undefined): Promise<void> {
    return this.settles.submit({ outboundId, result, inboundId, now, ...(release ? { release } : {}) });
  }

  /** Answer one inbound message (or resume a recorded reply); resolves once it is settled or to be retried. */
  async handle(learner: Learner, m: InboundMessage, context?: Context, release?: Release): Promise<Handled> {
    const { store } = this.ctx;
    let out = m.outbound;
    // A recorded reply (resumed) was in the store before the claim read the context: it holds.
    let next = context;
    if (!out) {
      const t = this.ctx.now();
      const current = await this.context(learner, context, t);
      const r = await this.act(decide(this.input(learner, m, current, t)), learner, m, t);
      if ("retryAt" in r) return r;
      if ("inbound" in r) {
        await store.completeInbound(m.id, r.inbound);
        return { learner: r.learner, context: current };
      }
      out = await this.records.submit(r.record);
      learner = r.learner;
      next = ours(out, r.record) ? after(current, r.record) : undefined;
    }
    if (out.state === "pending") {
      const sent = await this.deliver(out, learner, m.id, release);
      if (sent !== true) return sent;
      return { learner, released: release !== undefined, ...(next ? { context: next } : {}) };
    }
    await store.completeInbound(m.id, "done");
    return { learner, ...(next ? { context: next } : {}) };
  }

  /** Today's usage and the history: the context carried in when it is today's, else read from the store. */
  private async context(learner: Learner, context: Context | undefined, t: number): Promise<Context> {
    const { store } = this.ctx;
    const day = utcDay(t);
    if (context?.day === day) return context;
    const [usage, history] = await Promise.all([store.usageTotals(learner.id, day), store.history(learner.id, HISTORY_ROWS)]);
    return { day, usage, history };
  }

  private input(learner: Learner, m: InboundMessage, c: Context, t: number): DecisionInput {
    return { type: m.type, body: m.body, learner, now: t, usage: c.usage, history: c.history, prices: this.ctx.prices, stripe: Boolean(this.ctx.stripe) };
  }

  /** The I/O for each kind of decision. Nothing is written for the reply itself: the caller records it. */
  private async act(d: Decision, learner: Learner, m: InboundMessage, t: number): Promise<Acted> {
    const { store, log } = this.ctx;
    const record = (payload: OutboundPayload, extra: Partial<ReplyRecord> = {}): ReplyRecord => ({
      learnerId: learner.id,
      outbound: { key: `reply:${m.waId}`, payload: JSON.stringify(payload), at: t },
      ...extra,
    });
    switch (d.kind) {
      case "stop":
        await store.setOptedOut(learner.id, true);
        log.info({ learner: redactPhone(learner.phone) }, "learner opted out");
        return { learner: { ...learner, optedOut: true }, record: record(this.text(learner.phone, d.body)) };
      case "start":
        await store.setOptedOut(learner.id, false);
        return { learner: { ...learner, optedOut: false }, record: record(this.text(learner.phone, d.body)) };
      case "notice":
        return { learner, record: record(this.text(learner.phone, d.body)) };
      case "ignore":
        return { learner, inbound: "done" };
      case "re-engage": {
        // The message waited past the 24-hour window: only a template may go out, so no LLM call.
        const msg: Outbound = { kind: "template", to: learner.phone, template: d.template, language: this.ctx.templateLanguage };
        return { learner, record: record({ msg, outsideWindow: msg }) };
      }
      case "quota":
        return { learner: { ...learner, quotaNoticeDay: d.day }, record: record(this.text(learner.phone, d.body), { quotaNoticeDay: d.day }) };
      case "payment-link": {
        const link = await this.paymentLink(learner, d);
        const payload: OutboundPayload = link
          ? { msg: { kind: "text", to: learner.phone, body: texts.overQuota(link) }, outsideWindow: { kind: "template", to: learner.phone, template: templates.paymentLink, language: this.ctx.templateLanguage, params: [link] } }
          : this.text(learner.phone, texts.overQuota());
        return { learner: { ...learner, quotaNoticeDay: d.day }, record: record(payload, { quotaNoticeDay: d.day }) };
      }
      case "llm":
        return this.ask(d, learner, m, t, record);
    }
  }

  /** The LLM call; a failure counts an attempt and retries the learner later, or dead-letters the message after the last one. */
  private async ask(d: Extract<Decision, { kind: "llm" }>, learner: Learner, m: InboundMessage, t: number, record: (p: OutboundPayload, extra?: Partial<ReplyRecord>) => ReplyRecord): Promise<Acted> {
    const { store, log, metrics } = this.ctx;
    const started = performance.now();
    try {
      // A dedicated learner's own sandbox answers (placement.ts); a failure there retries like an LLM failure.
      const target = await this.ctx.placement.place({ id: learner.id, plan: d.plan });
      const llm = target.kind === "dedicated" ? target.llm : this.ctx.llm;
      const res = await llm.complete({ model: d.model, fallbackModel: d.fallbackModel, messages: d.messages, user: learner.id });
      metrics.llmLatency.observe({ model: res.model, outcome: "ok" }, (performance.now() - started) / 1000);
      const reply = res.text.trim() || "…";
      return {
        learner,
        record: record(this.text(learner.phone, reply), {
          history: { user: d.text, assistant: reply, at: t },
          usage: { learnerId: learner.id, day: d.day, model: res.model, messages: 1, promptTokens: res.promptTokens, completionTokens: res.completionTokens, costUsd: res.costUsd },
        }),
      };
    } catch (err) {
      metrics.llmLatency.observe({ model: d.model, outcome: "error" }, (performance.now() - started) / 1000);
      const attempts = await store.bumpAttempts(m.id);
      log.warn({ err: err instanceof LlmError ? err.message : err, attempts, learner: redactPhone(learner.phone) }, "LLM failed");
      if (attempts < (this.ctx.maxAttempts ?? 5)) return { retryAt: this.backoff(attempts) };
      await store.addDeadLetter("worker", `LLM failed ${attempts} times: ${String((err as Error).message ?? err).slice(0, 300)}`, JSON.stringify({ waId: m.waId, learnerId: learner.id }), t, `worker:${m.waId}`);
      return { learner, inbound: "failed" };
    }
  }

  private async paymentLink(learner: Learner, d: Extract<Decision, { kind: "payment-link" }>): Promise<string | undefined> {
    if (!this.ctx.stripe) return undefined;
    try {
      return await createPaymentLink(this.ctx.stripe, { learnerId: learner.id, priceId: d.priceId, plan: d.plan });
    } catch (err) {
      this.ctx.log.warn({ err, learner: redactPhone(learner.phone) }, "payment link failed: sending the notice without it");
      return undefined;
    }
  }

  /** Free text inside the window; the re-engagement template if the window has closed by send time. */
  private text(to: string, body: string): OutboundPayload {
    return { msg: { kind: "text", to, body: body.slice(0, MAX_REPLY) }, outsideWindow: reengagement(to, this.ctx.templateLanguage) };
  }

  /** When to try the learner again after `attempts` failures: retryBaseMs doubling per attempt, at most 5 minutes, no jitter. */
  private backoff(attempts: number): number {
    return this.ctx.now() + backoffDelay(Math.max(0, attempts - 1), { baseMs: this.ctx.retryBaseMs ?? 1000, maxMs: 5 * 60_000, jitter: 0 });
  }

  /** Send a recorded outbound row; true when settled (sent or failed for good), else when to retry. */
  async deliver(out: OutboundRow, learner: Learner, inboundId?: number, release?: Release): Promise<true | { retryAt: number }> {
    const { store, sender, log, metrics } = this.ctx;
    const t = this.ctx.now();
    let msg: Outbound;
    try {
      msg = choose(JSON.parse(out.payload) as OutboundPayload, learner.lastInboundAt, t);
    } catch (err) {
      await this.settle(out.id, { state: "failed", error: `unreadable payload: ${(err as Error).message}` }, inboundId, t, release);
      return true;
    }
    const res = await sender.send(msg);
    if (res.ok) {
      await this.settle(out.id, { state: "sent", waMessageId: res.messageId }, inboundId, this.ctx.now(), release);
      metrics.replies.inc({ kind: msg.kind });
      return true;
    }
    const error = `${res.status}${res.code !== undefined ? ` (#${res.code})` : ""} ${res.error}`.slice(0, 500);
    if (res.retryable && !res.ambiguous) {
      const attempts = await store.bumpOutbound(out.id, error, this.ctx.now());
      if (attempts < (this.ctx.maxSendAttempts ?? 5)) {
        metrics.sendFailures.inc({ reason: "retry" });
        log.warn({ error, attempts, learner: redactPhone(learner.phone) }, "send failed: will retry");
        return { retryAt: this.backoff(attempts) };
      }
    }
    // Final: not retryable, out of attempts, or ambiguous (it may have reached Meta: resending risks a duplicate).
    await this.settle(out.id, { state: "failed", error: res.ambiguous ? `ambiguous, not resent: ${error}` : error }, inboundId, this.ctx.now(), release);
    metrics.sendFailures.inc({ reason: res.ambiguous ? "ambiguous" : "final" });
    log.error({ error, learner: redactPhone(learner.phone) }, "send failed");
    return true;
  }
}
