import { EventEmitter } from "node:events";
import type Database from "better-sqlite3";
import { migrateSqlite, refuseBareSqliteLimit } from "@tierstack/common";
import { sqlite as d, stored } from "./dialect.js";
import { newLeaseToken } from "./lease-token.js";
import { decideFailure, missed } from "./outcome.js";
import { rowToOutbox, rowToTask, type OutboxDbRow, type TaskRow } from "./rows.js";
import { sqliteMigrations } from "./schema.js";
import { claimable, claimSet, CLAIM_ORDER, completeSet, EVENTS, eventsFor, fenced, NEW_TASK_COLUMNS, newTaskValues, statements, type Transition } from "./transitions.js";
import type {
  ClaimRequest, CompleteRequest, CutoverState, DepthRow, EnqueueInput, EnqueueResult, FailRequest, Lease, ListFilter, Outcome, OutboxRow, TaskStore,
} from "./types.js";

/**
 * The single-box store: better-sqlite3 (WAL, busy_timeout, synchronous FULL from openSqlite).
 * Every write is a BEGIN IMMEDIATE transaction; a batch of claims or completions shares one
 * transaction, so one fsync serves them all. The statements are the shared ones
 * (transitions.ts); what is here is how they run on this driver: one UPDATE … RETURNING per
 * request inside the transaction, and the outbox rows written after it in the same transaction.
 */
const S = statements(d);
const INSERT = `INSERT INTO tasks (${NEW_TASK_COLUMNS})
  VALUES (${newTaskValues(d, { queue: "$1", priority: "$2", runAtMs: "$3", maxAttempts: "$4", payload: "$5", key: "$6" })})
  ON CONFLICT DO NOTHING RETURNING *`;
const claimSql = (many: boolean) => `UPDATE tasks SET ${claimSet(d, "$1", "$2", "$3")}
  WHERE id IN (SELECT id FROM tasks WHERE ${claimable(d, "$4", many)} ORDER BY ${CLAIM_ORDER} LIMIT ${d.limit("$5")}) RETURNING *`;
const COMPLETE = `UPDATE tasks SET ${completeSet(d, "$3")} WHERE id = $1 AND ${fenced(d, "$2")} RETURNING *`;
const OUTBOX = `INSERT INTO outbox (queue, event, task_id, attempt, created_at) VALUES ($1, $2, $3, $4, ${d.now})`;

/** `$1…$n` bind by name in better-sqlite3; `$now` is the transaction's one time. Every parameter as dialect.ts's `stored` says. */
const bind = (values: readonly unknown[], now: number) => Object.fromEntries([["now", now], ...values.map((v, i) => [String(i + 1), stored.param(v)])]) as Record<string, unknown>;

export class SqliteTaskStore implements TaskStore {
  readonly kind = "sqlite" as const;
  private readonly wake = new EventEmitter();
  private readonly stmts = new Map<string, Database.Statement>();
  private relaying = false;

  constructor(private readonly db: Database.Database) {
    this.wake.setMaxListeners(0);
  }

  async migrate(): Promise<void> {
    migrateSqlite(this.db, "task-queue", sqliteMigrations);
  }

