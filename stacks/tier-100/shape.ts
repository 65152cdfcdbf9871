/**
 * Tier-100's shape below what the stack config sets: the zones of the regional cluster, its node
 * pools, each workload's replicas and resources, NATS' volumes and resources, the inference
 * pool's bounds. Counts the stack config chooses (gatewayShards, gatewayReplicas, litellmReplicas,
 * natsNodes, gpus) come from the tier catalogue's ranges through StackConfig. The address ranges,
 * the namespace, the release channel and the image users are tier-50's (stacks/tier-50/shape.ts).
 *
 * Sizing: at the reference stack (2 shards × 2 replicas, 2 LiteLLM, 3 NATS nodes) the requests sum
 * to about 7.5 vCPU and 12 GiB, which three e2-standard-4 service nodes (one per zone, ~3.9 vCPU
 * and ~13 GiB allocatable each) hold; the pool grows to 9 nodes for the autoscalers' maxima and
 * keeps at least one node per NATS server (NATS' pods refuse to share a node).
 *
 * The gVisor pool (learner sandboxes) scales from 0 to learnerPoolMaxNodes: at 0 nodes it costs
 * nothing, and the cost estimate prices it from $0 (min) to its maximum nodes (cost/src/estimate.ts
 * prices a pool at min and max nodes), at the Spot factor when sandboxPoolSpot is set.
 */
import type { NodePoolSpec } from "../../components/gke-cluster.js";
import { gvisorTaint, sandboxDiskSizeGb, sandboxMachineType, sandboxPoolName } from "../../catalog/sandbox.js";
import type { SandboxConfig } from "../../config/config.js";
import type { Resources } from "../../components/k8s/service-deployment.js";
import { zonesOf } from "../../catalog/regions.js";
import { servicesPool } from "../tier-50/shape.js";

/** The zones the regional cluster's pools span: the configured zone and the region's next two, in order. */
export function clusterZones(region: string, zone: string): string[] {
  const all = zonesOf(region);
  if (!all.includes(zone)) throw new Error(`tier-100: zone ${zone} is not in region ${region}`);
  const others = all.filter((z) => z !== zone);
  if (others.length < 2) throw new Error(`tier-100: region ${region} has ${all.length} zone(s); the cluster needs three`);
  return [zone, ...others.slice(0, 2)];
}

/** The platform pools (the inference pool is InferenceNode's); NATS needs a node per server. */
export function nodePools(natsNodes: number): NodePoolSpec[] {
  return [
    // kube-dns, the metrics collectors and the other GKE system pods: one node per zone.
    { name: "system", machineType: "e2-standard-2", diskSizeGb: 50, totalMinNodes: 3, totalMaxNodes: 6 },
    { name: servicesPool, machineType: "e2-standard-4", diskSizeGb: 100, totalMinNodes: Math.max(3, natsNodes), totalMaxNodes: 9 },
  ];
}

/** The GKE Sandbox pool of the learner sandboxes, tainted as GKE taints gVisor nodes; from 0 nodes. */
export function sandboxPool(c: SandboxConfig): NodePoolSpec {
  return {
    name: sandboxPoolName,
    machineType: sandboxMachineType,
    diskSizeGb: sandboxDiskSizeGb,
    totalMinNodes: 0,
    totalMaxNodes: c.poolMaxNodes,
    taints: [{ ...gvisorTaint }],
    sandbox: "GVISOR",
    spot: c.poolSpot,
    maxPodsPerNode: c.maxPodsPerNode,
  };
}

export interface WorkloadShape {
  replicas: number;
  maxReplicas?: number;
  resources: Resources;
}

const r = (cpu: string, memory: string, cpuLimit: string, memoryLimit = memory): Resources => ({
  requests: { cpu, memory },
  limits: { cpu: cpuLimit, memory: memoryLimit },
});

/** Per workload; the gateway's and LiteLLM's replica counts come from the stack config, NATS' from natsNodes. */
export const workloadShapes = {
  "task-queue": { replicas: 3, maxReplicas: 6, resources: r("250m", "256Mi", "1", "512Mi") },
  brain: { replicas: 3, maxReplicas: 8, resources: r("500m", "512Mi", "2", "1Gi") },
  "mcp-gateway": { resources: r("250m", "256Mi", "1", "512Mi") },
  litellm: { resources: r("500m", "1Gi", "2", "2Gi") },
  cloudflared: { replicas: 2, maxReplicas: 4, resources: r("100m", "128Mi", "500m", "256Mi") },
} as const satisfies Record<string, Partial<WorkloadShape> & { resources: Resources }>;

/** NATS: Guaranteed QoS (requests = limits), one JetStream volume per node. */
export const natsShape = { resources: { cpu: "500m", memoryMi: 1024 }, storage: { sizeGi: 50, storageClassName: "premium-rwo" } } as const;

/** The inference pool grows to twice its configured GPUs' nodes and never shrinks below one node. */
export function inferenceBounds(nodes: number): { minNodes: number; maxNodes: number } {
  return { minNodes: 1, maxNodes: Math.max(2, nodes * 2) };
}

export const redisMemoryGb = 2;
export const postgresTier = "db-custom-4-15360";
