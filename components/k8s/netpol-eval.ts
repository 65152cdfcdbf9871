/**
 * Evaluates Kubernetes NetworkPolicies the way the API defines them
 * (https://kubernetes.io/docs/concepts/services-networking/network-policies/), for tests and
 * reviews: is a connection from one pod to a pod or an address, on a port, allowed?
 *
 * - A pod is isolated for egress (ingress) when a policy in its namespace selects it and lists
 *   Egress (Ingress) in policyTypes; an isolated pod may only open (accept) what some selecting
 *   policy's rule allows; a pod no policy isolates is unrestricted in that direction.
 * - A pod-to-pod connection needs both: egress allowed at the source and ingress at the
 *   destination. A connection to an address outside the cluster needs egress only.
 * - Peers: podSelector alone = pods of the policy's namespace; namespaceSelector alone = every
 *   pod of the matching namespaces; both = the pods matching both. ipBlock matches addresses
 *   only (its meaning for pod IPs is implementation-defined). A rule without `to`/`from` matches
 *   every peer; without `ports`, every port. Named ports are refused (the platform uses numbers).
 */
import type { LabelSelector, NetworkPolicyObject, PolicyPeer } from "./network-policies.js";

export interface PodRef {
  namespace: string;
  labels: Record<string, string>;
  /** Labels of the pod's namespace (kubernetes.io/metadata.name is added when missing). */
  namespaceLabels?: Record<string, string>;
}

export type Target = { kind: "pod"; pod: PodRef } | { kind: "ip"; ip: string };

export type Protocol = "TCP" | "UDP";

/** A policy as found in a plan: spec fields are loosely typed there. */
export interface PolicyLike {
  metadata?: { namespace?: string; name?: string };
  spec?: NetworkPolicyObject["spec"] | Record<string, unknown>;
}

function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

export function cidrContains(cidr: string, ip: string): boolean {
  const [base = "", bitsText = "32"] = cidr.split("/");
  const bits = Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((ipToInt(base) & mask) >>> 0) === ((ipToInt(ip) & mask) >>> 0);
}

export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case "In":
        if (!has || !(e.values ?? []).includes(value as string)) return false;
        break;
      case "NotIn":
        if (has && (e.values ?? []).includes(value as string)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        throw new Error(`unknown selector operator ${String((e as { operator: unknown }).operator)}`);
    }
  }
  return true;
}

function nsLabels(pod: PodRef): Record<string, string> {
  return { "kubernetes.io/metadata.name": pod.namespace, ...(pod.namespaceLabels ?? {}) };
}

function peerMatches(peer: PolicyPeer, policyNamespace: string, target: Target): boolean {
  if (peer.ipBlock) {
    if (peer.podSelector || peer.namespaceSelector) throw new Error("a peer with ipBlock must have nothing else");
    if (target.kind !== "ip") return false;
    if (!cidrContains(peer.ipBlock.cidr, target.ip)) return false;
    return !(peer.ipBlock.except ?? []).some((c) => cidrContains(c, target.ip));
  }
  if (target.kind !== "pod") return false;
  const pod = target.pod;
  if (peer.namespaceSelector) {
    if (!selectorMatches(peer.namespaceSelector, nsLabels(pod))) return false;
  } else if (pod.namespace !== policyNamespace) {
    return false;
  }
  return peer.podSelector ? selectorMatches(peer.podSelector, pod.labels) : true;
}

interface Port { protocol?: string; port?: number | string; endPort?: number }

function portMatches(ports: Port[] | undefined, port: number, protocol: Protocol): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? "TCP") !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === "string") throw new Error(`named port ${p.port}: the evaluator takes numbers only`);
    return p.endPort === undefined ? p.port === port : port >= p.port && port <= p.endPort;
  });
}

type Spec = NetworkPolicyObject["spec"];

function specOf(p: PolicyLike): Spec {
  return (p.spec ?? { podSelector: {}, policyTypes: [] }) as Spec;
}

function types(spec: Spec): string[] {
  if (spec.policyTypes && spec.policyTypes.length > 0) return spec.policyTypes;
  return spec.egress ? ["Ingress", "Egress"] : ["Ingress"];
}

function selecting(policies: readonly PolicyLike[], pod: PodRef, direction: "Ingress" | "Egress"): { ns: string; spec: Spec }[] {
  return policies
    .map((p) => ({ ns: p.metadata?.namespace ?? "default", spec: specOf(p) }))
    .filter((p) => p.ns === pod.namespace && selectorMatches(p.spec.podSelector, pod.labels) && types(p.spec).includes(direction));
}

export function egressAllowed(policies: readonly PolicyLike[], from: PodRef, to: Target, port: number, protocol: Protocol): boolean {
  const applying = selecting(policies, from, "Egress");
  if (applying.length === 0) return true;
  return applying.some(({ ns, spec }) =>
    (spec.egress ?? []).some((rule) => (!rule.to || rule.to.length === 0 || rule.to.some((peer) => peerMatches(peer, ns, to))) && portMatches(rule.ports, port, protocol)),
  );
}

export function ingressAllowed(policies: readonly PolicyLike[], from: PodRef, to: PodRef, port: number, protocol: Protocol): boolean {
  const applying = selecting(policies, to, "Ingress");
  if (applying.length === 0) return true;
  const source: Target = { kind: "pod", pod: from };
  return applying.some(({ ns, spec }) =>
    (spec.ingress ?? []).some((rule) => (!rule.from || rule.from.length === 0 || rule.from.some((peer) => peerMatches(peer, ns, source))) && portMatches(rule.ports, port, protocol)),
  );
}

/** Is the connection allowed by the policies (egress at the source, and ingress at a pod destination)? */
export function connectionAllowed(policies: readonly PolicyLike[], from: PodRef, to: Target, port: number, protocol: Protocol): boolean {
  if (!egressAllowed(policies, from, to, port, protocol)) return false;
  return to.kind === "ip" || ingressAllowed(policies, from, to.pod, port, protocol);
}
