import { describe, expect, it } from "vitest";
import { decodeText, encodeText } from "./text-codec.js";

/** What PostgreSQL's text cannot hold and what neither store keeps: NUL and unpaired surrogates. */
const storable = (s: string) => !s.includes("\u0000") && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

describe("the platform's text codec", () => {
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

  it("every string of up to four units over the codec's tricky alphabet round trips, is storable, and has its own stored form", () => {
    const alphabet = ["\u0000", "\u0010", "0", "d", "8", "f", "\ud800", "\udbff", "\udc00", "\udfff", "\ufffd", "a"];
    let strings = [""];
    const all = [""];
    for (let len = 1; len <= 4; len++) {
      strings = strings.flatMap((s) => alphabet.map((c) => s + c));
      all.push(...strings);
    }
    const seen = new Map<string, string>();
    const wrong: string[] = [];
    for (const s of all) {
      const e = encodeText(s);
      if (decodeText(e) !== s || !storable(e)) wrong.push(s);
      if (seen.has(e)) wrong.push(`${s} and ${seen.get(e)}`);
      seen.set(e, s);
    }
    expect(wrong.map((w) => JSON.stringify(w))).toEqual([]);
    expect(seen.size).toBe(all.length);
  });

  it("every single UTF-16 code unit round trips", () => {
    const wrong: number[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const s = `x${String.fromCharCode(c)}y`;
      const e = encodeText(s);
      if (decodeText(e) !== s || !storable(e)) wrong.push(c);
    }
    expect(wrong).toEqual([]);
  });

  it("decoding leaves an escape that is not one of its forms as it is", () => {
    expect(decodeText("\u0010x")).toBe("\u0010x");
    expect(decodeText("\u0010d7ff")).toBe("\u0010d7ff");
    expect(decodeText("end \u0010")).toBe("end \u0010");
  });
});
