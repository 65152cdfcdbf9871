import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Counter, Gauge, Histogram } from "prom-client";
import { agentOf, createServiceApp, requireAgent, type AgentTokens, type ServiceApp } from "@tierstack/common";
import { LEGACY_VERSIONS, MODERN_VERSION, type GatewayConfig, type ShardConfig } from "./config.js";
import { ReplicaHealth } from "./health.js";
import { ERR, checkModernHeaders, encodeHeaderValue, findResponse, isModern, rpcError, targetName, type JsonRpcId, type JsonRpcMessage } from "./mcp.js";
import { RateLimiter } from "./rate-limit.js";
import type { Leg, SessionRecord, SessionRegistry } from "./registry.js";
import { BridgePool, Upstream, UpstreamError, isReplicaDown, notDelivered, type UpstreamResponse } from "./upstream.js";

export interface GatewayDeps {
  tokens: AgentTokens;
  registry: SessionRegistry;
}

export interface Gateway {
  svc: ServiceApp;
  app: FastifyInstance;
  health: ReplicaHealth;
  /** Stop health checks, close upstream connections and the registry (after app.close()). */
  close(): Promise<void>;
}

/** Separator between namespace and tool name on the federated endpoint: `dev-tools__git_status`. */
export const FEDERATED_SEP = "__";
const FEDERATED = "*";
const FORWARD_HEADERS = ["accept", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id"];
const RESPONSE_HEADERS = ["content-type", "cache-control", "mcp-protocol-version", "retry-after"];

async function readCapped(res: UpstreamResponse, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      throw new Error(`upstream response larger than ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

class NoReplica extends Error {
  constructor(public readonly namespace: string) {
    super(`namespace ${namespace} has no live replica`);
  }
}

type Req = FastifyRequest<{ Params: { namespace?: string }; Body: Buffer | undefined }>;

export function buildApp(config: GatewayConfig, deps: GatewayDeps): Gateway {
  const { registry } = deps;
  const shards = new Map<string, ShardConfig>(config.shards.map((s) => [s.namespace, s]));
  const upstream = new Upstream({ timeoutMs: config.upstreamTimeoutMs, upstreamToken: config.upstreamToken });
  const bridge = new BridgePool(upstream);
  const limiter = new RateLimiter(config.rateLimit.perSecond, config.rateLimit.burst);
  const allowedOrigins = new Set(config.allowedOrigins);

  const svc = createServiceApp({
    service: "mcp-gateway",
    logLevel: config.logLevel,
    bodyLimit: config.maxBodyBytes,
    readiness: async () => {
      if (registry.kind === "redis") {
        try {
          await registry.countOpen(FEDERATED);
        } catch (err) {
          return `session registry: ${(err as Error).message}`;
        }
      }
      const dead = config.shards.filter((s) => health.live(s.namespace).length === 0).map((s) => s.namespace);
      return dead.length === config.shards.length ? `no live replica in any namespace (${dead.join(", ")})` : undefined;
    },
  });
  const { app, metrics } = svc;
  const health = new ReplicaHealth(config.shards, upstream.dispatcher, { intervalMs: config.healthIntervalMs, timeoutMs: config.healthTimeoutMs, upstreamToken: config.upstreamToken }, app.log);

  // ---- metrics (per namespace; `*` is the federated endpoint)
  const requests = new Counter({ name: "mcp_gateway_requests_total", help: "MCP requests by namespace, protocol era and status", labelNames: ["namespace", "era", "status"] as const, registers: [metrics] });
  const latency = new Histogram({
    name: "mcp_gateway_upstream_seconds",
    help: "Time from request to upstream response headers, by namespace",
    labelNames: ["namespace"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers: [metrics],
  });
  const errors = new Counter({ name: "mcp_gateway_errors_total", help: "Gateway-side failures by namespace and reason", labelNames: ["namespace", "reason"] as const, registers: [metrics] });
  const replicaUp = new Gauge({ name: "mcp_gateway_replica_up", help: "1 when the replica passes health checks", labelNames: ["namespace", "replica"] as const, registers: [metrics] });
  new Gauge({
    name: "mcp_gateway_open_sessions",
    help: "Open client sessions by namespace",
    labelNames: ["namespace"] as const,
    registers: [metrics],
    async collect() {
      for (const ns of [...shards.keys(), FEDERATED]) this.set({ namespace: ns }, await registry.countOpen(ns).catch(() => 0));
    },
  });
  for (const s of config.shards) for (const r of s.replicas) replicaUp.set({ namespace: s.namespace, replica: r }, 1);
  health.onChange = (ns, replica, up) => {
    replicaUp.set({ namespace: ns, replica }, up ? 1 : 0);
    if (!up) bridge.drop(replica);
  };

  // ---- helpers
  const sendRpcError = (reply: FastifyReply, status: number, code: number, message: string, id: JsonRpcId = null, data?: unknown) =>
    reply.code(status).header("content-type", "application/json").send(rpcError(code, message, id, data));

  const noReplica = (reply: FastifyReply, ns: string, id: JsonRpcId = null) => {
    errors.inc({ namespace: ns, reason: "no_live_replica" });
    return sendRpcError(reply, 503, ERR.unavailable, `namespace ${ns} has no live replica`, id, { namespace: ns });
  };

  const sessionNotFound = (reply: FastifyReply, id: JsonRpcId = null) => sendRpcError(reply, 404, ERR.sessionNotFound, "Session not found", id);

  const parse = (req: Req): JsonRpcMessage | undefined => {
    const body = req.body;
    if (!body || body.length === 0) return undefined;
    try {
      return JSON.parse(body.toString("utf8")) as JsonRpcMessage;
    } catch {
      return undefined;
    }
  };

  /** Headers copied from the client to a replica: protocol headers and Mcp-Param-*; never Authorization. */
  const forwardHeaders = (req: Req): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v !== "string") continue;
      if (FORWARD_HEADERS.includes(k) || k.startsWith("mcp-param-")) out[k] = v;
    }
    return out;
  };

  /** Abort the upstream call when the client goes away (a dropped SSE stream must not leak upstream). */
  const inflight = new Set<AbortController>();
  const abortOnClose = (reply: FastifyReply): AbortSignal => {
    const ac = new AbortController();
    inflight.add(ac);
    reply.raw.once("close", () => {
      inflight.delete(ac);
      if (!reply.raw.writableFinished) ac.abort();
    });
    return ac.signal;
  };
  // Shutdown: long-lived SSE streams would hold app.close() until the grace period; end them so the
  // clients reconnect (to another gateway replica, or to this one after a restart).
  app.addHook("preClose", async () => {
    for (const ac of inflight) ac.abort();
    // Keep-alive connections that were busy when close began are not reaped by Fastify's one-time
    // idle sweep; give in-flight requests a moment, then close what is left.
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    const last = setTimeout(() => app.server.closeAllConnections(), 5000);
    sweep.unref();
    last.unref();
    app.server.once("close", () => {
      clearInterval(sweep);
      clearTimeout(last);
    });
  });

  /** Stream an upstream answer to the client without buffering; JSON answers are size-limited. */
  const relay = (reply: FastifyReply, res: UpstreamResponse, opts: { sessionId?: string; ns: string; started: bigint; era: string }) => {
    latency.observe({ namespace: opts.ns }, Number(process.hrtime.bigint() - opts.started) / 1e9);
    requests.inc({ namespace: opts.ns, era: opts.era, status: String(res.statusCode) });
    reply.code(res.statusCode);
    for (const h of RESPONSE_HEADERS) {
      const v = res.headers[h];
      if (typeof v === "string") reply.header(h, v);
    }
    if (opts.sessionId && res.headers["mcp-session-id"]) reply.header("mcp-session-id", opts.sessionId);
    const ct = String(res.headers["content-type"] ?? "");
    if (ct.includes("text/event-stream")) {
      reply.header("x-accel-buffering", "no");
      // An aborted upstream (client gone, or shutdown) ends the client's stream instead of erroring it:
      // an SSE client reconnects on a clean end, and shutdown does not log a 500 per open stream.
      const out = new PassThrough();
      res.body.once("error", () => out.end());
      res.body.pipe(out);
      return reply.send(out);
    }
    // A JSON answer is one message: read it (size-capped) and write it with one syscall and a
    // Content-Length, instead of chunk-encoding a tiny stream (profiled: writev dominated).
    const len = Number(res.headers["content-length"] ?? NaN);
    if (len > config.maxResponseBytes) {
      res.body.destroy();
      errors.inc({ namespace: opts.ns, reason: "response_too_large" });
      return sendRpcError(reply, 502, ERR.internal, `upstream response larger than ${config.maxResponseBytes} bytes`);
    }
    return readCapped(res, config.maxResponseBytes).then(
      (buf) => reply.send(buf),
      (err: Error) => {
        errors.inc({ namespace: opts.ns, reason: "response_too_large" });
        return sendRpcError(reply, 502, ERR.internal, err.message);
      },
    );
  };

  const mintId = () => `gw_${randomBytes(18).toString("base64url")}`;

  // ---- sending a request to a shard on behalf of a stateless (2026-07-28) client or a federated session
  interface ShardSend {
    ns: string;
    msg: JsonRpcMessage;
    /** Body to send when the shard speaks 2026-07-28 natively (raw client bytes when unchanged). */
    body: Buffer | string;
    /** Client headers to pass on (Mcp-Param-*, Accept…), modern requests only. */
    headers: Record<string, string>;
    signal?: AbortSignal;
    /** Federated legacy session: use (or open) its leg for this namespace. */
    session?: SessionRecord;
  }

  const legacyHeaders = (sid: string, version: string): Record<string, string> => ({
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-session-id": sid,
    "mcp-protocol-version": version,
  });

  const modernHeaders = (msg: JsonRpcMessage): Record<string, string> => {
    const h: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_VERSION,
      "mcp-method": msg.method ?? "",
    };
    const name = targetName(msg);
    if (name !== undefined) h["mcp-name"] = encodeHeaderValue(name);
    return h;
  };

  /** Add the 2026-07-28 `_meta` a modern shard validates against the headers. */
  const withModernMeta = (msg: JsonRpcMessage): JsonRpcMessage => ({
    ...msg,
    params: { ...msg.params, _meta: { ...msg.params?._meta, "io.modelcontextprotocol/protocolVersion": MODERN_VERSION } },
  });

  /** Strip the 2026-07-28 `_meta` keys before a message goes to a legacy server. */
  const withoutModernMeta = (msg: JsonRpcMessage): JsonRpcMessage => {
    if (!msg.params?._meta) return msg;
    const meta = Object.fromEntries(Object.entries(msg.params._meta).filter(([k]) => !k.startsWith("io.modelcontextprotocol/")));
    const params = { ...msg.params, _meta: meta };
    if (Object.keys(meta).length === 0) delete (params as { _meta?: unknown })._meta;
    return { ...msg, params };
  };

  const ensureLeg = async (rec: SessionRecord, shard: ShardConfig, fresh: boolean): Promise<Leg> => {
    const leg = rec.legs[shard.namespace];
    if (leg && !fresh && health.isAlive(leg.replica)) return leg;
    const tried = new Set<string>();
    for (;;) {
      const replica = health.pick(shard.namespace, tried);
      if (!replica) throw new NoReplica(shard.namespace);
      tried.add(replica);
      try {
        const upstreamSid = await upstream.openSession(replica, shard.protocol);
        rec.legs[shard.namespace] = { replica, upstream: upstreamSid };
        await registry.setLegs(rec.id, rec.legs);
        return rec.legs[shard.namespace] as Leg;
      } catch (err) {
        if (!isReplicaDown(err)) throw err;
        health.markDead(replica, (err as Error).message);
      }
    }
  };

  const sendToShard = async (s: ShardSend): Promise<UpstreamResponse> => {
    const shard = shards.get(s.ns);
    if (!shard) throw new UpstreamError(`unknown namespace ${s.ns}`, 404);
    if (shard.protocol === MODERN_VERSION) {
      const tried = new Set<string>();
      for (;;) {
        const replica = health.pick(s.ns, tried);
        if (!replica) throw new NoReplica(s.ns);
        tried.add(replica);
        try {
          return await upstream.request(replica, "POST", { ...s.headers, ...modernHeaders(s.msg) }, s.body, s.signal);
        } catch (err) {
          if (isReplicaDown(err)) health.markDead(replica, (err as Error).message);
          if (!notDelivered(err)) throw err;
        }
      }
    }
    const legacyBody = JSON.stringify(withoutModernMeta(s.msg));
    // Legacy shard: a federated session's leg, or a pooled bridge session. One retry on a fresh session
    // when the replica forgot the session (404) or is gone.
    for (let attempt = 0; ; attempt++) {
      let replica: string;
      let sid: string;
      if (s.session) {
        const leg = await ensureLeg(s.session, shard, attempt > 0);
        replica = leg.replica;
        sid = leg.upstream;
      } else {
        const picked = health.pick(s.ns);
        if (!picked) throw new NoReplica(s.ns);
        replica = picked;
        try {
          sid = await bridge.get(replica, shard.protocol);
        } catch (err) {
          if (isReplicaDown(err)) health.markDead(replica, (err as Error).message);
          if (attempt === 0) continue;
          throw err;
        }
      }
      try {
        const res = await upstream.request(replica, "POST", legacyHeaders(sid, shard.protocol), legacyBody, s.signal);
        if (res.statusCode === 404 && attempt === 0) {
          await res.body.dump();
          if (!s.session) bridge.drop(replica);
          continue;
        }
        return res;
      } catch (err) {
        if (isReplicaDown(err)) {
          health.markDead(replica, (err as Error).message);
          bridge.drop(replica);
          if (attempt === 0 && notDelivered(err)) continue;
        }
        throw err;
      }
    }
  };

  const upstreamFailure = (reply: FastifyReply, ns: string, err: unknown, id: JsonRpcId = null) => {
    if (err instanceof NoReplica) return noReplica(reply, err.namespace, id);
    if ((err as Error).name === "AbortError") {
      // The client went away (nothing to answer) or the gateway is shutting down (tell the client to retry).
      if (reply.raw.destroyed || reply.raw.socket?.destroyed !== false) {
        reply.raw.destroy();
        return reply;
      }
      return sendRpcError(reply.header("retry-after", "1"), 503, ERR.unavailable, "gateway is shutting down", id);
    }
    errors.inc({ namespace: ns, reason: isReplicaDown(err) ? "replica_down" : "upstream" });
    reply.request.log.warn({ err, namespace: ns }, "upstream call failed");
    return sendRpcError(reply, 502, ERR.unavailable, `upstream for namespace ${ns} failed: ${(err as Error).message}`, id, { namespace: ns });
  };

  // ---- guard: Origin, agent token, per-agent rate limit
  const authenticate = requireAgent(deps.tokens);
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin)) {
      // 2025-11-25 and 2026-07-28 Streamable HTTP §Security: invalid Origin ⇒ 403.
      return sendRpcError(reply, 403, ERR.invalidRequest, `origin ${origin} is not allowed`);
    }
    await authenticate(req, reply);
    if (reply.sent) return reply;
    const wait = limiter.take(agentOf(req).agent);
    if (wait > 0) {
      reply.header("retry-after", String(Math.ceil(wait / 1000)));
      return sendRpcError(reply, 429, ERR.rateLimited, `rate limit: ${config.rateLimit.perSecond}/s per agent (burst ${config.rateLimit.burst})`);
    }
  };

  // ---- /mcp/<namespace>: pass-through to one shard
  const legacySession = async (req: Req, reply: FastifyReply, ns: string, id: JsonRpcId): Promise<SessionRecord | undefined> => {
    const sid = req.headers["mcp-session-id"];
    if (typeof sid !== "string") {
      sendRpcError(reply, 400, ERR.invalidRequest, "Bad Request: Mcp-Session-Id header is required", id);
      return undefined;
    }
    const rec = await registry.get(sid);
    if (!rec || rec.namespace !== ns || rec.agent !== agentOf(req).agent) {
      sessionNotFound(reply, id);
      return undefined;
    }
    return rec;
  };

  const namespaceRoute = async (req: Req, reply: FastifyReply) => {
    const started = process.hrtime.bigint();
    const ns = req.params.namespace ?? "";
    const shard = shards.get(ns);
    if (!shard) return sendRpcError(reply, 404, ERR.invalidRequest, `unknown namespace ${ns}`);

    if (isModern(req.headers)) {
      if (req.method !== "POST") return reply.code(405).header("allow", "POST").send(); // 2026-07-28 §Backward Compatibility
      const msg = parse(req);
      if (!msg || typeof msg !== "object" || Array.isArray(msg)) return sendRpcError(reply, 400, ERR.parse, "Parse error: expected one JSON-RPC message");
      if (msg.id !== undefined) {
        const problem = checkModernHeaders(req.headers, msg);
        if (problem) return sendRpcError(reply, 400, ERR.headerMismatch, `Header mismatch: ${problem}`, msg.id ?? null);
      }
      try {
        const res = await sendToShard({ ns, msg, body: req.body ?? "", headers: forwardHeaders(req), signal: abortOnClose(reply) });
        return relay(reply, res, { ns, started, era: "2026" });
      } catch (err) {
        return upstreamFailure(reply, ns, err, msg.id ?? null);
      }
    }

    if (shard.protocol === MODERN_VERSION) {
      return sendRpcError(reply, 400, ERR.invalidRequest, `namespace ${ns} speaks ${MODERN_VERSION} only: send MCP-Protocol-Version: ${MODERN_VERSION}, or use the federated /mcp`);
    }

    const sid = req.headers["mcp-session-id"];
    if (req.method === "POST" && sid === undefined) {
      // No session yet: must be initialize. Pick a live replica and record it as the owner.
      const msg = parse(req);
      if (!msg || msg.method !== "initialize") return sendRpcError(reply, 400, ERR.invalidRequest, "Bad Request: Mcp-Session-Id header is required", msg?.id ?? null);
      const tried = new Set<string>();
      for (;;) {
        const replica = health.pick(ns, tried);
        if (!replica) return noReplica(reply, ns, msg.id ?? null);
        tried.add(replica);
        let res: UpstreamResponse;
        try {
          res = await upstream.request(replica, "POST", forwardHeaders(req), req.body, abortOnClose(reply));
        } catch (err) {
          if (isReplicaDown(err)) health.markDead(replica, (err as Error).message);
          if (notDelivered(err)) continue;
          return upstreamFailure(reply, ns, err, msg.id ?? null);
        }
        const upstreamSid = res.headers["mcp-session-id"];
        let id: string | undefined;
        if (typeof upstreamSid === "string") {
          id = mintId();
          await registry.put({ id, agent: agentOf(req).agent, namespace: ns, legs: { [ns]: { replica, upstream: upstreamSid } }, protocolVersion: shard.protocol });
        }
        return relay(reply, res, { ns, started, era: "legacy", sessionId: id });
      }
    }

    const rec = await legacySession(req, reply, ns, null);
    if (!rec) return reply;
    const leg = rec.legs[ns] as Leg;
    if (!health.isAlive(leg.replica)) {
      // The owner is gone: its sessions are gone with it; the client re-initializes on a live replica.
      await registry.delete(rec.id);
      errors.inc({ namespace: ns, reason: "owner_down" });
      return sessionNotFound(reply);
    }
    const headers = { ...forwardHeaders(req), "mcp-session-id": leg.upstream };
    try {
      const res = await upstream.request(leg.replica, req.method as "POST" | "GET" | "DELETE", headers, req.method === "POST" ? req.body : undefined, abortOnClose(reply));
      if (res.statusCode === 404 || (req.method === "DELETE" && res.statusCode < 300)) await registry.delete(rec.id);
      return relay(reply, res, { ns, started, era: "legacy", sessionId: rec.id });
    } catch (err) {
      if (isReplicaDown(err)) {
        health.markDead(leg.replica, (err as Error).message);
        await registry.delete(rec.id);
        errors.inc({ namespace: ns, reason: "owner_down" });
        return sessionNotFound(reply);
      }
      return upstreamFailure(reply, ns, err);
    }
  };

  // ---- /mcp: federated tools of every namespace, names prefixed `<namespace>__`
  const splitName = (name: unknown): { ns: string; tool: string } | undefined => {
    if (typeof name !== "string") return undefined;
    const i = name.indexOf(FEDERATED_SEP);
    if (i <= 0) return undefined;
    const ns = name.slice(0, i);
    return shards.has(ns) ? { ns, tool: name.slice(i + FEDERATED_SEP.length) } : undefined;
  };

  const listAllTools = async (msg: JsonRpcMessage, session: SessionRecord | undefined, signal: AbortSignal) => {
    const lists = await Promise.all(
      [...shards.keys()].map(async (ns) => {
        const sub: JsonRpcMessage = { jsonrpc: "2.0", id: msg.id ?? null, method: "tools/list", params: msg.params?.cursor ? {} : msg.params };
        const shardMsg = shards.get(ns)?.protocol === MODERN_VERSION ? withModernMeta(sub) : sub;
        try {
          const res = await sendToShard({ ns, msg: shardMsg, body: JSON.stringify(shardMsg), headers: {}, signal, session });
          const text = await res.body.text();
          const answer = findResponse(String(res.headers["content-type"] ?? ""), text, msg.id ?? null);
          const tools = (answer?.result as { tools?: Array<{ name: string }> } | undefined)?.tools ?? [];
          return tools.map((t) => ({ ...t, name: `${ns}${FEDERATED_SEP}${t.name}` }));
        } catch (err) {
          errors.inc({ namespace: ns, reason: err instanceof NoReplica ? "no_live_replica" : "fanout" });
          app.log.warn({ err, namespace: ns }, "federated tools/list: namespace skipped");
          return [];
        }
      }),
    );
    return lists.flat();
  };

  const federatedDispatch = async (req: Req, reply: FastifyReply, msg: JsonRpcMessage, session: SessionRecord | undefined, era: string) => {
    const started = process.hrtime.bigint();
    const id = msg.id ?? null;
    if (msg.id === undefined) return reply.code(202).send(); // notifications (initialized, cancelled) and responses end here
    switch (msg.method) {
      case "ping":
        return reply.header("content-type", "application/json").send(JSON.stringify({ jsonrpc: "2.0", id, result: {} }));
      case "tools/list": {
        const tools = await listAllTools(msg, session, abortOnClose(reply));
        requests.inc({ namespace: FEDERATED, era, status: "200" });
        return reply.header("content-type", "application/json").send(JSON.stringify({ jsonrpc: "2.0", id, result: { tools } }));
      }
      case "tools/call": {
        const target = splitName(msg.params?.name);
        if (!target) return sendRpcError(reply, 200, ERR.invalidParams, `unknown tool ${String(msg.params?.name)}: expected <namespace>${FEDERATED_SEP}<tool>`, id);
        const sub: JsonRpcMessage = { ...msg, params: { ...msg.params, name: target.tool } };
        const shardMsg = shards.get(target.ns)?.protocol === MODERN_VERSION ? withModernMeta(sub) : sub;
        const headers = era === "2026" ? { ...forwardHeaders(req), "mcp-name": encodeHeaderValue(target.tool) } : {};
        try {
          const res = await sendToShard({ ns: target.ns, msg: shardMsg, body: JSON.stringify(shardMsg), headers, signal: abortOnClose(reply), session });
          return relay(reply, res, { ns: target.ns, started, era });
        } catch (err) {
          return upstreamFailure(reply, target.ns, err, id);
        }
      }
      default:
        return sendRpcError(reply, 200, ERR.methodNotFound, `method ${msg.method} is not served by the federated endpoint (tools only; use /mcp/<namespace>)`, id);
    }
  };

  const federatedRoute = async (req: Req, reply: FastifyReply) => {
    if (isModern(req.headers)) {
      if (req.method !== "POST") return reply.code(405).header("allow", "POST").send();
      const msg = parse(req);
      if (!msg || typeof msg !== "object" || Array.isArray(msg)) return sendRpcError(reply, 400, ERR.parse, "Parse error: expected one JSON-RPC message");
      if (msg.id !== undefined) {
        const problem = checkModernHeaders(req.headers, msg);
        if (problem) return sendRpcError(reply, 400, ERR.headerMismatch, `Header mismatch: ${problem}`, msg.id ?? null);
      }
      return federatedDispatch(req, reply, msg, undefined, "2026");
    }
    const sid = req.headers["mcp-session-id"];
    if (req.method === "GET") {
      if (typeof sid === "string" && !(await registry.get(sid))) return sessionNotFound(reply);
      return reply.code(405).header("allow", "POST, DELETE").send(); // no server-initiated stream on the federated endpoint
    }
    if (req.method === "DELETE") {
      const rec = await legacySession(req, reply, FEDERATED, null);
      if (!rec) return reply;
      await registry.delete(rec.id);
      await Promise.all(Object.values(rec.legs).map((l) => upstream.closeSession(l.replica, l.upstream, rec.protocolVersion).catch(() => undefined)));
      return reply.code(200).send();
    }
    const msg = parse(req);
    if (!msg || typeof msg !== "object" || Array.isArray(msg)) return sendRpcError(reply, 400, ERR.parse, "Parse error: expected one JSON-RPC message");
    if (sid === undefined) {
      if (msg.method !== "initialize") return sendRpcError(reply, 400, ERR.invalidRequest, "Bad Request: Mcp-Session-Id header is required", msg.id ?? null);
      const requested = (msg.params as { protocolVersion?: string } | undefined)?.protocolVersion;
      const version = (LEGACY_VERSIONS as readonly string[]).includes(requested ?? "") ? (requested as string) : LEGACY_VERSIONS[0];
      const rec = await registry.put({ id: mintId(), agent: agentOf(req).agent, namespace: FEDERATED, legs: {}, protocolVersion: version });
      // One session per legacy shard, opened now where a replica is live (a missing leg opens on first use).
      await Promise.all(
        config.shards
          .filter((s) => s.protocol !== MODERN_VERSION)
          .map((s) => ensureLeg(rec, s, false).catch((err) => app.log.warn({ err, namespace: s.namespace }, "federated initialize: leg not opened"))),
      );
      requests.inc({ namespace: FEDERATED, era: "legacy", status: "200" });
      return reply
        .header("mcp-session-id", rec.id)
        .header("content-type", "application/json")
        .send(JSON.stringify({
          jsonrpc: "2.0",
          id: msg.id ?? null,
          result: { protocolVersion: version, capabilities: { tools: { listChanged: false } }, serverInfo: { name: "tierstack-mcp-gateway", version: "0.1.0" } },
        }));
    }
    const rec = await legacySession(req, reply, FEDERATED, msg.id ?? null);
    if (!rec) return reply;
    return federatedDispatch(req, reply, msg, rec, "legacy");
  };

  app.register(async (scope) => {
    // Bodies stay raw bytes: forwarded as-is, parsed only where routing needs the message.
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: config.maxBodyBytes }, (_req, body, done) => done(null, body));
    const opts = { preHandler: guard };
    scope.route({ method: ["POST", "GET", "DELETE"], url: "/mcp/:namespace", ...opts, handler: namespaceRoute });
    scope.route({ method: ["POST", "GET", "DELETE"], url: "/mcp", ...opts, handler: federatedRoute });
  });

  return {
    svc,
    app,
    health,
    async close() {
      health.stop();
      await upstream.close().catch(() => undefined);
      await registry.close();
    },
  };
}
