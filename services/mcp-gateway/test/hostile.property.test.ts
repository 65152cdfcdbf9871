/**
 * (Over 300 lines on purpose: one property test per HTTP API, with its generators beside it.)
 * Hostile requests (fast-check) against a running gateway with real replicas (SDK servers, SSE and JSON
 * answers, and the spec-built 2026-07-28 server): deep nesting, NUL and lone surrogates, huge and
 * non-finite numbers, unknown members, wrong types, oversized and non-UTF-8 bodies, batches, duplicate
 * and missing headers, unknown paths and methods, and raw bytes Node's HTTP parser refuses. Whatever
 * comes in: no 5xx (no upstream is down here, so not even 502/503/504), no crash, and every 4xx is a
 * JSON-RPC error body. Bounded runs (a few seconds each).
 */
import net from "node:net";
import fc from "fast-check";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeHeaderValue } from "../src/mcp.js";
import { configFor, rawPost, startInProcess, tokenDb } from "./helpers.js";
import { startReplica, type Proc } from "./peers.js";

const MAX_BODY = 16_384;
let db: Awaited<ReturnType<typeof tokenDb>>;
let procs: Proc[] = [];
let gw: Awaited<ReturnType<typeof startInProcess>>;
let token: string;
let origin: string;
const sessions: string[] = [];

const INIT = (protocolVersion: string) => ({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion, capabilities: {}, clientInfo: { name: "prop", version: "1" } } });

beforeAll(async () => {
  db = await tokenDb();
  procs = await Promise.all([startReplica("dev-tools"), startReplica("commerce", { json: true }), startReplica("modern", { modern: true })]);
  const [dev, commerce, modern] = procs as [Proc, Proc, Proc];
  gw = await startInProcess(
    configFor(
      { "dev-tools": [dev.url], commerce: [commerce.url], modern: { replicas: [modern.url], protocol: "2026-07-28" } },
      { GATEWAY_MAX_BODY_BYTES: String(MAX_BODY), GATEWAY_RATE_PER_SECOND: "1000000", GATEWAY_RATE_BURST: "1000000", GATEWAY_ALLOWED_ORIGINS: "https://console.example.com" },
    ),
    db.tokens,
  );
  origin = gw.base;
  token = await db.issue("agent-hostile");
  // Live sessions the generated requests may name (valid0…valid5): pass-through and federated, one
  // federated on 2025-03-26 (batches allowed).
  // valid4 and valid5 are there to be deleted.
  for (const [path, version] of [["/mcp/dev-tools", "2025-11-25"], ["/mcp/commerce", "2025-06-18"], ["/mcp", "2025-11-25"], ["/mcp", "2025-03-26"], ["/mcp/dev-tools", "2025-11-25"], ["/mcp", "2025-11-25"]] as const) {
    const res = await rawPost(`${gw.base}${path}`, { authorization: `Bearer ${token}` }, INIT(version));
    sessions.push(res.headers.get("mcp-session-id") as string);
  }
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all(procs.map((p) => p.kill()));
  await db?.close();
});

// ---- generators

const ascii = (max: number) => fc.string({ unit: "grapheme-ascii", maxLength: max }).map((s) => s.replace(/[^\x21-\x7e]/g, "x"));
/** Strings with the characters that break naive code: NUL, lone surrogates, control characters, non-BMP. */
const nasty = fc.string({ unit: fc.constantFrom("a", "\u0000", "\ud800", "\udfff", "\u001f", "\u2028", "😀", '"', "\\", "é", "__", "/"), maxLength: 12 });
/** Number literals as text (JSON.stringify cannot write most of them). */
const numberText = fc.constantFrom("1e400", "-1e400", "1e-400", "123456789012345678901234567890", "9007199254740993", "-0", "0.1", "1E308", "5e-324", "NaN", "Infinity", "0x10", "01", "1.");
const toolName = fc.constantFrom("echo", "whoami", "noop", "nope", "", "dev-tools__echo", "dev-tools__", "commerce__whoami", "modern__whoami", "nope__x", "__echo", "dev-tools__nope");
const method = fc.constantFrom("initialize", "ping", "tools/list", "tools/call", "resources/read", "prompts/get", "notifications/initialized", "notifications/cancelled", "", "x".repeat(300));
const jsonish = fc.oneof(fc.jsonValue({ maxDepth: 3 }), nasty, fc.constant("__NUM__"));

