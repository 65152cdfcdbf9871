/**
 * Inbox workers: each loop leases one learner (the lease keeps every other loop and replica off
 * that learner), answers its pending messages oldest first, then releases it. Learners are
 * answered in parallel, one learner's messages strictly in order.
 *
 * Crash safety, step by step for one inbound message M (key "reply:<M's wamid>"):
 *   1. no outbound row for the key: decide the reply (maybe an LLM call: nothing is written yet,
 *      so a crash here just repeats the call after the lease expires);
 *   2. one transaction: history, usage and the outbound row ("pending", with the exact message);
 *   3. send through the Cloud API; 4. mark the row "sent" and M done.
 * A crash after 2 resends the recorded message without a second LLM call. A crash after the
 * Cloud API accepted (3) and before 4 sends it again: the one duplicate the API allows, since it
 * has no idempotency key.
 */
import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type Stripe from "stripe";
import { redactPhone } from "@tierstack/common";
import type { Counter, Histogram } from "prom-client";
import { trimHistory } from "./history.js";
import { LlmError, type ChatMessage, type LlmClient } from "./llm.js";
import type { Placement } from "./placement.js";
import { planFor, plans, type Plan } from "./plans.js";
import type { BrainStore, HistoryEntry, InboundMessage, Learner, OutboundRow, Release, ReplyRecord, UsageTotals, Work } from "./store/index.js";
import { createPaymentLink } from "./stripe.js";
import { choose, reengagement, SYSTEM_PROMPT, templates, texts, windowOpen, type OutboundPayload } from "./templates.js";
import type { Outbound, WhatsAppSender } from "./whatsapp.js";

export interface WorkerMetrics {
  replies: Counter<"kind">;
  sendFailures: Counter<"reason">;
  llmLatency: Histogram<"model" | "outcome">;
}

export interface WorkerContext {
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
  leaseMs: number;
  /** Give up on a message after this many failed LLM rounds (dead letter). */
  maxAttempts?: number;
  /** Give up on a send after this many retryable failures. */
  maxSendAttempts?: number;
  /** Base delay before a learner with a failing message is tried again. */
  retryBaseMs?: number;
  /** Idle poll interval when no learner has pending messages (new webhooks wake the loops at once). */
  pollMs?: number;
}

type Handled = { learner: Learner; released?: boolean } | { retryAt: number };
/** History and usage read with the claim: valid for the learner's first pending message only. */
type Context = { day: string; history: HistoryEntry[]; usage: UsageTotals };

