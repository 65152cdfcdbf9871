/**
 * The tier-100 stack under Pulumi's mocks: what it declares; the regional cluster's pools in three
 * zones; NATS as a cluster of natsNodes with anti-affinity and the quorum PDB, streams at
 * min(natsNodes, 3) replicas; the tainted inference pool that only vLLM tolerates; LiteLLM behind
 * an internal load balancer with the pool's models first; the NetworkPolicies evaluated against
 * tier-100's flow table (NATS routes, the vLLM pods); every Kubernetes object against its schema;
 * every provider input against the installed declarations; no secret in plain text; the natsNodes
 * configuration errors; the learner sandboxes (the gVisor pool, the Agent Sandbox add-on, the
 * template, the warm pool, their policies in the same evaluation, the brain's RBAC, every
 * agent-sandbox object against the pinned CRD schemas; the brain alone with a short-lived API token,
 * an egress flow to the control plane's private endpoint and the kubernetes sandbox runtime in its
 * environment). Three renders: the reference stack
 * (3 NATS nodes), 5 NATS nodes, and other sandbox settings.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { main } from "../cli/main.js";
import { runPlan, type PlanRun } from "../cli/plan.js";
import { validate } from "@tierstack/agent-sandbox";
import { controlPlaneFlow, flowTableProblems, flows, metadataAddresses, natsRouteFlow, sandboxFlowProblems, sandboxFlows, workloadPorts, workloads, type Endpoint, type Flow, type Source, type Workload } from "../catalog/flows.js";
import { gvisorTaint, learnerPodLabels, learnerRuntimePort, learnerWarmPoolName, sandboxNamespace } from "../catalog/sandbox.js";
import { tiers } from "../catalog/tiers.js";
import { internetBlock } from "../components/k8s/network-policies.js";
import { rootCaConfigMap, serviceAccountMountPath } from "../components/k8s/service-deployment.js";
import { cidrContains, connectionAllowed, type PodRef, type PolicyLike, type Target } from "../components/k8s/netpol-eval.js";
import { natsPorts } from "../components/nats/nats-cluster.js";
import { gpuTaint, inferenceTaint, poolLabelValue } from "../gpu-node/inference-node.js";
import { resolveModel, routerFallbacks, type LitellmConfig } from "../gpu-node/litellm.js";
import { brainTokenExpirationSeconds, internalLoadBalancerAnnotation, tier100Flows } from "../stacks/tier-100.js";
import { mcpServerTargets } from "../stacks/tier-50/gateway.js";
import { addressRanges, namespaceName } from "../stacks/tier-50/shape.js";
import { allSecretMarkers, builtAs, configErrorOf, configSecretValues, ofType, one, plainStrings, SENTINEL, type RawResource } from "./helpers.js";
import { k8sSchemaProblems } from "./k8s-schema.js";
import { schemaProblems } from "./provider-schema.js";

let run: PlanRun;
let five: PlanRun;
let sandboxed: PlanRun;
/** The control plane's private endpoint as the mocks report it. */
let controlPlaneIp: string;

/** Other learner-sandbox settings than the defaults, to see each one reach the objects. */
const sandboxOverrides = {
  "tierstack:learnerPoolMaxNodes": "6",
  "tierstack:sandboxPoolSpot": "false",
  "tierstack:sandboxMaxPodsPerNode": "16",
  "tierstack:sandboxWarmPoolSize": "7",
  "tierstack:sandboxCpu": "500m",
  "tierstack:sandboxMemory": "512Mi",
};

beforeAll(async () => {
  run = await runPlan("tier-100", { generatedValue: SENTINEL, overrides: configSecretValues });
  five = await runPlan("tier-100", { generatedValue: SENTINEL, overrides: { ...configSecretValues, "tierstack:natsNodes": "5" } });
  sandboxed = await runPlan("tier-100", { generatedValue: SENTINEL, overrides: { ...configSecretValues, ...sandboxOverrides } });
  controlPlaneIp = await new Promise<string>((res) => builtAs(run, "tier-100").root.controlPlaneEndpoint.apply((ip) => res(ip)));
});

/** agent-sandbox objects (custom resources of agents.x-k8s.io and extensions.agents.x-k8s.io). */
const isAgentSandboxObject = (r: { type: string }) => /^kubernetes:(extensions\.)?agents\.x-k8s\.io\//.test(r.type);

type K8sObject = { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown>; data?: Record<string, string> };
const obj = (r: RawResource) => r.inputs as unknown as K8sObject;
const byName = (p: PlanRun, suffix: string, name: string) => ofType(p, suffix).find((r) => obj(r).metadata?.name === name);
interface PodSpec {
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; effect: string }[];
  affinity?: { podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[] } };
  topologySpreadConstraints?: { topologyKey: string; whenUnsatisfiable: string }[];
  containers: { name: string; env?: { name: string; value?: string }[] }[];
}
const workloadsOf = (p: PlanRun) => [...ofType(p, "apps/v1:Deployment"), ...ofType(p, "apps/v1:StatefulSet")];
const podSpec = (r: RawResource) => (obj(r).spec.template as { spec: PodSpec }).spec;
const podLabels = (r: RawResource) => (obj(r).spec.template as { metadata: { labels: Record<string, string> } }).metadata.labels;
const containsSecret = (s: string) => allSecretMarkers.some((m) => s.includes(m));

