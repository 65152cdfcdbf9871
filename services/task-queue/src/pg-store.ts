import { EventEmitter } from "node:events";
import pg from "pg";
import { migratePostgres } from "@tierstack/common";
import { postgres as d, stored } from "./dialect.js";
import { newLeaseToken } from "./lease-token.js";
import { PgWakeListener } from "./pg-wake.js";
import { decideFailure, missed } from "./outcome.js";
import { rowToOutbox, rowToTask, type OutboxDbRow, type TaskRow } from "./rows.js";
import { postgresMigrations } from "./schema.js";
import { claimable, claimSet, CLAIM_ORDER, completeSet, EVENTS, fenced, NEW_TASK_COLUMNS, newTaskValues, statements, type EventRule, type Transition } from "./transitions.js";
import type { ClaimRequest, CompleteRequest, CutoverState, DepthRow, EnqueueInput, EnqueueResult, FailRequest, Lease, ListFilter, Outcome, OutboxRow, TaskStore } from "./types.js";

/**
 * The tier-50/100 store: PostgreSQL through `pg`. The statements are the shared ones
 * (transitions.ts); what is here is how they run on this driver. Each is one statement (no
 * BEGIN/COMMIT round trips) that writes its outbox rows in a CTE: a batch claim picks with FOR
 * UPDATE SKIP LOCKED and leases in the same statement, per-caller leases travelling as `unnest`
 * arrays; a batch completion updates every task and writes their outbox rows at once. Wake-ups
 * use LISTEN/NOTIFY on a channel named after the schema.
 */
const S = statements(d);

/** The outbox rows of the tasks a CTE named `src` changed, per the transition's event rules. */
function outboxFrom(src: string, rules: readonly EventRule[]): string {
  const values = rules.map((r, i) => `(${i}, '${r.event}', ${r.ifDead ? "true" : "false"})`).join(", ");
  return `INSERT INTO outbox (queue, event, task_id, attempt, created_at)
    SELECT queue, v.e, id, attempts, ${d.now} FROM ${src}, (VALUES ${values}) v(o, e, if_dead)
    WHERE NOT v.if_dead OR ${src}.state = 'dead' ORDER BY id, v.o`;
}

/** A shared transition as one statement: the UPDATE, its outbox rows, the changed rows back. */
const built = new Map<Transition, string>();
function withEvents(t: Transition): string {
  let sql = built.get(t);
  if (!sql) built.set(t, (sql = t.events.length === 0 ? `${t.sql} RETURNING *` : `WITH upd AS (${t.sql} RETURNING *), ev AS (${outboxFrom("upd", t.events)}) SELECT * FROM upd`));
  return sql;
}

const ENQUEUE = `
  WITH input AS (
    SELECT i.*, nextval('tasks_id_seq') AS new_id
    FROM unnest($1::text[], $2::int[], $3::float8[], $4::int[], $5::json[], $6::text[]) WITH ORDINALITY
      AS i(queue, priority, run_at_ms, max_attempts, payload, idem, n)
  ), ins AS (
    INSERT INTO tasks (id, ${NEW_TASK_COLUMNS})
    SELECT new_id, ${newTaskValues(d, { queue: "queue", priority: "priority", runAtMs: "run_at_ms", maxAttempts: "max_attempts", payload: "payload", key: "idem" })}
    FROM input ORDER BY n
    ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
  ), ev AS (${outboxFrom("ins", EVENTS.enqueue)}
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
      SELECT id, priority, run_at FROM tasks WHERE ${claimable(d, "$1", many)}
      ORDER BY ${CLAIM_ORDER} LIMIT $6${d.skipLocked}
    ) c
  ), claimed AS (
    UPDATE tasks t SET ${claimSet(d, "s.token", "s.owner", "s.lease_ms")}
    FROM picked p JOIN slots s ON s.n = p.n
    WHERE t.id = p.id
    RETURNING t.*, s.req, p.n AS slot
  ), ev AS (${outboxFrom("claimed", EVENTS.claim)})
  SELECT * FROM claimed ORDER BY slot`;
const CLAIM_ONE = claimSql(false);
const CLAIM_MANY = claimSql(true);

const COMPLETE = `
  WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::json[]) AS i(id, token, result)
  ), done AS (
    UPDATE tasks t SET ${completeSet(d, "i.result")}
    FROM input i
    WHERE t.id = i.id AND ${fenced(d, "i.token")}
    RETURNING t.*
  ), ev AS (${outboxFrom("done", EVENTS.complete)})
  SELECT * FROM done`;

