/**
 * A GKE Standard cluster for the platform's workloads:
 * - private nodes (no external IPs; egress through the network's Cloud NAT), VPC-native on the
 *   subnet's secondary ranges;
 * - Dataplane V2 (`ADVANCED_DATAPATH`), which enforces NetworkPolicies
 *   (https://cloud.google.com/kubernetes-engine/docs/concepts/dataplane-v2);
 * - the control plane reached two ways: the IP endpoint limited by master authorized networks
 *   (no Google Cloud public ranges), and the DNS endpoint, which admits only callers with IAM
 *   permission on the cluster, from anywhere; that is how operators and CI reach it
 *   (`controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic`,
 *   https://cloud.google.com/kubernetes-engine/docs/concepts/network-isolation);
 * - Workload Identity (`<project>.svc.id.goog`, nodes on GKE_METADATA), a release channel,
 *   Managed Prometheus, the Secret Manager add-on, shielded nodes, deletion protection;
 * - node pools sized by totals (`totalMinNodeCount` / `totalMaxNodeCount`), on their own node
 *   service account (roles/container.defaultNodeServiceAccount; the image repository grants it
 *   reads), never the default compute one;
 * - a `@pulumi/kubernetes` provider whose kubeconfig points at the DNS endpoint and
 *   authenticates with `gke-gcloud-auth-plugin`; its `clusterIdentifier` is the cluster's
 *   project/location/name, so a changed kubeconfig (credentials, endpoint) updates the provider
 *   instead of replacing it and every object it manages;
 * - optionally, GKE Sandbox pools (`nodeConfig.sandboxConfig.type: GVISOR`, COS_CONTAINERD; GKE
 *   refuses a cluster whose only pool is sandboxed, https://cloud.google.com/kubernetes-engine/docs/how-to/sandbox-pods),
 *   Spot nodes and a per-pool pod limit, and the managed Agent Sandbox add-on
 *   (`addonsConfig.agentSandboxConfig`) with the control-plane version it needs (ADR 0036).
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";

/** The node service account's only project role (logs, metrics, node registration); image pulls are granted per repository. */
export const nodeServiceAccountRoles = ["roles/container.defaultNodeServiceAccount"] as const;

export interface NodePoolSpec {
  /** Pool name (also its node label tierstack.dev/pool). */
  name: string;
  machineType: string;
  diskSizeGb: number;
  /** Nodes across all the pool's zones. */
  totalMinNodes: number;
  totalMaxNodes: number;
  taints?: { key: string; value: string; effect: "NO_SCHEDULE" | "PREFER_NO_SCHEDULE" | "NO_EXECUTE" }[];
  /** GKE Sandbox: the pool's pods run under gVisor (the RuntimeClass `gvisor`). */
  sandbox?: "GVISOR";
  /** Spot VMs (preemptible, cheaper). */
  spot?: boolean;
  /** Pods per node (fixed at creation; sizes each node's slice of the pods range). */
  maxPodsPerNode?: number;
}

export interface GkeClusterArgs {
  project: string;
  /** A zone (zonal cluster) or a region (regional control plane). */
  location: string;
  clusterName: string;
  network: pulumi.Input<string>;
  subnetwork: pulumi.Input<string>;
  podsRangeName: string;
  servicesRangeName: string;
  /** CIDRs allowed to the IP endpoint (the DNS endpoint is gated by IAM instead). */
  authorizedNetworks: { cidrBlock: string; displayName: string }[];
  releaseChannel: "RAPID" | "REGULAR" | "STABLE";
  /** Node service account id (6-30 of a-z 0-9 -). */
  nodeAccountId: string;
  /** Network tag every node carries. */
  nodeTag: string;
  pools: NodePoolSpec[];
  labels: Record<string, string>;
  /** The managed Agent Sandbox add-on, and the lowest control-plane version that serves the API the stack uses. */
  agentSandbox?: { minMasterVersion: string };
  /** Weekly maintenance window, RFC 5545 recurrence and UTC start/end (defaults: weekends 03:00-07:00). */
  maintenance?: { startTime: string; endTime: string; recurrence: string };
}

export const poolLabel = "tierstack.dev/pool";

/** The kubeconfig the provider uses: the DNS endpoint, credentials from gke-gcloud-auth-plugin. */
export function kubeconfigFor(contextName: string, dnsEndpoint: string | undefined): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    // The DNS endpoint presents a publicly trusted certificate: no cluster CA to pin.
    clusters: [{ name: contextName, cluster: dnsEndpoint ? { server: `https://${dnsEndpoint}` } : {} }],
    users: [{
      name: contextName,
      user: {
        exec: {
          apiVersion: "client.authentication.k8s.io/v1beta1",
          command: "gke-gcloud-auth-plugin",
          installHint: "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin (https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl)",
          provideClusterInfo: true,
          interactiveMode: "Never",
        },
      },
    }],
    contexts: [{ name: contextName, context: { cluster: contextName, user: contextName } }],
    "current-context": contextName,
  });
}

export class GkeCluster extends pulumi.ComponentResource {
  readonly cluster: gcp.container.Cluster;
  readonly pools: Record<string, gcp.container.NodePool>;
  readonly nodeServiceAccount: gcp.serviceaccount.Account;
  readonly provider: k8s.Provider;
  readonly kubeconfig: pulumi.Output<string>;
  /** `<project>.svc.id.goog`: the Workload Identity pool. */
  readonly workloadPool: string;
  readonly clusterIdentifier: string;