/** A JSON-RPC-shaped value with hostile twists; `__NUM__` marks where a raw number literal goes. */
const message = fc.record(
  {
    jsonrpc: fc.constantFrom<unknown>("2.0", "2.0", "2.0", "1.0", 2, null),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constantFrom<unknown>(null, 1.5, {}, [], true, "__NUM__")),
    method: fc.oneof(method, fc.constantFrom<unknown>(5, null, {})),
    params: fc.oneof(
      fc.record(
        {
          name: fc.oneof(toolName, nasty, fc.constantFrom<unknown>(5, null, ["a"])),
          arguments: fc.oneof(fc.dictionary(nasty, jsonish, { maxKeys: 3 }), jsonish),
          cursor: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom<unknown>("gw1.e30", "gw1.eyJkZXYtdG9vbHMiOiJ4In0", 7, null)),
          protocolVersion: fc.constantFrom<unknown>("2025-11-25", "2025-03-26", "2026-07-28", "1999-01-01", 20250618),
          uri: nasty,
          _meta: fc.oneof(fc.constant<unknown>({ "io.modelcontextprotocol/protocolVersion": "2026-07-28" }), jsonish),
        },
        { requiredKeys: [] },
      ),
      fc.constantFrom<unknown>([], null, "params", 3),
    ),
    result: jsonish,
    error: fc.oneof(fc.record({ code: fc.oneof(fc.integer(), fc.constant<unknown>("x")), message: nasty }), jsonish),
    "unknown\u0000member": jsonish,
  },
  { requiredKeys: [] },
);

const deep = fc.tuple(fc.integer({ min: 60, max: 3000 }), fc.constantFrom("[", '{"a":')).map(([n, open]) => {
  const close = open === "[" ? "]" : "}";
  return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"dev-tools__echo","arguments":{"x":${open.repeat(n)}1${close.repeat(n)}}}}`;
});

/** A well-formed request that reaches routing (and often a shard), hostile only inside its params. */
const routable = fc.record({
  jsonrpc: fc.constant("2.0"),
  id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 })),
  method: fc.constantFrom("initialize", "ping", "tools/list", "tools/call", "tools/call", "resources/read", "prompts/list"),
  params: fc.record(
    {
      name: fc.oneof(toolName, nasty),
      arguments: fc.record({ text: fc.oneof({ weight: 3, arbitrary: nasty }, { weight: 1, arbitrary: fc.constant("__NUM__") }), more: jsonish }, { requiredKeys: [] }),
      cursor: fc.constantFrom("gw1.e30", "p2", "gw1.eyJkZXYtdG9vbHMiOiJ4In0"),
      protocolVersion: fc.constantFrom("2025-11-25", "2025-03-26", "2026-07-28"),
      _meta: fc.constantFrom({ "io.modelcontextprotocol/protocolVersion": "2026-07-28" }, { progressToken: 1 }),
    },
    { requiredKeys: [] },
  ),
});

/** Body text (or bytes) to send. */
const body = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(routable, numberText).map(([m, n]) => JSON.stringify(m).replaceAll('"__NUM__"', n)) },
  { weight: 4, arbitrary: fc.tuple(message, numberText).map(([m, n]) => JSON.stringify(m).replaceAll('"__NUM__"', n)) },
  { weight: 1, arbitrary: fc.tuple(fc.array(routable, { minLength: 1, maxLength: 5 }), numberText).map(([ms, n]) => JSON.stringify(ms).replaceAll('"__NUM__"', n)) },
  { weight: 2, arbitrary: fc.tuple(fc.array(message, { maxLength: 70 }), numberText).map(([ms, n]) => JSON.stringify(ms).replaceAll('"__NUM__"', n)) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 3 }).map((n) => `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${"x".repeat(n)}"}}`) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom("", "null", "42", '"x"', "[]", "{}", '{"a":1,"a":2}', "\ufeff{}", "[1,", '{"jsonrpc":"2.0","id":1,"method":"ping"} trailing') },
);

