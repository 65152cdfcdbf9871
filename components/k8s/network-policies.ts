/**
 * The platform namespace's NetworkPolicies, rendered from the flow table (catalog/flows.ts):
 * one default-deny policy for every pod (ingress and egress), then one policy per workload
 * allowing exactly its flows: ingress from the workloads (or the metrics collectors) the table
 * names, egress to the workloads, address blocks and ports it names. Dataplane V2 enforces them
 * (https://cloud.google.com/kubernetes-engine/docs/concepts/dataplane-v2).
 *
 * "internet" is 0.0.0.0/0 minus the private (RFC 1918), shared (100.64.0.0/10) and link-local
 * (169.254.0.0/16) ranges, so no egress rule reaches the metadata server or another private
 * address by accident. "control-plane" is the cluster's API endpoint as one /32 (the stack reads
 * it from the cluster), a value known at apply, so a rendered ipBlock's cidr is an Input. The kubelet's probes come from the node, which NetworkPolicy always
 * allows (https://kubernetes.io/docs/concepts/services-networking/network-policies/).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { workloads, type Endpoint, type Flow, type FlowPort, type Source, type Workload } from "../../catalog/flows.js";

export const internetBlock = {
  cidr: "0.0.0.0/0",
  except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"],
} as const;

/** kube-dns: pods labelled k8s-app=kube-dns in kube-system. */
export const kubeDnsPeer = {
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
};

/** Managed Prometheus' collectors run in gmp-system (https://cloud.google.com/stackdriver/docs/managed-prometheus/setup-managed). */
export const metricsCollectorNamespace = "gmp-system";

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

/** A peer; `C` is what an ipBlock's cidr is: a string in a plan, an Input where the stack renders it. */
export interface PolicyPeer<C = string> {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: C; except?: string[] };
}

export interface PolicyPort {
  protocol: "TCP" | "UDP";
  port: number;
}

export interface PolicyRule {
  peers: PolicyPeer<pulumi.Input<string>>[];
  ports: PolicyPort[];
}

/** A NetworkPolicy as the API takes it (metadata + spec). */
export interface NetworkPolicyObject<C = string> {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: {
    podSelector: LabelSelector;
    policyTypes: ("Ingress" | "Egress")[];
    ingress?: { from?: PolicyPeer<C>[]; ports?: PolicyPort[] }[];
    egress?: { to?: PolicyPeer<C>[]; ports?: PolicyPort[] }[];
  };
}

/** Where each destination outside the pods is, resolved by the stack. */
export interface FlowAddresses {
  /** CIDRs of each managed or VM destination. */
  postgres: string[];
  redis: string[];
  "gpu-box": string[];
  /** Ports of the GPU box's inference servers. */
  inferencePorts: number[];
  /** The shard map's MCP servers: address blocks and port per server. */
  mcpServers: { cidr: string; except?: string[]; port: number }[];
  /** The control plane's endpoint as CIDRs (one /32), for a table that names "control-plane". */
  controlPlane?: pulumi.Input<string>[];
  /** The old tier's NATS outside the cluster (one /32), for a table that names "old-tier-nats" (a migration). */
  oldTierNats?: pulumi.Input<string>[];
}

export interface RenderArgs {
  namespace: string;
  flows: readonly Flow[];
  /** matchLabels selecting each workload's pods (all replicas, all shards). */
  podLabels: Record<Workload, Record<string, string>>;
  addresses: FlowAddresses;
  labels?: Record<string, string>;
}

const isWorkload = (e: Endpoint | Source): e is Workload => (workloads as readonly string[]).includes(e);

function numericPorts(p: FlowPort, addresses: FlowAddresses): PolicyPort[] {
  if (typeof p.port === "number") return [{ protocol: p.protocol, port: p.port }];
  if (p.port === "inference") {
    if (addresses.inferencePorts.length === 0) throw new Error("network policies: a flow names the inference ports but the stack gives none");
    return addresses.inferencePorts.map((port) => ({ protocol: p.protocol, port }));
  }
  return [...new Set(addresses.mcpServers.map((s) => s.port))].map((port) => ({ protocol: p.protocol, port }));
}

