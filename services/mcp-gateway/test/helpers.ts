/** Shared test helpers: agent tokens in a temp SQLite file, an in-process gateway, SDK and raw clients. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { buildApp, type Gateway } from "../src/app.js";
import { readConfig, type GatewayConfig } from "../src/config.js";
import { findResponse } from "../src/body.js";
import type { JsonRpcMessage } from "../src/mcp.js";
import { MemorySessionRegistry, type SessionRegistry } from "../src/registry.js";

export async function tokenDb() {
  const dir = mkdtempSync(join(tmpdir(), "mcpgw-"));
  const url = `sqlite:${join(dir, "tokens.db")}`;
  const { store, close } = await openTokenStore(url);
  const tokens = new AgentTokens(store);
  return {
    url,
    tokens,
    issue: async (agent: string) => (await tokens.issue(agent)).token,
    close: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Test gateways check their replicas often (every 200 ms) but give a ping 10 s to answer: one failed or
 * late ping marks a replica dead (its sessions then get 404, a namespace without a live replica 503), and
 * on a loaded CI box a replica process can stall past the 1 s default. A killed replica still refuses the
 * ping at once, so death is noticed within a round. A test that means to exercise the ping timeout sets
 * GATEWAY_HEALTH_TIMEOUT_MS itself.
 */
export const TEST_HEALTH_ENV = { GATEWAY_HEALTH_INTERVAL_MS: "200", GATEWAY_HEALTH_TIMEOUT_MS: "10000" } as const;

export function configFor(shards: Record<string, unknown>, env: Record<string, string> = {}): GatewayConfig {
  return readConfig({ GATEWAY_SHARDS: JSON.stringify(shards), TOKENS_DATABASE_URL: "sqlite::memory:", LOG_LEVEL: "silent", ...TEST_HEALTH_ENV, ...env });
}

export async function startInProcess(config: GatewayConfig, tokens: AgentTokens, registry: SessionRegistry = new MemorySessionRegistry(config.sessionTtlSeconds * 1000), port = 0) {
  const gw: Gateway = buildApp(config, { tokens, registry });
  await gw.health.start();
  await gw.app.listen({ port, host: "127.0.0.1" });
  const addr = gw.app.server.address();
  const base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  return {
    gw,
    base,
    stop: async () => {
      await gw.app.close();
      await gw.close();
    },
  };
}

export async function sdkClient(url: string, token: string, headers: Record<string, string> = {}) {
  const client = new Client({ name: "test-agent", version: "0.1.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}`, ...headers } } });
  await client.connect(transport);
  return { client, transport, close: () => client.close() };
}

export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? "").join("");
}

export const pidOf = (text: string) => Number(/pid:(\d+)/.exec(text)?.[1] ?? NaN);

/** A raw POST (for 2026-07-28 requests and cross-gateway session use). */
export async function rawPost(url: string, headers: Record<string, string>, body: unknown) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const id = typeof body === "object" && body !== null ? ((body as JsonRpcMessage).id ?? null) : null;
  return { status: res.status, headers: res.headers, text, message: findResponse(res.headers.get("content-type") ?? undefined, text, id) };
}

/** A 2026-07-28 request built from the spec's header rules (Streamable HTTP §Request Metadata). */
export function modernRequest(method: string, params: Record<string, unknown>, id: number | string = 1) {
  const body = { jsonrpc: "2.0", id, method, params: { ...params, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientInfo": { name: "raw-agent", version: "1" }, "io.modelcontextprotocol/clientCapabilities": {} } } };
  const headers: Record<string, string> = { "mcp-protocol-version": "2026-07-28", "mcp-method": method };
  const name = (params.name ?? params.uri) as string | undefined;
  if (name !== undefined) headers["mcp-name"] = name;
  return { body, headers };
}