/** A header: mostly absent or one value, sometimes the same header twice. */
const header = (values: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant<string | string[] | undefined>(undefined) },
    { weight: 5, arbitrary: values },
    { weight: 1, arbitrary: fc.tuple(values, values).map(([a, b]) => [a, b]) },
  );

const headers = fc.record(
  {
    authorization: fc.oneof(
      { weight: 8, arbitrary: fc.constant<string | string[] | undefined>("valid") },
      { weight: 2, arbitrary: header(fc.oneof(ascii(20).map((s) => `Bearer ${s}`), fc.constantFrom("Basic eDp5", "Bearer", "bearer valid", "tsa_x"))) },
      { weight: 1, arbitrary: fc.constant<string | string[] | undefined>(["valid", "valid"]) },
    ),
    "content-type": fc.oneof(
      { weight: 6, arbitrary: fc.constant<string | string[] | undefined>("application/json") },
      { weight: 2, arbitrary: header(fc.constantFrom("application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "application/json-seq", "APPLICATION/JSON", "multipart/form-data; boundary=x")) },
    ),
    accept: header(fc.constantFrom("application/json, text/event-stream", "application/json", "text/event-stream", "*/*", "text/html")),
    "mcp-protocol-version": header(fc.constantFrom("2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "garbage", "")),
    "mcp-session-id": header(fc.oneof({ weight: 4, arbitrary: fc.constantFrom("valid0", "valid1", "valid2", "valid3", "valid4", "valid5") }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom("gw_unknown", ""), ascii(30)) })),
    "mcp-method": header(fc.oneof(method, ascii(20))),
    "mcp-name": header(fc.oneof(toolName, ascii(20), fc.constantFrom("=?base64?ZWNobw==?=", "=?base64?!!?=", "=?base64??="))),
    "mcp-param-region": header(ascii(10)),
    origin: fc.oneof({ weight: 6, arbitrary: fc.constant<string | string[] | undefined>(undefined) }, { weight: 1, arbitrary: header(fc.constantFrom("https://console.example.com", "https://evil.example", "null")) }),
    "last-event-id": header(ascii(10)),
  },
  { requiredKeys: [] },
);

const path = fc.oneof(
  fc.constantFrom("/mcp", "/mcp", "/mcp/dev-tools", "/mcp/dev-tools", "/mcp/commerce", "/mcp/modern", "/mcp/nope", "/mcp/dev-tools/x", "/mcp/", "/mcp/%00", "/mcp/%F0%9F%98%80", "/mcp/%ZZ", "/mcp?x=1", "/mcp/dev-tools?a=%00"),
  ascii(12).map((s) => `/mcp/${encodeURIComponent(s)}`),
);

type Hostile = { method: string; path: string; headers: Record<string, string | string[] | undefined>; body: string | Buffer };

/** Anything: every dimension hostile at once (most of these are refused early). */
const chaos: fc.Arbitrary<Hostile> = fc.record({
  method: fc.constantFrom("POST", "POST", "POST", "POST", "GET", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"),
  path,
  headers,
  body,
});

/**
 * A request a client could send on one of the live sessions (or a 2026-07-28 one with headers that
 * agree with its body), with hostile params, and at most one header dropped, repeated or changed: these
 * reach the shards.
 */
const plausible: fc.Arbitrary<Hostile> = fc
  .record({
    target: fc.constantFrom(
      { path: "/mcp/dev-tools", sid: "valid0", version: "2025-11-25" },
      { path: "/mcp/commerce", sid: "valid1", version: "2025-06-18" },
      { path: "/mcp", sid: "valid2", version: "2025-11-25" },
      { path: "/mcp", sid: "valid3", version: "2025-03-26" },
      { path: "/mcp/dev-tools", sid: undefined, version: "2026-07-28" },
      { path: "/mcp/modern", sid: undefined, version: "2026-07-28" },
      { path: "/mcp", sid: undefined, version: "2026-07-28" },
      { path: "/mcp/commerce", sid: undefined, version: undefined },
    ),
    verb: fc.constantFrom("POST", "POST", "POST", "POST", "POST", "POST", "GET", "DELETE"),
    msgs: fc.array(routable, { minLength: 1, maxLength: 3 }),
    batch: fc.boolean(),
    num: numberText,
    mutation: fc.oneof(
      fc.constant(undefined),
      fc.tuple(fc.constantFrom("authorization", "content-type", "accept", "mcp-protocol-version", "mcp-session-id", "mcp-method", "mcp-name"), fc.constantFrom("drop", "twice", "change")),
    ),
    changed: ascii(16),
  })
  .map(({ target, verb, msgs, batch, num, mutation, changed }) => {
    const first = msgs[0] as (typeof msgs)[number];
    const modern = target.version === "2026-07-28";
    const msg = modern ? { ...first, params: { ...first.params, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } } } : first;
    const h: Record<string, string | string[] | undefined> = { authorization: "valid", "content-type": "application/json", accept: "application/json, text/event-stream" };
    if (target.version) h["mcp-protocol-version"] = target.version;
    // DELETE ends a session: it goes to the two sessions kept for that, not to the ones the others use
    if (target.sid) h["mcp-session-id"] = verb === "DELETE" ? (target.path === "/mcp" ? "valid5" : "valid4") : target.sid;
    if (modern) {
      h["mcp-method"] = msg.method;
      if (typeof msg.params.name === "string") h["mcp-name"] = encodeHeaderValue(msg.params.name); // §Value Encoding
    }
    if (mutation) {
      const [k, how] = mutation;
      const v = h[k];
      if (how === "drop") delete h[k];
      else if (how === "twice") h[k] = [typeof v === "string" ? v : changed, changed];
      else h[k] = changed;
    }
    const text = JSON.stringify(batch && target.sid === "valid3" ? [msg, ...msgs.slice(1)] : msg).replaceAll('"__NUM__"', num);
    return { method: verb, path: target.path, headers: h, body: text };
  });

const hostile = fc.oneof(chaos, plausible);

// ---- checks

/** The answer to a 4xx: JSON, a JSON-RPC 2.0 error (integer code, string message) with an `id` member. */
function expectRpcError(status: number, contentType: unknown, text: string, what: string) {
  expect(String(contentType), what).toContain("application/json");
  const v = JSON.parse(text) as { jsonrpc?: unknown; id?: unknown; error?: { code?: unknown; message?: unknown } };
  expect(v.jsonrpc, what).toBe("2.0");
  expect("id" in v, what).toBe(true);
  expect(Number.isInteger(v.error?.code), what).toBe(true);
  expect(typeof v.error?.message, what).toBe("string");
  expect(status, what).toBeLessThan(500);
}

/** FC_SEED=<seed printed by a failure> replays it. */
const seed = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};

const resolve = (v: string) => (v === "valid" ? `Bearer ${token}` : /^valid\d$/.test(v) ? (sessions[Number(v.slice(5))] as string) : v);

describe("hostile requests never get a 5xx, never crash the gateway, and every 4xx is a JSON-RPC error", () => {
  it("over HTTP (fast-check, bounded)", async () => {
    await fc.assert(
      fc.asyncProperty(hostile, async (h: Hostile) => {
        const hdrs: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(h.headers)) {
          if (v === undefined) continue;
          if (k === "authorization" && typeof v === "string" && v === "bearer valid") hdrs[k] = `bearer ${token}`;
          else hdrs[k] = Array.isArray(v) ? v.map(resolve) : resolve(v);
        }
        const sendsBody = !["GET", "HEAD"].includes(h.method);
        const res = await request(`${origin}${h.path}`, { method: h.method as "POST", headers: hdrs, body: sendsBody ? h.body : undefined, headersTimeout: 30_000, bodyTimeout: 30_000 });
        const what = `${h.method} ${h.path} → ${res.statusCode}`;
        if (String(res.headers["content-type"] ?? "").includes("text/event-stream") && h.method === "GET") {
          res.body.destroy(); // a GET stream stays open by design
          expect(res.statusCode, what).toBe(200);
          return;
        }
        const text = await res.body.text();
        expect(res.statusCode, `${what}: ${text.slice(0, 300)}`).toBeLessThan(500);
        if (res.statusCode >= 400 && h.method !== "HEAD") expectRpcError(res.statusCode, res.headers["content-type"], text, `${what}: ${text.slice(0, 300)}`);
        if (res.statusCode === 405) expect(res.headers.allow, what).toBeTruthy();
      }),
      { numRuns: 400, endOnFailure: true, ...seed },
    );
  });

  it("over raw TCP with bytes Node's HTTP parser refuses (NUL, CR, LF, obs-text in headers; bad request lines)", async () => {
    const { port } = new URL(origin);
    const headerBytes = fc.uint8Array({ minLength: 1, maxLength: 16 }).map((a) => Buffer.from(a));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("POST", "GET", "DELETE", "BREW", "G\u0000T"),
        fc.oneof(fc.constantFrom("/mcp", "/mcp/dev-tools", "/mcp/\u0000", "/mcp/ x", "/mcp/%ZZ", "/mcp/dev-tools?%00"), ascii(10).map((s) => `/mcp/${s}`)),
        fc.array(fc.tuple(fc.constantFrom("mcp-session-id", "mcp-name", "authorization", "x-any", "mcp-method", "bad name", "bad\u0000name"), headerBytes), { maxLength: 3 }),
        fc.constantFrom("", '{"jsonrpc":"2.0","id":1,"method":"ping"}'),
        async (verb, target, extra, payload) => {
          const head = Buffer.concat([
            Buffer.from(`${verb} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n`, "latin1"),
            ...extra.map(([k, v]) => Buffer.concat([Buffer.from(`${k}: `, "latin1"), v, Buffer.from("\r\n")])),
            Buffer.from(`\r\n${payload}`),
          ]);
          const raw = await new Promise<Buffer>((resolveRaw, reject) => {
            const chunks: Buffer[] = [];
            const s = net.connect(Number(port), "127.0.0.1", () => s.end(head));
            s.on("data", (c: Buffer) => chunks.push(c));
            s.on("error", reject);
            s.on("close", () => resolveRaw(Buffer.concat(chunks)));
          });
          const text = raw.toString("latin1");
          const what = `${JSON.stringify(head.toString("latin1"))} → ${JSON.stringify(text.slice(0, 200))}`;
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
          expect(status, what).toBeGreaterThanOrEqual(200);
          expect(status, what).toBeLessThan(500);
          if (status >= 400) {
            const [headPart = "", ...rest] = text.split("\r\n\r\n");
            let bodyText = rest.join("\r\n\r\n");
            if (/transfer-encoding: chunked/i.test(headPart)) bodyText = bodyText.replace(/^[0-9a-f]+\r\n/i, "").replace(/\r\n0\r\n\r\n$/, "");
            const ct = /content-type: ([^\r\n]+)/i.exec(headPart)?.[1];
            expectRpcError(status, ct, Buffer.from(bodyText, "latin1").toString("utf8"), what);
          }
        },
      ),
      { numRuns: 150, endOnFailure: true, ...seed },
    );
  });

  it("is still healthy afterwards, and never had to replace an error body that was not JSON-RPC", async () => {
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    expect(metrics).not.toMatch(/reason="error_body_not_jsonrpc"\} [1-9]/);
    const ok = await rawPost(`${origin}/mcp/dev-tools`, { authorization: `Bearer ${token}` }, INIT("2025-11-25"));
    expect(ok.status).toBe(200);
  });
});
