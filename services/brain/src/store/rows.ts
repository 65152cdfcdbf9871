/**
 * What the SQLite and PostgreSQL stores share besides the schema: the text codec, the dead-letter
 * key, row mapping and the pending-messages query.
 */
import { createHash } from "node:crypto";
import { decodeText, encodeText } from "@tierstack/common";
import type { DeadLetter, DeadLetterInput, InboundMessage, Learner, OutboundRow, UsageRow } from "./types.js";

export type Row = Record<string, unknown>;

// The text codec (encodeText/decodeText: U+0010 escapes NUL, itself and lone surrogates) is the
// platform's, in the kit (packages/common/src/text-codec.ts), shared with the task queue. Both
// stores apply it to every string they bind and read; the brain encodes rather than refuses such
// text because a non-2xx makes Meta or Stripe redeliver a webhook for days.
export { decodeText, encodeText };

/** A statement's parameters as the stores bind them: every string, also inside arrays (PostgreSQL's unnest), encoded. */
export function encodeParams(params: readonly unknown[]): unknown[] {
  return params.map((p) => (typeof p === "string" ? encodeText(p) : Array.isArray(p) ? p.map((x: unknown) => (typeof x === "string" ? encodeText(x) : x)) : p));
}

/**
 * A value as a store reads it: every string decoded, also inside arrays and objects (PostgreSQL's
 * json_agg). What holds nothing to decode (nearly every row) is returned as it is, not copied: a
 * copy of every row was ~9% of the reply worker's allocations (bench/brain/RESULTS.md).
 */
export function decodeValue<T>(v: T): T {
  if (typeof v === "string") return decodeText(v) as T;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      const d = decodeValue(x);
      if (d !== x) (out ??= v.slice())[i] = d;
    }
    return (out ?? v) as T;
  }
  if (v !== null && typeof v === "object" && !Buffer.isBuffer(v) && !(v instanceof Date)) {
    let out: Row | undefined;
    for (const k in v) {
      const x: unknown = (v as Row)[k];
      const d = decodeValue(x);
      if (d !== x) (out ??= { ...(v as Row) })[k] = d;
    }
    return (out ?? v) as T;
  }
  return v;
}

/** Longest dead-letter key kept as it is; longer keys are hashed (a unique index entry must stay small). */
const MAX_KEY = 200;

/**
 * A dead letter's idempotency key: the caller's (e.g. "whatsapp:<message id>"), else a hash of
 * what it holds, so a redelivered payload never adds a second row.
 */
export function deadLetterKey(d: DeadLetterInput): string {
  // Hashed encoded: UTF-8 alone would map every lone surrogate to U+FFFD and merge distinct keys.
  const hash = (s: string) => `sha256:${createHash("sha256").update(encodeText(s)).digest("hex")}`;
  if (d.key !== undefined) return d.key.length <= MAX_KEY ? d.key : hash(d.key);
  // JSON of the three: unambiguous where they meet, and it writes lone surrogates as \udxxx.
  return hash(JSON.stringify([d.source, d.reason, d.payload]));
}

export function learnerFromRow(r: Row): Learner {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: String(r.id),
    phone: String(r.phone),
    plan: String(r.plan),
    consentAt: n(r.consent_at),
    consentSource: (r.consent_source as string | null) ?? null,
    optedOut: r.opted_out === true || r.opted_out === 1,
    lastInboundAt: n(r.last_inbound_at),
    stripeCustomerId: (r.stripe_customer_id as string | null) ?? null,
    stripeSubscriptionId: (r.stripe_subscription_id as string | null) ?? null,
    quotaNoticeDay: (r.quota_notice_day as string | null) ?? null,
    createdAt: Number(r.created_at),
  };
}

/**
 * Pending messages with the reply recorded for each (if any), in one query; $n placeholders. The
 * learner's rows from its marker on (schema v6: next_pending is at most the oldest pending id).
 */
export const PENDING_SQL = `
  SELECT i.*, o.id AS o_id, o.key AS o_key, o.learner_id AS o_learner_id, o.payload AS o_payload, o.state AS o_state,
         o.wa_message_id AS o_wa_message_id, o.error AS o_error, o.attempts AS o_attempts, o.created_at AS o_created_at, o.updated_at AS o_updated_at
  FROM learners l JOIN inbox i ON i.learner_id = l.id AND i.id >= l.next_pending LEFT JOIN outbound o ON o.key = 'reply:' || i.wa_id
  WHERE l.id = $1 AND i.state = 'pending' ORDER BY i.id LIMIT $2`;

/**
 * The backlog gauge: the maintained counts (schema v3) of learners with something pending, free
 * and leased summed apart so that each sum reads its own partial index (schema v5); no parameters.
 */
export const BACKLOG_SQL = `SELECT
    (SELECT COALESCE(sum(pending_count), 0) FROM learners WHERE next_pending IS NOT NULL AND lease_owner IS NULL)
  + (SELECT COALESCE(sum(pending_count), 0) FROM learners WHERE next_pending IS NOT NULL AND lease_owner IS NOT NULL) AS n`;


export function inboundFromRow(r: Row): InboundMessage {
  const m: InboundMessage = {
    id: Number(r.id), waId: String(r.wa_id), learnerId: String(r.learner_id), type: String(r.type), body: String(r.body),
    sentAt: Number(r.sent_at), receivedAt: Number(r.received_at), attempts: Number(r.attempts),
  };
  if (r.o_id !== null && r.o_id !== undefined) {
    m.outbound = outboundFromRow({
      id: r.o_id, key: r.o_key, learner_id: r.o_learner_id, payload: r.o_payload, state: r.o_state, wa_message_id: r.o_wa_message_id,
      error: r.o_error, attempts: r.o_attempts, created_at: r.o_created_at, updated_at: r.o_updated_at,
    });
  }
  return m;
}

export function outboundFromRow(r: Row): OutboundRow {
  return {
    id: Number(r.id), key: String(r.key), learnerId: String(r.learner_id), payload: String(r.payload),
    state: r.state as OutboundRow["state"], waMessageId: (r.wa_message_id as string | null) ?? null, error: (r.error as string | null) ?? null,
    attempts: Number(r.attempts), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
  };
}

export function usageFromRow(r: Row): UsageRow {
  return {
    learnerId: String(r.learner_id), day: String(r.day), model: String(r.model), messages: Number(r.messages),
    promptTokens: Number(r.prompt_tokens), completionTokens: Number(r.completion_tokens), costUsd: Number(r.cost_usd),
  };
}

export function deadLetterFromRow(r: Row): DeadLetter {
  return {
    id: Number(r.id), source: String(r.source), reason: String(r.reason), payload: String(r.payload), at: Number(r.at),
    key: r.dedupe_key === null || r.dedupe_key === undefined ? null : String(r.dedupe_key),
  };
}
