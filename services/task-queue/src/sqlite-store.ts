import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type Database from "better-sqlite3";
import { migrateSqlite, type Migration } from "@tierstack/common";
import type {
  ClaimRequest, CompleteRequest, DepthRow, EnqueueInput, EnqueueResult, FailRequest, Lease, ListFilter, Outcome, OutboxRow, Task, TaskEvent, TaskState, TaskStore,
} from "./types.js";

/**
 * The single-box store: better-sqlite3 (WAL, busy_timeout, synchronous FULL from openSqlite).
 * Times are epoch milliseconds. Every write is a BEGIN IMMEDIATE transaction; a batch of
 * claims or completions shares one transaction, so one fsync serves them all.
 */
const migrations: Migration[] = [
  {
    version: 1,
    name: "tasks_and_outbox",
    sql: `
      CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        run_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        payload TEXT,
        result TEXT,
        last_error TEXT,
        idempotency_key TEXT,
        lease_token TEXT,
        lease_owner TEXT,
        lease_expires_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        finished_at INTEGER
      );
      CREATE UNIQUE INDEX tasks_idempotency ON tasks (queue, idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX tasks_ready ON tasks (queue, priority DESC, run_at, id) WHERE state = 'ready';
      CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE state = 'running';
      CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
      CREATE INDEX tasks_dead ON tasks (queue, id) WHERE state = 'dead';
      CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        event TEXT NOT NULL,
        task_id INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        published_at INTEGER
      );
      CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
      CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;`,
  },
];

interface Row {
  id: number; queue: string; state: TaskState; priority: number; run_at: number; attempts: number; max_attempts: number;
  payload: string | null; result: string | null; last_error: string | null; idempotency_key: string | null;
  lease_token: string | null; lease_owner: string | null; lease_expires_at: number | null;
  created_at: number; updated_at: number; finished_at: number | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const parse = (s: string | null) => (s === null ? null : (JSON.parse(s) as unknown));

export function rowToTask(r: Row): Task {
  return {
    id: r.id, queue: r.queue, state: r.state, priority: r.priority, runAt: iso(r.run_at) as string, attempts: r.attempts,
    maxAttempts: r.max_attempts, payload: parse(r.payload), result: parse(r.result), lastError: r.last_error,
    idempotencyKey: r.idempotency_key, leaseOwner: r.lease_owner, leaseExpiresAt: iso(r.lease_expires_at),
    createdAt: iso(r.created_at) as string, updatedAt: iso(r.updated_at) as string, finishedAt: iso(r.finished_at),
  };
}

export const newLeaseToken = () => randomBytes(12).toString("base64url");

export class SqliteTaskStore implements TaskStore {
  readonly kind = "sqlite" as const;
  private readonly wake = new EventEmitter();
  private relaying = false;

  constructor(private readonly db: Database.Database) {
    this.wake.setMaxListeners(0);
  }

  async migrate(): Promise<void> {
    migrateSqlite(this.db, "task-queue", migrations);
  }

  private outbox(queue: string, event: TaskEvent, taskId: number, attempt: number, now: number): void {
    this.db.prepare("INSERT INTO outbox (queue, event, task_id, attempt, created_at) VALUES (?, ?, ?, ?, ?)").run(queue, event, taskId, attempt, now);
  }

  private row(id: number): Row | undefined {
    return this.db.prepare("SELECT * FROM tasks WHERE id = ?").get(id) as Row | undefined;
  }

  async enqueue(items: EnqueueInput[]): Promise<EnqueueResult[]> {
    const now = Date.now();
    const insert = this.db.prepare(
      `INSERT INTO tasks (queue, state, priority, run_at, max_attempts, payload, idempotency_key, created_at, updated_at)
       VALUES (?, 'ready', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *`,
    );
    const byKey = this.db.prepare("SELECT * FROM tasks WHERE queue = ? AND idempotency_key = ?");
    const out = this.db.transaction(() =>
      items.map((it): EnqueueResult => {
        const r = insert.get(it.queue, it.priority, it.runAt ?? now, it.maxAttempts, JSON.stringify(it.payload ?? null), it.idempotencyKey ?? null, now, now) as Row | undefined;
        if (r) {
          this.outbox(r.queue, "enqueued", r.id, 0, now);
          return { task: rowToTask(r), created: true };
        }
        return { task: rowToTask(byKey.get(it.queue, it.idempotencyKey) as Row), created: false };
      }),
    ).immediate();
    for (const q of new Set(out.filter((o) => o.created).map((o) => o.task.queue))) this.wake.emit("wake", q);
    return out;
  }

