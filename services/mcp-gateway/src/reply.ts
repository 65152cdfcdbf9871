/**
 * Answering the client: the one sender of error answers (every 4xx/5xx the gateway gives is a JSON-RPC
 * error body, README §Errors), relaying an upstream answer (SSE piped with its headers sent at once,
 * JSON read size-capped and written once, ADR 0025; an upstream error answer relayed only when it is a
 * JSON-RPC error), the answers to upstream failures (ADR 0023), and aborting upstream calls whose client
 * went away or that shutdown ends.
 */
import { STATUS_CODES } from "node:http";
import { PassThrough } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { BodyError, readCapped, rpcErrorOf } from "./body.js";
import type { GatewayMetrics } from "./metrics.js";
import { ERR, rpcError, type JsonRpcId } from "./mcp.js";
import { RESPONSE_HEADERS, type Era, type Refusal } from "./protocol.js";
import { RegistryUnavailable } from "./registry.js";
import { NoReplica } from "./replica-call.js";
import { isReplicaDown, type UpstreamResponse } from "./upstream.js";

/** The one way an error answer is sent: status, `Content-Type: application/json`, a JSON-RPC error body. */
export function sendRpcError(reply: FastifyReply, status: number, code: number, message: string, id: JsonRpcId = null, data?: unknown) {
  return reply.code(status).header("content-type", "application/json").send(rpcError(code, message, id, data));
}

/** Send one of the gateway's refusals (protocol.ts builds them). */
export function refuse(reply: FastifyReply, r: Refusal) {
  for (const [k, v] of Object.entries(r.headers ?? {})) reply.header(k, v);
  return sendRpcError(reply, r.status, r.code, r.message, r.id, r.data);
}

/**
 * An onSend hook for the MCP routes: an error answer (≥ 400) whose body is not a JSON-RPC error (a bug:
 * every error goes through sendRpcError) is replaced by one, logged and counted as
 * `mcp_gateway_errors_total{reason="error_body_not_jsonrpc"}`, so no client ever gets one.
 */
export function errorBodyNet(errors: GatewayMetrics["errors"]) {
  return (req: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, payload?: unknown) => void) => {
    if (reply.statusCode < 400 || isRpcErrorPayload(payload, reply.getHeader("content-type"))) return done(null, payload);
    errors.inc({ namespace: "-", reason: "error_body_not_jsonrpc" });
    req.log.error({ status: reply.statusCode }, "error answer without a JSON-RPC body (replaced)");
    if (payload && typeof (payload as { destroy?: unknown }).destroy === "function") (payload as { destroy(): void }).destroy();
    reply.header("content-type", "application/json");
    done(null, rpcError(reply.statusCode >= 500 ? ERR.internal : ERR.invalidRequest, `HTTP ${reply.statusCode} ${STATUS_CODES[reply.statusCode] ?? ""}`.trim()));
  };
}

function isRpcErrorPayload(payload: unknown, contentType: unknown): boolean {
  if (typeof contentType !== "string" || !contentType.startsWith("application/json")) return false;
  const text = typeof payload === "string" ? payload : Buffer.isBuffer(payload) ? payload.toString("utf8") : undefined;
  return text !== undefined && rpcErrorOf(text) !== undefined;
}

export function sessionNotFound(reply: FastifyReply, id: JsonRpcId = null) {
  return sendRpcError(reply, 404, ERR.sessionNotFound, "Session not found", id);
}

export const registryRefusal = (err: RegistryUnavailable, id: JsonRpcId = null): Refusal => ({ status: 503, code: ERR.unavailable, message: err.message, id, headers: { "retry-after": "1" } });

const TIMEOUTS = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

/**
 * What a failed shard call is answered with (as a whole answer, or as one element of a batch answer):
 * no live replica ⇒ 503; the upstream timed out ⇒ 504; anything else (reset, an answer over the size
 * cap, an unusable answer) ⇒ 502. Each names the namespace in `data.namespace`.
 */
