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
  /** The GCE/GKE metadata server: no pod reaches it (listed so the test can say so). */
  | "metadata";

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
export const workloadPorts: Record<Workload, { serve?: number; metrics?: number; health?: number; peer?: number }> = {
  "task-queue": { serve: services["task-queue"].port, metrics: services["task-queue"].port },
  "mcp-gateway": { serve: services["mcp-gateway"].port, metrics: services["mcp-gateway"].port },
  brain: { serve: services.brain.port, metrics: services.brain.port },
  litellm: { serve: 4000 },
  // NATS: client port; 8222 is its HTTP monitoring port (/healthz), probed by the kubelet only;
  // 6222 is the cluster (route) port, which only the other nodes of a NATS cluster open.
  nats: { serve: 4222, health: 8222, peer: 6222 },
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

/** Destinations no flow may name: a flow to one of them is a mistake in this table. */
export const neverReached: readonly External[] = ["metadata"];

/** One line per inconsistency of a flow table (empty when it is sound). */
export function flowTableProblems(table: readonly Flow[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const f of table) {
    if (neverReached.includes(f.to as External)) problems.push(`${f.from} -> ${f.to}: ${f.to} must never be reached`);
    const peer = (workloads as readonly string[]).includes(f.to) ? workloadPorts[f.to as Workload].peer : undefined;
    if (f.from === f.to && (peer === undefined || f.ports.some((p) => p.port !== peer))) {
      problems.push(`${f.from} -> ${f.to}: a workload needs a flow to itself only on its peer port${peer === undefined ? ` (${f.to} has none)` : ` ${peer}`}`);
    }
    if (f.ports.length === 0) problems.push(`${f.from} -> ${f.to}: no ports`);
    for (const p of f.ports) {
      const key = `${f.from}>${f.to}:${String(p.port)}/${p.protocol}`;
      if (seen.has(key)) problems.push(`${f.from} -> ${f.to}: ${String(p.port)}/${p.protocol} listed twice`);
      seen.add(key);
      if ((workloads as readonly string[]).includes(f.to)) {
        const ports = workloadPorts[f.to as Workload];
        const listens = p.port === ports.serve || p.port === ports.metrics || (f.from === f.to && p.port === ports.peer);
        if (!listens) problems.push(`${f.from} -> ${f.to}: ${String(p.port)} is not a port ${f.to} listens on`);
      }
    }
  }
  return problems;
}
