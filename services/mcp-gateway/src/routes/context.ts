/** What the two route modules share: the gateway's parts, the request type, the calling agent, session ids and lookup. */
import { randomBytes } from "node:crypto";
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from "fastify";
import type { JsonRpcBody } from "../body.js";
import type { GatewayConfig, ShardConfig } from "../config.js";
import type { ReplicaHealth } from "../health.js";
import type { JsonRpcId } from "../mcp.js";
import type { GatewayMetrics } from "../metrics.js";
import { sessionRequired } from "../protocol.js";
import type { SessionRecord, SessionRegistry } from "../registry.js";
import { refuse, sessionNotFound, type Inflight, type Replies } from "../reply.js";
import type { ShardCalls } from "../shard-calls.js";
import type { Upstream } from "../upstream.js";

/** An MCP request: the body is checked JSON-RPC (body.ts) with its raw bytes, forwarded as-is where nothing is rewritten. */
export type Req = FastifyRequest<{ Params: { namespace?: string }; Body: JsonRpcBody | undefined }>;

export interface RouteContext {
  config: GatewayConfig;
  shards: ReadonlyMap<string, ShardConfig>;
  registry: SessionRegistry;
  health: ReplicaHealth;
  upstream: Upstream;
  calls: ShardCalls;
  replies: Replies;
  inflight: Inflight;
  metrics: GatewayMetrics;
  log: FastifyBaseLogger;
}

const agents = new WeakMap<FastifyRequest, string>();

/** Record the agent the guard authenticated for this request. */
export function setAgent(req: FastifyRequest, agent: string): void {
  agents.set(req, agent);
}

/** The authenticated agent of a request (every MCP route is behind the guard). */
export function agentOf(req: FastifyRequest): string {
  const a = agents.get(req);
  if (a === undefined) throw new Error("agentOf: route is not behind the gateway's guard");
  return a;
}

/** A gateway session id: `gw_` + 144 random bits (ADR 0020); the replica's id never reaches the client. */
export const mintSessionId = () => `gw_${randomBytes(18).toString("base64url")}`;

/**
 * The legacy session a request names in `Mcp-Session-Id`, if it exists, belongs to `ns` and to the
 * calling agent; otherwise the answer (400 without the header, 404 otherwise) is sent and undefined returned.
 */
export async function legacySession(ctx: RouteContext, req: Req, reply: FastifyReply, ns: string, id: JsonRpcId): Promise<SessionRecord | undefined> {
  const sid = req.headers["mcp-session-id"];
  if (typeof sid !== "string") {
    refuse(reply, sessionRequired(id));
    return undefined;
  }
  const rec = await ctx.registry.get(sid);
  if (!rec || rec.namespace !== ns || rec.agent !== agentOf(req)) {
    sessionNotFound(reply, id);
    return undefined;
  }
  return rec;
}
