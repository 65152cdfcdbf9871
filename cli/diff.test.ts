/**
 * tierstack diff: the engine on recorded plans, then the whole command on a fixture repository
 * the test makes (a clone of this one with commits that change a node pool's machine type, add a
 * node pool, remove the billing budget, change a secret, break the budget policy and change a
 * price in the catalogue), checked against `tierstack plan --json` run at each side.
 * Over 300 lines on purpose: the fixture repository costs four tier-50 renders, so it is built
 * once and every check of the command reads it.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffPlans, renderJson, renderMarkdown, type PlanJson, type StackDiff } from "./diff-engine.js";
import { changedSecrets, diffAgainst, linkNodeModules, runDiff } from "./diff.js";

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
      changedViolations: [],
    });
  });

  it("a violation of the same policy and resource with a new message is still failing, not new and fixed", () => {
    const v = (message: string) => ({ policy: "infra-share", enforcementLevel: "advisory", message });
    const p = diffPlans({ ...base, policy: { violations: [v("99% of $10")] } }, { ...base, policy: { violations: [v("99% of $20")] } });
    expect(p.policy).toEqual({ newViolations: [], fixedViolations: [], changedViolations: [{ ...v("99% of $20"), oldMessage: "99% of $10" }] });
    expect(renderMarkdown([p], "main")).toContain("- still failing (advisory) **infra-share**, now: 99% of $20\n");
  });

  it("several violations of one policy on one resource pair up: unchanged by message, then in order; the rest new or fixed", () => {
    const v = (message: string) => ({ policy: "gpu-capacity", enforcementLevel: "advisory", message });
    const p = diffPlans({ ...base, policy: { violations: [v("a"), v("b"), v("c")] } }, { ...base, policy: { violations: [v("c"), v("b2")] } });
    expect(p.policy).toEqual({ newViolations: [], fixedViolations: [v("b")], changedViolations: [{ ...v("b2"), oldMessage: "a" }] });
    const q = diffPlans({ ...base, policy: { violations: [v("a")] } }, { ...base, policy: { violations: [v("a"), v("x"), { ...v("y"), urn: "u" }] } });
    expect(q.policy).toEqual({ newViolations: [v("x"), v("y")], fixedViolations: [], changedViolations: [] });
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

const run = promisify(execFile);
const repoRoot = join(__dirname, "..");
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" }).trim();

/** Replaces `from` (which must be there) by `to` in a fixture file. */
function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, "utf8");
  if (!text.includes(from)) throw new Error(`${file} has no ${JSON.stringify(from)}: the fixture no longer matches the repository`);
  writeFileSync(path, text.replace(from, to));
}

/** `tierstack plan <stack> --json` in a tree (exit 1 on a mandatory violation still prints the plan). */
async function planIn(tree: string, stack: string): Promise<PlanJson> {
  const env = { ...process.env };
  delete env.TIERSTACK_STACKS_DIR;
  const out = await run(process.execPath, ["--import", "tsx", "cli/main.ts", "plan", stack, "--json"], { cwd: tree, env, maxBuffer: 256 << 20 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? "" }));
  return JSON.parse(out.stdout) as PlanJson;
}