function ipPeers(cidrs: pulumi.Input<string>[], what: string): PolicyPeer<pulumi.Input<string>>[] {
  if (cidrs.length === 0) throw new Error(`network policies: no address for ${what}`);
  return cidrs.map((cidr) => ({ ipBlock: { cidr } }));
}

/** Egress rules of one flow: peers and ports. The MCP servers get one rule per server (its block, its port). */
function egressRules(f: Flow, args: RenderArgs): PolicyRule[] {
  const ports = f.ports.flatMap((p) => numericPorts(p, args.addresses));
  const to = f.to;
  if (isWorkload(to)) return [{ peers: [{ podSelector: { matchLabels: args.podLabels[to] } }], ports }];
  switch (to) {
    case "internet":
      return [{ peers: [{ ipBlock: { cidr: internetBlock.cidr, except: [...internetBlock.except] } }], ports }];
    case "kube-dns":
      return [{ peers: [kubeDnsPeer], ports }];
    case "postgres":
    case "redis":
    case "gpu-box":
      return [{ peers: ipPeers(args.addresses[to], to), ports }];
    case "control-plane":
      return [{ peers: ipPeers(args.addresses.controlPlane ?? [], "the control plane"), ports }];
    case "old-tier-nats":
      return [{ peers: ipPeers(args.addresses.oldTierNats ?? [], "the old tier's NATS"), ports }];
    case "mcp-servers": {
      if (args.addresses.mcpServers.length === 0) throw new Error("network policies: the gateway has no MCP servers to reach");
      const protocols = [...new Set(f.ports.map((p) => p.protocol))];
      return args.addresses.mcpServers.map((s) => ({
        peers: [{ ipBlock: s.except ? { cidr: s.cidr, except: [...s.except] } : { cidr: s.cidr } }],
        ports: protocols.map((protocol) => ({ protocol, port: s.port })),
      }));
    }
    case "metadata":
      throw new Error("network policies: no flow may reach the metadata server");
  }
}

function ingressPeer(from: Source, args: RenderArgs): PolicyPeer<pulumi.Input<string>> {
  if (isWorkload(from)) return { podSelector: { matchLabels: args.podLabels[from] } };
  return { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": metricsCollectorNamespace } } };
}

/** The policies as plain objects: default deny first, then one per workload in the table's order. */
export function renderNetworkPolicies(args: RenderArgs): NetworkPolicyObject<pulumi.Input<string>>[] {
  const meta = (name: string) => ({ name, namespace: args.namespace, ...(args.labels ? { labels: args.labels } : {}) });
  const out: NetworkPolicyObject<pulumi.Input<string>>[] = [
    { metadata: meta("default-deny"), spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
  ];
  for (const w of workloads) {
    const ingress = args.flows
      .filter((f) => f.to === w)
      .map((f) => ({ from: [ingressPeer(f.from, args)], ports: f.ports.flatMap((p) => numericPorts(p, args.addresses)) }));
    const egress = args.flows
      .filter((f) => f.from === w)
      .flatMap((f) => egressRules(f, args))
      .map((r) => ({ to: r.peers, ports: r.ports }));
    out.push({
      metadata: meta(`allow-${w}`),
      spec: {
        podSelector: { matchLabels: args.podLabels[w] },
        policyTypes: ["Ingress", "Egress"],
        ...(ingress.length > 0 ? { ingress } : {}),
        ...(egress.length > 0 ? { egress } : {}),
      },
    });
  }
  return out;
}

export interface NetworkPoliciesArgs extends RenderArgs {
  provider: k8s.Provider;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export class NetworkPolicies extends pulumi.ComponentResource {
  readonly policies: k8s.networking.v1.NetworkPolicy[];
  readonly rendered: NetworkPolicyObject<pulumi.Input<string>>[];

  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:k8s:NetworkPolicies", name, {}, opts);
    this.rendered = renderNetworkPolicies(args);
    this.policies = this.rendered.map(
      (p) =>
        new k8s.networking.v1.NetworkPolicy(`${name}-${p.metadata.name}`, { metadata: p.metadata, spec: p.spec }, {
          parent: this,
          provider: args.provider,
          ...(args.dependsOn ? { dependsOn: args.dependsOn } : {}),
        }),
    );
    this.registerOutputs({ policies: this.rendered.map((p) => p.metadata.name) });
  }
}
