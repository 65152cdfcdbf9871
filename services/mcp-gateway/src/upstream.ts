import { Agent, type Dispatcher } from "undici";
import { findResponse, readCapped } from "./body.js";
import type { JsonRpcMessage } from "./mcp.js";

export type UpstreamResponse = Dispatcher.ResponseData;

/** The replica is unreachable (refused, reset, connect timeout): mark it dead and fail over. */
export function isReplicaDown(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return ["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_CLOSED"].includes(code ?? "");
}

/** Never reached the replica, so retrying elsewhere cannot run a tool twice. */
export function notDelivered(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "ECONNREFUSED" || code === "UND_ERR_CONNECT_TIMEOUT" || code === "EHOSTUNREACH";
}

export class UpstreamError extends Error {
  constructor(message: string, public readonly status: number) {
    super(message);
  }
}

/**
 * Calls to MCP replicas over one keep-alive undici Agent (a connection pool per replica origin). The
 * agent's Authorization never reaches a replica: requests carry the gateway's own token, if configured.
 */
export class Upstream {
  readonly dispatcher: Agent;
  private readonly auth: Record<string, string>;
  private readonly urls = new Map<string, { origin: string; path: string }>();

  constructor(private readonly opts: { timeoutMs: number; upstreamToken?: string; connections?: number; maxResponseBytes?: number }) {
    this.dispatcher = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connections: opts.connections ?? 256, pipelining: 1 });
    this.auth = opts.upstreamToken ? { authorization: `Bearer ${opts.upstreamToken}` } : {};
  }

  request(
    replica: string,
    method: "POST" | "GET" | "DELETE",
    headers: Record<string, string>,
    body?: Buffer | string,
    signal?: AbortSignal,
  ): Promise<UpstreamResponse> {
    let u = this.urls.get(replica);
    if (!u) {
      const parsed = new URL(replica);
      u = { origin: parsed.origin, path: parsed.pathname + parsed.search };
      this.urls.set(replica, u);
    }
    return this.dispatcher.request({
      origin: u.origin,
      path: u.path,
      method,
      headers: { ...headers, ...this.auth },
      body,
      signal,
      headersTimeout: this.opts.timeoutMs,
      // A GET is the long-lived server-to-client stream: idle for as long as the server has nothing to say.
      bodyTimeout: method === "GET" ? 0 : this.opts.timeoutMs,
    });
  }

  /** POST one JSON-RPC request and read its response (JSON or SSE answer). */
  async rpc(replica: string, headers: Record<string, string>, msg: JsonRpcMessage): Promise<{ status: number; sessionId?: string; message?: JsonRpcMessage }> {
    const res = await this.request(replica, "POST", { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers }, JSON.stringify(msg));
    const text = (await readCapped(res.body, this.opts.maxResponseBytes ?? 8 * 1024 * 1024)).toString("utf8");
    const sid = res.headers["mcp-session-id"];
    const ct = res.headers["content-type"];
    return {
      status: res.statusCode,
      sessionId: typeof sid === "string" ? sid : undefined,
      message: msg.id === undefined ? undefined : findResponse(typeof ct === "string" ? ct : undefined, text, msg.id ?? null),
    };
  }

  /** Open a legacy (≤ 2025-11-25) session on a replica as the gateway itself: initialize + initialized. */
  async openSession(replica: string, protocolVersion: string): Promise<string> {
    const init = await this.rpc(replica, {}, {
      jsonrpc: "2.0",
      id: "gateway-init",
      method: "initialize",
      params: { protocolVersion, capabilities: {}, clientInfo: { name: "tierstack-mcp-gateway", version: "0.1.0" } },
    });
    if (init.status !== 200 || !init.sessionId || !init.message || init.message.error) {
      throw new UpstreamError(`initialize on ${replica} failed: HTTP ${init.status}${init.message?.error ? ` ${init.message.error.message}` : ""}`, 502);
    }
    const negotiated = (init.message.result as { protocolVersion?: string } | undefined)?.protocolVersion ?? protocolVersion;
    const note = await this.request(
      replica,
      "POST",
      { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": init.sessionId, "mcp-protocol-version": negotiated },
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    );
    await note.body.dump();
    return init.sessionId;
  }

  /**
   * Whether a replica still knows an upstream session, asked with a `ping` on it. Used when a request on
   * the session got a 400: servers answer an unknown session id with 404 (as the spec says) or 400 (as
   * many do, e.g. after a restart the health check did not see), and a ping on a live session is never
   * refused. False only when the ping is refused with 400 or 404.
   */
  async sessionKnown(replica: string, sessionId: string, protocolVersion: string): Promise<boolean> {
    try {
      const res = await this.request(
        replica,
        "POST",
        { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": sessionId, "mcp-protocol-version": protocolVersion },
        '{"jsonrpc":"2.0","id":"gateway-session-probe","method":"ping"}',
      );
      await res.body.dump();
      return res.statusCode !== 400 && res.statusCode !== 404;
    } catch {
      return true; // unreachable: not evidence that the session is gone (the caller keeps the answer it has)
    }
  }

  async closeSession(replica: string, sessionId: string, protocolVersion: string): Promise<void> {
    const res = await this.request(replica, "DELETE", { "mcp-session-id": sessionId, "mcp-protocol-version": protocolVersion });
    await res.body.dump();
  }

  close(): Promise<void> {
    // After the HTTP server drained, nothing upstream is worth waiting for (idle keep-alive, orphaned streams).
    return this.dispatcher.destroy();
  }
}

/**
 * Pooled legacy sessions the bridge holds to each replica of a legacy shard, so 2026-07-28 clients (no
 * sessions) reach ≤ 2025-11-25 servers. One session per replica; a failed or expired one is reopened.
 */
export class BridgePool {
  private readonly sessions = new Map<string, Promise<string>>();
  constructor(private readonly upstream: Upstream) {}

  get(replica: string, protocolVersion: string): Promise<string> {
    let s = this.sessions.get(replica);
    if (!s) {
      s = this.upstream.openSession(replica, protocolVersion);
      this.sessions.set(replica, s);
      s.catch(() => this.sessions.get(replica) === s && this.sessions.delete(replica));
    }
    return s;
  }

  drop(replica: string): void {
    this.sessions.delete(replica);
  }
}
