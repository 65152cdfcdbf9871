/**
 * Wires the gateway: the service kit's app, replica health, metrics, the shard caller and the two MCP
 * routes behind one guard (Origin, agent token, per-agent rate limit). Where things are:
 *   protocol.ts      pure protocol rules: era, 2026-07-28 admission, forwarded headers, the bridge, federated names
 *   replica-call.ts  the one "with a healthy replica, retry on not-delivered" loop
 *   shard-calls.ts   sending one request to a shard (native, on a federated leg, or over the bridge pool)
 *   reply.ts         answers to the client: relaying upstream answers, errors, aborting calls whose client left
 *   metrics.ts       the gateway's Prometheus metrics
 *   routes/          /mcp/<namespace> (namespace.ts) and /mcp (federated.ts)
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { bearerToken, createServiceApp, type AgentTokens, type ServiceApp } from "@tierstack/common";
import { BodyError, jsonRpcBody } from "./body.js";
import type { GatewayConfig, ShardConfig } from "./config.js";
import { ReplicaHealth } from "./health.js";
import { ERR, rpcError } from "./mcp.js";
import { createMetrics } from "./metrics.js";
import { FEDERATED, methodNotAllowed, repeatedHeader, type Refusal } from "./protocol.js";
import { RateLimiter } from "./rate-limit.js";
import { RegistryUnavailable, failingAsUnavailable, type SessionRegistry } from "./registry.js";
import { Inflight, Replies, errorBodyNet, refuse, registryRefusal, sendRpcError } from "./reply.js";
import { federatedRoute } from "./routes/federated.js";
import { setAgent, type RouteContext } from "./routes/context.js";
import { namespaceRoute } from "./routes/namespace.js";
import { ShardCalls } from "./shard-calls.js";
import { BridgePool, Upstream } from "./upstream.js";

export interface GatewayDeps {
  tokens: AgentTokens;
  registry: SessionRegistry;
}

export interface Gateway {
  svc: ServiceApp;
  app: FastifyInstance;
  health: ReplicaHealth;
  upstream: Upstream;
  /** Stop health checks, close upstream connections and the registry (after app.close()). */
  close(): Promise<void>;
}

