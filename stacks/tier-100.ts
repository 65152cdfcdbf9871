/**
 * The tier-100 composition: tier-50's parts at the next size, composed directly from the same
 * components (stacks/tier-50.ts is left as it is, so its URNs cannot move):
 * - a REGIONAL GKE cluster whose platform pools span three zones (nodeLocations on the cluster
 *   and on each pool, set through a transformation of GkeCluster's resources);
 * - Cloud SQL PostgreSQL REGIONAL (standby in a second zone) with point-in-time recovery, and
 *   Memorystore Redis STANDARD_HA, over private services access;
 * - NATS JetStream as a cluster of `natsNodes` (3 or 5) servers (components/nats/NatsCluster),
 *   the task queue's stream created with min(natsNodes, 3) replicas (NATS_STREAM_REPLICAS);
 * - gateway shards × replicas behind their Services with sessions in Redis, the federated
 *   gateway, LiteLLM × N behind a ClusterIP Service (the brain) and an internal passthrough load
 *   balancer for the VPC, its limits in Redis; the brain and the task queue with several replicas;
 * - the dedicated inference pool (gpu-node/InferenceNode: tainted GPU nodes, one vLLM Deployment
 *   per model) that LiteLLM calls before the cloud fallback; every other workload selects the
 *   services pool and tolerates none of its taints;
 * - the NetworkPolicies of the flow table (with the NATS routes), the secrets in Secret Manager
 *   (ADR 0004), and the same Cloudflare tunnel, DNS and Access as tier-50;
 * - the learner sandboxes (ADR 0036): a GKE Sandbox (gVisor) pool from 0 nodes beside the
 *   platform pools, the managed Agent Sandbox add-on, the learner runtime's SandboxTemplate and
 *   SandboxWarmPool in the learners' namespace, the sandbox flow table's NetworkPolicies and the
 *   brain's RBAC for its SandboxClaims (components/k8s/agent-sandbox/); the brain, alone of the
 *   platform's pods, gets a short-lived Kubernetes API token (a projected volume) and an egress
 *   flow to the control plane's private endpoint on 443, and runs BRAIN_SANDBOX_RUNTIME=kubernetes
 *   on the template's warm pool (`brainSandboxEnv`).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { clusterFlows, controlPlaneFlow, migrationFlows, sandboxFlows, workloadPorts, type Flow, type Workload } from "../catalog/flows.js";
import { natsStreamEnv } from "../catalog/nats.js";
import {
  agentSandboxMinMasterVersion, gvisorRuntimeClass, gvisorToleration, learnerDir, learnerPodLabels, learnerRuntimeCommand, learnerRuntimeImageKey,
  learnerRuntimePort, learnerTemplateName, learnerWarmPoolName, sandboxNamespace, sandboxPoolName,
} from "../catalog/sandbox.js";
import type { SecretName } from "../catalog/secrets.js";
import { environmentProblems, plainEnv, secretEnv, type ServiceWiring } from "../catalog/service-env.js";
import { dataPlaneCaFiles, services, serviceWritablePaths, type ServiceName } from "../catalog/services.js";
import { ConfigError, type StackConfig } from "../config/config.js";
import { AccessGate } from "../components/access.js";
import { ImageRegistry } from "../components/artifact-registry.js";
import { GkeCluster, poolLabel } from "../components/gke-cluster.js";
import { LearnerSandboxes } from "../components/k8s/agent-sandbox/learner-sandboxes.js";
import { internetBlock, NetworkPolicies, type FlowAddresses } from "../components/k8s/network-policies.js";
import { labelKeys, secretsMountPath, ServiceDeployment, type SecretFile, type ServiceDeploymentArgs } from "../components/k8s/service-deployment.js";
import { NatsCluster } from "../components/nats/nats-cluster.js";
import { PlatformNetwork } from "../components/network.js";
import { PostgresDatabase, type PostgresClient } from "../components/postgres.js";
import { PrivateServices } from "../components/private-services.js";
import { RedisCache } from "../components/redis.js";
import { CloudflareTunnel } from "../components/tunnel.js";
import { InferenceNode } from "../gpu-node/inference-node.js";
import { tierLitellmConfig } from "../gpu-node/litellm.js";
import { accountId, cidrsOverlap, workloadSelector } from "./tier-50.js";
import { tier50Edge } from "./tier-50/edge.js";
import { assignGatewayShards, federatedGatewayName, mcpServerTargets, type GatewayShard } from "./tier-50/gateway.js";
import { Tier50Secrets, tier50SecretId, type Tier50SecretName } from "./tier-50/secrets.js";
import { natsLeafRoleNow } from "./migration.js";
import { tier50NatsLeafUrl } from "./tier-50/nats.js";
import { addressRanges, cpuTarget, namespaceName, releaseChannel, runAs, servicesPool } from "./tier-50/shape.js";
import { clusterZones, inferenceBounds, natsShape, nodePools, postgresTier, redisMemoryGb, sandboxPool, workloadShapes } from "./tier-100/shape.js";
import { stackBudget } from "./budget.js";

export interface Tier100Args {
  config: StackConfig;
  /** Config secrets by config key (pulumi.Config.requireSecret). */
  configSecrets: Record<string, pulumi.Output<string>>;
}