const PREPARED = new Map([ENQUEUE, CLAIM_ONE, CLAIM_MANY, COMPLETE, S.get, ...[S.heartbeat, S.failRetry, S.failDead, S.reap].map(withEvents)].map((sql, i) => [sql, `tq_${i}`]));

export class PgTaskStore implements TaskStore {
  readonly kind = "postgres" as const;
  private readonly wake = new EventEmitter();
  private readonly channel: string;
  private readonly listener: PgWakeListener;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: { schema?: string; connectionString: string; onError?: (err: unknown, where: string) => void },
  ) {
    this.wake.setMaxListeners(0);
    this.channel = `task_queue_${opts.schema ?? "public"}`;
    this.listener = new PgWakeListener({ ...opts, channel: this.channel, wake: (queue) => this.wake.emit("wake", queue) });
    pool.on("error", (err) => opts.onError?.(err, "idle pool client"));
  }

  async migrate(): Promise<void> {
    await migratePostgres(this.pool, "task-queue", this.opts.schema, postgresMigrations);
  }

  /**
   * The hot, fixed-shape statements run prepared (parsed and planned once per connection); the rest
   * plan per call. Every parameter is bound as dialect.ts's `stored` says.
   */
  private async rows<R = TaskRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const values = params.map(stored.param);
    return (await this.pool.query(PREPARED.has(sql) ? { name: PREPARED.get(sql), text: sql, values } : { text: sql, values })).rows as R[];
  }
  private async row(id: number): Promise<TaskRow | undefined> {
    return (await this.rows(S.get, [id]))[0];
  }
  private async notify(queues: string[]): Promise<void> {
    if (queues.length) await this.rows("SELECT pg_notify($1, q) FROM unnest($2::text[]) q", [this.channel, [...new Set(queues)]]);
  }

  /** Start listening for wake-ups (reconnects by itself after a database outage). */
  listen(): Promise<void> {
    return this.listener.listen();
  }

  async enqueue(items: EnqueueInput[]): Promise<EnqueueResult[]> {
    const col = (f: (i: EnqueueInput) => unknown) => items.map(f);
    const rows = await this.rows<TaskRow & { input_n: string }>(ENQUEUE, [col((i) => i.queue), col((i) => i.priority), col((i) => i.runAt ?? null),
      col((i) => i.maxAttempts), col((i) => stored.json(i.payload)), col((i) => i.idempotencyKey ?? null), this.channel]);
    const out: EnqueueResult[] = [];
    for (const [k, it] of items.entries()) {
      const r = rows[k];
      if (r && r.id !== null) out.push({ task: rowToTask(d, r), created: true });
      else out.push({ task: rowToTask(d, (await this.rows(S.byKey, [it.queue, it.idempotencyKey]))[0] as TaskRow), created: false });
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
      const tokenOf = new Map(idx.map((i) => [i, newLeaseToken()]));
      for (const i of idx) {
        const r = reqs[i] as ClaimRequest;
        owners.push(...Array<string>(r.limit).fill(r.owner));
        leases.push(...Array<number>(r.limit).fill(r.leaseSeconds * 1000));
        tokens.push(...Array<string>(r.limit).fill(tokenOf.get(i) as string));
        reqIdx.push(...Array<number>(r.limit).fill(i));
      }
      const queues = [...new Set((reqs[idx[0] as number] as ClaimRequest).queues)];
      const many = queues.length > 1;
      const rows = await this.rows<TaskRow & { req: number }>(many ? CLAIM_MANY : CLAIM_ONE, [many ? d.list(queues) : queues[0], owners, leases, tokens, reqIdx, owners.length]);
      for (const row of rows) (out[row.req] as Lease[]).push({ task: rowToTask(d, row), leaseToken: tokenOf.get(row.req) as string });
    }
    return out;
  }

  async complete(reqs: CompleteRequest[]): Promise<Outcome[]> {
    const rows = await this.rows(COMPLETE, [reqs.map((r) => r.id), reqs.map((r) => r.leaseToken), reqs.map((r) => stored.json(r.result))]);
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    const missing = reqs.filter((r) => !byId.has(r.id)).map((r) => r.id);
    const current = new Map((missing.length ? await this.rows("SELECT * FROM tasks WHERE id = ANY($1::bigint[])", [missing]) : []).map((r) => [Number(r.id), r]));
    return reqs.map((r): Outcome => {
      const done = byId.get(r.id);
      // Two requests for one task in a batch: only the one whose token completed it is ok.
      if (done) return stored.text(done.lease_token) === r.leaseToken ? { status: "ok", task: rowToTask(d, done) } : { status: "stale", task: rowToTask(d, done) };
      return missed(d, current.get(r.id), "stale", r.leaseToken);
    });
  }

  async heartbeat(id: number, leaseToken: string, leaseSeconds: number): Promise<Outcome> {
    const [row] = await this.rows(withEvents(S.heartbeat), [id, leaseToken, leaseSeconds * 1000]);
    return row ? { status: "ok", task: rowToTask(d, row) } : missed(d, await this.row(id), "stale");
  }

  /** Read, decide (outcome.ts), then a write fenced by the lease and by the attempts the decision saw. */
  async fail(req: FailRequest): Promise<Outcome> {
    const cur = await this.row(req.id);
    if (!cur) return { status: "not_found" };
    const o = decideFailure(cur, req.retry, req.backoff);
    const [row] = o.state === "dead"
      ? await this.rows(withEvents(S.failDead), [req.id, req.leaseToken, req.error, cur.attempts])
      : await this.rows(withEvents(S.failRetry), [req.id, req.leaseToken, req.error, cur.attempts, o.delayMs]);
    return row ? { status: "ok", task: rowToTask(d, row) } : missed(d, await this.row(req.id), "stale");
  }

  async cancel(id: number): Promise<Outcome> {
    const [row] = await this.rows(withEvents(S.cancel), [id]);
    return row ? { status: "ok", task: rowToTask(d, row) } : missed(d, await this.row(id), "conflict");
  }

  async get(id: number) {
    const r = await this.row(id);
    return r ? rowToTask(d, r) : undefined;
  }

  async list(f: ListFilter) {
    return (await this.rows(S.list, [f.queue ?? null, f.state ?? null, f.after ?? 0, f.limit])).map((r) => rowToTask(d, r));
  }

  async requeueDead(id: number): Promise<Outcome> {
    const [row] = await this.rows(withEvents(S.requeue), [id]);
    if (!row) return missed(d, await this.row(id), "conflict");
    const task = rowToTask(d, row);
    await this.notify([task.queue]);
    return { status: "ok", task };
  }

  async reapExpired(): Promise<{ requeued: number; dead: number }> {
    const rows = await this.rows(withEvents(S.reap));
    const ready = rows.filter((r) => r.state === "ready");
    await this.notify(ready.map((r) => stored.text(r.queue)));
    return { requeued: ready.length, dead: rows.length - ready.length };
  }

  async prune(before: number): Promise<{ tasks: number; outbox: number }> {
    const t = await this.pool.query(S.pruneTasks, [d.time(before)]);
    const o = await this.pool.query(S.pruneOutbox, [d.time(before)]);
    return { tasks: t.rowCount ?? 0, outbox: o.rowCount ?? 0 };
  }

  async relayBatch(limit: number, fn: (rows: OutboxRow[]) => Promise<number[]>): Promise<number> {
    const client = await this.pool.connect();
    let ok = false;
    try {
      await client.query("BEGIN");
      // One relay at a time across replicas, so events leave in outbox order.
      const lock = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok", [this.channel]);
      const rows = lock.rows[0]?.ok ? (await client.query<OutboxDbRow>(S.unpublished, [limit])).rows : [];
      const published = rows.length ? await fn(rows.map((r) => rowToOutbox(d, r))) : [];
      if (published.length) await client.query(S.markPublished, [d.list(published)]);
      await client.query("COMMIT");
      ok = true;
      return published.length;
    } finally {
      if (!ok) await client.query("ROLLBACK").catch(() => undefined);
      client.release(!ok);
    }
  }

  async depth(): Promise<DepthRow[]> {
    return (await this.rows<DepthRow & { count: string }>(S.depth)).map((r) => ({ queue: stored.text(r.queue), state: r.state, count: Number(r.count) }));
  }

  async outboxLag(): Promise<{ unpublished: number; oldestSeconds: number }> {
    const [r] = await this.rows<{ n: string; age: number | null }>(S.outboxLag);
    return { unpublished: Number(r?.n ?? 0), oldestSeconds: Math.max(0, r?.age ?? 0) };
  }

  onWake(listener: (queue: string) => void): () => void {
    this.wake.on("wake", listener);
    return () => this.wake.off("wake", listener);
  }

  async cutoverState(): Promise<CutoverState | undefined> {
    const r = (await this.pool.query(S.cutoverGet)).rows[0] as { mode: CutoverState["mode"]; retry_after_seconds: number } | undefined;
    return r && { mode: r.mode, retryAfterSeconds: Number(r.retry_after_seconds) };
  }

  async saveCutoverState(state: CutoverState | undefined): Promise<void> {
    if (state) await this.pool.query(S.cutoverPut, [state.mode, state.retryAfterSeconds]);
    else await this.pool.query(S.cutoverClear);
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    this.wake.removeAllListeners();
    await this.listener.close();
    await this.pool.end();
  }
}
