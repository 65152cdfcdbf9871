/**
 * The brain's PostgreSQL store: every statement of the BrainStore interface for PostgreSQL.
 * Over 300 lines on purpose: each method is one transaction whose locking order (inbox row before
 * learner row, ADR 0032) must be read together with the others; the schema, row mapping and text
 * codec it shares with the SQLite store live in schema.ts and rows.ts.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { migratePostgres, openPgPool, parseDatabaseUrl } from "@tierstack/common";
import { postgresMigrations } from "./schema.js";
import { BACKLOG_SQL, deadLetterFromRow, deadLetterKey, decodeValue, encodeParams, inboundFromRow, learnerFromRow, outboundFromRow, PENDING_SQL, usageFromRow, type Row } from "./rows.js";
import {
  clip, statusRank,
  type BrainStore, type Claim, type DeadLetter, type DeadLetterInput, type HistoryEntry, type InboundInput, type InboundMessage, type Learner,
  type OutboundRow, type PlanChangeInput, type PlanChangeOutcome, type Release, type ReplyRecord, type SendResult, type Settle, type StatusInput, type StatusRow,
  type UsageRow, type UsageTotals, type Work,
} from "./types.js";

/**
 * The CTEs f, e and c that choose a claim's learners: up to `limit` free learners (learners_free)
 * and up to `limit` whose lease ran out before `now` (learners_leased, schema v5; the first to run
 * out first: in the index's order, so the planner cannot trade it for a scan of every learner),
 * each locked with SKIP LOCKED (replicas claiming at the same instant take different learners),
 * merged into c (id, xmin) longest waiting first. Neither scan steps over a learner in flight; the rows of f
 * and e past the limit stay locked only until the statement's commit.
 */
const claimable = (now: string, limit: string) => `f AS (
     SELECT l.id, l.next_pending, l.xmin::text AS x FROM learners l
     WHERE l.next_pending IS NOT NULL AND l.lease_owner IS NULL AND l.lease_until < ${now}
     ORDER BY l.next_pending LIMIT ${limit}
     FOR UPDATE SKIP LOCKED
   ), e AS (
     SELECT l.id, l.next_pending, l.xmin::text AS x FROM learners l
     WHERE l.next_pending IS NOT NULL AND l.lease_owner IS NOT NULL AND l.lease_until < ${now}
     ORDER BY l.lease_until LIMIT ${limit}
     FOR UPDATE SKIP LOCKED
   ), c AS (
     SELECT id, x FROM (SELECT * FROM f UNION ALL SELECT * FROM e) fe ORDER BY next_pending LIMIT ${limit}
   )`;

/**
 * claimWork's one statement: lease up to $7 learners (claimable) and read what answering
 * them needs. The UPDATE finds its rows by primary key through one array: joined with c, the
 * generic plan (c estimated at hundreds of rows from LIMIT $7) hashed a sequential scan of every
 * learner instead (measured: 902 of the statement's 2,668 buffers at 16,000 learners; more with bloat).
 */
export const CLAIM_SQL = `WITH ${claimable("$2", "$7")}, u AS (
     UPDATE learners SET lease_owner = $1, lease_until = $3
     WHERE learners.id = ANY((SELECT array_agg(id) FROM c)::text[]) AND learners.lease_until < $2
     RETURNING learners.*
   )
   SELECT u.*,
     (SELECT s.xmin::text FROM learners s WHERE s.id = u.id) = (SELECT x FROM c WHERE c.id = u.id) AS fresh,
     (SELECT json_agg(p ORDER BY p.id) FROM (
        SELECT i.*, o.id AS o_id, o.key AS o_key, o.learner_id AS o_learner_id, o.payload AS o_payload, o.state AS o_state,
               o.wa_message_id AS o_wa_message_id, o.error AS o_error, o.attempts AS o_attempts, o.created_at AS o_created_at, o.updated_at AS o_updated_at
        FROM inbox i LEFT JOIN outbound o ON o.key = 'reply:' || i.wa_id
        WHERE i.learner_id = u.id AND i.state = 'pending' ORDER BY i.id LIMIT $4) p) AS pending,
     (SELECT json_agg(h ORDER BY h.id) FROM (SELECT id, role, content, at FROM history WHERE learner_id = u.id ORDER BY id DESC LIMIT $5) h) AS history,
     (SELECT json_build_array(COALESCE(SUM(messages), 0), COALESCE(SUM(prompt_tokens + completion_tokens), 0), COALESCE(SUM(cost_usd), 0))
        FROM llm_usage WHERE learner_id = u.id AND day = $6) AS usage
   FROM u ORDER BY u.next_pending`;

