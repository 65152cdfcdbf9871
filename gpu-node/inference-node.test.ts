/**
 * InferenceNode under Pulumi's runtime mocks: the GPU node pool (private nodes, driver, taints,
 * labels, autoscaling, `gpus` = nodes × GPUs per machine), the vLLM Deployments, Services,
 * PodDisruptionBudgets and NetworkPolicies, validated against the Kubernetes schemas
 * (kubernetes-models), the rendered command lines against vLLM's flag table, and the placement
 * invariant: only the inference pods tolerate the pool's taints.
 */
import * as k8s from "@pulumi/kubernetes";
import { Deployment } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Service } from "kubernetes-models/v1";
import { beforeAll, describe, expect, it } from "vitest";
import { machineInfo } from "../catalog/machines.js";
import { tiers } from "../catalog/tiers.js";
import { schemaProblems } from "../test/provider-schema.js";
import { gpuTaint, inferenceTaint, InferenceNode, planNode, poolLabelKey, vllmName, type InferenceNodeArgs } from "./inference-node.js";
import { tierInference } from "./models.js";
import { defaultImage, flagTables, render } from "./server-spec.js";
import { only, ofType, underMocks, type RecordedResource } from "./testing/mocks.js";

const litellm = { podLabels: { "app.kubernetes.io/name": "litellm" } };

function args(provider: k8s.Provider | undefined, over: Partial<InferenceNodeArgs> = {}): InferenceNodeArgs {
  const machine = machineInfo(tiers["tier-100"].defaultMachineType);
  if (!machine?.gpu) throw new Error("tier-100's default machine type carries no GPU");
  return {
    stack: "tier-100",
    cluster: "projects/p/locations/us-central1/clusters/tier-100",
    location: "us-central1",
    zones: ["us-central1-a"],
    machineType: machine.name,
    gpu: machine.gpu,
    gpus: 2,
    minNodes: 1,
    maxNodes: 3,
    nodeServiceAccountEmail: "ts-tier-100-nodes@p.iam.gserviceaccount.com",
    provider: provider as k8s.Provider,
    namespace: "tierstack",
    clients: [litellm],
    huggingFaceToken: { secretName: "huggingface", key: "token" },
    ...over,
  };
}

let resources: RecordedResource[];
let node: InferenceNode;

beforeAll(async () => {
  const run = await underMocks("tier-100", () => {
    const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
    return new InferenceNode("tier-100-inference", args(provider));
  });
  resources = run.resources;
  node = run.result;
});

type PodSpec = {
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; operator?: string; value?: string; effect?: string }[];
  securityContext: Record<string, unknown>;
  containers: { name: string; image: string; args: string[]; env: { name: string; value?: string; valueFrom?: unknown }[]; resources: { requests: Record<string, string>; limits: Record<string, string> }; securityContext: Record<string, unknown>; ports: { name: string; containerPort: number }[]; startupProbe: Probe; readinessProbe: Probe; livenessProbe: Probe }[];
  volumes: { name: string; emptyDir?: Record<string, unknown>; hostPath?: unknown }[];
};
type Probe = { httpGet: { path: string; port: string } };

const deployments = () => ofType(resources, "kubernetes:apps/v1:Deployment");
const podSpec = (d: RecordedResource) => (d.inputs.spec as { template: { spec: PodSpec } }).template.spec;

/** Kubernetes' rule: a pod may schedule on a node only if it tolerates every NoSchedule taint. */
function tolerates(tolerations: PodSpec["tolerations"], taint: { key: string; value: string; effect: string }): boolean {
  const effect = taint.effect === "NO_SCHEDULE" ? "NoSchedule" : taint.effect;
  return (tolerations ?? []).some((t) =>
    (t.effect === undefined || t.effect === "" || t.effect === effect) &&
    ((t.operator === "Exists" && (t.key === undefined || t.key === taint.key)) || (t.key === taint.key && (t.operator ?? "Equal") === "Equal" && t.value === taint.value)));
}

