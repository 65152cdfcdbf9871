/** The body contract (body.ts), table by table: bounded JSON, then JSON-RPC 2.0 as MCP uses it; each refusal names the field. */
import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BodyError, MAX_BATCH, MAX_DEPTH, checkMessage, findResponse, jsonRpcBody, parseJson, readCapped, rpcErrorOf } from "./body.js";
import { ERR } from "./mcp.js";

const bytes = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    if (err instanceof BodyError) return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
  return undefined;
};
const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

describe("parseJson: bounded before it is parsed", () => {
  it.each<[string, Buffer, number, string]>([
    ["empty", Buffer.alloc(0), ERR.parse, "Parse error: body: empty"],
    ["not JSON", bytes("{nope"), ERR.parse, "Parse error"],
    ["not UTF-8 (a lone continuation byte)", Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]), ERR.parse, "not valid UTF-8"],
    ["UTF-8-encoded surrogate (CESU)", Buffer.concat([bytes('"'), Buffer.from([0xed, 0xa0, 0x80]), bytes('"')]), ERR.parse, "not valid UTF-8"],
    ["nested one level too deep", bytes(nested(MAX_DEPTH + 1)), ERR.invalidRequest, `nested deeper than ${MAX_DEPTH} levels`],
    ["a member twice", bytes('{"id":1,"id":2}'), ERR.invalidRequest, "id: member given twice"],
    ["a member twice, spelled with an escape", bytes('{"params":{"name":"a","n\\u0061me":"b"}}'), ERR.invalidRequest, "params.name: member given twice"],
    ["a number that overflows", bytes('{"params":{"arguments":{"x":1e400}}}'), ERR.invalidRequest, "params.arguments.x: number 1e400 is out of range"],
    ["a negative number that overflows", bytes("[-1E999]"), ERR.invalidRequest, "[0]: number -1E999 is out of range"],
    ["a number that underflows to 0", bytes('{"a":[1,2.5e-400]}'), ERR.invalidRequest, "a[1]: number 2.5e-400 underflows to 0"],
    ["an integer that loses digits", bytes('{"id":12345678901234567890}'), ERR.invalidRequest, "id: number 12345678901234567890 cannot be represented exactly"],
    ["a __proto__ member", bytes('{"params":{"arguments":{"__proto__":{"admin":true}}}}'), ERR.invalidRequest, "params.arguments.__proto__: member name __proto__ is not accepted"],
    ["a member name that is not an identifier, twice", bytes('{"params":{"a b":1,"a b":2}}'), ERR.invalidRequest, 'params["a b"]: member given twice'],
  ])("refuses %s", (_what, raw, code, message) => {
    const r = refusal(() => parseJson(raw, 1 << 20));
    expect(r).toMatchObject({ status: 400, code });
    expect(r?.message).toContain(message);
  });

  it.each<[string, string, unknown]>([
    ["nested exactly to the limit", nested(MAX_DEPTH), JSON.parse(nested(MAX_DEPTH))],
    ["brackets and quotes inside strings do not count", `{"s":"[[[[{{\\"\\\\"}`, { s: '[[[[{{"\\' }],
    ["NUL and a lone surrogate as escapes", '{"s":"a\\u0000b\\ud800"}', { s: "a\u0000b\ud800" }],
    ["the same name in different objects", '{"a":{"x":1},"b":{"x":2}}', { a: { x: 1 }, b: { x: 2 } }],
    ["a large integer that is exact", "100000000000000000000", 1e20],
    ["2^53 - 1", "9007199254740991", 9007199254740991],
    ["0 written long", "[0.000e-999, -0]", [0, -0]],
    ["decimal fractions keep IEEE 754 rounding", "0.1", 0.1],
  ])("accepts %s", (_what, text, value) => {
    expect(parseJson(bytes(text), 1 << 20)).toEqual(value);
  });

  it("refuses a body over the cap with 413", () => {
    expect(refusal(() => parseJson(bytes("[1,2,3]"), 4))).toMatchObject({ status: 413 });
  });

  it("never throws anything but BodyError, and what it accepts is what JSON.parse reads (property)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.uint8Array().map((a) => Buffer.from(a).toString("latin1"))), (text) => {
        let value: unknown;
        try {
          value = parseJson(Buffer.from(text, "utf8"), 1 << 20);
        } catch (err) {
          expect(err).toBeInstanceOf(BodyError);
          return;
        }
        expect(value).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it("malformed input (unterminated strings, stray brackets) is a parse error", () => {
    for (const t of ['"abc', "]]]]", "}{", '{"a"', "[-", '{"a\\', "-".repeat(1000)]) expect(refusal(() => parseJson(bytes(t), 1 << 20)), t).toMatchObject({ status: 400, code: ERR.parse });
  });
});