/**
 * finishReplies' one statement. Lock order as everywhere (ADR 0032): the inbox rows first (the
 * GROUP BY in n consumes all of i before any learner row is touched), then the learner rows in
 * phone order (lk, as storeInbound takes them), so a batch never deadlocks with webhook ingest.
 * Each learner's count drops by the messages settled here; at zero the marker is cleared; the
 * lease goes if the item asked for it and the owner still holds it.
 */
const FINISH_SQL = `WITH d AS (
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) AS d(oid, st, wa, err, at, iid)
   ), o AS (
     UPDATE outbound SET state = d.st, wa_message_id = d.wa, error = d.err, attempts = outbound.attempts + 1, updated_at = d.at FROM d WHERE outbound.id = d.oid
   ), i AS (
     UPDATE inbox SET state = 'done' FROM d WHERE inbox.id = d.iid AND inbox.state = 'pending' RETURNING inbox.learner_id
   ), n AS (
     SELECT learner_id AS lid, count(*)::int AS n FROM i GROUP BY learner_id
   ), r AS (
     SELECT * FROM unnest($7::text[], $8::text[], $9::bigint[]) AS r(lid, owner, retry)
   ), t AS (
     SELECT COALESCE(n.lid, r.lid) AS lid, COALESCE(n.n, 0) AS n, r.owner, r.retry FROM n FULL JOIN r ON r.lid = n.lid
   ), lk AS MATERIALIZED (
     SELECT l.id FROM learners l JOIN t ON t.lid = l.id ORDER BY l.phone FOR UPDATE OF l
   )
   UPDATE learners l SET
     pending_count = l.pending_count - t.n,
     next_pending = CASE WHEN l.pending_count - t.n <= 0 THEN NULL ELSE l.next_pending END,
     lease_owner = CASE WHEN t.owner IS NOT NULL AND l.lease_owner = t.owner THEN NULL ELSE l.lease_owner END,
     lease_until = CASE WHEN t.owner IS NOT NULL AND l.lease_owner = t.owner THEN t.retry ELSE l.lease_until END
   FROM t JOIN lk ON lk.id = t.lid WHERE l.id = t.lid`;

/**
 * storeMessages' second statement: the inbox rows and, after them, the pending marker and the
 * window (last_inbound_at, moved by redeliveries too) on their learners, in one statement (one
 * snapshot, atomic). Lock order as everywhere (ADR 0032): the inbox rows first (m's GROUP BY
 * consumes all of ins before any learner row is touched), then the learner rows in phone order
 * (lk). The serial ids follow the payload's order. upd runs although nothing reads it (a
 * data-modifying WITH always runs to completion). Only the messages before the first one whose
 * sender has no learner row on this snapshot are written (the prefix; cut is that message's
 * 1-based position, NULL when every sender is known), so that a message id repeated in the batch
 * stays with its first sender, as it does when the messages are written one by one. Returns how
 * many messages were new and cut.
 */
const INGEST_SQL = `WITH u AS (
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS u(w, p, ty, b, s, n)
   ), ids AS (
     SELECT id, phone FROM learners WHERE phone = ANY($2::text[])
   ), cut AS (
     SELECT min(u.n) AS n FROM u WHERE NOT EXISTS (SELECT 1 FROM ids WHERE ids.phone = u.p)
   ), v AS (
     SELECT u.* FROM u, cut WHERE cut.n IS NULL OR u.n < cut.n
   ), ins AS (
     INSERT INTO inbox (wa_id, learner_id, type, body, sent_at, received_at)
     SELECT v.w, ids.id, v.ty, v.b, v.s, $6 FROM v JOIN ids ON ids.phone = v.p ORDER BY v.n
     ON CONFLICT (wa_id) DO NOTHING
     RETURNING id, learner_id, sent_at
   ), m AS (
     SELECT learner_id AS lid, count(*)::int AS n, min(id) AS first FROM ins GROUP BY learner_id
   ), t AS (
     SELECT ids.id AS lid, max(v.s) AS last, max(m.n) AS n, max(m.first) AS first
     FROM v JOIN ids ON ids.phone = v.p LEFT JOIN m ON m.lid = ids.id GROUP BY ids.id
   ), lk AS MATERIALIZED (
     SELECT l.id FROM learners l JOIN t ON t.lid = l.id ORDER BY l.phone FOR UPDATE OF l
   ), upd AS (
     UPDATE learners l SET
       last_inbound_at = GREATEST(COALESCE(l.last_inbound_at, 0), t.last),
       pending_count = l.pending_count + COALESCE(t.n, 0),
       next_pending = LEAST(l.next_pending, t.first)
     FROM t JOIN lk ON lk.id = t.lid WHERE l.id = t.lid
     RETURNING 1
   )
   SELECT (SELECT COALESCE(sum(n), 0)::int FROM m) AS added,
          (SELECT n FROM cut) AS cut`;

