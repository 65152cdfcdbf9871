import { describe, expect, it } from "vitest";
import { JSON_MAX_DEPTH, JsonBodyError, parseJsonBounded, scanJson } from "./json-body.js";

const parse = (text: string | Buffer, maxDepth?: number) => parseJsonBounded(text, { maxBytes: 1 << 20, maxDepth });
const refusal = (text: string | Buffer, maxDepth?: number): { status: number; reason: string; message: string } => {
  try {
    parse(text, maxDepth);
  } catch (err) {
    if (!(err instanceof JsonBodyError)) throw err;
    return { status: err.statusCode, reason: err.reason, message: err.message };
  }
  throw new Error(`accepted: ${String(text).slice(0, 80)}`);
};

describe("parseJsonBounded", () => {
  it("parses ordinary JSON as JSON.parse does", () => {
    const text = '{"a":[1,-2.5e3,true,null,"x\\u0000\\ud800"],"b":{"c":{}},"n":9007199254740991,"z":0e5,"m":-0.0}';
    expect(parse(text)).toEqual(JSON.parse(text));
    expect(parse(Buffer.from(text))).toEqual(JSON.parse(text));
    expect(parse(" 1 ")).toBe(1);
  });

  it("refuses a body over maxBytes with a 413 before reading it", () => {
    const e = (() => {
      try {
        parseJsonBounded(Buffer.from('"' + "é".repeat(10) + '"'), { maxBytes: 20 });
      } catch (err) {
        return err as JsonBodyError;
      }
    })();
    expect(e).toMatchObject({ statusCode: 413, reason: "too_large", message: "body is 22 bytes; the limit is 20" });
  });

  it("counts depth before parsing: the limit is accepted, one more is a 400 at the JSON pointer of the container", () => {
    const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
    expect(parse(nest(JSON_MAX_DEPTH))).toBeDefined();
    expect(refusal(nest(JSON_MAX_DEPTH + 1))).toEqual({ status: 400, reason: "refused", message: `body${"/0".repeat(JSON_MAX_DEPTH)}: nested deeper than ${JSON_MAX_DEPTH} levels` });
    expect(refusal('{"a":{"b/c":[0,{"d~":[[]]}]}}', 5).message).toBe("body/a/b~1c/1/d~0/0: nested deeper than 5 levels");
    // Brackets inside strings (with escaped quotes) are text, not nesting.
    expect(parse(`{"s":"${"[".repeat(100)}\\"${"{".repeat(100)}"}`, 2)).toBeDefined();
    // Very deep input is refused in linear time, without recursion.
    expect(refusal(nest(200_000)).message).toMatch(/nested deeper than 64 levels$/);
  });

  it("refuses a member given twice, also when written with escapes", () => {
    expect(refusal('{"a":1,"a":2}').message).toBe("body/a: member given twice");
    expect(refusal('{"x":[{"ab":1,"\\u0061b":2}]}').message).toBe("body/x/0/ab: member given twice");
    expect(parse('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it("refuses __proto__ members and constructor.prototype, as Fastify's own parser does", () => {
    expect(refusal('{"a":{"__proto__":{"x":1}}}').message).toBe("body/a/__proto__: member name __proto__ is not accepted");
    expect(refusal('{"\\u005f_proto__":1}').message).toMatch(/^body\/__proto__: /);
    expect(refusal('{"constructor":{"prototype":{}}}').message).toBe("body/constructor/prototype: member name prototype is not accepted under constructor");
    expect(parse('{"constructor":1,"prototype":2}')).toEqual({ constructor: 1, prototype: 2 });
  });

  it("refuses numbers JavaScript does not hold as written", () => {
    expect(refusal("[1e400]").message).toBe("body/0: number 1e400 is out of range (an IEEE 754 double holds up to ±1.8e308)");
    expect(refusal('{"n":-1E+309}').message).toMatch(/^body\/n: number -1E\+309 is out of range/);
    expect(refusal('{"n":1e-400}').message).toBe("body/n: number 1e-400 underflows to 0");
    expect(refusal('{"n":12345678901234567890}').message).toMatch(/^body\/n: number 12345678901234567890 cannot be represented exactly/);
    expect(refusal('{"n":-9007199254740993}').message).toMatch(/cannot be represented exactly/);
    expect(refusal(`[${"9".repeat(1000)}]`).message).toMatch(/^body\/0: number 9{40}… is out of range/);
    expect(parse("[9007199254740992, 1e308, 5e-324, 0.1, 1e21, 0e-400]")).toEqual([9007199254740992, 1e308, 5e-324, 0.1, 1e21, 0]);
  });

  it("refuses bytes that are not UTF-8, an empty body and text that is not JSON, each as a 400", () => {
    expect(refusal(Buffer.from([0x22, 0xff, 0x22]))).toEqual({ status: 400, reason: "not_json", message: "body: not valid UTF-8" });
    expect(refusal(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])).message).toBe("body: not valid UTF-8"); // a UTF-8-encoded surrogate
    expect(refusal("  ").message).toBe("body: empty (a JSON value was expected)");
    expect(refusal("{not json")).toMatchObject({ status: 400, reason: "not_json", message: expect.stringMatching(/^body: not JSON \(/) });
    expect(refusal('{"a":1,}').reason).toBe("not_json");
    expect(refusal('"unterminated').reason).toBe("not_json");
  });

  it("names the value it checks as asked", () => {
    expect(() => parseJsonBounded("[[1]]", { maxBytes: 10, maxDepth: 1, name: "answer" })).toThrow("answer/0: nested deeper than 1 levels");
  });

  it("scanJson never throws for malformed text (JSON.parse reports it)", () => {
    for (const t of ['{"a', '{"a":"\\', "]]]]", '{"\\x":1}', "[-]", "{,,}", "1e", '"\\u12"']) expect(() => scanJson(t)).not.toThrow();
  });
});
