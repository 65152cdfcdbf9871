import { describe, expect, it } from "vitest";
import { intOption, parseCommandArgs, UsageError } from "./args.js";

describe("parseCommandArgs", () => {
  const opts = { json: { type: "boolean" }, seconds: { type: "string" } } as const;

  it("parses options and positionals strictly", () => {
    const r = parseCommandArgs("x", "x [--json]", ["a", "--json", "--seconds", "5"], opts);
    expect(r.positionals).toEqual(["a"]);
    expect(r.values).toEqual({ json: true, seconds: "5" });
  });

  it.each([
    [["--yaml"], "x: unknown option --yaml; usage: x [--json]"],
    [["--seconds"], /^x: Option '--seconds <value>' argument missing; usage: x \[--json\]$/],
    [["--json=1"], /^x: Option '--json' does not take an argument; usage: x \[--json\]$/],
  ])("%j is one line naming the command and the usage", (argv, expected) => {
    let message = "";
    try {
      parseCommandArgs("x", "x [--json]", argv, opts);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      message = (err as Error).message;
    }
    if (typeof expected === "string") expect(message).toBe(expected);
    else expect(message).toMatch(expected);
  });

  it("intOption takes whole numbers at or above its minimum", () => {
    expect(intOption("x", "n", undefined, 7)).toBe(7);
    expect(intOption("x", "n", "12", 7)).toBe(12);
    expect(() => intOption("x", "n", "1.5", 7)).toThrow('x: --n="1.5": expected a whole number ≥ 0');
    expect(() => intOption("x", "n", "0", 7, 1)).toThrow("≥ 1");
  });
});
