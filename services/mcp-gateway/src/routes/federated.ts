/**
 * `POST/DELETE /mcp`: the tools of every namespace as `<namespace>__<tool>` (ADR 0022). Three paths: a
 * 2026-07-28 request (stateless, routed by the `Mcp-Name` prefix), a legacy `initialize` (answered by
 * the gateway, one upstream session per legacy shard opened as the session's legs), and a legacy
 * request on a federated session — one message, or on a 2025-03-26 session a JSON-RPC batch (that
 * version's servers MUST accept batches; later versions removed them). GET ⇒ 405: list-changed
 * notifications are not federated.
 */
import type { FastifyReply } from "fastify";
import { findResponse, rpcErrorOf } from "../body.js";
import { MODERN_VERSION } from "../config.js";
import { encodeHeaderValue, type JsonRpcId, type JsonRpcMessage } from "../mcp.js";
import {
  EMPTY_BODY,
  FEDERATED,
  INITIALIZE_IN_BATCH,
  admitModern,
  batchNotSupported,
  decodeFederatedCursor,
  encodeFederatedCursor,
  eraOf,
  federatedInitializeBody,
  forShard,
  forwardHeaders,
  invalidParams,
  methodNotAllowed,
  negotiateLegacyVersion,
  notFederated,
  prefixedTools,
  resultBody,
  sessionRequired,
  shardToolCall,
  shardToolsList,
  splitFederatedName,
  unknownFederatedTool,
  type Era,
  type Refusal,
} from "../protocol.js";
import type { SessionRecord } from "../registry.js";
import { NoReplica } from "../replica-call.js";
import { failureRefusal, refuse, sessionNotFound } from "../reply.js";
import type { UpstreamResponse } from "../upstream.js";
import { agentOf, legacySession, mintSessionId, type Req, type RouteContext } from "./context.js";

/** The protocol version whose sessions may send JSON-RPC batches (2025-03-26 basic §Batching, transports §Sending Messages). */
const BATCH_VERSION = "2025-03-26";

/** What the gateway does with one message: nothing to answer, its own answer, or a shard's answer. */
type Outcome =
  | { kind: "accepted" }
  | { kind: "refusal"; refusal: Refusal }
  | { kind: "result"; id: JsonRpcId; result: unknown }
  | { kind: "upstream"; ns: string; id: JsonRpcId; res: UpstreamResponse }
  | { kind: "failed"; ns: string; id: JsonRpcId; err: unknown };

const errorElement = (r: Refusal) => ({ jsonrpc: "2.0", id: r.id, error: r.data === undefined ? { code: r.code, message: r.message } : { code: r.code, message: r.message, data: r.data } });

