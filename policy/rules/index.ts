/**
 * Every rule of the pack, in the order they are reported, and `evaluate`, which runs them over a
 * stack the way the engine does: resource rules on each resource, stack rules once.
 */
import type { StackResource } from "../resource.js";
import { billingBudgetDeclared, everyResourcePriced, infraShare, infraWithinBudget } from "./cost.js";
import { cloudSqlNoPublicIp, dataStoreDeletionProtection, redisAuthAndTls } from "./data-stores.js";
import { gpuCapacity, gpuCount, machineFamilies } from "./gpu.js";
import { workloadIdentity } from "./identity.js";
import { noMovingImageTags } from "./images.js";
import { learnerPoolGvisor, learnerPoolMaxNodes, learnerPoolSpot } from "./learner-pool.js";
import { noOpenIngress } from "./network.js";
import { noPlaintextSecrets } from "./secrets.js";
import type { PolicyContext, Rule, Violation } from "./types.js";

export const rules: readonly Rule[] = [
  // cost, mandatory
  infraWithinBudget,
  everyResourcePriced,
  gpuCount,
  machineFamilies,
  learnerPoolMaxNodes,
  // cost, advisory
  infraShare,
  learnerPoolSpot,
  gpuCapacity,
  billingBudgetDeclared,
  // security, mandatory
  cloudSqlNoPublicIp,
  noOpenIngress,
  redisAuthAndTls,
  learnerPoolGvisor,
  workloadIdentity,
  dataStoreDeletionProtection,
  noPlaintextSecrets,
  noMovingImageTags,
];

/** Every rule over a stack: resource rules resource by resource, stack rules on the whole. */
export function evaluate(resources: readonly StackResource[], ctx: PolicyContext, only: readonly Rule[] = rules): Violation[] {
  const out: Violation[] = [];
  for (const rule of only) {
    const base = { policy: rule.name, enforcementLevel: rule.enforcementLevel };
    if (rule.kind === "resource") {
      for (const r of resources) for (const message of rule.check(r, ctx)) out.push({ ...base, message, urn: r.urn });
    } else {
      for (const f of rule.check(resources, ctx)) out.push({ ...base, message: f.message, ...(f.urn ? { urn: f.urn } : {}) });
    }
  }
  return out;
}

export type { PolicyContext, Rule, Violation } from "./types.js";
