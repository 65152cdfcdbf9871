/**
 * `tierstack cost [--stack X] [--json] [--svg FILE]`: the built tiers side by side (their reference
 * stacks in stacks/, or one stack): infrastructure min and max, the LLM projection, the total and
 * infrastructure's share, by category; `--svg FILE` writes the chart of the monthly split per tier
 * (infrastructure by category vs LLM) that docs/cost-chart.svg holds. Every figure is the one
 * `tierstack plan` reports for the stack (policy/report.ts over the recorded plan).
 */
import { writeFileSync } from "node:fs";
import { costCategories, formatUsd, type CostCategory } from "@tierstack/cost";
import { isTierName, tierNames, tiers } from "../catalog/tiers.js";
import { ConfigError } from "../config/config.js";
import { TierNotBuiltError } from "../stacks/program.js";
import { parseCommandArgs } from "./args.js";
import type { CostReport, PolicyReport } from "../policy/report.js";
import { knownStacks, loadStackConfig, PlanError, planStack } from "./plan.js";

export interface TierCostRow {
  stack: string;
  tier: string;
  region: string;
  infraMinUsd: number;
  infraMaxUsd: number;
  /** Infrastructure by category, at the maximum. */
  byCategory: Record<CostCategory, number>;
  llmUsd: number;
  totalMinUsd: number;
  totalMaxUsd: number;
  infraShare: number;
  budgetUsd: number;
  mandatoryViolations: number;
  advisoryViolations: number;
}

/** Reference stacks whose tier is built, and the tiers that are not (with their issue). */
export function builtStacks(): { stacks: string[]; notBuilt: { stack: string; tier: string; issue: string }[] } {
  const stacks: string[] = [];
  const notBuilt: { stack: string; tier: string; issue: string }[] = [];
  const tierOf = (stack: string) => loadStackConfig(stack).config["tierstack:tier"] ?? "";
  // In tier order (single-box, tier-50, tier-100), then by name.
  const ordered = knownStacks().map((s) => ({ s, t: tierOf(s) })).filter((x) => isTierName(x.t))
    .sort((a, b) => tierNames.indexOf(a.t as never) - tierNames.indexOf(b.t as never) || a.s.localeCompare(b.s));
  for (const { s: stack, t: tier } of ordered) {
    if (!isTierName(tier)) continue;
    if (tiers[tier].built) stacks.push(stack);
    else notBuilt.push({ stack, tier, issue: tiers[tier].issue });
  }
  return { stacks, notBuilt };
}

export async function costRow(stack: string): Promise<TierCostRow> {
  const plan = await planStack(stack);
  if (!plan.cost || !plan.policy) throw new PlanError(`${stack}: the plan carries no cost report`);
  return costRowFrom(stack, plan.cost, plan.policy);
}

