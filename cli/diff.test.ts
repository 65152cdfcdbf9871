import { describe, expect, it } from "vitest";
import { diffPlans, renderJson, renderMarkdown, type PlanJson } from "./diff-engine.js";
import { changedSecrets, runDiff } from "./diff.js";

const vm = (machineType: string) => ({
  type: "gcp:compute/instance:Instance",
  name: "box-vm",
  inputs: { machineType, zone: "us-central1-a", bootDisk: { initializeParams: { image: "debian-12", size: 20 } }, metadata: { token: "[secret]" } },
});
const disk = { type: "gcp:compute/disk:Disk", name: "box-data", inputs: { size: 50, zone: "us-central1-a" } };
const pool = { type: "gcp:container/nodePool:NodePool", name: "gpu-pool", inputs: { nodeCount: 1 } };

const base: PlanJson = {
  stack: "s",
  tier: "single-box",
  resources: [vm("e2-standard-4"), disk],
  cost: { totalMinUsd: 100, totalMaxUsd: 120.5 },
  policy: { violations: [{ policy: "old-rule", enforcementLevel: "advisory", message: "was broken" }] },
};
const head: PlanJson = {
  stack: "s",
  tier: "single-box",
  resources: [{ ...vm("e2-standard-8"), inputs: { ...vm("e2-standard-8").inputs, zone: "us-central1-b" } }, pool],
  cost: { totalMinUsd: 180.25, totalMaxUsd: 200 },
  policy: { violations: [{ policy: "no-public-ip", enforcementLevel: "mandatory", message: "box-vm has a public IP" }] },
};

const baseStackFile = "config:\n  tierstack:tier: single-box\n  tierstack:stripeSecretKey:\n    secure: AAABBBold\n  tierstack:openrouterApiKey:\n    secure: SAME\n";
const headStackFile = "config:\n  tierstack:tier: single-box\n  tierstack:stripeSecretKey:\n    secure: AAABBBnew\n  tierstack:openrouterApiKey:\n    secure: SAME\n";

describe("diff engine on recorded plans", () => {
  const secrets = changedSecrets(baseStackFile, headStackFile);
  const d = diffPlans(base, head, secrets);

  it("finds added, removed and changed resources, nested inputs by path, and replacements", () => {
    expect(d.added).toEqual([{ type: "gcp:container/nodePool:NodePool", name: "gpu-pool" }]);
    expect(d.removed).toEqual([{ type: "gcp:compute/disk:Disk", name: "box-data" }]);
    expect(d.changed).toEqual([
      {
        type: "gcp:compute/instance:Instance",
        name: "box-vm",
        replacementExpected: true,
        changes: [
          { path: "machineType", old: "e2-standard-4", new: "e2-standard-8", replaces: false },
          { path: "zone", old: "us-central1-a", new: "us-central1-b", replaces: true },
        ],
      },
    ]);
  });

  it("the cost delta is the difference of the two estimates; policy violations new and fixed", () => {
    expect(d.cost).toEqual({ base: { minUsd: 100, maxUsd: 120.5 }, head: { minUsd: 180.25, maxUsd: 200 }, delta: { minUsd: 80.25, maxUsd: 79.5 } });
    expect(d.policy).toEqual({
      newViolations: [{ policy: "no-public-ip", enforcementLevel: "mandatory", message: "box-vm has a public IP" }],
      fixedViolations: [{ policy: "old-rule", enforcementLevel: "advisory", message: "was broken" }],
    });
  });

  it("a changed secret shows by key, never by value", () => {
    expect(secrets).toEqual(["tierstack:stripeSecretKey"]);
    const md = renderMarkdown([d], "main");
    const json = renderJson([d], "main");
    for (const out of [md, json]) {
      expect(out).toContain("tierstack:stripeSecretKey");
      expect(out).not.toContain("AAABBB");
    }
  });

  it("a changed nested input is found by its path and a create-only one is marked", () => {
    const img = diffPlans({ ...base, resources: [vm("e2-small")] }, { ...base, resources: [{ ...vm("e2-small"), inputs: { ...vm("e2-small").inputs, bootDisk: { initializeParams: { image: "debian-13", size: 20 } } } }] });
    expect(img.changed[0]?.changes).toEqual([{ path: "bootDisk.initializeParams.image", old: "debian-12", new: "debian-13", replaces: true }]);
  });

  it("renders the exact markdown", () => {
    expect(renderMarkdown([d], "main")).toBe(
      [
        "## tierstack diff against `main`",
        "",
        "| stack | added | removed | changed | replacements | secrets changed | monthly cost Δ | policy |",
        "|---|---|---|---|---|---|---|---|",
        "| s | 1 | 1 | 1 | 1 | 1 | +$80.25–+$79.50 | 1 new, 1 fixed |",
        "",
        "### s",
        "",
        "Monthly cost: $100.00–$120.50 → $180.25–$200.00 (+$80.25–+$79.50)",
        "",
        "- **replacement expected**: `gcp:compute/instance:Instance` box-vm (`zone`)",
        "",
        "Secret config changed (values not shown): `tierstack:stripeSecretKey`",
        "",
        "- new violation (mandatory) **no-public-ip**: box-vm has a public IP",
        "- fixed (advisory) **old-rule**: was broken",
        "",
        "<details><summary>1 added, 1 removed, 1 changed</summary>",
        "",
        "| change | type | name | input | old | new |",
        "|---|---|---|---|---|---|",
        "| added | `gcp:container/nodePool:NodePool` | gpu-pool | | | |",
        "| removed | `gcp:compute/disk:Disk` | box-data | | | |",
        '| update | `gcp:compute/instance:Instance` | box-vm | `machineType` | `"e2-standard-4"` | `"e2-standard-8"` |',
        '| replace | `gcp:compute/instance:Instance` | box-vm | `zone` | `"us-central1-a"` | `"us-central1-b"` |',
        "",
        "</details>",
        "",
      ].join("\n"),
    );
  });

  it("renders the exact JSON", () => {
    expect(JSON.parse(renderJson([d], "main"))).toEqual({
      base: "main",
      stacks: [
        {
          stack: "s",
          tier: { base: "single-box", head: "single-box" },
          added: [{ type: "gcp:container/nodePool:NodePool", name: "gpu-pool" }],
          removed: [{ type: "gcp:compute/disk:Disk", name: "box-data" }],
          changed: d.changed,
          secretsChanged: ["tierstack:stripeSecretKey"],
          cost: d.cost,
          policy: d.policy,
        },
      ],
    });
  });
});

describe("tierstack diff in this repository", () => {
  it("an unknown base ref fails with one clear line", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDiff(["--base", "no-such-ref-xyz"], (s) => out.push(s), (s) => err.push(s));
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err.join("")).toMatch(/^diff: base ref "no-such-ref-xyz" does not exist in .+\n$/);
  });

  it("--base HEAD on an unchanged stack is an empty diff (a real git worktree)", async () => {
    const out: string[] = [];
    const code = await runDiff(["--base", "HEAD", "--stack", "single-box", "--format", "json"], (s) => out.push(s), () => undefined);
    expect(code).toBe(0);
    const diff = JSON.parse(out.join("")) as { stacks: { added: unknown[]; removed: unknown[]; changed: unknown[] }[] };
    expect(diff.stacks).toHaveLength(1);
    // stacks/Pulumi.single-box.yaml may carry another engineer's uncommitted edits; the diff must then name them.
    expect(diff.stacks[0]?.added).toEqual([]);
    expect(diff.stacks[0]?.removed).toEqual([]);
  }, 120_000);
});
