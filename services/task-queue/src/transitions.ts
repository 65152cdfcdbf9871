import type { Dialect } from "./dialect.js";
import { OUT_OF_ATTEMPTS } from "./outcome.js";
import type { TaskEvent, TaskState } from "./types.js";

/**
 * Every state change of a task, written once for both stores (ADR 0014). Each transition sets
 * every column it changes explicitly, so there is one answer to "what does a task look like
 * after X"; the contract suite writes that answer out per transition and checks both stores.
 *
 * The lease columns follow one rule:
 * - running: lease_token, lease_owner and lease_expires_at describe the current lease;
 * - back to ready (retry, expired lease, requeue): all three are cleared — no one holds it;
 * - finished (completed, dead, cancelled): lease_expires_at is cleared, lease_token and
 *   lease_owner stay as the record of the last lease (the token answers a retried completion;
 *   the owner says whose attempt completed it, failed it, let it expire or was cancelled).
 *
 * Every write sets updated_at. The stores differ only in how they run these (one statement with
 * its outbox rows in a CTE on PostgreSQL; a BEGIN IMMEDIATE transaction on SQLite), and in the
 * batch statements (enqueue, claim, complete) that must be built differently per driver.
 */

/** An event written to the outbox with a transition; `ifDead`: only when the task ended dead. */
export interface EventRule { event: TaskEvent; ifDead?: true }

/** An UPDATE of `tasks` (the store adds RETURNING) and the events it writes per changed row. */
export interface Transition { name: string; sql: string; events: readonly EventRule[] }

export const eventsFor = (rules: readonly EventRule[], state: TaskState): TaskEvent[] =>
  rules.filter((r) => !r.ifDead || state === "dead").map((r) => r.event);

/** The guard of every write by a lease holder (ADR 0012): its lease is the current one. */
export const fenced = (d: Dialect, token: string) => `state = 'running' AND lease_token = ${token} AND lease_expires_at > ${d.now}`;

/** Ready tasks of the named queue(s) whose time has come, and the order they are claimed in. */
export const claimable = (d: Dialect, queues: string, many: boolean) =>
  `state = 'ready' AND ${many ? d.inList("queue", queues, "text") : `queue = ${d.typed(queues, "text")}`} AND run_at <= ${d.now}`;
export const CLAIM_ORDER = "priority DESC, run_at, id";

/** ready → running: a new lease for `owner`, fenced by `token`, for `leaseMs`. */
export const claimSet = (d: Dialect, token: string, owner: string, leaseMs: string) =>
  `state = 'running', attempts = attempts + 1, lease_token = ${token}, lease_owner = ${owner}, lease_expires_at = ${d.nowPlusMs(leaseMs)}, updated_at = ${d.now}`;

/** running → completed (the fence goes with it). */
export const completeSet = (d: Dialect, result: string) =>
  `state = 'completed', result = ${result}, finished_at = ${d.now}, updated_at = ${d.now}, lease_expires_at = NULL`;

/** The columns an enqueue writes; the rest start at their defaults (attempts 0, NULL). */
export const NEW_TASK_COLUMNS = "queue, state, priority, run_at, max_attempts, payload, idempotency_key, created_at, updated_at";
export const newTaskValues = (d: Dialect, v: { queue: string; priority: string; runAtMs: string; maxAttempts: string; payload: string; key: string }) =>
  `${v.queue}, 'ready', ${v.priority}, COALESCE(${d.fromMs(v.runAtMs)}, ${d.now}), ${v.maxAttempts}, ${v.payload}, ${v.key}, ${d.now}, ${d.now}`;

export const EVENTS = {
  enqueue: [{ event: "enqueued" }],
  claim: [{ event: "claimed" }],
  complete: [{ event: "completed" }],
} as const satisfies Record<string, readonly EventRule[]>;

/** Most expired leases one reaper pass reclaims (the next pass takes the rest). */
export const REAP_BATCH = 1000;