describe("tier-100 inventory", () => {
  it("declares the regional cluster, the data plane, NATS, the inference pool, the edge and the workloads, by type", () => {
    const count = (suffix: string) => ofType(run, suffix).length;
    expect(count("container/cluster:Cluster")).toBe(1);
    // system, services, learners (gVisor), inference.
    expect(count("container/nodePool:NodePool")).toBe(4);
    expect(count("sql/databaseInstance:DatabaseInstance")).toBe(1);
    expect(count("redis/instance:Instance")).toBe(1);
    expect(count("compute/instance:Instance")).toBe(0);
    // task-queue, brain, LiteLLM, cloudflared, 2 gateway shards, the federated gateway; 2 vLLM.
    expect(count("apps/v1:Deployment")).toBe(9);
    expect(count("apps/v1:StatefulSet")).toBe(1);
    // 7 ServiceDeployments, NATS headless + client, 2 vLLM, LiteLLM's internal load balancer.
    expect(count("core/v1:Service")).toBe(12);
    // The platform's (default deny, one per workload, InferenceNode's two, LiteLLM's to vLLM) and the sandboxes' five.
    expect(count("NetworkPolicy")).toBe(1 + workloads.length + 2 + 1 + 5);
    expect(count("core/v1:Secret")).toBe(0);
    expect(count("secretmanager/secret:Secret")).toBe(16);
    expect(one(run, "tierstack:tier:Tier100")).toBeDefined();
  });

  it("prints the full inventory through `tierstack plan tier-100`", async () => {
    const io = { stdout: "", stderr: "", out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
    expect(await main(["plan", "tier-100"], io), io.stderr).toBe(0);
    expect(io.stdout).toMatch(new RegExp(`^stack tier-100 \\(tier tier-100\\): ${run.resources.length} resources$`, "m"));
    expect(io.stdout).toContain("tierstack:nats:NatsCluster");
    // The learner sandboxes: the gVisor pool, the template and the warm pool.
    expect(io.stdout).toMatch(/gcp:container:NodePool +tier-100-gke-learners-pool/);
    expect(io.stdout).toMatch(/kubernetes:extensions\.agents\.x-k8s\.io:SandboxTemplate +tier-100-sandboxes-template/);
    expect(io.stdout).toMatch(/kubernetes:extensions\.agents\.x-k8s\.io:SandboxWarmPool +tier-100-sandboxes-warm-pool/);
    expect(io.stdout).not.toContain("plan-placeholder-secret");
  });

  it("every resource type has a price or an explicit free entry in cost/", async () => {
    const { resourceTypePricing } = await import("../cost/src/infra.js");
    const types = [...new Set(run.raw.map((r) => r.type).filter((t) => !t.startsWith("tierstack:")))];
    expect(types.filter((t) => !(t in resourceTypePricing))).toEqual([]);
  });
});

describe("the regional cluster and its pools", () => {
  it("the cluster is regional and its platform pools span three zones of the region", () => {
    const c = one(run, "container/cluster:Cluster").inputs as { location: string; nodeLocations: string[] };
    expect(c.location).toBe("us-central1");
    const zones = builtAs(run, "tier-100").outputs.zones;
    expect(zones).toEqual(["us-central1-a", "us-central1-b", "us-central1-c"]);
    expect(c.nodeLocations).toEqual(zones);
    const pools = ofType(run, "container/nodePool:NodePool").map((p) => p.inputs as { name: string; location: string; nodeLocations: string[] });
    for (const p of pools.filter((x) => x.name === "system" || x.name === "services" || x.name === "learners")) {
      expect(p.location).toBe("us-central1");
      expect(new Set(p.nodeLocations).size, p.name).toBe(3);
      for (const z of p.nodeLocations) expect(z.startsWith("us-central1-")).toBe(true);
    }
  });

  it("PostgreSQL is REGIONAL with point-in-time recovery; Redis is STANDARD_HA", () => {
    const s = (one(run, "sql/databaseInstance:DatabaseInstance").inputs as { settings: { availabilityType: string; backupConfiguration: { pointInTimeRecoveryEnabled: boolean } } }).settings;
    expect(s.availabilityType).toBe("REGIONAL");
    expect(s.backupConfiguration.pointInTimeRecoveryEnabled).toBe(true);
    expect(one(run, "redis/instance:Instance").inputs.tier).toBe("STANDARD_HA");
  });
});

describe("NATS JetStream cluster", () => {
  for (const [label, nodes] of [["reference", 3], ["five nodes", 5]] as const) {
    it(`${label}: natsNodes replicas, anti-affinity per host, zone spread, the quorum PDB; streams at min(nodes, 3)`, () => {
      const p = nodes === 3 ? run : five;
      const sts = one(p, "apps/v1:StatefulSet");
      expect(obj(sts).spec.replicas).toBe(nodes);
      expect(obj(sts).spec.podManagementPolicy).toBe("Parallel");
      const spec = podSpec(sts);
      const anti = spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
      expect(anti.map((a) => a.topologyKey)).toEqual(["kubernetes.io/hostname"]);
      expect(anti[0]?.labelSelector.matchLabels).toEqual((obj(sts).spec.selector as { matchLabels: Record<string, string> }).matchLabels);
      expect(spec.topologySpreadConstraints?.map((t) => t.topologyKey)).toContain("topology.kubernetes.io/zone");
      const pdb = byName(p, ":PodDisruptionBudget", "nats-cluster") as RawResource;
      expect(obj(pdb).spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: (obj(sts).spec.selector as { matchLabels: Record<string, string> }).matchLabels } });
      const routes = String(obj(byName(p, "core/v1:ConfigMap", "nats-cluster-config") as RawResource).data?.["nats.conf"]).match(/nats:\/\/nats-cluster-\d\.nats-cluster-headless[^"]*:6222/g);
      expect(routes).toHaveLength(nodes);
      const tq = podSpec(byName(p, "apps/v1:Deployment", "task-queue") as RawResource).containers[0]?.env ?? [];
      expect(tq.find((e) => e.name === "NATS_STREAM_REPLICAS")?.value).toBe(String(Math.min(nodes, 3)));
      expect(tq.find((e) => e.name === "NATS_URL")?.value?.split(",")).toHaveLength(nodes);
      // A node per NATS server in the services pool (the anti-affinity is required).
      const services = ofType(p, "container/nodePool:NodePool").find((x) => x.inputs.name === "services") as RawResource;
      expect(Number((services.inputs.autoscaling as { totalMinNodeCount: number }).totalMinNodeCount)).toBeGreaterThanOrEqual(nodes);
    });
  }
});

describe("the dedicated inference pool", () => {
  it("is tainted, separate, and only the vLLM pods tolerate it; every other workload selects the services pool", () => {
    const pool = ofType(run, "container/nodePool:NodePool").find((p) => (p.inputs.nodeConfig as { labels?: Record<string, string> }).labels?.["tierstack.dev/pool"] === poolLabelValue) as RawResource;
    const taints = (pool.inputs.nodeConfig as { taints: { key: string; value: string; effect: string }[] }).taints;
    expect(taints).toEqual([{ ...gpuTaint }, { ...inferenceTaint }]);
    expect(pool.inputs.nodeLocations).toEqual(["us-central1-a"]);
    for (const w of workloadsOf(run)) {
      const spec = podSpec(w);
      const name = obj(w).metadata.name;
      const tolerates = (spec.tolerations ?? []).some((t) => t.key === inferenceTaint.key || t.key === gpuTaint.key);
      if (podLabels(w)["app.kubernetes.io/name"] === "vllm") {
        expect(tolerates, name).toBe(true);
        expect(spec.nodeSelector?.["tierstack.dev/pool"], name).toBe(poolLabelValue);
      } else {
        expect(tolerates, name).toBe(false);
        expect(spec.nodeSelector?.["tierstack.dev/pool"], name).toBe("services");
      }
    }
  });

  it("LiteLLM sends the local names to the pool's vLLM Services first, the cloud twin after; limits in Redis; an internal load balancer", () => {
    const cm = byName(run, "core/v1:ConfigMap", "litellm-config") as RawResource;
    const config = parse(String(obj(cm).data?.["config.yaml"])) as LitellmConfig & { router_settings: Record<string, unknown> };
    const node = builtAs(run, "tier-100").root.inference;
    for (const s of node.servers) {
      expect(resolveModel(config, s.litellmName)?.litellm_params.api_base).toBe(`http://${s.name}.${namespaceName}.svc.cluster.local:${s.rendered.port}/v1`);
    }
    expect(resolveModel(config, "local")?.litellm_params.api_base).toMatch(/^http:\/\/vllm-llama/);
    expect(routerFallbacks(config, "local")).toEqual(["meta-llama/llama-3.1-8b-instruct"]);
    expect(config.router_settings).toMatchObject({ redis_host: "os.environ/REDIS_HOST", redis_password: "os.environ/REDIS_PASSWORD" });
    const ilb = byName(run, "core/v1:Service", "litellm-internal") as RawResource;
    expect(obj(ilb).metadata.annotations).toEqual({ ...internalLoadBalancerAnnotation });
    expect(obj(ilb).spec).toMatchObject({ type: "LoadBalancer", loadBalancerSourceRanges: ["10.10.0.0/24"], selector: { "app.kubernetes.io/name": "litellm", "app.kubernetes.io/instance": "litellm" } });
    expect(obj(byName(run, "apps/v1:Deployment", "litellm") as RawResource).spec.replicas).toBe(2);
  });

  it("the gateway runs shards × replicas with sessions in Redis; task queue and brain several replicas", () => {
    const shards = ofType(run, "apps/v1:Deployment").filter((d) => podLabels(d)["tierstack.dev/gateway"] === "shard");
    expect(shards).toHaveLength(2);
    for (const d of shards) {
      expect(obj(d).spec.replicas).toBe(2);
      expect(byName(run, "core/v1:Service", obj(d).metadata.name)).toBeDefined();
      const spc = byName(run, "SecretProviderClass", `${obj(d).metadata.name}-secrets`) as RawResource;
      expect(String((obj(spc).spec as { parameters: { secrets: string } }).parameters.secrets)).toContain("path: REDIS_URL");
    }
    for (const name of ["task-queue", "brain"]) {
      const hpa = byName(run, ":HorizontalPodAutoscaler", name) as RawResource;
      expect(Number((obj(hpa).spec as { minReplicas: number }).minReplicas), name).toBeGreaterThanOrEqual(3);
    }
  });
});

describe("NetworkPolicies against tier-100's flow table", () => {
  const ns = namespaceName;
  const psa = `${addressRanges.privateServices.address}/${addressRanges.privateServices.prefixLength}`;
  const ipLiteral = /^\d{1,3}(\.\d{1,3}){3}$/;
  const inInternet = (ip: string) => cidrContains(internetBlock.cidr, ip) && !internetBlock.except.some((c) => cidrContains(c, ip));
  type Kind = Endpoint | "vllm" | "other" | "learner-sandbox";
  type Dest = { label: string; target: Target; endpoint: Kind };
  type Src = { label: string; pod: PodRef; source: Source | "vllm" | "other" | "learner-sandbox" };

  /** tier-100's table plus the inference pool's flows (InferenceNode's policy and LiteLLM's egress to it). */
  function allowedBy(table: readonly Flow[], inferencePorts: number[], mcp: { host: string; port: number }[]) {
    const within = (e: Endpoint, d: Dest, port: number, portRef: Flow["ports"][number]["port"]): boolean => {
      if (portRef !== "mcp-servers" && portRef !== port) return false;
      if ((workloads as readonly string[]).includes(e)) return d.endpoint === e;
      const ip = d.target.kind === "ip" ? d.target.ip : undefined;
      switch (e) {
        case "kube-dns": return d.endpoint === "kube-dns";
        case "postgres": case "redis": return ip !== undefined && cidrContains(psa, ip);
        case "control-plane": return ip === controlPlaneIp;
        case "internet": return ip !== undefined && inInternet(ip);
        case "mcp-servers": return ip !== undefined && mcp.some((t) => t.port === port && (ipLiteral.test(t.host) ? t.host === ip : inInternet(ip)));
        default: return false;
      }
    };
    return (s: Src, d: Dest, port: number, protocol: "TCP" | "UDP"): boolean => {
      if (s.source === "other") return false;
      // The learner sandboxes: exactly the sandbox table, to and from them.
      if (s.source === "learner-sandbox" || d.endpoint === "learner-sandbox") {
        return sandboxFlows.some((f) => f.from === s.source && f.to === d.endpoint && f.ports.some((p) => p.protocol === protocol && p.port === port));
      }
      if (s.source === "litellm" && d.endpoint === "vllm") return protocol === "TCP" && inferencePorts.includes(port);
      if (s.source === "vllm") {
        if (d.endpoint === "kube-dns") return port === 53;
        return d.target.kind === "ip" && inInternet(d.target.ip) && port === 443 && protocol === "TCP";
      }
      if (d.endpoint === "vllm") return false;
      return table.some((f) => f.from === s.source && f.ports.some((p) => p.protocol === protocol && within(f.to, d, port, p.port)));
    };
  }

  function mismatches(p: PlanRun, policies: readonly PolicyLike[], table: readonly Flow[]): string[] {
    const node = builtAs(p, "tier-100").root.inference;
    const inferencePorts = node.servers.map((s) => s.rendered.port);
    const mcp = builtAs(p, "tier-100").root.gatewayShards.flatMap((s) => mcpServerTargets(s.shardMap));
    const expected = allowedBy(table, inferencePorts, mcp);
    const platformPods: Src[] = workloadsOf(p).map((w) => ({ label: obj(w).metadata.name, pod: { namespace: ns, labels: podLabels(w) }, source: podLabels(w)["app.kubernetes.io/name"] as Workload | "vllm" }));
    // A learner sandbox pod: the template's pod labels, in the learners' namespace.
    const template = ofType(p, ":SandboxTemplate").map((r) => r.inputs as unknown as { metadata: { namespace: string }; spec: { podTemplate: { metadata: { labels: Record<string, string> } } } })[0];
    if (!template) throw new Error("no SandboxTemplate declared");
    const sandboxPod: Src = { label: "learner sandbox", pod: { namespace: template.metadata.namespace, labels: template.spec.podTemplate.metadata.labels }, source: "learner-sandbox" };
    const pods: Src[] = [...platformPods, sandboxPod];
    const ourPods: Dest[] = pods.map((s) => ({ label: s.label, target: { kind: "pod", pod: s.pod }, endpoint: s.source as Kind }));
    const sources: Src[] = [
      ...pods,
      { label: "gmp collector", pod: { namespace: "gmp-system", labels: { "app.kubernetes.io/name": "collector" } }, source: "metrics-collector" },
      { label: "pod elsewhere", pod: { namespace: "default", labels: { app: "other" } }, source: "other" },
    ];
    const dests: Dest[] = [
      ...ourPods,
      { label: "kube-dns", target: { kind: "pod", pod: { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } } }, endpoint: "kube-dns" },
      { label: "cloud sql", target: { kind: "ip", ip: "10.40.0.3" }, endpoint: "postgres" },
      { label: "memorystore", target: { kind: "ip", ip: "10.40.1.4" }, endpoint: "redis" },
      { label: "subnet address", target: { kind: "ip", ip: "10.10.0.7" }, endpoint: "other" },
      { label: "internet", target: { kind: "ip", ip: "1.1.1.1" }, endpoint: "internet" },
      { label: "control plane", target: { kind: "ip", ip: controlPlaneIp }, endpoint: "control-plane" },
      ...metadataAddresses.map((m) => ({ label: `metadata ${m.ip}`, target: { kind: "ip", ip: m.ip } as Target, endpoint: "metadata" as const })),
    ];
    const ports = [...new Set([...Object.values(workloadPorts).flatMap((w) => [w.serve, w.metrics, w.health, w.peer, w.leaf]), ...inferencePorts, ...mcp.map((t) => t.port), learnerRuntimePort, 53, 80, 443, 988, 5432, 6378, 7844, 22, 9999].filter((x): x is number => x !== undefined))];
    const out: string[] = [];
    for (const s of sources) {
      // Sources of the cluster's namespaces meet every destination; the outside ones, the pods.
      for (const d of s.pod.namespace === ns || s.source === "learner-sandbox" ? dests : ourPods) {
        for (const port of ports) {
          for (const protocol of ["TCP", "UDP"] as const) {
            const got = connectionAllowed(policies, s.pod, d.target, port, protocol);
            const want = expected(s, d, port, protocol);
            if (got !== want) out.push(`${s.label} -> ${d.label}:${port}/${protocol}: ${got ? "allowed" : "denied"}, table says ${want ? "allowed" : "denied"}`);
          }
        }
      }
    }
    return out;
  }

  const declared = (p: PlanRun) => ofType(p, ":NetworkPolicy").map((r) => r.inputs as unknown as PolicyLike);

  it("tier-100's table is sound: the NATS routes are the one flow of a workload to itself, on its peer port only", () => {
    const table = tier100Flows(3);
    expect(flowTableProblems(table)).toEqual([]);
    expect(table).toContainEqual(natsRouteFlow);
    expect(natsRouteFlow.ports).toEqual([{ port: natsPorts.cluster, protocol: "TCP" }]);
    expect(table.some((f) => f.to === "gpu-box")).toBe(false);
    expect(flows).not.toContainEqual(natsRouteFlow);
    expect(flowTableProblems([...table, { from: "brain", to: "brain", ports: [{ port: 7403, protocol: "TCP" }], why: "x" }])).toEqual(["brain -> brain: a workload needs a flow to itself only on its peer port (brain has none)"]);
    expect(flowTableProblems([...table, { from: "task-queue", to: "nats", ports: [{ port: 6222, protocol: "TCP" }], why: "x" }])).toEqual(["task-queue -> nats: 6222 is not a port nats listens on"]);
  });

  it("the declared policies allow exactly the table's flows over every (source, destination, port, protocol)", () => {
    expect(mismatches(run, declared(run), tier100Flows(3))).toEqual([]);
    expect(mismatches(five, declared(five), tier100Flows(5))).toEqual([]);
  });

  it("the check is real: without the NATS routes the nodes cannot reach each other; without LiteLLM's inference policy it cannot reach vLLM", () => {
    const withoutRoutes = declared(run).filter((x) => x.metadata?.name !== "allow-nats");
    expect(mismatches(run, withoutRoutes, tier100Flows(3))).toContain("nats-cluster -> nats-cluster:6222/TCP: denied, table says allowed");
    const withoutInference = declared(run).filter((x) => x.metadata?.name !== "allow-litellm-inference");
    expect(mismatches(run, withoutInference, tier100Flows(3)).some((m) => /^litellm -> vllm-.*:8000\/TCP: denied/.test(m))).toBe(true);
  });

  it("the check is real for the sandboxes: each side's policy is needed, and the learners' default deny keeps the metadata server out", () => {
    const without = (name: string, namespace: string) => declared(run).filter((x) => !(x.metadata?.name === name && x.metadata?.namespace === namespace));
    expect(mismatches(run, without("allow-learner-sandbox", sandboxNamespace), tier100Flows(3))).toContain(`brain -> learner sandbox:${learnerRuntimePort}/TCP: denied, table says allowed`);
    expect(mismatches(run, without("allow-brain-to-learner-sandboxes", ns), tier100Flows(3))).toContain(`brain -> learner sandbox:${learnerRuntimePort}/TCP: denied, table says allowed`);
    expect(mismatches(run, without("allow-learner-sandboxes-to-litellm", ns), tier100Flows(3))).toContain("learner sandbox -> litellm:4000/TCP: denied, table says allowed");
    const noDeny = mismatches(run, without("default-deny", sandboxNamespace).filter((x) => !(x.metadata?.name === "allow-learner-sandbox")), tier100Flows(3));
    expect(noDeny).toContain("learner sandbox -> metadata 169.254.169.254:80/TCP: allowed, table says denied");
    expect(noDeny).toContain("learner sandbox -> internet:443/TCP: allowed, table says denied");
  });
  it("the brain alone reaches the control plane, on 443/TCP only; without its flow it cannot", () => {
    const policies = declared(run);
    const cp: Target = { kind: "ip", ip: controlPlaneIp };
    // The private endpoint is outside the internet block: the brain's 443 to the internet does not cover it.
    expect(inInternet(controlPlaneIp)).toBe(false);
    const brainRule = (policies.find((x) => x.metadata?.name === "allow-brain")?.spec as { egress: { to: { ipBlock?: { cidr: string } }[] }[] }).egress;
    expect(brainRule.flatMap((r) => r.to.map((t) => t.ipBlock?.cidr))).toContain(`${controlPlaneIp}/32`);
    const pods = workloadsOf(run).map((w) => ({ name: obj(w).metadata.name, pod: { namespace: ns, labels: podLabels(w) } }));
    const template = one(run, ":SandboxTemplate").inputs as unknown as { metadata: { namespace: string }; spec: { podTemplate: { metadata: { labels: Record<string, string> } } } };
    pods.push({ name: "learner sandbox", pod: { namespace: template.metadata.namespace, labels: template.spec.podTemplate.metadata.labels } });
    const reaching = pods.filter((p) => connectionAllowed(policies, p.pod, cp, 443, "TCP")).map((p) => p.name);
    expect(reaching).toEqual(["brain"]);
    const brain = pods.find((p) => p.name === "brain")?.pod as PodRef;
    for (const port of [80, 6443, 10250]) expect(connectionAllowed(policies, brain, cp, port, "TCP"), String(port)).toBe(false);
    expect(connectionAllowed(policies, brain, { kind: "ip", ip: "172.16.0.3" }, 443, "TCP")).toBe(false);
    // Without the flow the table and the policies disagree on exactly that connection.
    const without = tier100Flows(3).filter((f) => f !== controlPlaneFlow);
    expect(mismatches(run, policies, without)).toEqual(["brain -> control plane:443/TCP: allowed, table says denied"]);
    expect(flowTableProblems([...without, { ...controlPlaneFlow, from: "litellm" }])).toEqual(["litellm -> control-plane: only brain may reach the Kubernetes API"]);
    expect(flowTableProblems([...without, { ...controlPlaneFlow, ports: [{ port: 6443, protocol: "TCP" }] }])).toEqual(["brain -> control-plane: the API is on 443/TCP only"]);
  });
});