/**
 * recordReplies' statement for many records at once (none with a quota-notice day): the outbound
 * rows (the first record of a key repeated in the batch wins; a key already there is left as it
 * is) and, for the new ones only, the history turns and the usage, summed per learner, day and
 * model (ON CONFLICT DO UPDATE may touch a row once per statement). No learner row is read or
 * locked (the tables hold no foreign keys), so it cannot deadlock with ingest or the settles,
 * which lock learner rows (ADR 0032). Returns every outbound row whose key is in the batch: the
 * new ones and those already there (a key committed by someone else after this statement's
 * snapshot is in neither: recordReplies records it again alone, which returns that row).
 */
const RECORD_SQL = `WITH r AS (
     SELECT DISTINCT ON (k) * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[],
       $8::text[], $9::text[], $10::int[], $11::bigint[], $12::bigint[], $13::float8[]) WITH ORDINALITY AS r(k, lid, p, at, hu, ha, hat, ud, um, un, upt, uct, uc, n)
     ORDER BY k, n
   ), o AS (
     INSERT INTO outbound (key, learner_id, payload, state, created_at, updated_at)
     SELECT r.k, r.lid, r.p, 'pending', r.at, r.at FROM r ORDER BY r.n
     ON CONFLICT (key) DO NOTHING RETURNING *
   ), h AS (
     INSERT INTO history (learner_id, role, content, at)
     SELECT r.lid, x.role, CASE x.i WHEN 1 THEN r.hu ELSE r.ha END, r.hat
     FROM o JOIN r ON r.k = o.key, (VALUES (1, 'user'), (2, 'assistant')) AS x(i, role)
     WHERE r.hu IS NOT NULL ORDER BY o.id, x.i
   ), u AS (
     INSERT INTO llm_usage (learner_id, day, model, messages, prompt_tokens, completion_tokens, cost_usd)
     SELECT r.lid, r.ud, r.um, sum(r.un), sum(r.upt), sum(r.uct), sum(r.uc)
     FROM o JOIN r ON r.k = o.key WHERE r.ud IS NOT NULL GROUP BY r.lid, r.ud, r.um
     ON CONFLICT (learner_id, day, model) DO UPDATE SET messages = llm_usage.messages + excluded.messages,
       prompt_tokens = llm_usage.prompt_tokens + excluded.prompt_tokens, completion_tokens = llm_usage.completion_tokens + excluded.completion_tokens,
       cost_usd = llm_usage.cost_usd + excluded.cost_usd
   )
   SELECT * FROM o
   UNION ALL
   SELECT ob.* FROM outbound ob WHERE ob.key = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM o WHERE o.key = ob.key)`;

/** All the store can do with a pool or a client: queries that bind and read through the text codec (rows.ts). */
interface Queryable {
  query(q: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult>;
}
interface CodecPool extends Queryable {
  connect(): Promise<Queryable & { release(): void }>;
  end(): Promise<void>;
}

function coded(target: pg.Pool | pg.PoolClient): Queryable {
  return {
    query: async (q, values) => {
      const config: pg.QueryConfig = typeof q === "string" ? { text: q, values: values ?? [] } : q;
      const r = await target.query({ ...config, values: encodeParams(config.values ?? []) });
      r.rows = r.rows.map((row: Row) => decodeValue(row));
      return r;
    },
  };
}

/** PostgreSQL's deadlock_detected: the statement it aborted has written nothing. */
const DEADLOCK = "40P01";
/** Runs of a statement PostgreSQL aborted for a deadlock, after the first. */
const DEADLOCK_RERUNS = 3;

/**
 * A pool the store cannot query around the codec: no statement can skip it. A statement run on
 * the pool is its own transaction, so one aborted for a deadlock wrote nothing and is run again
 * at once (the other side of the deadlock goes on, so the rerun only waits for it): e.g. two
 * webhook batches holding the same redelivered message ids in opposite orders. Statements on a
 * client (`connect`, inside a transaction the caller holds) are not rerun.
 */
function codecPool(pool: pg.Pool): CodecPool {
  const direct = coded(pool);
  return {
    query: async (q, values) => {
      for (let rerun = 0; ; rerun++) {
        try {
          return await direct.query(q, values);
        } catch (err) {
          if ((err as { code?: unknown }).code !== DEADLOCK || rerun >= DEADLOCK_RERUNS) throw err;
        }
      }
    },
    connect: async () => {
      const c = await pool.connect();
      return { ...coded(c), release: () => c.release() };
    },
    end: () => pool.end(),
  };
}

/**
 * PostgreSQL (tier-50 and up): several brain replicas share it. Per-learner order across
 * replicas comes from a lease on the learner row, claimed with FOR UPDATE SKIP LOCKED.
 */
export class PgBrainStore implements BrainStore {
  readonly kind = "postgres" as const;
  /** Workers, admin reads. */
  private readonly pool: CodecPool;
  /**
   * Webhook ingest, sign-up and Stripe writes get their own connections: with every worker
   * connection busy, an acknowledgement would otherwise queue behind reply work (measured: closed-
   * loop acks fell from 733/s to 56/s with 64 workers sharing one pool).
   */
  private readonly ingest: CodecPool;
  private readonly migrateDb: () => Promise<unknown>;

