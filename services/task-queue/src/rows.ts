import { stored, type Dialect } from "./dialect.js";
import type { OutboxRow, Task, TaskEvent, TaskState } from "./types.js";

/** A `tasks` row as either driver returns it (ids are strings from pg's bigint, times Date or epoch ms). */
export interface TaskRow {
  id: number | string; queue: string; state: TaskState; priority: number; run_at: unknown; attempts: number; max_attempts: number;
  payload: unknown; result: unknown; last_error: string | null; idempotency_key: string | null;
  lease_token: string | null; lease_owner: string | null; lease_expires_at: unknown;
  created_at: unknown; updated_at: unknown; finished_at: unknown;
}

export interface OutboxDbRow { id: number | string; queue: string; event: TaskEvent; task_id: number | string; attempt: number; created_at: unknown }

/** The one row mapping both stores use; text columns decoded, JSON parsed (dialect.ts, `stored`). */
export function rowToTask(d: Dialect, r: TaskRow): Task {
  const time = (v: unknown) => (v === null || v === undefined ? null : d.iso(v));
  return {
    id: Number(r.id), queue: stored.text(r.queue), state: r.state, priority: r.priority, runAt: d.iso(r.run_at), attempts: r.attempts,
    maxAttempts: r.max_attempts, payload: d.json(r.payload), result: d.json(r.result), lastError: stored.text(r.last_error),
    idempotencyKey: stored.text(r.idempotency_key), leaseOwner: stored.text(r.lease_owner), leaseExpiresAt: time(r.lease_expires_at),
    createdAt: d.iso(r.created_at), updatedAt: d.iso(r.updated_at), finishedAt: time(r.finished_at),
  };
}

export function rowToOutbox(d: Dialect, r: OutboxDbRow): OutboxRow {
  return { id: Number(r.id), queue: stored.text(r.queue), event: r.event, taskId: Number(r.task_id), attempt: r.attempt, createdAt: d.iso(r.created_at) };
}
