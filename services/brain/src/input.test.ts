import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HttpError } from "@tierstack/common";
import { jsonDepthExceeds, normalizePhone, oneHeader, parseBoundedJson, readFields, safeEqual, type Spec } from "./input.js";

/** The message of the HttpError `fn` throws (fails when it throws something else or nothing). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).statusCode).toBe(400);
    return (err as HttpError).message;
  }
  throw new Error("expected a 400");
}

/** Reference depth: the nesting of a parsed JSON value. */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === "object") return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

describe("jsonDepthExceeds", () => {
  it("agrees with the nesting of the parsed value, for any JSON text", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 0, max: 14 }), (v, max) => {
        const text = JSON.stringify(v);
        expect(jsonDepthExceeds(text, max)).toBe(depthOf(JSON.parse(text)) > max);
      }),
      { numRuns: 1000 },
    );
  });

  it("ignores brackets inside strings, escaped quotes included", () => {
    expect(jsonDepthExceeds(JSON.stringify({ a: "[[[[[[{{{{\\\"[[[[" }), 1)).toBe(false);
    expect(jsonDepthExceeds(JSON.stringify(["\"", [[]]]), 2)).toBe(true);
  });

  it("is linear: 200,000 levels are answered without recursion", () => {
    expect(jsonDepthExceeds("[".repeat(200_000) + "]".repeat(200_000), 64)).toBe(true);
  });
});

describe("parseBoundedJson", () => {
  it("parses, refuses deep nesting before parsing and names the body", () => {
    expect(parseBoundedJson('{"a":[1]}')).toEqual({ a: [1] });
    expect(refusal(() => parseBoundedJson("[".repeat(9) + "]".repeat(9)))).toBe("body: nested deeper than 8 levels");
    expect(refusal(() => parseBoundedJson("{nope"))).toMatch(/^body: not JSON/);
  });
});

describe("readFields", () => {
  const spec = {
    phone: { type: "string", maxLength: 8, required: true },
    consent: { type: "true", required: true, accept: ["yes"] },
    limit: { type: "integer", min: 1, max: 1000, required: false },
  } satisfies Spec;

  it.each<[string, unknown, string]>([
    ["an unknown field", { phone: "1", consent: true, extra: 1 }, "extra: unknown field (expected phone, consent, limit)"],
    ["__proto__ as a field (JSON.parse makes it an own property)", JSON.parse('{"phone":"1","consent":true,"__proto__":{}}'), "__proto__: unknown field (expected phone, consent, limit)"],
    ["a missing field", { consent: true }, "phone: required"],
    ["a number for a string", { phone: 1, consent: true }, "phone: expected a string"],
    ["a string too long", { phone: "123456789", consent: true }, "phone: longer than 8 characters"],
    ["\"true\" for true", { phone: "1", consent: "true" }, "consent: expected true"],
    ["false for true", { phone: "1", consent: false }, "consent: expected true"],
    ["a string for an integer", { phone: "1", consent: true, limit: "10" }, "limit: expected an integer from 1 to 1000"],
    ["a fraction", { phone: "1", consent: true, limit: 1.5 }, "limit: expected an integer from 1 to 1000"],
    ["Infinity", { phone: "1", consent: true, limit: Infinity }, "limit: expected an integer from 1 to 1000"],
    ["1e400 (parsed as Infinity)", JSON.parse('{"phone":"1","consent":true,"limit":1e400}'), "limit: expected an integer from 1 to 1000"],
    ["over the maximum", { phone: "1", consent: true, limit: 1001 }, "limit: expected an integer from 1 to 1000"],
    ["an array body", [1], "body: expected an object"],
    ["a string body", "phone", "body: expected an object"],
  ])("JSON: refuses %s", (_name, input, message) => {
    expect(refusal(() => readFields(input, spec))).toBe(message);
  });

  it("JSON: accepts exactly the spec, unchanged (no trimming, no coercion)", () => {
    expect(readFields({ phone: " 1 ", consent: true, limit: 5 }, spec)).toEqual({ phone: " 1 ", consent: true, limit: 5 });
    expect(readFields({ phone: "1", consent: true }, spec)).toEqual({ phone: "1", consent: true });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["a field given twice", { phone: ["1", "2"], consent: "yes" }, "phone: given more than once"],
    ["a true field with a value not accepted", { phone: "1", consent: "true" }, 'consent: expected "yes"'],
    ["an integer with a sign", { phone: "1", consent: "yes", limit: "+5" }, "limit: expected an integer from 1 to 1000"],
    ["an integer with a leading zero", { phone: "1", consent: "yes", limit: "05" }, "limit: expected an integer from 1 to 1000"],
    ["an integer in exponent form", { phone: "1", consent: "yes", limit: "1e2" }, "limit: expected an integer from 1 to 1000"],
    ["zero", { phone: "1", consent: "yes", limit: "0" }, "limit: expected an integer from 1 to 1000"],
    ["an empty integer", { phone: "1", consent: "yes", limit: "" }, "limit: expected an integer from 1 to 1000"],
  ])("query/form: refuses %s", (_name, input, message) => {
    expect(refusal(() => readFields(input, spec, { strings: true }))).toBe(message);
  });

  it("query/form: reads decimal integers and accepted strings", () => {
    expect(readFields({ phone: "1", consent: "yes", limit: "1000" }, spec, { strings: true })).toEqual({ phone: "1", consent: true, limit: 1000 });
  });

  it("names an unknown field printably and briefly, whatever it is", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 1, maxLength: 200 }).filter((k) => !(k in spec)), (key) => {
        const message = refusal(() => readFields({ [key]: 1 }, spec));
        expect(message).toMatch(/^.{1,400}: unknown field/s);
        // eslint-disable-next-line no-control-regex -- control characters are what must not appear
        expect(message).not.toMatch(/[\u0000-\u001f]/);
      }),
      { numRuns: 300 },
    );
  });
});

describe("oneHeader", () => {
  const req = (rawHeaders: string[], headers: Record<string, string | string[] | undefined>) => ({ headers, raw: { rawHeaders } });
  it("reads a header given once, and treats a repeated one as absent", () => {
    expect(oneHeader(req(["X-Sig", "a"], { "x-sig": "a" }), "x-sig")).toBe("a");
    expect(oneHeader(req(["X-Sig", "a", "x-sig", "b"], { "x-sig": "a, b" }), "x-sig")).toBeUndefined();
    expect(oneHeader(req(["Authorization", "Bearer a", "Authorization", "Bearer b"], { authorization: "Bearer a" }), "authorization")).toBeUndefined();
    expect(oneHeader(req([], {}), "x-sig")).toBeUndefined();
  });
});

describe("safeEqual and normalizePhone", () => {
  it("tells lone surrogates apart", () => {
    expect(safeEqual("a\ud800", "a\udc00")).toBe(false);
    expect(safeEqual("a\ud800", "a\ufffd")).toBe(false);
    expect(safeEqual("same", "same")).toBe(true);
  });
  it("normalizes international numbers and refuses anything else", () => {
    expect(normalizePhone("+44 7700 900123")).toBe("447700900123");
    expect(normalizePhone("0044 (7700) 900-123")).toBe("447700900123");
    for (const bad of ["12", "+0 1234 5678", "44\u00007700900123", "x".repeat(40), 447700900123]) expect(normalizePhone(bad)).toBeUndefined();
  });
});
