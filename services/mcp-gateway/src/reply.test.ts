/** The error answers: what each upstream failure is answered with, and the net that keeps every error body JSON-RPC. */
import Fastify from "fastify";
import { Counter, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { BodyError } from "./body.js";
import { ERR } from "./mcp.js";
import { RegistryUnavailable } from "./registry.js";
import { NoReplica } from "./replica-call.js";
import { errorBodyNet, failureRefusal, sendRpcError } from "./reply.js";

const codeError = (code: string) => Object.assign(new Error(`fake ${code}`), { code });

describe("failureRefusal: a failed shard call, as a whole answer or a batch element", () => {
  it.each<[string, unknown, { status: number; code: number; data?: unknown; headers?: unknown }]>([
    ["no live replica", new NoReplica("dev-tools"), { status: 503, code: ERR.unavailable, data: { namespace: "dev-tools" } }],
    ["the registry is down", new RegistryUnavailable(new Error("ECONNREFUSED")), { status: 503, code: ERR.unavailable, headers: { "retry-after": "1" } }],
    ["no answer headers in time", codeError("UND_ERR_HEADERS_TIMEOUT"), { status: 504, code: ERR.unavailable, data: { namespace: "ns" } }],
    ["the answer body stalled", codeError("UND_ERR_BODY_TIMEOUT"), { status: 504, code: ERR.unavailable, data: { namespace: "ns" } }],
    ["a reset", codeError("ECONNRESET"), { status: 502, code: ERR.unavailable, data: { namespace: "ns" } }],
    ["an answer over the cap", new BodyError(502, ERR.unavailable, "upstream answer larger than 10 bytes"), { status: 502, code: ERR.unavailable, data: { namespace: "ns" } }],
  ])("%s", (_what, err, expected) => {
    expect(failureRefusal("ns", err, 7)).toMatchObject({ ...expected, id: 7 });
  });
});

describe("errorBodyNet: no error answer leaves without a JSON-RPC body", () => {
  it("replaces and counts an error body that is not JSON-RPC, and leaves JSON-RPC errors and successes alone", async () => {
    const registry = new Registry();
    const errors = new Counter({ name: "t_errors", help: "t", labelNames: ["namespace", "reason"] as const, registers: [registry] });
    const app = Fastify({ logger: false });
    app.addHook("onSend", errorBodyNet(errors));
    app.get("/plain", (_req, reply) => reply.code(400).send("plain text"));
    app.get("/object", (_req, reply) => reply.code(500).send({ error: "internal" }));
    app.get("/empty", (_req, reply) => reply.code(405).send());
    app.get("/rpc", (_req, reply) => sendRpcError(reply, 404, ERR.sessionNotFound, "Session not found", 3));
    app.get("/ok", (_req, reply) => reply.code(200).send("fine"));
    const get = async (url: string) => {
      const r = await app.inject({ method: "GET", url });
      return { status: r.statusCode, type: String(r.headers["content-type"]), body: r.body };
    };
    for (const [url, status, code] of [["/plain", 400, ERR.invalidRequest], ["/object", 500, ERR.internal], ["/empty", 405, ERR.invalidRequest]] as const) {
      const r = await get(url);
      expect(r.status).toBe(status);
      expect(r.type).toContain("application/json");
      expect(JSON.parse(r.body)).toEqual({ jsonrpc: "2.0", id: null, error: { code, message: expect.stringContaining(String(status)) } });
    }
    expect(JSON.parse((await get("/rpc")).body)).toEqual({ jsonrpc: "2.0", id: 3, error: { code: ERR.sessionNotFound, message: "Session not found" } });
    expect((await get("/ok")).body).toBe("fine");
    expect((await errors.get()).values).toEqual([{ labels: { namespace: "-", reason: "error_body_not_jsonrpc" }, value: 3 }]);
    await app.close();
  });
});
