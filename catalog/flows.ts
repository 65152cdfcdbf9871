/**
 * The network flows of the cluster tiers (tier-50, tier-100): who may open a connection to whom,
 * on which port. Written once here; the NetworkPolicies are rendered from it
 * (components/k8s/network-policies.ts), docs/architecture.md draws it, and a test evaluates the
 * rendered policies over every (source, destination, port) and compares the result with this
 * table. Everything not listed is denied, the metadata server included.
 *
 * Ports of the managed data plane: Cloud SQL PostgreSQL listens on 5432; Memorystore for Redis
 * with in-transit encryption (SERVER_AUTHENTICATION) listens on 6378
 * (https://cloud.google.com/memorystore/docs/redis/about-in-transit-encryption).
 * cloudflared dials the Cloudflare edge on 7844, TCP (http2) and UDP (QUIC); with
 * --no-autoupdate it needs nothing else
 * (https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/deploy-tunnels/tunnel-with-firewall/).
 */
import { learnerRuntimePort } from "./sandbox.js";
import { services } from "./services.js";

/** What runs as pods in the platform's namespace. */
export type Workload = "cloudflared" | "task-queue" | "mcp-gateway" | "brain" | "litellm" | "nats";
export const workloads: readonly Workload[] = ["cloudflared", "task-queue", "mcp-gateway", "brain", "litellm", "nats"];

/** Destinations outside the platform's pods. */
export type External =
  /** Cloud SQL's private IP (private services access range). */
  | "postgres"
  /** Memorystore's private IP (private services access range). */
  | "redis"
  /** The GPU box (a VM in the platform subnet) serving the local models. */
  | "gpu-box"
  /** Public addresses: 0.0.0.0/0 minus private, shared and link-local ranges. */
  | "internet"
  /** The MCP tool servers of the gateway's shard map (their hosts and ports come from the map). */
  | "mcp-servers"
  /** kube-dns in kube-system. */
  | "kube-dns"
  /**
   * The cluster's Kubernetes API: the control plane's private endpoint (an address outside the
   * pods), behind the `kubernetes` Service. Dataplane V2 translates the Service address to that
   * endpoint before it applies egress policy, so the policy names the endpoint, not the Service.
   */
  | "control-plane"
  /** The GCE/GKE metadata server: no pod reaches it (listed so the test can say so). */
  | "metadata"
  /**
   * The old tier's NATS outside the cluster during single-box → tier-50 (expand to cut-over):
   * the box's leaf node listener, at its internal IP (catalog/nats.ts).
   */
  | "old-tier-nats";

/** Sources that are not platform pods: Managed Prometheus' collectors (namespace gmp-system). */
export type OutsideSource = "metrics-collector";

export type Endpoint = Workload | External;
export type Source = Workload | OutsideSource;

export type Protocol = "TCP" | "UDP";

/**
 * A port, or a port the stack resolves: "inference" = the ports of the GPU box's servers,
 * "mcp-servers" = the ports of the shard map's replica URLs.
 */
export type PortRef = number | "inference" | "mcp-servers";

export interface FlowPort {
  port: PortRef;
  protocol: Protocol;
}

export interface Flow {
  from: Source;
  to: Endpoint;
  ports: FlowPort[];
  why: string;
}

/** Ports the platform's pods listen on (the Fastify services' from the service catalogue). */
export const workloadPorts: Record<Workload, { serve?: number; metrics?: number; health?: number; peer?: number; leaf?: number }> = {
  "task-queue": { serve: services["task-queue"].port, metrics: services["task-queue"].port },
  "mcp-gateway": { serve: services["mcp-gateway"].port, metrics: services["mcp-gateway"].port },
  brain: { serve: services.brain.port, metrics: services.brain.port },
  litellm: { serve: 4000 },
  // NATS: client port; 8222 is its HTTP monitoring port (/healthz), probed by the kubelet only;
  // 6222 is the cluster (route) port, which only the other nodes of a NATS cluster open.
  // 7422 is the leaf node port, which the old tier's NATS listens on only during a migration
  // between tiers (catalog/nats.ts natsLeafPort), for the target tier's NATS.
  nats: { serve: 4222, health: 8222, peer: 6222, leaf: 7422 },
  // cloudflared serves nothing; --metrics 0.0.0.0:2000 exposes /metrics and /ready.
  cloudflared: { metrics: 2000, health: 2000 },
};

