/**
 * The tier-50 stack under Pulumi's mocks: what it declares, the cluster's and the workloads'
 * invariants, the secrets path (docs/adr/0004), the sharded gateway, LiteLLM's model names, the
 * NetworkPolicies evaluated against the flow table, every Kubernetes object against its schema,
 * every provider input against the installed declarations, and the configuration errors.
 * Two program renders: the reference stack (2 shards × 1 replica) and 3 shards × 2 replicas.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseShardMap } from "@tierstack/shard-map";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { main } from "../cli/main.js";
import { repoRoot, runPlan, type PlanRun } from "../cli/plan.js";
import { flows, flowTableProblems, metadataAddresses, workloadPorts, workloads, type Endpoint, type Source, type Workload } from "../catalog/flows.js";
import { serviceSecretBindings } from "../catalog/service-env.js";
import { services, serviceNames, type ServiceName } from "../catalog/services.js";
import { tiers } from "../catalog/tiers.js";
import { kubeconfigFor } from "../components/gke-cluster.js";
import { internetBlock } from "../components/k8s/network-policies.js";
import { cidrContains, connectionAllowed, type PodRef, type PolicyLike, type Target } from "../components/k8s/netpol-eval.js";
import { envFromFilesScript, secretsMountPath } from "../components/k8s/service-deployment.js";
import { resolveModel, type LitellmConfig } from "../gpu-node/litellm.js";
import { mcpServerTargets } from "../stacks/tier-50/gateway.js";
import { addressRanges, namespaceName } from "../stacks/tier-50/shape.js";
import { allSecretMarkers, builtAs, configErrorOf, configSecretValues, ofType, one, plainStrings, SENTINEL, type RawResource } from "./helpers.js";
import { k8sSchemaProblems } from "./k8s-schema.js";
import { checkedTypes, schemaProblems } from "./provider-schema.js";

let run: PlanRun;
let wide: PlanRun;

const referenceMap = JSON.parse(readFileSync(join(repoRoot, "stacks", "Pulumi.tier-50.yaml"), "utf8").match(/tierstack:gatewayShardMap: '(.*)'/)?.[1] ?? "{}") as Record<string, unknown>;
const wideMap = JSON.stringify({ ...referenceMap, payments: ["http://10.99.0.7:9300/mcp"], maps: { replicas: ["https://maps.example.com/mcp"], protocol: "2026-07-28" } });

beforeAll(async () => {
  run = await runPlan("tier-50", { generatedValue: SENTINEL, overrides: configSecretValues });
  wide = await runPlan("tier-50", {
    generatedValue: SENTINEL,
    overrides: { ...configSecretValues, "tierstack:gatewayShards": "3", "tierstack:gatewayReplicas": "2", "tierstack:litellmReplicas": "2", "tierstack:gatewayShardMap": wideMap },
  });
});

type K8sObject = { metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown>; data?: Record<string, string> };
const obj = (r: RawResource) => r.inputs as unknown as K8sObject;
const byName = (p: PlanRun, suffix: string, name: string) => ofType(p, suffix).find((r) => obj(r).metadata?.name === name);

interface Container {
  name: string;
  command?: string[];
  env?: { name: string; value?: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  startupProbe?: { httpGet?: { path: string; port: string } };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: { name: string; emptyDir?: unknown; csi?: { driver: string; volumeAttributes: { secretProviderClass: string } }; configMap?: { name: string } }[];
  topologySpreadConstraints?: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[];
}
const workloadsOf = (p: PlanRun) => [...ofType(p, "apps/v1:Deployment"), ...ofType(p, "apps/v1:StatefulSet")];
const podSpec = (r: RawResource) => (obj(r).spec.template as { spec: PodSpec }).spec;
const podLabels = (r: RawResource) => (obj(r).spec.template as { metadata: { labels: Record<string, string> } }).metadata.labels;

/** Replicas a workload runs at least: the autoscaler's minimum, else spec.replicas. */
function minReplicas(p: PlanRun, w: RawResource): number {
  const hpa = byName(p, ":HorizontalPodAutoscaler", obj(w).metadata.name);
  return hpa ? Number((obj(hpa).spec as { minReplicas: number }).minReplicas) : Number(obj(w).spec.replicas);
}

/** The files a workload's SecretProviderClass mounts. */
function spcFiles(p: PlanRun, name: string): { resourceName: string; path: string }[] {
  const spc = byName(p, "SecretProviderClass", `${name}-secrets`);
  return spc ? (parse((obj(spc).spec as { parameters: { secrets: string } }).parameters.secrets) as { resourceName: string; path: string }[]) : [];
}

function containsSecret(s: string): boolean {
  return allSecretMarkers.some((m) => s.includes(m));
}

