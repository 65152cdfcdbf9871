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

/**
 * Version 3: the claim reads learners, not the inbox. Each learner row carries its pending count
 * and `next_pending`, the inbox id of the first message since the learner last had nothing pending
 * (NULL ⇔ nothing pending), maintained in the transactions that add or settle inbox rows (inbox
 * row locked first, then the learner row: ADR 0032's order). The claim walks
 * `learners_claimable` (only learners with something pending, oldest waiting first) instead of
 * joining every pending inbox row with its learner; the backlog gauge sums the counts.
 */
const pendingMarker = (d: { big: string }) => `
ALTER TABLE learners ADD COLUMN pending_count integer NOT NULL DEFAULT 0;
ALTER TABLE learners ADD COLUMN next_pending ${d.big};
UPDATE learners SET
  pending_count = (SELECT count(*) FROM inbox WHERE inbox.learner_id = learners.id AND inbox.state = 'pending'),
  next_pending = (SELECT min(id) FROM inbox WHERE inbox.learner_id = learners.id AND inbox.state = 'pending');
CREATE INDEX learners_claimable ON learners (next_pending, lease_until) WHERE next_pending IS NOT NULL;
`;

/**
 * Version 4: a learner's pending messages through one index. The claim and `pendingFor` read
 * `learner_id = ? AND state = 'pending' ORDER BY id`; with only `inbox_pending (id)` and
 * `inbox_learner (learner_id, id)` PostgreSQL's planner, its statistics taken on a small inbox,
 * ANDed the two bitmaps: every claimed learner read the whole pending index (EXPLAIN at 60,000
 * pending: 10,560 of the claim's 14,248 buffer hits, 1.6 ms per learner). The partial index on
 * (learner_id, id) answers it in order from that learner's pending rows alone. `inbox_pending`
 * served the backlog count before version 3 and nothing since: dropped (an index, no data; the
 * previous release's statements work without it).
 */
const pendingPerLearner = `
CREATE INDEX inbox_learner_pending ON inbox (learner_id, id) WHERE state = 'pending';
DROP INDEX inbox_pending;
`;

/**
 * Version 5: free learners apart from leased ones. `learners_claimable` held every learner with
 * something pending, so a claim walking it from the oldest `next_pending` first stepped over
 * every leased learner (those in flight, ~2,800 at 1,000 msg/s with a 1.5 s LLM: they waited
 * longest) before reaching one it could take: a claim's cost grew with what was in flight. Two
 * partial indexes split it by `lease_owner`: `learners_free` (nothing holds the lease: claimable
 * once `lease_until`, a retry time, has passed) in waiting order, and `learners_leased` by lease
 * expiry, where `lease_until < now` finds only leases that ran out (a worker that died). A claim
 * reads the first n of each and keeps the n longest waiting. Indexes only: no data changes.
 */
const claimableSplit = `
CREATE INDEX learners_free ON learners (next_pending, lease_until) WHERE next_pending IS NOT NULL AND lease_owner IS NULL;
CREATE INDEX learners_leased ON learners (lease_until) WHERE next_pending IS NOT NULL AND lease_owner IS NOT NULL;
DROP INDEX learners_claimable;
`;

/**
 * Version 6, a change on SQLite only: a learner's pending messages from its marker, not through
 * an index of their own. `next_pending` (v3) is at most the id of the learner's oldest pending
 * message whenever it has one, and on SQLite a settle moves it to the oldest message still
 * pending (one writer at a time: ids are given in commit order, so no earlier message can commit
 * later), so `inbox_learner (learner_id, id)` from `id >= next_pending` reads that learner's
 * pending rows and at most the one just settled. `inbox_learner_pending` (v4) is dropped, and
 * with it an index entry written when a message arrives and another when it is settled.
 * PostgreSQL keeps it: its ids can commit out of order, so a settle cannot move the marker past a
 * message still to commit, and the marker alone could leave many settled rows to step over. An
 * index only: the previous release's statements work without it.
 */
const pendingFromMarker = `
DROP INDEX inbox_learner_pending;
`;
/**
 * Version 6 on PostgreSQL changes nothing (it keeps inbox_learner_pending, above): the version is
 * recorded so that both stores of one release are at the same versions, which the tier mover
 * (migrate/) requires before it copies a store either way.
 */
const pendingFromMarkerPostgres = `SELECT 1;`;

export const sqliteMigrations: Migration[] = [
  { version: 1, name: "brain initial", sql: tables({ pk: "INTEGER PRIMARY KEY AUTOINCREMENT", big: "integer", real: "real", bool: "integer", f: "0" }) },
  { version: 2, name: "dead letters keyed", sql: deadLetterKeys },
  { version: 3, name: "pending marker per learner", sql: pendingMarker({ big: "integer" }) },
  { version: 4, name: "pending inbox per learner", sql: pendingPerLearner },
  { version: 5, name: "free and leased learners apart", sql: claimableSplit },
  { version: 6, name: "pending messages from the marker", sql: pendingFromMarker },
];

export const postgresMigrations: Migration[] = [
  { version: 1, name: "brain initial", sql: tables({ pk: "bigserial PRIMARY KEY", big: "bigint", real: "double precision", bool: "boolean", f: "false" }) },
  { version: 2, name: "dead letters keyed", sql: deadLetterKeys },
  { version: 3, name: "pending marker per learner", sql: pendingMarker({ big: "bigint" }) },
  { version: 4, name: "pending inbox per learner", sql: pendingPerLearner },
  { version: 5, name: "free and leased learners apart", sql: claimableSplit },
  { version: 6, name: "pending messages from the marker", sql: pendingFromMarkerPostgres },
];
