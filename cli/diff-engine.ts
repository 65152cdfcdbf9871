/**
 * The diff of two recorded plans (`tierstack plan <stack> --json` at a base and at a head):
 * resources added, removed and changed (by type and name, each changed input by path, old → new),
 * whether a change is documented to force a replacement (cli/diff-create-only.ts), secret config
 * keys whose encrypted value changed (never their value), and, when both plans carry them, the
 * monthly cost before and after and the policy violations that are new, fixed, or still failing
 * with a different message (a violation is the same one when its policy and resource are: the
 * budget rule's message carries the amounts, which change with the stack). Pure: no git, no
 * processes (cli/diff.ts runs those).
 */
import { forcesReplacement } from "./diff-create-only.js";

/** The parts of `plan --json` the diff reads. cost and policy are optional (older plans lack them). */
export interface PlanJson {
  stack: string;
  tier: string;
  resources: { type: string; name: string; inputs: Record<string, unknown> }[];
  cost?: { totalMinUsd: number; totalMaxUsd: number };
  policy?: { violations: { policy: string; enforcementLevel: string; message: string; urn?: string }[] };
}

export interface InputChange {
  path: string;
  /** undefined: the input is absent on that side. */
  old?: unknown;
  new?: unknown;
  replaces: boolean;
}

export interface ResourceRef {
  type: string;
  name: string;
}

export interface ChangedResource extends ResourceRef {
  changes: InputChange[];
  replacementExpected: boolean;
}

export interface Violation {
  policy: string;
  enforcementLevel: string;
  message: string;
}

/** A violation failing at both sides whose message changed (the figures in it, usually). */
export interface ChangedViolation extends Violation {
  oldMessage: string;
}

export interface StackDiff {
  stack: string;
  tier: { base: string; head: string };
  added: ResourceRef[];
  removed: ResourceRef[];
  changed: ChangedResource[];
  /** Secret config keys whose `secure:` ciphertext differs (added or removed included). */
  secretsChanged: string[];
  cost?: { base: { minUsd: number; maxUsd: number }; head: { minUsd: number; maxUsd: number }; delta: { minUsd: number; maxUsd: number } };
  policy?: { newViolations: Violation[]; fixedViolations: Violation[]; changedViolations: ChangedViolation[] };
}

const key = (r: ResourceRef) => `${r.type}::${r.name}`;
const byRef = (a: ResourceRef, b: ResourceRef) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/** Leaf values of an input tree by path: `a.b[0].c`. Empty objects and arrays are leaves. */
export function flatten(value: unknown, path = "", out = new Map<string, unknown>()): Map<string, unknown> {
  if (Array.isArray(value) && value.length > 0) {
    value.forEach((v, i) => flatten(v, `${path}[${i}]`, out));
  } else if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) flatten(v, path ? `${path}.${k}` : k, out);
  } else if (path) {
    out.set(path, value);
  }
  return out;
}

