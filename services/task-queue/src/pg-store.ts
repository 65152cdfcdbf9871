import { EventEmitter } from "node:events";
import pg from "pg";
import { migratePostgres, type Migration } from "@tierstack/common";
import { newLeaseToken } from "./sqlite-store.js";
import type {
  ClaimRequest, CompleteRequest, DepthRow, EnqueueInput, EnqueueResult, FailRequest, Lease, ListFilter, Outcome, OutboxRow, Task, TaskEvent, TaskState, TaskStore,
} from "./types.js";

/**
 * The tier-50/100 store: PostgreSQL through `pg`. The hot paths are single statements (so no
 * BEGIN/COMMIT round trips): a batch claim picks with FOR UPDATE SKIP LOCKED and leases in the
 * same statement; a batch completion updates every task and writes their outbox rows in one
 * statement. Partial indexes cover only ready/running tasks and unpublished outbox rows, so a
 * large history of finished work does not slow claims. Wake-ups use LISTEN/NOTIFY on a
 * channel named after the schema.
 */
const migrations: Migration[] = [
  {
    version: 1,
    name: "tasks_and_outbox",
    sql: `
      CREATE TABLE tasks (
        id bigserial PRIMARY KEY,
        queue text NOT NULL,
        state text NOT NULL,
        priority integer NOT NULL DEFAULT 0,
        run_at timestamptz NOT NULL DEFAULT now(),
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        payload jsonb,
        result jsonb,
        last_error text,
        idempotency_key text,
        lease_token text,
        lease_owner text,
        lease_expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      );
      CREATE UNIQUE INDEX tasks_idempotency ON tasks (queue, idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX tasks_ready ON tasks (queue, priority DESC, run_at, id) WHERE state = 'ready';
      CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE state = 'running';
      CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
      CREATE INDEX tasks_dead ON tasks (queue, id) WHERE state = 'dead';
      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        queue text NOT NULL,
        event text NOT NULL,
        task_id bigint NOT NULL,
        attempt integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
      );
      CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
      CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;`,
  },
];

interface Row {
  id: string; queue: string; state: TaskState; priority: number; run_at: Date; attempts: number; max_attempts: number;
  payload: unknown; result: unknown; last_error: string | null; idempotency_key: string | null;
  lease_token: string | null; lease_owner: string | null; lease_expires_at: Date | null;
  created_at: Date; updated_at: Date; finished_at: Date | null;
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());
function rowToTask(r: Row): Task {
  return {
    id: Number(r.id), queue: r.queue, state: r.state, priority: r.priority, runAt: r.run_at.toISOString(), attempts: r.attempts,
    maxAttempts: r.max_attempts, payload: r.payload ?? null, result: r.result ?? null, lastError: r.last_error,
    idempotencyKey: r.idempotency_key, leaseOwner: r.lease_owner, leaseExpiresAt: iso(r.lease_expires_at),
    createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(), finishedAt: iso(r.finished_at),
  };
}

const ENQUEUE = `
  WITH input AS (
    SELECT i.*, nextval('tasks_id_seq') AS new_id
    FROM unnest($1::text[], $2::int[], $3::float8[], $4::int[], $5::jsonb[], $6::text[]) WITH ORDINALITY
      AS i(queue, priority, run_at_ms, max_attempts, payload, idem, n)
  ), ins AS (
    INSERT INTO tasks (id, queue, state, priority, run_at, max_attempts, payload, idempotency_key)
    SELECT new_id, queue, 'ready', priority, COALESCE(to_timestamp(run_at_ms / 1000.0), now()), max_attempts, payload, idem FROM input ORDER BY n
    ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
  ), ev AS (
    INSERT INTO outbox (queue, event, task_id, attempt) SELECT queue, 'enqueued', id, 0 FROM ins ORDER BY id
  ), nt AS (
    SELECT count(pg_notify($7, q)) AS n FROM (SELECT DISTINCT queue AS q FROM ins) x
  )
  SELECT input.n AS input_n, ins.* FROM input LEFT JOIN ins ON ins.id = input.new_id CROSS JOIN nt ORDER BY input.n`;