export function buildApp(config: GatewayConfig, deps: GatewayDeps): Gateway {
  const registry = failingAsUnavailable(deps.registry);
  const shards = new Map<string, ShardConfig>(config.shards.map((s) => [s.namespace, s]));
  const upstream = new Upstream({ timeoutMs: config.upstreamTimeoutMs, upstreamToken: config.upstreamToken, maxResponseBytes: config.maxResponseBytes });
  const bridge = new BridgePool(upstream);
  const limiter = new RateLimiter(config.rateLimit.perSecond, config.rateLimit.burst);
  const allowedOrigins = new Set(config.allowedOrigins);

  const svc = createServiceApp({
    service: "mcp-gateway",
    logLevel: config.logLevel,
    bodyLimit: config.maxBodyBytes,
    // A request Node's HTTP parser refuses (bad header bytes, two Content-Lengths…) is answered here.
    // A URL the router cannot decode (`/mcp/%ZZ`) is answered the same way.
    fastify: {
      clientErrorHandler: clientError,
      frameworkErrors: (err, _req, reply) => sendRpcError(reply, 400, ERR.invalidRequest, `Bad Request: ${err.message}`),
    },
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
  const { app } = svc;
  const health = new ReplicaHealth(config.shards, upstream.dispatcher, { intervalMs: config.healthIntervalMs, timeoutMs: config.healthTimeoutMs, upstreamToken: config.upstreamToken }, app.log);

  const metrics = createMetrics(svc.metrics, config.shards, (ns) => registry.countOpen(ns));
  health.onChange = (ns, replica, up) => {
    metrics.replicaUp.set({ namespace: ns, replica }, up ? 1 : 0);
    if (!up) bridge.drop(replica);
  };

  const inflight = new Inflight();
  // Shutdown: long-lived SSE streams would hold app.close() until the grace period; end them so the
  // clients reconnect (to another gateway replica, or to this one after a restart).
  app.addHook("preClose", async () => {
    inflight.abortAll();
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

  // ---- guard (before the body is read): each header at most once, Origin, agent token, per-agent rate limit
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    const repeated = repeatedHeader(req.raw.headersDistinct);
    if (repeated) return refuse(reply, repeated);
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin)) {
      // 2025-11-25 and 2026-07-28 Streamable HTTP §Security: invalid Origin ⇒ 403.
      return sendRpcError(reply, 403, ERR.invalidRequest, `Forbidden: origin ${origin} is not allowed`);
    }
    const token = bearerToken(req.headers.authorization);
    let agent: Awaited<ReturnType<AgentTokens["verify"]>>;
    try {
      agent = token ? await deps.tokens.verify(token) : undefined;
    } catch (err) {
      req.log.warn({ err }, "agent token store unavailable");
      return sendRpcError(reply.header("retry-after", "1"), 503, ERR.unavailable, "agent token store unavailable");
    }
    if (!agent) {
      reply.header("www-authenticate", 'Bearer realm="mcp-gateway"');
      return sendRpcError(reply, 401, ERR.invalidRequest, token ? "Unauthorized: unknown, expired or revoked agent token" : "Unauthorized: missing bearer token (Authorization: Bearer tsa_…)");
    }
    setAgent(req, agent.agent);
    const wait = limiter.take(agent.agent);
    if (wait > 0) {
      reply.header("retry-after", String(Math.ceil(wait / 1000)));
      return sendRpcError(reply, 429, ERR.rateLimited, `rate limit: ${config.rateLimit.perSecond}/s per agent (burst ${config.rateLimit.burst})`);
    }
  };

  const ctx: RouteContext = {
    config,
    shards,
    registry,
    health,
    upstream,
    calls: new ShardCalls(shards, health, upstream, bridge, registry),
    replies: new Replies(metrics, config.maxResponseBytes),
    inflight,
    metrics,
    log: app.log,
  };
  app.register(
    async (scope) => {
      // The one body contract (body.ts): application/json only, size-capped, then bounded parse and
      // JSON-RPC checks before any handler sees it. The raw bytes stay with it (forwarded as-is).
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: config.maxBodyBytes }, (_req, body, done) => {
        try {
          done(null, jsonRpcBody(body as Buffer, config.maxBodyBytes));
        } catch (err) {
          done(err as Error, undefined);
        }
      });
      scope.setErrorHandler((err: FastifyError, req, reply) => {
        const r = errorRefusal(err, config.maxBodyBytes);
        if (r.status === 500) req.log.error({ err }, "request failed");
        return refuse(reply, r);
      });
      scope.setNotFoundHandler((req, reply) => sendRpcError(reply, 404, ERR.invalidRequest, `Not found: no MCP endpoint ${req.url.split("?")[0]} (use /mcp or /mcp/<namespace>)`));
      scope.addHook("onSend", errorBodyNet(metrics.errors));
      const opts = { onRequest: guard, exposeHeadRoute: false };
      const MCP_METHODS = ["POST", "GET", "DELETE"];
      const others = scope.supportedMethods.filter((m) => !MCP_METHODS.includes(m));
      const notAllowed = (_req: FastifyRequest, reply: FastifyReply) => refuse(reply, methodNotAllowed("GET, POST, DELETE", "MCP endpoints take POST, GET and DELETE"));
      scope.route({ method: MCP_METHODS, url: "", ...opts, handler: federatedRoute(ctx) });
      scope.route({ method: MCP_METHODS, url: "/:namespace", ...opts, handler: namespaceRoute(ctx) });
      scope.route({ method: others, url: "", exposeHeadRoute: false, handler: notAllowed });
      scope.route({ method: others, url: "/:namespace", exposeHeadRoute: false, handler: notAllowed });
    },
    { prefix: "/mcp" },
  );

  return {
    svc,
    app,
    health,
    upstream,
    async close() {
      health.stop();
      await upstream.close().catch(() => undefined);
      await registry.close();
    },
  };
}

/** The answer to an error thrown while serving an MCP route (a body refused by body.ts, a Fastify limit, a registry outage, a bug). */
function errorRefusal(err: FastifyError, maxBodyBytes: number): Refusal {
  if (err instanceof BodyError) return { status: err.status, code: err.code, message: err.message, id: null };
  if (err instanceof RegistryUnavailable) return registryRefusal(err);
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return { status: 413, code: ERR.invalidRequest, message: `Payload too large: body larger than ${maxBodyBytes} bytes`, id: null };
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return { status: 415, code: ERR.invalidRequest, message: "Unsupported Media Type: a body must be Content-Type: application/json", id: null };
  const s = err.statusCode;
  if (typeof s === "number" && s >= 400 && s < 500) return { status: s, code: ERR.invalidRequest, message: `Bad Request: ${err.message}`, id: null };
  return { status: 500, code: ERR.internal, message: "internal error", id: null };
}

/** Node's HTTP parser refused the request: a JSON-RPC error body, then the connection closes. */
function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const body = rpcError(ERR.invalidRequest, `${STATUS_CODES[status]}: the HTTP request could not be parsed (${err.code ?? "error"})`);
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  } else socket.destroy();
}
