import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { deadLetterKey, decodeText, decodeValue, encodeParams, encodeText } from "./rows.js";

/** What PostgreSQL's text cannot hold and what neither store keeps: NUL and unpaired surrogates. */
const storable = (s: string) => !s.includes("\u0000") && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

describe("the stores' text codec", () => {
  it.each([
    ["plain text is unchanged", "What is a noun?", "What is a noun?"],
    ["a surrogate pair is unchanged", "\u{1F600}", "\u{1F600}"],
    ["NUL", "a\u0000b", "a\u00100b"],
    ["the escape character itself", "\u0010", "\u0010\u0010"],
    ["a lone high surrogate", "x\ud800", "x\u0010d800"],
    ["a lone low surrogate", "\udc00y", "\u0010dc00y"],
    ["a low then a high surrogate (no pair)", "\udc00\ud800", "\u0010dc00\u0010d800"],
    ["escape followed by what an encoding looks like", "\u00100", "\u0010\u00100"],
  ])("%s", (_name, text, stored) => {
    expect(encodeText(text)).toBe(stored);
    expect(decodeText(stored)).toBe(text);
  });

  it("round trips every string, and what it stores has no NUL and no lone surrogate", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 64 }), (s) => {
        const e = encodeText(s);
        expect(decodeText(e)).toBe(s);
        expect(storable(e)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("is injective: two strings never share a stored form", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 16 }), fc.string({ unit: "binary", maxLength: 16 }), (a, b) => {
        if (a !== b) expect(encodeText(a)).not.toBe(encodeText(b));
      }),
      { numRuns: 500 },
    );
  });

  it("leaves storable text without the escape character as it is (ordinary rows are stored unchanged)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 64 }).filter((s) => !s.includes("\u0010") && storable(s)), (s) => {
        expect(encodeText(s)).toBe(s);
      }),
      { numRuns: 1000 },
    );
  });

  it("is character-local: an ASCII prefix encodes as itself ('reply:' || wa_id matches the recorded key)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 32 }), (s) => {
        expect(encodeText(`reply:${s}`)).toBe(`reply:${encodeText(s)}`);
      }),
    );
  });

  it("decodes a stray escape character (a row written before the codec) as itself", () => {
    expect(decodeText("a\u0010x")).toBe("a\u0010x");
    expect(decodeText("\u0010")).toBe("\u0010");
    expect(decodeText("\u0010d8")).toBe("\u0010d8");
  });

  it("encodes parameters (also inside arrays) and decodes rows (also inside json_agg objects)", () => {
    expect(encodeParams(["\u0000", 1, null, ["\ud800", 2]])).toEqual(["\u00100", 1, null, ["\u0010d800", 2]]);
    expect(decodeValue({ a: "\u00100", n: 1, list: [{ content: "\u0010dc00" }], nothing: null })).toEqual({ a: "\u0000", n: 1, list: [{ content: "\udc00" }], nothing: null });
  });

  it("returns a row with nothing to decode as it is, and copies (never changes) one with something to decode", () => {
    const plain = { a: "text", n: 1, list: [{ content: "x" }], nothing: null };
    expect(decodeValue(plain)).toBe(plain);
    const row = { a: "ok", list: ["fine", "\u00100"] };
    const out = decodeValue(row);
    expect(out).toEqual({ a: "ok", list: ["fine", "\u0000"] });
    expect(row).toEqual({ a: "ok", list: ["fine", "\u00100"] });
  });

  it("dead-letter keys: the caller's key, hashed past 200 characters; without one a hash that tells lone surrogates apart", () => {
    expect(deadLetterKey({ source: "whatsapp", reason: "r", payload: "p", key: "whatsapp:wamid.1" })).toBe("whatsapp:wamid.1");
    expect(deadLetterKey({ source: "whatsapp", reason: "r", payload: "p", key: "k".repeat(201) })).toMatch(/^sha256:[0-9a-f]{64}$/);
    const keyless = (payload: string) => deadLetterKey({ source: "whatsapp", reason: "r", payload });
    expect(keyless("\ud800")).not.toBe(keyless("\udc00"));
    expect(keyless("\ud800")).not.toBe(keyless("\ufffd"));
    expect(keyless("p")).toBe(keyless("p"));
    // source/reason/payload boundaries are part of the key
    expect(deadLetterKey({ source: "a", reason: "b\nc", payload: "d" })).not.toBe(deadLetterKey({ source: "a", reason: "b", payload: "c\nd" }));
  });
});