  constructor(name: string, args: GkeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:compute:GkeCluster", name, {}, opts);
    const parent = { parent: this };
    if (args.pools.length === 0) throw new Error("GkeCluster: no node pools");
    if (args.pools.every((p) => p.sandbox)) throw new Error("GkeCluster: every pool is sandboxed; GKE needs one without GKE Sandbox for its system pods");
    for (const p of args.pools) {
      if (p.totalMinNodes < 0 || p.totalMaxNodes < Math.max(1, p.totalMinNodes)) throw new Error(`GkeCluster: pool ${p.name} has min ${p.totalMinNodes}, max ${p.totalMaxNodes} nodes`);
    }
    this.workloadPool = `${args.project}.svc.id.goog`;

    this.nodeServiceAccount = new gcp.serviceaccount.Account(`${name}-nodes-sa`, {
      project: args.project,
      accountId: args.nodeAccountId,
      displayName: `GKE nodes of ${args.clusterName}`,
    }, parent);
    const nodeMember = pulumi.interpolate`serviceAccount:${this.nodeServiceAccount.email}`;
    const roles = nodeServiceAccountRoles.map(
      (role) => new gcp.projects.IAMMember(`${name}-nodes-${role.replace("roles/", "").replace(/\./g, "-").toLowerCase()}`, { project: args.project, role, member: nodeMember }, parent),
    );
    const scopes = ["https://www.googleapis.com/auth/cloud-platform"];
    const maintenance = args.maintenance ?? { startTime: "2026-01-03T03:00:00Z", endTime: "2026-01-03T07:00:00Z", recurrence: "FREQ=WEEKLY;BYDAY=SA,SU" };

    this.cluster = new gcp.container.Cluster(`${name}-cluster`, {
      name: args.clusterName,
      project: args.project,
      location: args.location,
      network: args.network,
      subnetwork: args.subnetwork,
      networkingMode: "VPC_NATIVE",
      ipAllocationPolicy: { clusterSecondaryRangeName: args.podsRangeName, servicesSecondaryRangeName: args.servicesRangeName },
      // Pools are managed below; the default one only exists while the cluster is created.
      removeDefaultNodePool: true,
      initialNodeCount: 1,
      nodeConfig: { serviceAccount: this.nodeServiceAccount.email, oauthScopes: scopes, workloadMetadataConfig: { mode: "GKE_METADATA" } },
      datapathProvider: "ADVANCED_DATAPATH",
      privateClusterConfig: { enablePrivateNodes: true, enablePrivateEndpoint: false },
      masterAuthorizedNetworksConfig: { cidrBlocks: args.authorizedNetworks, gcpPublicCidrsAccessEnabled: false },
      controlPlaneEndpointsConfig: { dnsEndpointConfig: { allowExternalTraffic: true }, ipEndpointsConfig: { enabled: true } },
      workloadIdentityConfig: { workloadPool: this.workloadPool },
      releaseChannel: { channel: args.releaseChannel },
      monitoringConfig: { enableComponents: ["SYSTEM_COMPONENTS"], managedPrometheus: { enabled: true } },
      loggingConfig: { enableComponents: ["SYSTEM_COMPONENTS", "WORKLOADS"] },
      secretManagerConfig: { enabled: true },
      addonsConfig: {
        gcePersistentDiskCsiDriverConfig: { enabled: true },
        ...(args.agentSandbox ? { agentSandboxConfig: { enabled: true } } : {}),
      },
      ...(args.agentSandbox ? { minMasterVersion: args.agentSandbox.minMasterVersion } : {}),
      enableShieldedNodes: true,
      maintenancePolicy: { recurringWindow: maintenance },
      resourceLabels: args.labels,
      deletionProtection: true,
    }, { ...parent, dependsOn: roles });

    this.pools = {};
    for (const p of args.pools) {
      this.pools[p.name] = new gcp.container.NodePool(`${name}-${p.name}-pool`, {
        project: args.project,
        cluster: this.cluster.id,
        location: args.location,
        name: p.name,
        autoscaling: { totalMinNodeCount: p.totalMinNodes, totalMaxNodeCount: p.totalMaxNodes, locationPolicy: "BALANCED" },
        management: { autoRepair: true, autoUpgrade: true },
        upgradeSettings: { strategy: "SURGE", maxSurge: 1, maxUnavailable: 0 },
        ...(p.maxPodsPerNode !== undefined ? { maxPodsPerNode: p.maxPodsPerNode } : {}),
        nodeConfig: {
          machineType: p.machineType,
          diskSizeGb: p.diskSizeGb,
          diskType: "pd-balanced",
          imageType: "COS_CONTAINERD",
          serviceAccount: this.nodeServiceAccount.email,
          oauthScopes: scopes,
          labels: { ...args.labels, [poolLabel]: p.name },
          resourceLabels: args.labels,
          tags: [args.nodeTag],
          ...(p.taints && p.taints.length > 0 ? { taints: p.taints } : {}),
          ...(p.sandbox ? { sandboxConfig: { type: p.sandbox } } : {}),
          ...(p.spot ? { spot: true } : {}),
          workloadMetadataConfig: { mode: "GKE_METADATA" },
          shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
        },
      }, parent);
    }

    this.clusterIdentifier = `${args.project}/${args.location}/${args.clusterName}`;
    const context = `tierstack-${args.clusterName}`;
    this.kubeconfig = this.cluster.controlPlaneEndpointsConfig.apply((c) => kubeconfigFor(context, c?.dnsEndpointConfig?.endpoint));
    this.provider = new k8s.Provider(`${name}-k8s`, {
      kubeconfig: this.kubeconfig,
      clusterIdentifier: this.clusterIdentifier,
      enableServerSideApply: true,
    }, { ...parent, dependsOn: Object.values(this.pools) });

    this.registerOutputs({ cluster: this.cluster.name, workloadPool: this.workloadPool });
  }
}
