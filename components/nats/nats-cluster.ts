/**
 * A NATS JetStream cluster of `nodes` (3 or 5) servers on Kubernetes, as explicit objects that
 * mirror the official nats-io Helm chart (github.com/nats-io/k8s, helm/charts/nats; a Helm
 * chart does not render under Pulumi's mocks, these objects do):
 * - a ConfigMap holding the server configuration, rendered by the one renderer
 *   (./server-config.ts): server name from the pod's name (`$POD_NAME`, set from the downward
 *   API), the cluster's name, a route to every node through the headless Service's per-pod DNS
 *   names, the JetStream store on the node's volume, lame-duck duration and grace period;
 * - a StatefulSet: `podManagementPolicy: Parallel` (every node starts at once, as the chart
 *   does: a cluster forms only when its nodes can see each other), one PersistentVolumeClaim per
 *   node, required anti-affinity per host and a zone topology spread (no two nodes on one
 *   machine, the zones evenly used), the chart's probes on the monitoring port (startup
 *   `/healthz`: the node has caught up with its streams; readiness `/healthz?js-server-only=true`;
 *   liveness `/healthz?js-enabled-only=true`), a lame-duck `preStop`
 *   (`nats-server -sl=ldm=<pid file>`) and a termination grace longer than lame duck, the
 *   image pinned by tag, a restricted security context (non-root, read-only root filesystem,
 *   no capabilities: nats-server writes only its volume and its pid file);
 * - a headless Service (stable DNS for the routes, not-ready addresses published so the
 *   cluster can form before it is ready) and a ClusterIP Service for clients;
 * - a PodDisruptionBudget with `maxUnavailable: 1`, so a voluntary disruption never takes a
 *   majority (the JetStream meta group and every R3 stream keep quorum).
 *
 * The chart's config-reloader and exporter sidecars are left out: a configuration change rolls
 * the pods (the pod template carries the configuration's checksum, as the chart's
 * `configChecksumAnnotation`), and metrics are the monitoring port's.
 */
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type * as k8sInputs from "@pulumi/kubernetes/types/input.js";
import { streamReplicas } from "../../catalog/nats.js";
import { renderNatsServerConfig, routeUrl, type NatsServerConfig } from "./server-config.js";

/** The ports of every node (the chart's defaults). */
export const natsPorts = { client: 4222, cluster: 6222, monitor: 8222 } as const;

/** The chart's probe paths on the monitoring port. */
export const natsProbePaths = {
  startup: "/healthz",
  readiness: "/healthz?js-server-only=true",
  liveness: "/healthz?js-enabled-only=true",
} as const;

export const natsConfigDir = "/etc/nats-config";
export const natsConfigFile = "nats.conf";
export const natsPidDir = "/var/run/nats";
export const natsPidFile = `${natsPidDir}/nats.pid`;
/** Where each node's PersistentVolumeClaim is mounted: the JetStream store_dir. */
export const natsStoreDir = "/data";

/** Lame duck as the chart configures it: 10 s of grace, then clients are moved off over 30 s. */
export const natsLameDuck = { durationSeconds: 30, gracePeriodSeconds: 10 } as const;

export interface NatsClusterArgs {
  provider: k8s.Provider;
  namespace: string;
  /** Servers in the cluster (tier-100's natsNodes): odd and at least 3, so a majority survives one loss. */
  nodes: number;
  /** Pinned by tag (the catalogue's `natsImage`, e.g. nats:2.11.6-alpine), an alpine variant: the pre-stop hook runs nats-server from PATH. */
  image: string;
  /** One volume per node; JetStream may fill 90% of it. */
  storage: { sizeGi: number; storageClassName: string };
  /** Requests = limits (Guaranteed QoS: a quorum member is evicted last); GOMEMLIMIT is 90% of the memory. */
  resources: { cpu: string; memoryMi: number };
  /** Pod and volume owner (the image has no user of its own; nats-server needs no privileges). */
  runAs?: { user: number; group: number };
  /** Seconds the kubelet waits after the pre-stop hook; must exceed lame duck's duration + grace (default 60). */
  terminationGracePeriodSeconds?: number;
  /** Client authentication: user and password from keys of an existing Secret (routes stay on the cluster port, unauthenticated). */
  clientAuth?: { secretName: string; userKey: string; passwordKey: string };
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator: "Equal" | "Exists"; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }[];
  /** The cluster's DNS domain (default cluster.local). */
  clusterDomain?: string;
  /**
   * During a migration onto this cluster (catalog/nats.ts natsLeafRole, the target side): its
   * JetStream domain, and the old tier's leaf node listener(s) every node connects to
   * (nats-leaf://host:port), so the old streams are reachable as `$JS.<old domain>.API`.
   */
  migration?: { jetStreamDomain: string; leafRemotes: string[] };
}