describe("tier-50 inventory", () => {
  it("declares the cluster, the data plane, the GPU box, the edge and the workloads, by type", () => {
    const count = (suffix: string) => ofType(run, suffix).length;
    expect(count("container/cluster:Cluster")).toBe(1);
    expect(count("container/nodePool:NodePool")).toBe(2);
    expect(count("pulumi:providers:kubernetes")).toBe(1);
    expect(count("sql/databaseInstance:DatabaseInstance")).toBe(1);
    expect(count("sql/database:Database")).toBe(2);
    expect(count("sql/user:User")).toBe(2);
    expect(count("redis/instance:Instance")).toBe(1);
    expect(count("servicenetworking/connection:Connection")).toBe(1);
    expect(count("compute/globalAddress:GlobalAddress")).toBe(1);
    expect(count("artifactregistry/repository:Repository")).toBe(1);
    expect(count("compute/instance:Instance")).toBe(1);
    expect(count(":Subnetwork")).toBe(1);
    expect(count(":RouterNat")).toBe(1);
    expect(count(":ZeroTrustTunnelCloudflared")).toBe(1);
    expect(count(":DnsRecord")).toBe(4);
    expect(count(":ZeroTrustAccessApplication")).toBe(2);
    expect(count("core/v1:Namespace")).toBe(1);
    // task-queue, brain, LiteLLM, cloudflared, 2 gateway shards and the federated gateway; NATS.
    expect(count("apps/v1:Deployment")).toBe(7);
    expect(count("apps/v1:StatefulSet")).toBe(1);
    expect(count("core/v1:Service")).toBe(8);
    expect(count("core/v1:ServiceAccount")).toBe(8);
    expect(count("HorizontalPodAutoscaler")).toBe(3);
    expect(count("NetworkPolicy")).toBe(1 + workloads.length);
    expect(count("SecretProviderClass")).toBe(7);
    expect(count("PodMonitoring")).toBe(6);
    expect(count("core/v1:Secret")).toBe(0);
    expect(count("secretmanager/secret:Secret")).toBe(16);
  });

  it("prints the full inventory through `tierstack plan tier-50`", async () => {
    const io = { stdout: "", stderr: "", out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
    expect(await main(["plan", "tier-50"], io), io.stderr).toBe(0);
    const rows = io.stdout.split("\n").filter((l) => /^(gcp|kubernetes|cloudflare|random|pulumi|tierstack):/.test(l));
    expect(io.stdout).toMatch(new RegExp(`^stack tier-50 \\(tier tier-50\\): ${run.resources.length} resources$`, "m"));
    expect(rows).toHaveLength(run.resources.length);
    expect(io.stdout).toMatch(/^ {2}gatewayShards: \{"mcp-gateway-0":\["commerce","search"\],"mcp-gateway-1":\["dev-tools"\]\}$/m);
    expect(io.stdout).not.toContain("plan-placeholder-secret");
  });

  it("every resource type has a price or an explicit free entry in cost/", async () => {
    const { resourceTypePricing } = await import("../cost/src/infra.js");
    const types = [...new Set([...run.raw, ...wide.raw].map((r) => r.type).filter((t) => !t.startsWith("tierstack:")))];
    expect(types.filter((t) => !(t in resourceTypePricing))).toEqual([]);
  });
});

describe("GKE cluster", () => {
  it("private nodes, Dataplane V2, authorized networks + the DNS endpoint, Workload Identity, channel, Managed Prometheus, Secret Manager add-on, deletion protection", () => {
    const c = one(run, "container/cluster:Cluster").inputs as Record<string, unknown>;
    expect(c.privateClusterConfig).toMatchObject({ enablePrivateNodes: true });
    expect(c.datapathProvider).toBe("ADVANCED_DATAPATH");
    expect(c.networkingMode).toBe("VPC_NATIVE");
    expect(c.ipAllocationPolicy).toEqual({ clusterSecondaryRangeName: addressRanges.pods.rangeName, servicesSecondaryRangeName: addressRanges.services.rangeName });
    expect(c.masterAuthorizedNetworksConfig).toEqual({ cidrBlocks: [{ cidrBlock: "10.10.0.0/24", displayName: "platform subnet" }], gcpPublicCidrsAccessEnabled: false });
    expect(c.controlPlaneEndpointsConfig).toEqual({ dnsEndpointConfig: { allowExternalTraffic: true }, ipEndpointsConfig: { enabled: true } });
    expect(c.workloadIdentityConfig).toEqual({ workloadPool: "tierstack-example.svc.id.goog" });
    expect(c.releaseChannel).toEqual({ channel: "REGULAR" });
    expect(c.monitoringConfig).toMatchObject({ managedPrometheus: { enabled: true } });
    expect(c.secretManagerConfig).toEqual({ enabled: true });
    expect(c.deletionProtection).toBe(true);
    expect(c.removeDefaultNodePool).toBe(true);
    expect((c.nodeConfig as { serviceAccount: string }).serviceAccount).not.toMatch(/compute@developer/);
  });

  it("a system pool and a services pool sized by totals, on GKE_METADATA, shielded, on the nodes' own account", () => {
    const pools = ofType(run, "container/nodePool:NodePool").map((p) => p.inputs as Record<string, Record<string, unknown>>);
    expect(pools.map((p) => p.name).sort()).toEqual(["services", "system"]);
    const nodesSa = ofType(run, "serviceaccount/account:Account").find((a) => String(a.inputs.accountId).endsWith("-nodes"));
    for (const p of pools) {
      expect(p.autoscaling).toMatchObject({ totalMinNodeCount: expect.any(Number), totalMaxNodeCount: expect.any(Number) });
      expect(Number(p.autoscaling?.totalMinNodeCount)).toBeLessThanOrEqual(Number(p.autoscaling?.totalMaxNodeCount));
      expect(p.nodeConfig?.workloadMetadataConfig).toEqual({ mode: "GKE_METADATA" });
      expect(p.nodeConfig?.shieldedInstanceConfig).toEqual({ enableSecureBoot: true, enableIntegrityMonitoring: true });
      expect(p.nodeConfig?.serviceAccount).toBe(`${String(nodesSa?.inputs.accountId)}@tierstack-example.iam.gserviceaccount.com`);
    }
  });

  it("the Kubernetes provider: a kubeconfig on the DNS endpoint with gke-gcloud-auth-plugin, and a clusterIdentifier", () => {
    const p = one(run, "pulumi:providers:kubernetes").inputs as { clusterIdentifier: string; kubeconfig: string };
    expect(p.clusterIdentifier).toBe("tierstack-example/us-central1-a/tierstack-tier-50");
    const kubeconfig = parse(p.kubeconfig) as { clusters: { cluster: { server?: string } }[]; users: { user: { exec: { command: string } } }[] };
    expect(kubeconfig.users[0]?.user.exec.command).toBe("gke-gcloud-auth-plugin");
    expect(kubeconfig.clusters[0]?.cluster.server).toBe("https://tier-50-gke-cluster.us-central1-a.gke.invalid");
    expect(containsSecret(p.kubeconfig)).toBe(false);
    // The identifier, not the kubeconfig, decides replacement: a rotated kubeconfig keeps it.
    expect(kubeconfigFor("x", "a.example")).not.toBe(kubeconfigFor("x", "b.example"));
  });

  it("the subnet carries the pods and services ranges; NAT covers them; single-box's subnet stays without", () => {
    const subnet = one(run, ":Subnetwork").inputs as { secondaryIpRanges: unknown };
    expect(subnet.secondaryIpRanges).toEqual([addressRanges.pods, addressRanges.services]);
    expect((one(run, ":RouterNat").inputs.subnetworks as { sourceIpRangesToNats: string[] }[])[0]?.sourceIpRangesToNats).toEqual(["ALL_IP_RANGES"]);
  });
});

describe("workloads", () => {
  it("every container has requests and limits, startup/liveness/readiness probes and the restricted security context", () => {
    for (const w of workloadsOf(run)) {
      const spec = podSpec(w);
      expect(spec.securityContext, obj(w).metadata.name).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      expect(Number(spec.securityContext.runAsUser)).toBeGreaterThan(0);
      for (const c of spec.containers) {
        const at = `${obj(w).metadata.name}/${c.name}`;
        for (const k of ["cpu", "memory"]) {
          expect(c.resources?.requests?.[k], at).toBeDefined();
          expect(c.resources?.limits?.[k], at).toBeDefined();
        }
        for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) expect(probe?.httpGet?.path, at).toMatch(/^\//);
        expect(c.securityContext, at).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
        expect(Number(c.securityContext?.runAsUser), at).toBeGreaterThan(0);
      }
      expect(spec.topologySpreadConstraints?.map((t) => t.topologyKey)).toContain("kubernetes.io/hostname");
    }
  });

  it("the Fastify services probe the catalogue's health paths on their catalogue port", () => {
    for (const name of serviceNames) {
      const deployments = ofType(run, "apps/v1:Deployment").filter((d) => podLabels(d)["app.kubernetes.io/name"] === name);
      expect(deployments.length, name).toBeGreaterThan(0);
      for (const d of deployments) {
        const c = podSpec(d).containers[0] as Container;
        expect(c.livenessProbe?.httpGet?.path).toBe(services[name].healthPath);
        expect(c.readinessProbe?.httpGet?.path).toBe(services[name].readyPath);
        expect(c.env?.find((e) => e.name === "PORT")?.value).toBe(String(services[name].port));
      }
    }
  });

  it("writable paths are emptyDirs only (plus NATS' volume), as the catalogue lists them for the services", () => {
    for (const w of workloadsOf(run)) {
      const spec = podSpec(w);
      const c = spec.containers[0] as Container;
      const writable = (c.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath);
      const volumes = new Map(spec.volumes.map((v) => [v.name, v]));
      for (const m of (c.volumeMounts ?? []).filter((x) => !x.readOnly)) {
        expect(m.name === "data" || volumes.get(m.name)?.emptyDir !== undefined, `${obj(w).metadata.name} ${m.mountPath}`).toBe(true);
      }
      const app = podLabels(w)["app.kubernetes.io/name"] as string;
      if ((serviceNames as string[]).includes(app)) expect(writable).toEqual(["/tmp"]);
    }
  });

  it("PodDisruptionBudgets (maxUnavailable 1) exactly where a workload runs two or more replicas; autoscalers only on Deployments", () => {
    for (const p of [run, wide]) {
      for (const w of workloadsOf(p)) {
        const name = obj(w).metadata.name;
        const pdb = byName(p, ":PodDisruptionBudget", name);
        if (minReplicas(p, w) >= 2) expect((pdb ? obj(pdb).spec : undefined) as unknown, name).toEqual({ maxUnavailable: 1, selector: { matchLabels: (obj(w).spec.selector as { matchLabels: Record<string, string> }).matchLabels } });
        else expect(pdb, name).toBeUndefined();
      }
      for (const h of ofType(p, ":HorizontalPodAutoscaler")) {
        const target = (obj(h).spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef;
        expect(target.kind).toBe("Deployment");
        expect(byName(p, "apps/v1:Deployment", target.name)?.inputs.spec).not.toHaveProperty("replicas");
      }
    }
    expect(byName(run, ":HorizontalPodAutoscaler", "nats")).toBeUndefined();
    expect(minReplicas(run, byName(run, "apps/v1:Deployment", "cloudflared") as RawResource)).toBe(2);
    expect(minReplicas(run, byName(run, "apps/v1:Deployment", "task-queue") as RawResource)).toBeGreaterThanOrEqual(2);
    expect(minReplicas(run, byName(run, "apps/v1:Deployment", "brain") as RawResource)).toBeGreaterThanOrEqual(2);
  });

  it("NATS is one StatefulSet with a volume and no autoscaler", () => {
    const nats = one(run, "apps/v1:StatefulSet");
    expect(obj(nats).spec.replicas).toBe(1);
    const claims = obj(nats).spec.volumeClaimTemplates as { spec: { resources: { requests: { storage: string } } } }[];
    expect(claims).toHaveLength(1);
    expect(claims[0]?.spec.resources.requests.storage).toBe("20Gi");
    expect((podSpec(nats).containers[0]?.volumeMounts ?? []).find((m) => m.name === "data")?.mountPath).toBe("/data");
  });

  it("each workload has its own ServiceAccount bound by Workload Identity to its own GCP service account", () => {
    const kas = ofType(run, "core/v1:ServiceAccount");
    const emails = new Set<string>();
    for (const w of workloadsOf(run)) {
      const ksaName = podSpec(w).serviceAccountName;
      const ksa = kas.find((k) => obj(k).metadata.name === ksaName);
      const email = ksa ? obj(ksa).metadata.annotations?.["iam.gke.io/gcp-service-account"] : undefined;
      expect(email, ksaName).toMatch(/@tierstack-example\.iam\.gserviceaccount\.com$/);
      emails.add(email as string);
      const gsa = ofType(run, "serviceaccount/account:Account").find((a) => `${String(a.inputs.accountId)}@tierstack-example.iam.gserviceaccount.com` === email);
      const binding = ofType(run, "serviceaccount/iAMMember:IAMMember").find((b) => b.inputs.serviceAccountId === gsa?.name);
      expect(binding?.inputs).toMatchObject({ role: "roles/iam.workloadIdentityUser", member: `serviceAccount:tierstack-example.svc.id.goog[${namespaceName}/${ksaName}]` });
    }
    expect(emails.size).toBe(workloadsOf(run).length);
  });

  it("each workload's PodMonitoring selects its pods and scrapes /metrics on a port of its container", () => {
    for (const m of ofType(run, "PodMonitoring")) {
      const spec = obj(m).spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
      const w = workloadsOf(run).find((x) => obj(x).metadata.name === obj(m).metadata.name) as RawResource;
      expect(spec.selector.matchLabels).toEqual((obj(w).spec.selector as { matchLabels: Record<string, string> }).matchLabels);
      expect(spec.endpoints[0]?.path).toBe("/metrics");
      expect((podSpec(w).containers[0] as unknown as { ports: { name: string }[] }).ports.map((p) => p.name)).toContain(spec.endpoints[0]?.port);
    }
  });
});

describe("secrets (docs/adr/0004-tier-50-secrets-path.md)", () => {

  it("every secret key of a service reaches its container as a file of its SecretProviderClass, never as an env value", () => {
    for (const w of ofType(run, "apps/v1:Deployment")) {
      const app = podLabels(w)["app.kubernetes.io/name"] as string;
      if (!(serviceNames as string[]).includes(app)) continue;
      const service = app as ServiceName;
      const name = obj(w).metadata.name;
      const files = spcFiles(run, name).map((f) => f.path).sort();
      const expected = [...Object.keys(serviceSecretBindings[service]), ...(service === "task-queue" ? [] : ["REDIS_URL"])].sort();
      expect(files, name).toEqual(expected);
      const c = podSpec(w).containers[0] as Container;
      const secretKeys = services[service].env.filter((k) => k.secret).map((k) => k.name);
      expect((c.env ?? []).filter((e) => secretKeys.includes(e.name)), name).toEqual([]);
      expect(c.command?.slice(0, 5)).toEqual(["/bin/sh", "-c", envFromFilesScript, "tierstack-secrets-env", secretsMountPath]);
      const vol = podSpec(w).volumes.find((v) => v.csi);
      expect(vol?.csi).toEqual({ driver: "secrets-store-gke.csi.k8s.io", readOnly: true, volumeAttributes: { secretProviderClass: `${name}-secrets` } });
      expect(c.volumeMounts).toContainEqual({ name: vol?.name, mountPath: secretsMountPath, readOnly: true });
    }
  });

  it("each workload's GCP service account reads exactly the secrets it mounts, one binding each", () => {
    for (const w of workloadsOf(run)) {
      const name = obj(w).metadata.name;
      const gsa = ofType(run, "serviceaccount/account:Account").find((a) => a.name === `${name}-gsa`);
      const member = `serviceAccount:${String(gsa?.inputs.accountId)}@tierstack-example.iam.gserviceaccount.com`;
      const readable = ofType(run, ":SecretIamMember").filter((b) => b.inputs.member === member);
      for (const b of readable) expect(b.inputs.role).toBe("roles/secretmanager.secretAccessor");
      const mounted = spcFiles(run, name).map((f) => /secrets\/([^/]+)\/versions/.exec(f.resourceName)?.[1]).sort();
      const secretNames = new Map(ofType(run, "secretmanager/secret:Secret").map((s) => [`${s.name}-id`, String(s.inputs.secretId)]));
      expect(readable.map((b) => secretNames.get(String(b.inputs.secretId))).sort(), name).toEqual(mounted);
    }
    // Every binding belongs to a workload: no identity reads every secret.
    const members = new Set(ofType(run, ":SecretIamMember").map((b) => b.inputs.member));
    expect(members.size).toBe(workloadsOf(run).length - 1 /* NATS mounts none */);
  });

  it("no secret value in a ConfigMap, an env literal, a Kubernetes object or a plain output; no Kubernetes Secret", () => {
    for (const cm of ofType(run, "core/v1:ConfigMap")) expect(containsSecret(JSON.stringify(cm.inputs)), cm.name).toBe(false);
    const k8sPlain = run.raw.filter((r) => r.type.startsWith("kubernetes:")).flatMap((r) => plainStrings(r.inputs, `${r.type}::${r.name}`));
    expect(k8sPlain.filter((s) => containsSecret(s.value))).toEqual([]);
    const everyPlain = run.raw.flatMap((r) => plainStrings(r.inputs, `${r.type}::${r.name}`));
    expect(everyPlain.filter((s) => containsSecret(s.value)).map((s) => s.path)).toEqual([]);
    expect(containsSecret(JSON.stringify(run.outputs))).toBe(false);
    expect(run.leaks).toEqual([]);
    expect(run.raw.filter((r) => r.type === "kubernetes:core/v1:Secret")).toEqual([]);
  });

  it("the database URLs point at Cloud SQL's private IP with TLS that checks the server certificate", () => {
    const versions = ofType(run, ":SecretVersion");
    for (const s of ["task-queue-database-url", "brain-database-url"]) {
      const v = versions.find((x) => x.name.endsWith(s));
      const url = String((v?.inputs.secretData as { value: unknown }).value);
      expect(url).toMatch(/^postgres:\/\/\w+:SENTINEL0generated0c0ffee@192\.0\.2\.10:5432\/\w+\?sslmode=verify-(ca|full)&sslrootcert=%2Fetc%2Ftierstack%2Fca%2Fpostgres\.pem$/);
    }
    const redis = versions.find((x) => x.name.endsWith("redis-url"));
    expect(String((redis?.inputs.secretData as { value: unknown }).value)).toBe(`rediss://:${SENTINEL}@192.0.2.20:6378`);
  });

  it("the entry script exports each file as its variable, whatever the value holds, and refuses a bad file name", () => {
    const dir = mkdtempSync(join(tmpdir(), "tierstack-secrets-"));
    const values: Record<string, string> = {
      DATABASE_URL: "postgres://u:p$w'd\"`x`@10.0.0.3:5432/db?sslmode=verify-ca",
      WITH_SPACES: "a b  c\td",
      MULTILINE: "line1\nline2",
    };
    for (const [k, v] of Object.entries(values)) writeFileSync(join(dir, k), `${v}\n`);
    const print = ["node", "-e", `process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(Object.keys(values))}.map((k) => [k, process.env[k]]))))`];
    const ok = spawnSync("/bin/sh", ["-c", envFromFilesScript, "tierstack-secrets-env", dir, ...print], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual(values);
    writeFileSync(join(dir, "not-a-name"), "x");
    const bad = spawnSync("/bin/sh", ["-c", envFromFilesScript, "tierstack-secrets-env", dir, "true"], { encoding: "utf8" });
    expect(bad.status).not.toBe(0);
  });

  it("the wrapped process is the image's own CMD (services/Dockerfile)", () => {
    const dockerfile = readFileSync(join(repoRoot, "services", "Dockerfile"), "utf8");
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? "[]") as string[];
    const started = /exec (.*)$/.exec(cmd[cmd.length - 1] ?? "")?.[1] ?? "";
    for (const name of serviceNames) {
      const d = byName(run, "apps/v1:Deployment", name === "mcp-gateway" ? "mcp-gateway" : name) as RawResource;
      expect((podSpec(d).containers[0] as Container).command?.slice(5).join(" ")).toBe(started.replace("${SERVICE}", name));
    }
  });
});

describe("the sharded gateway", () => {
  const gatewayShards = (p: PlanRun) => ofType(p, "apps/v1:Deployment").filter((d) => podLabels(d)["tierstack.dev/gateway"] === "shard");
  const shardsEnv = (d: RawResource) => (podSpec(d).containers[0] as Container).env?.find((e) => e.name === "GATEWAY_SHARDS")?.value ?? "";

  it("gatewayShards shard Deployments × gatewayReplicas, every namespace in exactly one shard, the federated deployment holds them all", () => {
    for (const [p, shards, replicas, map] of [[run, 2, 1, JSON.stringify(referenceMap)], [wide, 3, 2, wideMap]] as const) {
      const deployments = gatewayShards(p);
      expect(deployments).toHaveLength(shards);
      for (const d of deployments) expect(obj(d).spec.replicas).toBe(replicas);
      const namespaces = parseShardMap(map).shards.map((s) => s.namespace).sort();
      const served = deployments.flatMap((d) => parseShardMap(shardsEnv(d)).shards.map((s) => s.namespace));
      expect([...served].sort()).toEqual(namespaces);
      for (const d of deployments) expect(parseShardMap(shardsEnv(d)).shards.length).toBeGreaterThan(0);
      const federated = byName(p, "apps/v1:Deployment", "mcp-gateway") as RawResource;
      expect(podLabels(federated)["tierstack.dev/gateway"]).toBe("federated");
      expect(parseShardMap(shardsEnv(federated)).shards.map((s) => s.namespace).sort()).toEqual(namespaces);
    }
  });

  it("the tunnel routes /mcp/<namespace> to its shard's Service and the rest of the gateway's hostname to the federated one", () => {
    const ingresses = (one(run, ":ZeroTrustTunnelCloudflaredConfig").inputs.config as { ingresses: { hostname?: string; path?: string; service: string }[] }).ingresses;
    const host = "mcp-gateway.example.com";
    for (const d of gatewayShards(run)) {
      for (const ns of parseShardMap(shardsEnv(d)).shards.map((s) => s.namespace)) {
        const route = ingresses.find((i) => i.hostname === host && i.path !== undefined && new RegExp(i.path).test(`/mcp/${ns}`));
        expect(route?.service).toBe(`http://${obj(d).metadata.name}.${namespaceName}.svc.cluster.local:7402`);
        expect(new RegExp(route?.path ?? "^$").test(`/mcp/${ns}/sub`)).toBe(true);
        expect(new RegExp(route?.path ?? "^$").test(`/mcp/${ns}x`)).toBe(false);
      }
    }
    const fallThrough = ingresses.filter((i) => i.hostname === host && i.path === undefined);
    expect(fallThrough).toEqual([{ hostname: host, service: `http://mcp-gateway.${namespaceName}.svc.cluster.local:7402` }]);
    // Path rules come before the hostname's catch-all (cloudflared takes the first match).
    expect(ingresses.findIndex((i) => i.hostname === host && i.path === undefined)).toBeGreaterThan(ingresses.findIndex((i) => i.hostname === host && i.path !== undefined));
    for (const name of ["task-queue", "brain"]) expect(ingresses.filter((i) => i.hostname?.startsWith(name)).every((i) => i.service === `http://${name}.${namespaceName}.svc.cluster.local:${services[name as ServiceName].port}`)).toBe(true);
  });

  it("sessions live in Redis on this tier (the catalogue says so), so shards with two replicas share them", () => {
    expect(tiers["tier-50"].subsystems.gatewayAffinity).toBe("redis-session");
    for (const tier of Object.values(tiers)) if (tier.sizes.gatewayReplicas.max > 1) expect(tier.subsystems.gatewayAffinity, tier.name).toBe("redis-session");
    for (const d of ofType(wide, "apps/v1:Deployment").filter((x) => podLabels(x)["app.kubernetes.io/name"] === "mcp-gateway")) {
      expect(spcFiles(wide, obj(d).metadata.name).map((f) => f.path)).toContain("REDIS_URL");
      expect((podSpec(d).containers[0] as Container).env?.find((e) => e.name === "REDIS_CA_FILE")?.value).toBe("/etc/tierstack/ca/redis.pem");
    }
  });
});

describe("LiteLLM", () => {
  it("every model name the brain and the agents ask for resolves; the local ones go to the GPU box", () => {
    const cm = byName(run, "core/v1:ConfigMap", "litellm-config") as RawResource;
    const config = parse(String(obj(cm).data?.["config.yaml"])) as LitellmConfig & { router_settings: Record<string, unknown> };
    const box = builtAs(run, "tier-50").root.inference;
    for (const e of box.endpoints) {
      const m = resolveModel(config, e.litellmName);
      expect(m?.litellm_params.api_base, e.litellmName).toBe(`http://192.0.2.30:${e.port}/v1`);
    }
    for (const name of ["local", "cloud", "local/qwen3-32b", "local/llama-3.1-8b-instruct", "openai/gpt-4.1-mini", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "meta-llama/llama-3.1-8b-instruct"]) {
      expect(resolveModel(config, name), name).toBeDefined();
    }
    expect(config.general_settings.master_key).toBe("os.environ/LITELLM_MASTER_KEY");
    expect(config.router_settings).toMatchObject({ redis_host: "os.environ/REDIS_HOST", redis_password: "os.environ/REDIS_PASSWORD" });
    const files = (parse((obj(byName(run, "SecretProviderClass", "litellm-secrets") as RawResource).spec as { parameters: { secrets: string } }).parameters.secrets) as { path: string }[]).map((f) => f.path);
    expect(files.sort()).toEqual(["LITELLM_MASTER_KEY", "OPENROUTER_API_KEY", "REDIS_PASSWORD"]);
    expect(obj(byName(wide, "apps/v1:Deployment", "litellm") as RawResource).spec.replicas).toBe(2);
  });
});

describe("NetworkPolicies against the flow table (catalog/flows.ts)", () => {
  const ns = namespaceName;
  type Dest = { label: string; target: Target; endpoint: Endpoint | "other" };
  type Src = { label: string; pod: PodRef; source: Source | "other" };
  interface Where {
    inferencePorts: number[];
    mcpServers: { host: string; port: number }[];
  }

  const psa = `${addressRanges.privateServices.address}/${addressRanges.privateServices.prefixLength}`;
  const subnet = "10.10.0.0/24";
  const ipLiteral = /^\d{1,3}(\.\d{1,3}){3}$/;
  const inInternet = (ip: string) => cidrContains(internetBlock.cidr, ip) && !internetBlock.except.some((c) => cidrContains(c, ip));

  /** Is (destination, port) inside endpoint `e` as the stack places it? */
  function within(e: Endpoint, d: Dest, port: number, portRef: number | "inference" | "mcp-servers", where: Where): boolean {
    const portOk = portRef === "inference" ? where.inferencePorts.includes(port) : portRef === "mcp-servers" ? true : portRef === port;
    if (!portOk) return false;
    if ((workloads as readonly string[]).includes(e)) return d.endpoint === e;
    const ip = d.target.kind === "ip" ? d.target.ip : undefined;
    switch (e) {
      case "kube-dns":
        return d.endpoint === "kube-dns";
      case "postgres":
      case "redis":
        return ip !== undefined && cidrContains(psa, ip);
      case "gpu-box":
        return ip !== undefined && cidrContains(subnet, ip);
      case "internet":
        return ip !== undefined && inInternet(ip);
      case "mcp-servers":
        return ip !== undefined && where.mcpServers.some((t) => t.port === port && (ipLiteral.test(t.host) ? t.host === ip : inInternet(ip)));
      case "metadata":
        return false;
    }
    return false;
  }

  function expected(s: Src, d: Dest, port: number, protocol: "TCP" | "UDP", where: Where): boolean {
    return flows.some((f) => f.from === s.source && f.ports.some((p) => p.protocol === protocol && within(f.to, d, port, p.port, where)));
  }

  function whereOf(p: PlanRun, shardMap: string): Where {
    return { inferencePorts: builtAs(p, "tier-50").root.inference.endpoints.map((e) => e.port), mcpServers: mcpServerTargets(shardMap) };
  }

  function universe(p: PlanRun, where: Where): { sources: Src[]; ourPods: Dest[]; dests: Dest[]; ports: number[] } {
    const pods: Src[] = workloadsOf(p).map((w) => ({ label: obj(w).metadata.name, pod: { namespace: ns, labels: podLabels(w) }, source: podLabels(w)["app.kubernetes.io/name"] as Workload }));
    const ourPods: Dest[] = pods.map((s) => ({ label: s.label, target: { kind: "pod", pod: s.pod } as Target, endpoint: s.source as Workload }));
    const sources: Src[] = [
      ...pods,
      { label: "gmp collector", pod: { namespace: "gmp-system", labels: { "app.kubernetes.io/name": "collector" } }, source: "metrics-collector" },
      { label: "pod elsewhere", pod: { namespace: "default", labels: { app: "other" } }, source: "other" },
    ];
    const dests: Dest[] = [
      ...ourPods,
      { label: "kube-dns", target: { kind: "pod", pod: { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } } }, endpoint: "kube-dns" },
      { label: "pod elsewhere", target: { kind: "pod", pod: { namespace: "default", labels: { app: "other" } } }, endpoint: "other" },
      { label: "cloud sql", target: { kind: "ip", ip: "10.40.0.3" }, endpoint: "postgres" },
      { label: "memorystore", target: { kind: "ip", ip: "10.40.1.4" }, endpoint: "redis" },
      { label: "gpu box", target: { kind: "ip", ip: "10.10.0.7" }, endpoint: "gpu-box" },
      { label: "internet", target: { kind: "ip", ip: "1.1.1.1" }, endpoint: "internet" },
      { label: "internet 2", target: { kind: "ip", ip: "142.250.64.78" }, endpoint: "internet" },
      { label: "another private address", target: { kind: "ip", ip: "172.20.0.5" }, endpoint: "other" },
      ...where.mcpServers.filter((t) => ipLiteral.test(t.host)).map((t) => ({ label: `mcp server ${t.host}`, target: { kind: "ip", ip: t.host } as Target, endpoint: "mcp-servers" as const })),
      ...metadataAddresses.map((m) => ({ label: `metadata ${m.ip}`, target: { kind: "ip", ip: m.ip } as Target, endpoint: "metadata" as const })),
    ];
    const ports = [...new Set([
      ...Object.values(workloadPorts).flatMap((w) => [w.serve, w.metrics, w.health]),
      ...flows.flatMap((f) => f.ports.map((x) => x.port)).filter((x): x is number => typeof x === "number"),
      ...where.inferencePorts, ...where.mcpServers.map((t) => t.port), ...metadataAddresses.map((m) => m.port), 22, 9999,
    ].filter((x): x is number => x !== undefined))].sort((a, b) => a - b);
    return { sources, ourPods, dests, ports };
  }

  /** Every disagreement between the policies and the table. Sources outside the namespace are checked at our pods only (their own egress is not ours to restrict). */
  function mismatches(p: PlanRun, shardMap: string, policies: readonly PolicyLike[]): string[] {
    const where = whereOf(p, shardMap);
    const { sources, ourPods, dests, ports } = universe(p, where);
    const out: string[] = [];
    for (const s of sources) {
      for (const d of s.pod.namespace === ns ? dests : ourPods) {
        for (const port of ports) {
          for (const protocol of ["TCP", "UDP"] as const) {
            const got = connectionAllowed(policies, s.pod, d.target, port, protocol);
            const want = s.source !== "other" && expected(s, d, port, protocol, where);
            if (got !== want) out.push(`${s.label} -> ${d.label}:${port}/${protocol}: ${got ? "allowed" : "denied"}, table says ${want ? "allowed" : "denied"}`);
          }
        }
      }
    }
    return out;
  }

  const declared = (p: PlanRun) => ofType(p, ":NetworkPolicy").map((r) => r.inputs as unknown as PolicyLike);
  const referenceText = JSON.stringify(referenceMap);

  it("docs/architecture.md draws every flow of the table", () => {
    const doc = readFileSync(join(repoRoot, "docs", "architecture.md"), "utf8");
    const section = doc.slice(doc.indexOf("### Network flows on the cluster tiers"), doc.indexOf("`pulumi up` declares all of this per stack"));
    // One arrow per segment: "<from> ---> <to> :<port> …", segments four spaces apart.
    const segments = section.split("\n").flatMap((l) => l.trim().split(/ {4,}/));
    const label: Record<string, string> = { postgres: "Cloud SQL", redis: "Memorystore", "gpu-box": "GPU box", internet: "internet", "mcp-servers": "MCP servers", "kube-dns": "kube-dns", "metrics-collector": "Managed Prometheus collectors" };
    const name = (e: string) => label[e] ?? e;
    const missing = flows.filter((f) => {
      const from = f.to === "kube-dns" ? "every pod" : name(f.from);
      const ports = f.from === "metrics-collector" && f.to !== "cloudflared" ? [] : f.ports.flatMap((p) => (typeof p.port === "number" ? [`:${p.port}`] : p.port === "inference" ? builtAs(run, "tier-50").root.inference.endpoints.map((e) => `:${e.port}`) : []));
      return !segments.some((seg) => {
        const [left = "", right = ""] = seg.split(" ---> ");
        return left.startsWith(from) && right.includes(name(f.to)) && ports.every((p) => right.includes(p));
      });
    });
    expect(missing.map((f) => `${f.from} -> ${f.to}`)).toEqual([]);
  });

  it("the flow table is sound", () => {
    expect(flowTableProblems(flows)).toEqual([]);
    expect(flowTableProblems([...flows, { from: "brain", to: "metadata", ports: [{ port: 80, protocol: "TCP" }], why: "x" }])).toHaveLength(1);
  });

  it("the declared policies allow exactly the table's flows over every (source, destination, port, protocol)", () => {
    expect(mismatches(run, referenceText, declared(run))).toEqual([]);
    expect(mismatches(wide, wideMap, declared(wide))).toEqual([]);
  });

  it("no pod reaches the metadata server", () => {
    for (const w of workloadsOf(run)) {
      for (const m of metadataAddresses) expect(connectionAllowed(declared(run), { namespace: ns, labels: podLabels(w) }, { kind: "ip", ip: m.ip }, m.port, "TCP")).toBe(false);
    }
  });

  it("an allow-all policy fails the comparison (the check is real)", () => {
    const allowAll: PolicyLike = { metadata: { namespace: ns, name: "allow-all" }, spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"], ingress: [{}], egress: [{}] } };
    const found = mismatches(run, referenceText, [...declared(run), allowAll]);
    expect(found.length).toBeGreaterThan(100);
    expect(found).toContain("brain -> metadata 169.254.169.254:80/TCP: allowed, table says denied");
    // Dropping one policy fails it too: its workload loses its flows.
    const withoutBrain = declared(run).filter((x) => x.metadata?.name !== "allow-brain");
    expect(mismatches(run, referenceText, withoutBrain)).toContain("brain -> litellm:4000/TCP: denied, table says allowed");
  });
});

describe("schemas", () => {
  it("every Kubernetes object validates against its kind's schema (kubernetes-models; CRDs for PodMonitoring and SecretProviderClass)", () => {
    expect(k8sSchemaProblems(run.raw)).toEqual([]);
    expect(k8sSchemaProblems(wide.raw)).toEqual([]);
  });

  it("the schema check finds wrong types, unknown CRD fields and unknown kinds (the check is real)", () => {
    const d = byName(run, "apps/v1:Deployment", "brain") as RawResource;
    const m = ofType(run, "PodMonitoring")[0] as RawResource;
    const spc = ofType(run, "SecretProviderClass")[0] as RawResource;
    const broken: RawResource[] = [
      { ...d, inputs: { ...d.inputs, spec: { ...(d.inputs.spec as object), replicas: "two" } } },
      { ...m, inputs: { ...m.inputs, spec: { ...(m.inputs.spec as object), endpoint: [] } } },
      { ...spc, inputs: { ...spc.inputs, spec: { provider: "gke", parameters: { secrets: 7 } } } },
      { type: "kubernetes:example.com/v1:Widget", name: "w", inputs: { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } } },
    ];
    const problems = k8sSchemaProblems(broken);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/brain-deploy: .*replicas must be integer/);
    expect(problems[1]).toMatch(/endpoint/);
    expect(problems[2]).toMatch(/secrets must be string/);
    expect(problems[3]).toMatch(/no schema for example\.com\/v1 Widget/);
  });

  it("every provider input key, Kubernetes objects included, is declared by the installed providers", () => {
    expect(schemaProblems(run.raw)).toEqual([]);
    expect(schemaProblems(wide.raw)).toEqual([]);
    const customKinds = ["kubernetes:monitoring.googleapis.com/v1:PodMonitoring", "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass"];
    const types = [...new Set(run.raw.map((r) => r.type).filter((t) => !t.startsWith("tierstack:") && !customKinds.includes(t)))].sort();
    expect(checkedTypes(run.raw)).toEqual(types);
    const d = byName(run, "apps/v1:Deployment", "brain") as RawResource;
    const spec = d.inputs.spec as { template: { spec: PodSpec } };
    const container = { ...(spec.template.spec.containers[0] as object), readinesProbe: {} };
    const broken = { ...d, inputs: { ...d.inputs, spec: { ...spec, template: { ...spec.template, spec: { ...spec.template.spec, containers: [container] } } } } };
    expect(schemaProblems([broken]).map((p) => p.path)).toEqual(["spec.template.spec.containers[0].readinesProbe"]);
  });
});