export const dataPlanePorts = { postgres: 5432, redis: 6378 } as const;

/** The metadata server (169.254.169.254:80) and the GKE metadata server behind it on Dataplane V2 (169.254.169.252:988). */
export const metadataAddresses: readonly { ip: string; port: number }[] = [
  { ip: "169.254.169.254", port: 80 },
  { ip: "169.254.169.252", port: 988 },
];

const tcp = (port: PortRef): FlowPort => ({ port, protocol: "TCP" });
const served = (w: Workload): FlowPort[] => {
  const port = workloadPorts[w].serve;
  if (port === undefined) throw new Error(`flows: ${w} serves no port`);
  return [tcp(port)];
};

/** The flow table. Order is the drawing's order (docs/architecture.md, "Network flows"). */
export const flows: readonly Flow[] = [
  { from: "cloudflared", to: "internet", ports: [tcp(7844), { port: 7844, protocol: "UDP" }], why: "tunnel connections to the Cloudflare edge (http2 / QUIC)" },
  { from: "cloudflared", to: "task-queue", ports: served("task-queue"), why: "the tunnel's routes: task-queue.<domain> (Access)" },
  { from: "cloudflared", to: "mcp-gateway", ports: served("mcp-gateway"), why: "the tunnel's routes: mcp-gateway.<domain> (Access), every shard and the federated /mcp" },
  { from: "cloudflared", to: "brain", ports: served("brain"), why: "the tunnel's routes: brain.<domain> public paths, brain-admin.<domain> (Access)" },
  { from: "task-queue", to: "postgres", ports: [tcp(dataPlanePorts.postgres)], why: "the queue's store (TLS, verify-full)" },
  { from: "task-queue", to: "nats", ports: served("nats"), why: "the outbox relay publishes lifecycle events to JetStream" },
  { from: "mcp-gateway", to: "postgres", ports: [tcp(dataPlanePorts.postgres)], why: "agent tokens (the task queue's database)" },
  { from: "mcp-gateway", to: "redis", ports: [tcp(dataPlanePorts.redis)], why: "the session registry (ADR 0020)" },
  { from: "mcp-gateway", to: "mcp-servers", ports: [tcp("mcp-servers")], why: "the shard map's MCP tool servers" },
  { from: "brain", to: "postgres", ports: [tcp(dataPlanePorts.postgres)], why: "the brain's store" },
  { from: "brain", to: "redis", ports: [tcp(dataPlanePorts.redis)], why: "the shared send-rate bucket (ADR 0041)" },
  { from: "brain", to: "litellm", ports: served("litellm"), why: "LLM calls" },
  { from: "brain", to: "internet", ports: [tcp(443)], why: "WhatsApp Cloud API and Stripe" },
  { from: "litellm", to: "gpu-box", ports: [tcp("inference")], why: "the local models on the GPU box" },
  { from: "litellm", to: "redis", ports: [tcp(dataPlanePorts.redis)], why: "limits shared by the LiteLLM replicas" },
  { from: "litellm", to: "internet", ports: [tcp(443)], why: "cloud models through OpenRouter" },
  ...workloads.map((w): Flow => ({ from: w, to: "kube-dns", ports: [{ port: 53, protocol: "UDP" }, tcp(53)], why: "name resolution" })),
  ...workloads
    .filter((w) => workloadPorts[w].metrics !== undefined)
    .map((w): Flow => ({ from: "metrics-collector", to: w, ports: [tcp(workloadPorts[w].metrics as number)], why: "Managed Prometheus scrapes /metrics (PodMonitoring)" })),
];

