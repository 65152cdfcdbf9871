/**
 * Where a stack puts its processes: the containers of Kubernetes workloads and the boot scripts
 * of VMs (instance metadata). The secret and image rules read them through these two functions.
 */
import { inputAt, type StackResource } from "../resource.js";

/** Pod template paths per Kubernetes kind. */
const podSpecPaths: Record<string, string> = {
  "kubernetes:apps/v1:Deployment": "spec.template.spec",
  "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
  "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
  "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
  "kubernetes:batch/v1:Job": "spec.template.spec",
  "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
  "kubernetes:core/v1:Pod": "spec",
};

export interface ContainerAt {
  /** Input path of the container, e.g. spec.template.spec.containers.0 */
  path: string;
  name: string;
  container: Record<string, unknown>;
}

/** Every container and init container of a Kubernetes workload (none for other types). */
export function containersOf(r: StackResource): ContainerAt[] {
  const spec = podSpecPaths[r.type];
  if (!spec) return [];
  const out: ContainerAt[] = [];
  for (const field of ["initContainers", "containers"]) {
    const list = inputAt(r, `${spec}.${field}`);
    if (!Array.isArray(list)) continue;
    list.forEach((c, i) => {
      if (c !== null && typeof c === "object") out.push({ path: `${spec}.${field}.${i}`, name: String((c as Record<string, unknown>).name ?? i), container: c as Record<string, unknown> });
    });
  }
  return out;
}

/** A VM's metadata entries (key → value as a string). */
export function instanceMetadata(r: StackResource): [string, string][] {
  if (r.type !== "gcp:compute/instance:Instance" && r.type !== "gcp:compute/instanceTemplate:InstanceTemplate") return [];
  const md = inputAt(r, "metadata");
  const entries: [string, string][] = md !== null && typeof md === "object" ? Object.entries(md as Record<string, unknown>).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]) : [];
  const startup = inputAt(r, "metadataStartupScript");
  if (typeof startup === "string") entries.push(["metadataStartupScript", startup]);
  return entries;
}

/** Metadata keys whose values are scripts or boot configuration (read as text, not as one value). */
export const scriptKeys = new Set(["user-data", "startup-script", "metadataStartupScript", "shutdown-script"]);
