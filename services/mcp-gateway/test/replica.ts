/**
 * A real MCP server replica (SDK McpServer + StreamableHTTPServerTransport, protocol ≤ 2025-11-25) for
 * tests, the benchmark and `npm run local`. Every tool result names this process's pid so session
 * affinity is observable. Prints `LISTENING <port>` once up.
 *   PORT (0 = any)  NAMESPACE (label in results)  REPLICA_JSON=1 (JSON answers instead of SSE)
 *   REPLICA_KEEPALIVE_MS (SSE keep-alive comments; 0 = none, the SDK's default is 15 s)
 *   REPLICA_UNKNOWN_SESSION_STATUS (the answer to an unknown session id: 404 as the spec says, or 400 as
 *   many servers built on the SDK's examples answer "Bad Request: No valid session ID provided")
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const namespace = process.env.NAMESPACE ?? "demo";
const json = process.env.REPLICA_JSON === "1";
const keepAliveMs = process.env.REPLICA_KEEPALIVE_MS === undefined ? undefined : Number(process.env.REPLICA_KEEPALIVE_MS);
const unknownSessionStatus = Number(process.env.REPLICA_UNKNOWN_SESSION_STATUS ?? 404);
const transports = new Map<string, StreamableHTTPServerTransport>();
let lastAuthorization = "(none)";
/** `gate` calls wait here until someone POSTs /release (outside MCP), so a test can prove streaming. */
let releaseGate: () => void = () => undefined;
let gate = new Promise<void>((r) => (releaseGate = r));

function makeServer(): McpServer {
  const server = new McpServer({ name: `replica-${namespace}`, version: "0.1.0" });
  const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
  server.registerTool("whoami", { description: "Names the replica process" }, async () => text(`pid:${process.pid} ns:${namespace}`));
  server.registerTool("echo", { description: "Echoes text", inputSchema: { text: z.string() } }, async ({ text: t }) => text(`pid:${process.pid} echo:${t}`));
  server.registerTool("noop", { description: "Does nothing (benchmark)" }, async () => text("ok"));
  server.registerTool("last_authorization", { description: "The Authorization header this replica last received" }, async () => text(lastAuthorization));
  server.registerTool("gate", { description: "Sends a progress notification, then waits for POST /release" }, async (extra) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: 1, total: 2, message: "waiting at the gate" } });
    }
    await gate;
    gate = new Promise<void>((r) => (releaseGate = r));
    return text(`pid:${process.pid} released`);
  });
  return server;
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return undefined;
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const httpServer = http.createServer(async (req, res) => {
  try {
    if (req.url === "/release" && req.method === "POST") {
      releaseGate();
      res.writeHead(204).end();
      return;
    }
    lastAuthorization = req.headers.authorization ?? "(none)";
    const body = req.method === "POST" ? await readBody(req) : undefined;
    const sid = req.headers["mcp-session-id"];
    let transport = typeof sid === "string" ? transports.get(sid) : undefined;
    if (!transport) {
      if (typeof sid === "string") {
        const error = unknownSessionStatus === 404 ? { code: -32001, message: "Session not found" } : { code: -32000, message: "Bad Request: No valid session ID provided" };
        res.writeHead(unknownSessionStatus, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: null, error }));
        return;
      }
      if (!isInitializeRequest(body)) {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: "Bad Request: no session" } }));
        return;
      }
      const t = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: json,
        ...(keepAliveMs === undefined ? {} : { keepAliveMs }),
        onsessioninitialized: (id) => void transports.set(id, t),
      });
      t.onclose = () => {
        if (t.sessionId) transports.delete(t.sessionId);
      };
      await makeServer().connect(t);
      transport = t;
    }
    await transport.handleRequest(req, res, body);
  } catch (err) {
    if (!res.headersSent) res.writeHead(500).end(String(err));
  }
});

httpServer.keepAliveTimeout = 60_000;
httpServer.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? "127.0.0.1", () => {
  const addr = httpServer.address();
  process.stdout.write(`LISTENING ${typeof addr === "object" && addr ? addr.port : 0}\n`);
});
process.on("SIGTERM", () => process.exit(0));
