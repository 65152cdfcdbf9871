import { describe, expect, it } from "vitest";
import { DEFAULT_PROTOCOL, LEGACY_VERSIONS, MODERN_VERSION, PROTOCOL_VERSIONS, formatShardMap, isNamespace, parseShardMap, type ShardConfig } from "./index.js";

const A = "http://127.0.0.1:9101/mcp";
const B = "https://shard.example/mcp";

function jsonErrorOf(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${text} parses`);
}

describe("accepted shard maps (as text and as a parsed value)", () => {
  const cases: { what: string; map: unknown; shards: ShardConfig[] }[] = [
    { what: "array form ⇒ default protocol", map: { "dev-tools": [A, B] }, shards: [{ namespace: "dev-tools", replicas: [A, B], protocol: "2025-11-25" }] },
    { what: "object form without protocol ⇒ default protocol", map: { x: { replicas: [A] } }, shards: [{ namespace: "x", replicas: [A], protocol: "2025-11-25" }] },
    ...PROTOCOL_VERSIONS.map((protocol) => ({
      what: `object form, protocol ${protocol}`,
      map: { commerce: { replicas: [B], protocol } },
      shards: [{ namespace: "commerce", replicas: [B], protocol }],
    })),
    {
      what: "both shapes and both eras side by side, input order kept",
      map: { "dev-tools": [A], commerce: { replicas: [A, B], protocol: "2026-07-28" }, legacy: { protocol: "2025-03-26", replicas: [B] } },
      shards: [
        { namespace: "dev-tools", replicas: [A], protocol: "2025-11-25" },
        { namespace: "commerce", replicas: [A, B], protocol: "2026-07-28" },
        { namespace: "legacy", replicas: [B], protocol: "2025-03-26" },
      ],
    },
    { what: "one-character and 32-character namespaces", map: { a: [A], [`a${"-".repeat(30)}b`]: [B] }, shards: [{ namespace: "a", replicas: [A], protocol: "2025-11-25" }, { namespace: `a${"-".repeat(30)}b`, replicas: [B], protocol: "2025-11-25" }] },
  ];
  for (const c of cases) {
    it(c.what, () => {
      expect(parseShardMap(c.map)).toEqual({ shards: c.shards, problems: [] });
      expect(parseShardMap(JSON.stringify(c.map))).toEqual({ shards: c.shards, problems: [] });
      expect(parseShardMap(JSON.stringify(c.map, null, 2))).toEqual({ shards: c.shards, problems: [] });
    });
  }

  it("the version constants are the two eras, newest first", () => {
    expect(MODERN_VERSION).toBe("2026-07-28");
    expect(LEGACY_VERSIONS).toEqual(["2025-11-25", "2025-06-18", "2025-03-26"]);
    expect(PROTOCOL_VERSIONS).toEqual(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]);
    expect(DEFAULT_PROTOCOL).toBe("2025-11-25");
  });

  it("the namespace rule", () => {
    for (const ok of ["a", "dev-tools", "0", "a-b-c", "x".repeat(32)]) expect(isNamespace(ok), ok).toBe(true);
    for (const bad of ["", "-a", "a-", "A", "a__b", "a_b", "a.b", "x".repeat(33), "__proto__", "a b"]) expect(isNamespace(bad), bad).toBe(false);
  });
});

describe("refused shard maps: one line per problem", () => {
  const versions = "2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26";
  const cases: { what: string; map: unknown; problems: string[]; shards?: string[] }[] = [
    { what: "invalid JSON", map: "{not json", problems: [`not JSON: ${jsonErrorOf("{not json")}`] },
    { what: "empty text", map: "", problems: [`not JSON: ${jsonErrorOf("")}`] },
    { what: "top level is an array", map: [A], problems: ["expected an object mapping namespace to replica URLs"] },
    { what: "top level is null", map: null, problems: ["expected an object mapping namespace to replica URLs"] },
    { what: "top level is a JSON string", map: JSON.stringify("dev-tools"), problems: ["expected an object mapping namespace to replica URLs"] },
    { what: "top level is a number", map: 7, problems: ["expected an object mapping namespace to replica URLs"] },
    { what: "no namespaces", map: {}, problems: ["no namespaces: at least one is required"] },
    { what: "namespace with capitals and __", map: { Bad__Name: [A] }, problems: [`namespace "Bad__Name": expected 1-32 of a-z 0-9 -, starting and ending with a letter or digit`] },
    { what: "namespace of 33 characters", map: { ["x".repeat(33)]: [A] }, problems: [`namespace "${"x".repeat(33)}": expected 1-32 of a-z 0-9 -, starting and ending with a letter or digit`] },
    { what: "empty replica list", map: { empty: [] }, problems: ["empty: expected a non-empty array of replica URLs"] },
    { what: "empty replica list, object form", map: { empty: { replicas: [] } }, problems: ["empty.replicas: expected a non-empty array of replica URLs"] },
    { what: "object form without replicas", map: { x: { protocol: "2026-07-28" } }, problems: ["x.replicas: missing; expected a non-empty array of replica URLs"] },
    {
      what: "a string instead of a list",
      map: { "dev-tools": "not-a-list" },
      problems: [`dev-tools="not-a-list": expected a non-empty array of replica URLs or {"replicas": [...], "protocol": "2025-11-25"}`],
    },
    { what: "null instead of a list", map: { x: null }, problems: [`x=null: expected a non-empty array of replica URLs or {"replicas": [...], "protocol": "2025-11-25"}`] },
    { what: "replicas not a list, object form", map: { x: { replicas: A } }, problems: [`x.replicas="${A}": expected a non-empty array of replica URLs`] },
    { what: "replica that is not a string", map: { x: [A, 7] }, problems: ["x[1]: expected a URL string"] },
    { what: "ftp URL", map: { "dev-tools": [A, "ftp://x"] }, problems: ['dev-tools[1]="ftp://x": expected an http(s) URL'] },
    { what: "not a URL", map: { x: ["localhost:9101"] }, problems: ['x[0]="localhost:9101": expected an http(s) URL'] },
    { what: "http without //", map: { x: ["http:foo"] }, problems: ['x[0]="http:foo": expected an http(s) URL'] },
    { what: "URL with a space", map: { x: ["http://a/m cp"] }, problems: ['x[0]="http://a/m cp": expected an http(s) URL'] },
    { what: "URL with surrounding space", map: { x: [" http://a/mcp"] }, problems: ['x[0]=" http://a/mcp": expected an http(s) URL'] },
    { what: "duplicate replica", map: { dup: [A, A] }, problems: [`dup[1]="${A}": listed twice`] },
    { what: "duplicate replica after URL normalisation", map: { dup: ["http://a:80/mcp", "HTTP://A/mcp"] }, problems: ['dup[1]="HTTP://A/mcp": listed twice'] },
    { what: "unknown protocol", map: { x: { replicas: [A], protocol: "1999-01-01" } }, problems: [`x.protocol="1999-01-01": expected one of ${versions}`] },
    { what: "protocol not a string", map: { x: { replicas: [A], protocol: 2026 } }, problems: [`x.protocol=2026: expected one of ${versions}`] },
    {
      what: "unknown keys, each named",
      map: { x: { replicas: [A], protocl: "2026-07-28", weight: 2 } },
      problems: ['x: unknown key "protocl" (expected replicas, protocol)', 'x: unknown key "weight" (expected replicas, protocol)'],
    },
    {
      what: "namespace given twice in the text",
      map: `{"dev-tools": ["${A}"], "dev-tools": ["${B}"], "ok": ["${A}"]}`,
      problems: ['namespace "dev-tools": listed twice; expected each namespace once'],
      shards: ["ok"],
    },
    {
      what: "key given twice in the object form",
      map: `{"x": {"replicas": ["${A}"], "protocol": "2026-07-28", "protocol": "2025-11-25"}}`,
      problems: ['x: key "protocol" listed twice; expected each of replicas, protocol at most once'],
    },
    {
      what: "every problem of a map, in order, good namespaces still returned",
      map: { Bad__Name: [A], empty: [], dup: [A, A], wrong: { replicas: ["ftp://x/mcp", 7], protocol: "1999-01-01", extra: 1 }, good: [B] },
      problems: [
        'namespace "Bad__Name": expected 1-32 of a-z 0-9 -, starting and ending with a letter or digit',
        "empty: expected a non-empty array of replica URLs",
        `dup[1]="${A}": listed twice`,
        'wrong: unknown key "extra" (expected replicas, protocol)',
        `wrong.protocol="1999-01-01": expected one of ${versions}`,
        'wrong[0]="ftp://x/mcp": expected an http(s) URL',
        "wrong[1]: expected a URL string",
      ],
      shards: ["good"],
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const { shards, problems } = parseShardMap(c.map);
      expect(problems).toEqual(c.problems);
      for (const p of problems) expect(p).not.toContain("\n");
      expect(shards.map((s) => s.namespace)).toEqual(c.shards ?? []);
    });
  }

  it("a parsed value and its JSON text give the same lines", () => {
    for (const c of cases) {
      if (typeof c.map === "string" || c.map === undefined) continue;
      expect(parseShardMap(JSON.stringify(c.map)).problems, c.what).toEqual(c.problems);
    }
  });

  it("duplicate-key detection: only real keys of the same object count", () => {
    expect(parseShardMap(`{"x": [{"a": 1, "a": 2}]}`).problems).toEqual(["x[0]: expected a URL string"]);
    expect(parseShardMap(`{"x": ["${A}"], "y": ["${A}"]}`).problems).toEqual([]);
    expect(parseShardMap(`{"x": {"replicas": ["${A}"]}, "y": {"replicas": ["${B}"], "protocol": "2026-07-28"}}`).problems).toEqual([]);
    // An escaped quote inside a value must not end the string early and make `"replicas":` look like a key.
    expect(parseShardMap(`{"x": {"protocol": "a\\": \\"replicas", "replicas": ["${A}"]}}`).problems).toEqual([`x.protocol="a\\": \\"replicas": expected one of ${versions}`]);
  });
});

describe("formatShardMap", () => {
  const shards: ShardConfig[] = [
    { namespace: "dev-tools", replicas: [A, B], protocol: "2025-11-25" },
    { namespace: "commerce", replicas: [B], protocol: "2026-07-28" },
  ];

  it("renders the canonical object form on one line, and it parses back to the same shards", () => {
    const text = formatShardMap(shards);
    expect(text).toBe(`{"dev-tools":{"replicas":["${A}","${B}"],"protocol":"2025-11-25"},"commerce":{"replicas":["${B}"],"protocol":"2026-07-28"}}`);
    expect(parseShardMap(text)).toEqual({ shards, problems: [] });
  });

  it("normalises the array form to the object form", () => {
    const { shards: parsed } = parseShardMap({ "dev-tools": [A] });
    expect(formatShardMap(parsed)).toBe(`{"dev-tools":{"replicas":["${A}"],"protocol":"2025-11-25"}}`);
  });

  it("refuses to render what would not parse back", () => {
    expect(() => formatShardMap([])).toThrow("formatShardMap: no namespaces: at least one is required");
    expect(() => formatShardMap([shards[0] as ShardConfig, shards[0] as ShardConfig])).toThrow('formatShardMap: namespace "dev-tools" given twice');
    expect(() => formatShardMap([{ namespace: "Dev", replicas: [A], protocol: "2025-11-25" }])).toThrow('formatShardMap: namespace "Dev": expected 1-32');
    expect(() => formatShardMap([{ namespace: "x", replicas: ["ftp://x"], protocol: "2025-11-25" }])).toThrow('formatShardMap: x[0]="ftp://x": expected an http(s) URL');
    expect(() => formatShardMap([{ namespace: "x", replicas: [A], protocol: "1.0" as ShardConfig["protocol"] }])).toThrow(`formatShardMap: x.protocol="1.0"`);
  });
});

describe("dependency-free", () => {
  it("index.ts imports nothing", async () => {
    const { readFile } = await import("node:fs/promises");
    const source = await readFile(new URL("./index.ts", import.meta.url), "utf8");
    expect(source).not.toMatch(/^\s*import\b|\bimport\s*\(|\brequire\s*\(|^\s*export\s[^;]*\bfrom\s/m);
  });
});
