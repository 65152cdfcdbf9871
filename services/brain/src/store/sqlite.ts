/**
 * The brain's SQLite store: every statement of the BrainStore interface for SQLite, with the
 * write-ahead durability split of ADR 0031. Over 300 lines on purpose: one file per store keeps
 * each transaction beside its PostgreSQL twin's shape; what the two share is in schema.ts/rows.ts.
 */
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import { open, type FileHandle } from "node:fs/promises";
import { migrateSqlite, openSqlite, refuseBareSqliteLimit, sqliteLimit } from "@tierstack/common";
import { sqliteMigrations } from "./schema.js";
import { BACKLOG_SQL, deadLetterFromRow, deadLetterKey, decodeValue, encodeParams, inboundFromRow, learnerFromRow, outboundFromRow, PENDING_SQL, usageFromRow, type Row } from "./rows.js";
import {
  clip, statusRank,
  type BrainStore, type Claim, type DeadLetter, type DeadLetterInput, type HistoryEntry, type InboundInput, type InboundMessage, type Learner,
  type OutboundRow, type PlanChangeInput, type PlanChangeOutcome, type Release, type ReplyRecord, type SendResult, type Settle, type StatusInput, type StatusRow,
  type UsageRow, type UsageTotals, type Work,
} from "./types.js";

/** A bound LIMIT goes behind a cast (the kit's sqliteLimit says why). */
const LIMIT = `LIMIT ${sqliteLimit("?")}`;
/** A learner's pending messages (exported for the plan test). */
export const PENDING_SQLITE = PENDING_SQL.replace(/\$(\d)/g, "?").replace(/LIMIT \?$/, LIMIT);
/** The claim's choice (claimSome): free learners and run-out leases, each through its own index. */
export const CLAIMABLE_SQLITE = `SELECT id FROM (
    SELECT * FROM (SELECT id, next_pending FROM learners WHERE next_pending IS NOT NULL AND lease_owner IS NULL AND lease_until < ? ORDER BY next_pending ${LIMIT})
    UNION ALL
    SELECT * FROM (SELECT id, next_pending FROM learners WHERE next_pending IS NOT NULL AND lease_owner IS NOT NULL AND lease_until < ? ORDER BY lease_until ${LIMIT})
  ) ORDER BY next_pending ${LIMIT}`;
/** The claim: the chosen learners leased in one statement (owner, until, then CLAIMABLE_SQLITE's parameters). */
export const CLAIM_SQLITE = `UPDATE learners SET lease_owner = ?, lease_until = ? WHERE id IN (${CLAIMABLE_SQLITE}) RETURNING *`;

/** A settle's marker: one fewer pending, and next_pending moved to the oldest still pending (schema v6), found from where it was. */
const SETTLE_MARKER = `pending_count = pending_count - 1, next_pending = CASE WHEN pending_count <= 1 THEN NULL ELSE COALESCE(
      (SELECT min(x.id) FROM inbox x WHERE x.learner_id = learners.id AND x.state = 'pending' AND x.id >= learners.next_pending), next_pending) END`;
const SETTLE_SQL = `UPDATE learners SET ${SETTLE_MARKER} WHERE id = ?`;
/** The marker and the lease released in one statement (owner, retry time, owner, learner). */
const SETTLE_RELEASE_SQL = `UPDATE learners SET ${SETTLE_MARKER}, lease_until = CASE WHEN lease_owner = ? THEN ? ELSE lease_until END,
           lease_owner = CASE WHEN lease_owner = ? THEN NULL ELSE lease_owner END WHERE id = ?`;

/**
 * A prepared statement that binds through the text codec (rows.ts): parameters encoded, rows
 * decoded. The store reaches SQL only through these, so no statement can skip the codec.
 */
class Stmt {
  constructor(private readonly s: Database.Statement) {}
  run(...params: unknown[]): Database.RunResult {
    return this.s.run(...encodeParams(params));
  }
  get(...params: unknown[]): unknown {
    const r: unknown = this.s.get(...encodeParams(params));
    return r === undefined ? undefined : decodeValue(r);
  }
  all(...params: unknown[]): unknown[] {
    return this.s.all(...encodeParams(params)).map((r) => decodeValue(r));
  }
}