describe("checkMessage / jsonRpcBody: JSON-RPC 2.0 as MCP uses it", () => {
  it.each<[string, unknown, string]>([
    ["null", null, "body: expected a JSON-RPC message"],
    ["a scalar", 42, "body: expected a JSON-RPC message"],
    ["an unknown member", { jsonrpc: "2.0", id: 1, method: "ping", extra: true }, "extra: unknown member"],
    ["jsonrpc missing", { id: 1, method: "ping" }, 'jsonrpc: expected "2.0"'],
    ["jsonrpc 1.0", { jsonrpc: "1.0", id: 1, method: "ping" }, 'jsonrpc: expected "2.0"'],
    ["a method that is not a string", { jsonrpc: "2.0", id: 1, method: 7 }, "method: expected a non-empty string"],
    ["an empty method", { jsonrpc: "2.0", id: 1, method: "" }, "method: expected a non-empty string"],
    ["id null on a request (MCP: MUST NOT be null)", { jsonrpc: "2.0", id: null, method: "ping" }, "id: expected a string or an integer"],
    ["a fractional id", { jsonrpc: "2.0", id: 1.5, method: "ping" }, "id: expected a string or an integer"],
    ["an object id", { jsonrpc: "2.0", id: {}, method: "ping" }, "id: expected a string or an integer"],
    ["params as an array", { jsonrpc: "2.0", id: 1, method: "ping", params: [1] }, "params: expected an object"],
    ["params null", { jsonrpc: "2.0", id: 1, method: "ping", params: null }, "params: expected an object"],
    ["_meta not an object", { jsonrpc: "2.0", id: 1, method: "ping", params: { _meta: 1 } }, "params._meta: expected an object"],
    ["a request with a result", { jsonrpc: "2.0", id: 1, method: "ping", result: {} }, "method: a request has no result or error"],
    ["neither method nor id", { jsonrpc: "2.0" }, "method: missing"],
    ["a response with both result and error", { jsonrpc: "2.0", id: 1, result: {}, error: { code: 1, message: "x" } }, "body: a response has exactly one of result or error"],
    ["a response with neither", { jsonrpc: "2.0", id: 1 }, "body: a response has exactly one of result or error"],
    ["an error code that is not an integer", { jsonrpc: "2.0", id: 1, error: { code: "x", message: "m" } }, "error.code: expected an integer"],
    ["an error without message", { jsonrpc: "2.0", id: 1, error: { code: 1 } }, "error.message: expected a string"],
    ["an unknown member in error", { jsonrpc: "2.0", id: 1, error: { code: 1, message: "m", stack: "" } }, "error.stack: unknown member"],
  ])("refuses %s (400, -32600, naming the field)", (_what, msg, message) => {
    const r = refusal(() => jsonRpcBody(bytes(msg), 1 << 20));
    expect(r).toMatchObject({ status: 400, code: ERR.invalidRequest });
    expect(r?.message.startsWith(`Invalid Request: ${message}`)).toBe(true);
  });

  it.each<[string, unknown]>([
    ["a request", { jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "x", arguments: { deep: [1] } } }],
    ["a notification", { jsonrpc: "2.0", method: "notifications/initialized" }],
    ["a result response", { jsonrpc: "2.0", id: 3, result: {} }],
    ["an error response with id null", { jsonrpc: "2.0", id: null, error: { code: -32700, message: "x", data: [1] } }],
    ["params members the gateway does not read (the shard owns their schema)", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x", task: { ttl: 1 }, future: true } }],
  ])("accepts %s", (_what, msg) => {
    expect(checkMessage(msg)).toEqual(msg);
  });

  it("one message ⇒ batch: false, the raw bytes kept", () => {
    const raw = bytes({ jsonrpc: "2.0", id: 1, method: "ping" });
    expect(jsonRpcBody(raw, 1 << 20)).toEqual({ raw, batch: false, msg: { jsonrpc: "2.0", id: 1, method: "ping" } });
  });

  it.each<[string, unknown, string | undefined]>([
    ["a batch", [{ jsonrpc: "2.0", id: 1, method: "ping" }, { jsonrpc: "2.0", method: "notifications/x" }], undefined],
    ["an empty batch", [], "body: an empty batch"],
    ["a batch over the limit", Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "ping" })), `a batch of ${MAX_BATCH + 1} messages`],
    ["a bad element, named by index", [{ jsonrpc: "2.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: 2, method: "ping", x: 1 }], "[1].x: unknown member"],
    ["two requests with one id", [{ jsonrpc: "2.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: 1, method: "ping" }], "[1].id: 1 is used by another request"],
  ])("%s", (_what, value, problem) => {
    const r = refusal(() => jsonRpcBody(bytes(value), 1 << 20));
    if (problem === undefined) {
      expect(r).toBeUndefined();
      expect(jsonRpcBody(bytes(value), 1 << 20)).toMatchObject({ batch: true, msgs: value });
    } else expect(r?.message).toContain(problem);
  });
});

describe("reading upstream answers", () => {
  it("readCapped reads to the end, and destroys and refuses past the cap", async () => {
    expect((await readCapped(Readable.from([Buffer.from("ab"), Buffer.from("cd")]), 4)).toString()).toBe("abcd");
    const big = Readable.from([Buffer.alloc(3), Buffer.alloc(3)]);
    await expect(readCapped(big, 4)).rejects.toMatchObject({ status: 502 });
    expect(big.destroyed).toBe(true);
  });

  it("findResponse takes the response with the id from JSON or SSE, through the bounded parse", () => {
    const sse = `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\ndata: {"jsonrpc":"2.0","id":4,"result":{"ok":true}}\n\n`;
    expect(findResponse("text/event-stream", sse, 4)).toEqual({ jsonrpc: "2.0", id: 4, result: { ok: true } });
    expect(findResponse("application/json", '{"jsonrpc":"2.0","id":4,"result":{}}', 5)).toBeUndefined();
    expect(findResponse("application/json", `{"jsonrpc":"2.0","id":4,"result":${nested(MAX_DEPTH)}}`, 4)).toBeUndefined();
  });

  it.each<[string, string, unknown]>([
    ["a JSON-RPC error", '{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request"}}', { code: -32000, message: "Bad Request" }],
    ["with data", '{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":{"a":1}}}', { code: 1, message: "m", data: { a: 1 } }],
    ["HTML", "<html>502</html>", undefined],
    ["empty", "", undefined],
    ["a result", '{"jsonrpc":"2.0","id":1,"result":{}}', undefined],
    ["a non-integer code", '{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}', undefined],
  ])("rpcErrorOf: %s", (_what, text, expected) => {
    expect(rpcErrorOf(text)).toEqual(expected);
  });
});