  constructor(url: string, opts: { max?: number; ingestMax?: number } = {}) {
    const target = parseDatabaseUrl(url);
    if (target.kind !== "postgres") throw new Error("PgBrainStore needs a postgres:// URL");
    const pool = openPgPool(target, { max: opts.max ?? 16 });
    // Ingest's statements are named and their plans do not depend on the batch: the cached generic
    // plan always. The default mode usually settles on it too, but in one benchmark run it
    // re-planned INGEST_SQL at 43% of its calls (0.4 ms each). The claim, planned per call, runs
    // on the other pool.
    const ingest = openPgPool(target, { max: opts.ingestMax ?? 6, options: "-c plan_cache_mode=force_generic_plan" });
    for (const p of [pool, ingest]) p.on("error", () => undefined); // idle client errors surface on the next query
    this.pool = codecPool(pool);
    this.ingest = codecPool(ingest);
    this.migrateDb = () => migratePostgres(pool, "brain", target.schema, postgresMigrations);
  }

  private async tx<T>(fn: (c: Queryable) => Promise<T>): Promise<T> {
    const c = await this.ingest.connect();
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }
  /**
   * Hot worker statements run as named prepared statements: parsed and planned once per
   * connection instead of per call (planning was ~0.5 ms of PostgreSQL CPU per statement).
   */
  private run(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    return this.pool.query(this.stmt(sql, params));
  }
  /**
   * A statement planned at each call (unnamed: a custom plan), for the claim, which runs once per
   * batch of learners. A named statement's cached plan is rebuilt only after an ANALYZE: made
   * while history and outbound were still empty (a new database, before autovacuum's first pass),
   * it kept scanning them as they grew (a 60 s run at 1,000 msg/s: 35,000 buffer hits per
   * 64-learner claim named, 8,900 planned per call). A custom plan sees the tables' current size.
   */
  private runPlanned(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    return this.pool.query({ text: sql, values: params });
  }
  private stmt(sql: string, params: unknown[]): pg.QueryConfig {
    let name = this.names.get(sql);
    if (!name) {
      name = `brain_${this.names.size}`;
      this.names.set(sql, name);
    }
    return { name, text: sql, values: params };
  }
  private readonly names = new Map<string, string>();

  private async one(sql: string, params: unknown[]): Promise<Row | undefined> {
    return (await this.run(sql, params)).rows[0] as Row | undefined;
  }
  private async oneOn(pool: Queryable, sql: string, params: unknown[]): Promise<Row | undefined> {
    return (await pool.query(this.stmt(sql, params))).rows[0] as Row | undefined;
  }

