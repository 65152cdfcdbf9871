/**
 * The cut-over admin routes (`/admin/cutover…`, README "Cut-over"): drain, freeze, resume and the
 * status a migration reads between them. Authenticated like the agent API, with an agent token
 * of the operator agent (`tierstack token issue tierstack-operator`); any other agent gets 403.
 */
import type { FastifyInstance } from "fastify";
import { agentOf, requireAgent, type AgentTokens } from "@tierstack/common";
import { waitUntil, type Cutover, type CutoverMode } from "./cutover.js";
import type { TaskQueue } from "./queue.js";
import type { OutboxRelay } from "./relay.js";
import type { TaskStore } from "./types.js";

/** The agent whose tokens may drive a cut-over. */
export const OPERATOR_AGENT = "tierstack-operator";
/** How long a drain waits for held leases when the request names no time (cutoverDrainSeconds). */
export const DRAIN_SECONDS_DEFAULT = 30;

interface Deps {
  tokens: AgentTokens;
  store: TaskStore;
  queue: TaskQueue;
  relay?: OutboxRelay;
  cut: Cutover;
}

const seconds = (max: number) => ({ type: "integer", minimum: 0, maximum: max }) as const;

export function cutoverRoutes(scope: FastifyInstance, deps: Deps): void {
  const { store, queue, relay, cut } = deps;
  scope.addHook("onRequest", requireAgent(deps.tokens));
  scope.addHook("preHandler", async (req, reply) => {
    if (agentOf(req).agent !== OPERATOR_AGENT) return reply.code(403).send({ error: "forbidden", message: `the cut-over routes take a token of the agent ${OPERATOR_AGENT}` });
  });
  const leasesHeld = async () => (await store.depth()).filter((r) => r.state === "running").reduce((n, r) => n + r.count, 0);
  const status = async () => ({ mode: cut.mode, leasesHeld: await leasesHeld(), inflightWrites: cut.inflightWrites, unpublished: (await store.outboxLag()).unpublished, relay: relay ? (relay.connected ? "connected" : "not connected") : "none" });

  scope.get("/admin/cutover", async () => status());

  scope.post<{ Body: { seconds?: number; retryAfterSeconds?: number } }>("/admin/cutover/drain", {
    schema: { body: { type: "object", additionalProperties: false, properties: { seconds: seconds(3600), retryAfterSeconds: { type: "integer", minimum: 1, maximum: 600 } } } },
  }, async (req) => {
    if (cut.mode === "serving") cut.set("draining");
    cut.retryAfterSeconds = req.body.retryAfterSeconds ?? cut.retryAfterSeconds;
    queue.pauseClaims();
    // Saved before the answer: a restart from here on comes back draining (or still frozen).
    await store.saveCutoverState({ mode: cut.mode === "frozen" ? "frozen" : "draining", retryAfterSeconds: cut.retryAfterSeconds });
    const t0 = Date.now();
    const finished = await waitUntil(async () => (await leasesHeld()) === 0, (req.body.seconds ?? DRAIN_SECONDS_DEFAULT) * 1000, 200);
    return { ...(await status()), leasesFinished: finished, waitedMs: Date.now() - t0 };
  });

  scope.post<{ Body: { flushSeconds?: number } }>("/admin/cutover/freeze", {
    schema: { body: { type: "object", additionalProperties: false, properties: { flushSeconds: seconds(600) } } },
  }, async (req, reply) => {
    cut.set("frozen");
    queue.pauseClaims();
    await store.saveCutoverState({ mode: "frozen", retryAfterSeconds: cut.retryAfterSeconds });
    // Writes already past the guard commit before the answer: then the store holds all that was acknowledged.
    if (!(await cut.quiesce(30_000))) return reply.code(503).send({ error: "cutover", message: `${cut.inflightWrites} writes still running after 30 s; freeze again` });
    await queue.pauseMaintenance();
    // The relay publishes what the outbox holds (to the old NATS), then stops: the outbox does not change either.
    if (relay) await waitUntil(async () => (await store.outboxLag()).unpublished === 0, (req.body.flushSeconds ?? 10) * 1000, 100);
    await relay?.stop();
    return status();
  });

  scope.post("/admin/cutover/resume", { schema: { body: { type: "object", additionalProperties: false, properties: {} } } }, async () => {
    // Saved first: a resume that fails to save leaves the service as it was.
    await store.saveCutoverState(undefined);
    cut.set("serving");
    queue.resumeClaims();
    queue.resumeMaintenance();
    relay?.start();
    return status();
  });
}

/**
 * At start, before the service listens: the mode a drain or freeze saved (a restart during a
 * cut-over), applied as the route applied it. Frozen: the caller does not start the relay either.
 */
export async function restoreCutover(deps: { store: TaskStore; queue: TaskQueue; cut: Cutover }): Promise<CutoverMode> {
  const saved = await deps.store.cutoverState();
  if (!saved) return "serving";
  deps.cut.set(saved.mode);
  deps.cut.retryAfterSeconds = saved.retryAfterSeconds;
  deps.queue.pauseClaims();
  if (saved.mode === "frozen") await deps.queue.pauseMaintenance();
  return saved.mode;
}
