import type { BackoffPolicy } from "@tierstack/common";

/** The task model and the one interface both stores implement. */
export type TaskState = "ready" | "running" | "completed" | "dead" | "cancelled";
export const TASK_STATES: readonly TaskState[] = ["ready", "running", "completed", "dead", "cancelled"];

export type TaskEvent = "enqueued" | "claimed" | "completed" | "failed" | "dead_lettered" | "cancelled" | "requeued" | "lease_expired";

export interface Task {
  id: number;
  queue: string;
  state: TaskState;
  priority: number;
  runAt: string;
  attempts: number;
  maxAttempts: number;
  payload: unknown;
  result: unknown;
  lastError: string | null;
  idempotencyKey: string | null;
  /**
   * The owner of the task's last lease: set by a claim, kept when the task finishes (completed,
   * dead, cancelled — a dead letter says whose attempt ended it), cleared when it goes back to
   * ready (retry, expired lease, requeue). See transitions.ts and ADR 0014.
   */
  leaseOwner: string | null;
  /** Only while running: when the lease ends unless heartbeated. */
  leaseExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** A claimed task carries the fencing token its holder must present. */
export interface Lease {
  task: Task;
  leaseToken: string;
}

export interface EnqueueInput {
  queue: string;
  payload: unknown;
  priority: number;
  /** Epoch ms; undefined = now. */
  runAt?: number;
  maxAttempts: number;
  idempotencyKey?: string;
}

export interface EnqueueResult {
  task: Task;
  /** false when the idempotency key already named a task. */
  created: boolean;
}

export interface ClaimRequest {
  queues: string[];
  limit: number;
  leaseSeconds: number;
  owner: string;
}

export interface CompleteRequest {
  id: number;
  leaseToken: string;
  result: unknown;
}

export interface FailRequest {
  id: number;
  leaseToken: string;
  error: string;
  /** false: dead-letter now, whatever the attempts left. */
  retry: boolean;
  /** The retry delay: backoffDelay(attempts - 1, backoff) from @tierstack/common (outcome.ts). */
  backoff: BackoffPolicy;
}

/** ok: done; stale: the lease is not (or no longer) this token's; not_found: no such task. */
export type Outcome<T = Task> = { status: "ok"; task: T } | { status: "stale" | "not_found" | "conflict"; task?: Task };

export interface ListFilter {
  queue?: string;
  state?: TaskState;
  /** Keyset paging: ids greater than this. */
  after?: number;
  limit: number;
}

export interface OutboxRow {
  id: number;
  queue: string;
  event: TaskEvent;
  taskId: number;
  attempt: number;
  createdAt: string;
}

/** The states depth() counts: live work and dead letters (finished history is not "depth"). */
export type DepthState = "ready" | "running" | "dead";
export const DEPTH_STATES: readonly DepthState[] = ["ready", "running", "dead"];

export interface DepthRow {
  queue: string;
  state: DepthState;
  count: number;
}

export interface TaskStore {
  readonly kind: "sqlite" | "postgres";
  migrate(): Promise<void>;
  enqueue(items: EnqueueInput[]): Promise<EnqueueResult[]>;
  /** One result list per request, in order; all requests share one transaction (one commit). */
  claim(reqs: ClaimRequest[]): Promise<Lease[][]>;
  /** One outcome per request, in order; all in one transaction (one commit). */
  complete(reqs: CompleteRequest[]): Promise<Outcome[]>;
  heartbeat(id: number, leaseToken: string, leaseSeconds: number): Promise<Outcome>;
  fail(req: FailRequest): Promise<Outcome>;
  cancel(id: number): Promise<Outcome>;
  get(id: number): Promise<Task | undefined>;
  list(filter: ListFilter): Promise<Task[]>;
  requeueDead(id: number): Promise<Outcome>;
  /** Expired leases: back to ready (or dead when out of attempts). Returns how many. */
  reapExpired(): Promise<{ requeued: number; dead: number }>;
  /** Delete finished tasks and published outbox rows older than `before` (epoch ms). */
  prune(before: number): Promise<{ tasks: number; outbox: number }>;
  /** Run fn with the oldest unpublished outbox rows, exclusively among replicas; fn returns the ids published. */
  relayBatch(limit: number, fn: (rows: OutboxRow[]) => Promise<number[]>): Promise<number>;
  /** Tasks per queue in each of DEPTH_STATES (queues/states with none are absent). */
  depth(): Promise<DepthRow[]>;
  outboxLag(): Promise<{ unpublished: number; oldestSeconds: number }>;
  /** Called with a queue name whenever work may have become claimable (enqueue, requeue). */
  onWake(listener: (queue: string) => void): () => void;
  /** The cut-over mode saved by the drain or the freeze (ADR 0043); undefined while serving. */
  cutoverState(): Promise<CutoverState | undefined>;
  /** Save the cut-over mode (undefined: serving), committed before it resolves. */
  saveCutoverState(state: CutoverState | undefined): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A drain or a freeze in progress, as the store keeps it across restarts. */
export interface CutoverState {
  mode: "draining" | "frozen";
  retryAfterSeconds: number;
}