/** Names and addresses of a cluster called `name` in `namespace`. */
export interface NatsClusterLayout {
  statefulSet: string;
  headlessService: string;
  clientService: string;
  configMap: string;
  podNames: string[];
  /** nats://<pod>.<headless>.<namespace>.svc.<domain>:6222, one per node. */
  routes: string[];
  /** nats://<pod>.<headless>.<namespace>.svc.<domain>:4222, one per node (a client list that needs no Service). */
  nodeUrls: string[];
  /** nats://<client service>.<namespace>.svc.<domain>:4222 (ready nodes only). */
  clientUrl: string;
}

export function natsClusterLayout(name: string, namespace: string, nodes: number, clusterDomain = "cluster.local"): NatsClusterLayout {
  const headless = `${name}-headless`;
  const podNames = Array.from({ length: nodes }, (_, i) => `${name}-${i}`);
  const podHost = (pod: string) => `${pod}.${headless}.${namespace}.svc.${clusterDomain}`;
  return {
    statefulSet: name,
    headlessService: headless,
    clientService: name,
    configMap: `${name}-config`,
    podNames,
    routes: podNames.map((p) => routeUrl(podHost(p), natsPorts.cluster)),
    nodeUrls: podNames.map((p) => routeUrl(podHost(p), natsPorts.client)),
    clientUrl: routeUrl(`${name}.${namespace}.svc.${clusterDomain}`, natsPorts.client),
  };
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The server configuration every pod of the cluster reads (its server name comes from $POD_NAME). */
export function natsClusterServerConfig(name: string, args: Pick<NatsClusterArgs, "namespace" | "nodes" | "storage" | "resources" | "clientAuth" | "clusterDomain" | "migration">): NatsServerConfig {
  const layout = natsClusterLayout(name, args.namespace, args.nodes, args.clusterDomain);
  return {
    serverName: { env: "POD_NAME" },
    clusterName: name,
    host: "0.0.0.0",
    clientPort: natsPorts.client,
    clusterPort: natsPorts.cluster,
    monitorPort: natsPorts.monitor,
    routes: layout.routes,
    jetStream: {
      storeDir: natsStoreDir,
      maxMemoryStoreBytes: Math.floor(args.resources.memoryMi / 4) * MiB,
      maxFileStoreBytes: Math.floor(args.storage.sizeGi * 0.9 * GiB),
      ...(args.migration ? { domain: args.migration.jetStreamDomain } : {}),
    },
    ...(args.migration ? { leafNodes: { remotes: [{ urls: args.migration.leafRemotes }] } } : {}),
    lameDuck: { ...natsLameDuck },
    pidFile: natsPidFile,
    ...(args.clientAuth ? { auth: { user: { env: "NATS_USER" }, password: { env: "NATS_PASSWORD" } } } : {}),
  };
}

const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** repository:tag, optionally @sha256:<digest>; the tag must name a version and the alpine variant. */
const PINNED_ALPINE = /^[a-z0-9][a-z0-9._/-]*:(\d+\.\d+\.\d+)-alpine[0-9.]*(@sha256:[a-f0-9]{64})?$/;

/** One line per argument the component refuses (checked before anything is declared). */
export function natsClusterProblems(name: string, a: NatsClusterArgs): string[] {
  const p: string[] = [];
  // The StatefulSet's pods are <name>-<i>; with "-headless" every name stays a DNS label.
  if (!DNS_LABEL.test(name) || name.length > 40) p.push(`name "${name}" must be a DNS label of at most 40 characters`);
  if (!DNS_LABEL.test(a.namespace)) p.push(`namespace "${a.namespace}" is not a DNS label`);
  if (!Number.isInteger(a.nodes) || a.nodes < 3 || a.nodes % 2 === 0) p.push(`nodes ${a.nodes}: a JetStream cluster needs an odd number of at least 3 (3 or 5), so a majority survives the loss of a node`);
  if (!PINNED_ALPINE.test(a.image)) p.push(`image "${a.image}" must be pinned to a version tag of the alpine variant (e.g. nats:2.11.6-alpine): the pre-stop hook runs nats-server from PATH`);
  if (!Number.isInteger(a.storage.sizeGi) || a.storage.sizeGi < 1) p.push(`storage.sizeGi ${a.storage.sizeGi} must be a whole number ≥ 1`);
  if (!DNS_LABEL.test(a.storage.storageClassName)) p.push(`storage.storageClassName "${a.storage.storageClassName}" is not a storage class name`);
  if (!Number.isInteger(a.resources.memoryMi) || a.resources.memoryMi < 256) p.push(`resources.memoryMi ${a.resources.memoryMi} must be a whole number ≥ 256`);
  if (!/^\d+(\.\d+)?m?$/.test(a.resources.cpu)) p.push(`resources.cpu "${a.resources.cpu}" is not a CPU quantity (e.g. 500m, 1)`);
  const grace = a.terminationGracePeriodSeconds ?? 60;
  const lameDuck = natsLameDuck.durationSeconds + natsLameDuck.gracePeriodSeconds;
  if (!Number.isInteger(grace) || grace <= lameDuck) p.push(`terminationGracePeriodSeconds ${grace} must exceed lame duck's ${lameDuck} s (duration + grace period), or the kubelet kills the server mid lame duck`);
  if (a.runAs && (a.runAs.user < 1 || a.runAs.group < 1)) p.push("runAs: user and group must be non-root (≥ 1)");
  if (a.clientAuth && (!DNS_LABEL.test(a.clientAuth.secretName) || !a.clientAuth.userKey || !a.clientAuth.passwordKey)) p.push("clientAuth: a Secret name and both keys are needed");
  return p;
}

export class NatsCluster extends pulumi.ComponentResource {
  readonly layout: NatsClusterLayout;
  /** The rendered server configuration (the ConfigMap's nats.conf). */
  readonly serverConfig: string;
  /** Replicas every platform stream is created with: min(nodes, 3) (the task queue's NATS_STREAM_REPLICAS). */
  readonly streamReplicas: number;
  /** The volumes the StatefulSet claims (for the cost estimate: one disk per node). */
  readonly volumes: { count: number; sizeGi: number; storageClassName: string };
  readonly podLabels: Record<string, string>;
  readonly configMap: k8s.core.v1.ConfigMap;
  readonly headlessService: k8s.core.v1.Service;
  readonly clientService: k8s.core.v1.Service;
  readonly statefulSet: k8s.apps.v1.StatefulSet;
  readonly disruptionBudget: k8s.policy.v1.PodDisruptionBudget;

  constructor(name: string, args: NatsClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:nats:NatsCluster", name, {}, opts);
    const problems = natsClusterProblems(name, args);
    if (problems.length > 0) throw new Error(`NatsCluster ${name}: ${problems.join("; ")}`);
    const k8sOpts = { parent: this, provider: args.provider };
    const ns = args.namespace;
    const layout = natsClusterLayout(name, ns, args.nodes, args.clusterDomain);
    this.layout = layout;
    this.serverConfig = renderNatsServerConfig(natsClusterServerConfig(name, args));
    this.streamReplicas = streamReplicas(args.nodes);
    this.volumes = { count: args.nodes, sizeGi: args.storage.sizeGi, storageClassName: args.storage.storageClassName };
    const selector = { "app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": name };
    const labels = { ...selector, "app.kubernetes.io/part-of": "tierstack" };
    this.podLabels = labels;
    const meta = (objectName: string) => ({ name: objectName, namespace: ns, labels });
    const runAs = args.runAs ?? { user: 1000, group: 1000 };

    this.configMap = new k8s.core.v1.ConfigMap(`${name}-config`, {
      metadata: meta(layout.configMap),
      data: { [natsConfigFile]: this.serverConfig },
    }, k8sOpts);

    const portList = [
      { name: "nats", port: natsPorts.client },
      { name: "cluster", port: natsPorts.cluster },
      { name: "monitor", port: natsPorts.monitor },
    ];
    this.headlessService = new k8s.core.v1.Service(`${name}-headless`, {
      metadata: meta(layout.headlessService),
      spec: {
        clusterIP: "None",
        // Routes resolve before a node is ready: the cluster forms first, then the nodes turn ready.
        publishNotReadyAddresses: true,
        selector,
        ports: portList.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: "TCP", appProtocol: p.name === "monitor" ? "http" : "tcp" })),
      },
    }, k8sOpts);
    this.clientService = new k8s.core.v1.Service(`${name}-svc`, {
      metadata: meta(layout.clientService),
      spec: {
        type: "ClusterIP",
        selector,
        ports: [{ name: "nats", port: natsPorts.client, targetPort: "nats", protocol: "TCP", appProtocol: "tcp" }],
      },
    }, k8sOpts);

    const probe = (path: string, extra: { periodSeconds: number; failureThreshold: number }): k8sInputs.core.v1.Probe => ({
      httpGet: { path, port: "monitor" },
      initialDelaySeconds: 10,
      timeoutSeconds: 5,
      successThreshold: 1,
      ...extra,
    });
    const authEnv: k8sInputs.core.v1.EnvVar[] = args.clientAuth
      ? [
          { name: "NATS_USER", valueFrom: { secretKeyRef: { name: args.clientAuth.secretName, key: args.clientAuth.userKey } } },
          { name: "NATS_PASSWORD", valueFrom: { secretKeyRef: { name: args.clientAuth.secretName, key: args.clientAuth.passwordKey } } },
        ]
      : [];
    const memory = `${args.resources.memoryMi}Mi`;
    const container: k8sInputs.core.v1.Container = {
      name: "nats",
      image: args.image,
      args: ["--config", `${natsConfigDir}/${natsConfigFile}`],
      ports: portList.map((p) => ({ name: p.name, containerPort: p.port, protocol: "TCP" })),
      env: [
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "GOMEMLIMIT", value: `${Math.floor(args.resources.memoryMi * 0.9)}MiB` },
        ...authEnv,
      ],
      resources: { requests: { cpu: args.resources.cpu, memory }, limits: { cpu: args.resources.cpu, memory } },
      lifecycle: { preStop: { exec: { command: ["nats-server", `-sl=ldm=${natsPidFile}`] } } },
      // The chart's timings: startup allows 15 minutes to catch up with the streams.
      startupProbe: probe(natsProbePaths.startup, { periodSeconds: 10, failureThreshold: 90 }),
      readinessProbe: probe(natsProbePaths.readiness, { periodSeconds: 10, failureThreshold: 3 }),
      livenessProbe: probe(natsProbePaths.liveness, { periodSeconds: 30, failureThreshold: 3 }),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: runAs.user,
        runAsGroup: runAs.group,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      },
      volumeMounts: [
        { name: "config", mountPath: natsConfigDir, readOnly: true },
        { name: "pid", mountPath: natsPidDir },
        { name: "jetstream", mountPath: natsStoreDir },
      ],
    };
    const checksum = createHash("sha256").update(this.serverConfig).digest("hex");
    this.statefulSet = new k8s.apps.v1.StatefulSet(`${name}-sts`, {
      metadata: meta(layout.statefulSet),
      spec: {
        replicas: args.nodes,
        serviceName: layout.headlessService,
        podManagementPolicy: "Parallel",
        updateStrategy: { type: "RollingUpdate" },
        persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels, annotations: { "checksum/config": checksum } },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: args.terminationGracePeriodSeconds ?? 60,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: runAs.user,
              runAsGroup: runAs.group,
              fsGroup: runAs.group,
              fsGroupChangePolicy: "OnRootMismatch",
              seccompProfile: { type: "RuntimeDefault" },
            },
            affinity: {
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: selector }, topologyKey: "kubernetes.io/hostname" }],
              },
            },
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: selector } }],
            ...(args.nodeSelector ? { nodeSelector: args.nodeSelector } : {}),
            ...(args.tolerations ? { tolerations: args.tolerations } : {}),
            containers: [container],
            volumes: [
              { name: "config", configMap: { name: layout.configMap, items: [{ key: natsConfigFile, path: natsConfigFile }] } },
              { name: "pid", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
            ],
          },
        },
        volumeClaimTemplates: [{
          metadata: { name: "jetstream", labels },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: args.storage.storageClassName,
            resources: { requests: { storage: `${args.storage.sizeGi}Gi` } },
          },
        }],
      },
    }, { ...k8sOpts, dependsOn: [this.configMap, this.headlessService] });

    this.disruptionBudget = new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
      metadata: meta(name),
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    }, k8sOpts);

    this.registerOutputs({ clientUrl: layout.clientUrl, nodeUrls: layout.nodeUrls, streamReplicas: this.streamReplicas });
  }
}
