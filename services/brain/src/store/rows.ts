/** Row mapping and the pending-messages query shared by the SQLite and PostgreSQL stores. */
import type { InboundMessage, Learner, OutboundRow, UsageRow } from "./types.js";

export type Row = Record<string, unknown>;

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

/** Pending messages with the reply recorded for each (if any), in one query; $n placeholders. */
export const PENDING_SQL = `
  SELECT i.*, o.id AS o_id, o.key AS o_key, o.learner_id AS o_learner_id, o.payload AS o_payload, o.state AS o_state,
         o.wa_message_id AS o_wa_message_id, o.error AS o_error, o.attempts AS o_attempts, o.created_at AS o_created_at, o.updated_at AS o_updated_at
  FROM inbox i LEFT JOIN outbound o ON o.key = 'reply:' || i.wa_id
  WHERE i.learner_id = $1 AND i.state = 'pending' ORDER BY i.id LIMIT $2`;


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
