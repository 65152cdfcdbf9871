/**
 * NatsCluster under Pulumi's runtime mocks: the objects it declares (recorded as the engine
 * receives them), their invariants, and every Kubernetes object validated against its kind's
 * schema (kubernetes-models 4.5.1, the Kubernetes OpenAPI schemas compiled).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ConfigMap, Service } from "kubernetes-models/v1";
import { StatefulSet } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { beforeAll, describe, expect, it } from "vitest";
import { images } from "../../catalog/images.js";
import { NatsCluster, natsClusterProblems, natsClusterServerConfig, natsProbePaths, type NatsClusterArgs } from "./nats-cluster.js";
import { renderNatsServerConfig } from "./server-config.js";

/** A recorded object's inputs, walked freely by the assertions (a wrong path fails them). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, Obj>;
}

let recorded: Recorded[] = [];
const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        recorded.push({ type: a.type, name: a.name, inputs: a.inputs as Record<string, Obj> });
        return { id: `${a.name}-id`, state: a.inputs };
      },
      call: (a) => a.inputs,
    },
    "tierstack",
    "nats-cluster-test",
    false,
  );
});

const natsImage = images.find((i) => i.key === "natsImage")?.default as string;

function argsFor(provider: k8s.Provider, over: Partial<NatsClusterArgs> = {}): NatsClusterArgs {
  return {
    provider,
    namespace: "tierstack",
    nodes: 3,
    image: natsImage,
    storage: { sizeGi: 10, storageClassName: "premium-rwo" },
    resources: { cpu: "500m", memoryMi: 1024 },
    ...over,
  };
}

/** Declares a cluster and returns what the engine received, by Kubernetes kind. */
async function declare(name: string, over: Partial<NatsClusterArgs> = {}) {
  recorded = [];
  const provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: "apiVersion: v1\nkind: Config\n" });
  const component = new NatsCluster(name, argsFor(provider, over));
  if (waitForRPCs) await waitForRPCs();
  await new Promise((r) => setImmediate(r));
  const of = (type: string) => recorded.filter((r) => r.type === type);
  const one = (type: string, n: string) => {
    const found = of(type).filter((r) => r.name === n);
    expect(found, `${type} ${n}`).toHaveLength(1);
    return (found[0] as Recorded).inputs;
  };
  return {
    component,
    all: recorded.filter((r) => r.type.startsWith("kubernetes:")),
    types: recorded.map((r) => r.type),
    sts: one("kubernetes:apps/v1:StatefulSet", `${name}-sts`),
    headless: one("kubernetes:core/v1:Service", `${name}-headless`),
    client: one("kubernetes:core/v1:Service", `${name}-svc`),
    configMap: one("kubernetes:core/v1:ConfigMap", `${name}-config`),
    pdb: one("kubernetes:policy/v1:PodDisruptionBudget", `${name}-pdb`),
  };
}

