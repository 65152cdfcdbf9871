/**
 * The learner sandboxes' NetworkPolicies, rendered from the sandbox flow table
 * (catalog/flows.ts `sandboxFlows`):
 * - in the sandboxes' namespace: default deny (ingress and egress) for every pod, then one policy
 *   for the sandbox pods allowing exactly the table's flows to and from them;
 * - in the platform namespace, whose default deny would drop the same traffic at the other end:
 *   one egress policy per platform workload that opens a flow to the sandboxes, and one ingress
 *   policy per platform workload the sandboxes reach. NetworkPolicies add up, so these sit beside
 *   the platform's own (components/k8s/network-policies.ts) without touching them.
 * Peers in the other namespace are selected by namespace name and pod labels together.
 */
import type { SandboxFlow } from "../../../catalog/flows.js";
import { kubeDnsPeer, type NetworkPolicyObject, type PolicyPeer, type PolicyPort } from "../network-policies.js";

export type PlatformPeer = Exclude<SandboxFlow["to"] | SandboxFlow["from"], "learner-sandbox" | "kube-dns">;

export interface SandboxPolicyArgs {
  platformNamespace: string;
  sandboxNamespace: string;
  flows: readonly SandboxFlow[];
  /** matchLabels of the sandbox pods (the template's pod labels). */
  sandboxPods: Record<string, string>;
  /** matchLabels of the platform workloads the table names. */
  platformPods: Record<PlatformPeer, Record<string, string>>;
  labels?: Record<string, string>;
}

const byName = (namespace: string) => ({ matchLabels: { "kubernetes.io/metadata.name": namespace } });

function ports(f: SandboxFlow): PolicyPort[] {
  return f.ports.map((p) => {
    if (typeof p.port !== "number") throw new Error(`sandbox policies: ${f.from} -> ${f.to} names port ${String(p.port)}; the sandbox table takes numbers`);
    return { protocol: p.protocol, port: p.port };
  });
}

export function renderSandboxPolicies(a: SandboxPolicyArgs): NetworkPolicyObject[] {
  const meta = (namespace: string, name: string) => ({ name, namespace, ...(a.labels ? { labels: a.labels } : {}) });
  const sandboxPeer: PolicyPeer = { namespaceSelector: byName(a.sandboxNamespace), podSelector: { matchLabels: a.sandboxPods } };
  const platformPeer = (w: PlatformPeer): PolicyPeer => ({ namespaceSelector: byName(a.platformNamespace), podSelector: { matchLabels: a.platformPods[w] } });
  const peerOf = (e: SandboxFlow["to"] | SandboxFlow["from"]): PolicyPeer => (e === "kube-dns" ? kubeDnsPeer : e === "learner-sandbox" ? sandboxPeer : platformPeer(e));

  const toSandbox = a.flows.filter((f) => f.to === "learner-sandbox");
  const fromSandbox = a.flows.filter((f) => f.from === "learner-sandbox");
  const out: NetworkPolicyObject[] = [
    { metadata: meta(a.sandboxNamespace, "default-deny"), spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    {
      metadata: meta(a.sandboxNamespace, "allow-learner-sandbox"),
      spec: {
        podSelector: { matchLabels: a.sandboxPods },
        policyTypes: ["Ingress", "Egress"],
        ...(toSandbox.length > 0 ? { ingress: toSandbox.map((f) => ({ from: [peerOf(f.from)], ports: ports(f) })) } : {}),
        ...(fromSandbox.length > 0 ? { egress: fromSandbox.map((f) => ({ to: [peerOf(f.to)], ports: ports(f) })) } : {}),
      },
    },
  ];
  const platform = (ends: string[]): PlatformPeer[] => [...new Set(ends)].filter((e): e is PlatformPeer => e !== "learner-sandbox" && e !== "kube-dns");
  for (const w of platform(toSandbox.map((f) => f.from))) {
    out.push({
      metadata: meta(a.platformNamespace, `allow-${w}-to-learner-sandboxes`),
      spec: { podSelector: { matchLabels: a.platformPods[w] }, policyTypes: ["Egress"], egress: toSandbox.filter((f) => f.from === w).map((f) => ({ to: [sandboxPeer], ports: ports(f) })) },
    });
  }
  for (const w of platform(fromSandbox.map((f) => f.to))) {
    out.push({
      metadata: meta(a.platformNamespace, `allow-learner-sandboxes-to-${w}`),
      spec: { podSelector: { matchLabels: a.platformPods[w] }, policyTypes: ["Ingress"], ingress: fromSandbox.filter((f) => f.to === w).map((f) => ({ from: [sandboxPeer], ports: ports(f) })) },
    });
  }
  return out;
}
