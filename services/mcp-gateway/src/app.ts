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
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { agentOf, createServiceApp, requireAgent, type AgentTokens, type ServiceApp } from "@tierstack/common";
import type { GatewayConfig, ShardConfig } from "./config.js";
import { ReplicaHealth } from "./health.js";
import { ERR } from "./mcp.js";
import { createMetrics } from "./metrics.js";
import { FEDERATED } from "./protocol.js";
import { RateLimiter } from "./rate-limit.js";
import type { SessionRegistry } from "./registry.js";
import { Inflight, Replies, sendRpcError } from "./reply.js";
import { federatedRoute } from "./routes/federated.js";
import type { RouteContext } from "./routes/context.js";
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
  /** Stop health checks, close upstream connections and the registry (after app.close()). */
  close(): Promise<void>;
}

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
  app.register(async (scope) => {
    // Bodies stay raw bytes: forwarded as-is, parsed only where routing needs the message.
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: config.maxBodyBytes }, (_req, body, done) => done(null, body));
    const opts = { preHandler: guard };
    scope.route({ method: ["POST", "GET", "DELETE"], url: "/mcp/:namespace", ...opts, handler: namespaceRoute(ctx) });
    scope.route({ method: ["POST", "GET", "DELETE"], url: "/mcp", ...opts, handler: federatedRoute(ctx) });
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