/** The single-row and bulk transitions, and the reads, as each dialect writes them. */
export function statements(d: Dialect) {
  const now = d.now;
  const endLease = "lease_expires_at = NULL";
  const clearLease = "lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL";
  const t = (name: string, sql: string, events: readonly EventRule[]): Transition => ({ name, sql, events });
  return {
    /** $1 id, $2 token, $3 lease ms. */
    heartbeat: t("heartbeat", `UPDATE tasks SET lease_expires_at = ${d.nowPlusMs("$3")}, updated_at = ${now} WHERE id = $1 AND ${fenced(d, "$2")}`, []),
    /** $1 id, $2 token, $3 error, $4 attempts the decision saw, $5 delay ms. */
    failRetry: t("fail_retry", `UPDATE tasks SET state = 'ready', last_error = $3, run_at = ${d.nowPlusMs("$5")}, updated_at = ${now}, ${clearLease}
      WHERE id = $1 AND ${fenced(d, "$2")} AND attempts = $4`, [{ event: "failed" }]),
    /** $1 id, $2 token, $3 error, $4 attempts the decision saw. */
    failDead: t("fail_dead", `UPDATE tasks SET state = 'dead', last_error = $3, finished_at = ${now}, updated_at = ${now}, ${endLease}
      WHERE id = $1 AND ${fenced(d, "$2")} AND attempts = $4`, [{ event: "failed" }, { event: "dead_lettered" }]),
    /** $1 id. A running task's holder is fenced out: its lease is no longer current. */
    cancel: t("cancel", `UPDATE tasks SET state = 'cancelled', finished_at = ${now}, updated_at = ${now}, ${endLease}
      WHERE id = $1 AND state IN ('ready', 'running')`, [{ event: "cancelled" }]),
    /** $1 id. A dead letter gets a fresh set of attempts; its last error stays until the next one. */
    requeue: t("requeue", `UPDATE tasks SET state = 'ready', attempts = 0, run_at = ${now}, finished_at = NULL, updated_at = ${now}, ${clearLease}
      WHERE id = $1 AND state = 'dead'`, [{ event: "requeued" }]),
    /** Expired leases: back to ready, or dead when out of attempts. */
    reap: t("reap", `UPDATE tasks SET
        state = CASE WHEN ${OUT_OF_ATTEMPTS} THEN 'dead' ELSE 'ready' END,
        finished_at = CASE WHEN ${OUT_OF_ATTEMPTS} THEN ${now} ELSE NULL END,
        lease_token = CASE WHEN ${OUT_OF_ATTEMPTS} THEN lease_token ELSE NULL END,
        lease_owner = CASE WHEN ${OUT_OF_ATTEMPTS} THEN lease_owner ELSE NULL END,
        ${endLease}, last_error = 'lease expired', updated_at = ${now}
      WHERE id IN (SELECT id FROM tasks WHERE state = 'running' AND lease_expires_at <= ${now}
                   ORDER BY lease_expires_at LIMIT ${REAP_BATCH}${d.skipLocked})`, [{ event: "lease_expired" }, { event: "dead_lettered", ifDead: true }]),

    get: "SELECT * FROM tasks WHERE id = $1",
    byKey: "SELECT * FROM tasks WHERE queue = $1 AND idempotency_key = $2",
    /** $1 queue or NULL, $2 state or NULL, $3 after id, $4 limit. */
    list: `SELECT * FROM tasks WHERE (${d.typed("$1", "text")} IS NULL OR queue = $1) AND (${d.typed("$2", "text")} IS NULL OR state = $2) AND id > $3 ORDER BY id LIMIT ${d.limit("$4")}`,
    depth: "SELECT queue, state, count(*) AS count FROM tasks WHERE state IN ('ready', 'running', 'dead') GROUP BY queue, state",
    /** $1 the cut-off time. */
    pruneTasks: "DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1 AND state IN ('completed', 'cancelled', 'dead')",
    pruneOutbox: "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1",
    unpublished: `SELECT * FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ${d.limit("$1")}`,
    /** $1 the ids (a list parameter). */
    markPublished: `UPDATE outbox SET published_at = ${now} WHERE ${d.inList("id", "$1", "bigint")} AND published_at IS NULL`,
    outboxLag: `SELECT count(*) AS n, ${d.secondsSince("min(created_at)")} AS age FROM outbox WHERE published_at IS NULL`,
    /** The saved cut-over mode (schema v3), one row or none. */
    cutoverGet: "SELECT mode, retry_after_seconds FROM tierstack_cutover WHERE id = 1",
    /** $1 mode, $2 retry-after seconds. */
    cutoverPut: "INSERT INTO tierstack_cutover (id, mode, retry_after_seconds) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, retry_after_seconds = excluded.retry_after_seconds",
    cutoverClear: "DELETE FROM tierstack_cutover",
  };
}
