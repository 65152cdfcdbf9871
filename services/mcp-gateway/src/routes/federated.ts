/**
 * `POST/DELETE /mcp`: the tools of every namespace as `<namespace>__<tool>` (ADR 0022). Three paths: a
 * 2026-07-28 request (stateless, routed by the `Mcp-Name` prefix), a legacy `initialize` (answered by
 * the gateway, one upstream session per legacy shard opened as the session's legs), and a legacy
 * request on a federated session. GET ⇒ 405: list-changed notifications are not federated.
 */
import type { FastifyReply } from "fastify";
import { agentOf } from "@tierstack/common";
import { MODERN_VERSION } from "../config.js";
import { encodeHeaderValue, findResponse, type JsonRpcMessage } from "../mcp.js";
import {
  FEDERATED,
  PARSE_ERROR,
  admitModern,
  eraOf,
  federatedInitializeBody,
  forShard,
  forwardHeaders,
  negotiateLegacyVersion,
  notFederated,
  parseOneMessage,
  prefixedTools,
  resultBody,
  sessionRequired,
  shardToolCall,
  shardToolsList,
  splitFederatedName,
  unknownFederatedTool,
  type Era,
} from "../protocol.js";
import type { SessionRecord } from "../registry.js";
import { NoReplica } from "../replica-call.js";
import { refuse, sessionNotFound } from "../reply.js";
import { legacySession, mintSessionId, type Req, type RouteContext } from "./context.js";

export function federatedRoute(ctx: RouteContext) {
  const { config, shards, registry, upstream, calls, replies, inflight, metrics, log } = ctx;
  const protocolOf = (ns: string) => shards.get(ns)?.protocol ?? "";

  /** `tools/list` fanned out to every namespace in parallel; a namespace that fails is left out (logged and counted). */
  const listAllTools = async (msg: JsonRpcMessage, session: SessionRecord | undefined, signal: AbortSignal) => {
    const lists = await Promise.all(
      [...shards.keys()].map(async (ns) => {
        const shardMsg = forShard(shardToolsList(msg), protocolOf(ns));
        try {
          const res = await calls.send({ ns, msg: shardMsg, body: JSON.stringify(shardMsg), headers: {}, signal, session });
          const text = await res.body.text();
          return prefixedTools(ns, findResponse(String(res.headers["content-type"] ?? ""), text, msg.id ?? null));
        } catch (err) {
          metrics.errors.inc({ namespace: ns, reason: err instanceof NoReplica ? "no_live_replica" : "fanout" });
          log.warn({ err, namespace: ns }, "federated tools/list: namespace skipped");
          return [];
        }
      }),
    );
    return lists.flat();
  };

  const dispatch = async (req: Req, reply: FastifyReply, msg: JsonRpcMessage, session: SessionRecord | undefined, era: Era) => {
    const started = process.hrtime.bigint();
    const id = msg.id ?? null;
    if (msg.id === undefined) return reply.code(202).send(); // notifications (initialized, cancelled) and responses end here
    switch (msg.method) {
      case "ping":
        return reply.header("content-type", "application/json").send(resultBody(id, {}));
      case "tools/list": {
        const tools = await listAllTools(msg, session, inflight.signalFor(reply));
        metrics.requests.inc({ namespace: FEDERATED, era, status: "200" });
        return reply.header("content-type", "application/json").send(resultBody(id, { tools }));
      }
      case "tools/call": {
        const target = splitFederatedName(msg.params?.name, (ns) => shards.has(ns));
        if (!target) return refuse(reply, unknownFederatedTool(msg.params?.name, id));
        const shardMsg = forShard(shardToolCall(msg, target.tool), protocolOf(target.ns));
        const headers = era === "2026" ? { ...forwardHeaders(req.headers), "mcp-name": encodeHeaderValue(target.tool) } : {};
        try {
          const res = await calls.send({ ns: target.ns, msg: shardMsg, body: JSON.stringify(shardMsg), headers, signal: inflight.signalFor(reply), session });
          return replies.relay(reply, res, { ns: target.ns, started, era });
        } catch (err) {
          return replies.upstreamFailure(reply, target.ns, err, id);
        }
      }
      default:
        return refuse(reply, notFederated(msg.method, id));
    }
  };

  return async (req: Req, reply: FastifyReply) => {
    if (eraOf(req.headers) === "2026") {
      const admitted = admitModern(req.method, req.headers, req.body);
      if ("refusal" in admitted) return refuse(reply, admitted.refusal);
      return dispatch(req, reply, admitted.msg, undefined, "2026");
    }
    const sid = req.headers["mcp-session-id"];
    if (req.method === "GET") {
      if (typeof sid === "string" && !(await registry.get(sid))) return sessionNotFound(reply);
      return reply.code(405).header("allow", "POST, DELETE").send(); // no server-initiated stream on the federated endpoint
    }
    if (req.method === "DELETE") {
      const rec = await legacySession(ctx, req, reply, FEDERATED, null);
      if (!rec) return reply;
      await registry.delete(rec.id);
      await Promise.all(Object.values(rec.legs).map((l) => upstream.closeSession(l.replica, l.upstream, rec.protocolVersion).catch(() => undefined)));
      return reply.code(200).send();
    }
    const msg = parseOneMessage(req.body);
    if (!msg) return refuse(reply, PARSE_ERROR);
    if (sid === undefined) {
      if (msg.method !== "initialize") return refuse(reply, sessionRequired(msg.id ?? null));
      const version = negotiateLegacyVersion(msg.params?.protocolVersion);
      const rec = await registry.put({ id: mintSessionId(), agent: agentOf(req).agent, namespace: FEDERATED, legs: {}, protocolVersion: version });
      // One session per legacy shard, opened now where a replica is live (a missing leg opens on first use).
      await Promise.all(
        config.shards
          .filter((s) => s.protocol !== MODERN_VERSION)
          .map((s) => calls.ensureLeg(rec, s, false).catch((err) => log.warn({ err, namespace: s.namespace }, "federated initialize: leg not opened"))),
      );
      metrics.requests.inc({ namespace: FEDERATED, era: "legacy", status: "200" });
      return reply.header("mcp-session-id", rec.id).header("content-type", "application/json").send(federatedInitializeBody(msg.id ?? null, version));
    }
    const rec = await legacySession(ctx, req, reply, FEDERATED, msg.id ?? null);
    if (!rec) return reply;
    return dispatch(req, reply, msg, rec, "legacy");
  };
}
