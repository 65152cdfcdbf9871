/**
 * Tier-50's shape below what the stack config sets: the cluster's address ranges and node
 * pools, and each workload's replicas and resources. Counts the stack config chooses
 * (gatewayShards, gatewayReplicas, litellmReplicas, natsNodes) come from the tier catalogue's
 * ranges through StackConfig; what is here is fixed for the tier.
 *
 * Sizing: the requests below sum to about 3.3 vCPU and 5 GiB at the minimum replica counts
 * (2 gateway shards × 1 replica), which two e2-standard-4 service nodes hold with room for a
 * rolling update's surge; the pool grows to 4 nodes for the autoscalers' maxima.
 */
import type { NodePoolSpec } from "../../components/gke-cluster.js";
import type { Resources } from "../../components/k8s/service-deployment.js";
import type { Workload } from "../../catalog/flows.js";

export const namespaceName = "tierstack";

/** Secondary ranges of the platform subnet (VPC-native GKE) and the private services access range. */
export const addressRanges = {
  pods: { rangeName: "tierstack-pods", ipCidrRange: "10.32.0.0/17" },
  services: { rangeName: "tierstack-services", ipCidrRange: "10.32.128.0/22" },
  /** Reserved for Cloud SQL and Memorystore (VPC peering with servicenetworking). */
  privateServices: { address: "10.40.0.0", prefixLength: 20 },
} as const;

export const releaseChannel = "REGULAR" as const;

export const servicesPool = "services";

export const nodePools: NodePoolSpec[] = [
  // kube-dns, the metrics collectors and the other GKE system pods.
  { name: "system", machineType: "e2-standard-2", diskSizeGb: 50, totalMinNodes: 1, totalMaxNodes: 2 },
  { name: servicesPool, machineType: "e2-standard-4", diskSizeGb: 100, totalMinNodes: 2, totalMaxNodes: 4 },
];

export interface WorkloadShape {
  /** Replicas, or the autoscaler's minimum. */
  replicas: number;
  /** Autoscaler maximum; undefined = no autoscaler. */
  maxReplicas?: number;
  resources: Resources;
}

const r = (cpu: string, memory: string, cpuLimit: string, memoryLimit = memory): Resources => ({
  requests: { cpu, memory },
  limits: { cpu: cpuLimit, memory: memoryLimit },
});

/** Per workload; the gateway's and LiteLLM's replica counts come from the stack config. */
export const workloadShapes: Record<Exclude<Workload, "mcp-gateway" | "litellm">, WorkloadShape> & Record<"mcp-gateway" | "litellm", Omit<WorkloadShape, "replicas" | "maxReplicas">> = {
  "task-queue": { replicas: 2, maxReplicas: 4, resources: r("250m", "256Mi", "1", "512Mi") },
  brain: { replicas: 2, maxReplicas: 4, resources: r("500m", "512Mi", "2", "1Gi") },
  "mcp-gateway": { resources: r("250m", "256Mi", "1", "512Mi") },
  litellm: { resources: r("500m", "1Gi", "2", "2Gi") },
  nats: { replicas: 1, resources: r("250m", "512Mi", "1", "1Gi") },
  cloudflared: { replicas: 2, maxReplicas: 4, resources: r("100m", "128Mi", "500m", "256Mi") },
};

/** JetStream's volume (the one stateful workload left in the cluster). */
export const natsVolume = { sizeGi: 20, storageClassName: "premium-rwo" };

export const cpuTarget = 70;

/** Image users: the service images run as `node` (services/Dockerfile); NATS, LiteLLM and cloudflared as the numeric users below. */
export const runAs = {
  service: { user: 1000, group: 1000 },
  nats: { user: 1000, group: 1000 },
  litellm: { user: 1000, group: 1000 },
  // The cloudflared image is distroless and runs as nonroot (65532).
  cloudflared: { user: 65532, group: 65532 },
} as const;