export function federatedRoute(ctx: RouteContext) {
  const { config, shards, registry, upstream, calls, replies, inflight, metrics, log } = ctx;
  const protocolOf = (ns: string) => shards.get(ns)?.protocol ?? "";
  const isNamespace = (ns: string) => shards.has(ns);

  /** One shard's page of tools, or undefined when the shard failed (left out of the list, logged and counted). */
  const shardPage = async (ns: string, msg: JsonRpcMessage, cursor: string | undefined, session: SessionRecord | undefined, signal: AbortSignal) => {
    const shardMsg = forShard(shardToolsList(msg, cursor), protocolOf(ns));
    try {
      const res = await calls.send({ ns, msg: shardMsg, body: JSON.stringify(shardMsg), headers: {}, signal, session });
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`tools/list answered HTTP ${res.statusCode}`);
      }
      const text = (await replies.read(res)).toString("utf8");
      const answer = findResponse(String(res.headers["content-type"] ?? ""), text, shardMsg.id ?? null);
      if (!answer) throw new Error("tools/list answer holds no JSON-RPC response");
      if (answer.error) throw new Error(`tools/list answered JSON-RPC error ${answer.error.code}: ${answer.error.message}`);
      return prefixedTools(ns, answer);
    } catch (err) {
      metrics.errors.inc({ namespace: ns, reason: err instanceof NoReplica ? "no_live_replica" : "fanout" });
      log.warn({ err, namespace: ns }, "federated tools/list: namespace skipped");
      return undefined;
    }
  };

  /**
   * `tools/list`: without a cursor, the first page of every namespace; with a federated cursor (see
   * encodeFederatedCursor), the next page of each namespace it names. `nextCursor` names the shards
   * that have more.
   */
  const listTools = async (msg: JsonRpcMessage, id: JsonRpcId, session: SessionRecord | undefined, signal: AbortSignal): Promise<Outcome> => {
    const cursor = msg.params?.cursor;
    let targets: Map<string, string | undefined>;
    if (cursor === undefined) targets = new Map([...shards.keys()].map((ns) => [ns, undefined]));
    else {
      if (typeof cursor !== "string") return { kind: "refusal", refusal: invalidParams("params.cursor", "expected a string", id) };
      const decoded = decodeFederatedCursor(cursor, isNamespace);
      if (!decoded) return { kind: "refusal", refusal: invalidParams("params.cursor", "not a cursor this gateway issued", id) };
      targets = decoded;
    }
    const pages = await Promise.all([...targets].map(async ([ns, c]) => [ns, await shardPage(ns, msg, c, session, signal)] as const));
    const tools: Array<{ name: string }> = [];
    const next = new Map<string, string>();
    for (const [ns, page] of pages) {
      if (!page) continue;
      tools.push(...page.tools);
      if (page.nextCursor !== undefined) next.set(ns, page.nextCursor);
    }
    const nextCursor = encodeFederatedCursor(next);
    return { kind: "result", id, result: nextCursor === undefined ? { tools } : { tools, nextCursor } };
  };

  const answer = async (req: Req, msg: JsonRpcMessage, session: SessionRecord | undefined, era: Era, signal: AbortSignal): Promise<Outcome> => {
    // Notifications (initialized, cancelled) and responses (the gateway sends no requests) end here.
    if (msg.method === undefined || msg.id === undefined) return { kind: "accepted" };
    const id = msg.id;
    switch (msg.method) {
      case "ping":
        return { kind: "result", id, result: {} };
      case "tools/list":
        return listTools(msg, id, session, signal);
      case "tools/call": {
        const name = msg.params?.name;
        if (typeof name !== "string") return { kind: "refusal", refusal: invalidParams("params.name", "expected a string", id) };
        const target = splitFederatedName(name, isNamespace);
        if (!target) return { kind: "refusal", refusal: unknownFederatedTool(name, id) };
        const shardMsg = forShard(shardToolCall(msg, target.tool), protocolOf(target.ns));
        const headers = era === "2026" ? { ...forwardHeaders(req.headers), "mcp-name": encodeHeaderValue(target.tool) } : {};
        try {
          const res = await calls.send({ ns: target.ns, msg: shardMsg, body: JSON.stringify(shardMsg), headers, signal, session });
          return { kind: "upstream", ns: target.ns, id, res };
        } catch (err) {
          return { kind: "failed", ns: target.ns, id, err };
        }
      }
      default:
        return { kind: "refusal", refusal: notFederated(msg.method, id) };
    }
  };

  /** One message's outcome as the whole answer. */
  const send = async (reply: FastifyReply, o: Outcome, era: Era, started: bigint) => {
    switch (o.kind) {
      case "accepted":
        return reply.code(202).send();
      case "refusal":
        return refuse(reply, o.refusal);
      case "result":
        metrics.requests.inc({ namespace: FEDERATED, era, status: "200" });
        return reply.header("content-type", "application/json").send(resultBody(o.id, o.result));
      case "upstream":
        return replies.relay(reply, o.res, { ns: o.ns, started, era, id: o.id });
      case "failed":
        return replies.upstreamFailure(reply, o.ns, o.err, o.id);
    }
  };

  /** One message's outcome as an element of a batch answer (undefined: no element). */
  const element = async (o: Outcome): Promise<object | undefined> => {
    switch (o.kind) {
      case "accepted":
        return undefined;
      case "refusal":
        return errorElement(o.refusal);
      case "result":
        return { jsonrpc: "2.0", id: o.id, result: o.result };
      case "failed":
        replies.countFailure(o.ns, o.err);
        return errorElement(failureRefusal(o.ns, o.err, o.id));
      case "upstream": {
        let text: string;
        try {
          text = (await replies.read(o.res)).toString("utf8");
        } catch (err) {
          replies.countFailure(o.ns, err);
          return errorElement(failureRefusal(o.ns, err, o.id));
        }
        if (o.res.statusCode === 200) {
          const found = findResponse(String(o.res.headers["content-type"] ?? ""), text, o.id);
          if (found) return found;
        } else if (o.res.statusCode < 500) {
          const error = rpcErrorOf(text);
          if (error) return { jsonrpc: "2.0", id: o.id, error };
        }
        metrics.errors.inc({ namespace: o.ns, reason: "upstream_error_answer" });
        return errorElement(failureRefusal(o.ns, new Error(`answered HTTP ${o.res.statusCode} without a JSON-RPC response`), o.id));
      }
    }
  };

  /** A 2025-03-26 batch: every message answered (in parallel), one JSON array of the responses; 202 when none is due. */
  const sendBatch = async (req: Req, reply: FastifyReply, msgs: JsonRpcMessage[], session: SessionRecord) => {
    const signal = inflight.signalFor(reply);
    const outcomes = await Promise.all(
      msgs.map((m) => (m.method === "initialize" && m.id !== undefined ? Promise.resolve<Outcome>({ kind: "refusal", refusal: { ...INITIALIZE_IN_BATCH, id: m.id } }) : answer(req, m, session, "legacy", signal))),
    );
    const elements = (await Promise.all(outcomes.map(element))).filter((e) => e !== undefined);
    if (elements.length === 0) return reply.code(202).send();
    metrics.requests.inc({ namespace: FEDERATED, era: "legacy", status: "200" });
    return reply.header("content-type", "application/json").send(JSON.stringify(elements));
  };

  return async (req: Req, reply: FastifyReply) => {
    const started = process.hrtime.bigint();
    const body = req.body;
    if (eraOf(req.headers) === "2026") {
      const admitted = admitModern(req.method, req.headers, body);
      if ("refusal" in admitted) return refuse(reply, admitted.refusal);
      return send(reply, await answer(req, admitted.msg, undefined, "2026", inflight.signalFor(reply)), "2026", started);
    }
    const sid = req.headers["mcp-session-id"];
    if (req.method === "GET") {
      if (typeof sid === "string") {
        const rec = await registry.get(sid);
        if (!rec || rec.namespace !== FEDERATED || rec.agent !== agentOf(req)) return sessionNotFound(reply);
      }
      return refuse(reply, methodNotAllowed("POST, DELETE", "GET on the federated endpoint (it has no server-initiated stream)"));
    }
    if (req.method === "DELETE") {
      const rec = await legacySession(ctx, req, reply, FEDERATED, null);
      if (!rec) return reply;
      await registry.delete(rec.id);
      await Promise.all(Object.values(rec.legs).map((l) => upstream.closeSession(l.replica, l.upstream, rec.protocolVersion).catch(() => undefined)));
      return reply.code(200).send();
    }
    if (!body) return refuse(reply, EMPTY_BODY);
    if (sid === undefined) {
      if (body.batch) return refuse(reply, body.msgs.some((m) => m.method === "initialize") ? INITIALIZE_IN_BATCH : sessionRequired(null));
      const { msg } = body;
      if (msg.method !== "initialize" || msg.id === undefined) return refuse(reply, sessionRequired(msg.id ?? null));
      const requested = msg.params?.protocolVersion;
      if (typeof requested !== "string") return refuse(reply, invalidParams("params.protocolVersion", "expected a string", msg.id));
      const version = negotiateLegacyVersion(requested);
      const rec = await registry.put({ id: mintSessionId(), agent: agentOf(req), namespace: FEDERATED, legs: {}, protocolVersion: version });
      // One session per legacy shard, opened now where a replica is live (a missing leg opens on first use).
      await Promise.all(
        config.shards
          .filter((s) => s.protocol !== MODERN_VERSION)
          .map((s) => calls.ensureLeg(rec, s, false).catch((err) => log.warn({ err, namespace: s.namespace }, "federated initialize: leg not opened"))),
      );
      metrics.requests.inc({ namespace: FEDERATED, era: "legacy", status: "200" });
      return reply.header("mcp-session-id", rec.id).header("content-type", "application/json").send(federatedInitializeBody(msg.id, version));
    }
    const rec = await legacySession(ctx, req, reply, FEDERATED, body.batch ? null : (body.msg.id ?? null));
    if (!rec) return reply;
    if (body.batch) {
      if (rec.protocolVersion !== BATCH_VERSION) return refuse(reply, batchNotSupported(rec.protocolVersion));
      return sendBatch(req, reply, body.msgs, rec);
    }
    return send(reply, await answer(req, body.msg, rec, "legacy", inflight.signalFor(reply)), "legacy", started);
  };
}
