/**
 * The brain's state behind one interface: SQLite on the single box, PostgreSQL from tier-50 on.
 * Both implementations pass the same contract suite (store.contract.test.ts). Times are epoch
 * milliseconds supplied by the caller (the app's clock), days are UTC "YYYY-MM-DD".
 */

export interface Learner {
  id: string;
  /** E.164 digits without "+", as the Cloud API spells wa_id. */
  phone: string;
  plan: string;
  /** When consent was recorded (sign-up) or the learner wrote first; null if never. */
  consentAt: number | null;
  consentSource: string | null;
  optedOut: boolean;
  /** The 24-hour customer-service window starts here: the learner's last inbound message. */
  lastInboundAt: number | null;
  stripeCustomerId: string | null;
  stripeSubscriptionId: string | null;
  /** UTC day on which the over-quota notice was sent (one per day). */
  quotaNoticeDay: string | null;
  createdAt: number;
}

export interface InboundInput {
  /** WhatsApp message id (messages[].id): the dedupe key. */
  waId: string;
  phone: string;
  type: string;
  body: string;
  /** Message time (the window's start), already clamped to ≤ receive time. */
  sentAt: number;
}

export interface InboundMessage {
  id: number;
  waId: string;
  learnerId: string;
  type: string;
  body: string;
  sentAt: number;
  receivedAt: number;
  attempts: number;
  /** The reply already recorded for this message (key "reply:<waId>"), if any: a crash left it behind. */
  outbound?: OutboundRow;
}

export type StatusName = "sent" | "delivered" | "read" | "failed";
export const statusRank: Record<StatusName, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };

export interface StatusInput {
  messageId: string;
  recipient: string;
  status: StatusName;
  at: number;
  error?: string;
}

export interface StatusRow extends StatusInput {
  updatedAt: number;
}

export interface DeadLetterInput {
  source: string;
  reason: string;
  payload: string;
  /**
   * Idempotency key: a second dead letter with the same key is not stored ("whatsapp:<message
   * id>", "worker:<message id>", "stripe:<event id>"). Without one, the key is a hash of source,
   * reason and payload (rows.ts deadLetterKey), so a redelivered payload is kept once either way.
   */
  key?: string;
}

export interface DeadLetter {
  id: number;
  source: string;
  reason: string;
  payload: string;
  at: number;
  /** The idempotency key; null on rows stored before keys existed (schema version 2). */
  key: string | null;
}

export interface HistoryEntry {
  role: "user" | "assistant";
  content: string;
  at: number;
}

export interface UsageInput {
  learnerId: string;
  day: string;
  model: string;
  messages: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

export type UsageRow = UsageInput;

export interface UsageTotals {
  messages: number;
  tokens: number;
  costUsd: number;
}

export type OutboundState = "pending" | "sent" | "failed";

export interface OutboundRow {
  id: number;
  /** Idempotency key inside the brain: "reply:<wamid>", "signup:<learner>:<n>"… */
  key: string;
  learnerId: string;
  /** The message as handed to the sender (JSON of an Outbound). */
  payload: string;
  state: OutboundState;
  waMessageId: string | null;
  error: string | null;
  attempts: number;
  createdAt: number;
  updatedAt: number;
}

export interface Claim {
  learner: Learner;
  /** Opaque lease owner; pass it back to release. */
  owner: string;
}

/**
 * A claimed learner with what answering its first pending message needs, read right after the
 * lease was taken (one round trip on PostgreSQL). History and usage are valid for the first
 * pending message only: answering it changes them.
 */
export interface Work extends Claim {
  /** Pending messages, oldest first, at most `batch`, each with its recorded reply if any. */
  pending: InboundMessage[];
  context: { day: string; history: HistoryEntry[]; usage: UsageTotals };
}

/** Release the lease in the same statement/transaction as a final step. */
export interface Release {
  learnerId: string;
  owner: string;
  retryAt?: number;
}

/** What a send came to: accepted (with the Cloud API's message id) or failed for good. */
export type SendResult = { state: "sent"; waMessageId: string } | { state: "failed"; error: string };

/** One settled send for finishReplies: the outbound row's mark, its inbound message done, maybe the lease. */
export interface Settle {
  outboundId: number;
  result: SendResult;
  inboundId: number | undefined;
  now: number;
  release?: Release | undefined;
}

export interface PlanChangeInput {
  eventId: string;
  learnerId?: string;
  customerId?: string;
  subscriptionId?: string;
  plan: string;
}

export type PlanChangeOutcome = "applied" | "duplicate" | "no_learner";

/** What the worker writes in one transaction after the LLM answered (or a fixed reply was chosen). */
export interface ReplyRecord {
  learnerId: string;
  /** Inbound text and the reply, appended to history when set. */
  history?: { user: string; assistant: string; at: number };
  usage?: UsageInput;
  outbound: { key: string; payload: string; at: number };
  /** Set the over-quota notice day on the learner. */
  quotaNoticeDay?: string;
}

export interface BrainStore {
  readonly kind: "sqlite" | "postgres";
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;