/**
 * SQLite (WAL): the single box. One process owns the file, so a lease is only ever contended
 * in-process. Durability is chosen per write (ADR 0031): what the brain acknowledges to someone
 * outside (an inbound webhook, a sign-up, a Stripe event) is on disk before the call returns;
 * the workers' own transitions commit with synchronous=NORMAL (safe against a process crash;
 * after a power loss they are redone from the inbox, see the README).
 *
 * better-sqlite3 is synchronous, so an fsync inside COMMIT would stall the event loop that also
 * answers the webhooks. Durable writes therefore commit with synchronous=NORMAL (the frames are
 * written to the WAL, not synced) and then fsync the WAL file from libuv's thread pool before
 * returning; concurrent durable writes share one fsync. A checkpoint in NORMAL mode syncs the WAL
 * first, so frames checkpointed before our fsync ran were already on disk.
 */
/** How long SQLite itself waits for the write lock (synchronously, on the event loop). */
const BUSY_WAIT_MS = 2;
/** How long a write keeps retrying a busy lock (off the event loop) before it fails. */
const WRITE_WAIT_MS = 10_000;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SqliteBrainStore implements BrainStore {
  readonly kind = "sqlite" as const;
  /** Transactions only: statements are prepared through `q` (the codec), never on the connection. */
  private readonly db: Pick<Database.Database, "transaction" | "close" | "open">;
  private readonly prepare: (sql: string) => Stmt;
  private readonly migrateDb: () => void;
  private readonly stmts = new Map<string, Stmt>();
  private readonly walPath: string | undefined;
  private wal: Promise<FileHandle> | undefined;
  private committed = 0;
  private synced = 0;
  private syncing: Promise<void> | undefined;

  constructor(path: string) {
    const db = openSqlite(path, { synchronous: "NORMAL", busyTimeoutMs: BUSY_WAIT_MS });
    this.db = db;
    this.prepare = (sql) => new Stmt(db.prepare(sql));
    this.migrateDb = () => migrateSqlite(db, "brain", sqliteMigrations);
    this.walPath = path === ":memory:" || path === "" ? undefined : `${path}-wal`;
  }

  private q(sql: string): Stmt {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.prepare(refuseBareSqliteLimit(sql));
      this.stmts.set(sql, s);
    }
    return s;
  }

  /**
   * Run a write (an immediate transaction, or one statement) once SQLite's write lock is free.
   * The webhook process and the reply workers' process share the file (ADR 0035), and
   * better-sqlite3 waits for a busy lock synchronously, blocking the event loop, with a
   * back-off that lets a busy writer starve the other: so SQLite waits at most BUSY_WAIT_MS
   * itself, and SQLITE_BUSY is retried here off the event loop (jittered, up to 10 ms apart)
   * until WRITE_WAIT_MS have passed. A failed attempt wrote nothing (the transaction rolled back).
   */
  private async write<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + WRITE_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (err) {
        if (!String((err as { code?: unknown }).code ?? "").startsWith("SQLITE_BUSY") || Date.now() > deadline) throw err;
        await (attempt < 2 ? new Promise<void>((r) => setImmediate(r)) : delay(Math.min(10, 2 ** (attempt - 2)) * (0.5 + Math.random())));
      }
    }
  }

  /** Commit a write transaction and return once it is on disk (fsync of the WAL, off the event loop). */
  private async durable<T>(fn: () => T): Promise<T> {
    const out = await this.write(() => this.db.transaction(fn).immediate());
    await this.harden();
    return out;
  }

  private async harden(): Promise<void> {
    if (!this.walPath) return;
    const ticket = ++this.committed;
    this.wal ??= open(this.walPath, "r+");
    const fh = await this.wal;
    while (this.synced < ticket) {
      if (!this.syncing) {
        const upTo = this.committed;
        this.syncing = fh.sync().then(
          () => {
            this.synced = Math.max(this.synced, upTo);
            this.syncing = undefined;
          },
          (err: unknown) => {
            this.syncing = undefined;
            throw err;
          },
        );
      }
      await this.syncing;
    }
  }

  async migrate(): Promise<void> {
    this.migrateDb();
  }
  async ping(): Promise<void> {
    this.q("SELECT 1").get();
  }
  async close(): Promise<void> {
    await this.syncing?.catch(() => undefined);
    if (this.wal) await (await this.wal).close().catch(() => undefined);
    this.wal = undefined;
    if (this.db.open) this.db.close();
  }

  async signUp(phone: string, now: number, id = randomUUID()): Promise<Learner> {
    const row = await this.durable(() => this.q(
      `INSERT INTO learners (id, phone, consent_at, consent_source, created_at) VALUES (?, ?, ?, 'signup', ?)
       ON CONFLICT (phone) DO UPDATE SET consent_at = excluded.consent_at, consent_source = 'signup', opted_out = 0
       RETURNING *`,
    ).get(id, phone, now, now) as Row);
    return learnerFromRow(row);
  }
  async learnerById(id: string): Promise<Learner | undefined> {
    const r = this.q("SELECT * FROM learners WHERE id = ?").get(id) as Row | undefined;
    return r && learnerFromRow(r);
  }
  async learnerByPhone(phone: string): Promise<Learner | undefined> {
    const r = this.q("SELECT * FROM learners WHERE phone = ?").get(phone) as Row | undefined;
    return r && learnerFromRow(r);
  }
  async setOptedOut(learnerId: string, optedOut: boolean): Promise<void> {
    await this.write(() => this.q("UPDATE learners SET opted_out = ? WHERE id = ?").run(optedOut ? 1 : 0, learnerId));
  }
  async deleteLearner(learnerId: string): Promise<boolean> {
    const tx = this.db.transaction(() => {
      const l = this.q("SELECT phone FROM learners WHERE id = ?").get(learnerId) as { phone: string } | undefined;
      if (!l) return false;
      for (const t of ["inbox", "history", "llm_usage", "outbound"]) this.q(`DELETE FROM ${t} WHERE learner_id = ?`).run(learnerId);
      this.q("DELETE FROM statuses WHERE recipient = ?").run(l.phone);
      this.q("DELETE FROM dead_letters WHERE instr(payload, ?) > 0").run(l.phone);
      this.q("DELETE FROM learners WHERE id = ?").run(learnerId);
      return true;
    });
    return this.write(() => tx.immediate());
  }

  async storeInbound(messages: InboundInput[], statuses: StatusInput[], deadLetters: DeadLetterInput[], now: number): Promise<number> {
    return this.durable(() => {
      let added = 0;
      for (const m of messages) {
        // A known learner (nearly every message) is read through the phone index and updated once
        // below; an upsert per message wrote the row twice (measured in bench/brain/RESULTS.md).
        // An unknown phone cannot appear meanwhile: this immediate transaction holds the writer.
        const known = this.q("SELECT id FROM learners WHERE phone = ?").get(m.phone) as { id: string } | undefined;
        const id = known?.id ?? (this.q(
          `INSERT INTO learners (id, phone, consent_at, consent_source, last_inbound_at, created_at) VALUES (?, ?, ?, 'inbound', ?, ?) RETURNING id`,
        ).get(randomUUID(), m.phone, now, m.sentAt, now) as { id: string }).id;
        const ins = this.q(
          `INSERT INTO inbox (wa_id, learner_id, type, body, sent_at, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (wa_id) DO NOTHING`,
        ).run(m.waId, id, m.type, m.body, m.sentAt, now);
        if (ins.changes === 1) {
          // The pending marker (schema v3), in the same transaction and statement as the learner's last inbound time.
          this.q(
            `UPDATE learners SET last_inbound_at = MAX(COALESCE(last_inbound_at, 0), ?), pending_count = pending_count + 1,
               next_pending = COALESCE(next_pending, ?) WHERE id = ?`,
          ).run(m.sentAt, Number(ins.lastInsertRowid), id);
          added++;
        } else if (known) {
          this.q("UPDATE learners SET last_inbound_at = MAX(COALESCE(last_inbound_at, 0), ?) WHERE id = ?").run(m.sentAt, id);
        }
      }
      for (const s of statuses) this.upsertStatus(s, now);
      for (const d of deadLetters) this.insertDeadLetter(d, now);
      return added;
    });
  }

  /**
   * Settle a pending inbox row and keep its learner's marker in step (inside the caller's
   * transaction); with `release`, the learner's lease is released in the same statement when it
   * is that learner's (else apart). SET reads the row as it was, so the lease test sees the old owner.
   */
  private settleInbound(id: number, state: "done" | "failed", release?: Release): void {
    const r = this.q("UPDATE inbox SET state = ? WHERE id = ? AND state = 'pending' RETURNING learner_id").get(state, id) as { learner_id: string } | undefined;
    if (r && release?.learnerId === r.learner_id) {
      this.q(SETTLE_RELEASE_SQL).run(release.owner, release.retryAt ?? 0, release.owner, r.learner_id);
      return;
    }
    if (r) this.q(SETTLE_SQL).run(r.learner_id);
    if (release) this.releaseSync(release);
  }

  private releaseSync(rel: Release): void {
    this.q("UPDATE learners SET lease_owner = NULL, lease_until = ? WHERE id = ? AND lease_owner = ?").run(rel.retryAt ?? 0, rel.learnerId, rel.owner);
  }

  private upsertStatus(s: StatusInput, now: number): void {
    this.q(
      `INSERT INTO statuses (message_id, recipient, status, rank, at, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (message_id) DO UPDATE SET
         status = CASE WHEN excluded.rank > statuses.rank THEN excluded.status ELSE statuses.status END,
         error = CASE WHEN excluded.rank > statuses.rank THEN excluded.error ELSE statuses.error END,
         rank = MAX(statuses.rank, excluded.rank),
         at = MAX(statuses.at, excluded.at),
         updated_at = excluded.updated_at`,
    ).run(s.messageId, s.recipient, s.status, statusRank[s.status], s.at, s.error ?? null, now);
  }

  async claimLearner(owner: string, now: number, leaseMs: number): Promise<Claim | undefined> {
    return (await this.claimSome(owner, now, leaseMs, 1))[0];
  }
  /**
   * Lease up to n learners with something pending and no live lease, longest waiting first: the
   * first n free learners (learners_free) and the first n whose lease ran out (learners_leased,
   * schema v5), merged. Neither read steps over a learner that is in flight.
   */
  private claimSome(owner: string, now: number, leaseMs: number, n: number): Promise<Claim[]> {
    // One statement (SQLite reads the IN list before it updates); RETURNING has no order of its own.
    const stmt = this.q(CLAIM_SQLITE);
    return this.write(() => (stmt.all(owner, now + leaseMs, now, n, now, n, n) as Row[])
      .sort((a, b) => Number(a.next_pending) - Number(b.next_pending))
      .map((row) => ({ learner: learnerFromRow(row), owner })));
  }
  async claimWork(owner: string, now: number, leaseMs: number, opts: { learners: number; batch: number; historyRows: number; day: string }): Promise<Work[]> {
    const claims = await this.claimSome(owner, now, leaseMs, opts.learners);
    if (!claims.length) return [];
    // The claimed learners' reads in one read transaction (deferred: it takes no write lock, so
    // ingest in the other process is not held up): they see one snapshot, and SQLite begins one
    // read transaction per claim instead of one per statement (three per learner). A quick
    // profiled pair: claimWork 20.5% → 18.6% of the worker's busy time, within the run-to-run noise.
    const read = this.db.transaction(() => claims.map((c): Work => ({
      ...c,
      pending: this.pendingRows(c.learner.id, opts.batch),
      context: { day: opts.day, history: this.historyRows(c.learner.id, opts.historyRows), usage: this.usageRow(c.learner.id, opts.day) },
    })));
    return read.deferred();
  }
  async pendingFor(learnerId: string, limit: number): Promise<InboundMessage[]> {
    return this.pendingRows(learnerId, limit);
  }
  private pendingRows(learnerId: string, limit: number): InboundMessage[] {
    return (this.q(PENDING_SQLITE).all(learnerId, limit) as Row[]).map(inboundFromRow);
  }
  async completeInbound(id: number, state: "done" | "failed"): Promise<void> {
    await this.write(() => this.db.transaction(() => this.settleInbound(id, state)).immediate());
  }
  async bumpAttempts(id: number): Promise<number> {
    const r = (await this.write(() => this.q("UPDATE inbox SET attempts = attempts + 1 WHERE id = ? RETURNING attempts").get(id))) as { attempts: number } | undefined;
    return r?.attempts ?? 0;
  }
  async releaseLearner(learnerId: string, owner: string, retryAt = 0): Promise<void> {
    await this.write(() => this.releaseSync({ learnerId, owner, retryAt }));
  }
  async renewLease(learnerId: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    return (await this.write(() => this.q("UPDATE learners SET lease_until = ? WHERE id = ? AND lease_owner = ?").run(now + leaseMs, learnerId, owner))).changes === 1;
  }
  async backlog(): Promise<number> {
    return Number((this.q(BACKLOG_SQL).get() as { n: number }).n);
  }

  async status(messageId: string): Promise<StatusRow | undefined> {
    const r = this.q("SELECT * FROM statuses WHERE message_id = ?").get(messageId) as Row | undefined;
    if (!r) return undefined;
    return { messageId: String(r.message_id), recipient: String(r.recipient), status: r.status as StatusRow["status"], at: Number(r.at), error: (r.error as string | null) ?? undefined, updatedAt: Number(r.updated_at) };
  }
  private insertDeadLetter(d: DeadLetterInput, now: number): boolean {
    return this.q("INSERT INTO dead_letters (source, reason, payload, at, dedupe_key) VALUES (?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING")
      .run(d.source, d.reason, clip(d.payload), now, deadLetterKey(d)).changes === 1;
  }
  async addDeadLetter(source: string, reason: string, payload: string, now: number, key?: string): Promise<boolean> {
    return this.write(() => this.insertDeadLetter({ source, reason, payload, ...(key !== undefined ? { key } : {}) }, now));
  }
  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return (this.q(`SELECT * FROM dead_letters ORDER BY id DESC ${LIMIT}`).all(limit) as Row[]).map(deadLetterFromRow);
  }

  async history(learnerId: string, limit: number): Promise<HistoryEntry[]> {
    return this.historyRows(learnerId, limit);
  }
  private historyRows(learnerId: string, limit: number): HistoryEntry[] {
    const rows = this.q(`SELECT role, content, at FROM history WHERE learner_id = ? ORDER BY id DESC ${LIMIT}`).all(learnerId, limit) as Row[];
    return rows.reverse().map((r) => ({ role: r.role as HistoryEntry["role"], content: String(r.content), at: Number(r.at) }));
  }
  async usageTotals(learnerId: string, day: string): Promise<UsageTotals> {
    return this.usageRow(learnerId, day);
  }
  private usageRow(learnerId: string, day: string): UsageTotals {
    const r = this.q(
      `SELECT COALESCE(SUM(messages), 0) AS m, COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS t, COALESCE(SUM(cost_usd), 0) AS c
       FROM llm_usage WHERE learner_id = ? AND day = ?`,
    ).get(learnerId, day) as { m: number; t: number; c: number };
    return { messages: Number(r.m), tokens: Number(r.t), costUsd: Number(r.c) };
  }
  async usage(learnerId: string): Promise<UsageRow[]> {
    return (this.q("SELECT * FROM llm_usage WHERE learner_id = ? ORDER BY day, model").all(learnerId) as Row[]).map(usageFromRow);
  }

  async outboundByKey(key: string): Promise<OutboundRow | undefined> {
    const r = this.q("SELECT * FROM outbound WHERE key = ?").get(key) as Row | undefined;
    return r && outboundFromRow(r);
  }
  async recordReply(rec: ReplyRecord): Promise<OutboundRow> {
    return (await this.recordReplies([rec]))[0]!;
  }
  async recordReplies(recs: ReplyRecord[]): Promise<OutboundRow[]> {
    if (!recs.length) return [];
    const tx = this.db.transaction(() => recs.map((rec) => this.recordSync(rec)));
    return this.write(() => tx.immediate());
  }
  /** The outbound row first: a key already recorded returns that row and writes nothing else. */
  private recordSync(rec: ReplyRecord): OutboundRow {
    const row = this.q(
      "INSERT INTO outbound (key, learner_id, payload, state, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (key) DO NOTHING RETURNING *",
    ).get(rec.outbound.key, rec.learnerId, rec.outbound.payload, rec.outbound.at, rec.outbound.at) as Row | undefined;
    if (!row) return outboundFromRow(this.q("SELECT * FROM outbound WHERE key = ?").get(rec.outbound.key) as Row);
    if (rec.history) {
      const h = rec.history;
      this.q("INSERT INTO history (learner_id, role, content, at) VALUES (?, 'user', ?, ?), (?, 'assistant', ?, ?)").run(rec.learnerId, h.user, h.at, rec.learnerId, h.assistant, h.at);
    }
    if (rec.usage) {
      const u = rec.usage;
      this.q(
        `INSERT INTO llm_usage (learner_id, day, model, messages, prompt_tokens, completion_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (learner_id, day, model) DO UPDATE SET messages = messages + excluded.messages,
           prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens,
           cost_usd = cost_usd + excluded.cost_usd`,
      ).run(u.learnerId, u.day, u.model, u.messages, u.promptTokens, u.completionTokens, u.costUsd);
    }
    if (rec.quotaNoticeDay) this.q("UPDATE learners SET quota_notice_day = ? WHERE id = ?").run(rec.quotaNoticeDay, rec.learnerId);
    return outboundFromRow(row);
  }
  async markOutbound(id: number, result: { state: "sent"; waMessageId: string } | { state: "failed"; error: string }, now: number): Promise<void> {
    await this.write(() => this.markSync(id, result, now));
  }
  private markSync(id: number, result: { state: "sent"; waMessageId: string } | { state: "failed"; error: string }, now: number): void {
    if (result.state === "sent") this.q("UPDATE outbound SET state = 'sent', wa_message_id = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?").run(result.waMessageId, now, id);
    else this.q("UPDATE outbound SET state = 'failed', error = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?").run(result.error, now, id);
  }
  async finishReply(outboundId: number, result: SendResult, inboundId: number | undefined, now: number, release?: Release): Promise<void> {
    await this.finishReplies([{ outboundId, result, inboundId, now, release }]);
  }
  async finishReplies(items: Settle[]): Promise<void> {
    if (!items.length) return;
    await this.write(() => this.db.transaction(() => {
      for (const it of items) {
        this.markSync(it.outboundId, it.result, it.now);
        if (it.inboundId !== undefined) this.settleInbound(it.inboundId, "done", it.release);
        else if (it.release) this.releaseSync(it.release);
      }
    }).immediate());
  }
  async bumpOutbound(id: number, error: string, now: number): Promise<number> {
    const r = (await this.write(() => this.q("UPDATE outbound SET attempts = attempts + 1, error = ?, updated_at = ? WHERE id = ? RETURNING attempts").get(error, now, id))) as { attempts: number } | undefined;
    return r?.attempts ?? 0;
  }
  async sendFailures(limit: number): Promise<OutboundRow[]> {
    return (this.q(`SELECT * FROM outbound WHERE state = 'failed' ORDER BY id DESC ${LIMIT}`).all(limit) as Row[]).map(outboundFromRow);
  }
  async outboundFor(learnerId: string): Promise<OutboundRow[]> {
    return (this.q("SELECT * FROM outbound WHERE learner_id = ? ORDER BY id").all(learnerId) as Row[]).map(outboundFromRow);
  }

  async applyPlanChange(change: PlanChangeInput, now: number): Promise<PlanChangeOutcome> {
    return this.durable((): PlanChangeOutcome => {
      if (this.q("INSERT INTO stripe_events (event_id, at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING").run(change.eventId, now).changes === 0) return "duplicate";
      const l = (change.learnerId && (this.q("SELECT id FROM learners WHERE id = ?").get(change.learnerId) as { id: string } | undefined))
        || (change.customerId && (this.q("SELECT id FROM learners WHERE stripe_customer_id = ?").get(change.customerId) as { id: string } | undefined))
        || (change.subscriptionId && (this.q("SELECT id FROM learners WHERE stripe_subscription_id = ?").get(change.subscriptionId) as { id: string } | undefined))
        || undefined;
      if (!l) return "no_learner";
      this.q(
        `UPDATE learners SET plan = ?, stripe_customer_id = COALESCE(?, stripe_customer_id), stripe_subscription_id = COALESCE(?, stripe_subscription_id) WHERE id = ?`,
      ).run(change.plan, change.customerId ?? null, change.subscriptionId ?? null, l.id);
      return "applied";
    });
  }
  async markStripeEvent(eventId: string, now: number): Promise<boolean> {
    return this.durable(() => this.q("INSERT INTO stripe_events (event_id, at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING").run(eventId, now).changes === 1);
  }
}