/** $1 is one queue (text: the ready index yields rows already in claim order) or several (text[]: sorted). */
const claimSql = (many: boolean) => `
  WITH slots AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::int[]) WITH ORDINALITY AS s(owner, lease_ms, token, req, n)
  ), picked AS (
    SELECT c.id, row_number() OVER (ORDER BY c.priority DESC, c.run_at, c.id) AS n FROM (
      SELECT id, priority, run_at FROM tasks
      WHERE state = 'ready' AND ${many ? "queue = ANY($1::text[])" : "queue = $1::text"} AND run_at <= now()
      ORDER BY priority DESC, run_at, id
      LIMIT $6 FOR UPDATE SKIP LOCKED
    ) c
  ), claimed AS (
    UPDATE tasks t SET state = 'running', attempts = t.attempts + 1, lease_token = s.token, lease_owner = s.owner,
      lease_expires_at = now() + s.lease_ms * interval '1 millisecond', updated_at = now()
    FROM picked p JOIN slots s ON s.n = p.n
    WHERE t.id = p.id
    RETURNING t.*, s.req, p.n AS slot
  ), ev AS (
    INSERT INTO outbox (queue, event, task_id, attempt) SELECT queue, 'claimed', id, attempts FROM claimed
  )
  SELECT * FROM claimed ORDER BY slot`;
const CLAIM_ONE = claimSql(false);
const CLAIM_MANY = claimSql(true);

const COMPLETE = `
  WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[]) AS i(id, token, result)
  ), done AS (
    UPDATE tasks t SET state = 'completed', result = i.result, finished_at = now(), updated_at = now(), lease_expires_at = NULL
    FROM input i
    WHERE t.id = i.id AND t.state = 'running' AND t.lease_token = i.token AND t.lease_expires_at > now()
    RETURNING t.*
  ), ev AS (
    INSERT INTO outbox (queue, event, task_id, attempt) SELECT queue, 'completed', id, attempts FROM done
  )
  SELECT * FROM done`;

const FAIL = `
  WITH upd AS (
    UPDATE tasks t SET
      state = CASE WHEN NOT $3::boolean OR t.attempts >= t.max_attempts THEN 'dead' ELSE 'ready' END,
      finished_at = CASE WHEN NOT $3::boolean OR t.attempts >= t.max_attempts THEN now() ELSE NULL END,
      run_at = CASE WHEN NOT $3::boolean OR t.attempts >= t.max_attempts THEN t.run_at
               ELSE now() + LEAST($6::float8, $5::float8 * power(2, GREATEST(t.attempts - 1, 0))) * $7::float8 * interval '1 millisecond' END,
      lease_token = CASE WHEN NOT $3::boolean OR t.attempts >= t.max_attempts THEN t.lease_token ELSE NULL END,
      lease_owner = NULL, lease_expires_at = NULL, last_error = $4, updated_at = now()
    WHERE t.id = $1 AND t.state = 'running' AND t.lease_token = $2 AND t.lease_expires_at > now()
    RETURNING t.*
  ), ev AS (
    INSERT INTO outbox (queue, event, task_id, attempt)
    SELECT queue, e, id, attempts FROM upd, (VALUES (1, 'failed'), (2, 'dead_lettered')) v(o, e)
    WHERE e = 'failed' OR state = 'dead' ORDER BY o
  )
  SELECT * FROM upd`;

const REAP = `
  WITH upd AS (
    UPDATE tasks t SET
      state = CASE WHEN t.attempts >= t.max_attempts THEN 'dead' ELSE 'ready' END,
      finished_at = CASE WHEN t.attempts >= t.max_attempts THEN now() ELSE NULL END,
      lease_token = CASE WHEN t.attempts >= t.max_attempts THEN t.lease_token ELSE NULL END,
      lease_owner = NULL, lease_expires_at = NULL, last_error = 'lease expired', updated_at = now()
    WHERE t.id IN (SELECT id FROM tasks WHERE state = 'running' AND lease_expires_at <= now() ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
    RETURNING t.*
  ), ev AS (
    INSERT INTO outbox (queue, event, task_id, attempt)
    SELECT queue, e, id, attempts FROM upd, (VALUES (1, 'lease_expired'), (2, 'dead_lettered')) v(o, e)
    WHERE e = 'lease_expired' OR state = 'dead' ORDER BY id, o
  )
  SELECT queue, state FROM upd`;