describe("the brain's way to its sandboxes (Kubernetes API token, environment)", () => {
  type Volume = { name: string; projected?: { sources: Record<string, unknown>[] } };
  type Container = { env?: { name: string; value?: string }[]; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] };
  const fullPod = (r: RawResource) => podSpec(r) as unknown as { automountServiceAccountToken?: boolean; serviceAccountName?: string; volumes?: Volume[]; containers: Container[] };
  const hasToken = (r: RawResource) => {
    const spec = fullPod(r);
    return (spec.volumes ?? []).some((v) => (v.projected?.sources ?? []).some((x) => "serviceAccountToken" in x))
      || spec.containers.some((c) => (c.volumeMounts ?? []).some((m) => m.mountPath === serviceAccountMountPath));
  };

  it("the brain's pods get a projected, short-lived token where loadFromCluster reads it; no other pod gets a token", () => {
    const brain = byName(run, "apps/v1:Deployment", "brain") as RawResource;
    const spec = fullPod(brain);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBe("brain");
    const volume = (spec.volumes ?? []).find((v) => v.name === "kube-api-access");
    expect(volume?.projected?.sources).toEqual([
      { serviceAccountToken: { path: "token", expirationSeconds: brainTokenExpirationSeconds } },
      { configMap: { name: rootCaConfigMap, items: [{ key: "ca.crt", path: "ca.crt" }] } },
      { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
    ]);
    expect(brainTokenExpirationSeconds).toBe(600);
    expect(spec.containers[0]?.volumeMounts).toContainEqual({ name: "kube-api-access", mountPath: serviceAccountMountPath, readOnly: true });
    // @kubernetes/client-node's in-cluster paths are the mount's files.
    expect(serviceAccountMountPath).toBe("/var/run/secrets/kubernetes.io/serviceaccount");
    for (const p of [run, five, sandboxed]) {
      const withToken = workloadsOf(p).filter(hasToken).map((w) => obj(w).metadata.name);
      expect(withToken).toEqual(["brain"]);
      for (const w of workloadsOf(p)) expect(fullPod(w).automountServiceAccountToken, obj(w).metadata.name).toBe(false);
      for (const sa of ofType(p, "core/v1:ServiceAccount")) expect(obj(sa) as unknown as { automountServiceAccountToken: boolean }).toMatchObject({ automountServiceAccountToken: false });
    }
  });

  it("the brain runs the kubernetes sandbox runtime on the template's warm pool; no other workload carries those keys", () => {
    const env = Object.fromEntries((fullPod(byName(run, "apps/v1:Deployment", "brain") as RawResource).containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      BRAIN_SANDBOX_RUNTIME: "kubernetes",
      BRAIN_SANDBOX_NAMESPACE: sandboxNamespace,
      BRAIN_SANDBOX_WARM_POOL: learnerWarmPoolName,
      BRAIN_SANDBOX_PORT: String(learnerRuntimePort),
    });
    // The files between sandboxes go to the brain's PostgreSQL, not a pod-local directory.
    expect(env).not.toHaveProperty("BRAIN_SANDBOX_VAULT_DIR");
    const warmPool = one(run, ":SandboxWarmPool").inputs as unknown as { metadata: { name: string; namespace: string } };
    expect(warmPool.metadata).toMatchObject({ name: env.BRAIN_SANDBOX_WARM_POOL, namespace: env.BRAIN_SANDBOX_NAMESPACE });
    const template = one(run, ":SandboxTemplate").inputs as unknown as { spec: { podTemplate: { spec: { containers: { ports: { containerPort: number }[] }[] } } } };
    expect(template.spec.podTemplate.spec.containers[0]?.ports[0]?.containerPort).toBe(Number(env.BRAIN_SANDBOX_PORT));
    for (const w of workloadsOf(run).filter((x) => obj(x).metadata.name !== "brain")) {
      const names = (fullPod(w).containers[0]?.env ?? []).map((e) => e.name);
      expect(names.filter((n) => n.startsWith("BRAIN_SANDBOX_")), obj(w).metadata.name).toEqual([]);
    }
  });
});