const HISTORY_ROWS = 60;
const BATCH = 20;
const MAX_REPLY = 4096;

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export class InboxWorkers {
  private loops: Promise<void>[] = [];
  private stopping = false;
  private sleepers = new Set<() => void>();
  private readonly instance = randomUUID().slice(0, 8);
  private inFlight = 0;
  /** Claimed learners not yet taken by a loop; one claim in flight per replica serves every idle loop. */
  private claimed: Work[] = [];
  private claiming: Promise<boolean> | undefined;
  private waiting = 0;
  private claims = 0;

  constructor(private readonly ctx: WorkerContext, private readonly concurrency: number) {}

  start(): void {
    if (this.loops.length) return;
    this.stopping = false;
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop());
  }

  /** New inbound work: wake up to `count` idle loops now rather than at their next poll. */
  wake(count = Number.POSITIVE_INFINITY): void {
    let n = 0;
    for (const s of [...this.sleepers]) {
      if (n++ >= count) break;
      s();
    }
  }

  get busy(): number {
    return this.inFlight;
  }

  /** Stop claiming, let each loop finish the message in hand, release leases. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await Promise.all(this.loops);
    this.loops = [];
    await this.claiming?.catch(() => undefined);
    for (const w of this.claimed.splice(0)) {
      await this.ctx.store.releaseLearner(w.learner.id, w.owner).catch((err: unknown) => this.ctx.log.error({ err }, "lease release failed"));
    }
  }

  /**
   * The next claimed learner for a loop. Claims are batched: while one claim statement runs, loops
   * that fall idle wait for it, and the next claim takes as many learners as loops are waiting
   * (the claim's scan of the pending inbox is the costly part; PostgreSQL ran it for every message).
   * Undefined when nothing is claimable now.
   */
  private async nextWork(): Promise<Work | undefined> {
    this.waiting++;
    try {
      for (;;) {
        const w = this.claimed.shift();
        if (w) return w;
        if (this.stopping) return undefined;
        if (this.claiming) {
          const full = await this.claiming.catch(() => false);
          if (!full && !this.claimed.length) return undefined;
          continue;
        }
        this.claiming = this.claimBatch(Math.max(1, this.waiting)).finally(() => {
          this.claiming = undefined;
        });
        const full = await this.claiming;
        if (!full && !this.claimed.length) return undefined;
      }
    } finally {
      this.waiting--;
    }
  }

  /** Claim up to n learners into the queue; true when it got all n (there may be more). */
  private async claimBatch(n: number): Promise<boolean> {
    const t = this.ctx.now();
    const got = await this.ctx.store.claimWork(`${this.instance}:${++this.claims}`, t, this.ctx.leaseMs, { learners: n, batch: BATCH, historyRows: HISTORY_ROWS, day: utcDay(t) });
    this.claimed.push(...got);
    return got.length >= n;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private async loop(): Promise<void> {
    const { log } = this.ctx;
    while (!this.stopping) {
      let claim;
      try {
        claim = await this.nextWork();
      } catch (err) {
        log.error({ err }, "claim failed");
        await this.sleep(500);
        continue;
      }
      if (!claim) {
        // Idle: new webhooks wake loops directly; the poll (with jitter, so idle loops do not
        // claim in lockstep) finds retries coming due and work that arrived at other replicas.
        await this.sleep((this.ctx.pollMs ?? 1000) * (0.5 + Math.random()));
        continue;
      }
      this.inFlight++;
      try {
        await this.drain(claim);
      } finally {
        this.inFlight--;
      }
    }
  }

  private async drain(work: Work): Promise<void> {
    const { store, log } = this.ctx;
    const owner = work.owner;
    let learner = work.learner;
    let retryAt = 0;
    let released = false;
    let first: { batch: InboundMessage[]; context: Context } | undefined = { batch: work.pending, context: work.context };
    const heartbeat = setInterval(() => {
      store.renewLease(learner.id, owner, this.ctx.now(), this.ctx.leaseMs).catch((err: unknown) => log.warn({ err }, "lease renewal failed"));
    }, Math.max(250, Math.floor(this.ctx.leaseMs / 3)));
    try {
      outer: while (!this.stopping) {
        const batch = first?.batch ?? (await store.pendingFor(learner.id, BATCH));
        let context = first?.context;
        first = undefined;
        for (const [i, m] of batch.entries()) {
          // A short batch was the whole backlog: its last message's final write also releases the lease.
          const release = batch.length < BATCH && i === batch.length - 1 ? { learnerId: learner.id, owner } : undefined;
          const r = await this.handle(learner, m, context, release);
          context = undefined;
          if ("retryAt" in r) {
            retryAt = r.retryAt;
            break outer;
          }
          learner = r.learner;
          if (r.released) released = true;
          if (this.stopping) break outer;
        }
        // A short batch was the whole backlog; anything that arrived meanwhile is claimed afresh.
        if (batch.length < BATCH) break;
      }
    } catch (err) {
      log.error({ err, learner: redactPhone(learner.phone) }, "worker failed on a learner; retrying later");
      retryAt = this.ctx.now() + (this.ctx.retryBaseMs ?? 1000);
    } finally {
      clearInterval(heartbeat);
      if (!released) await store.releaseLearner(learner.id, owner, retryAt).catch((err: unknown) => log.error({ err }, "lease release failed"));
    }
  }

  private backoff(attempts: number): number {
    return this.ctx.now() + Math.min(5 * 60_000, (this.ctx.retryBaseMs ?? 1000) * 2 ** Math.max(0, attempts - 1));
  }

  /** Answer one inbound message (or resume a recorded reply); resolves once it is settled or to be retried. */
  async handle(learner: Learner, m: InboundMessage, context?: Context, release?: Release): Promise<Handled> {
    const { store } = this.ctx;
    let out = m.outbound;
    if (!out) {
      const d = await this.decide(learner, m, context);
      if ("retryAt" in d) return d;
      if (!d.record) {
        await store.completeInbound(m.id, "done");
        return { learner: d.learner };
      }
      out = await store.recordReply(d.record);
      learner = d.learner;
    }
    if (out.state === "pending") {
      const sent = await this.deliver(out, learner, m.id, release);
      if (sent !== true) return sent;
      return { learner, released: release !== undefined };
    } else {
      await store.completeInbound(m.id, "done");
    }
    return { learner };
  }

  private payload(to: string, body: string): OutboundPayload {
    return { msg: { kind: "text", to, body: body.slice(0, MAX_REPLY) }, outsideWindow: reengagement(to, this.ctx.templateLanguage) };
  }

  private async decide(learner: Learner, m: InboundMessage, context?: Context): Promise<{ learner: Learner; record?: ReplyRecord; kind?: string } | { retryAt: number }> {
    const { store, now, log } = this.ctx;
    const t = now();
    const text = m.body.trim();
    const key = `reply:${m.waId}`;
    const fixed = (body: string, kind: string, extra: Partial<ReplyRecord> = {}, l = learner) => ({
      learner: l,
      kind,
      record: { learnerId: l.id, outbound: { key, payload: JSON.stringify(this.payload(l.phone, body)), at: t }, ...extra },
    });
    if (/^(stop|unsubscribe)$/i.test(text)) {
      await store.setOptedOut(learner.id, true);
      log.info({ learner: redactPhone(learner.phone) }, "learner opted out");
      return fixed(texts.stopped, "stop", {}, { ...learner, optedOut: true });
    }
    if (learner.optedOut) {
      if (/^start$/i.test(text)) {
        await store.setOptedOut(learner.id, false);
        return fixed(texts.restarted, "start", {}, { ...learner, optedOut: false });
      }
      return { learner };
    }
    if (!windowOpen(learner.lastInboundAt, t)) {
      // The message waited past the 24-hour window: only a template may go out, so no LLM call.
      const msg = reengagement(learner.phone, this.ctx.templateLanguage);
      return { learner, kind: "reengagement", record: { learnerId: learner.id, outbound: { key, payload: JSON.stringify({ msg, outsideWindow: msg }), at: t } } };
    }
    const plan = planFor(learner.plan);
    const day = utcDay(t);
    const [used, history] = context?.day === day
      ? [context.usage, context.history]
      : await Promise.all([store.usageTotals(learner.id, day), store.history(learner.id, HISTORY_ROWS)]);
    if (used.messages >= plan.messagesPerDay || used.tokens >= plan.tokensPerDay) {
      if (learner.quotaNoticeDay === day) return { learner };
      const link = await this.paymentLink(learner, plan);
      const payload: OutboundPayload = link
        ? { msg: { kind: "text", to: learner.phone, body: texts.overQuota(link) }, outsideWindow: { kind: "template", to: learner.phone, template: templates.paymentLink, language: this.ctx.templateLanguage, params: [link] } }
        : this.payload(learner.phone, texts.overQuota());
      return { learner: { ...learner, quotaNoticeDay: day }, kind: "quota", record: { learnerId: learner.id, outbound: { key, payload: JSON.stringify(payload), at: t }, quotaNoticeDay: day } };
    }
    const target = await this.ctx.placement.place({ id: learner.id, plan: plan.id });
    if (target.kind === "dedicated") {
      // The sandbox path plugs in here on tier-100; until then the shared process answers.
      log.warn({ learner: redactPhone(learner.phone), sandbox: target.sandbox }, "dedicated placement not wired yet: answering in the shared process");
    }
    const messages: ChatMessage[] = trimHistory(
      [{ role: "system", content: SYSTEM_PROMPT }, ...history.map((h) => ({ role: h.role, content: h.content })), { role: "user", content: text }],
      plan.historyTokenBudget,
    );
    const started = performance.now();
    try {
      const res = await this.ctx.llm.complete({ model: plan.model, fallbackModel: plan.fallbackModel, messages, user: learner.id });
      this.ctx.metrics.llmLatency.observe({ model: res.model, outcome: "ok" }, (performance.now() - started) / 1000);
      const reply = res.text.trim() || "…";
      return {
        learner,
        kind: "llm",
        record: {
          learnerId: learner.id,
          history: { user: text, assistant: reply, at: t },
          usage: { learnerId: learner.id, day, model: res.model, messages: 1, promptTokens: res.promptTokens, completionTokens: res.completionTokens, costUsd: res.costUsd },
          outbound: { key, payload: JSON.stringify(this.payload(learner.phone, reply)), at: t },
        },
      };
    } catch (err) {
      this.ctx.metrics.llmLatency.observe({ model: plan.model, outcome: "error" }, (performance.now() - started) / 1000);
      const attempts = await store.bumpAttempts(m.id);
      const max = this.ctx.maxAttempts ?? 5;
      log.warn({ err: err instanceof LlmError ? err.message : err, attempts, learner: redactPhone(learner.phone) }, "LLM failed");
      if (attempts >= max) {
        await store.addDeadLetter("worker", `LLM failed ${attempts} times: ${String((err as Error).message ?? err).slice(0, 300)}`, JSON.stringify({ waId: m.waId, learnerId: learner.id }), t);
        await store.completeInbound(m.id, "failed");
        return { learner };
      }
      return { retryAt: this.backoff(attempts) };
    }
  }

  private async paymentLink(learner: Learner, plan: Plan): Promise<string | undefined> {
    const target = plan.id === "free" ? plans.plus : plan.id === "plus" ? plans.dedicated : undefined;
    const priceId = target?.stripePriceEnv ? this.ctx.prices[target.stripePriceEnv] : undefined;
    if (!this.ctx.stripe || !priceId || !target) return undefined;
    try {
      return await createPaymentLink(this.ctx.stripe, { learnerId: learner.id, priceId, plan: target.id });
    } catch (err) {
      this.ctx.log.warn({ err, learner: redactPhone(learner.phone) }, "payment link failed: sending the notice without it");
      return undefined;
    }
  }

  /** Send a recorded outbound row; true when settled (sent or failed for good), else when to retry. */
  async deliver(out: OutboundRow, learner: Learner, inboundId?: number, release?: Release): Promise<true | { retryAt: number }> {
    const { store, sender, log, metrics } = this.ctx;
    const t = this.ctx.now();
    let msg: Outbound;
    try {
      msg = choose(JSON.parse(out.payload) as OutboundPayload, learner.lastInboundAt, t);
    } catch (err) {
      await store.finishReply(out.id, { state: "failed", error: `unreadable payload: ${(err as Error).message}` }, inboundId, t, release);
      return true;
    }
    const res = await sender.send(msg);
    if (res.ok) {
      await store.finishReply(out.id, { state: "sent", waMessageId: res.messageId }, inboundId, this.ctx.now(), release);
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
    await store.finishReply(out.id, { state: "failed", error: res.ambiguous ? `ambiguous, not resent: ${error}` : error }, inboundId, this.ctx.now(), release);
    metrics.sendFailures.inc({ reason: res.ambiguous ? "ambiguous" : "final" });
    log.error({ error, learner: redactPhone(learner.phone) }, "send failed");
    return true;
  }
}