/**
 * Traffic inside one workload: the nodes of a NATS cluster (tier-100, natsNodes 3 or 5) open
 * routes to each other on the cluster port (components/nats/nats-cluster.ts). A workload's flow
 * to itself is allowed only on its `peer` port (flowTableProblems refuses any other), and only a
 * tier that runs a NATS cluster adds it: tier-50's single node has no peer.
 */
export const natsRouteFlow: Flow = {
  from: "nats",
  to: "nats",
  ports: [tcp(workloadPorts.nats.peer as number)],
  why: "routes between the nodes of the NATS cluster (JetStream's Raft groups replicate over them)",
};

/** The flow table of a cluster tier: the shared table, plus the NATS routes when NATS is a cluster. */
export function clusterFlows(natsNodes: number): readonly Flow[] {
  return natsNodes > 1 ? [...flows, natsRouteFlow] : flows;
}

/**
 * During a migration between two cluster tiers (tier-50 → tier-100, expand to cut-over; both in
 * the one namespace, their NATS pods under the same workload selector): the target's NATS
 * connects to the old one's leaf node port (catalog/nats.ts), which JetStream sourcing moves the
 * streams over (migrate/nats.ts).
 */
export const natsLeafFlow: Flow = {
  from: "nats",
  to: "nats",
  ports: [tcp(workloadPorts.nats.leaf as number)],
  why: "during a migration between cluster tiers: the target tier's NATS is a leaf node of the old tier's (the streams move over it)",
};

/**
 * During single-box → tier-50 (expand to cut-over) tier-50's NATS connects, as a leaf node, to
 * the box's NATS at its internal IP (the VPC rule for it: components/network.ts).
 */
export const boxNatsLeafFlow: Flow = {
  from: "nats",
  to: "old-tier-nats",
  ports: [tcp(workloadPorts.nats.leaf as number)],
  why: "during single-box → tier-50: tier-50's NATS is a leaf node of the box's (the streams move over it)",
};

/**
 * A cluster tier's flow table during a migration to or from another cluster tier (its NATS leaf
 * role set, catalog/nats.ts): the leaf flow, and the NATS routes, which the old tier's
 * NetworkPolicies must allow while they are the ones applied (expand and copy: a policy both
 * tiers declare under the same name is the old tier's until cut-over, stacks/migration.ts) and the
 * target's cluster forms beside the old node.
 */
export function migrationFlows(base: readonly Flow[]): readonly Flow[] {
  // clusterFlows adds natsRouteFlow itself (a NATS cluster): the same object, listed once.
  return [...base, ...[natsRouteFlow, natsLeafFlow].filter((f) => !base.includes(f))];
}

/**
 * tier-100's learner sandboxes: the brain claims them (SandboxClaims, ADR 0036) through the
 * Kubernetes API, on 443 (the private endpoint's port). No other workload talks to the API (none
 * has a token either: components/k8s/service-deployment.ts), and only a tier that runs the
 * sandboxes adds the flow.
 */
export const controlPlaneFlow: Flow = {
  from: "brain",
  to: "control-plane",
  ports: [tcp(443)],
  why: "the learner sandboxes' SandboxClaims (create, get, list, delete) through the Kubernetes API",
};

/** The only workloads that may reach the control plane. */
export const controlPlaneClients: readonly Workload[] = ["brain"];

/** Destinations no flow may name: a flow to one of them is a mistake in this table. */
export const neverReached: readonly External[] = ["metadata"];