/** One row of the table from a plan's cost and policy reports. */
export function costRowFrom(stack: string, c: CostReport, p: PolicyReport): TierCostRow {
  return {
    stack,
    tier: c.tier,
    region: c.region,
    infraMinUsd: c.infra.minUsd,
    infraMaxUsd: c.infra.maxUsd,
    byCategory: Object.fromEntries(costCategories.map((k) => [k, c.infra.byCategory[k].maxUsd])) as Record<CostCategory, number>,
    llmUsd: c.llm.usdPerMonth,
    totalMinUsd: c.totalMinUsd,
    totalMaxUsd: c.totalMaxUsd,
    infraShare: c.infraShare,
    budgetUsd: c.budget.usdPerMonth,
    mandatoryViolations: p.mandatoryViolations,
    advisoryViolations: p.advisoryViolations,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

export function renderCostTable(rows: readonly TierCostRow[], notBuilt: readonly { stack: string; tier: string; issue: string }[]): string {
  const head = ["STACK", "TIER", "INFRA MIN", "INFRA MAX", "LLM", "TOTAL MAX", "INFRA SHARE", "BUDGET", "POLICIES"];
  const body = rows.map((r) => [
    r.stack, r.tier, formatUsd(r.infraMinUsd), formatUsd(r.infraMaxUsd), formatUsd(r.llmUsd), formatUsd(r.totalMaxUsd), pct(r.infraShare), formatUsd(r.budgetUsd),
    `${r.mandatoryViolations} mandatory, ${r.advisoryViolations} advisory`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i >= 2 && i <= 7 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  const cats = ["STACK", ...costCategories.map((c) => c.toUpperCase())];
  const catRows = rows.map((r) => [r.stack, ...costCategories.map((c) => formatUsd(r.byCategory[c]))]);
  const cw = cats.map((h, i) => Math.max(h.length, ...catRows.map((b) => (b[i] ?? "").length)));
  const cline = (cells: readonly string[]) => cells.map((c, i) => (i > 0 ? c.padStart(cw[i] ?? 0) : c.padEnd(cw[i] ?? 0))).join("  ").trimEnd();
  return [
    `monthly cost by tier (USD, ${rows[0]?.region ?? "us-central1"}, 730 h; infrastructure as a range, LLM the projection at the tier's targets):`,
    line(head),
    ...body.map(line),
    "",
    "infrastructure by category, at the maximum:",
    cline(cats),
    ...catRows.map(cline),
    ...notBuilt.map((n) => `${n.tier} (stacks/Pulumi.${n.stack}.yaml): not built yet (issue: ${n.issue}), not priced`),
    "",
  ].join("\n");
}

const colours: Record<CostCategory | "llm", string> = {
  compute: "#4e79a7", storage: "#f28e2b", data: "#59a14f", network: "#76b7b2", platform: "#edc948", edge: "#b07aa1", llm: "#e15759",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The chart: one bar per tier, 100% of its monthly total at the infrastructure maximum, split by category and LLM. */
export function costChartSvg(rows: readonly TierCostRow[]): string {
  const left = 170;
  const barWidth = 520;
  const rowHeight = 56;
  const top = 48;
  const legendY = top + rows.length * rowHeight + 16;
  const width = left + barWidth + 40;
  const height = legendY + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>Monthly cost split per tier: infrastructure by category vs LLM (USD)</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="14" font-weight="bold">Monthly cost split per tier (USD, ${esc(rows[0]?.region ?? "us-central1")}, infrastructure at its maximum + LLM projection)</text>`,
    `<text x="12" y="38" fill="#555555">generated by tierstack cost --svg; the figures are tierstack plan's for each reference stack</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    parts.push(`<g data-stack="${esc(r.stack)}" data-tier="${esc(r.tier)}" data-total-usd="${r.totalMaxUsd.toFixed(2)}" data-infra-usd="${r.infraMaxUsd.toFixed(2)}" data-llm-usd="${r.llmUsd.toFixed(2)}">`);
    parts.push(`<text x="12" y="${y + 16}" font-weight="bold">${esc(r.stack)}</text>`);
    parts.push(`<text x="12" y="${y + 32}" fill="#555555">${esc(formatUsd(r.totalMaxUsd))} a month</text>`);
    let x = left;
    const segments: [CostCategory | "llm", number][] = [...costCategories.map((c): [CostCategory, number] => [c, r.byCategory[c]]), ["llm", r.llmUsd]];
    for (const [category, usd] of segments) {
      const w = r.totalMaxUsd > 0 ? (usd / r.totalMaxUsd) * barWidth : 0;
      parts.push(`<rect x="${x.toFixed(2)}" y="${y + 4}" width="${w.toFixed(2)}" height="28" fill="${colours[category]}" data-category="${category}" data-usd="${usd.toFixed(2)}"><title>${category}: ${esc(formatUsd(usd))}</title></rect>`);
      if (w >= 44) parts.push(`<text x="${(x + w / 2).toFixed(2)}" y="${y + 22}" text-anchor="middle" fill="#ffffff">${pct(usd / r.totalMaxUsd)}</text>`);
      x += w;
    }
    parts.push(`<text x="${left}" y="${y + 48}" fill="#333333">infrastructure ${esc(formatUsd(r.infraMaxUsd))} (${pct(r.infraShare)}) + LLM ${esc(formatUsd(r.llmUsd))}</text>`);
    parts.push("</g>");
  });
  let lx = 12;
  for (const key of [...costCategories, "llm" as const]) {
    parts.push(`<rect x="${lx}" y="${legendY}" width="12" height="12" fill="${colours[key]}"/><text x="${lx + 16}" y="${legendY + 10}">${key === "llm" ? "LLM" : key}</text>`);
    lx += key === "llm" ? 50 : 90;
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

const usage = "tierstack cost [--stack X] [--json] [--svg FILE]";

/** Runs the command; usage errors throw UsageError (cli/main.ts prints it, exit 2). */
export async function runCost(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const parsed = parseCommandArgs("cost", usage, argv, { stack: { type: "string" }, json: { type: "boolean" }, svg: { type: "string" } });
  if (parsed.positionals.length > 0) {
    err(`cost: unexpected argument ${parsed.positionals[0] ?? ""}; usage: ${usage}\n`);
    return 2;
  }
  const target = parsed.values.stack;
  try {
    const { stacks, notBuilt } = target === undefined ? builtStacks() : { stacks: [target], notBuilt: [] };
    const rows: TierCostRow[] = [];
    for (const s of stacks) rows.push(await costRow(s));
    if (parsed.values.svg !== undefined) writeFileSync(parsed.values.svg, costChartSvg(rows));
    out(parsed.values.json === true ? `${JSON.stringify({ tiers: rows, notBuilt }, null, 2)}\n` : renderCostTable(rows, notBuilt));
    return 0;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PlanError || e instanceof TierNotBuiltError) {
      err(`cost${target ? ` ${target}` : ""}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
