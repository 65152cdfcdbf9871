/**
 * The tier-100 stack under Pulumi's mocks: what it declares; the regional cluster's pools in three
 * zones; NATS as a cluster of natsNodes with anti-affinity and the quorum PDB, streams at
 * min(natsNodes, 3) replicas; the tainted inference pool that only vLLM tolerates; LiteLLM behind
 * an internal load balancer with the pool's models first; the NetworkPolicies evaluated against
 * tier-100's flow table (NATS routes, the vLLM pods); every Kubernetes object against its schema;
 * every provider input against the installed declarations; no secret in plain text; the natsNodes
 * configuration errors. Two renders: the reference stack (3 NATS nodes) and 5 NATS nodes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { main } from "../cli/main.js";
import { runPlan, type PlanRun } from "../cli/plan.js";
import { flowTableProblems, flows, metadataAddresses, natsRouteFlow, workloadPorts, workloads, type Endpoint, type Flow, type Source, type Workload } from "../catalog/flows.js";
import { tiers } from "../catalog/tiers.js";
import { ConfigError } from "../config/config.js";
import { internetBlock } from "../components/k8s/network-policies.js";
import { cidrContains, connectionAllowed, type PodRef, type PolicyLike, type Target } from "../components/k8s/netpol-eval.js";
import { natsPorts } from "../components/nats/nats-cluster.js";
import { gpuTaint, inferenceTaint, poolLabelValue } from "../gpu-node/inference-node.js";
import { resolveModel, routerFallbacks, type LitellmConfig } from "../gpu-node/litellm.js";
import { internalLoadBalancerAnnotation, tier100Flows } from "../stacks/tier-100.js";
import { mcpServerTargets } from "../stacks/tier-50/gateway.js";
import { addressRanges, namespaceName } from "../stacks/tier-50/shape.js";
import { allSecretMarkers, builtAs, configSecretValues, ofType, one, plainStrings, SENTINEL, type RawResource } from "./helpers.js";
import { k8sSchemaProblems } from "./k8s-schema.js";
import { schemaProblems } from "./provider-schema.js";

let run: PlanRun;
let five: PlanRun;

beforeAll(async () => {
  run = await runPlan("tier-100", { generatedValue: SENTINEL, overrides: configSecretValues });
  five = await runPlan("tier-100", { generatedValue: SENTINEL, overrides: { ...configSecretValues, "tierstack:natsNodes": "5" } });
});

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
    // system, services, inference.
    expect(count("container/nodePool:NodePool")).toBe(3);
    expect(count("sql/databaseInstance:DatabaseInstance")).toBe(1);
    expect(count("redis/instance:Instance")).toBe(1);
    expect(count("compute/instance:Instance")).toBe(0);
    // task-queue, brain, LiteLLM, cloudflared, 2 gateway shards, the federated gateway; 2 vLLM.
    expect(count("apps/v1:Deployment")).toBe(9);
    expect(count("apps/v1:StatefulSet")).toBe(1);
    // 7 ServiceDeployments, NATS headless + client, 2 vLLM, LiteLLM's internal load balancer.
    expect(count("core/v1:Service")).toBe(12);
    expect(count("NetworkPolicy")).toBe(1 + workloads.length + 2 + 1);
    expect(count("core/v1:Secret")).toBe(0);
    expect(count("secretmanager/secret:Secret")).toBe(16);
    expect(one(run, "tierstack:tier:Tier100")).toBeDefined();
  });

  it("prints the full inventory through `tierstack plan tier-100`", async () => {
    const io = { stdout: "", stderr: "", out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
    expect(await main(["plan", "tier-100"], io), io.stderr).toBe(0);
    expect(io.stdout).toMatch(new RegExp(`^stack tier-100 \\(tier tier-100\\): ${run.resources.length} resources$`, "m"));
    expect(io.stdout).toContain("tierstack:nats:NatsCluster");
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
    for (const p of pools.filter((x) => x.name === "system" || x.name === "services")) {
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
      const pdb = byName(p, ":PodDisruptionBudget", "nats") as RawResource;
      expect(obj(pdb).spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: (obj(sts).spec.selector as { matchLabels: Record<string, string> }).matchLabels } });
      const routes = String(obj(byName(p, "core/v1:ConfigMap", "nats-config") as RawResource).data?.["nats.conf"]).match(/nats:\/\/nats-\d\.nats-headless[^"]*:6222/g);
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
  type Kind = Endpoint | "vllm" | "other";
  type Dest = { label: string; target: Target; endpoint: Kind };
  type Src = { label: string; pod: PodRef; source: Source | "vllm" | "other" };

  /** tier-100's table plus the inference pool's flows (InferenceNode's policy and LiteLLM's egress to it). */
  function allowedBy(table: readonly Flow[], inferencePorts: number[], mcp: { host: string; port: number }[]) {
    const within = (e: Endpoint, d: Dest, port: number, portRef: Flow["ports"][number]["port"]): boolean => {
      if (portRef !== "mcp-servers" && portRef !== port) return false;
      if ((workloads as readonly string[]).includes(e)) return d.endpoint === e;
      const ip = d.target.kind === "ip" ? d.target.ip : undefined;
      switch (e) {
        case "kube-dns": return d.endpoint === "kube-dns";
        case "postgres": case "redis": return ip !== undefined && cidrContains(psa, ip);
        case "internet": return ip !== undefined && inInternet(ip);
        case "mcp-servers": return ip !== undefined && mcp.some((t) => t.port === port && (ipLiteral.test(t.host) ? t.host === ip : inInternet(ip)));
        default: return false;
      }
    };
    return (s: Src, d: Dest, port: number, protocol: "TCP" | "UDP"): boolean => {
      if (s.source === "other") return false;
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
    const pods: Src[] = workloadsOf(p).map((w) => ({ label: obj(w).metadata.name, pod: { namespace: ns, labels: podLabels(w) }, source: podLabels(w)["app.kubernetes.io/name"] as Workload | "vllm" }));
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
      ...metadataAddresses.map((m) => ({ label: `metadata ${m.ip}`, target: { kind: "ip", ip: m.ip } as Target, endpoint: "metadata" as const })),
    ];
    const ports = [...new Set([...Object.values(workloadPorts).flatMap((w) => [w.serve, w.metrics, w.health, w.peer]), ...inferencePorts, ...mcp.map((t) => t.port), 53, 80, 443, 988, 5432, 6378, 7844, 22, 9999].filter((x): x is number => x !== undefined))];
    const out: string[] = [];
    for (const s of sources) {
      for (const d of s.pod.namespace === ns ? dests : ourPods) {
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
    expect(mismatches(run, withoutRoutes, tier100Flows(3))).toContain("nats -> nats:6222/TCP: denied, table says allowed");
    const withoutInference = declared(run).filter((x) => x.metadata?.name !== "allow-litellm-inference");
    expect(mismatches(run, withoutInference, tier100Flows(3)).some((m) => /^litellm -> vllm-.*:8000\/TCP: denied/.test(m))).toBe(true);
  });
});

describe("schemas and secrets", () => {
  it("every Kubernetes object validates against its kind's schema", () => {
    expect(k8sSchemaProblems(run.raw)).toEqual([]);
    expect(k8sSchemaProblems(five.raw)).toEqual([]);
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

describe("tier-100 natsNodes: odd only, one clear line", () => {
  async function errorOf(overrides: Record<string, string>): Promise<string> {
    try {
      await runPlan("tier-100", { overrides: { ...configSecretValues, ...overrides } });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error(`no error for ${JSON.stringify(overrides)}`);
  }
  it("4 is refused as even, 6 as outside the range", async () => {
    const even = await errorOf({ "tierstack:natsNodes": "4" });
    expect(even.split("\n")).toHaveLength(1);
    expect(even).toMatch(/tierstack:natsNodes = "4" is even; accepted: an odd number of nodes, 3-5 on tier tier-100/);
    expect(await errorOf({ "tierstack:natsNodes": "6" })).toMatch(/tierstack:natsNodes = "6" is outside what the tier allows/);
    expect(tiers["tier-100"].built).toBe(true);
  });
});
