/**
 * A minimal 2026-07-28 MCP server (no sessions, no initialize) written from the spec's Streamable HTTP
 * text, because @modelcontextprotocol/sdk 1.32.2 implements versions up to 2025-11-25 only. It validates
 * the request-metadata headers against the body (§Server Validation) so the gateway's own header
 * construction is checked by a peer. Prints `LISTENING <port>`.
 */
import http from "node:http";
import { checkModernHeaders, type JsonRpcMessage } from "../src/mcp.js";

const namespace = process.env.NAMESPACE ?? "modern";
const send = (res: http.ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

const server = http.createServer(async (req, res) => {
  // §Backward Compatibility: GET/DELETE ⇒ 405.
  if (req.method !== "POST") return void res.writeHead(405, { allow: "POST" }).end();
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let msg: JsonRpcMessage;
  try {
    msg = JSON.parse(Buffer.concat(chunks).toString("utf8")) as JsonRpcMessage;
  } catch {
    return send(res, 400, { jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
  }
  if (req.headers["mcp-protocol-version"] !== "2026-07-28") {
    return send(res, 400, { jsonrpc: "2.0", id: msg.id ?? null, error: { code: -32000, message: "unsupported protocol version", data: { supported: ["2026-07-28"] } } });
  }
  const problem = checkModernHeaders(req.headers, msg);
  if (problem) return send(res, 400, { jsonrpc: "2.0", id: msg.id ?? null, error: { code: -32020, message: `Header mismatch: ${problem}` } });
  const id = msg.id ?? null;
  if (msg.method === "ping") return send(res, 200, { jsonrpc: "2.0", id, result: {} });
  if (msg.method === "tools/list") {
    return send(res, 200, { jsonrpc: "2.0", id, result: { tools: [{ name: "whoami", description: "Names the replica process", inputSchema: { type: "object" } }] } });
  }
  if (msg.method === "tools/call" && msg.params?.name === "whoami") {
    return send(res, 200, { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: `pid:${process.pid} ns:${namespace} era:2026-07-28 auth:${req.headers.authorization ?? "(none)"}` }] } });
  }
  return send(res, 404, { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } });
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const addr = server.address();
  process.stdout.write(`LISTENING ${typeof addr === "object" && addr ? addr.port : 0}\n`);
});
process.on("SIGTERM", () => process.exit(0));
