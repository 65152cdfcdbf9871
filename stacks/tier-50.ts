/**
 * The tier-50 composition: the platform network (with the cluster's secondary ranges), private
 * services access, Cloud SQL PostgreSQL and Memorystore Redis, the image repository, a private
 * GKE cluster, the platform namespace with its workloads (task-queue and brain on PostgreSQL with
 * several replicas, the sharded MCP gateway and its federated deployment, LiteLLM, one NATS node,
 * cloudflared ×2), the NetworkPolicies of the flow table, the secrets, and the same Cloudflare
 * tunnel, DNS and Access as the single box with origins at the in-cluster Services.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { boxNatsLeafFlow, flows, migrationFlows, workloadPorts, type Workload } from "../catalog/flows.js";
import type { SecretName } from "../catalog/secrets.js";
import { environmentProblems, plainEnv, secretEnv, type ServiceWiring } from "../catalog/service-env.js";
import { dataPlaneCaFiles, services, serviceWritablePaths, type ServiceName } from "../catalog/services.js";
import { ConfigError, type StackConfig } from "../config/config.js";
import { AccessGate } from "../components/access.js";
import { ImageRegistry } from "../components/artifact-registry.js";
import { GkeCluster, poolLabel } from "../components/gke-cluster.js";
import { internetBlock, NetworkPolicies, type FlowAddresses } from "../components/k8s/network-policies.js";
import { labelKeys, secretsMountPath, ServiceDeployment, type SecretFile, type ServiceDeploymentArgs } from "../components/k8s/service-deployment.js";
import { PlatformNetwork } from "../components/network.js";
import { PostgresDatabase, type PostgresClient } from "../components/postgres.js";
import { PrivateServices } from "../components/private-services.js";
import { RedisCache } from "../components/redis.js";
import { CloudflareTunnel } from "../components/tunnel.js";
import { InferenceBox } from "../gpu-node/inference-box.js";
import { agentRequestedModels, defaultAliases, litellmConfig, type ServedModel } from "../gpu-node/litellm.js";
import { models as localModels } from "../gpu-node/models.js";
import { brainLocalModel, openRouterModels } from "./single-box/units.js";
import { tier50Edge } from "./tier-50/edge.js";
import { assignGatewayShards, federatedGatewayName, mcpServerTargets, type GatewayShard } from "./tier-50/gateway.js";
import { Tier50Secrets, tier50SecretId, type Tier50SecretName } from "./tier-50/secrets.js";
import { addressRanges, cpuTarget, namespaceName, natsVolume, nodePools, releaseChannel, runAs, servicesPool, workloadShapes } from "./tier-50/shape.js";
import { stackBudget } from "./budget.js";
import { awaitsOldComposition, natsLeafHost, natsLeafRoleNow } from "./migration.js";
import { tier50NatsMigrationArgs } from "./tier-50/nats.js";

export interface Tier50Args {
  config: StackConfig;
  /** Config secrets by config key (pulumi.Config.requireSecret). */
  configSecrets: Record<string, pulumi.Output<string>>;
}

/** GCP service account id `ts-<stack>-<what>`, cut to 30 characters. */
export function accountId(stack: string, what: string): string {
  const head = `ts-${stack}`.slice(0, 29 - what.length).replace(/-+$/, "");
  return `${head}-${what}`;
}

function cidrRange(cidr: string): [number, number] {
  const [ip = "", bits = "32"] = cidr.split("/");
  const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const start = n - (n % size);
  return [start, start + size - 1];
}

export function cidrsOverlap(a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a);
  const [b0, b1] = cidrRange(b);
  return a0 <= b1 && b0 <= a1;
}

const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The workloads' pod selector for the NetworkPolicies: every replica and every shard. */
export function workloadSelector(w: Workload): Record<string, string> {
  return { [labelKeys.app]: w, [labelKeys.partOf]: "tierstack" };
}

/**
 * Secret environment keys of the Redis wiring the single box does not have, per service: the
 * brain's shared send-rate bucket always, the gateway's session registry when the tier keeps
 * sessions in Redis (catalog/tiers.ts gatewayAffinity).
 */