  async migrate(): Promise<void> {
    await this.migrateDb();
  }
  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }
  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.ingest.end()]);
  }

  async signUp(phone: string, now: number, id = randomUUID()): Promise<Learner> {
    const r = await this.oneOn(this.ingest, 
      `INSERT INTO learners (id, phone, consent_at, consent_source, created_at) VALUES ($1, $2, $3, 'signup', $3)
       ON CONFLICT (phone) DO UPDATE SET consent_at = excluded.consent_at, consent_source = 'signup', opted_out = false
       RETURNING *`,
      [id, phone, now],
    );
    return learnerFromRow(r!);
  }
  async learnerById(id: string): Promise<Learner | undefined> {
    const r = await this.one("SELECT * FROM learners WHERE id = $1", [id]);
    return r && learnerFromRow(r);
  }
  async learnerByPhone(phone: string): Promise<Learner | undefined> {
    const r = await this.one("SELECT * FROM learners WHERE phone = $1", [phone]);
    return r && learnerFromRow(r);
  }
  async setOptedOut(learnerId: string, optedOut: boolean): Promise<void> {
    await this.pool.query("UPDATE learners SET opted_out = $1 WHERE id = $2", [optedOut, learnerId]);
  }
  async deleteLearner(learnerId: string): Promise<boolean> {
    return this.tx(async (c) => {
      const l = (await c.query("SELECT phone FROM learners WHERE id = $1 FOR UPDATE", [learnerId])).rows[0] as { phone: string } | undefined;
      if (!l) return false;
      for (const t of ["inbox", "history", "llm_usage", "outbound"]) await c.query(`DELETE FROM ${t} WHERE learner_id = $1`, [learnerId]);
      await c.query("DELETE FROM statuses WHERE recipient = $1", [l.phone]);
      await c.query("DELETE FROM dead_letters WHERE strpos(payload, $1) > 0", [l.phone]);
      await c.query("DELETE FROM learners WHERE id = $1", [learnerId]);
      return true;
    });
  }

  async storeInbound(messages: InboundInput[], statuses: StatusInput[], deadLetters: DeadLetterInput[], now: number): Promise<number> {
    if (messages.length === 0 && statuses.length === 0 && deadLetters.length === 0) return 0;
    // Each part is one idempotent autocommit statement (no BEGIN/COMMIT round trips): a webhook
    // that fails part-way gets no 200, Meta redelivers it whole, and the parts already written
    // are no-ops the second time (wa_id, the status rank and the dead letter's key dedupe).
    let added = 0;
    if (messages.length) added = await this.storeMessages(messages, now);
    const best = new Map<string, StatusInput>();
    for (const st of statuses) {
      const cur = best.get(st.messageId);
      if (!cur) best.set(st.messageId, st);
      else best.set(st.messageId, { ...(statusRank[st.status] > statusRank[cur.status] ? st : cur), at: Math.max(st.at, cur.at) });
    }
    const sts = [...best.values()].sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
    if (sts.length) {
      await this.ingest.query(this.stmt(
        `INSERT INTO statuses (message_id, recipient, status, rank, at, error, updated_at)
         SELECT * , $7::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::text[])
         ON CONFLICT (message_id) DO UPDATE SET
           status = CASE WHEN excluded.rank > statuses.rank THEN excluded.status ELSE statuses.status END,
           error = CASE WHEN excluded.rank > statuses.rank THEN excluded.error ELSE statuses.error END,
           rank = GREATEST(statuses.rank, excluded.rank),
           at = GREATEST(statuses.at, excluded.at),
           updated_at = excluded.updated_at`,
        [sts.map((x) => x.messageId), sts.map((x) => x.recipient), sts.map((x) => x.status), sts.map((x) => statusRank[x.status]), sts.map((x) => x.at), sts.map((x) => x.error ?? null), now],
      ));
    }
    if (deadLetters.length) {
      await this.ingest.query(this.stmt(
        `INSERT INTO dead_letters (source, reason, payload, at, dedupe_key)
         SELECT s, r, p, $4, k FROM unnest($1::text[], $2::text[], $3::text[], $5::text[]) AS u(s, r, p, k)
         ON CONFLICT (dedupe_key) DO NOTHING`,
        [deadLetters.map((d) => d.source), deadLetters.map((d) => d.reason), deadLetters.map((d) => clip(d.payload)), now, deadLetters.map(deadLetterKey)],
      ));
    }
    return added;
  }

  /**
   * Messages in one statement when every sender is known, whatever the batch's size: INGEST_SQL
   * writes the inbox rows and the pending marker together for the learners it sees on its own
   * snapshot, up to the first message whose sender it found no learner for. The senders of the
   * rest get their learner rows (ON CONFLICT DO NOTHING locks no existing row, and waits for a
   * concurrent insert of the same phone to commit), and the rest goes through INGEST_SQL again,
   * in payload order; a phone erased in between is written again the same way, twice more at most.
   */
  private async storeMessages(messages: InboundInput[], now: number): Promise<number> {
    let todo = messages;
    let added = 0;
    for (let attempt = 0; attempt < 4 && todo.length; attempt++) {
      if (attempt > 0) await this.insertLearners(todo, now);
      const r = await this.ingest.query(this.stmt(INGEST_SQL, [todo.map((m) => m.waId), todo.map((m) => m.phone), todo.map((m) => m.type), todo.map((m) => m.body), todo.map((m) => m.sentAt), now]));
      const row = r.rows[0] as { added: number | string; cut: number | string | null };
      added += Number(row.added);
      todo = row.cut === null ? [] : todo.slice(Number(row.cut) - 1);
    }
    if (todo.length) throw new Error(`storeInbound: ${todo.length} messages found no learner row after three inserts of their learners`);
    return added;
  }

  /** The learner rows of these messages' senders that do not exist yet, in phone order. */
  private async insertLearners(messages: InboundInput[], now: number): Promise<void> {
    const latest = new Map<string, number>();
    for (const m of messages) latest.set(m.phone, Math.max(latest.get(m.phone) ?? 0, m.sentAt));
    const phones = [...latest.keys()].sort();
    await this.ingest.query(this.stmt(
      `INSERT INTO learners (id, phone, consent_at, consent_source, last_inbound_at, created_at)
       SELECT gen_random_uuid()::text, p, $3, 'inbound', t, $3 FROM unnest($1::text[], $2::bigint[]) AS u(p, t)
       ORDER BY p
       ON CONFLICT (phone) DO NOTHING`,
      [phones, phones.map((p) => latest.get(p)), now],
    ));
  }

  async claimLearner(owner: string, now: number, leaseMs: number): Promise<Claim | undefined> {
    // One statement: the learner waiting longest among those with something pending and no live
    // lease (claimable: learners_free and learners_leased, schema v5); locked with SKIP LOCKED
    // (replicas claiming at the same instant take different learners) and leased until now +
    // leaseMs, which keeps every other replica off it after the commit. No inbox row is read or locked.
    const r = await this.one(
      `WITH ${claimable("$2", "1")}
       UPDATE learners SET lease_owner = $1, lease_until = $3 FROM c WHERE learners.id = c.id AND learners.lease_until < $2
       RETURNING learners.*`,
      [owner, now, now + leaseMs],
    );
    return r ? { learner: learnerFromRow(r), owner } : undefined;
  }
  async claimWork(owner: string, now: number, leaseMs: number, opts: { learners: number; batch: number; historyRows: number; day: string }): Promise<Work[]> {
    // The claim above for up to `learners` learners, and in the same round trip what answering
    // each one's first message needs. The reads run on the statement's snapshot, taken before the
    // lock: if a learner row changed in between (another replica claimed, answered and released it
    // meanwhile: xmin of the locked version ≠ xmin in the snapshot), they may be stale and are read
    // again. The scans read claimable learners only (schema v5: free ones in the order they
    // started waiting, and leases that ran out): the cost follows the learners asked for, not the
    // backlog (before schema v3 it joined the pending inbox with the learners) nor what is in
    // flight (before v5 it stepped over every leased learner).
    const params = [owner, now, now + leaseMs, opts.batch, opts.historyRows, opts.day, opts.learners];
    const res = await this.runPlanned(CLAIM_SQL, params);
    return Promise.all((res.rows as Row[]).map(async (r): Promise<Work> => {
      const learner = learnerFromRow(r);
      if (r.fresh !== true) {
        const [pending, history, usage] = await Promise.all([this.pendingFor(learner.id, opts.batch), this.history(learner.id, opts.historyRows), this.usageTotals(learner.id, opts.day)]);
        return { learner, owner, pending, context: { day: opts.day, history, usage } };
      }
      const u = r.usage as [number | string, number | string, number | string];
      return {
        learner, owner,
        pending: ((r.pending as Row[] | null) ?? []).map(inboundFromRow),
        context: {
          day: opts.day,
          history: ((r.history as Row[] | null) ?? []).map((x) => ({ role: x.role as HistoryEntry["role"], content: String(x.content), at: Number(x.at) })),
          usage: { messages: Number(u[0]), tokens: Number(u[1]), costUsd: Number(u[2]) },
        },
      };
    }));
  }
  async pendingFor(learnerId: string, limit: number): Promise<InboundMessage[]> {
    const r = await this.run(PENDING_SQL, [learnerId, limit]);
    return (r.rows as Row[]).map(inboundFromRow);
  }
  async completeInbound(id: number, state: "done" | "failed"): Promise<void> {
    // The inbox row, then its learner's marker (ADR 0032's order), in one statement.
    await this.run(
      `WITH i AS (UPDATE inbox SET state = $1 WHERE id = $2 AND state = 'pending' RETURNING learner_id)
       UPDATE learners SET pending_count = pending_count - 1, next_pending = CASE WHEN pending_count <= 1 THEN NULL ELSE next_pending END
       FROM i WHERE learners.id = i.learner_id`,
      [state, id],
    );
  }
  async bumpAttempts(id: number): Promise<number> {
    const r = await this.one("UPDATE inbox SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", [id]);
    return r ? Number(r.attempts) : 0;
  }
  async releaseLearner(learnerId: string, owner: string, retryAt = 0): Promise<void> {
    await this.run("UPDATE learners SET lease_owner = NULL, lease_until = $1 WHERE id = $2 AND lease_owner = $3", [retryAt, learnerId, owner]);
  }
  async renewLease(learnerId: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const r = await this.run("UPDATE learners SET lease_until = $1 WHERE id = $2 AND lease_owner = $3", [now + leaseMs, learnerId, owner]);
    return r.rowCount === 1;
  }
  async backlog(): Promise<number> {
    const r = await this.one(BACKLOG_SQL, []);
    return Number(r?.n ?? 0);
  }

  async status(messageId: string): Promise<StatusRow | undefined> {
    const r = await this.one("SELECT * FROM statuses WHERE message_id = $1", [messageId]);
    if (!r) return undefined;
    return { messageId: String(r.message_id), recipient: String(r.recipient), status: r.status as StatusRow["status"], at: Number(r.at), error: (r.error as string | null) ?? undefined, updatedAt: Number(r.updated_at) };
  }
  async addDeadLetter(source: string, reason: string, payload: string, now: number, key?: string): Promise<boolean> {
    const r = await this.pool.query(
      "INSERT INTO dead_letters (source, reason, payload, at, dedupe_key) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING",
      [source, reason, clip(payload), now, deadLetterKey({ source, reason, payload, ...(key !== undefined ? { key } : {}) })],
    );
    return r.rowCount === 1;
  }
  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const r = await this.pool.query("SELECT * FROM dead_letters ORDER BY id DESC LIMIT $1", [limit]);
    return (r.rows as Row[]).map(deadLetterFromRow);
  }

  async history(learnerId: string, limit: number): Promise<HistoryEntry[]> {
    const r = await this.run("SELECT role, content, at FROM history WHERE learner_id = $1 ORDER BY id DESC LIMIT $2", [learnerId, limit]);
    return (r.rows as Row[]).reverse().map((x) => ({ role: x.role as HistoryEntry["role"], content: String(x.content), at: Number(x.at) }));
  }
  async usageTotals(learnerId: string, day: string): Promise<UsageTotals> {
    const r = await this.one(
      `SELECT COALESCE(SUM(messages), 0) AS m, COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS t, COALESCE(SUM(cost_usd), 0) AS c
       FROM llm_usage WHERE learner_id = $1 AND day = $2`,
      [learnerId, day],
    );
    return { messages: Number(r?.m ?? 0), tokens: Number(r?.t ?? 0), costUsd: Number(r?.c ?? 0) };
  }
  async usage(learnerId: string): Promise<UsageRow[]> {
    const r = await this.pool.query("SELECT * FROM llm_usage WHERE learner_id = $1 ORDER BY day, model", [learnerId]);
    return (r.rows as Row[]).map(usageFromRow);
  }

  async outboundByKey(key: string): Promise<OutboundRow | undefined> {
    const r = await this.one("SELECT * FROM outbound WHERE key = $1", [key]);
    return r && outboundFromRow(r);
  }
  /**
   * One statement for the records without a quota-notice day (RECORD_SQL), beside one statement
   * each for those with one (recordReply: those also lock their learner row, which RECORD_SQL
   * never does; a batch locking several learner rows in payload order could deadlock with ingest).
   * Not one transaction: a rerun of any record returns the row its key already has (GroupCommit
   * reruns each item of a failed batch alone).
   */
  async recordReplies(recs: ReplyRecord[]): Promise<OutboundRow[]> {
    if (recs.length <= 1) return Promise.all(recs.map((r) => this.recordReply(r)));
    const plain = recs.filter((r) => r.quotaNoticeDay === undefined);
    const [rows, ...alone] = await Promise.all([this.recordMany(plain), ...recs.filter((r) => r.quotaNoticeDay !== undefined).map((r) => this.recordReply(r))]);
    const byKey = new Map([...rows, ...alone].map((o) => [o.key, o]));
    return Promise.all(recs.map((r) => byKey.get(r.outbound.key) ?? this.recordReply(r)));
  }
  /** RECORD_SQL for records without a quota-notice day: their outbound rows by key (new or already there). */
  private async recordMany(recs: ReplyRecord[]): Promise<OutboundRow[]> {
    if (!recs.length) return [];
    const col = <T>(f: (r: ReplyRecord) => T) => recs.map(f);
    const r = await this.run(RECORD_SQL, [
      col((x) => x.outbound.key), col((x) => x.learnerId), col((x) => x.outbound.payload), col((x) => x.outbound.at),
      col((x) => x.history?.user ?? null), col((x) => x.history?.assistant ?? null), col((x) => x.history?.at ?? x.outbound.at),
      col((x) => x.usage?.day ?? null), col((x) => x.usage?.model ?? null), col((x) => x.usage?.messages ?? 0), col((x) => x.usage?.promptTokens ?? 0),
      col((x) => x.usage?.completionTokens ?? 0), col((x) => x.usage?.costUsd ?? 0),
    ]);
    return (r.rows as Row[]).map(outboundFromRow);
  }
  async recordReply(rec: ReplyRecord): Promise<OutboundRow> {
    // One statement (one implicit transaction, one round trip): the outbound row, and only if it
    // is new, the history turns, the usage and the quota-notice day.
    const h = rec.history;
    const u = rec.usage;
    const r = await this.run(
      `WITH o AS (
         INSERT INTO outbound (key, learner_id, payload, state, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $4)
         ON CONFLICT (key) DO NOTHING RETURNING *
       ), h AS (
         INSERT INTO history (learner_id, role, content, at)
         SELECT $2, x.role, x.content, $7 FROM o, (VALUES (1, 'user', $5::text), (2, 'assistant', $6::text)) AS x(n, role, content)
         WHERE $5::text IS NOT NULL ORDER BY x.n
       ), u AS (
         INSERT INTO llm_usage (learner_id, day, model, messages, prompt_tokens, completion_tokens, cost_usd)
         SELECT $2, $8, $9, $10, $11, $12, $13 FROM o WHERE $8::text IS NOT NULL
         ON CONFLICT (learner_id, day, model) DO UPDATE SET messages = llm_usage.messages + excluded.messages,
           prompt_tokens = llm_usage.prompt_tokens + excluded.prompt_tokens, completion_tokens = llm_usage.completion_tokens + excluded.completion_tokens,
           cost_usd = llm_usage.cost_usd + excluded.cost_usd
       ), q AS (
         UPDATE learners SET quota_notice_day = $14 FROM o WHERE learners.id = $2 AND $14::text IS NOT NULL
       )
       SELECT * FROM o`,
      [
        rec.outbound.key, rec.learnerId, rec.outbound.payload, rec.outbound.at,
        h?.user ?? null, h?.assistant ?? null, h?.at ?? rec.outbound.at,
        u?.day ?? null, u?.model ?? null, u?.messages ?? 0, u?.promptTokens ?? 0, u?.completionTokens ?? 0, u?.costUsd ?? 0,
        rec.quotaNoticeDay ?? null,
      ],
    );
    if (r.rows[0]) return outboundFromRow(r.rows[0] as Row);
    const existing = await this.one("SELECT * FROM outbound WHERE key = $1", [rec.outbound.key]);
    return outboundFromRow(existing!);
  }
  async markOutbound(id: number, result: { state: "sent"; waMessageId: string } | { state: "failed"; error: string }, now: number): Promise<void> {
    if (result.state === "sent") await this.run("UPDATE outbound SET state = 'sent', wa_message_id = $1, attempts = attempts + 1, updated_at = $2 WHERE id = $3", [result.waMessageId, now, id]);
    else await this.run("UPDATE outbound SET state = 'failed', error = $1, attempts = attempts + 1, updated_at = $2 WHERE id = $3", [result.error, now, id]);
  }
  async finishReply(outboundId: number, result: SendResult, inboundId: number | undefined, now: number, release?: Release): Promise<void> {
    await this.finishReplies([{ outboundId, result, inboundId, now, release }]);
  }
  async finishReplies(items: Settle[]): Promise<void> {
    if (!items.length) return;
    const rel = new Map<string, Release>();
    for (const it of items) if (it.release) rel.set(it.release.learnerId, it.release);
    await this.run(FINISH_SQL, [
      items.map((x) => x.outboundId), items.map((x) => x.result.state), items.map((x) => (x.result.state === "sent" ? x.result.waMessageId : null)),
      items.map((x) => (x.result.state === "failed" ? x.result.error : null)), items.map((x) => x.now), items.map((x) => x.inboundId ?? null),
      [...rel.keys()], [...rel.values()].map((r) => r.owner), [...rel.values()].map((r) => r.retryAt ?? 0),
    ]);
  }
  async bumpOutbound(id: number, error: string, now: number): Promise<number> {
    const r = await this.one("UPDATE outbound SET attempts = attempts + 1, error = $1, updated_at = $2 WHERE id = $3 RETURNING attempts", [error, now, id]);
    return r ? Number(r.attempts) : 0;
  }
  async sendFailures(limit: number): Promise<OutboundRow[]> {
    const r = await this.pool.query("SELECT * FROM outbound WHERE state = 'failed' ORDER BY id DESC LIMIT $1", [limit]);
    return (r.rows as Row[]).map(outboundFromRow);
  }
  async outboundFor(learnerId: string): Promise<OutboundRow[]> {
    const r = await this.pool.query("SELECT * FROM outbound WHERE learner_id = $1 ORDER BY id", [learnerId]);
    return (r.rows as Row[]).map(outboundFromRow);
  }

  async applyPlanChange(change: PlanChangeInput, now: number): Promise<PlanChangeOutcome> {
    return this.tx(async (c) => {
      const ins = await c.query("INSERT INTO stripe_events (event_id, at) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING", [change.eventId, now]);
      if (ins.rowCount === 0) return "duplicate";
      const find = async (col: string, v: string | undefined) =>
        v ? ((await c.query(`SELECT id FROM learners WHERE ${col} = $1 FOR UPDATE`, [v])).rows[0] as { id: string } | undefined) : undefined;
      const l = (await find("id", change.learnerId)) ?? (await find("stripe_customer_id", change.customerId)) ?? (await find("stripe_subscription_id", change.subscriptionId));
      if (!l) return "no_learner";
      await c.query(
        `UPDATE learners SET plan = $1, stripe_customer_id = COALESCE($2, stripe_customer_id), stripe_subscription_id = COALESCE($3, stripe_subscription_id) WHERE id = $4`,
        [change.plan, change.customerId ?? null, change.subscriptionId ?? null, l.id],
      );
      return "applied";
    });
  }
  async markStripeEvent(eventId: string, now: number): Promise<boolean> {
    const r = await this.ingest.query("INSERT INTO stripe_events (event_id, at) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING", [eventId, now]);
    return r.rowCount === 1;
  }
}
