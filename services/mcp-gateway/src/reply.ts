/**
 * Answering the client: JSON-RPC error answers, relaying an upstream answer (SSE piped, JSON read
 * size-capped and written once, ADR 0025), the answers to upstream failures (ADR 0023), and aborting
 * upstream calls whose client went away or that shutdown ends.
 */
import { PassThrough } from "node:stream";
import type { FastifyReply } from "fastify";
import type { GatewayMetrics } from "./metrics.js";
import { ERR, rpcError, type JsonRpcId } from "./mcp.js";
import { RESPONSE_HEADERS, type Era, type Refusal } from "./protocol.js";
import { NoReplica } from "./replica-call.js";
import { isReplicaDown, type UpstreamResponse } from "./upstream.js";

export function sendRpcError(reply: FastifyReply, status: number, code: number, message: string, id: JsonRpcId = null, data?: unknown) {
  return reply.code(status).header("content-type", "application/json").send(rpcError(code, message, id, data));
}

/** Send one of the protocol module's refusals. */
export function refuse(reply: FastifyReply, r: Refusal) {
  if ("allow" in r) return reply.code(r.status).header("allow", r.allow).send();
  return sendRpcError(reply, r.status, r.code, r.message, r.id);
}

export function sessionNotFound(reply: FastifyReply, id: JsonRpcId = null) {
  return sendRpcError(reply, 404, ERR.sessionNotFound, "Session not found", id);
}

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

export interface RelayOptions {
  ns: string;
  era: Era;
  started: bigint;
  /** The gateway's session id, sent in place of the replica's `Mcp-Session-Id` when it sent one. */
  sessionId?: string;
}

/** Client-facing answers that count into the gateway's metrics. */
export class Replies {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly maxResponseBytes: number,
  ) {}

  noReplica(reply: FastifyReply, ns: string, id: JsonRpcId = null) {
    this.metrics.errors.inc({ namespace: ns, reason: "no_live_replica" });
    return sendRpcError(reply, 503, ERR.unavailable, `namespace ${ns} has no live replica`, id, { namespace: ns });
  }

  /** A shard call failed: 503 for no replica or shutdown, nothing for a client that left, else 502. */
  upstreamFailure(reply: FastifyReply, ns: string, err: unknown, id: JsonRpcId = null) {
    if (err instanceof NoReplica) return this.noReplica(reply, err.namespace, id);
    if ((err as Error).name === "AbortError") {
      // The client went away (nothing to answer) or the gateway is shutting down (tell the client to retry).
      if (reply.raw.destroyed || reply.raw.socket?.destroyed !== false) {
        reply.raw.destroy();
        return reply;
      }
      return sendRpcError(reply.header("retry-after", "1"), 503, ERR.unavailable, "gateway is shutting down", id);
    }
    this.metrics.errors.inc({ namespace: ns, reason: isReplicaDown(err) ? "replica_down" : "upstream" });
    reply.request.log.warn({ err, namespace: ns }, "upstream call failed");
    return sendRpcError(reply, 502, ERR.unavailable, `upstream for namespace ${ns} failed: ${(err as Error).message}`, id, { namespace: ns });
  }

  /** Stream an upstream answer to the client without buffering; JSON answers are size-limited. */
  relay(reply: FastifyReply, res: UpstreamResponse, opts: RelayOptions) {
    const { latency, requests, errors } = this.metrics;
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
    const max = this.maxResponseBytes;
    const len = Number(res.headers["content-length"] ?? NaN);
    if (len > max) {
      res.body.destroy();
      errors.inc({ namespace: opts.ns, reason: "response_too_large" });
      return sendRpcError(reply, 502, ERR.internal, `upstream response larger than ${max} bytes`);
    }
    return readCapped(res, max).then(
      (buf) => reply.send(buf),
      (err: Error) => {
        errors.inc({ namespace: opts.ns, reason: "response_too_large" });
        return sendRpcError(reply, 502, ERR.internal, err.message);
      },
    );
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