/** Does a matchLabels selector select a pod with these labels? */
const selects = (matchLabels: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(matchLabels).length > 0 && Object.entries(matchLabels).every(([k, v]) => labels[k] === v);

describe("NatsCluster (tierstack:nats:NatsCluster) under mocks", () => {
  it.each([3, 5])("%i nodes: replicas = nodes, Parallel, a volume per node, routes to every pod of the headless Service", async (nodes) => {
    const d = await declare(`nats${nodes}`, { nodes });
    expect(d.types).toContain("tierstack:nats:NatsCluster");
    expect(d.all.map((r) => r.type).sort()).toEqual([
      "kubernetes:apps/v1:StatefulSet",
      "kubernetes:core/v1:ConfigMap",
      "kubernetes:core/v1:Service",
      "kubernetes:core/v1:Service",
      "kubernetes:policy/v1:PodDisruptionBudget",
    ]);
    expect(d.sts.spec.replicas).toBe(nodes);
    expect(d.sts.spec.podManagementPolicy).toBe("Parallel");
    expect(d.sts.spec.serviceName).toBe(d.headless.metadata.name);
    expect(d.sts.spec.volumeClaimTemplates).toHaveLength(1);
    expect(d.sts.spec.volumeClaimTemplates[0].spec).toEqual({ accessModes: ["ReadWriteOnce"], storageClassName: "premium-rwo", resources: { requests: { storage: "10Gi" } } });
    const container = d.sts.spec.template.spec.containers[0];
    expect(container.volumeMounts).toContainEqual({ name: "jetstream", mountPath: "/data" });

    // The ConfigMap holds exactly the renderer's text, with a route to each pod's stable DNS name.
    const conf: string = d.configMap.data["nats.conf"];
    expect(conf).toBe(renderNatsServerConfig(natsClusterServerConfig(`nats${nodes}`, argsFor(undefined as unknown as k8s.Provider, { nodes }))));
    expect(conf).toBe(d.component.serverConfig);
    const routes = [...conf.matchAll(/"nats:\/\/([^"]+):6222"/g)].map((m) => m[1]);
    expect(routes).toEqual(Array.from({ length: nodes }, (_, i) => `nats${nodes}-${i}.${d.headless.metadata.name}.tierstack.svc.cluster.local`));
    expect(conf).toContain("server_name: $POD_NAME\n");
    expect(container.env).toContainEqual({ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } });
    expect(d.sts.spec.template.metadata.annotations["checksum/config"]).toMatch(/^[a-f0-9]{64}$/);
    expect(d.component.layout.nodeUrls).toHaveLength(nodes);
    expect(d.component.layout.clientUrl).toBe(`nats://nats${nodes}.tierstack.svc.cluster.local:4222`);
    expect(d.component.streamReplicas).toBe(3);
    expect(d.component.volumes).toEqual({ count: nodes, sizeGi: 10, storageClassName: "premium-rwo" });
  });

  it("during a migration onto it: the ConfigMap carries the JetStream domain and a leaf remote to the old side; without one, neither", async () => {
    const d = await declare("natsmig", { migration: { jetStreamDomain: "tier100", leafRemotes: ["nats-leaf://nats.tierstack.svc.cluster.local:7422"] } });
    const conf: string = d.configMap.data["nats.conf"];
    expect(conf).toContain('  domain: "tier100"\n}\n');
    expect(conf).toContain('leafnodes {\n  remotes: [\n    {\n      urls: [\n        "nats-leaf://nats.tierstack.svc.cluster.local:7422"\n');
    const plain = await declare("natsplain");
    expect(plain.configMap.data["nats.conf"]).not.toMatch(/domain|leafnodes/);
  });

  it("spreads the nodes: required anti-affinity per host, even spread over zones, both selecting the pods", async () => {
    const d = await declare("nats");
    const pod = d.sts.spec.template;
    const anti = pod.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(anti).toHaveLength(1);
    expect(anti[0].topologyKey).toBe("kubernetes.io/hostname");
    expect(selects(anti[0].labelSelector.matchLabels, pod.metadata.labels)).toBe(true);
    const spread = pod.spec.topologySpreadConstraints;
    expect(spread).toEqual([{ maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: anti[0].labelSelector.matchLabels } }]);
    expect(selects(d.sts.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
  });

  it("keeps quorum: a PodDisruptionBudget of maxUnavailable 1 over exactly the cluster's pods", async () => {
    const d = await declare("nats");
    expect(d.pdb.spec.maxUnavailable).toBe(1);
    expect(d.pdb.spec.minAvailable).toBeUndefined();
    expect(d.pdb.spec.selector.matchLabels).toEqual(d.sts.spec.selector.matchLabels);
    expect(selects(d.pdb.spec.selector.matchLabels, d.sts.spec.template.metadata.labels)).toBe(true);
    // A second cluster's pods are not counted in this budget.
    const other = await declare("events");
    expect(selects(d.pdb.spec.selector.matchLabels, other.sts.spec.template.metadata.labels)).toBe(false);
  });

  it("probes the monitoring port as the chart does, stops through lame duck, and waits longer than lame duck", async () => {
    const d = await declare("nats");
    const c = d.sts.spec.template.spec.containers[0];
    expect(c.ports).toContainEqual({ name: "monitor", containerPort: 8222, protocol: "TCP" });
    expect(c.startupProbe.httpGet).toEqual({ path: "/healthz", port: "monitor" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/healthz?js-server-only=true", port: "monitor" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz?js-enabled-only=true", port: "monitor" });
    expect([c.startupProbe.httpGet.path, c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path]).toEqual(Object.values(natsProbePaths));
    // Startup may take the chart's 15 minutes (catching up with the streams) before liveness counts.
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(900);
    expect(c.lifecycle.preStop.exec.command).toEqual(["nats-server", "-sl=ldm=/var/run/nats/nats.pid"]);
    expect(d.configMap.data["nats.conf"]).toContain('pid_file: "/var/run/nats/nats.pid"');
    expect(c.volumeMounts).toContainEqual({ name: "pid", mountPath: "/var/run/nats" });
    expect(d.sts.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(30 + 10);
  });

  it("runs restricted: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp; the image pinned", async () => {
    const d = await declare("nats");
    const spec = d.sts.spec.template.spec;
    const c = spec.containers[0];
    expect(c.image).toBe(natsImage);
    expect(c.image).toMatch(/^nats:\d+\.\d+\.\d+-alpine$/);
    expect(c.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" },
    });
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } });
    expect(spec.automountServiceAccountToken).toBe(false);
    // Everything the server writes is a volume: the store and the pid file; the configuration is read-only.
    expect(c.volumeMounts.filter((m: { readOnly?: boolean }) => !m.readOnly).map((m: { mountPath: string }) => m.mountPath).sort()).toEqual(["/data", "/var/run/nats"]);
    expect(c.resources.requests).toEqual(c.resources.limits);
  });

  it("a headless Service publishing not-ready pods for the routes, and a client Service on 4222", async () => {
    const d = await declare("nats");
    const labels = d.sts.spec.template.metadata.labels;
    expect(d.headless.spec.clusterIP).toBe("None");
    expect(d.headless.spec.publishNotReadyAddresses).toBe(true);
    expect(d.headless.spec.ports.map((p: { port: number }) => p.port)).toEqual([4222, 6222, 8222]);
    expect(d.client.spec.type).toBe("ClusterIP");
    expect(d.client.spec.ports).toEqual([{ name: "nats", port: 4222, targetPort: "nats", protocol: "TCP", appProtocol: "tcp" }]);
    for (const svc of [d.headless, d.client]) expect(selects(svc.spec.selector, labels)).toBe(true);
    const containerPorts = new Set(d.sts.spec.template.spec.containers[0].ports.map((p: { name: string }) => p.name));
    for (const svc of [d.headless, d.client]) for (const p of svc.spec.ports) expect(containerPorts.has(p.targetPort)).toBe(true);
  });

  it("client authentication comes from a Secret through the environment, never into the ConfigMap", async () => {
    const d = await declare("nats", { clientAuth: { secretName: "nats-client", userKey: "user", passwordKey: "password" } });
    const env = d.sts.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: "NATS_PASSWORD", valueFrom: { secretKeyRef: { name: "nats-client", key: "password" } } });
    expect(d.configMap.data["nats.conf"]).toContain("authorization {\n  user: $NATS_USER\n  password: $NATS_PASSWORD\n}");
  });

  it("every Kubernetes object validates against its kind's schema (kubernetes-models 4.5.1)", async () => {
    for (const over of [{}, { nodes: 5, clientAuth: { secretName: "nats-client", userKey: "u", passwordKey: "p" }, tolerations: [{ key: "pool", operator: "Equal" as const, value: "nats", effect: "NoSchedule" as const }], nodeSelector: { "tierstack.dev/pool": "nats" } }]) {
      const d = await declare("nats", over);
      const models: Record<string, new (o: Obj) => { validate(): void }> = {
        "kubernetes:apps/v1:StatefulSet": StatefulSet,
        "kubernetes:core/v1:Service": Service,
        "kubernetes:core/v1:ConfigMap": ConfigMap,
        "kubernetes:policy/v1:PodDisruptionBudget": PodDisruptionBudget,
      };
      for (const r of d.all) {
        const Model = models[r.type];
        expect(Model, r.type).toBeDefined();
        const { apiVersion, kind } = r.inputs;
        expect(`kubernetes:${apiVersion.includes("/") ? apiVersion : `core/${apiVersion}`}:${kind}`).toBe(r.type);
        expect(() => new (Model as new (o: Obj) => { validate(): void })(r.inputs).validate(), `${r.type} ${r.name}`).not.toThrow();
      }
    }
    // The check bites: a string where the schema wants an integer fails.
    const d = await declare("nats");
    expect(() => new StatefulSet({ ...d.sts, spec: { ...d.sts.spec, replicas: "3" } } as Obj).validate()).toThrow(/replicas must be integer/);
  });

  it("refuses what would break quorum, the pre-stop hook or lame duck, naming each", () => {
    const p = undefined as unknown as k8s.Provider;
    expect(natsClusterProblems("nats", argsFor(p))).toEqual([]);
    expect(natsClusterProblems("nats", argsFor(p, { nodes: 4 }))[0]).toMatch(/^nodes 4: a JetStream cluster needs an odd number of at least 3/);
    expect(natsClusterProblems("nats", argsFor(p, { nodes: 1 }))[0]).toMatch(/^nodes 1:/);
    for (const image of ["nats", "nats:latest", "nats:2.11-alpine", "nats:2.11.6"]) expect(natsClusterProblems("nats", argsFor(p, { image }))[0]).toMatch(/must be pinned to a version tag of the alpine variant/);
    expect(natsClusterProblems("nats", argsFor(p, { image: `nats:2.11.6-alpine@sha256:${"a".repeat(64)}` }))).toEqual([]);
    expect(natsClusterProblems("nats", argsFor(p, { terminationGracePeriodSeconds: 40 }))[0]).toMatch(/^terminationGracePeriodSeconds 40 must exceed lame duck's 40 s/);
    expect(natsClusterProblems("Nats", argsFor(p))[0]).toMatch(/^name "Nats" must be a DNS label/);
    expect(() => new NatsCluster("nats-bad", argsFor(p, { nodes: 2 }))).toThrow(/^NatsCluster nats-bad: nodes 2:/);
  });
});