describe("InferenceNode: the GPU node pool", () => {
  it("A100 nodes with the driver GKE installs, private, tainted, labelled, autoscaled", () => {
    const pool = only(resources, "container/nodePool:NodePool").inputs;
    expect(pool.initialNodeCount).toBe(2); // gpus 2 on a2-highgpu-1g = 2 nodes × 1 GPU, in one zone
    expect(pool.nodeLocations).toEqual(["us-central1-a"]);
    // Whole-pool bounds: a regional cluster's per-zone minNodeCount would multiply the GPUs by the zones.
    expect(pool.autoscaling).toEqual({ totalMinNodeCount: 1, totalMaxNodeCount: 3, locationPolicy: "ANY" });
    expect(pool.networkConfig).toEqual({ enablePrivateNodes: true });
    const cfg = pool.nodeConfig as Record<string, unknown>;
    expect(cfg.machineType).toBe("a2-highgpu-1g");
    expect(cfg.guestAccelerators).toEqual([{ type: "nvidia-tesla-a100", count: 1, gpuDriverInstallationConfig: { gpuDriverVersion: "LATEST" } }]);
    expect(cfg.taints).toEqual([
      { key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" },
      { key: "tierstack.dev/workload", value: "inference", effect: "NO_SCHEDULE" },
    ]);
    expect(cfg.labels).toEqual({ [poolLabelKey]: "inference" });
    expect(cfg.workloadMetadataConfig).toEqual({ mode: "GKE_METADATA" });
    expect(cfg.serviceAccount).toBe("ts-tier-100-nodes@p.iam.gserviceaccount.com");
  });

  it("every input key path is declared by the providers (@pulumi/gcp for the pool)", () => {
    expect(schemaProblems(resources)).toEqual([]);
  });

  it("gpus means nodes × GPUs per machine on a2/a3 machine types", () => {
    const on = (machineType: string, gpus: number, maxNodes = 4) => {
      const gpu = machineInfo(machineType)?.gpu;
      if (!gpu) throw new Error(machineType);
      return planNode("n", args(undefined, { machineType, gpu, gpus, minNodes: 1, maxNodes }));
    };
    expect(on("a2-highgpu-4g", 8).nodes).toBe(2);
    expect(on("a2-ultragpu-2g", 4).nodes).toBe(2);
    expect(on("a3-highgpu-8g", 8).nodes).toBe(1);
    expect(() => on("a2-highgpu-4g", 6)).toThrow(/gpus = 6 is not a whole number of a2-highgpu-4g nodes \(4 GPU\(s\) each\): use 4, 8/);
    expect(() => on("a2-highgpu-1g", 8, 4)).toThrow(/autoscaling 1-4 nodes does not contain the pool's 8 node\(s\)/);
    // 8 GPUs on one a3-highgpu-8g: replicas spread over the two models, 4 each.
    expect(on("a3-highgpu-8g", 8, 1).servers.map((s) => s.replicas)).toEqual([4, 4]);
  });

  it("uses the accelerator type of the machine's GPU", async () => {
    const run = await underMocks("tier-100", () => new InferenceNode("n80", args(new k8s.Provider("k", { kubeconfig: "{}" }), { machineType: "a2-ultragpu-1g", gpu: { model: "nvidia-a100-80gb", count: 1 } })));
    const cfg = only(run.resources, "container/nodePool:NodePool").inputs.nodeConfig as { guestAccelerators: { type: string }[] };
    expect(cfg.guestAccelerators[0]?.type).toBe("nvidia-a100-80gb");
    for (const d of ofType(run.resources, ":Deployment")) expect(podSpec(d).nodeSelector?.["cloud.google.com/gke-accelerator"]).toBe("nvidia-a100-80gb");
  });
});

describe("InferenceNode: the vLLM workloads", () => {
  it("one Deployment, Service, PodDisruptionBudget and NetworkPolicy per model, all valid Kubernetes objects", () => {
    for (const type of ["kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service", "kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:networking.k8s.io/v1:NetworkPolicy"]) {
      expect(ofType(resources, type).map((r) => (r.inputs.metadata as { name: string }).name), type).toEqual([
        "vllm-llama-3-1-8b-instruct",
        "vllm-qwen3-32b",
      ]);
    }
    const models = { Deployment, Service, PodDisruptionBudget, NetworkPolicy } as const;
    for (const r of resources.filter((x) => x.type.startsWith("kubernetes:"))) {
      const kind = r.inputs.kind as keyof typeof models;
      expect(Object.keys(models)).toContain(kind);
      expect(() => new models[kind](r.inputs as never).validate(), `${r.type} ${r.name}`).not.toThrow();
    }
    // The check is real: a Deployment without its selector is refused.
    const d = deployments()[0]!;
    expect(() => new Deployment({ ...(d.inputs as object), spec: { ...(d.inputs.spec as object), selector: undefined } } as never).validate()).toThrow();
  });

  it("runs the rendered vLLM command line (every flag in the table), one GPU per pod, probes on /health", () => {
    const table = new Map(flagTables.vllm.flags.flatMap((f) => f.names.map((n) => [n, f] as const)));
    const plan = tierInference["tier-100"]!;
    deployments().forEach((d, i) => {
      const c = podSpec(d).containers[0]!;
      const spec = plan.servers[i]!;
      const expected = render({ ...spec, image: defaultImage("vllm"), host: "0.0.0.0", gpuIndex: 0 });
      expect(c.image).toBe("vllm/vllm-openai:v0.8.5");
      expect(c.args).toEqual(expected.args);
      for (let j = 0; j < c.args.length; j++) {
        const f = table.get(c.args[j] ?? "");
        expect(f, c.args[j]).toBeDefined();
        if (f?.takesValue) j++;
      }
      expect(c.args.slice(c.args.indexOf("--served-model-name"), c.args.indexOf("--served-model-name") + 2)).toEqual(["--served-model-name", spec.modelKey]);
      expect(c.env).toEqual(expect.arrayContaining([{ name: "CUDA_VISIBLE_DEVICES", value: "0" }, { name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: "huggingface", key: "token" } } }]));
      expect(c.resources.limits["nvidia.com/gpu"]).toBe("1");
      expect(c.resources.requests["nvidia.com/gpu"]).toBe("1");
      expect(c.ports).toEqual([{ name: "http", containerPort: 8000, protocol: "TCP" }]);
      for (const p of [c.startupProbe, c.readinessProbe, c.livenessProbe]) expect(p.httpGet).toEqual({ path: "/health", port: "http" });
    });
    expect(podSpec(deployments()[1]!).containers[0]!.args.slice(-2)).toEqual(["--quantization", "awq"]);
  });

  it("pods are restricted (Pod Security Standard), except a writable root filesystem", () => {
    for (const d of deployments()) {
      const pod = podSpec(d);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } });
      const sc = pod.containers[0]!.securityContext;
      expect(sc).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
      expect(sc.readOnlyRootFilesystem).toBe(false);
      expect(pod.volumes.every((v) => v.emptyDir !== undefined && v.hostPath === undefined)).toBe(true);
      expect(pod.containers[0]!.env).toEqual(expect.arrayContaining([{ name: "HOME", value: "/cache" }]));
    }
  });

  it("only the inference pods tolerate the pool's taints and select its nodes", () => {
    const taints = [gpuTaint, inferenceTaint];
    for (const d of deployments()) {
      const pod = podSpec(d);
      for (const t of taints) expect(tolerates(pod.tolerations, t), `${d.name} ${t.key}`).toBe(true);
      expect(pod.nodeSelector).toEqual({ [poolLabelKey]: "inference", "cloud.google.com/gke-accelerator": "nvidia-tesla-a100" });
    }
    // A pod with no tolerations (every coordination workload), or only the GPU one (what GKE adds to
    // any pod requesting nvidia.com/gpu), cannot land there: the tierstack taint keeps it off.
    expect(tolerates([], inferenceTaint)).toBe(false);
    expect(tolerates([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }], inferenceTaint)).toBe(false);
    expect(tolerates([{ key: "tierstack.dev/workload", operator: "Equal", value: "batch", effect: "NoSchedule" }], inferenceTaint)).toBe(false);
    // No other pod in the component tolerates anything.
    const podsTolerating = resources.filter((r) => JSON.stringify(r.inputs).includes("tierstack.dev/workload") && r.type !== "gcp:container/nodePool:NodePool");
    expect(podsTolerating.map((r) => r.type)).toEqual(["kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:Deployment"]);
  });

  it("Services are ClusterIP on the server port; PDBs and policies select exactly the Deployment's pods", () => {
    for (const d of deployments()) {
      const name = (d.inputs.metadata as { name: string }).name;
      const selector = ((d.inputs.spec as { selector: { matchLabels: Record<string, string> } }).selector).matchLabels;
      const svc = ofType(resources, ":Service").find((r) => (r.inputs.metadata as { name: string }).name === name)!;
      expect(svc.inputs.spec).toEqual({ type: "ClusterIP", selector, ports: [{ name: "http", port: 8000, targetPort: "http", protocol: "TCP" }] });
      const pdb = ofType(resources, ":PodDisruptionBudget").find((r) => (r.inputs.metadata as { name: string }).name === name)!;
      expect(pdb.inputs.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: selector } });
      const labels = (d.inputs.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      for (const [k, v] of Object.entries(selector)) expect(labels[k]).toBe(v);
    }
  });

  it("accepts traffic only from LiteLLM's pods on the server port; egress only DNS and public HTTPS", () => {
    for (const np of ofType(resources, ":NetworkPolicy")) {
      const spec = np.inputs.spec as { policyTypes: string[]; ingress: { from: unknown[]; ports: unknown[] }[]; egress: { to: { ipBlock?: { cidr: string; except: string[] } }[]; ports: unknown[] }[] };
      expect(spec.policyTypes).toEqual(["Ingress", "Egress"]);
      expect(spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: litellm.podLabels } }], ports: [{ protocol: "TCP", port: 8000 }] }]);
      const blocks = spec.egress.flatMap((e) => e.to.flatMap((t) => (t.ipBlock ? [t.ipBlock] : [])));
      expect(blocks).toEqual([{ cidr: "0.0.0.0/0", except: expect.arrayContaining(["10.0.0.0/8", "169.254.0.0/16"]) }]);
      expect(spec.egress.find((e) => e.to.some((t) => t.ipBlock))?.ports).toEqual([{ protocol: "TCP", port: 443 }]);
    }
  });

  it("serves each model at its Service for LiteLLM", () => {
    expect(node.served).toEqual([
      { modelKey: "llama-3.1-8b-instruct", apiBase: "http://vllm-llama-3-1-8b-instruct.tierstack.svc.cluster.local:8000/v1" },
      { modelKey: "qwen3-32b", apiBase: "http://vllm-qwen3-32b.tierstack.svc.cluster.local:8000/v1" },
    ]);
    expect(node.servers.map((s) => s.litellmName)).toEqual(["local/llama-3.1-8b-instruct", "local/qwen3-32b"]);
    expect(vllmName("llama-3.1-8b-instruct")).toBe("vllm-llama-3-1-8b-instruct");
  });
});

describe("InferenceNode refuses", () => {
  it("no clients, more replicas than the pool can hold, a server that does not fit, llama-server", () => {
    expect(() => planNode("n", args(undefined, { clients: [] }))).toThrow(/no clients/);
    expect(() => planNode("n", args(undefined, { zones: [] }))).toThrow(/no zones/);
    expect(() => planNode("n", args(undefined, { gpus: 1, maxNodes: 1 }))).toThrow(/2 vLLM replicas need 2 GPUs; the pool grows to at most 1 × 1 = 1/);
    expect(() => planNode("n", args(undefined, { replicas: { "llama-3.1-8b-instruct": 3 }, maxNodes: 3 }))).toThrow(/4 vLLM replicas need 4 GPUs/);
    const [small] = tierInference["tier-100"]!.servers;
    expect(() => planNode("n", args(undefined, { servers: [{ ...small!, image: defaultImage("vllm"), contextLength: 32768 }] }))).toThrow(/llama-3\.1-8b-instruct needs .* GB on one nvidia-a100-40gb/);
    expect(() => planNode("n", args(undefined, { servers: [{ ...small!, server: "llama-server", image: defaultImage("llama-server") }] }))).toThrow(/runs vLLM/);
  });
});
