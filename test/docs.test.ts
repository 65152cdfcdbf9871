/**
 * The project owns its documents: every decision record has the one heading format and is in
 * the index, and no tracked file points outside the repository.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../cli/plan.js";

const adrDir = join(repoRoot, "docs", "adr");
const adrs = readdirSync(adrDir).filter((f) => /^\d{4}-.+\.md$/.test(f));

describe("decision records", () => {
  it.each(adrs)("%s: # NNNN. Title, a Status line, Context / Decision / Consequences", (file) => {
    const text = readFileSync(join(adrDir, file), "utf8");
    const lines = text.split("\n");
    expect(lines[0]).toMatch(new RegExp(`^# ${file.slice(0, 4)}\\. \\S`));
    expect(lines.slice(1, 4).some((l) => /^Status: \S/.test(l))).toBe(true);
    for (const h of ["## Context", "## Decision", "## Consequences"]) expect(text).toContain(`\n${h}`);
  });

  it("the index lists every record", () => {
    const index = readFileSync(join(adrDir, "README.md"), "utf8");
    for (const file of adrs) expect(index, file).toContain(`](${file})`);
  });
});

it("no tracked file points at a path outside the repository", () => {
  const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: repoRoot, encoding: "utf8" }).split("\0").filter((f) => /\.(ts|md|json|ya?ml|cjs|mjs)$/.test(f) && f !== "test/docs.test.ts");
  const outside = tracked.filter((f) => /\.\.\/shared\/|FACTS\.md|\/work\/|\/farm\//.test(readFileSync(join(repoRoot, f), "utf8")));
  expect(outside).toEqual([]);
});
