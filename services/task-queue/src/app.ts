import { agentOf, AgentTokens, createServiceApp, HttpError, JSON_MAX_DEPTH, pingReadiness, requireAgent, type ServiceApp } from "@tierstack/common";
import type { TaskQueueConfig } from "./config.js";
import { Cutover } from "./cutover.js";
import { cutoverRoutes } from "./cutover-routes.js";
import { TaskQueue } from "./queue.js";
import type { OutboxRelay } from "./relay.js";
import { TASK_STATES, type EnqueueInput, type Lease, type Outcome, type Task, type TaskState, type TaskStore } from "./types.js";

export interface AppDeps {
  store: TaskStore;
  tokens: AgentTokens;
  /** Built by server.ts when NATS_URL is set; the app nudges it after writes. */
  relay?: (svc: ServiceApp) => OutboxRelay;
}

export interface TaskQueueApp extends ServiceApp {
  queue: TaskQueue;
  relay?: OutboxRelay;
  /** The cut-over mode (serving, draining, frozen) the write routes obey; cutover.ts. */
  cutover: Cutover;
}

/*
 * The input contract (README "Errors"): every schema is closed (additionalProperties: false, and
 * the kit refuses an unknown field instead of dropping it), JSON types are taken as written, path
 * and query integers are decimal digits (the kit's one documented coercion), and every body has
 * passed the kit's bounded JSON parse (size, UTF-8, depth, member names, numbers) before a schema
 * or a size check walks it.
 */
