/**
 * The learner pool (tier-100): the GKE node pool that runs a container per learner on a
 * dedicated plan. It is the node pool named `learners` (its `name`, or its tierstack.dev/pool
 * label). Its size is bounded by the tier (catalog/tiers.ts `learnerPoolMaxNodes`: 0 below
 * tier-100, so any learner pool there is refused), it runs GKE Sandbox (gVisor,
 * https://cloud.google.com/kubernetes-engine/docs/concepts/sandbox-pods), and it should run on
 * Spot VMs (advisory: learners' containers are claimed from warm pools and restart elsewhere).
 */
import { poolNodes } from "@tierstack/cost";
import { inputAt, type StackResource } from "../resource.js";
import type { ResourceRule } from "./types.js";

export const learnerPoolName = "learners";

export function isLearnerPool(r: StackResource): boolean {
  return r.type === "gcp:container/nodePool:NodePool"
    && (inputAt(r, "name") === learnerPoolName || readLabel(r) === learnerPoolName);
}

/** The pool label, whose key contains dots and a slash (not a dotted path). */
function readLabel(r: StackResource): unknown {
  const labels = inputAt(r, "nodeConfig.labels");
  return labels !== null && typeof labels === "object" ? (labels as Record<string, unknown>)["tierstack.dev/pool"] : undefined;
}

export const learnerPoolMaxNodes: ResourceRule = {
  kind: "resource",
  name: "learner-pool-max-nodes",
  description: "The learner pool's maximum nodes are within the tier's learnerPoolMaxNodes (catalog/tiers.ts).",
  enforcementLevel: "mandatory",
  group: "cost",
  check(r, ctx) {
    if (!isLearnerPool(r)) return [];
    const allowed = ctx.config.tier.sizes.learnerPoolMaxNodes;
    const { max } = poolNodes(r);
    return max > allowed.max ? [`learner pool runs up to ${max} nodes; tier ${ctx.config.tier.name} allows ${allowed.max}`] : [];
  },
};

export const learnerPoolSpot: ResourceRule = {
  kind: "resource",
  name: "learner-pool-spot",
  description: "The learner pool runs on Spot VMs (nodeConfig.spot).",
  enforcementLevel: "advisory",
  group: "cost",
  check(r) {
    if (!isLearnerPool(r)) return [];
    return inputAt(r, "nodeConfig.spot") === true || inputAt(r, "nodeConfig.preemptible") === true ? [] : ["learner pool runs on on-demand VMs: set nodeConfig.spot (about 0.6× the price)"];
  },
};

export const learnerPoolGvisor: ResourceRule = {
  kind: "resource",
  name: "learner-pool-gvisor",
  description: "The learner pool isolates each learner's container with GKE Sandbox (gVisor).",
  enforcementLevel: "mandatory",
  group: "security",
  check(r) {
    if (!isLearnerPool(r)) return [];
    const type = String(inputAt(r, "nodeConfig.sandboxConfig.type") ?? inputAt(r, "nodeConfig.sandboxConfig.sandboxType") ?? "");
    return type.toLowerCase() === "gvisor" ? [] : ["learner pool has no GKE Sandbox: set nodeConfig.sandboxConfig.type = GVISOR"];
  },
};