  private q(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) this.stmts.set(sql, (s = this.db.prepare(refuseBareSqliteLimit(sql))));
    return s;
  }
  private all(sql: string, values: readonly unknown[], now = Date.now()): TaskRow[] {
    return this.q(sql).all(bind(values, now)) as TaskRow[];
  }
  private row(id: number): TaskRow | undefined {
    return this.all(S.get, [id])[0];
  }
  /** A write transaction (BEGIN IMMEDIATE) with one `now` for all its statements. */
  private write<T>(fn: (now: number) => T): T {
    return this.db.transaction(() => fn(Date.now())).immediate();
  }
  private events(rows: TaskRow[], rules: Transition["events"], now: number): void {
    for (const r of rows) for (const e of eventsFor(rules, r.state)) this.q(OUTBOX).run(bind([stored.text(r.queue), e, r.id, r.attempts], now));
  }
  /** One shared transition (transitions.ts) and its outbox rows, inside the caller's transaction. */
  private apply(t: Transition, values: readonly unknown[], now: number): TaskRow[] {
    const rows = this.all(`${t.sql} RETURNING *`, values, now);
    this.events(rows, t.events, now);
    return rows;
  }
  private transition(t: Transition, values: readonly unknown[]): TaskRow[] {
    return this.write((now) => this.apply(t, values, now));
  }
  private emitWake(queues: Iterable<string>): void {
    for (const q of new Set(queues)) this.wake.emit("wake", q);
  }

  async enqueue(items: EnqueueInput[]): Promise<EnqueueResult[]> {
    const out = this.write((now) =>
      items.map((it): EnqueueResult => {
        const [r] = this.all(INSERT, [it.queue, it.priority, it.runAt ?? null, it.maxAttempts, stored.json(it.payload), it.idempotencyKey ?? null], now);
        if (r) this.events([r], EVENTS.enqueue, now);
        return r ? { task: rowToTask(d, r), created: true } : { task: rowToTask(d, this.all(S.byKey, [it.queue, it.idempotencyKey], now)[0] as TaskRow), created: false };
      }),
    );
    this.emitWake(out.filter((o) => o.created).map((o) => o.task.queue));
    return out;
  }

  async claim(reqs: ClaimRequest[]): Promise<Lease[][]> {
    // One queue: equality, so the partial ready index yields rows in claim order without a sort.
    return this.write((now) =>
      reqs.map((r) => {
        const token = newLeaseToken();
        const queues = [...new Set(r.queues)];
        const many = queues.length > 1;
        const rows = this.all(claimSql(many), [token, r.owner, r.leaseSeconds * 1000, many ? d.list(queues) : queues[0], r.limit], now);
        rows.sort((a, b) => b.priority - a.priority || Number(a.run_at) - Number(b.run_at) || Number(a.id) - Number(b.id));
        this.events(rows, EVENTS.claim, now);
        return rows.map((row) => ({ task: rowToTask(d, row), leaseToken: token }));
      }),
    );
  }

  async complete(reqs: CompleteRequest[]): Promise<Outcome[]> {
    return this.write((now) =>
      reqs.map((r): Outcome => {
        const [row] = this.all(COMPLETE, [r.id, r.leaseToken, stored.json(r.result)], now);
        if (!row) return missed(d, this.row(r.id), "stale", r.leaseToken);
        this.events([row], EVENTS.complete, now);
        return { status: "ok", task: rowToTask(d, row) };
      }),
    );
  }

  async heartbeat(id: number, leaseToken: string, leaseSeconds: number): Promise<Outcome> {
    const [row] = this.transition(S.heartbeat, [id, leaseToken, leaseSeconds * 1000]);
    return row ? { status: "ok", task: rowToTask(d, row) } : missed(d, this.row(id), "stale");
  }

  async fail(req: FailRequest): Promise<Outcome> {
    return this.write((now): Outcome => {
      const cur = this.row(req.id);
      if (!cur) return { status: "not_found" };
      const o = decideFailure(cur, req.retry, req.backoff);
      const [row] = o.state === "dead"
        ? this.apply(S.failDead, [req.id, req.leaseToken, req.error, cur.attempts], now)
        : this.apply(S.failRetry, [req.id, req.leaseToken, req.error, cur.attempts, o.delayMs], now);
      return row ? { status: "ok", task: rowToTask(d, row) } : missed(d, cur, "stale");
    });
  }

  async cancel(id: number): Promise<Outcome> {
    const [row] = this.transition(S.cancel, [id]);
    return row ? { status: "ok", task: rowToTask(d, row) } : missed(d, this.row(id), "conflict");
  }

  async get(id: number) {
    const r = this.row(id);
    return r ? rowToTask(d, r) : undefined;
  }

  async list(f: ListFilter) {
    return this.all(S.list, [f.queue ?? null, f.state ?? null, f.after ?? 0, f.limit]).map((r) => rowToTask(d, r));
  }

  async requeueDead(id: number): Promise<Outcome> {
    const [row] = this.transition(S.requeue, [id]);
    if (!row) return missed(d, this.row(id), "conflict");
    this.emitWake([row.queue]);
    return { status: "ok", task: rowToTask(d, row) };
  }

  async reapExpired(): Promise<{ requeued: number; dead: number }> {
    const rows = this.transition(S.reap, []);
    const ready = rows.filter((r) => r.state === "ready");
    this.emitWake(ready.map((r) => r.queue));
    return { requeued: ready.length, dead: rows.length - ready.length };
  }

  async prune(before: number): Promise<{ tasks: number; outbox: number }> {
    return this.write((now) => ({
      tasks: this.q(S.pruneTasks).run(bind([d.time(before)], now)).changes,
      outbox: this.q(S.pruneOutbox).run(bind([d.time(before)], now)).changes,
    }));
  }

  async relayBatch(limit: number, fn: (rows: OutboxRow[]) => Promise<number[]>): Promise<number> {
    if (this.relaying) return 0;
    this.relaying = true;
    try {
      const rows = (this.q(S.unpublished).all(bind([limit], Date.now())) as OutboxDbRow[]).map((r) => rowToOutbox(d, r));
      const published = rows.length ? await fn(rows) : [];
      if (published.length) this.write((now) => this.q(S.markPublished).run(bind([d.list(published)], now)));
      return published.length;
    } finally {
      this.relaying = false;
    }
  }

  async depth(): Promise<DepthRow[]> {
    return (this.q(S.depth).all() as DepthRow[]).map((r) => ({ ...r, queue: stored.text(r.queue) }));
  }

  async outboxLag(): Promise<{ unpublished: number; oldestSeconds: number }> {
    const r = this.q(S.outboxLag).get(bind([], Date.now())) as { n: number; age: number | null };
    return { unpublished: r.n, oldestSeconds: Math.max(0, r.age ?? 0) };
  }

  onWake(listener: (queue: string) => void): () => void {
    this.wake.on("wake", listener);
    return () => this.wake.off("wake", listener);
  }

  /** The durability in force on this connection (FULL = a commit is on disk). */
  synchronous(): string {
    const v = Number(this.db.pragma("synchronous", { simple: true }));
    return ["OFF", "NORMAL", "FULL", "EXTRA"][v] ?? String(v);
  }

  async cutoverState(): Promise<CutoverState | undefined> {
    const r = this.q(S.cutoverGet).get() as { mode: CutoverState["mode"]; retry_after_seconds: number } | undefined;
    return r && { mode: r.mode, retryAfterSeconds: r.retry_after_seconds };
  }

  async saveCutoverState(state: CutoverState | undefined): Promise<void> {
    if (state) this.q(S.cutoverPut).run(bind([state.mode, state.retryAfterSeconds], Date.now()));
    else this.q(S.cutoverClear).run();
  }

  async ping(): Promise<void> {
    this.q("SELECT 1").get();
  }

  async close(): Promise<void> {
    this.wake.removeAllListeners();
    this.db.close();
  }
}
