/**
 * A stack's cost, as the cost rules, `tierstack plan` and `tierstack cost` see it: the
 * infrastructure estimate of its declared resources (@tierstack/cost), the GPUs it declares, the
 * tier's LLM projection at those GPUs (policy/llm.ts), and the share infrastructure takes of the
 * month's total. Computed once per resource list.
 */
import { estimateStack, poolNodes, readPath, type ResourceCost, type StackCost } from "@tierstack/cost";
import { machineInfo } from "../catalog/machines.js";
import { tierLlm, type TierLlm } from "./llm.js";
import { inputAt, type StackResource } from "./resource.js";
import type { PolicyContext } from "./rules/types.js";

export interface DeclaredGpus {
  min: number;
  max: number;
  /** GPUs per resource that declares any (machine types carrying GPUs, attached accelerators). */
  byResource: { resource: StackResource; model: string; min: number; max: number }[];
}

function acceleratorCount(v: unknown): number {
  return Array.isArray(v) ? v.reduce((s: number, a) => s + (Number(readPath(a, "count")) || 0), 0) : 0;
}

/** GPUs a stack declares: each VM's and, for node pools, per node × the pool's minimum and maximum nodes. */
export function declaredGpus(resources: readonly StackResource[]): DeclaredGpus {
  const byResource: DeclaredGpus["byResource"] = [];
  for (const r of resources) {
    if (r.type === "gcp:compute/instance:Instance") {
      const info = machineInfo(String(inputAt(r, "machineType") ?? ""));
      // A guestAccelerators entry on a g2/a2/a3 names the GPU the machine type carries: count it once.
      const n = Math.max(info?.gpu?.count ?? 0, acceleratorCount(inputAt(r, "guestAccelerators")));
      if (n > 0) byResource.push({ resource: r, model: info?.gpu?.model ?? "attached", min: n, max: n });
    } else if (r.type === "gcp:container/nodePool:NodePool") {
      const info = machineInfo(String(inputAt(r, "nodeConfig.machineType") ?? ""));
      const perNode = Math.max(info?.gpu?.count ?? 0, acceleratorCount(inputAt(r, "nodeConfig.guestAccelerators")));
      if (perNode > 0) {
        const nodes = poolNodes(r);
        byResource.push({ resource: r, model: info?.gpu?.model ?? "attached", min: perNode * nodes.min, max: perNode * nodes.max });
      }
    }
  }
  return { min: byResource.reduce((s, g) => s + g.min, 0), max: byResource.reduce((s, g) => s + g.max, 0), byResource };
}

export interface CostAssessment {
  infra: StackCost;
  gpus: DeclaredGpus;
  llm: TierLlm;
  /** Infrastructure (min, max) plus the LLM projection. */
  totalMinUsd: number;
  totalMaxUsd: number;
  /** Infrastructure's share of the month's total, at the infrastructure maximum. */
  infraShare: number;
  /** The three costliest resources at their maximum. */
  costliest: ResourceCost[];
}

const cache = new WeakMap<readonly StackResource[], CostAssessment>();

export function assessCost(resources: readonly StackResource[], ctx: PolicyContext): CostAssessment {
  const hit = cache.get(resources);
  if (hit) return hit;
  const infra = estimateStack(resources, { region: ctx.config.region });
  const gpus = declaredGpus(resources);
  const llm = tierLlm(ctx.config.tier, gpus.max, ctx.config.cloudModel);
  const totalMaxUsd = infra.maxUsd + llm.projection.usdPerMonth;
  const out: CostAssessment = {
    infra,
    gpus,
    llm,
    totalMinUsd: infra.minUsd + llm.projection.usdPerMonth,
    totalMaxUsd,
    infraShare: totalMaxUsd > 0 ? infra.maxUsd / totalMaxUsd : 0,
    costliest: [...infra.resources].sort((a, b) => b.maxUsd - a.maxUsd || a.name.localeCompare(b.name)).slice(0, 3),
  };
  cache.set(resources, out);
  return out;
}