  // learners
  /** Sign-up: create or update the learner for this phone, recording consent. */
  signUp(phone: string, now: number, id?: string): Promise<Learner>;
  learnerById(id: string): Promise<Learner | undefined>;
  learnerByPhone(phone: string): Promise<Learner | undefined>;
  setOptedOut(learnerId: string, optedOut: boolean): Promise<void>;
  /** Delete every row about the learner (history, usage, inbox, outbound, statuses, dead letters mentioning the number). */
  deleteLearner(learnerId: string): Promise<boolean>;

  // inbox
  /**
   * Store inbound messages (deduped on waId), statuses and dead letters (deduped on their key),
   * creating learners on first contact and moving the window. Returns how many messages were new.
   */
  storeInbound(messages: InboundInput[], statuses: StatusInput[], deadLetters: DeadLetterInput[], now: number): Promise<number>;
  /** Lease one learner that has pending inbound messages and no live lease (SKIP LOCKED on PostgreSQL). */
  claimLearner(owner: string, now: number, leaseMs: number): Promise<Claim | undefined>;
  /**
   * Lease up to `learners` learners as claimLearner does (oldest pending message first), each with
   * its first `batch` pending messages, its last `historyRows` history entries and its usage on
   * `day` — in one round trip on PostgreSQL. Oldest first; empty when nothing is claimable.
   */
  claimWork(owner: string, now: number, leaseMs: number, opts: { learners: number; batch: number; historyRows: number; day: string }): Promise<Work[]>;
  /** The learner's pending messages, oldest first, each with its recorded reply if one exists. */
  pendingFor(learnerId: string, limit: number): Promise<InboundMessage[]>;
  /** Mark an inbound message handled ("done") or given up ("failed"). */
  completeInbound(id: number, state: "done" | "failed"): Promise<void>;
  /** Count a failed attempt on an inbound message; returns the new count. */
  bumpAttempts(id: number): Promise<number>;
  /** Drop the lease; retryAt > now keeps other workers away until then. */
  releaseLearner(learnerId: string, owner: string, retryAt?: number): Promise<void>;
  /** Extend a held lease; false when it was lost. */
  renewLease(learnerId: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  /** Inbound messages pending, from the learners' maintained counts (schema v3; no inbox scan). */
  backlog(): Promise<number>;

  // statuses & dead letters
  status(messageId: string): Promise<StatusRow | undefined>;
  /** Keep a dead letter once per key (see DeadLetterInput.key); false when its key was already stored. */
  addDeadLetter(source: string, reason: string, payload: string, now: number, key?: string): Promise<boolean>;
  deadLetters(limit: number): Promise<DeadLetter[]>;

  // history & usage
  history(learnerId: string, limit: number): Promise<HistoryEntry[]>;
  usageTotals(learnerId: string, day: string): Promise<UsageTotals>;
  usage(learnerId: string): Promise<UsageRow[]>;

  // outbound
  outboundByKey(key: string): Promise<OutboundRow | undefined>;
  /** Record the reply (history, usage, pending outbound) in one transaction; an existing key wins and is returned. */
  recordReply(rec: ReplyRecord): Promise<OutboundRow>;
  /**
   * recordReply for several records, one result per record in order: on SQLite one transaction
   * (one commit for every reply ready at once); on PostgreSQL one statement (those with a
   * quota-notice day each their own, side by side).
   */
  recordReplies(recs: ReplyRecord[]): Promise<OutboundRow[]>;
  markOutbound(id: number, result: { state: "sent"; waMessageId: string } | { state: "failed"; error: string }, now: number): Promise<void>;
  /** Settle a send and its inbound message together (one round trip). */
  finishReply(outboundId: number, result: SendResult, inboundId: number | undefined, now: number, release?: Release): Promise<void>;
  /**
   * Settle several sends in one transaction (one commit; PostgreSQL: one statement), each as
   * finishReply does. The worker groups the marks ready at the same moment (reply.ts).
   */
  finishReplies(items: Settle[]): Promise<void>;
  /** Count a send attempt that will be retried. */
  bumpOutbound(id: number, error: string, now: number): Promise<number>;
  sendFailures(limit: number): Promise<OutboundRow[]>;
  outboundFor(learnerId: string): Promise<OutboundRow[]>;

  // stripe
  /** Apply a plan change once per event id. */
  applyPlanChange(change: PlanChangeInput, now: number): Promise<PlanChangeOutcome>;
  /** Record an event id that changes nothing; false when seen before. */
  markStripeEvent(eventId: string, now: number): Promise<boolean>;
}

export const DEAD_LETTER_PAYLOAD_LIMIT = 64 * 1024;

export function clip(payload: string): string {
  return payload.length > DEAD_LETTER_PAYLOAD_LIMIT ? payload.slice(0, DEAD_LETTER_PAYLOAD_LIMIT) : payload;
}
