import { describe, expect, it } from "vitest";
import { images } from "../../catalog/images.js";
import { defaultImage, expectedImageTag, flagFingerprint, flagTables } from "../server-spec.js";
import type { FlagTable, ServerKind } from "../types.js";

/**
 * The flag list each table was reviewed with, per pinned tag. Moving `pinnedTag` means re-reading
 * the argument definitions at the new tag and recording the new table here; a new tag whose
 * table is byte-identical to another tag's fails, so a tag bump cannot slip through unreviewed.
 */
const reviewed: Record<ServerKind, Record<string, string>> = {
  "llama-server": { b5517: "119bacd6cc042d8f5be211a25dc461c8185ea2caba3512318b3426ff76002b1a" },
  vllm: { "v0.8.5": "1fe035f5128b4ab9a74c11c6abcb6d8ac09839e14b1d38a86f2f912caa0c45b8" },
};

describe.each(Object.values(flagTables))("flag table $server", (table: FlagTable) => {
  it("records the fingerprint of its flag list for its pinned tag", () => {
    const perTag = reviewed[table.server];
    expect(Object.keys(perTag), `no reviewed flag list for ${table.server} ${table.pinnedTag}`).toContain(table.pinnedTag);
    expect(flagFingerprint(table)).toBe(perTag[table.pinnedTag]);
  });

  it("has a different flag list for every reviewed tag", () => {
    const fingerprints = Object.values(reviewed[table.server]);
    expect(new Set(fingerprints).size).toBe(fingerprints.length);
  });

  it("cites the argument definitions at the pinned tag", () => {
    expect(table.sourceAtTag.length).toBeGreaterThan(0);
    for (const url of table.sourceAtTag) expect(url).toMatch(new RegExp(`^https://github\\.com/[^/]+/[^/]+/blob/${table.pinnedTag.replace(/\./g, "\\.")}/`));
    expect(table.readFrom.urls.every((u) => u.startsWith("https://"))).toBe(true);
  });

  it("spells every option once, as a dash option, with a description", () => {
    const names = table.flags.flatMap((f) => [...f.names]);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^--?[a-zA-Z][a-zA-Z0-9-]*$/);
    for (const f of table.flags) expect(f.description.length).toBeGreaterThan(3);
  });
});

describe("flag fingerprint", () => {
  const table = flagTables["llama-server"];

  it("changes when an option is added, removed or changes arity", () => {
    const base = flagFingerprint(table);
    const first = table.flags[0];
    if (!first) throw new Error("empty table");
    expect(flagFingerprint({ ...table, flags: [...table.flags, { names: ["--new-flag"], takesValue: true, description: "new" }] })).not.toBe(base);
    expect(flagFingerprint({ ...table, flags: table.flags.slice(1) })).not.toBe(base);
    expect(flagFingerprint({ ...table, flags: [{ ...first, takesValue: !first.takesValue }, ...table.flags.slice(1)] })).not.toBe(base);
  });

  it("does not depend on the order of the options or on the tag", () => {
    expect(flagFingerprint({ ...table, flags: [...table.flags].reverse() })).toBe(flagFingerprint(table));
    expect(flagFingerprint({ ...table, pinnedTag: "b9999" })).toBe(flagFingerprint(table));
  });
});

describe("pinned tags and the image catalogue", () => {
  it("the single box's llama-server image is the tag the llama-server table is pinned to", () => {
    const llama = images.find((i) => i.key === "llamaServerImage");
    expect(llama?.default).toBe(defaultImage("llama-server"));
    expect(llama?.default.endsWith(`:${expectedImageTag(flagTables["llama-server"])}`)).toBe(true);
  });

  it("vLLM's image is the OpenAI-compatible server at the pinned tag", () => {
    expect(defaultImage("vllm")).toBe("vllm/vllm-openai:v0.8.5");
  });
});