const QUEUE = { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" } as const;
const ID_PARAMS = { type: "object", required: ["id"], additionalProperties: false, properties: { id: { type: "integer", minimum: 1, maximum: Number.MAX_SAFE_INTEGER } } } as const;
const TOKEN = { type: "string", minLength: 1, maxLength: 64 } as const;

const enqueueItem = {
  type: "object",
  required: ["queue"],
  additionalProperties: false,
  properties: {
    queue: QUEUE,
    payload: {},
    priority: { type: "integer", minimum: -1000, maximum: 1000 },
    runAt: { type: "string", format: "date-time" },
    maxAttempts: { type: "integer", minimum: 1, maximum: 1000 },
    idempotencyKey: { type: "string", minLength: 1, maxLength: 200 },
  },
} as const;

/** A lease length: 1 s up to LEASE_SECONDS_MAX, checked by the schema, before anything happens. */
const leaseSecondsSchema = (max: number) => ({ type: "integer", minimum: 1, maximum: max }) as const;

const claimSchema = (leaseMax: number, waitMax: number) => ({
  type: "object",
  required: ["queues"],
  additionalProperties: false,
  properties: {
    queues: { type: "array", minItems: 1, maxItems: 20, items: QUEUE },
    limit: { type: "integer", minimum: 1, maximum: 100 },
    leaseSeconds: leaseSecondsSchema(leaseMax),
    waitMs: { type: "integer", minimum: 0, maximum: waitMax },
  },
}) as const;

interface ClaimBody {
  queues: string[];
  limit?: number;
  leaseSeconds?: number;
  waitMs?: number;
}

interface EnqueueBody {
  queue: string;
  payload?: unknown;
  priority?: number;
  runAt?: string;
  maxAttempts?: number;
  idempotencyKey?: string;
}

const publicLease = (l: Lease) => ({ ...l.task, leaseToken: l.leaseToken });

/** Routes of the task queue over a store; server.ts adds listening, NATS and shutdown. */
export function buildApp(config: TaskQueueConfig, deps: AppDeps): TaskQueueApp {
  const { store, tokens } = deps;
  const svc = createServiceApp({
    service: "task-queue",
    logLevel: config.logLevel,
    bodyLimit: Math.max(1024 * 1024, config.payloadMaxBytes * 4),
    json: { maxDepth: JSON_MAX_DEPTH },
    readiness: pingReadiness("database", () => store.ping()),
  });
  const { app } = svc;
  const queue = new TaskQueue(store, {
    backoffBaseMs: config.backoffBaseMs,
    backoffMaxMs: config.backoffMaxMs,
    reaperIntervalMs: config.reaperIntervalMs,
    retentionHours: config.retentionHours,
    batchConcurrency: config.batchConcurrency,
    log: app.log,
  }, svc.metrics);
  const relay = deps.relay?.(svc);
  const nudge = () => relay?.nudge();
  const cut = new Cutover();

  // Safe to stringify: the body's depth is bounded (JSON_MAX_DEPTH) by the kit's parse.
  const sizeCheck = (at: string, v: unknown) => {
    const n = Buffer.byteLength(JSON.stringify(v ?? null));
    if (n > config.payloadMaxBytes) throw new HttpError(413, `${at} is ${n} bytes; the limit is ${config.payloadMaxBytes}`);
  };
  const toInput = (b: EnqueueBody, at: string): EnqueueInput => {
    sizeCheck(`${at}/payload`, b.payload);
    let runAt: number | undefined;
    if (b.runAt !== undefined) {
      runAt = Date.parse(b.runAt);
      if (!Number.isFinite(runAt)) throw new HttpError(400, `${at}/runAt ${JSON.stringify(b.runAt)} is not a date-time`);
    }
    return { queue: b.queue, payload: b.payload ?? null, priority: b.priority ?? 0, runAt, maxAttempts: b.maxAttempts ?? config.maxAttemptsDefault, idempotencyKey: b.idempotencyKey };
  };
  const answer = (o: Outcome, id: number, staleMessage: string): { task: Task } => {
    if (o.status === "ok") return { task: o.task };
    if (o.status === "not_found") throw new HttpError(404, `task ${id} not found`);
    if (o.status === "stale") throw new HttpError(409, staleMessage);
    throw new HttpError(409, `task ${id} is ${o.task?.state}`);
  };
  const claimBody = claimSchema(config.leaseSecondsMax, 30_000);
  const leaseSeconds = (v: number | undefined) => v ?? config.leaseSecondsDefault;
  const stale = (id: number) => `lease on task ${id} is stale: expired, reclaimed or not yours`;

  app.addHook("preClose", async () => {
    queue.stop();
  });
  app.addHook("onClose", async () => {
    await queue.close();
    await relay?.stop();
  });

  app.register(async (v1) => {
    v1.addHook("onRequest", requireAgent(tokens)); // before body parsing: a stranger gets 401, never a 400 or 413

    v1.post<{ Body: EnqueueBody }>("/tasks", { schema: { body: enqueueItem } }, async (req, reply) => cut.guard("write", reply, async () => {
      const [r] = await queue.enqueue([toInput(req.body, "body")]);
      nudge();
      return reply.code(r?.created ? 201 : 200).send(r);
    }));

    v1.post<{ Body: { tasks: EnqueueBody[] } }>("/tasks/batch", {
      schema: { body: { type: "object", required: ["tasks"], additionalProperties: false, properties: { tasks: { type: "array", minItems: 1, maxItems: 1000, items: enqueueItem } } } },
    }, async (req, reply) => cut.guard("write", reply, async () => {
      const results = await queue.enqueue(req.body.tasks.map((t, i) => toInput(t, `body/tasks/${i}`)));
      nudge();
      return { results };
    }));

    v1.post<{ Body: ClaimBody }>("/claim", { schema: { body: claimBody } }, async (req, reply) => {
      if (queue.isStopping) return reply.code(503).send({ error: "draining", message: "the service is shutting down; claim elsewhere" });
      return cut.guard("claim", reply, async () => {
        const b = req.body;
        const leases = await queue.claim({ queues: b.queues, limit: b.limit ?? 1, leaseSeconds: leaseSeconds(b.leaseSeconds), owner: agentOf(req).agent }, b.waitMs ?? 0);
        if (leases.length) nudge();
        return { tasks: leases.map(publicLease) };
      });
    });

    v1.post<{ Params: { id: number }; Body: { leaseToken: string; leaseSeconds?: number } }>("/tasks/:id/heartbeat", {
      schema: { params: ID_PARAMS, body: { type: "object", required: ["leaseToken"], additionalProperties: false, properties: { leaseToken: TOKEN, leaseSeconds: leaseSecondsSchema(config.leaseSecondsMax) } } },
    }, async (req, reply) => cut.guard("write", reply, async () => answer(await store.heartbeat(req.params.id, req.body.leaseToken, leaseSeconds(req.body.leaseSeconds)), req.params.id, stale(req.params.id))));

    v1.post<{ Params: { id: number }; Body: { leaseToken: string; result?: unknown; next?: ClaimBody } }>("/tasks/:id/complete", {
      schema: {
        params: ID_PARAMS,
        // `next` is validated with the rest, so an invalid one is refused before the completion.
        body: { type: "object", required: ["leaseToken"], additionalProperties: false, properties: { leaseToken: TOKEN, result: {}, next: claimSchema(config.leaseSecondsMax, 0) } },
      },
    }, async (req, reply) => cut.guard("write", reply, async () => {
      sizeCheck("body/result", req.body.result);
      const out = answer(await queue.complete({ id: req.params.id, leaseToken: req.body.leaseToken, result: req.body.result ?? null }), req.params.id, stale(req.params.id));
      nudge();
      // "Complete and claim the next": one round trip per cycle for an agent working a queue.
      const n = req.body.next;
      if (!n || queue.isStopping || cut.refuses("claim")) return out;
      const leases = await queue.claim({ queues: n.queues, limit: n.limit ?? 1, leaseSeconds: leaseSeconds(n.leaseSeconds), owner: agentOf(req).agent }, 0);
      if (leases.length) nudge();
      return { ...out, next: leases.map(publicLease) };
    }));

    v1.post<{ Params: { id: number }; Body: { leaseToken: string; error: string; retry?: boolean } }>("/tasks/:id/fail", {
      schema: {
        params: ID_PARAMS,
        body: { type: "object", required: ["leaseToken", "error"], additionalProperties: false, properties: { leaseToken: TOKEN, error: { type: "string", maxLength: 10_000 }, retry: { type: "boolean" } } },
      },
    }, async (req, reply) => cut.guard("write", reply, async () => {
      const out = answer(await queue.fail(req.params.id, req.body.leaseToken, req.body.error, req.body.retry ?? true), req.params.id, stale(req.params.id));
      nudge();
      return out;
    }));

    v1.post<{ Params: { id: number } }>("/tasks/:id/cancel", { schema: { params: ID_PARAMS } }, async (req, reply) => cut.guard("write", reply, async () => {
      const out = answer(await store.cancel(req.params.id), req.params.id, "");
      nudge();
      return out;
    }));

    v1.get<{ Params: { id: number } }>("/tasks/:id", { schema: { params: ID_PARAMS } }, async (req) => {
      const task = await store.get(req.params.id);
      if (!task) throw new HttpError(404, `task ${req.params.id} not found`);
      return { task };
    });

    const listQuery = {
      type: "object",
      additionalProperties: false,
      properties: {
        queue: QUEUE,
        state: { type: "string", enum: TASK_STATES },
        after: { type: "integer", minimum: 0 },
        limit: { type: "integer", minimum: 1, maximum: 500 },
      },
    } as const;
    type ListQ = { queue?: string; state?: TaskState; after?: number; limit?: number };
    const list = async (q: ListQ, state?: TaskState) => {
      const limit = q.limit ?? 100;
      const tasks = await store.list({ queue: q.queue, state: state ?? q.state, after: q.after, limit });
      return { tasks, next: tasks.length === limit ? tasks[tasks.length - 1]?.id : null };
    };
    v1.get<{ Querystring: ListQ }>("/tasks", { schema: { querystring: listQuery } }, async (req) => list(req.query));

    v1.get<{ Querystring: ListQ }>("/dead", { schema: { querystring: listQuery } }, async (req) => list(req.query, "dead"));
    v1.get<{ Params: { id: number } }>("/dead/:id", { schema: { params: ID_PARAMS } }, async (req) => {
      const task = await store.get(req.params.id);
      if (!task || task.state !== "dead") throw new HttpError(404, `no dead-lettered task ${req.params.id}`);
      return { task };
    });
    v1.post<{ Params: { id: number } }>("/dead/:id/requeue", { schema: { params: ID_PARAMS } }, async (req, reply) => cut.guard("write", reply, async () => {
      const out = answer(await store.requeueDead(req.params.id), req.params.id, "");
      nudge();
      return out;
    }));
  }, { prefix: "/v1" });

  app.register(async (admin) => cutoverRoutes(admin, { tokens, store, queue, relay, cut }));

  return { ...svc, queue, relay, cutover: cut };
}