export function diffInputs(type: string, base: Record<string, unknown>, head: Record<string, unknown>): InputChange[] {
  const a = flatten(base);
  const b = flatten(head);
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: InputChange[] = [];
  for (const p of paths) {
    const o = a.get(p);
    const n = b.get(p);
    if (a.has(p) && b.has(p) && JSON.stringify(o) === JSON.stringify(n)) continue;
    out.push({ path: p, ...(a.has(p) ? { old: o } : {}), ...(b.has(p) ? { new: n } : {}), replaces: forcesReplacement(type, p, o, n) });
  }
  return out;
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const violationKey = (v: Violation & { urn?: string }) => `${v.policy}\u0000${v.urn ?? ""}`;
const bareViolation = (v: Violation): Violation => ({ policy: v.policy, enforcementLevel: v.enforcementLevel, message: v.message });

type PlanViolation = NonNullable<PlanJson["policy"]>["violations"][number];

/**
 * Pairs the violations of the two sides by policy and resource: the same message is unchanged;
 * the rest pair in order as "still failing" (a figure in the message changed); what is left is
 * new (head) or fixed (base). Head order for new and changed, base order for fixed.
 */
function matchViolations(base: PlanViolation[], head: PlanViolation[]): NonNullable<StackDiff["policy"]> {
  const group = (vs: PlanViolation[]) => {
    const m = new Map<string, PlanViolation[]>();
    for (const v of vs) m.set(violationKey(v), [...(m.get(violationKey(v)) ?? []), v]);
    return m;
  };
  const b = group(base);
  const h = group(head);
  const changedFrom = new Map<PlanViolation, PlanViolation>();
  const unmatchedBase = new Set<PlanViolation>();
  const unmatchedHead = new Set<PlanViolation>();
  for (const key of new Set([...b.keys(), ...h.keys()])) {
    const restBase = [...(b.get(key) ?? [])];
    const restHead: PlanViolation[] = [];
    for (const v of h.get(key) ?? []) {
      const same = restBase.findIndex((x) => x.message === v.message);
      if (same >= 0) restBase.splice(same, 1);
      else restHead.push(v);
    }
    restHead.forEach((v, i) => {
      const old = restBase[i];
      if (old) changedFrom.set(v, old);
      else unmatchedHead.add(v);
    });
    restBase.slice(restHead.length).forEach((v) => unmatchedBase.add(v));
  }
  return {
    newViolations: head.filter((v) => unmatchedHead.has(v)).map(bareViolation),
    fixedViolations: base.filter((v) => unmatchedBase.has(v)).map(bareViolation),
    changedViolations: head.flatMap((v) => {
      const old = changedFrom.get(v);
      return old ? [{ ...bareViolation(v), oldMessage: old.message }] : [];
    }),
  };
}

export function diffPlans(base: PlanJson, head: PlanJson, secretsChanged: string[] = []): StackDiff {
  const baseBy = new Map(base.resources.map((r) => [key(r), r]));
  const headBy = new Map(head.resources.map((r) => [key(r), r]));
  const added = head.resources.filter((r) => !baseBy.has(key(r))).map(({ type, name }) => ({ type, name })).sort(byRef);
  const removed = base.resources.filter((r) => !headBy.has(key(r))).map(({ type, name }) => ({ type, name })).sort(byRef);
  const changed: ChangedResource[] = [];
  for (const r of head.resources) {
    const old = baseBy.get(key(r));
    if (!old) continue;
    const changes = diffInputs(r.type, old.inputs, r.inputs);
    if (changes.length > 0) changed.push({ type: r.type, name: r.name, changes, replacementExpected: changes.some((c) => c.replaces) });
  }
  changed.sort(byRef);
  const diff: StackDiff = { stack: head.stack, tier: { base: base.tier, head: head.tier }, added, removed, changed, secretsChanged: [...secretsChanged].sort() };
  if (base.cost && head.cost) {
    diff.cost = {
      base: { minUsd: round2(base.cost.totalMinUsd), maxUsd: round2(base.cost.totalMaxUsd) },
      head: { minUsd: round2(head.cost.totalMinUsd), maxUsd: round2(head.cost.totalMaxUsd) },
      delta: { minUsd: round2(head.cost.totalMinUsd - base.cost.totalMinUsd), maxUsd: round2(head.cost.totalMaxUsd - base.cost.totalMaxUsd) },
    };
  }
  if (base.policy && head.policy) diff.policy = matchViolations(base.policy.violations, head.policy.violations);
  return diff;
}

export function isEmpty(d: StackDiff): boolean {
  return (
    d.added.length + d.removed.length + d.changed.length + d.secretsChanged.length === 0 &&
    d.tier.base === d.tier.head &&
    (d.policy === undefined || d.policy.newViolations.length + d.policy.fixedViolations.length + d.policy.changedViolations.length === 0) &&
    (d.cost === undefined || (d.cost.delta.minUsd === 0 && d.cost.delta.maxUsd === 0))
  );
}

// ---- rendering ----

const usd = (n: number) => `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const signed = (n: number) => (n > 0 ? `+${usd(n)}` : n < 0 ? `-${usd(-n)}` : usd(0));
const range = (r: { minUsd: number; maxUsd: number }, f = usd) => (r.minUsd === r.maxUsd ? f(r.minUsd) : `${f(r.minUsd)}–${f(r.maxUsd)}`);
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const show = (v: unknown) => (v === undefined ? "(absent)" : cell(`\`${JSON.stringify(v)}\``));