function redisSecretKeys(service: ServiceName, gatewayAffinity: string): Record<string, Tier50SecretName> {
  if (service === "brain") return { REDIS_URL: "redis-url" };
  if (service === "mcp-gateway" && gatewayAffinity === "redis-session") return { REDIS_URL: "redis-url" };
  return {};
}

export class Tier50 extends pulumi.ComponentResource {
  readonly network: PlatformNetwork;
  readonly cluster: GkeCluster;
  readonly postgres: PostgresDatabase;
  readonly redis: RedisCache;
  readonly images: ImageRegistry;
  readonly inference: InferenceBox;
  readonly secrets: Tier50Secrets;
  readonly workloads: Record<string, ServiceDeployment> = {};
  readonly namespace = namespaceName;
  readonly gatewayShards: GatewayShard[];
  readonly policies: NetworkPolicies;
  readonly publicHostnames: string[];
  readonly privateHostnames: string[];
  readonly tunnelId: pulumi.Output<string>;
  /** The LiteLLM config the ConfigMap carries (plain: keys are os.environ/ references). */
  readonly litellmConfigYaml: pulumi.Output<string>;

  constructor(name: string, args: Tier50Args, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:tier:Tier50", name, {}, opts);
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
    if (cfg.sizes.gatewayReplicas > 1 && cfg.tier.subsystems.gatewayAffinity !== "redis-session") {
      throw new Error(`${cfg.tier.name}: gateway shards with ${cfg.sizes.gatewayReplicas} replicas need the Redis session registry (catalog/tiers.ts gatewayAffinity)`);
    }

    // ---- network, private services access, data plane, images
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
      // Pool (PG_POOL_MAX) + the outbox relay's LISTEN connection + the agent-token store's pool.
      { service: "task-queue", maxReplicas: (shapes["task-queue"].maxReplicas ?? shapes["task-queue"].replicas) + surge, poolSize: 10 + 1 + 4 },
      // The store's pool and its ingest pool.
      { service: "brain", maxReplicas: (shapes.brain.maxReplicas ?? shapes.brain.replicas) + surge, poolSize: 16 + 6 },
      // Agent tokens only (the task queue's database).
      { service: "mcp-gateway", maxReplicas: gatewayDeployments * (cfg.sizes.gatewayReplicas + surge), poolSize: 4 },
    ];
    this.postgres = new PostgresDatabase(`${name}-pg`, {
      region: cfg.region,
      network: this.network.network.id,
      privateServices,
      tier: "db-custom-2-7680",
      diskSizeGb: cfg.sizes.dataDiskGb,
      highAvailability: cfg.tier.subsystems.storeHa,
      databases: ["task-queue", "brain"],
      clients,
      caFile: dataPlaneCaFiles.postgres,
      backup: { startTime: cfg.snapshotStartTime, retainedBackups: cfg.sizes.snapshotRetentionDays, transactionLogRetentionDays: 7 },
      labels,
    }, parent);
    const redisTier = cfg.tier.subsystems.redisTier;
    if (redisTier === undefined) throw new Error(`${cfg.tier.name}: the tier catalogue names no Redis tier`);
    this.redis = new RedisCache(`${name}-redis`, {
      region: cfg.region,
      network: this.network.network.id,
      privateServices,
      tier: redisTier === "standard" ? "STANDARD_HA" : "BASIC",
      memorySizeGb: 1,
      labels,
    }, parent);

