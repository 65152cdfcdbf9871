import type { Migration } from "@tierstack/common";

/**
 * One schema, two dialects. Kept side by side so a change to one is a visible change to the
 * other; times are epoch milliseconds (bigint on PostgreSQL), ids of inbound/outbound rows are
 * monotonic so "oldest first" is "smallest id first". Every text column holds text through the
 * stores' codec (rows.ts encodeText/decodeText): NUL and lone surrogates round trip on both.
 *
 * Migrations only ever add (tables, columns, indexes): an older replica keeps working against a
 * newer schema during a rolling deploy, and nothing is dropped or renamed.
 */
const tables = (d: { pk: string; big: string; real: string; bool: string; f: string }) => `
CREATE TABLE learners (
  id text PRIMARY KEY,
  phone text NOT NULL UNIQUE,
  plan text NOT NULL DEFAULT 'free',
  consent_at ${d.big},
  consent_source text,
  opted_out ${d.bool} NOT NULL DEFAULT ${d.f},
  last_inbound_at ${d.big},
  stripe_customer_id text,
  stripe_subscription_id text,
  quota_notice_day text,
  lease_owner text,
  lease_until ${d.big} NOT NULL DEFAULT 0,
  created_at ${d.big} NOT NULL
);
CREATE INDEX learners_customer ON learners (stripe_customer_id);
CREATE INDEX learners_subscription ON learners (stripe_subscription_id);
CREATE TABLE inbox (
  id ${d.pk},
  wa_id text NOT NULL UNIQUE,
  learner_id text NOT NULL,
  type text NOT NULL,
  body text NOT NULL,
  sent_at ${d.big} NOT NULL,
  received_at ${d.big} NOT NULL,
  state text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';
CREATE INDEX inbox_learner ON inbox (learner_id, id);
CREATE TABLE statuses (
  message_id text PRIMARY KEY,
  recipient text NOT NULL,
  status text NOT NULL,
  rank integer NOT NULL,
  at ${d.big} NOT NULL,
  error text,
  updated_at ${d.big} NOT NULL
);
CREATE INDEX statuses_recipient ON statuses (recipient);
CREATE TABLE dead_letters (
  id ${d.pk},
  source text NOT NULL,
  reason text NOT NULL,
  payload text NOT NULL,
  at ${d.big} NOT NULL
);
CREATE TABLE history (
  id ${d.pk},
  learner_id text NOT NULL,
  role text NOT NULL,
  content text NOT NULL,
  at ${d.big} NOT NULL
);
CREATE INDEX history_learner ON history (learner_id, id);
CREATE TABLE llm_usage (
  learner_id text NOT NULL,
  day text NOT NULL,
  model text NOT NULL,
  messages integer NOT NULL,
  prompt_tokens ${d.big} NOT NULL,
  completion_tokens ${d.big} NOT NULL,
  cost_usd ${d.real} NOT NULL,
  PRIMARY KEY (learner_id, day, model)
);
CREATE TABLE outbound (
  id ${d.pk},
  key text NOT NULL UNIQUE,
  learner_id text NOT NULL,
  payload text NOT NULL,
  state text NOT NULL,
  wa_message_id text,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  created_at ${d.big} NOT NULL,
  updated_at ${d.big} NOT NULL
);
CREATE INDEX outbound_learner ON outbound (learner_id, id);
CREATE INDEX outbound_failed ON outbound (id) WHERE state = 'failed';
CREATE TABLE stripe_events (
  event_id text PRIMARY KEY,
  at ${d.big} NOT NULL
);
`;

/**
 * Version 2: dead letters are idempotent. A redelivered webhook (Meta and Stripe redeliver) used
 * to add a row per delivery; now each row has a key (rows.ts deadLetterKey: the WhatsApp message
 * id when there is one, else a hash of the payload) and a second row with the same key is not
 * inserted. Rows from before keep a NULL key (NULLs never collide in a unique index, on both).
 */
const deadLetterKeys = `
ALTER TABLE dead_letters ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX dead_letters_dedupe_key ON dead_letters (dedupe_key);
`;

export const sqliteMigrations: Migration[] = [
  { version: 1, name: "brain initial", sql: tables({ pk: "INTEGER PRIMARY KEY AUTOINCREMENT", big: "integer", real: "real", bool: "integer", f: "0" }) },
  { version: 2, name: "dead letters keyed", sql: deadLetterKeys },
];

export const postgresMigrations: Migration[] = [
  { version: 1, name: "brain initial", sql: tables({ pk: "bigserial PRIMARY KEY", big: "bigint", real: "double precision", bool: "boolean", f: "false" }) },
  { version: 2, name: "dead letters keyed", sql: deadLetterKeys },
];
