/**
 * `POST/GET/DELETE /mcp/<namespace>`: pass-through to one shard. Three paths: a 2026-07-28 request
 * (stateless, bridged when the shard is older), a legacy `initialize` (a live replica becomes the
 * session's owner, the client gets the gateway's session id), and a legacy request on a session (to
 * its owner; a dead owner ends the session with 404 so the client re-initializes).
 */
import type { FastifyReply } from "fastify";
import { agentOf } from "@tierstack/common";
import { MODERN_VERSION } from "../config.js";
import type { Leg } from "../registry.js";
import { admitModern, eraOf, forwardHeaders, legacyClientOnModernShard, parseBody, sessionRequired } from "../protocol.js";
import { ERR } from "../mcp.js";
import { callReplica } from "../replica-call.js";
import { refuse, sendRpcError, sessionNotFound } from "../reply.js";
import { isReplicaDown, type UpstreamResponse } from "../upstream.js";
import { legacySession, mintSessionId, type Req, type RouteContext } from "./context.js";

export function namespaceRoute(ctx: RouteContext) {
  const { shards, registry, health, upstream, calls, replies, inflight, metrics } = ctx;

  return async (req: Req, reply: FastifyReply) => {
    const started = process.hrtime.bigint();
    const ns = req.params.namespace ?? "";
    const shard = shards.get(ns);
    if (!shard) return sendRpcError(reply, 404, ERR.invalidRequest, `unknown namespace ${ns}`);

    if (eraOf(req.headers) === "2026") {
      const admitted = admitModern(req.method, req.headers, req.body);
      if ("refusal" in admitted) return refuse(reply, admitted.refusal);
      const { msg } = admitted;
      try {
        const res = await calls.send({ ns, msg, body: req.body ?? "", headers: forwardHeaders(req.headers), signal: inflight.signalFor(reply) });
        return replies.relay(reply, res, { ns, started, era: "2026" });
      } catch (err) {
        return replies.upstreamFailure(reply, ns, err, msg.id ?? null);
      }
    }

    if (shard.protocol === MODERN_VERSION) return refuse(reply, legacyClientOnModernShard(ns));

    const sid = req.headers["mcp-session-id"];
    if (req.method === "POST" && sid === undefined) {
      // No session yet: must be initialize. Pick a live replica and record it as the owner.
      const msg = parseBody(req.body);
      if (!msg || msg.method !== "initialize") return refuse(reply, sessionRequired(msg?.id ?? null));
      let owned: { replica: string; res: UpstreamResponse };
      try {
        owned = await callReplica(health, ns, async (replica) => ({
          replica,
          res: await upstream.request(replica, "POST", forwardHeaders(req.headers), req.body, inflight.signalFor(reply)),
        }));
      } catch (err) {
        return replies.upstreamFailure(reply, ns, err, msg.id ?? null);
      }
      const { replica, res } = owned;
      const upstreamSid = res.headers["mcp-session-id"];
      let id: string | undefined;
      if (typeof upstreamSid === "string") {
        id = mintSessionId();
        await registry.put({ id, agent: agentOf(req).agent, namespace: ns, legs: { [ns]: { replica, upstream: upstreamSid } }, protocolVersion: shard.protocol });
      }
      return replies.relay(reply, res, { ns, started, era: "legacy", sessionId: id });
    }

    const rec = await legacySession(ctx, req, reply, ns, null);
    if (!rec) return reply;
    const leg = rec.legs[ns] as Leg;
    if (!health.isAlive(leg.replica)) {
      // The owner is gone: its sessions are gone with it; the client re-initializes on a live replica.
      await registry.delete(rec.id);
      metrics.errors.inc({ namespace: ns, reason: "owner_down" });
      return sessionNotFound(reply);
    }
    const headers = { ...forwardHeaders(req.headers), "mcp-session-id": leg.upstream };
    try {
      const res = await upstream.request(leg.replica, req.method as "POST" | "GET" | "DELETE", headers, req.method === "POST" ? req.body : undefined, inflight.signalFor(reply));
      if (res.statusCode === 404 || (req.method === "DELETE" && res.statusCode < 300)) await registry.delete(rec.id);
      return replies.relay(reply, res, { ns, started, era: "legacy", sessionId: rec.id });
    } catch (err) {
      if (isReplicaDown(err)) {
        health.markDead(leg.replica, (err as Error).message);
        await registry.delete(rec.id);
        metrics.errors.inc({ namespace: ns, reason: "owner_down" });
        return sessionNotFound(reply);
      }
      return replies.upstreamFailure(reply, ns, err);
    }
  };
}