/** One line per inconsistency of a flow table (empty when it is sound). */
export function flowTableProblems(table: readonly Flow[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const f of table) {
    if (neverReached.includes(f.to as External)) problems.push(`${f.from} -> ${f.to}: ${f.to} must never be reached`);
    if (f.to === "control-plane" && !(controlPlaneClients as readonly string[]).includes(f.from)) problems.push(`${f.from} -> control-plane: only ${controlPlaneClients.join(", ")} may reach the Kubernetes API`);
    if (f.to === "control-plane" && f.ports.some((p) => p.port !== 443 || p.protocol !== "TCP")) problems.push(`${f.from} -> control-plane: the API is on 443/TCP only`);
    const own = (workloads as readonly string[]).includes(f.to) ? workloadPorts[f.to as Workload] : undefined;
    const selfPorts = [own?.peer, own?.leaf].filter((p): p is number => p !== undefined);
    if (f.from === f.to && (selfPorts.length === 0 || f.ports.some((p) => !selfPorts.includes(p.port as number)))) {
      problems.push(`${f.from} -> ${f.to}: a workload needs a flow to itself only on its peer${own?.leaf !== undefined ? " or leaf" : ""} port${selfPorts.length === 0 ? ` (${f.to} has none)` : ` ${selfPorts.join(", ")}`}`);
    }
    if (f.ports.length === 0) problems.push(`${f.from} -> ${f.to}: no ports`);
    for (const p of f.ports) {
      const key = `${f.from}>${f.to}:${String(p.port)}/${p.protocol}`;
      if (seen.has(key)) problems.push(`${f.from} -> ${f.to}: ${String(p.port)}/${p.protocol} listed twice`);
      seen.add(key);
      if ((workloads as readonly string[]).includes(f.to)) {
        const ports = workloadPorts[f.to as Workload];
        const listens = p.port === ports.serve || p.port === ports.metrics || (f.from === f.to && (p.port === ports.peer || p.port === ports.leaf));
        if (!listens) problems.push(`${f.from} -> ${f.to}: ${String(p.port)} is not a port ${f.to} listens on`);
      }
    }
  }
  return problems;
}

/**
 * tier-100's learner sandboxes (catalog/sandbox.ts): pods in their own namespace, one per learner
 * on a dedicated plan. The brain opens the runtime's channel to its learner's sandbox; a sandbox
 * may reach LiteLLM and the brain, and kube-dns to find them, and nothing else: not the other
 * sandboxes, not the metadata server, not the internet. The policies are rendered from this
 * table (components/k8s/agent-sandbox/policies.ts) and the tier-100 test evaluates them with the
 * platform's over every (source, destination, port).
 */
export type SandboxEndpoint = "learner-sandbox" | "brain" | "litellm" | "kube-dns";

export interface SandboxFlow {
  from: "learner-sandbox" | "brain";
  to: SandboxEndpoint;
  ports: FlowPort[];
  why: string;
}

export const sandboxFlows: readonly SandboxFlow[] = [
  { from: "brain", to: "learner-sandbox", ports: [tcp(learnerRuntimePort)], why: "the brain forwards a dedicated learner's messages to their sandbox and relays its answers (the runtime's channel)" },
  { from: "learner-sandbox", to: "litellm", ports: served("litellm"), why: "LLM calls" },
  { from: "learner-sandbox", to: "brain", ports: served("brain"), why: "the brain's API" },
  { from: "learner-sandbox", to: "kube-dns", ports: [{ port: 53, protocol: "UDP" }, tcp(53)], why: "name resolution of LiteLLM and the brain" },
];

/** One line per inconsistency of the sandbox table: every flow touches a sandbox, on ports its destination listens on. */
export function sandboxFlowProblems(table: readonly SandboxFlow[]): string[] {
  const problems: string[] = [];
  for (const f of table) {
    if (f.from !== "learner-sandbox" && f.to !== "learner-sandbox") problems.push(`${f.from} -> ${f.to}: neither end is a learner sandbox`);
    if (f.from === f.to) problems.push(`${f.from} -> ${f.to}: sandboxes never reach each other`);
    if (f.ports.length === 0) problems.push(`${f.from} -> ${f.to}: no ports`);
    for (const p of f.ports) {
      const listens = f.to === "learner-sandbox" ? p.port === learnerRuntimePort : f.to === "kube-dns" ? p.port === 53 : p.port === workloadPorts[f.to].serve;
      if (!listens) problems.push(`${f.from} -> ${f.to}: ${String(p.port)}/${p.protocol} is not a port ${f.to} listens on`);
    }
  }
  return problems;
}
