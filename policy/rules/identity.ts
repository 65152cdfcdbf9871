/**
 * Workload Identity on every node pool: pods get their own service accounts through the GKE
 * metadata server, never the node's (https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity).
 */
import { inputAt } from "../resource.js";
import type { ResourceRule } from "./types.js";

export const workloadIdentity: ResourceRule = {
  kind: "resource",
  name: "workload-identity-on-every-pool",
  description: "Clusters enable Workload Identity and every node pool serves it (nodeConfig.workloadMetadataConfig.mode = GKE_METADATA).",
  enforcementLevel: "mandatory",
  group: "security",
  check(r) {
    if (r.type === "gcp:container/cluster:Cluster") {
      const out: string[] = [];
      if (typeof inputAt(r, "workloadIdentityConfig.workloadPool") !== "string") out.push("Workload Identity is off: set workloadIdentityConfig.workloadPool = <project>.svc.id.goog");
      if (inputAt(r, "removeDefaultNodePool") !== true && inputAt(r, "nodeConfig.workloadMetadataConfig.mode") !== "GKE_METADATA") out.push("the default node pool does not serve Workload Identity: set nodeConfig.workloadMetadataConfig.mode = GKE_METADATA");
      return out;
    }
    if (r.type === "gcp:container/nodePool:NodePool") {
      const mode = inputAt(r, "nodeConfig.workloadMetadataConfig.mode");
      return mode === "GKE_METADATA" ? [] : [`pods on this pool reach the node's credentials (workloadMetadataConfig.mode = ${String(mode ?? "unset")}): set GKE_METADATA`];
    }
    return [];
  },
};
