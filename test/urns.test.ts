/**
 * Nothing moves in the cloud because files moved: the URN of every resource single-box
 * declared before the layout change (test/fixtures/urns.single-box.json, recorded from the
 * program as it was deployed) is still declared, or is the target of an alias on the resource
 * that replaced it. A missing URN means `pulumi up` would delete and re-create that resource
 * (and fail on the protected data disk).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runPlan, type PlanRun } from "../cli/plan.js";
import { engineUrn } from "../cli/plan-urns.js";

interface AliasSpec { urn?: string; spec?: { name?: string; type?: string; stack?: string; project?: string; parenturn?: string; noparent?: boolean } }

/** The URNs an alias spec (as the SDK sends it to the engine) resolves to. */
function aliasTargets(own: string, alias: AliasSpec): string[] {
  if (alias.urn) return [alias.urn];
  const s = alias.spec ?? {};
  const [, , stack0, project0, qualified0, name0] = /^urn:pulumi:(([^:]+))::([^:]+)::(.+)::([^:]+)$/.exec(own) ?? [];
  const type = s.type || qualified0?.split("$").pop() || "";
  const parent = s.noparent ? undefined : s.parenturn || undefined;
  return [engineUrn(s.stack || stack0 || "", s.project || project0 || "", parent, type, s.name || name0 || "")];
}

describe("URNs of single-box", () => {
  let run: PlanRun;
  beforeAll(async () => { run = await runPlan("single-box"); });

  it("the engine-shaped URNs carry the whole parent chain", () => {
    const vm = run.urns.find((u) => u.urn.endsWith("::single-box-platform-vm"));
    expect(vm?.urn).toBe("urn:pulumi:single-box::tierstack::tierstack:tier:SingleBox$tierstack:compute:PlatformVm$gcp:compute/instance:Instance::single-box-platform-vm");
  });

  it("every URN deployed before is still declared or aliased", () => {
    const before: string[] = JSON.parse(readFileSync(join(__dirname, "fixtures", "urns.single-box.json"), "utf8"));
    const now = new Set(run.urns.map((u) => u.urn));
    const aliased = new Set(run.urns.flatMap((u) => (u.aliases as AliasSpec[]).flatMap((a) => aliasTargets(u.urn, a))));
    const lost = before.filter((u) => !now.has(u) && !aliased.has(u));
    expect(lost).toEqual([]);
    expect(before.length).toBeGreaterThan(70);
  });

  it("no two resources share a URN", () => {
    const urns = run.urns.map((u) => u.urn);
    expect(new Set(urns).size).toBe(urns.length);
  });
});
