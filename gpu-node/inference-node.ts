/**
 * InferenceNode (tier-100): a GKE GPU node pool and, for each local model, a vLLM Deployment
 * (one GPU per replica), a ClusterIP Service, a PodDisruptionBudget and a NetworkPolicy.
 *
 * - The pool: private nodes (no external IP), GKE-installed NVIDIA driver, autoscaling between
 *   the given node counts, tainted `nvidia.com/gpu=present:NoSchedule` and
 *   `tierstack.dev/workload=inference:NoSchedule` and labelled `tierstack.dev/pool=inference`, so
 *   nothing but the inference Deployments (which tolerate both and select the label) lands there.
 *   `gpus` (tierstack:gpus) is nodes × GPUs per machine, so a2/a3 machine types with 1-8 GPUs
 *   give the same range.
 * - vLLM's pods run under the Pod Security Standard "restricted" (non-root uid, no privilege
 *   escalation, every capability dropped, seccomp RuntimeDefault); the root filesystem stays
 *   writable, because vLLM and the libraries it loads (torch's compile cache, Triton, FlashInfer)
 *   write caches in places that are not all configurable — HOME and XDG_CACHE_HOME point at an
 *   emptyDir, which covers the known ones; this has not been run on a cluster yet.
 * - Traffic: ingress only from the given client pods (LiteLLM) on the server port (the kubelet's
 *   probes come from the node, which NetworkPolicy always allows); egress only to DNS and to
 *   HTTPS on public addresses (the weights come from Hugging Face at pod start).
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { allocateGpus } from "./capacity.js";
import type { ServedModel } from "./litellm.js";
import { artifactFor, gpus as gpuTable, memoryFit, modelFor, tierInference } from "./models.js";
import { defaultImage, modelCacheDir, render } from "./server-spec.js";
import type { GpuModel, InferenceServerSpec, RenderedServer } from "./types.js";

export const poolLabelKey = "tierstack.dev/pool";
export const poolLabelValue = "inference";
export const gpuTaint = { key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" } as const;
export const inferenceTaint = { key: "tierstack.dev/workload", value: "inference", effect: "NO_SCHEDULE" } as const;
/** The pool's taints as pods tolerate them (Kubernetes spells the effect NoSchedule). */
export const inferenceTolerations = [gpuTaint, inferenceTaint].map((t) => ({ key: t.key, operator: "Equal", value: t.value, effect: "NoSchedule" }));

const labelKeys = { app: "app.kubernetes.io/name", instance: "app.kubernetes.io/instance", partOf: "app.kubernetes.io/part-of", model: "tierstack.dev/model" } as const;
/** vLLM's pods run as this user (any non-root uid: the image's files are world-readable). */
export const vllmUser = 1000;

