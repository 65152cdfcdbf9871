/** The COPY encoding's fast paths give exactly what the plain ones give: times as toISOString, text escaped only where needed. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copyField, isoTime } from "./values.js";

describe("isoTime", () => {
  it("equals Date.prototype.toISOString for any epoch ms a Date holds", () => {
    const edges = [0, -1, 1, 86_399_999, 86_400_000, -62_135_596_800_000, -62_135_596_800_001, 253_402_300_799_999, 253_402_300_800_000, 951_782_400_000, 8_640_000_000_000_000, -8_640_000_000_000_000];
    for (const ms of edges) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
    fc.assert(fc.property(fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 }), (ms) => isoTime(ms) === new Date(ms).toISOString()), { numRuns: 20_000 });
  });
});

describe("copyField", () => {
  it("escapes backslash, tab, newline and carriage return, and nothing else", () => {
    expect(copyField("a\\b\tc\nd\re ✓", "text")).toBe("a\\\\b\\tc\\nd\\re ✓");
    expect(copyField("plain", "text")).toBe("plain");
    expect(copyField(null, "text")).toBe("\\N");
    expect(copyField(1_700_000_000_007, "timestamp with time zone")).toBe("2023-11-14T22:13:20.007Z");
    expect(copyField("2023-11-14T22:13:20.007Z", "timestamp with time zone")).toBe("2023-11-14T22:13:20.007Z");
    expect(copyField(1, "boolean")).toBe("t");
  });
});