describe("schemas and secrets", () => {
  it("every Kubernetes object validates against its kind's schema", () => {
    // agent-sandbox objects have their own schemas (the next test).
    for (const p of [run, five, sandboxed]) expect(k8sSchemaProblems(p.raw.filter((r) => !isAgentSandboxObject(r)))).toEqual([]);
  });

  it("every agent-sandbox object validates against the pinned CRD schemas, and a wrong one would not", () => {
    for (const p of [run, five, sandboxed]) {
      const objects = p.raw.filter(isAgentSandboxObject);
      expect(objects.map((r) => r.type).sort()).toEqual(["kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxTemplate", "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxWarmPool"]);
      for (const r of objects) expect(validate(r.inputs).errors, r.name).toEqual([]);
    }
    const template = structuredClone(one(run, ":SandboxTemplate").inputs) as { spec: { podTemplate: { spec: Record<string, unknown> } } };
    (template.spec as Record<string, unknown>).networkPolicyManagment = "Unmanaged";
    template.spec.podTemplate.spec.automountServiceAccountToken = "false";
    expect(validate(template).errors.map((e) => e.path).sort()).toEqual(["/spec/networkPolicyManagment", "/spec/podTemplate/spec/automountServiceAccountToken"]);
    // Field names inside the embedded PodSpec: against @pulumi/kubernetes' PodSpec declarations (the CRD package checks types there, not names).
    const asPod = (t: unknown) => [{ type: "kubernetes:core/v1:Pod", name: "learner-template-pod", inputs: { metadata: {}, spec: (t as { spec: { podTemplate: { spec: Record<string, unknown> } } }).spec.podTemplate.spec } }];
    expect(schemaProblems(asPod(one(run, ":SandboxTemplate").inputs))).toEqual([]);
    const typo = structuredClone(one(run, ":SandboxTemplate").inputs) as { spec: { podTemplate: { spec: Record<string, unknown> } } };
    typo.spec.podTemplate.spec.runtimeClass = "gvisor";
    expect(schemaProblems(asPod(typo)).length).toBe(1);
  });

  it("every provider input key is declared by the installed providers", () => {
    expect(schemaProblems(run.raw)).toEqual([]);
  });

  it("no secret value in a plain input, a Kubernetes object or an output; no Kubernetes Secret", () => {
    const everyPlain = run.raw.flatMap((r) => plainStrings(r.inputs, `${r.type}::${r.name}`));
    expect(everyPlain.filter((s) => containsSecret(s.value)).map((s) => s.path)).toEqual([]);
    expect(containsSecret(JSON.stringify(run.outputs))).toBe(false);
    expect(run.leaks).toEqual([]);
    expect(run.raw.filter((r) => r.type === "kubernetes:core/v1:Secret")).toEqual([]);
  });
});

