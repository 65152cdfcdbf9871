/**
 * What `tierstack plan` and `tierstack cost` print about a stack's cost and policies, as plain
 * data (the JSON output): every resource's monthly cost, the totals, the LLM projection beside
 * the infrastructure, and the result of every rule. Computed by the same functions the policy
 * pack runs (policy/assess.ts, policy/rules), over the same `StackResource`s.
 */
import { costCategories, type CostCategory } from "@tierstack/cost";
import { assessCost } from "./assess.js";
import type { StackResource } from "./resource.js";
import { evaluate, rules } from "./rules/index.js";
import type { Level, PolicyContext, RuleGroup, Violation } from "./rules/types.js";

export interface ResourceCostRow {
  type: string;
  name: string;
  category: CostCategory | "free";
  minUsd: number;
  maxUsd: number;
  basis: string;
  usage?: string;
  /** A price behind the figure comes from a secondary source. */
  unverified: boolean;
  sources: string[];
}

export interface CostReport {
  tier: string;
  region: string;
  budget: { usdPerMonth: number; from: "config" | "tier default" };
  infraShareMax: number;
  infra: {
    minUsd: number;
    maxUsd: number;
    byCategory: Record<CostCategory, { minUsd: number; maxUsd: number }>;
    resources: ResourceCostRow[];
    unpriced: { type: string; name: string; reason: string }[];
  };
  gpus: { min: number; max: number };
  llm: {
    usdPerMonth: number;
    agentsTokensPerDay: number;
    learnerTokensPerDay: number;
    local: { modelKey: string; gpus: number; served: number }[];
    lines: { label: string; model: string; tokensPerDay: number; usdPerMonth: number; unverified: boolean }[];
  };
  totalMinUsd: number;
  totalMaxUsd: number;
  infraShare: number;
}

export interface RuleResult {
  name: string;
  group: RuleGroup;
  enforcementLevel: Level;
  passed: boolean;
}

export interface PolicyReport {
  violations: Violation[];
  rules: RuleResult[];
  mandatoryViolations: number;
  advisoryViolations: number;
}

export function costReport(resources: readonly StackResource[], ctx: PolicyContext): CostReport {
  const a = assessCost(resources, ctx);
  const rows: ResourceCostRow[] = a.infra.resources.map((r) => ({
    type: r.type,
    name: r.name,
    category: r.billing === "free" || r.parts.length === 0 ? "free" : dominant(r.parts),
    minUsd: r.minUsd,
    maxUsd: r.maxUsd,
    basis: r.billing === "free" ? r.reason : r.parts.map((p) => p.basis).join("; "),
    ...(r.usage ? { usage: r.usage } : {}),
    unverified: r.sources.some((s) => s.unverified),
    sources: r.sources.map((s) => `${s.source} (${s.date})`),
  }));
  return {
    tier: ctx.config.tier.name,
    region: ctx.config.region,
    budget: ctx.config.budget,
    infraShareMax: ctx.config.infraShareMax,
    infra: {
      minUsd: a.infra.minUsd,
      maxUsd: a.infra.maxUsd,
      byCategory: a.infra.byCategory,
      resources: rows,
      unpriced: a.infra.unpriced.map((u) => ({ type: u.type, name: u.name, reason: u.reason })),
    },
    gpus: { min: a.gpus.min, max: a.gpus.max },
    llm: {
      usdPerMonth: a.llm.projection.usdPerMonth,
      agentsTokensPerDay: a.llm.agentsTokensPerDay,
      learnerTokensPerDay: a.llm.learnerTokensPerDay,
      local: a.llm.local,
      lines: a.llm.projection.lines.map((l) => ({ label: l.label, model: l.model, tokensPerDay: l.tokensPerDay, usdPerMonth: l.usdPerMonth, unverified: l.unverified })),
    },
    totalMinUsd: a.totalMinUsd,
    totalMaxUsd: a.totalMaxUsd,
    infraShare: a.infraShare,
  };
}

/** The category that carries most of a resource's maximum (a VM's machine over its boot disk). */
function dominant(parts: readonly { category: CostCategory; maxUsd: number }[]): CostCategory {
  let best: CostCategory = parts[0]?.category ?? "compute";
  let bestUsd = -1;
  for (const c of costCategories) {
    const usd = parts.filter((p) => p.category === c).reduce((s, p) => s + p.maxUsd, 0);
    if (parts.some((p) => p.category === c) && usd > bestUsd) [best, bestUsd] = [c, usd];
  }
  return best;
}

export function policyReport(resources: readonly StackResource[], ctx: PolicyContext): PolicyReport {
  const violations = evaluate(resources, ctx);
  const failed = new Set(violations.map((v) => v.policy));
  return {
    violations,
    rules: rules.map((r) => ({ name: r.name, group: r.group, enforcementLevel: r.enforcementLevel, passed: !failed.has(r.name) })),
    mandatoryViolations: violations.filter((v) => v.enforcementLevel === "mandatory").length,
    advisoryViolations: violations.filter((v) => v.enforcementLevel === "advisory").length,
  };
}
