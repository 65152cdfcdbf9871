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
import { deadLetterFromRow, deadLetterKey, decodeValue, encodeParams, inboundFromRow, learnerFromRow, outboundFromRow, PENDING_SQL, usageFromRow, type Row } from "./rows.js";
import {
  clip, statusRank,
  type BrainStore, type Claim, type DeadLetter, type DeadLetterInput, type HistoryEntry, type InboundInput, type InboundMessage, type Learner,
  type OutboundRow, type PlanChangeInput, type PlanChangeOutcome, type Release, type ReplyRecord, type StatusInput, type StatusRow,
  type UsageRow, type UsageTotals, type Work,
} from "./types.js";

/** The claim looks at this many of the oldest pending messages first (see claimWork). */
const CLAIM_WINDOW = 512;

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

/** A pool the store cannot query around the codec: no statement can skip it. */
function codecPool(pool: pg.Pool): CodecPool {
  return {
    ...coded(pool),
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
    const ingest = openPgPool(target, { max: opts.ingestMax ?? 6 });
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
    // A handful of array statements per batch, whatever its size. Learners are upserted once per
    // phone, in phone order, so concurrent batches lock rows in the same order (no deadlocks).
    const latest = new Map<string, number>();
    for (const m of messages) latest.set(m.phone, Math.max(latest.get(m.phone) ?? 0, m.sentAt));
    const phones = [...latest.keys()].sort();
    const best = new Map<string, StatusInput>();
    for (const st of statuses) {
      const cur = best.get(st.messageId);
      if (!cur) best.set(st.messageId, st);
      else best.set(st.messageId, { ...(statusRank[st.status] > statusRank[cur.status] ? st : cur), at: Math.max(st.at, cur.at) });
    }
    const sts = [...best.values()].sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
    return this.tx(async (c) => {
      const cq = (sql: string, params: unknown[]) => c.query(this.stmt(sql, params));
      let added = 0;
      if (phones.length) {
        // Lock order: the inbox row first, then the learner row, as in the workers' final write
        // (finishReply). Upserting the learner first deadlocked a redelivered message against its
        // own reply's final write: this transaction held the learner row and waited on the inbox
        // row's unique key, the worker held the inbox row and waited on the learner row
        // (test/inbound.test.ts found it). So: create missing learners (ON CONFLICT DO NOTHING
        // locks no existing row), read every id (a new statement sees learners another webhook
        // just created), insert the inbox rows, and only then move the window on the learner rows.
        const learnerParams = [phones, phones.map((p) => latest.get(p)), now];
        await cq(
          `INSERT INTO learners (id, phone, consent_at, consent_source, last_inbound_at, created_at)
           SELECT gen_random_uuid()::text, p, $3, 'inbound', t, $3 FROM unnest($1::text[], $2::bigint[]) AS u(p, t)
           ON CONFLICT (phone) DO NOTHING`,
          learnerParams,
        );
        const r = await cq("SELECT id, phone FROM learners WHERE phone = ANY($1::text[])", [phones]);
        const ids = new Map((r.rows as { id: string; phone: string }[]).map((x) => [x.phone, x.id]));
        // Payload order is the learner's order: the serial ids follow the array order.
        const ins = await cq(
          `INSERT INTO inbox (wa_id, learner_id, type, body, sent_at, received_at)
           SELECT w, l, ty, b, s, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS u(w, l, ty, b, s, n)
           ORDER BY n
           ON CONFLICT (wa_id) DO NOTHING`,
          [messages.map((m) => m.waId), messages.map((m) => ids.get(m.phone)), messages.map((m) => m.type), messages.map((m) => m.body), messages.map((m) => m.sentAt), now],
        );
        added = ins.rowCount ?? 0;
        await cq(
          `INSERT INTO learners (id, phone, consent_at, consent_source, last_inbound_at, created_at)
           SELECT gen_random_uuid()::text, p, $3, 'inbound', t, $3 FROM unnest($1::text[], $2::bigint[]) AS u(p, t)
           ON CONFLICT (phone) DO UPDATE SET last_inbound_at = GREATEST(COALESCE(learners.last_inbound_at, 0), excluded.last_inbound_at)`,
          learnerParams,
        );
      }
      if (sts.length) {
        await cq(
          `INSERT INTO statuses (message_id, recipient, status, rank, at, error, updated_at)
           SELECT * , $7::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::text[])
           ON CONFLICT (message_id) DO UPDATE SET
             status = CASE WHEN excluded.rank > statuses.rank THEN excluded.status ELSE statuses.status END,
             error = CASE WHEN excluded.rank > statuses.rank THEN excluded.error ELSE statuses.error END,
             rank = GREATEST(statuses.rank, excluded.rank),
             at = GREATEST(statuses.at, excluded.at),
             updated_at = excluded.updated_at`,
          [sts.map((x) => x.messageId), sts.map((x) => x.recipient), sts.map((x) => x.status), sts.map((x) => statusRank[x.status]), sts.map((x) => x.at), sts.map((x) => x.error ?? null), now],
        );
      }
      if (deadLetters.length) {
        await cq(
          `INSERT INTO dead_letters (source, reason, payload, at, dedupe_key)
           SELECT s, r, p, $4, k FROM unnest($1::text[], $2::text[], $3::text[], $5::text[]) AS u(s, r, p, k)
           ON CONFLICT (dedupe_key) DO NOTHING`,
          [deadLetters.map((d) => d.source), deadLetters.map((d) => d.reason), deadLetters.map((d) => clip(d.payload)), now, deadLetters.map(deadLetterKey)],
        );
      }
      return added;
    });
  }

  async claimLearner(owner: string, now: number, leaseMs: number): Promise<Claim | undefined> {
    // One statement: the oldest pending message whose learner holds no live lease; the learner
    // row is locked (SKIP LOCKED: replicas claiming at the same instant take different learners)
    // and leased until now + leaseMs, which keeps every other replica off it after the commit.
    const r = await this.one(
      `WITH c AS (
         SELECT l.id FROM inbox i JOIN learners l ON l.id = i.learner_id
         WHERE i.state = 'pending' AND l.lease_until < $2
         ORDER BY i.id LIMIT 1
         FOR UPDATE OF l SKIP LOCKED
       )
       UPDATE learners SET lease_owner = $1, lease_until = $3 FROM c WHERE learners.id = c.id AND learners.lease_until < $2
       RETURNING learners.*`,
      [owner, now, now + leaseMs],
    );
    return r ? { learner: learnerFromRow(r), owner } : undefined;
  }
  async claimWork(owner: string, now: number, leaseMs: number, opts: { learners: number; batch: number; historyRows: number; day: string }): Promise<Work[]> {
    // The claim above for up to `learners` learners (the claim's scan is the costly part, so one
    // scan serves several idle workers), and in the same round trip what answering each one's
    // first message needs. The reads run on the statement's snapshot, taken before the lock: if a
    // learner row changed in between (another replica claimed, answered and released it meanwhile:
    // xmin of the locked version ≠ xmin in the snapshot), they may be stale and are read again.
    // A learner with several pending messages appears several times in c; it is updated once.
    //
    // The scan looks at the oldest CLAIM_WINDOW pending rows first: with a large backlog the
    // planner otherwise hash-joins every pending row with every learner and sorts (measured 94 ms
    // per claim at 33,000 pending). Only when that window is full and still yields too few
    // learners (the head of the inbox belongs to leased or backing-off learners) is the whole
    // inbox scanned.
    const params = [owner, now, now + leaseMs, opts.batch, opts.historyRows, opts.day, opts.learners];
    const res = await this.run(this.claimSql(true), params);
    const windowRows = Number((res.rows[0] as Row | undefined)?.window_rows ?? 0);
    const rows = (res.rows as Row[]).filter((r) => r.id !== null);
    if (rows.length < opts.learners && windowRows >= CLAIM_WINDOW) {
      const more = await this.run(this.claimSql(false), [...params.slice(0, 6), opts.learners - rows.length]);
      rows.push(...(more.rows as Row[]).filter((r) => r.id !== null));
    }
    return Promise.all(rows.map(async (r): Promise<Work> => {
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
  private claimSql(windowed: boolean): string {
    const from = windowed
      ? `(SELECT id, learner_id FROM inbox WHERE state = 'pending' ORDER BY id LIMIT ${CLAIM_WINDOW}) i`
      : "inbox i";
    return `WITH w AS MATERIALIZED (SELECT i.id, i.learner_id FROM ${from}${windowed ? "" : " WHERE i.state = 'pending'"}),
       c AS (
         SELECT l.id, l.xmin::text AS x, w.id AS first FROM w JOIN learners l ON l.id = w.learner_id
         WHERE l.lease_until < $2
         ORDER BY w.id LIMIT $7
         FOR UPDATE OF l SKIP LOCKED
       ), u AS (
         UPDATE learners SET lease_owner = $1, lease_until = $3 FROM c WHERE learners.id = c.id AND learners.lease_until < $2
         RETURNING learners.*
       )
       SELECT u.*,${windowed ? " n.window_rows," : ""}
         (SELECT s.xmin::text FROM learners s WHERE s.id = u.id) = (SELECT x FROM c WHERE c.id = u.id LIMIT 1) AS fresh,
         (SELECT min(c.first) FROM c WHERE c.id = u.id) AS first_pending,
         (SELECT json_agg(p ORDER BY p.id) FROM (
            SELECT i.*, o.id AS o_id, o.key AS o_key, o.learner_id AS o_learner_id, o.payload AS o_payload, o.state AS o_state,
                   o.wa_message_id AS o_wa_message_id, o.error AS o_error, o.attempts AS o_attempts, o.created_at AS o_created_at, o.updated_at AS o_updated_at
            FROM inbox i LEFT JOIN outbound o ON o.key = 'reply:' || i.wa_id
            WHERE i.learner_id = u.id AND i.state = 'pending' ORDER BY i.id LIMIT $4) p) AS pending,
         (SELECT json_agg(h ORDER BY h.id) FROM (SELECT id, role, content, at FROM history WHERE learner_id = u.id ORDER BY id DESC LIMIT $5) h) AS history,
         (SELECT json_build_array(COALESCE(SUM(messages), 0), COALESCE(SUM(prompt_tokens + completion_tokens), 0), COALESCE(SUM(cost_usd), 0))
            FROM llm_usage WHERE learner_id = u.id AND day = $6) AS usage
       FROM ${windowed ? "(SELECT count(*) AS window_rows FROM w) n LEFT JOIN u ON true" : "u"} ORDER BY first_pending`;
  }
  async pendingFor(learnerId: string, limit: number): Promise<InboundMessage[]> {
    const r = await this.run(PENDING_SQL, [learnerId, limit]);
    return (r.rows as Row[]).map(inboundFromRow);
  }
  async completeInbound(id: number, state: "done" | "failed"): Promise<void> {
    await this.run("UPDATE inbox SET state = $1 WHERE id = $2", [state, id]);
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
    const r = await this.one("SELECT count(*)::int AS n FROM inbox WHERE state = 'pending'", []);
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
  async finishReply(outboundId: number, result: { state: "sent"; waMessageId: string } | { state: "failed"; error: string }, inboundId: number | undefined, now: number, release?: Release): Promise<void> {
    const params = [outboundId, result.state, result.state === "sent" ? result.waMessageId : null, result.state === "failed" ? result.error : null, now, inboundId ?? null];
    if (!release) {
      await this.run(
        `WITH o AS (
           UPDATE outbound SET state = $2, wa_message_id = $3, error = $4, attempts = attempts + 1, updated_at = $5 WHERE id = $1
         )
         UPDATE inbox SET state = 'done' WHERE id = $6`,
        params,
      );
      return;
    }
    // The learner's last step: the lease goes in the same statement (one round trip fewer).
    await this.run(
      `WITH o AS (
         UPDATE outbound SET state = $2, wa_message_id = $3, error = $4, attempts = attempts + 1, updated_at = $5 WHERE id = $1
       ), r AS (
         UPDATE learners SET lease_owner = NULL, lease_until = $7 WHERE id = $8 AND lease_owner = $9
       )
       UPDATE inbox SET state = 'done' WHERE id = $6`,
      [...params, release.retryAt ?? 0, release.learnerId, release.owner],
    );
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