const usd = (n: number) => `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const signed = (n: number) => (n < 0 ? `-${usd(-n)}` : `+${usd(n)}`);
const round2 = (n: number) => Math.round(n * 100) / 100;

describe("tierstack diff on a fixture repository", () => {
  const stackFile = "stacks/Pulumi.tier-50.yaml";
  let dir = "";
  let priceOnly = "";
  let diff: StackDiff;
  /** The base program priced with the head's catalogue (the commit that changes only a price). */
  let basePlan: PlanJson;
  let headPlan: PlanJson;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tierstack-diff-fixture-"));
    git(repoRoot, "clone", "--quiet", "--local", repoRoot, dir);
    git(dir, "config", "user.email", "fixture@example.invalid");
    git(dir, "config", "user.name", "fixture");
    linkNodeModules(repoRoot, dir);
    // base: a billing budget and an encrypted Stripe key.
    edit(dir, stackFile, "  tierstack:subnetCidr:", '  tierstack:billingAccount: "012345-6789AB-CDEF01"\n  tierstack:stripeSecretKey:\n    secure: v1:AAAAbaseciphertext==\n  tierstack:subnetCidr:');
    // a stack whose file does not parse at the base (fixed in the working tree below).
    writeFileSync(join(dir, "stacks", "Pulumi.broken.yaml"), "config:\n  tierstack:tier: [single-box\n");
    git(dir, "add", "stacks/Pulumi.broken.yaml");
    git(dir, "commit", "--quiet", "-am", "base");
    git(dir, "tag", "fixture-base");
    // a price in the catalogue (the system pool's e2-standard-2), nothing else.
    edit(dir, "cost/src/infra.ts", "usdPerHour: 0.06701", "usdPerHour: 0.07");
    git(dir, "commit", "--quiet", "-am", "price");
    priceOnly = git(dir, "rev-parse", "HEAD");
    // head: the services pool's machine type, a new pool, no billing budget, a budget the stack exceeds.
    edit(dir, "stacks/tier-50/shape.ts", 'machineType: "e2-standard-4", diskSizeGb: 100', 'machineType: "e2-standard-8", diskSizeGb: 100');
    edit(dir, "stacks/tier-50/shape.ts", "totalMaxNodes: 4 },\n];", 'totalMaxNodes: 4 },\n  { name: "batch", machineType: "e2-standard-2", diskSizeGb: 50, totalMinNodes: 0, totalMaxNodes: 1 },\n];');
    edit(dir, stackFile, '  tierstack:billingAccount: "012345-6789AB-CDEF01"\n', "  tierstack:budgetUsdPerMonth: 1000\n");
    git(dir, "commit", "--quiet", "-am", "head");
    // the working tree: the secret re-encrypted, not committed.
    edit(dir, stackFile, "v1:AAAAbaseciphertext==", "v1:BBBBheadciphertext==");
    writeFileSync(join(dir, "stacks", "Pulumi.broken.yaml"), readFileSync(join(dir, "stacks", "Pulumi.single-box.yaml")));

    const priceTree = mkdtempSync(join(tmpdir(), "tierstack-diff-price-"));
    git(dir, "worktree", "add", "--detach", "--quiet", priceTree, priceOnly);
    linkNodeModules(dir, priceTree);
    let diffs: StackDiff[];
    [diffs, basePlan, headPlan] = await Promise.all([diffAgainst("fixture-base", ["tier-50"], { repo: dir }), planIn(priceTree, "tier-50"), planIn(dir, "tier-50")]);
    diff = diffs[0] as StackDiff;
    git(dir, "worktree", "remove", "--force", priceTree);
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const violation = (plan: PlanJson, policy: string) => {
    const v = plan.policy?.violations.find((x) => x.policy === policy);
    if (!v) throw new Error(`no ${policy} violation in the plan`);
    return { policy, enforcementLevel: v.enforcementLevel, message: v.message };
  };

  it("both sides are priced with the working tree's catalogue: the cost delta is the difference of the two estimates", () => {
    expect(basePlan.cost && headPlan.cost).toBeTruthy();
    const b = basePlan.cost as NonNullable<PlanJson["cost"]>;
    const h = headPlan.cost as NonNullable<PlanJson["cost"]>;
    expect(diff.cost).toEqual({
      base: { minUsd: round2(b.totalMinUsd), maxUsd: round2(b.totalMaxUsd) },
      head: { minUsd: round2(h.totalMinUsd), maxUsd: round2(h.totalMaxUsd) },
      delta: { minUsd: round2(h.totalMinUsd - b.totalMinUsd), maxUsd: round2(h.totalMaxUsd - b.totalMaxUsd) },
    });
  });

  it("the exact JSON", () => {
    expect(JSON.parse(renderJson([diff], "fixture-base"))).toEqual({
      base: "fixture-base",
      stacks: [
        {
          stack: "tier-50",
          tier: { base: "tier-50", head: "tier-50" },
          added: [{ type: "gcp:container/nodePool:NodePool", name: "tier-50-gke-batch-pool" }],
          removed: [
            { type: "gcp:billing/budget:Budget", name: "tier-50-budget-budget" },
            { type: "tierstack:billing:BillingBudget", name: "tier-50-budget" },
          ],
          changed: [
            {
              type: "gcp:container/nodePool:NodePool",
              name: "tier-50-gke-services-pool",
              replacementExpected: true,
              changes: [{ path: "nodeConfig.machineType", old: "e2-standard-4", new: "e2-standard-8", replaces: true }],
            },
          ],
          secretsChanged: ["tierstack:stripeSecretKey"],
          cost: diff.cost,
          policy: {
            newViolations: [violation(headPlan, "infra-within-budget"), violation(headPlan, "billing-budget-declared")],
            fixedViolations: [],
            changedViolations: [{ ...violation(headPlan, "infra-share"), oldMessage: violation(basePlan, "infra-share").message }],
          },
        },
      ],
    });
  });

  it("the exact markdown; the secret by key, never its ciphertext", () => {
    const c = diff.cost as NonNullable<StackDiff["cost"]>;
    const range = (r: { minUsd: number; maxUsd: number }, f: (n: number) => string) => `${f(r.minUsd)}–${f(r.maxUsd)}`;
    const md = renderMarkdown([diff], "fixture-base");
    expect(md).toBe(
      [
        "## tierstack diff against `fixture-base`",
        "",
        "| stack | added | removed | changed | replacements | secrets changed | monthly cost Δ | policy |",
        "|---|---|---|---|---|---|---|---|",
        `| tier-50 | 1 | 2 | 1 | 1 | 1 | ${range(c.delta, signed)} | 2 new, 0 fixed |`,
        "",
        "### tier-50",
        "",
        `Monthly cost: ${range(c.base, usd)} → ${range(c.head, usd)} (${range(c.delta, signed)})`,
        "",
        "- **replacement expected**: `gcp:container/nodePool:NodePool` tier-50-gke-services-pool (`nodeConfig.machineType`)",
        "",
        "Secret config changed (values not shown): `tierstack:stripeSecretKey`",
        "",
        `- new violation (mandatory) **infra-within-budget**: ${violation(headPlan, "infra-within-budget").message}`,
        `- new violation (advisory) **billing-budget-declared**: ${violation(headPlan, "billing-budget-declared").message}`,
        `- still failing (advisory) **infra-share**, now: ${violation(headPlan, "infra-share").message}`,
        "",
        "<details><summary>1 added, 2 removed, 1 changed</summary>",
        "",
        "| change | type | name | input | old | new |",
        "|---|---|---|---|---|---|",
        "| added | `gcp:container/nodePool:NodePool` | tier-50-gke-batch-pool | | | |",
        "| removed | `gcp:billing/budget:Budget` | tier-50-budget-budget | | | |",
        "| removed | `tierstack:billing:BillingBudget` | tier-50-budget | | | |",
        '| replace | `gcp:container/nodePool:NodePool` | tier-50-gke-services-pool | `nodeConfig.machineType` | `"e2-standard-4"` | `"e2-standard-8"` |',
        "",
        "</details>",
        "",
      ].join("\n"),
    );
    expect(`${md}${renderJson([diff], "x")}`).not.toMatch(/AAAAbase|BBBBhead/);
  });

  it("a stack that does not render at the base ends the diff with one line and exit 1: a YAML error there, or no stack file", async () => {
    writeFileSync(join(dir, "stacks", "Pulumi.tier-50-copy.yaml"), readFileSync(join(dir, stackFile)));
    const diff = async (stack: string) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runDiff(["--base", "fixture-base", "--stack", stack, "--format", "json"], (s) => out.push(s), (s) => err.push(s), { repo: dir, note: () => undefined });
      return { code, out, err };
    };
    expect(await diff("broken")).toEqual({ code: 1, out: [], err: ["diff: stack broken does not render at fixture-base: stacks/Pulumi.broken.yaml:3:1: YAML error: Flow sequence in block collection must be sufficiently indented and end with a ] at line 3, column 1:; fix the file's syntax\n"] });
    expect(await diff("tier-50-copy")).toEqual({ code: 1, out: [], err: ["diff: stack tier-50-copy does not render at fixture-base: no stacks/Pulumi.tier-50-copy.yaml there (a new stack has nothing to be diffed against)\n"] });
  }, 120_000);

  it("an unknown base ref fails with one clear line", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDiff(["--base", "no-such-ref-xyz"], (s) => out.push(s), (s) => err.push(s), { repo: dir });
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([`diff: base ref "no-such-ref-xyz" does not exist in ${dir}\n`]);
  });
});