describe("the learner sandboxes (ADR 0036)", () => {
  type Pool = { name: string; maxPodsPerNode?: number; autoscaling: { totalMinNodeCount: number; totalMaxNodeCount: number }; nodeConfig: { imageType: string; spot?: boolean; sandboxConfig?: { type: string }; taints?: { key: string; value: string; effect: string }[]; labels: Record<string, string> } };
  const pools = (p: PlanRun) => ofType(p, "container/nodePool:NodePool").map((r) => r.inputs as unknown as Pool);
  const learners = (p: PlanRun) => pools(p).find((x) => x.name === "learners") as Pool;
  type TemplatePod = {
    runtimeClassName: string; automountServiceAccountToken: boolean; nodeSelector: Record<string, string>; tolerations: Record<string, string>[];
    securityContext: { runAsNonRoot: boolean; seccompProfile: { type: string } };
    containers: { image: string; command: string[]; resources: { requests: Record<string, string>; limits: Record<string, string> }; securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } }; ports: { containerPort: number }[] }[];
  };
  const templateOf = (p: PlanRun) => one(p, ":SandboxTemplate").inputs as unknown as { metadata: { name: string; namespace: string }; spec: { podTemplate: { metadata: { labels: Record<string, string> }; spec: TemplatePod }; networkPolicyManagement: string } };
  const warmPoolOf = (p: PlanRun) => one(p, ":SandboxWarmPool").inputs as unknown as { metadata: { name: string; namespace: string }; spec: { replicas: number; sandboxTemplateRef: { name: string } } };

  it("a gVisor pool beside the non-sandboxed ones: GKE Sandbox, COS_CONTAINERD, from 0 nodes, Spot and pods per node from config, tainted as GKE taints it", () => {
    const pool = learners(run);
    expect(pool.nodeConfig.sandboxConfig).toEqual({ type: "GVISOR" });
    expect(pool.nodeConfig.imageType).toBe("COS_CONTAINERD");
    expect(pool.nodeConfig.taints).toEqual([{ ...gvisorTaint }]);
    expect(pool.nodeConfig.labels["tierstack.dev/pool"]).toBe("learners");
    expect(pool.autoscaling).toMatchObject({ totalMinNodeCount: 0, totalMaxNodeCount: tiers["tier-100"].sizes.learnerPoolMaxNodes.default });
    expect(pool.nodeConfig.spot).toBe(true);
    expect(pool.maxPodsPerNode).toBe(32);
    for (const other of pools(run).filter((x) => x.name !== "learners")) expect(other.nodeConfig.sandboxConfig, other.name).toBeUndefined();
    const changed = learners(sandboxed);
    expect(changed.autoscaling.totalMaxNodeCount).toBe(6);
    expect(changed.nodeConfig.spot).toBeUndefined();
    expect(changed.maxPodsPerNode).toBe(16);
  });

  it("the managed Agent Sandbox add-on, on a control plane that serves v1beta1", () => {
    const c = one(run, "container/cluster:Cluster").inputs as { addonsConfig: Record<string, unknown>; minMasterVersion: string };
    expect(c.addonsConfig.agentSandboxConfig).toEqual({ enabled: true });
    expect(c.minMasterVersion).toBe("1.36.3-gke.1767000");
  });

  it("the learner template: gVisor, the taint tolerated, the pool selected, no token, restricted, requests = limits from config; no controller-made policy", () => {
    const t = templateOf(run);
    expect(t.metadata).toMatchObject({ name: "learner", namespace: sandboxNamespace });
    const pod = t.spec.podTemplate.spec;
    expect(pod.runtimeClassName).toBe("gvisor");
    expect(pod.tolerations).toEqual([{ key: gvisorTaint.key, operator: "Equal", value: gvisorTaint.value, effect: "NoSchedule" }]);
    expect(pod.nodeSelector).toEqual({ "tierstack.dev/pool": "learners" });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    const [c] = pod.containers;
    expect(c?.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
    expect(c?.resources).toEqual({ requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "250m", memory: "256Mi" } });
    expect(c?.ports).toEqual([{ name: "channel", containerPort: learnerRuntimePort, protocol: "TCP" }]);
    // A kubelet TCP probe would take the channel from the brain (the runtime keeps the newest connection).
    expect(c).not.toHaveProperty("readinessProbe");
    expect(c).not.toHaveProperty("livenessProbe");
    expect(c?.command).toEqual(["node", "services/brain/src/sandbox/learner/runtime.mjs", "--listen", `0.0.0.0:${learnerRuntimePort}`]);
    expect(c?.image).toBe("ghcr.io/tierstack/brain:0.1.0");
    expect(t.spec.podTemplate.metadata.labels).toEqual({ ...learnerPodLabels });
    expect(t.spec.networkPolicyManagement).toBe("Unmanaged");
    expect(templateOf(sandboxed).spec.podTemplate.spec.containers[0]?.resources).toEqual({ requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "500m", memory: "512Mi" } });
    const ns = byName(run, "core/v1:Namespace", sandboxNamespace) as RawResource;
    expect(obj(ns).metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "restricted" });
  });

  it("a warm pool of the template, sized from config", () => {
    expect(warmPoolOf(run).spec).toMatchObject({ replicas: 2, sandboxTemplateRef: { name: "learner" } });
    expect(warmPoolOf(run).metadata.namespace).toBe(sandboxNamespace);
    expect(warmPoolOf(sandboxed).spec.replicas).toBe(7);
  });

  it("the brain's service account may create, get, list and delete claims and get sandboxes, in the learners' namespace only", () => {
    const role = one(run, "rbac.authorization.k8s.io/v1:Role").inputs as { metadata: { name: string; namespace: string }; rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    expect(role.metadata.namespace).toBe(sandboxNamespace);
    expect(role.rules).toEqual([
      { apiGroups: ["extensions.agents.x-k8s.io"], resources: ["sandboxclaims"], verbs: ["create", "get", "list", "delete"] },
      { apiGroups: ["agents.x-k8s.io"], resources: ["sandboxes"], verbs: ["get"] },
    ]);
    const binding = one(run, "rbac.authorization.k8s.io/v1:RoleBinding").inputs as { metadata: { namespace: string }; roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    expect(binding.metadata.namespace).toBe(sandboxNamespace);
    expect(binding.roleRef).toMatchObject({ kind: "Role", name: role.metadata.name });
    const brainSa = byName(run, "core/v1:ServiceAccount", "brain") as RawResource;
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: obj(brainSa).metadata.name, namespace: namespaceName }]);
    expect(ofType(run, ":ClusterRole")).toEqual([]);
  });

  it("the sandbox flow table is sound and never names the metadata server or the internet", () => {
    expect(sandboxFlowProblems(sandboxFlows)).toEqual([]);
    expect(sandboxFlows.filter((f) => f.from === "learner-sandbox").map((f) => f.to).sort()).toEqual(["brain", "kube-dns", "litellm"]);
    expect(sandboxFlowProblems([...sandboxFlows, { from: "learner-sandbox", to: "learner-sandbox", ports: [{ port: learnerRuntimePort, protocol: "TCP" }], why: "x" }])).toEqual(["learner-sandbox -> learner-sandbox: sandboxes never reach each other"]);
    expect(sandboxFlowProblems([{ from: "learner-sandbox", to: "brain", ports: [{ port: 22, protocol: "TCP" }], why: "x" }])).toEqual(["learner-sandbox -> brain: 22/TCP is not a port brain listens on"]);
  });

  it("sandbox settings out of range are one clear line each", async () => {
    const errorOf = (overrides: Record<string, string>) => configErrorOf("tier-100", overrides);
    expect(await errorOf({ "tierstack:sandboxCpu": "3" })).toMatch(/tierstack:sandboxCpu = "3" is not valid; accepted: a CPU quantity from 100m to 2000m/);
    expect(await errorOf({ "tierstack:sandboxMemory": "64Mi" })).toMatch(/tierstack:sandboxMemory = "64Mi" is not valid/);
    expect(await errorOf({ "tierstack:sandboxPoolSpot": "yes" })).toMatch(/tierstack:sandboxPoolSpot = "yes" is not valid; accepted: true \| false$/);
    const tooMany = await errorOf({ "tierstack:learnerPoolMaxNodes": "1", "tierstack:sandboxMaxPodsPerNode": "8", "tierstack:sandboxWarmPoolSize": "5" });
    expect(tooMany).toBe('stacks/Pulumi.tier-100.yaml: tierstack:sandboxWarmPoolSize = "5" does not fit the learner pool; accepted: at most learnerPoolMaxNodes × (sandboxMaxPodsPerNode - 4) = 4');
  });
});

describe("tier-100 natsNodes: odd only, one clear line", () => {
  const errorOf = (overrides: Record<string, string>) => configErrorOf("tier-100", overrides);
  it("4 is refused as even, 6 as outside the range", async () => {
    const even = await errorOf({ "tierstack:natsNodes": "4" });
    expect(even.split("\n")).toHaveLength(1);
    expect(even).toMatch(/tierstack:natsNodes = "4" is even; accepted: an odd number of nodes, 3-5 on tier tier-100/);
    expect(await errorOf({ "tierstack:natsNodes": "6" })).toMatch(/tierstack:natsNodes = "6" is outside what the tier allows/);
    expect(tiers["tier-100"].built).toBe(true);
  });
});