/** GKE's annotation for an internal passthrough Network Load Balancer (https://cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters). */
export const internalLoadBalancerAnnotation = { "networking.gke.io/load-balancer-type": "Internal" } as const;
export const litellmInternalName = "litellm-internal";
/**
 * Not "nats": during tier-50 → tier-100 both tiers' NATS run side by side in the one namespace,
 * and tier-50's node already has the StatefulSet and Service named nats (and its selector).
 */
export const natsClusterName = "nats-cluster";

/** Labels of the vLLM pods of the inference pool (gpu-node/inference-node.ts). */
export const vllmSelector = { [labelKeys.app]: "vllm", [labelKeys.partOf]: "tierstack" } as const;

/**
 * Tier-100's flow table: the shared table with the NATS routes and the brain's flow to the
 * control plane (its SandboxClaims), without tier-50's GPU box (the local models run as vLLM pods
 * in the cluster; LiteLLM's egress to them is `litellmInferencePolicy` and their ingress
 * InferenceNode's own policy).
 */
export function tier100Flows(natsNodes: number): readonly Flow[] {
  return [...clusterFlows(natsNodes).filter((f) => f.to !== "gpu-box"), controlPlaneFlow];
}

/**
 * The brain's placement on tier-100 (services/brain/src/sandbox/index.ts openPlacement): its
 * dedicated learners in SandboxClaims on the template's warm pool, in the learners' namespace,
 * the learner runtime's channel on its port; the learners' files in the brain's PostgreSQL.
 */
export const brainSandboxEnv = {
  BRAIN_SANDBOX_RUNTIME: "kubernetes",
  BRAIN_SANDBOX_NAMESPACE: sandboxNamespace,
  BRAIN_SANDBOX_WARM_POOL: learnerWarmPoolName,
  BRAIN_SANDBOX_PORT: String(learnerRuntimePort),
} as const;

/** The brain's Kubernetes API token lives 10 minutes, the API's shortest (the kubelet renews it). */
export const brainTokenExpirationSeconds = 600;

function redisSecretKeys(service: ServiceName): Record<string, Tier50SecretName> {
  // The brain's send-rate bucket and the gateway's session registry (gatewayAffinity redis-session).
  if (service === "brain" || service === "mcp-gateway") return { REDIS_URL: "redis-url" };
  return {};
}

export class Tier100 extends pulumi.ComponentResource {
  readonly network: PlatformNetwork;
  readonly cluster: GkeCluster;
  readonly zones: string[];
  readonly postgres: PostgresDatabase;
  readonly redis: RedisCache;
  readonly images: ImageRegistry;
  readonly inference: InferenceNode;
  readonly nats: NatsCluster;
  readonly secrets: Tier50Secrets;
  readonly workloads: Record<string, ServiceDeployment> = {};
  readonly namespace = namespaceName;
  readonly gatewayShards: GatewayShard[];
  readonly policies: NetworkPolicies;
  readonly litellmInferencePolicy: k8s.networking.v1.NetworkPolicy;
  readonly litellmInternal: k8s.core.v1.Service;
  readonly flows: readonly Flow[];
  readonly publicHostnames: string[];
  readonly privateHostnames: string[];
  readonly tunnelId: pulumi.Output<string>;
  readonly litellmConfigYaml: string;
  readonly sandboxes: LearnerSandboxes;
  /** The control plane's private endpoint: the one address the brain's API flow may reach. */
  readonly controlPlaneEndpoint: pulumi.Output<string>;