/** Markdown for a pull-request comment: the summary table, then one section per stack. */
export function renderMarkdown(diffs: StackDiff[], baseRef: string): string {
  const lines: string[] = [`## tierstack diff against \`${baseRef}\``, ""];
  lines.push("| stack | added | removed | changed | replacements | secrets changed | monthly cost Δ | policy |");
  lines.push("|---|---|---|---|---|---|---|---|");
  for (const d of diffs) {
    const repl = d.changed.filter((c) => c.replacementExpected).length;
    const cost = d.cost ? range(d.cost.delta, signed) : "n/a";
    const pol = d.policy ? `${d.policy.newViolations.length} new, ${d.policy.fixedViolations.length} fixed` : "n/a";
    lines.push(`| ${d.stack} | ${d.added.length} | ${d.removed.length} | ${d.changed.length} | ${repl} | ${d.secretsChanged.length} | ${cost} | ${pol} |`);
  }
  for (const d of diffs) {
    lines.push("", `### ${d.stack}`, "");
    if (isEmpty(d)) {
      lines.push("No changes.");
      continue;
    }
    if (d.tier.base !== d.tier.head) lines.push(`Tier: ${d.tier.base} → ${d.tier.head}`, "");
    if (d.cost) lines.push(`Monthly cost: ${range(d.cost.base)} → ${range(d.cost.head)} (${range(d.cost.delta, signed)})`, "");
    for (const c of d.changed.filter((x) => x.replacementExpected)) {
      lines.push(`- **replacement expected**: \`${c.type}\` ${c.name} (${c.changes.filter((x) => x.replaces).map((x) => `\`${x.path}\``).join(", ")})`);
    }
    if (d.changed.some((x) => x.replacementExpected)) lines.push("");
    if (d.secretsChanged.length > 0) {
      lines.push(`Secret config changed (values not shown): ${d.secretsChanged.map((k) => `\`${k}\``).join(", ")}`, "");
    }
    if (d.policy && d.policy.newViolations.length + d.policy.fixedViolations.length + d.policy.changedViolations.length > 0) {
      for (const v of d.policy.newViolations) lines.push(`- new violation (${v.enforcementLevel}) **${v.policy}**: ${cell(v.message)}`);
      for (const v of d.policy.fixedViolations) lines.push(`- fixed (${v.enforcementLevel}) **${v.policy}**: ${cell(v.message)}`);
      for (const v of d.policy.changedViolations) lines.push(`- still failing (${v.enforcementLevel}) **${v.policy}**, now: ${cell(v.message)}`);
      lines.push("");
    }
    const details: string[] = [];
    for (const r of d.added) details.push(`| added | \`${r.type}\` | ${r.name} | | | |`);
    for (const r of d.removed) details.push(`| removed | \`${r.type}\` | ${r.name} | | | |`);
    for (const c of d.changed) {
      for (const x of c.changes) details.push(`| ${x.replaces ? "replace" : "update"} | \`${c.type}\` | ${c.name} | \`${x.path}\` | ${show(x.old)} | ${show(x.new)} |`);
    }
    if (details.length > 0) {
      lines.push(`<details><summary>${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed</summary>`, "");
      lines.push("| change | type | name | input | old | new |", "|---|---|---|---|---|---|", ...details, "", "</details>");
    }
  }
  return `${lines.join("\n").replace(/\n+$/, "")}\n`;
}

export function renderJson(diffs: StackDiff[], baseRef: string): string {
  return `${JSON.stringify({ base: baseRef, stacks: diffs }, null, 2)}\n`;
}