/** Public addresses: everything but private, shared and link-local ranges (no metadata server). */
const internet = { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"] };
const kubeDns = {
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
};

export interface InferenceClient {
  /** Namespace of the client pods; omitted = the inference namespace. */
  namespace?: string;
  podLabels: Record<string, string>;
}

export interface InferenceNodeArgs {
  stack: string;
  /** The GKE cluster (name or id), its location (region or zone) and project. */
  cluster: pulumi.Input<string>;
  location: string;
  project?: string;
  /**
   * Zones of the pool's nodes (GPUs are zonal; GKE's nodeLocations). Node counts below are for
   * the whole pool, whatever the number of zones.
   */
  zones: readonly string[];
  /** Machine type of the GPU nodes (config) and the GPUs each carries (catalog/machines.ts). */
  machineType: string;
  gpu: { model: GpuModel; count: number };
  /** tierstack:gpus: GPUs at the pool's normal size = nodes × gpu.count (a multiple of gpu.count). */
  gpus: number;
  /** Autoscaling bounds, in nodes. */
  minNodes: number;
  maxNodes: number;
  /** The NVIDIA driver GKE installs on the nodes. */
  gpuDriverVersion?: "LATEST" | "DEFAULT";
  /** The nodes' service account (email). */
  nodeServiceAccountEmail: pulumi.Input<string>;
  diskSizeGb?: number;
  /** The cluster's Kubernetes provider and the (existing) namespace the Deployments go in. */
  provider: k8s.Provider;
  namespace: string;
  /** vLLM servers (one model each): default tier-100's plan, image at the flag table's tag. */
  servers?: readonly Omit<InferenceServerSpec, "host" | "gpuIndex" | "weights">[];
  /**
   * Replicas per model key (one GPU each). Default: `gpus` spread as the capacity model spreads
   * them (one per model, then round robin), at least one each.
   */
  replicas?: Readonly<Record<string, number>>;
  /** The only pods that may call the servers (LiteLLM). */
  clients: readonly InferenceClient[];
  /** Secret holding a Hugging Face token, for gated weights (meta-llama/*); in the namespace. */
  huggingFaceToken?: { secretName: string; key: string };
  /** CPU and memory per vLLM pod (requests; memory is also the limit). */
  resources?: { cpu: string; memory: string };
  labels?: Record<string, string>;
}

export interface NodeServer {
  modelKey: string;
  litellmName: string;
  /** DNS-1035 name of the Deployment, Service, PDB and NetworkPolicy. */
  name: string;
  replicas: number;
  rendered: RenderedServer;
  /** In-cluster address LiteLLM calls. */
  apiBase: string;
}

/** "llama-3.1-8b-instruct" → "vllm-llama-3-1-8b-instruct" (a DNS-1035 label). */
export function vllmName(modelKey: string): string {
  const slug = `vllm-${modelKey.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "")}`;
  if (slug.length > 63) throw new Error(`InferenceNode: name ${slug} is longer than 63 characters`);
  return slug;
}

const giB = 2 ** 30;

/** The tier-100 plan's servers at the pinned vLLM image. */
export function defaultNodeServers(): Omit<InferenceServerSpec, "host" | "gpuIndex" | "weights">[] {
  const plan = tierInference["tier-100"];
  if (!plan) throw new Error("InferenceNode: no tier-100 inference plan in gpu-node/models.ts");
  return plan.servers.map((s) => ({ ...s, image: defaultImage(s.server) }));
}

/** What the node pool will run, checked before anything is declared; throws one line on the first problem. */
export function planNode(name: string, args: InferenceNodeArgs): { nodes: number; servers: NodeServer[]; warnings: string[] } {
  const fail = (what: string) => new Error(`InferenceNode ${name}: ${what}`);
  const per = args.gpu.count;
  if (!Number.isInteger(per) || per < 1) throw fail(`machine type ${args.machineType} carries no GPU`);
  if (!Number.isInteger(args.gpus) || args.gpus < per || args.gpus % per !== 0) {
    throw fail(`gpus = ${args.gpus} is not a whole number of ${args.machineType} nodes (${per} GPU(s) each): use ${per}, ${2 * per}, …`);
  }
  const nodes = args.gpus / per;
  if (!(Number.isInteger(args.minNodes) && Number.isInteger(args.maxNodes) && args.minNodes >= 0 && args.minNodes <= nodes && nodes <= args.maxNodes)) {
    throw fail(`autoscaling ${args.minNodes}-${args.maxNodes} nodes does not contain the pool's ${nodes} node(s)`);
  }
  if (args.clients.length === 0) throw fail("no clients: name the pods (LiteLLM) that may call the servers");
  if (args.zones.length === 0) throw fail("no zones: name the zone(s) with the GPU type");
  const specs = args.servers ?? defaultNodeServers();
  if (specs.length === 0) throw fail("no servers");
  const keys = specs.map((s) => s.modelKey);
  if (new Set(keys).size !== keys.length) throw fail("two servers serve the same model");
  const allocated = allocateGpus({ servers: specs }, args.gpus, () => 1);
  const warnings = new Set<string>();
  const servers = specs.map((spec): NodeServer => {
    if (spec.server !== "vllm") throw fail(`${spec.modelKey}: the node runs vLLM, not ${spec.server}`);
    const fit = memoryFit(spec, args.gpu.model);
    if (!fit.fits) throw fail(`${spec.modelKey} needs ${(fit.totalBytes / 1e9).toFixed(2)} GB on one ${args.gpu.model}, the budget is ${(fit.budgetBytes / 1e9).toFixed(2)} GB`);
    const replicas = args.replicas?.[spec.modelKey] ?? Math.max(1, allocated.get(spec.modelKey) ?? 0);
    if (!Number.isInteger(replicas) || replicas < 1) throw fail(`${spec.modelKey}: replicas ${replicas} is not a positive whole number`);
    // Each pod sees only the GPU the device plugin gives it: index 0 inside the container.
    const rendered = render({ ...spec, host: "0.0.0.0", gpuIndex: 0 });
    for (const w of rendered.warnings) warnings.add(`${name}: ${w}`);
    const n = vllmName(spec.modelKey);
    return { modelKey: spec.modelKey, litellmName: modelFor(spec.modelKey).litellmName, name: n, replicas, rendered, apiBase: `http://${n}.${args.namespace}.svc.cluster.local:${rendered.port}/v1` };
  });
  const needed = servers.reduce((s, x) => s + x.replicas, 0);
  if (needed > args.maxNodes * per) {
    throw fail(`${needed} vLLM replicas need ${needed} GPUs; the pool grows to at most ${args.maxNodes} × ${per} = ${args.maxNodes * per}`);
  }
  return { nodes, servers, warnings: [...warnings] };
}

export class InferenceNode extends pulumi.ComponentResource {
  readonly nodePool: gcp.container.NodePool;
  readonly deployments: k8s.apps.v1.Deployment[];
  readonly services: k8s.core.v1.Service[];
  readonly disruptionBudgets: k8s.policy.v1.PodDisruptionBudget[];
  readonly networkPolicies: k8s.networking.v1.NetworkPolicy[];
  readonly servers: NodeServer[];
  /** LiteLLM's `served` list: each model at its Service. */
  readonly served: ServedModel[];
  readonly nodes: number;
  readonly warnings: string[];

  constructor(name: string, args: InferenceNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    const plan = planNode(name, args);
    super("tierstack:inference:InferenceNode", name, {}, opts);
    this.servers = plan.servers;
    this.deployments = [];
    this.services = [];
    this.disruptionBudgets = [];
    this.networkPolicies = [];
    this.nodes = plan.nodes;
    this.warnings = plan.warnings;
    this.served = plan.servers.map((s) => ({ modelKey: s.modelKey, apiBase: s.apiBase }));
    const accelerator = gpuTable[args.gpu.model].acceleratorType;
    const gceLabels = { platform: "tierstack", stack: args.stack, role: "inference", ...(args.labels ?? {}) };

    this.nodePool = new gcp.container.NodePool(`${name}-pool`, {
      cluster: args.cluster,
      location: args.location,
      ...(args.project ? { project: args.project } : {}),
      nodeLocations: [...args.zones],
      // initialNodeCount is per zone; the autoscaling bounds are for the whole pool.
      initialNodeCount: Math.ceil(plan.nodes / args.zones.length),
      autoscaling: { totalMinNodeCount: args.minNodes, totalMaxNodeCount: args.maxNodes, locationPolicy: "ANY" },
      management: { autoRepair: true, autoUpgrade: true },
      // No external IP on the nodes.
      networkConfig: { enablePrivateNodes: true },
      upgradeSettings: { maxSurge: 1, maxUnavailable: 0 },
      nodeConfig: {
        machineType: args.machineType,
        diskSizeGb: args.diskSizeGb ?? 200,
        diskType: "pd-balanced",
        imageType: "COS_CONTAINERD",
        serviceAccount: args.nodeServiceAccountEmail,
        oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"],
        guestAccelerators: [{ type: accelerator, count: args.gpu.count, gpuDriverInstallationConfig: { gpuDriverVersion: args.gpuDriverVersion ?? "LATEST" } }],
        labels: { [poolLabelKey]: poolLabelValue },
        taints: [{ ...gpuTaint }, { ...inferenceTaint }],
        resourceLabels: gceLabels,
        shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
        // Pods reach the GKE metadata server (Workload Identity), never the node's credentials.
        workloadMetadataConfig: { mode: "GKE_METADATA" },
        metadata: { "disable-legacy-endpoints": "true" },
      },
    }, { parent: this });

    const k8sOpts = { parent: this, provider: args.provider, dependsOn: [this.nodePool] };
    const resources = args.resources ?? { cpu: "4", memory: "40Gi" };
    for (const s of plan.servers) {
      const selector = { [labelKeys.app]: "vllm", [labelKeys.instance]: s.name };
      const labels = { ...selector, [labelKeys.partOf]: "tierstack", [labelKeys.model]: s.modelKey };
      const metadata = { name: s.name, namespace: args.namespace, labels };
      const port = s.rendered.port;
      const weightsGi = Math.ceil((artifactFor("vllm", s.modelKey).weightsBytes * 1.25) / giB);
      const probe = (periodSeconds: number, failureThreshold: number) => ({ httpGet: { path: s.rendered.health.path, port: "http" }, periodSeconds, failureThreshold, timeoutSeconds: 5 });
      const env = [
        ...Object.entries(s.rendered.env).map(([k, v]) => ({ name: k, value: v })),
        { name: "HOME", value: "/cache" },
        { name: "XDG_CACHE_HOME", value: "/cache" },
        { name: "HF_HOME", value: "/cache/huggingface" },
        ...(args.huggingFaceToken ? [{ name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: args.huggingFaceToken.secretName, key: args.huggingFaceToken.key } } }] : []),
      ];
      this.deployments.push(new k8s.apps.v1.Deployment(`${name}-${s.name}`, {
        metadata,
        spec: {
          replicas: s.replicas,
          selector: { matchLabels: selector },
          // A new pod is ready before an old one goes (needs one spare GPU while rolling).
          strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: { [poolLabelKey]: poolLabelValue, "cloud.google.com/gke-accelerator": accelerator },
              tolerations: inferenceTolerations,
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              terminationGracePeriodSeconds: 60,
              securityContext: { runAsNonRoot: true, runAsUser: vllmUser, runAsGroup: vllmUser, fsGroup: vllmUser, seccompProfile: { type: "RuntimeDefault" } },
              containers: [{
                name: "vllm",
                image: s.rendered.image,
                args: s.rendered.args,
                env,
                ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
                resources: {
                  requests: { cpu: resources.cpu, memory: resources.memory, "nvidia.com/gpu": "1" },
                  limits: { memory: resources.memory, "nvidia.com/gpu": "1" },
                },
                // vLLM listens only once the engine is up: downloading and loading the weights may take many minutes.
                startupProbe: probe(10, 180),
                readinessProbe: probe(10, 3),
                livenessProbe: probe(20, 3),
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: vllmUser,
                  runAsGroup: vllmUser,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ["ALL"] },
                  readOnlyRootFilesystem: false,
                  seccompProfile: { type: "RuntimeDefault" },
                },
                volumeMounts: [
                  { name: "models", mountPath: modelCacheDir },
                  { name: "cache", mountPath: "/cache" },
                  { name: "tmp", mountPath: "/tmp" },
                  { name: "shm", mountPath: "/dev/shm" },
                ],
              }],
              volumes: [
                { name: "models", emptyDir: { sizeLimit: `${weightsGi}Gi` } },
                { name: "cache", emptyDir: { sizeLimit: "10Gi" } },
                { name: "tmp", emptyDir: { sizeLimit: "2Gi" } },
                // PyTorch's shared memory between vLLM's processes.
                { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "8Gi" } },
              ],
            },
          },
        },
      }, k8sOpts));
      this.services.push(new k8s.core.v1.Service(`${name}-${s.name}`, {
        metadata,
        spec: { type: "ClusterIP", selector, ports: [{ name: "http", port, targetPort: "http", protocol: "TCP" }] },
      }, k8sOpts));
      this.disruptionBudgets.push(new k8s.policy.v1.PodDisruptionBudget(`${name}-${s.name}`, {
        metadata,
        // Drains and upgrades take one pod at a time; with one replica the model is briefly cloud-only (LiteLLM's fallback).
        spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
      }, k8sOpts));
      this.networkPolicies.push(new k8s.networking.v1.NetworkPolicy(`${name}-${s.name}`, {
        metadata,
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: ["Ingress", "Egress"],
          ingress: [{
            from: args.clients.map((c) => ({
              podSelector: { matchLabels: c.podLabels },
              ...(c.namespace ? { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": c.namespace } } } : {}),
            })),
            ports: [{ protocol: "TCP", port }],
          }],
          egress: [
            { to: [kubeDns], ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] },
            { to: [{ ipBlock: internet }], ports: [{ protocol: "TCP", port: 443 }] },
          ],
        },
      }, k8sOpts));
    }
    this.registerOutputs({ nodePool: this.nodePool.name, served: this.served });
  }
}