export function failureRefusal(ns: string, err: unknown, id: JsonRpcId = null): Refusal {
  if (err instanceof NoReplica) return { status: 503, code: ERR.unavailable, message: `namespace ${err.namespace} has no live replica`, id, data: { namespace: err.namespace } };
  if (err instanceof RegistryUnavailable) return registryRefusal(err, id);
  const code = (err as { code?: string }).code;
  if (code !== undefined && TIMEOUTS.has(code)) return { status: 504, code: ERR.unavailable, message: `upstream for namespace ${ns} timed out`, id, data: { namespace: ns } };
  return { status: 502, code: ERR.unavailable, message: `upstream for namespace ${ns} failed: ${(err as Error).message}`, id, data: { namespace: ns } };
}

export interface RelayOptions {
  ns: string;
  era: Era;
  started: bigint;
  /** The gateway's session id, sent in place of the replica's `Mcp-Session-Id` when it sent one. */
  sessionId?: string;
  /** The request's id (for the gateway's own error answers), when it has one. */
  id?: JsonRpcId;
}

/** Client-facing answers that count into the gateway's metrics. */
export class Replies {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly maxResponseBytes: number,
  ) {}

  /** A shard call failed: 503 for no replica or shutdown, 504 for a timeout, nothing for a client that left, else 502. */
  upstreamFailure(reply: FastifyReply, ns: string, err: unknown, id: JsonRpcId = null) {
    if ((err as Error).name === "AbortError") {
      // The client went away (nothing to answer) or the gateway is shutting down (tell the client to retry).
      if (reply.raw.destroyed || reply.raw.socket?.destroyed !== false) {
        reply.raw.destroy();
        return reply;
      }
      return sendRpcError(reply.header("retry-after", "1"), 503, ERR.unavailable, "gateway is shutting down", id);
    }
    const r = failureRefusal(ns, err, id);
    this.countFailure(ns, err);
    if (r.status === 502 || r.status === 504) reply.request.log.warn({ err, namespace: ns }, "upstream call failed");
    return refuse(reply, r);
  }

  /** Count a failed shard call by reason (also for fan-out and batch elements, which answer it themselves). */
  countFailure(ns: string, err: unknown): void {
    const reason =
      err instanceof NoReplica ? "no_live_replica" : err instanceof BodyError ? "response_too_large" : err instanceof RegistryUnavailable ? "registry" : isReplicaDown(err) ? "replica_down" : "upstream";
    this.metrics.errors.inc({ namespace: ns, reason });
  }

  /**
   * A 5xx from the shard: the gateway's own 5xx are 502/503/504 (500 is a gateway fault), so the
   * shard's 503 stays 503 (with its Retry-After) and any other becomes 502; the shard's JSON-RPC error
   * message, if it sent one, is quoted.
   */
  upstreamErrorAnswer(reply: FastifyReply, ns: string, res: UpstreamResponse, buf: Buffer, id: JsonRpcId = null) {
    this.metrics.errors.inc({ namespace: ns, reason: "upstream_error_answer" });
    const said = rpcErrorOf(buf.toString("utf8"))?.message;
    const retry = res.headers["retry-after"];
    if (res.statusCode === 503 && typeof retry === "string") reply.header("retry-after", retry);
    const status = res.statusCode === 503 ? 503 : 502;
    return sendRpcError(reply, status, ERR.unavailable, `upstream for namespace ${ns} answered HTTP ${res.statusCode}${said ? `: ${said}` : ""}`, id, { namespace: ns, status: res.statusCode });
  }

  /** Read a shard's answer whole, at most GATEWAY_MAX_RESPONSE_BYTES (an answer the gateway itself reads). */
  read(res: UpstreamResponse): Promise<Buffer> {
    return readCapped(res.body, this.maxResponseBytes);
  }

  /**
   * Relay an upstream answer. SSE is piped without buffering and its status and headers are sent at
   * once (a quiet stream must not hold them until its first event). A JSON answer is read size-capped
   * and written once. A 4xx is relayed with its status, its body only when that is a JSON-RPC error
   * (else the gateway's own); a 5xx becomes the gateway's 502 (503 stays 503), see upstreamErrorAnswer.
   */
  async relay(reply: FastifyReply, res: UpstreamResponse, opts: RelayOptions) {
    const { latency, requests } = this.metrics;
    latency.observe({ namespace: opts.ns }, Number(process.hrtime.bigint() - opts.started) / 1e9);
    requests.inc({ namespace: opts.ns, era: opts.era, status: String(res.statusCode) });
    const copyHeaders = () => {
      for (const h of RESPONSE_HEADERS) {
        const v = res.headers[h];
        if (typeof v === "string") reply.header(h, v);
      }
      if (opts.sessionId && res.headers["mcp-session-id"]) reply.header("mcp-session-id", opts.sessionId);
    };
    const ct = String(res.headers["content-type"] ?? "");
    if (res.statusCode < 400 && ct.includes("text/event-stream")) {
      reply.code(res.statusCode);
      copyHeaders();
      reply.header("x-accel-buffering", "no");
      // An aborted upstream (client gone, or shutdown) ends the client's stream instead of erroring it:
      // an SSE client reconnects on a clean end, and shutdown does not log a 500 per open stream.
      const out = new PassThrough();
      res.body.once("error", () => out.end());
      res.body.pipe(out);
      // Fastify sets the headers and pipes the stream; Node would send them with the first chunk.
      reply.raw.once("pipe", () => {
        if (!reply.raw.headersSent) reply.raw.flushHeaders();
      });
      return reply.send(out);
    }
    // A JSON answer is one message: read it (size-capped) and write it with one syscall and a
    // Content-Length, instead of chunk-encoding a tiny stream (profiled: writev dominated).
    const max = this.maxResponseBytes;
    const len = Number(res.headers["content-length"] ?? NaN);
    let buf: Buffer;
    try {
      if (len > max) {
        res.body.destroy();
        throw new BodyError(502, ERR.unavailable, `upstream answer larger than ${max} bytes`);
      }
      buf = await readCapped(res.body, max);
    } catch (err) {
      return this.upstreamFailure(reply, opts.ns, err, opts.id);
    }
    if (res.statusCode >= 500) return this.upstreamErrorAnswer(reply, opts.ns, res, buf, opts.id);
    reply.code(res.statusCode);
    copyHeaders();
    if (res.statusCode >= 400) {
      if (!rpcErrorOf(buf.toString("utf8"))) {
        // A 4xx without a JSON-RPC body (a bare 405 for "no GET stream here" is a spec answer): the
        // status is kept, the body becomes the gateway's JSON-RPC error.
        return sendRpcError(reply, res.statusCode, ERR.invalidRequest, `upstream for namespace ${opts.ns} answered HTTP ${res.statusCode}`, opts.id ?? null, { namespace: opts.ns, status: res.statusCode });
      }
      reply.header("content-type", "application/json");
    }
    return reply.send(buf);
  }
}

/** Upstream calls in flight, each aborted when its client goes away (a dropped SSE stream must not leak upstream). */
export class Inflight {
  private readonly calls = new Set<AbortController>();

  /** A signal for the upstream call serving `reply`: aborted when the client closes before the answer is finished. */
  signalFor(reply: FastifyReply): AbortSignal {
    const ac = new AbortController();
    this.calls.add(ac);
    reply.raw.once("close", () => {
      this.calls.delete(ac);
      if (!reply.raw.writableFinished) ac.abort();
    });
    return ac.signal;
  }

  /** Shutdown: end every upstream call (open SSE streams end cleanly; their clients reconnect elsewhere). */
  abortAll(): void {
    for (const ac of this.calls) ac.abort();
  }
}
