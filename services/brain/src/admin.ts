/**
 * The admin API (`/admin/*`, bearer token). Its input contract (input.ts): no body (any body is a
 * 400; over 1 KB a 413), a closed set of query fields per route (an unknown or repeated one is a
 * 400 naming it), `limit` an integer 1-1000 written in decimal. The token is checked before
 * anything else is read: without it every route answers 401.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { bearerToken, HttpError, redactPhone } from "@tierstack/common";
import { normalizePhone, oneHeader, readFields, safeEqual, type Spec } from "./input.js";
import type { BrainStore, Learner } from "./store/index.js";
import type { WorkerSwitch } from "./worker.js";

const NO_QUERY = {} satisfies Spec;
const LIMIT_QUERY = { limit: { type: "integer", min: 1, max: 1000, required: false } } satisfies Spec;
/** A body on a route that takes none is refused; this bounds how much of one is read first. */
const ADMIN_BODY_LIMIT = 1024;

export function adminRoutes(scope: FastifyInstance, opts: { adminToken: string; store: BrainStore; workers: WorkerSwitch; now: () => number }): void {
  const { store, now } = opts;
  scope.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    const auth = oneHeader(req, "authorization") ?? "";
    const token = bearerToken(auth) ?? "";
    if (!token || !safeEqual(token, opts.adminToken)) return reply.code(401).send({ error: "unauthorized", message: "admin token required" });
  });
  // No admin route takes a body: whatever the content type, a non-empty one is refused.
  scope.addHook("onRequest", async (req) => {
    if (req.headers["content-type"] === "") delete req.headers["content-type"]; // else a 415 before the 400 below
  });
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: ADMIN_BODY_LIMIT }, (_req, body: Buffer, done) => {
    if (body.length > 0) done(new HttpError(400, "body: this route takes no body"), undefined);
    else done(null, undefined);
  });

  const query = <S extends Spec>(req: FastifyRequest, spec: S) => readFields(req.query, spec, { strings: true });
  const find = async (req: FastifyRequest): Promise<Learner> => {
    query(req, NO_QUERY);
    const idOrPhone = (req.params as { idOrPhone: string }).idOrPhone;
    const phone = normalizePhone(idOrPhone);
    const learner = (await store.learnerById(idOrPhone)) ?? (phone ? await store.learnerByPhone(phone) : undefined);
    if (!learner) throw new HttpError(404, "no such learner");
    return learner;
  };

  scope.get("/admin/learners/:idOrPhone", async (req) => {
    const learner = await find(req);
    const day = new Date(now()).toISOString().slice(0, 10);
    return { learner, today: { day, ...(await store.usageTotals(learner.id, day)) } };
  });
  scope.get("/admin/learners/:idOrPhone/usage", async (req) => {
    const learner = await find(req);
    return { learnerId: learner.id, usage: await store.usage(learner.id) };
  });
  scope.get("/admin/learners/:idOrPhone/outbound", async (req) => {
    const learner = await find(req);
    return { learnerId: learner.id, outbound: await store.outboundFor(learner.id) };
  });
  scope.delete("/admin/learners/:idOrPhone", async (req) => {
    const learner = await find(req);
    if (!(await store.deleteLearner(learner.id))) throw new HttpError(404, "no such learner");
    req.log.info({ learner: redactPhone(learner.phone) }, "learner data deleted");
    return { deleted: learner.id };
  });
  scope.get("/admin/dead-letters", async (req) => ({ deadLetters: await store.deadLetters(query(req, LIMIT_QUERY).limit ?? 100) }));
  // The reply workers' switch (this replica): held ⇒ no new claims, the message in hand finishes;
  // webhooks keep being acknowledged into the inbox. `busy` counts loops still holding a learner.
  scope.get("/admin/workers", async (req) => {
    query(req, NO_QUERY);
    return { workers: await opts.workers.state() };
  });
  scope.post("/admin/workers/hold", async (req) => {
    query(req, NO_QUERY);
    const workers = await opts.workers.hold();
    req.log.warn({ workers }, "reply workers held");
    return { workers };
  });
  scope.post("/admin/workers/resume", async (req) => {
    query(req, NO_QUERY);
    const workers = await opts.workers.resume();
    req.log.info({ workers }, "reply workers resumed");
    return { workers };
  });
  scope.get("/admin/send-failures", async (req) => ({ failures: await store.sendFailures(query(req, LIMIT_QUERY).limit ?? 100) }));
}