    // ---- cluster
    this.cluster = new GkeCluster(`${name}-gke`, {
      project: cfg.project,
      location: cfg.zone,
      clusterName: `tierstack-${cfg.stack}`,
      network: this.network.network.id,
      subnetwork: this.network.subnet.id,
      podsRangeName: addressRanges.pods.rangeName,
      servicesRangeName: addressRanges.services.rangeName,
      authorizedNetworks: [{ cidrBlock: cfg.subnetCidr, displayName: "platform subnet" }],
      releaseChannel,
      nodeAccountId: accountId(cfg.stack, "nodes"),
      nodeTag: networkTag,
      pools: nodePools,
      labels,
    }, parent);
    this.images = new ImageRegistry(`${name}-images`, {
      project: cfg.project,
      location: cfg.region,
      repositoryId: `tierstack-${cfg.stack}`.slice(0, 63).replace(/-+$/, ""),
      keepRecent: 10,
      deleteUntaggedAfterDays: 14,
      readers: [pulumi.interpolate`serviceAccount:${this.cluster.nodeServiceAccount.email}`],
      labels,
    }, parent);
    const gpu = cfg.machine.gpu;
    if (!gpu) throw new Error(`${cfg.tier.name}: machine type ${cfg.machineType} carries no GPU`);
    this.inference = new InferenceBox(`${name}-gpu`, {
      project: cfg.project,
      stack: cfg.stack,
      region: cfg.region,
      zone: cfg.zone,
      machineType: cfg.machineType,
      gpu,
      bootDiskGb: cfg.sizes.bootDiskGb,
      network: this.network.network.id,
      subnetwork: this.network.subnet.id,
      // LiteLLM's pods (pod range) and, for probes from a node, the subnet.
      sourceRanges: [addressRanges.pods.ipCidrRange, cfg.subnetCidr],
      labels,
    }, parent);
    const provider = this.cluster.provider;
    const namespace = new k8s.core.v1.Namespace(`${name}-ns`, {
      metadata: {
        name: namespaceName,
        labels: {
          [labelKeys.partOf]: "tierstack",
          // Pod Security Admission refuses any pod that is not "restricted" in this namespace.
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    }, { parent: this, provider });

    // ---- edge: the single box's hostnames, origins at the in-cluster Services
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
    if (!access.clientId || !access.clientSecret) throw new Error("Tier50: no agent hostnames, so no Access service token");
    this.tunnelId = tunnel.tunnelId;

    // ---- secrets (Secret Manager only; docs/adr/0004-tier-50-secrets-path.md)
    const configSecret = (key: string): pulumi.Output<string> => {
      const v = args.configSecrets[key];
      if (!v) throw new Error(`Tier50: config secret ${key} missing`);
      return v;
    };
    const pgUrl = (service: string) => {
      const url = this.postgres.databaseUrls[service];
      if (!url) throw new Error(`Tier50: no database URL for ${service}`);
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
    // The data plane's CA certificates (not secrets), where the catalogue says the pods find them.
    const caDir = dataPlaneCaFiles.postgres.slice(0, dataPlaneCaFiles.postgres.lastIndexOf("/"));
    if (!dataPlaneCaFiles.redis.startsWith(`${caDir}/`)) throw new Error("Tier50: the data plane's CA files must share one directory");
    const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);
    const caFiles = { [baseName(dataPlaneCaFiles.postgres)]: this.postgres.serverCaPem, [baseName(dataPlaneCaFiles.redis)]: this.redis.serverCaPem };

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
    const imageRef = (key: string): string => {
      const ref = cfg.images[key];
      if (!ref) throw new Error(`Tier50: no image for ${key}`);
      return ref.ref;
    };
    const wiring = (gatewayShards: string): ServiceWiring => ({
      host: "0.0.0.0",
      natsUrl: `nats://${url("nats", workloadPorts.nats.serve as number)}`,
      llmBaseUrl: `http://${url("litellm", workloadPorts.litellm.serve as number)}/v1`,
      gatewayShards,
      whatsappPhoneNumberId: cfg.whatsappPhoneNumberId,
      brainWorkers: cfg.sizes.brainWorkers,
      extra: { "mcp-gateway": { REDIS_CA_FILE: dataPlaneCaFiles.redis }, brain: { REDIS_CA_FILE: dataPlaneCaFiles.redis } },
    });
    const serviceArgs = (service: ServiceName, gatewayShards: string, replicas: number, maxReplicas: number | undefined, extraLabels?: Record<string, string>) => {
      const spec = services[service];
      const env = plainEnv(service, wiring(gatewayShards));
      const files = [
        ...Object.values(secretEnv(service, (secret: SecretName, key) => secretFile(key, secret))),
        ...Object.entries(redisSecretKeys(service, cfg.tier.subsystems.gatewayAffinity)).map(([key, secret]) => secretFile(key, secret)),
      ];
      const problems = environmentProblems(service, env, files.map((f) => f.file));
      if (problems.length > 0) throw new Error(`Tier50 ${service}: ${problems.join("; ")}`);
      const a: Omit<ServiceDeploymentArgs, "provider" | "namespace" | "identity" | "nodeSelector"> = {
        app: service,
        ...(extraLabels ? { extraLabels } : {}),
        kind: "Deployment",
        image: imageRef(spec.imageKey),
        // The image's CMD (services/Dockerfile), started through the secrets wrapper.
        command: ["node", "--import", "tsx", `services/${service}/src/server.ts`],
        ports: [{ name: "http", port: spec.port }],
        liveness: { path: spec.healthPath, port: "http" },
        readiness: { path: spec.readyPath, port: "http" },
        startupFailureThreshold: 60,
        resources: (shapes[service] as { resources: ServiceDeploymentArgs["resources"] }).resources,
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

    // During a migration (expand to cut-over) the node reads a rendered configuration: its JetStream
    // domain and the leaf node connection to the other tier's NATS (stacks/tier-50/nats.ts).
    const natsRole = natsLeafRoleNow("tier-50");
    // The box's internal IP, once (the slot it comes through is taken by one reader).
    const oldNatsHost = natsRole?.side === "target" ? natsLeafHost(cfg.stack) : undefined;
    const natsMigration = natsRole ? tier50NatsMigrationArgs(natsRole, oldNatsHost) : undefined;
    const natsNode = deploy("nats", {
      app: "nats",
      kind: "StatefulSet",
      image: imageRef("natsImage"),
      command: natsMigration?.command ?? ["nats-server", "--jetstream", "--store_dir", "/data", "--port", String(workloadPorts.nats.serve), "--http_port", String(workloadPorts.nats.health)],
      ports: [{ name: "client", port: workloadPorts.nats.serve as number }, { name: "monitor", port: workloadPorts.nats.health as number }, ...(natsMigration?.extraPorts ?? [])],
      liveness: { path: "/healthz", port: "monitor" },
      readiness: { path: "/healthz?js-enabled-only=true", port: "monitor" },
      resources: shapes.nats.resources,
      replicas: cfg.sizes.natsNodes,
      env: natsMigration?.env ?? {},
      secrets: { project: cfg.project, files: [], exportAsEnv: false },
      writablePaths: natsMigration?.writablePaths ?? [],
      volume: { mountPath: "/data", ...natsVolume },
      runAs: runAs.nats,
      terminationGracePeriodSeconds: 60,
    }, "nats");
    // As the target its pod template waits for the box's address, which at cut-over the old composition gives only after this one is registered.
    if (natsRole?.side === "target") awaitsOldComposition(natsNode.workload);

    const litellmPort = workloadPorts.litellm.serve as number;
    const litellmConfigDir = "/etc/litellm";
    const litellmYaml = (served: ServedModel[]): string => {
      const config = litellmConfig({
        served,
        catalogue: localModels,
        aliases: defaultAliases,
        hosted: openRouterModels,
        cloudModel: cfg.cloudModel,
        requested: [...agentRequestedModels, brainLocalModel, ...Object.keys(openRouterModels)],
      });
      return stringify({
        ...config,
        // Limits shared by the replicas (docs.litellm.ai/docs/proxy/load_balancing); TLS to
        // Memorystore from REDIS_SSL / REDIS_SSL_CA_CERTS, which LiteLLM passes to its Redis client.
        router_settings: { ...config.router_settings, redis_host: "os.environ/REDIS_HOST", redis_port: "os.environ/REDIS_PORT", redis_password: "os.environ/REDIS_PASSWORD" },
      }, { lineWidth: 0, aliasDuplicateObjects: false });
    };
    this.litellmConfigYaml = this.inference.served.apply(litellmYaml);
    deploy("litellm", {
      app: "litellm",
      kind: "Deployment",
      image: imageRef("litellmImage"),
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

    deploy("task-queue", serviceArgs("task-queue", cfg.gatewayShardMap, shapes["task-queue"].replicas, shapes["task-queue"].maxReplicas), "task-queue");
    for (const shard of this.gatewayShards) {
      deploy(shard.name, serviceArgs("mcp-gateway", shard.shardMap, cfg.sizes.gatewayReplicas, undefined, { "tierstack.dev/gateway": "shard", "tierstack.dev/shard": String(shard.index) }), `gw-${shard.index}`);
    }
    deploy(federatedGatewayName, serviceArgs("mcp-gateway", cfg.gatewayShardMap, cfg.sizes.gatewayReplicas, undefined, { "tierstack.dev/gateway": "federated" }), "gw-federated");
    deploy("brain", serviceArgs("brain", cfg.gatewayShardMap, shapes.brain.replicas, shapes.brain.maxReplicas), "brain");

    const cloudflaredMetrics = workloadPorts.cloudflared.metrics as number;
    deploy("cloudflared", {
      app: "cloudflared",
      kind: "Deployment",
      image: imageRef("cloudflaredImage"),
      // Distroless image, no shell: the token file is read by cloudflared itself (--token-file, 2025.4.0+).
      command: ["cloudflared", "tunnel", "--no-autoupdate", "--metrics", `0.0.0.0:${cloudflaredMetrics}`, "run", "--token-file", `${secretsMountPath}/TUNNEL_TOKEN`],
      ports: [{ name: "metrics", port: cloudflaredMetrics }],
      liveness: { path: "/healthcheck", port: "metrics" },
      readiness: { path: "/ready", port: "metrics" },
      resources: shapes.cloudflared.resources,
      replicas: shapes.cloudflared.replicas,
      ...(shapes.cloudflared.maxReplicas ? { autoscaling: { maxReplicas: shapes.cloudflared.maxReplicas, cpuUtilization: cpuTarget } } : {}),
      env: {},
      secrets: { project: cfg.project, files: [secretFile("TUNNEL_TOKEN", "cloudflared-tunnel-token")], exportAsEnv: false },
      writablePaths: [],
      metrics: { port: "metrics", path: "/metrics", interval: "30s" },
      runAs: runAs.cloudflared,
    }, "cloudflared");

    // ---- NetworkPolicies from the flow table
    const mcpServers = mcpServerTargets(cfg.gatewayShardMap).map((t) =>
      ipv4.test(t.host) ? { cidr: `${t.host}/32`, port: t.port } : { cidr: internetBlock.cidr, except: [...internetBlock.except], port: t.port },
    );
    const addresses: FlowAddresses = {
      postgres: [psaCidr],
      redis: [psaCidr],
      "gpu-box": [cfg.subnetCidr],
      inferencePorts: [...new Set(this.inference.endpoints.map((e) => e.port))],
      mcpServers,
      ...(oldNatsHost ? { oldTierNats: [oldNatsHost.apply((ip) => `${ip}/32`)] } : {}),
    };
    // As the old side of tier-50 → tier-100 (expand to cut-over) these policies are the ones applied
    // to both tiers' pods until cut-over: they also allow tier-100's NATS routes and its leaf node
    // connection to this node (catalog/flows.ts migrationFlows). As the target of single-box →
    // tier-50 they let this node reach the box's leaf listener (boxNatsLeafFlow).
    this.policies = new NetworkPolicies(`${name}-netpol`, {
      provider,
      namespace: namespaceName,
      flows: natsRole?.side === "old" ? migrationFlows(flows) : natsRole?.side === "target" ? [...flows, boxNatsLeafFlow] : flows,
      podLabels: { cloudflared: workloadSelector("cloudflared"), "task-queue": workloadSelector("task-queue"), "mcp-gateway": workloadSelector("mcp-gateway"), brain: workloadSelector("brain"), litellm: workloadSelector("litellm"), nats: workloadSelector("nats") },
      addresses,
      labels: { [labelKeys.partOf]: "tierstack" },
      dependsOn: [namespace],
    }, parent);
    // NATS's policy waits for the box's IP: at cut-over (this tier built first) nothing may wait for it.
    if (oldNatsHost) awaitsOldComposition(this.policies.policies[this.policies.rendered.findIndex((r) => r.metadata.name === "allow-nats")]!);

    // The runtime cost guard: the billing account's admins hear of spend at the budget.
    stackBudget(name, cfg, { parent: this });
    this.registerOutputs({ cluster: this.cluster.cluster.name, tunnelId: this.tunnelId });
  }
}