describe("tier-50 configuration errors: one clear line each", () => {
  const errorOf = (overrides: Record<string, string>) => configErrorOf("tier-50", overrides);

  const cases: { what: string; overrides: Record<string, string>; match: RegExp }[] = [
    { what: "a size outside the catalogue's range", overrides: { "tierstack:gatewayShards": "5" }, match: /tierstack:gatewayShards = "5" is outside what the tier allows; accepted: 2-4 shards on tier tier-50/ },
    { what: "more gateway replicas than the tier allows", overrides: { "tierstack:gatewayReplicas": "3" }, match: /tierstack:gatewayReplicas = "3" .*accepted: 1-2 replicas per shard on tier tier-50/ },
    { what: "a shard map leaving a shard without a namespace", overrides: { "tierstack:gatewayShards": "4" }, match: /tierstack:gatewayShards = 4 leaves 1 gateway shard\(s\) without a namespace; accepted: at most 3 shard\(s\) for the namespaces of tierstack:gatewayShardMap \(commerce, dev-tools, search\)/ },
    { what: "a shard map without any namespace", overrides: { "tierstack:gatewayShardMap": "{}" }, match: /tierstack:gatewayShardMap = "\{\}" is not valid \(no namespaces: at least one is required\)/ },
    { what: "a subnet overlapping the cluster's ranges", overrides: { "tierstack:subnetCidr": "10.32.0.0/24" }, match: /tierstack:subnetCidr = "10.32.0.0\/24" overlaps the tier's pods range 10.32.0.0\/17; accepted:/ },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const message = await errorOf(c.overrides);
      expect(message.split("\n")).toHaveLength(1);
      expect(message).toMatch(c.match);
      expect(message).toContain("accepted");
    });
  }
});