  async claim(reqs: ClaimRequest[]): Promise<Lease[][]> {
    const now = Date.now();
    // The claim itself is one statement: pick and lease in one UPDATE … RETURNING.
    // One queue: equality, so the partial ready index yields rows in claim order without a sort.
    const claimSql = (many: boolean) =>
      `UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_token = ?, lease_owner = ?, lease_expires_at = ?, updated_at = ?
       WHERE id IN (SELECT id FROM tasks WHERE state = 'ready' AND ${many ? "queue IN (SELECT value FROM json_each(?))" : "queue = ?"} AND run_at <= ?
                    ORDER BY priority DESC, run_at, id LIMIT ?)
       RETURNING *`;
    const claimOne = this.db.prepare(claimSql(false));
    const claimMany = this.db.prepare(claimSql(true));
    return this.db.transaction(() =>
      reqs.map((r) => {
        const token = newLeaseToken();
        const queues = [...new Set(r.queues)];
        const rows = (queues.length > 1
          ? claimMany.all(token, r.owner, now + r.leaseSeconds * 1000, now, JSON.stringify(queues), now, r.limit)
          : claimOne.all(token, r.owner, now + r.leaseSeconds * 1000, now, queues[0], now, r.limit)) as Row[];
        rows.sort((a, b) => b.priority - a.priority || a.run_at - b.run_at || a.id - b.id);
        for (const row of rows) this.outbox(row.queue, "claimed", row.id, row.attempts, now);
        return rows.map((row) => ({ task: rowToTask(row), leaseToken: token }));
      }),
    ).immediate();
  }

  async complete(reqs: CompleteRequest[]): Promise<Outcome[]> {
    const now = Date.now();
    const done = this.db.prepare(
      `UPDATE tasks SET state = 'completed', result = ?, finished_at = ?, updated_at = ?, lease_expires_at = NULL
       WHERE id = ? AND state = 'running' AND lease_token = ? AND lease_expires_at > ? RETURNING *`,
    );
    return this.db.transaction(() =>
      reqs.map((r): Outcome => {
        const row = done.get(JSON.stringify(r.result ?? null), now, now, r.id, r.leaseToken, now) as Row | undefined;
        if (row) {
          this.outbox(row.queue, "completed", row.id, row.attempts, now);
          return { status: "ok", task: rowToTask(row) };
        }
        return this.explain(r.id, r.leaseToken);
      }),
    ).immediate();
  }

  /** Why a fenced write matched nothing: unknown task, or a retry of this token's own completion, or stale. */
  private explain(id: number, token: string): Outcome {
    const cur = this.row(id);
    if (!cur) return { status: "not_found" };
    if (cur.state === "completed" && cur.lease_token === token) return { status: "ok", task: rowToTask(cur) };
    return { status: "stale", task: rowToTask(cur) };
  }

  async heartbeat(id: number, leaseToken: string, leaseSeconds: number): Promise<Outcome> {
    const now = Date.now();
    const row = this.db
      .prepare(`UPDATE tasks SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND state = 'running' AND lease_token = ? AND lease_expires_at > ? RETURNING *`)
      .get(now + leaseSeconds * 1000, now, id, leaseToken, now) as Row | undefined;
    if (row) return { status: "ok", task: rowToTask(row) };
    const cur = this.row(id);
    return cur ? { status: "stale", task: rowToTask(cur) } : { status: "not_found" };
  }

  async fail(req: FailRequest): Promise<Outcome> {
    const now = Date.now();
    return this.db.transaction((): Outcome => {
      const cur = this.db
        .prepare("SELECT * FROM tasks WHERE id = ? AND state = 'running' AND lease_token = ? AND lease_expires_at > ?")
        .get(req.id, req.leaseToken, now) as Row | undefined;
      if (!cur) {
        const any = this.row(req.id);
        return any ? { status: "stale", task: rowToTask(any) } : { status: "not_found" };
      }
      const dead = !req.retry || cur.attempts >= cur.max_attempts;
      const delay = Math.round(Math.min(req.backoffMaxMs, req.backoffBaseMs * 2 ** Math.max(0, cur.attempts - 1)) * req.jitter);
      const row = (dead
        ? this.db.prepare(`UPDATE tasks SET state = 'dead', last_error = ?, finished_at = ?, updated_at = ?, lease_expires_at = NULL WHERE id = ? RETURNING *`).get(req.error, now, now, req.id)
        : this.db.prepare(`UPDATE tasks SET state = 'ready', last_error = ?, run_at = ?, updated_at = ?, lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? RETURNING *`).get(req.error, now + delay, now, req.id)) as Row;
      this.outbox(row.queue, "failed", row.id, row.attempts, now);
      if (dead) this.outbox(row.queue, "dead_lettered", row.id, row.attempts, now);
      return { status: "ok", task: rowToTask(row) };
    }).immediate();
  }

