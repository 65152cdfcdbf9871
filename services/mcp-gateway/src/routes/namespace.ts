/**
 * `POST/GET/DELETE /mcp/<namespace>`: pass-through to one shard. Three paths: a 2026-07-28 request
 * (stateless, bridged when the shard is older), a legacy `initialize` (a live replica becomes the
 * session's owner, the client gets the gateway's session id), and a legacy request on a session (to
 * its owner; an owner that is gone or no longer knows the session ends it with 404 so the client
 * re-initializes).
 */
import type { FastifyReply } from "fastify";
import { MODERN_VERSION } from "../config.js";
import type { JsonRpcId } from "../mcp.js";
import {
  EMPTY_BODY,
  INITIALIZE_IN_BATCH,
  admitModern,
  eraOf,
  forwardHeaders,
  legacyClientOnModernShard,
  sessionRequired,
  unknownNamespace,
} from "../protocol.js";
import type { SessionRecord } from "../registry.js";
import { callReplica } from "../replica-call.js";
import { failureRefusal, refuse, sessionNotFound } from "../reply.js";
import { isReplicaDown, type UpstreamResponse } from "../upstream.js";
import { agentOf, legacySession, mintSessionId, type Req, type RouteContext } from "./context.js";

export function namespaceRoute(ctx: RouteContext) {
  const { shards, registry, health, upstream, calls, replies, inflight, metrics, log } = ctx;

  /** The session cannot be served any more: its record goes, and 404 tells the client to re-initialize. */
  const sessionGone = async (reply: FastifyReply, rec: SessionRecord, ns: string, reason: string, id: JsonRpcId) => {
    await registry.delete(rec.id);
    metrics.errors.inc({ namespace: ns, reason });
    return sessionNotFound(reply, id);
  };

  return async (req: Req, reply: FastifyReply) => {
    const started = process.hrtime.bigint();
    const ns = req.params.namespace ?? "";
    const shard = shards.get(ns);
    if (!shard) return refuse(reply, unknownNamespace(ns));
    const body = req.body;

    if (eraOf(req.headers) === "2026") {
      const admitted = admitModern(req.method, req.headers, body);
      if ("refusal" in admitted) return refuse(reply, admitted.refusal);
      const { msg } = admitted;
      try {
        const res = await calls.send({ ns, msg, body: body?.raw ?? "", headers: forwardHeaders(req.headers), signal: inflight.signalFor(reply) });
        return await replies.relay(reply, res, { ns, started, era: "2026", id: msg.id });
      } catch (err) {
        return replies.upstreamFailure(reply, ns, err, msg.id ?? null);
      }
    }

    if (shard.protocol === MODERN_VERSION) return refuse(reply, legacyClientOnModernShard(ns));

    const sid = req.headers["mcp-session-id"];
    if (req.method === "POST" && sid === undefined) {
      // No session yet: must be initialize, alone. Pick a live replica and record it as the owner.
      if (!body) return refuse(reply, EMPTY_BODY);
      if (body.batch) return refuse(reply, body.msgs.some((m) => m.method === "initialize") ? INITIALIZE_IN_BATCH : sessionRequired(null));
      const { msg } = body;
      const id = msg.id ?? null;
      if (msg.method !== "initialize") return refuse(reply, sessionRequired(id));
      let owned: { replica: string; res: UpstreamResponse };
      try {
        owned = await callReplica(health, ns, async (replica) => ({
          replica,
          res: await upstream.request(replica, "POST", forwardHeaders(req.headers), body.raw, inflight.signalFor(reply)),
        }));
      } catch (err) {
        return replies.upstreamFailure(reply, ns, err, id);
      }
      const { replica, res } = owned;
      const upstreamSid = res.headers["mcp-session-id"];
      let gatewaySid: string | undefined;
      if (typeof upstreamSid === "string") {
        gatewaySid = mintSessionId();
        try {
          await registry.put({ id: gatewaySid, agent: agentOf(req), namespace: ns, legs: { [ns]: { replica, upstream: upstreamSid } }, protocolVersion: shard.protocol });
        } catch (err) {
          // The replica opened a session nobody can reach: drop its answer (it must not hold the
          // connection) and end that session; the client gets the registry's 503 and retries.
          res.body.destroy();
          void upstream.closeSession(replica, upstreamSid, shard.protocol).catch(() => undefined);
          replies.countFailure(ns, err);
          log.warn({ err, namespace: ns }, "initialize: session not recorded");
          return refuse(reply, failureRefusal(ns, err, id));
        }
      }
      return replies.relay(reply, res, { ns, started, era: "legacy", sessionId: gatewaySid, id });
    }

    if (req.method === "POST" && !body) return refuse(reply, EMPTY_BODY);
    const id = body && !body.batch ? (body.msg.id ?? null) : null;
    const rec = await legacySession(ctx, req, reply, ns, id);
    if (!rec) return reply;
    const leg = rec.legs[ns];
    if (!leg) {
      log.warn({ session: rec.id, namespace: ns }, "session record without a leg for its namespace");
      return sessionGone(reply, rec, ns, "session_without_leg", id);
    }
    // The owner is gone: its sessions are gone with it; the client re-initializes on a live replica.
    if (!health.isAlive(leg.replica)) return sessionGone(reply, rec, ns, "owner_down", id);
    const version = typeof req.headers["mcp-protocol-version"] === "string" ? req.headers["mcp-protocol-version"] : rec.protocolVersion;
    const headers = { ...forwardHeaders(req.headers), "mcp-session-id": leg.upstream };
    let res: UpstreamResponse;
    try {
      res = await upstream.request(leg.replica, req.method as "POST" | "GET" | "DELETE", headers, req.method === "POST" ? body?.raw : undefined, inflight.signalFor(reply));
    } catch (err) {
      if (isReplicaDown(err)) {
        health.markDead(leg.replica, (err as Error).message);
        return sessionGone(reply, rec, ns, "owner_down", id);
      }
      return replies.upstreamFailure(reply, ns, err, id);
    }
    // The owner no longer knows the session (it restarted faster than the health check saw): 404, or
    // a 400 that a ping on the session confirms, ends it here too.
    if (res.statusCode === 404 || (res.statusCode === 400 && !(await upstream.sessionKnown(leg.replica, leg.upstream, version)))) {
      await res.body.dump();
      return sessionGone(reply, rec, ns, "session_forgotten", id);
    }
    if (req.method === "DELETE" && res.statusCode < 300) await registry.delete(rec.id);
    return replies.relay(reply, res, { ns, started, era: "legacy", sessionId: rec.id, id });
  };
}
