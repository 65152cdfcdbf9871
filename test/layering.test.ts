/**
 * The layering rule (.dependency-cruiser.cjs, run by `npm run lint`) fails on a wrong import:
 * the linter runs for real on a scratch tree laid out like this repository, once with files
 * that keep the rule and once with each deliberately wrong one.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { repoRoot } from "../cli/plan.js";

const scratch = mkdtempSync(join(tmpdir(), "tierstack-layering-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const good: Record<string, string> = {
  "catalog/tiers.ts": `export const tiers = ["single-box"] as const;\n`,
  "config/config.ts": `import { tiers } from "../catalog/tiers.js";\nexport const first = tiers[0];\n`,
  "components/disk.ts": `import * as pulumi from "@pulumi/pulumi";\nimport { tiers } from "../catalog/tiers.js";\nexport const disk = (n: string) => new pulumi.ComponentResource("x:y:Disk", n + tiers[0]);\n`,
  "stacks/program.ts": `import { first } from "../config/config.js";\nimport { disk } from "../components/disk.js";\nexport const build = () => disk(first);\n`,
  "cli/main.ts": `import { build } from "../stacks/program.js";\nbuild();\n`,
  "services/queue/src/app.ts": `export const app = 1;\n`,
  "packages/shard-map/src/index.ts": `export const parse = (t: string) => JSON.parse(t) as unknown;\n`,
};

/** One wrong file each, and the rule that must name it. */
const wrong: { name: string; file: string; text: string; rule: string }[] = [
  { name: "a component importing a stack", file: "components/bad.ts", text: `import { build } from "../stacks/program.js";\nexport const b = build;\n`, rule: "components-are-leaves" },
  { name: "a component importing the stack config", file: "components/bad.ts", text: `import { first } from "../config/config.js";\nexport const b = first;\n`, rule: "components-are-leaves" },
  { name: "the catalogue importing a component", file: "catalog/bad.ts", text: `import { disk } from "../components/disk.js";\nexport const b = disk;\n`, rule: "catalog-is-the-floor" },
  { name: "a stack importing the CLI", file: "stacks/bad.ts", text: `import "../cli/main.js";\n`, rule: "stacks-below-cli" },
  { name: "a service importing the Pulumi program", file: "services/queue/src/bad.ts", text: `import { build } from "../../../stacks/program.js";\nexport const b = build;\n`, rule: "services-stay-off-the-program" },
  { name: "a service importing a Pulumi SDK", file: "services/queue/src/bad.ts", text: `import * as pulumi from "@pulumi/pulumi";\nexport const b = pulumi.getStack;\n`, rule: "services-stay-off-the-program" },
  { name: "the shard-map parser importing anything", file: "packages/shard-map/src/bad.ts", text: `import { readFileSync } from "node:fs";\nexport const b = readFileSync;\n`, rule: "shard-map-is-dependency-free" },
  { name: "a cycle", file: "config/bad.ts", text: `import "../config/bad2.js";\n`, rule: "no-circular" },
];

function lay(files: Record<string, string>): string {
  const dir = mkdtempSync(join(scratch, "tree-"));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  cpSync(join(repoRoot, "tsconfig.json"), join(dir, "tsconfig.json"));
  symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

/** depcruise as `npm run lint` runs it; asynchronous, so the cases run side by side. */
async function lint(dir: string): Promise<{ status: number | null; out: string }> {
  const bin = join(repoRoot, "node_modules", ".bin", "depcruise");
  const child = spawn(bin, ["--config", join(repoRoot, ".dependency-cruiser.cjs"), "--output-type", "err", "catalog", "config", "components", "stacks", "cli", "services", "packages"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const status = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code));
  });
  return { status, out };
}

describe.concurrent("the layering rule", () => {
  it("passes a tree that keeps it", async ({ expect }) => {
    const r = await lint(lay(good));
    expect(r.out).toContain("no dependency violations");
    expect(r.status).toBe(0);
  });

  it.for(wrong)("fails $name, naming rule $rule and the file", async ({ file, text, rule }, { expect }) => {
    const extra: Record<string, string> = { [file]: text };
    if (rule === "no-circular") extra["config/bad2.ts"] = `import "./bad.js";\n`;
    const r = await lint(lay({ ...good, ...extra }));
    expect(r.status).not.toBe(0);
    expect(r.out).toContain(`error ${rule}: ${file}`);
  });
});
