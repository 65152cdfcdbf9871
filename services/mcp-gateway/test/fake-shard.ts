/**
 * A scriptable in-process HTTP peer for answers a real MCP server gives rarely or never on demand: a
 * paginated tools/list, an error status, an oversized or never-ending answer, a reset. The gateway's
 * health ping (`id: "gateway-health"`) is answered here; every other request goes to the handler and is
 * recorded.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { JsonRpcMessage } from "../src/mcp.js";

export interface FakeRequest {
  method: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body as JSON, when it is. */
  msg?: JsonRpcMessage;
}

export type FakeHandler = (r: FakeRequest, res: http.ServerResponse) => void | Promise<void>;

export const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  void res.writeHead(status, { "content-type": "application/json", ...headers }).end(typeof body === "string" ? body : JSON.stringify(body));

export async function startFakeShard(handler: FakeHandler) {
  const requests: FakeRequest[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    let msg: JsonRpcMessage | undefined;
    try {
      msg = body ? (JSON.parse(body) as JsonRpcMessage) : undefined;
    } catch {
      msg = undefined;
    }
    if (msg?.id === "gateway-health") return json(res, 200, { jsonrpc: "2.0", id: msg.id, result: {} });
    const r = { method: req.method ?? "", headers: req.headers, body, msg };
    requests.push(r);
    await handler(r, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