  constructor(name: string, args: Tier100Args, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:tier:Tier100", name, {}, opts);
    const cfg = args.config;
    const parent = { parent: this };
    const labels = { platform: "tierstack", stack: cfg.stack, tier: cfg.tier.name };
    const networkTag = `tierstack-${cfg.stack}`;
    const psaCidr = `${addressRanges.privateServices.address}/${addressRanges.privateServices.prefixLength}`;
    for (const [what, cidr] of [["pods", addressRanges.pods.ipCidrRange], ["services", addressRanges.services.ipCidrRange], ["private services access", psaCidr]] as const) {
      if (cidrsOverlap(cfg.subnetCidr, cidr)) {
        throw new ConfigError(`tierstack:subnetCidr = "${cfg.subnetCidr}" overlaps the tier's ${what} range ${cidr}; accepted: an IPv4 CIDR outside ${addressRanges.pods.ipCidrRange}, ${addressRanges.services.ipCidrRange} and ${psaCidr}`);
      }
    }
    // Config errors first, before anything is declared.
    this.gatewayShards = assignGatewayShards(cfg.gatewayShardMap, cfg.sizes.gatewayShards);
    if (cfg.tier.subsystems.gatewayAffinity !== "redis-session") throw new Error(`${cfg.tier.name}: gateway replicas need the Redis session registry (catalog/tiers.ts gatewayAffinity)`);
    const gpu = cfg.machine.gpu;
    if (!gpu) throw new Error(`${cfg.tier.name}: machine type ${cfg.machineType} carries no GPU`);
    if (!cfg.tier.subsystems.learnerPool) throw new Error(`${cfg.tier.name}: the tier catalogue must ask for the learner pool`);
    this.zones = clusterZones(cfg.region, cfg.zone);
    // During tier-50 → tier-100 (expand to cut-over) this cluster's NATS is a leaf node of
    // tier-50's: its JetStream in domain tier100, a leaf remote to tier-50's node through that
    // node's Service, and the leaf flow in the policies (catalog/nats.ts, catalog/flows.ts).
    const natsRole = natsLeafRoleNow("tier-100");
    this.flows = natsRole ? migrationFlows(tier100Flows(cfg.sizes.natsNodes)) : tier100Flows(cfg.sizes.natsNodes);

    // ---- network, private services access, data plane
    this.network = new PlatformNetwork(`${name}-net`, {
      region: cfg.region,
      subnetCidr: cfg.subnetCidr,
      targetTag: networkTag,
      secondaryRanges: [addressRanges.pods, addressRanges.services],
    }, parent);
    const psa = new PrivateServices(`${name}-psa`, {
      network: this.network.network.id,
      address: addressRanges.privateServices.address,
      prefixLength: addressRanges.privateServices.prefixLength,
    }, parent);
    const privateServices = { rangeName: psa.rangeName, dependsOn: psa.dependsOn };

    const shapes = workloadShapes;
    const surge = 1;
    const gatewayDeployments = this.gatewayShards.length + 1;
    const clients: PostgresClient[] = [
      { service: "task-queue", maxReplicas: shapes["task-queue"].maxReplicas + surge, poolSize: 10 + 1 + 4 },
      // The store's 16 + 6, and the learner files' vault (services/brain/src/sandbox/pg-vault.ts) 2.
      { service: "brain", maxReplicas: shapes.brain.maxReplicas + surge, poolSize: 16 + 6 + 2 },
      { service: "mcp-gateway", maxReplicas: gatewayDeployments * (cfg.sizes.gatewayReplicas + surge), poolSize: 4 },
    ];
    if (!cfg.tier.subsystems.storeHa) throw new Error(`${cfg.tier.name}: the tier catalogue must ask for PostgreSQL HA`);
    this.postgres = new PostgresDatabase(`${name}-pg`, {
      region: cfg.region,
      network: this.network.network.id,
      privateServices,
      tier: postgresTier,
      diskSizeGb: cfg.sizes.dataDiskGb,
      highAvailability: true,
      databases: ["task-queue", "brain"],
      clients,
      caFile: dataPlaneCaFiles.postgres,
      backup: { startTime: cfg.snapshotStartTime, retainedBackups: cfg.sizes.snapshotRetentionDays, transactionLogRetentionDays: 7 },
      labels,
    }, parent);
    if (cfg.tier.subsystems.redisTier !== "standard") throw new Error(`${cfg.tier.name}: the tier catalogue must ask for Redis standard (HA)`);
    this.redis = new RedisCache(`${name}-redis`, {
      region: cfg.region,
      network: this.network.network.id,
      privateServices,
      tier: "STANDARD_HA",
      memorySizeGb: redisMemoryGb,
      labels,
    }, parent);

    // ---- the regional cluster; its platform pools in three zones
    const zones = this.zones;
    const inZones: pulumi.ResourceTransformation = (t) =>
      t.type === "gcp:container/cluster:Cluster" || t.type === "gcp:container/nodePool:NodePool" ? { props: { ...t.props, nodeLocations: zones }, opts: t.opts } : undefined;
    this.cluster = new GkeCluster(`${name}-gke`, {
      project: cfg.project,
      location: cfg.region,
      clusterName: `tierstack-${cfg.stack}`,
      network: this.network.network.id,
      subnetwork: this.network.subnet.id,
      podsRangeName: addressRanges.pods.rangeName,
      servicesRangeName: addressRanges.services.rangeName,
      authorizedNetworks: [{ cidrBlock: cfg.subnetCidr, displayName: "platform subnet" }],
      releaseChannel,
      nodeAccountId: accountId(cfg.stack, "nodes"),
      nodeTag: networkTag,
      pools: [...nodePools(cfg.sizes.natsNodes), sandboxPool(cfg.sandbox)],
      agentSandbox: { minMasterVersion: agentSandboxMinMasterVersion },
      labels,
    }, { parent: this, transformations: [inZones] });
    this.images = new ImageRegistry(`${name}-images`, {
      project: cfg.project,
      location: cfg.region,
      repositoryId: `tierstack-${cfg.stack}`.slice(0, 63).replace(/-+$/, ""),
      keepRecent: 10,
      deleteUntaggedAfterDays: 14,
      readers: [pulumi.interpolate`serviceAccount:${this.cluster.nodeServiceAccount.email}`],
      labels,
    }, parent);
    const provider = this.cluster.provider;
    const namespace = new k8s.core.v1.Namespace(`${name}-ns`, {
      metadata: {
        name: namespaceName,
        labels: {
          [labelKeys.partOf]: "tierstack",
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    }, { parent: this, provider });

    // ---- the dedicated inference pool (GPUs are zonal: the configured zone)
    const inferenceNodes = cfg.sizes.gpus / gpu.count;
    this.inference = new InferenceNode(`${name}-inference`, {
      stack: cfg.stack,
      cluster: this.cluster.cluster.id,
      location: cfg.region,
      project: cfg.project,
      zones: [cfg.zone],
      machineType: cfg.machineType,
      gpu,
      gpus: cfg.sizes.gpus,
      ...inferenceBounds(inferenceNodes),
      nodeServiceAccountEmail: this.cluster.nodeServiceAccount.email,
      provider,
      namespace: namespaceName,
      clients: [{ podLabels: workloadSelector("litellm") }],
      labels,
    }, { parent: this, dependsOn: [namespace] });

    // ---- edge
    const svcUrl = (svc: string, port: number) => `http://${svc}.${namespaceName}.svc.cluster.local:${port}`;
    const edge = tier50Edge(cfg.domain, this.gatewayShards, {
      services: {
        "task-queue": svcUrl("task-queue", services["task-queue"].port),
        "mcp-gateway": svcUrl(federatedGatewayName, services["mcp-gateway"].port),
        brain: svcUrl("brain", services.brain.port),
      },
      shards: Object.fromEntries(this.gatewayShards.map((s) => [s.name, svcUrl(s.name, services["mcp-gateway"].port)])),
    });
    const tunnel = new CloudflareTunnel(`${name}-edge`, {
      accountId: cfg.cloudflareAccountId,
      zoneId: cfg.cloudflareZoneId,
      tunnelName: `tierstack-${cfg.stack}`,
      ingresses: edge.ingresses,
    }, parent);
    const routes = edge.routes;
    const hostsWhere = (pick: (r: (typeof routes)[number]) => boolean) => [...new Set(routes.filter(pick).map((r) => r.hostname))];
    this.privateHostnames = hostsWhere((r) => r.access);
    this.publicHostnames = hostsWhere((r) => !r.access);
    const access = new AccessGate(`${name}-access`, {
      accountId: cfg.cloudflareAccountId,
      appName: `tierstack ${cfg.stack}`,
      agentHostnames: hostsWhere((r) => r.access && r.serviceToken),
      operatorHostnames: hostsWhere((r) => r.access && !r.serviceToken),
      emails: cfg.accessEmails,
    }, parent);
    if (!access.clientId || !access.clientSecret) throw new Error("Tier100: no agent hostnames, so no Access service token");
    this.tunnelId = tunnel.tunnelId;

    // ---- secrets (Secret Manager only; docs/adr/0004-tier-50-secrets-path.md)
    const configSecret = (key: string): pulumi.Output<string> => {
      const v = args.configSecrets[key];
      if (!v) throw new Error(`Tier100: config secret ${key} missing`);
      return v;
    };
    const pgUrl = (service: string) => {
      const url = this.postgres.databaseUrls[service];
      if (!url) throw new Error(`Tier100: no database URL for ${service}`);
      return url;
    };
    this.secrets = new Tier50Secrets(`${name}-secrets`, {
      stack: cfg.stack,
      values: {
        "task-queue-database-url": pgUrl("task-queue"),
        "brain-database-url": pgUrl("brain"),
        "whatsapp-app-secret": configSecret("whatsappAppSecret"),
        "whatsapp-access-token": configSecret("whatsappAccessToken"),
        "stripe-secret-key": configSecret("stripeSecretKey"),
        "stripe-webhook-secret": configSecret("stripeWebhookSecret"),
        "openrouter-api-key": configSecret("openrouterApiKey"),
        "cloudflared-tunnel-token": tunnel.token,
        "agents-access-client-id": access.clientId,
        "agents-access-client-secret": access.clientSecret,
        "redis-url": this.redis.url,
        "redis-auth": this.redis.authString,
      },
    }, parent);
    const secretFile = (file: string, secret: Tier50SecretName): SecretFile => ({
      file,
      secretId: tier50SecretId(cfg.stack, secret),
      resource: this.secrets.secrets[secret].id,
    });
    const caDir = dataPlaneCaFiles.postgres.slice(0, dataPlaneCaFiles.postgres.lastIndexOf("/"));
    if (!dataPlaneCaFiles.redis.startsWith(`${caDir}/`)) throw new Error("Tier100: the data plane's CA files must share one directory");
    const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);
    const caFiles = { [baseName(dataPlaneCaFiles.postgres)]: this.postgres.serverCaPem, [baseName(dataPlaneCaFiles.redis)]: this.redis.serverCaPem };

    // ---- NATS JetStream cluster
    this.nats = new NatsCluster(natsClusterName, {
      provider,
      namespace: namespaceName,
      nodes: cfg.sizes.natsNodes,
      image: this.imageRef(cfg, "natsImage"),
      storage: { ...natsShape.storage },
      resources: { ...natsShape.resources },
      runAs: runAs.nats,
      nodeSelector: { [poolLabel]: servicesPool },
      ...(natsRole?.side === "target" ? { migration: { jetStreamDomain: natsRole.domain, leafRemotes: [tier50NatsLeafUrl(natsRole.port)] } } : {}),
    }, { parent: this, dependsOn: [namespace] });

    // ---- workloads
    const common = (w: string, what: string) => ({
      provider,
      namespace: namespaceName,
      identity: { project: cfg.project, accountId: accountId(cfg.stack, what), displayName: `tierstack ${cfg.stack} ${w}`, workloadPool: this.cluster.workloadPool },
      nodeSelector: { [poolLabel]: servicesPool },
    });
    const deploy = (workload: string, a: Omit<ServiceDeploymentArgs, "provider" | "namespace" | "identity" | "nodeSelector">, what: string) => {
      const sd = new ServiceDeployment(workload, { ...common(workload, what), ...a }, { parent: this, dependsOn: [namespace] });
      this.workloads[workload] = sd;
      return sd;
    };
    const url = (svc: string, port: number) => `${svc}.${namespaceName}.svc.cluster.local:${port}`;
    const wiring = (gatewayShards: string): ServiceWiring => ({
      host: "0.0.0.0",
      // Every node by its stable name: the client fails over between them without the Service.
      natsUrl: this.nats.layout.nodeUrls.join(","),
      llmBaseUrl: `http://${url("litellm", workloadPorts.litellm.serve as number)}/v1`,
      gatewayShards,
      whatsappPhoneNumberId: cfg.whatsappPhoneNumberId,
      brainWorkers: cfg.sizes.brainWorkers,
      extra: {
        "task-queue": natsStreamEnv(cfg.sizes.natsNodes),
        "mcp-gateway": { REDIS_CA_FILE: dataPlaneCaFiles.redis },
        brain: { REDIS_CA_FILE: dataPlaneCaFiles.redis, ...brainSandboxEnv },
      },
    });
    const serviceArgs = (service: ServiceName, gatewayShards: string, replicas: number, maxReplicas: number | undefined, extraLabels?: Record<string, string>) => {
      const spec = services[service];
      const env = plainEnv(service, wiring(gatewayShards));
      const files = [
        ...Object.values(secretEnv(service, (secret: SecretName, key) => secretFile(key, secret))),
        ...Object.entries(redisSecretKeys(service)).map(([key, secret]) => secretFile(key, secret)),
      ];
      const problems = environmentProblems(service, env, files.map((f) => f.file));
      if (problems.length > 0) throw new Error(`Tier100 ${service}: ${problems.join("; ")}`);
      const a: Omit<ServiceDeploymentArgs, "provider" | "namespace" | "identity" | "nodeSelector"> = {
        app: service,
        ...(extraLabels ? { extraLabels } : {}),
        kind: "Deployment",
        image: this.imageRef(cfg, spec.imageKey),
        command: ["node", "--import", "tsx", `services/${service}/src/server.ts`],
        ports: [{ name: "http", port: spec.port }],
        liveness: { path: spec.healthPath, port: "http" },
        readiness: { path: spec.readyPath, port: "http" },
        startupFailureThreshold: 60,
        resources: shapes[service].resources,
        replicas,
        ...(maxReplicas !== undefined ? { autoscaling: { maxReplicas, cpuUtilization: cpuTarget } } : {}),
        env,
        secrets: { project: cfg.project, files, exportAsEnv: true },
        writablePaths: [...serviceWritablePaths],
        config: { mountPath: caDir, files: caFiles },
        metrics: { port: "http", path: spec.metricsPath, interval: "30s" },
        runAs: runAs.service,
        terminationGracePeriodSeconds: 45,
      };
      return a;
    };

    // LiteLLM: the inference pool's models first, the cloud twin as fallback (ADR 0005); limits in Redis.
    const litellmPort = workloadPorts.litellm.serve as number;
    const litellmConfigDir = "/etc/litellm";
    const generated = tierLitellmConfig(this.inference.served, cfg.cloudModel);
    this.litellmConfigYaml = stringify({
      ...generated,
      router_settings: { ...generated.router_settings, redis_host: "os.environ/REDIS_HOST", redis_port: "os.environ/REDIS_PORT", redis_password: "os.environ/REDIS_PASSWORD" },
    }, { lineWidth: 0, aliasDuplicateObjects: false });
    const litellm = deploy("litellm", {
      app: "litellm",
      kind: "Deployment",
      image: this.imageRef(cfg, "litellmImage"),
      command: ["litellm", "--config", `${litellmConfigDir}/config.yaml`, "--host", "0.0.0.0", "--port", String(litellmPort)],
      ports: [{ name: "http", port: litellmPort }],
      liveness: { path: "/health/liveliness", port: "http" },
      readiness: { path: "/health/readiness", port: "http" },
      startupFailureThreshold: 90,
      resources: shapes.litellm.resources,
      replicas: cfg.sizes.litellmReplicas,
      env: {
        REDIS_HOST: this.redis.host,
        REDIS_PORT: this.redis.port.apply(String),
        REDIS_SSL: "True",
        REDIS_SSL_CA_CERTS: `${litellmConfigDir}/redis.pem`,
        HOME: "/tmp",
      },
      secrets: {
        project: cfg.project,
        files: [secretFile("LITELLM_MASTER_KEY", "litellm-master-key"), secretFile("OPENROUTER_API_KEY", "openrouter-api-key"), secretFile("REDIS_PASSWORD", "redis-auth")],
        exportAsEnv: true,
      },
      writablePaths: ["/tmp"],
      config: { mountPath: litellmConfigDir, files: { "config.yaml": this.litellmConfigYaml, "redis.pem": this.redis.serverCaPem } },
      runAs: runAs.litellm,
    }, "litellm");
    // The internal load balancer: LiteLLM's replicas at one VPC address, reachable from the platform subnet only.
    this.litellmInternal = new k8s.core.v1.Service(`${name}-litellm-ilb`, {
      metadata: { name: litellmInternalName, namespace: namespaceName, labels: litellm.podLabels, annotations: { ...internalLoadBalancerAnnotation } },
      spec: {
        type: "LoadBalancer",
        selector: { [labelKeys.app]: "litellm", [labelKeys.instance]: "litellm" },
        loadBalancerSourceRanges: [cfg.subnetCidr],
        ports: [{ name: "http", port: litellmPort, targetPort: "http", protocol: "TCP" }],
      },
    }, { parent: this, provider, dependsOn: [namespace] });

    deploy("task-queue", serviceArgs("task-queue", cfg.gatewayShardMap, shapes["task-queue"].replicas, shapes["task-queue"].maxReplicas), "task-queue");
    for (const shard of this.gatewayShards) {
      deploy(shard.name, serviceArgs("mcp-gateway", shard.shardMap, cfg.sizes.gatewayReplicas, undefined, { "tierstack.dev/gateway": "shard", "tierstack.dev/shard": String(shard.index) }), `gw-${shard.index}`);
    }
    deploy(federatedGatewayName, serviceArgs("mcp-gateway", cfg.gatewayShardMap, cfg.sizes.gatewayReplicas, undefined, { "tierstack.dev/gateway": "federated" }), "gw-federated");
    deploy("brain", { ...serviceArgs("brain", cfg.gatewayShardMap, shapes.brain.replicas, shapes.brain.maxReplicas), kubernetesApi: { tokenExpirationSeconds: brainTokenExpirationSeconds } }, "brain");

    const cloudflaredMetrics = workloadPorts.cloudflared.metrics as number;
    deploy("cloudflared", {
      app: "cloudflared",
      kind: "Deployment",
      image: this.imageRef(cfg, "cloudflaredImage"),
      command: ["cloudflared", "tunnel", "--no-autoupdate", "--metrics", `0.0.0.0:${cloudflaredMetrics}`, "run", "--token-file", `${secretsMountPath}/TUNNEL_TOKEN`],
      ports: [{ name: "metrics", port: cloudflaredMetrics }],
      liveness: { path: "/healthcheck", port: "metrics" },
      readiness: { path: "/ready", port: "metrics" },
      resources: shapes.cloudflared.resources,
      replicas: shapes.cloudflared.replicas,
      autoscaling: { maxReplicas: shapes.cloudflared.maxReplicas, cpuUtilization: cpuTarget },
      env: {},
      secrets: { project: cfg.project, files: [secretFile("TUNNEL_TOKEN", "cloudflared-tunnel-token")], exportAsEnv: false },
      writablePaths: [],
      metrics: { port: "metrics", path: "/metrics", interval: "30s" },
      runAs: runAs.cloudflared,
    }, "cloudflared");

    // ---- NetworkPolicies from the flow table, and LiteLLM's egress to the vLLM pods
    const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/;
    const mcpServers = mcpServerTargets(cfg.gatewayShardMap).map((t) =>
      ipv4.test(t.host) ? { cidr: `${t.host}/32`, port: t.port } : { cidr: internetBlock.cidr, except: [...internetBlock.except], port: t.port },
    );
    // The `kubernetes` Service's endpoint on a cluster with private nodes is the control plane's private endpoint.
    this.controlPlaneEndpoint = this.cluster.cluster.privateClusterConfig.apply((c) => {
      if (!c?.privateEndpoint) throw new Error("Tier100: the cluster reports no private endpoint; the brain's flow to the Kubernetes API needs it");
      return c.privateEndpoint;
    });
    const addresses: FlowAddresses = {
      postgres: [psaCidr], redis: [psaCidr], "gpu-box": [], inferencePorts: [], mcpServers,
      controlPlane: [this.controlPlaneEndpoint.apply((ip) => `${ip}/32`)],
    };
    const selectors = Object.fromEntries((["cloudflared", "task-queue", "mcp-gateway", "brain", "litellm", "nats"] as const).map((w) => [w, workloadSelector(w)])) as Record<Workload, Record<string, string>>;
    this.policies = new NetworkPolicies(`${name}-netpol`, {
      provider,
      namespace: namespaceName,
      flows: this.flows,
      podLabels: selectors,
      addresses,
      labels: { [labelKeys.partOf]: "tierstack" },
      dependsOn: [namespace],
    }, parent);
    const inferencePorts = [...new Set(this.inference.servers.map((s) => s.rendered.port))];
    this.litellmInferencePolicy = new k8s.networking.v1.NetworkPolicy(`${name}-netpol-allow-litellm-inference`, {
      metadata: { name: "allow-litellm-inference", namespace: namespaceName, labels: { [labelKeys.partOf]: "tierstack" } },
      spec: {
        podSelector: { matchLabels: selectors.litellm },
        policyTypes: ["Egress"],
        egress: [{ to: [{ podSelector: { matchLabels: { ...vllmSelector } } }], ports: inferencePorts.map((port) => ({ protocol: "TCP", port })) }],
      },
    }, { parent: this, provider, dependsOn: [namespace] });

    // ---- learner sandboxes: template, warm pool, policies, the brain's claims (ADR 0036)
    this.sandboxes = new LearnerSandboxes(`${name}-sandboxes`, {
      provider,
      namespace: sandboxNamespace,
      platformNamespace: namespaceName,
      templateName: learnerTemplateName,
      warmPoolName: learnerWarmPoolName,
      warmPoolSize: cfg.sandbox.warmPoolSize,
      image: this.imageRef(cfg, learnerRuntimeImageKey),
      command: learnerRuntimeCommand,
      port: learnerRuntimePort,
      learnerDir,
      resources: cfg.sandbox.resources,
      runAs: runAs.service,
      runtimeClassName: gvisorRuntimeClass,
      toleration: { ...gvisorToleration },
      nodeSelector: { [poolLabel]: sandboxPoolName },
      podLabels: { ...learnerPodLabels },
      flows: sandboxFlows,
      platformPods: { brain: selectors.brain, litellm: selectors.litellm },
      brainServiceAccount: "brain",
      labels: { [labelKeys.partOf]: "tierstack" },
      dependsOn: [namespace],
    }, parent);

    // The runtime cost guard: the billing account's admins hear of spend at the budget.
    stackBudget(name, cfg, { parent: this });
    this.registerOutputs({ cluster: this.cluster.cluster.name, tunnelId: this.tunnelId });
  }

  private imageRef(cfg: StackConfig, key: string): string {
    const ref = cfg.images[key];
    if (!ref) throw new Error(`Tier100: no image for ${key}`);
    return ref.ref;
  }
}