  async cancel(id: number): Promise<Outcome> {
    const now = Date.now();
    return this.db.transaction((): Outcome => {
      const row = this.db
        .prepare(`UPDATE tasks SET state = 'cancelled', finished_at = ?, updated_at = ?, lease_expires_at = NULL WHERE id = ? AND state IN ('ready', 'running') RETURNING *`)
        .get(now, now, id) as Row | undefined;
      if (row) {
        this.outbox(row.queue, "cancelled", row.id, row.attempts, now);
        return { status: "ok", task: rowToTask(row) };
      }
      const cur = this.row(id);
      return cur ? { status: "conflict", task: rowToTask(cur) } : { status: "not_found" };
    }).immediate();
  }

  async get(id: number): Promise<Task | undefined> {
    const r = this.row(id);
    return r ? rowToTask(r) : undefined;
  }

  async list(f: ListFilter): Promise<Task[]> {
    const rows = this.db
      .prepare(`SELECT * FROM tasks WHERE (? IS NULL OR queue = ?) AND (? IS NULL OR state = ?) AND id > ? ORDER BY id LIMIT ?`)
      .all(f.queue ?? null, f.queue ?? null, f.state ?? null, f.state ?? null, f.after ?? 0, f.limit) as Row[];
    return rows.map(rowToTask);
  }

  async requeueDead(id: number): Promise<Outcome> {
    const now = Date.now();
    const out = this.db.transaction((): Outcome => {
      const row = this.db
        .prepare(`UPDATE tasks SET state = 'ready', attempts = 0, run_at = ?, finished_at = NULL, updated_at = ?, lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND state = 'dead' RETURNING *`)
        .get(now, now, id) as Row | undefined;
      if (row) {
        this.outbox(row.queue, "requeued", row.id, 0, now);
        return { status: "ok", task: rowToTask(row) };
      }
      const cur = this.row(id);
      return cur ? { status: "conflict", task: rowToTask(cur) } : { status: "not_found" };
    }).immediate();
    if (out.status === "ok") this.wake.emit("wake", out.task.queue);
    return out;
  }

  async reapExpired(): Promise<{ requeued: number; dead: number }> {
    const now = Date.now();
    const res = this.db.transaction(() => {
      const rows = this.db
        .prepare(`UPDATE tasks SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
                   finished_at = CASE WHEN attempts >= max_attempts THEN ? ELSE NULL END,
                   last_error = 'lease expired', lease_token = CASE WHEN attempts >= max_attempts THEN lease_token ELSE NULL END,
                   lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                 WHERE state = 'running' AND lease_expires_at <= ? RETURNING *`)
        .all(now, now, now) as Row[];
      for (const r of rows) {
        this.outbox(r.queue, "lease_expired", r.id, r.attempts, now);
        if (r.state === "dead") this.outbox(r.queue, "dead_lettered", r.id, r.attempts, now);
      }
      return rows;
    }).immediate();
    for (const q of new Set(res.filter((r) => r.state === "ready").map((r) => r.queue))) this.wake.emit("wake", q);
    return { requeued: res.filter((r) => r.state === "ready").length, dead: res.filter((r) => r.state === "dead").length };
  }

  async prune(before: number): Promise<{ tasks: number; outbox: number }> {
    return this.db.transaction(() => ({
      tasks: this.db.prepare("DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ? AND state IN ('completed', 'cancelled', 'dead')").run(before).changes,
      outbox: this.db.prepare("DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < ?").run(before).changes,
    })).immediate();
  }

  async relayBatch(limit: number, fn: (rows: OutboxRow[]) => Promise<number[]>): Promise<number> {
    if (this.relaying) return 0;
    this.relaying = true;
    try {
      const rows = (this.db.prepare("SELECT * FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?").all(limit) as {
        id: number; queue: string; event: TaskEvent; task_id: number; attempt: number; created_at: number;
      }[]).map((r): OutboxRow => ({ id: r.id, queue: r.queue, event: r.event, taskId: r.task_id, attempt: r.attempt, createdAt: iso(r.created_at) as string }));
      if (rows.length === 0) return 0;
      const published = await fn(rows);
      if (published.length === 0) return 0;
      const mark = this.db.prepare("UPDATE outbox SET published_at = ? WHERE id = ? AND published_at IS NULL");
      const now = Date.now();
      this.db.transaction(() => published.forEach((id) => mark.run(now, id))).immediate();
      return published.length;
    } finally {
      this.relaying = false;
    }
  }

  async depth(): Promise<DepthRow[]> {
    return this.db.prepare("SELECT queue, state, count(*) AS count FROM tasks GROUP BY queue, state").all() as DepthRow[];
  }

  async outboxLag(): Promise<{ unpublished: number; oldestSeconds: number }> {
    const r = this.db.prepare("SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE published_at IS NULL").get() as { n: number; oldest: number | null };
    return { unpublished: r.n, oldestSeconds: r.oldest === null ? 0 : Math.max(0, (Date.now() - r.oldest) / 1000) };
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

  async ping(): Promise<void> {
    this.db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
    this.wake.removeAllListeners();
    this.db.close();
  }
}