export class PgTaskStore implements TaskStore {
  readonly kind = "postgres" as const;
  private readonly wake = new EventEmitter();
  private readonly channel: string;
  private listener?: pg.Client;
  private closed = false;
  private reconnectTimer?: NodeJS.Timeout;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: { schema?: string; connectionString: string; onError?: (err: unknown, where: string) => void },
  ) {
    this.wake.setMaxListeners(0);
    this.channel = `task_queue_${opts.schema ?? "public"}`;
    pool.on("error", (err) => opts.onError?.(err, "idle pool client"));
  }

  async migrate(): Promise<void> {
    await migratePostgres(this.pool, "task-queue", this.opts.schema, migrations);
  }

  /** Start listening for wake-ups (reconnects by itself after a database outage). */
  async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.opts.connectionString,
      ...(this.opts.schema ? { options: `-c search_path=${this.opts.schema}` } : {}),
    });
    const retry = (err?: unknown) => {
      if (err) this.opts.onError?.(err, "listen connection");
      if (this.listener === client) this.listener = undefined;
      client.removeAllListeners();
      client.on("error", () => undefined);
      void client.end().catch(() => undefined);
      if (!this.closed && !this.reconnectTimer) {
        this.reconnectTimer = setTimeout(() => {
          this.reconnectTimer = undefined;
          void this.listen();
        }, 1000);
      }
    };
    client.on("error", retry);
    client.on("end", () => retry());
    client.on("notification", (n) => {
      if (n.channel === this.channel && n.payload) this.wake.emit("wake", n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
      this.listener = client;
      // Anything enqueued while we were not listening: wake every waiter once.
      this.wake.emit("wake", "*");
    } catch (err) {
      retry(err);
    }
  }

  async enqueue(items: EnqueueInput[]): Promise<EnqueueResult[]> {
    const { rows } = await this.pool.query<Row & { input_n: string }>({
      name: "tq_enqueue",
      text: ENQUEUE,
      values: [
        items.map((i) => i.queue),
        items.map((i) => i.priority),
        items.map((i) => i.runAt ?? null),
        items.map((i) => i.maxAttempts),
        items.map((i) => JSON.stringify(i.payload ?? null)),
        items.map((i) => i.idempotencyKey ?? null),
        this.channel,
      ],
    });
    const out: EnqueueResult[] = [];
    for (let k = 0; k < items.length; k++) {
      const r = rows[k];
      if (r && r.id !== null) {
        out.push({ task: rowToTask(r), created: true });
        continue;
      }
      const it = items[k] as EnqueueInput;
      const existing = await this.pool.query<Row>("SELECT * FROM tasks WHERE queue = $1 AND idempotency_key = $2", [it.queue, it.idempotencyKey]);
      out.push({ task: rowToTask(existing.rows[0] as Row), created: false });
    }
    return out;
  }

  async claim(reqs: ClaimRequest[]): Promise<Lease[][]> {
    const out: Lease[][] = reqs.map(() => []);
    // One statement per distinct set of queues (usually one): slots carry each caller's lease.
    const groups = new Map<string, number[]>();
    reqs.forEach((r, i) => {
      const key = [...r.queues].sort().join("\u0000");
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    for (const idx of groups.values()) {
      const owners: string[] = [], leases: number[] = [], tokens: string[] = [], reqIdx: number[] = [];
      const tokenOf = new Map<number, string>();
      for (const i of idx) {
        const r = reqs[i] as ClaimRequest;
        const token = newLeaseToken();
        tokenOf.set(i, token);
        for (let k = 0; k < r.limit; k++) {
          owners.push(r.owner);
          leases.push(r.leaseSeconds * 1000);
          tokens.push(token);
          reqIdx.push(i);
        }
      }
      const queues = [...new Set((reqs[idx[0] as number] as ClaimRequest).queues)];
      const many = queues.length > 1;
      const { rows } = await this.pool.query<Row & { req: number }>({
        name: many ? "tq_claim_many" : "tq_claim_one",
        text: many ? CLAIM_MANY : CLAIM_ONE,
        values: [many ? queues : queues[0], owners, leases, tokens, reqIdx, owners.length],
      });
      for (const row of rows) (out[row.req] as Lease[]).push({ task: rowToTask(row), leaseToken: tokenOf.get(row.req) as string });
    }
    return out;
  }

  async complete(reqs: CompleteRequest[]): Promise<Outcome[]> {
    const { rows } = await this.pool.query<Row>({
      name: "tq_complete",
      text: COMPLETE,
      values: [reqs.map((r) => r.id), reqs.map((r) => r.leaseToken), reqs.map((r) => JSON.stringify(r.result ?? null))],
    });
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    const missing = reqs.filter((r) => !byId.has(r.id)).map((r) => r.id);
    const current = new Map<number, Row>();
    if (missing.length) {
      const cur = await this.pool.query<Row>("SELECT * FROM tasks WHERE id = ANY($1::bigint[])", [missing]);
      for (const r of cur.rows) current.set(Number(r.id), r);
    }
    return reqs.map((r): Outcome => {
      const done = byId.get(r.id);
      if (done) return done.lease_token === r.leaseToken ? { status: "ok", task: rowToTask(done) } : { status: "stale", task: rowToTask(done) };
      const cur = current.get(r.id);
      if (!cur) return { status: "not_found" };
      // A retry of this lease's own, already committed completion is answered ok (never a second completion).
      if (cur.state === "completed" && cur.lease_token === r.leaseToken) return { status: "ok", task: rowToTask(cur) };
      return { status: "stale", task: rowToTask(cur) };
    });
  }

  private async current(id: number, miss: "stale" | "conflict"): Promise<Outcome> {
    const { rows } = await this.pool.query<Row>("SELECT * FROM tasks WHERE id = $1", [id]);
    return rows[0] ? { status: miss, task: rowToTask(rows[0]) } : { status: "not_found" };
  }

  async heartbeat(id: number, leaseToken: string, leaseSeconds: number): Promise<Outcome> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE tasks SET lease_expires_at = now() + $3::int * interval '1 millisecond', updated_at = now()
       WHERE id = $1 AND state = 'running' AND lease_token = $2 AND lease_expires_at > now() RETURNING *`,
      [id, leaseToken, leaseSeconds * 1000],
    );
    return rows[0] ? { status: "ok", task: rowToTask(rows[0]) } : this.current(id, "stale");
  }

  async fail(req: FailRequest): Promise<Outcome> {
    const { rows } = await this.pool.query<Row>({
      name: "tq_fail",
      text: FAIL,
      values: [req.id, req.leaseToken, req.retry, req.error, req.backoffBaseMs, req.backoffMaxMs, req.jitter],
    });
    return rows[0] ? { status: "ok", task: rowToTask(rows[0]) } : this.current(req.id, "stale");
  }

  async cancel(id: number): Promise<Outcome> {
    const { rows } = await this.pool.query<Row>(
      `WITH upd AS (
         UPDATE tasks SET state = 'cancelled', finished_at = now(), updated_at = now(), lease_expires_at = NULL
         WHERE id = $1 AND state IN ('ready', 'running') RETURNING *
       ), ev AS (INSERT INTO outbox (queue, event, task_id, attempt) SELECT queue, 'cancelled', id, attempts FROM upd)
       SELECT * FROM upd`,
      [id],
    );
    return rows[0] ? { status: "ok", task: rowToTask(rows[0]) } : this.current(id, "conflict");
  }

  async get(id: number): Promise<Task | undefined> {
    const { rows } = await this.pool.query<Row>("SELECT * FROM tasks WHERE id = $1", [id]);
    return rows[0] ? rowToTask(rows[0]) : undefined;
  }

  async list(f: ListFilter): Promise<Task[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM tasks WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR state = $2) AND id > $3 ORDER BY id LIMIT $4`,
      [f.queue ?? null, f.state ?? null, f.after ?? 0, f.limit],
    );
    return rows.map(rowToTask);
  }

  async requeueDead(id: number): Promise<Outcome> {
    const { rows } = await this.pool.query<Row>(
      `WITH upd AS (
         UPDATE tasks SET state = 'ready', attempts = 0, run_at = now(), finished_at = NULL, updated_at = now(),
           lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
         WHERE id = $1 AND state = 'dead' RETURNING *
       ), ev AS (INSERT INTO outbox (queue, event, task_id, attempt) SELECT queue, 'requeued', id, 0 FROM upd),
       nt AS (SELECT count(pg_notify($2, queue)) AS n FROM upd)
       SELECT upd.* FROM upd CROSS JOIN nt`,
      [id, this.channel],
    );
    return rows[0] ? { status: "ok", task: rowToTask(rows[0]) } : this.current(id, "conflict");
  }

  async reapExpired(): Promise<{ requeued: number; dead: number }> {
    const { rows } = await this.pool.query<{ queue: string; state: TaskState }>({ name: "tq_reap", text: REAP });
    const ready = rows.filter((r) => r.state === "ready");
    if (ready.length) {
      await this.pool.query("SELECT pg_notify($1, q) FROM unnest($2::text[]) q", [this.channel, [...new Set(ready.map((r) => r.queue))]]);
    }
    return { requeued: ready.length, dead: rows.length - ready.length };
  }

  async prune(before: number): Promise<{ tasks: number; outbox: number }> {
    const at = new Date(before);
    const t = await this.pool.query("DELETE FROM tasks WHERE finished_at < $1 AND state IN ('completed', 'cancelled', 'dead')", [at]);
    const o = await this.pool.query("DELETE FROM outbox WHERE published_at < $1", [at]);
    return { tasks: t.rowCount ?? 0, outbox: o.rowCount ?? 0 };
  }

  async relayBatch(limit: number, fn: (rows: OutboxRow[]) => Promise<number[]>): Promise<number> {
    const client = await this.pool.connect();
    let ok = false;
    try {
      await client.query("BEGIN");
      // One relay at a time across replicas, so events leave in outbox order.
      const lock = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok", [this.channel]);
      if (!lock.rows[0]?.ok) {
        await client.query("ROLLBACK");
        ok = true;
        return 0;
      }
      const { rows } = await client.query<{ id: string; queue: string; event: TaskEvent; task_id: string; attempt: number; created_at: Date }>(
        "SELECT * FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
        [limit],
      );
      const published = rows.length
        ? await fn(rows.map((r) => ({ id: Number(r.id), queue: r.queue, event: r.event, taskId: Number(r.task_id), attempt: r.attempt, createdAt: r.created_at.toISOString() })))
        : [];
      if (published.length) await client.query("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [published]);
      await client.query("COMMIT");
      ok = true;
      return published.length;
    } finally {
      if (!ok) await client.query("ROLLBACK").catch(() => undefined);
      client.release(!ok);
    }
  }

  async depth(): Promise<DepthRow[]> {
    const { rows } = await this.pool.query<{ queue: string; state: TaskState; count: string }>(
      "SELECT queue, state, count(*) AS count FROM tasks WHERE state IN ('ready', 'running', 'dead') GROUP BY queue, state",
    );
    return rows.map((r) => ({ queue: r.queue, state: r.state, count: Number(r.count) }));
  }

  async outboxLag(): Promise<{ unpublished: number; oldestSeconds: number }> {
    const { rows } = await this.pool.query<{ n: string; age: number | null }>(
      "SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS age FROM outbox WHERE published_at IS NULL",
    );
    return { unpublished: Number(rows[0]?.n ?? 0), oldestSeconds: Math.max(0, rows[0]?.age ?? 0) };
  }

  onWake(listener: (queue: string) => void): () => void {
    this.wake.on("wake", listener);
    return () => this.wake.off("wake", listener);
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.wake.removeAllListeners();
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      l.removeAllListeners();
      l.on("error", () => undefined);
      await l.end().catch(() => undefined);
    }
    await this.pool.end();
  }
}
