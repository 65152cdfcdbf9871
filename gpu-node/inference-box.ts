/**
 * InferenceBox (tier-50): one GCE VM with two GPUs (default g2-standard-24, 2× L4), one
 * llama-server per GPU (`CUDA_VISIBLE_DEVICES`), the 8B and the quantized 32B side by side, each
 * fitting its GPU (memoryFit). No external IP; a firewall lets only the cluster's pod and node
 * ranges reach the servers' ports; its own service account; the NVIDIA driver installed at boot;
 * `onHostMaintenance: TERMINATE` (GPUs cannot live-migrate). Weights come from a bucket the box
 * creates (uniform bucket-level access, public access prevention enforced; the box's account may
 * only read it): boot copies each file and checks the sha256 the models table lists before any
 * server starts. Operators upload the files once (gpu-node/README.md, "Filling the weights bucket").
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { bootImage } from "../components/vm.js";
import { RuntimeServiceAccount } from "../components/service-account.js";
import { containerModelsDir, renderBoxCloudInit, type BoxServer } from "./box-boot.js";
import type { ServedModel } from "./litellm.js";
import { artifactFor, memoryFit, modelFor, tierInference, type WeightsFile } from "./models.js";
import { defaultImage, render } from "./server-spec.js";
import type { GpuModel, HealthCheck, InferenceServerSpec } from "./types.js";

export interface InferenceBoxArgs {
  /** GCP project of the service account and its IAM binding. */
  project: string;
  stack: string;
  /** Region of the weights bucket (the box's zone's region). */
  region: string;
  zone: string;
  /** A machine type that carries its GPUs (g2/a2/a3); default tier-50's g2-standard-24. */
  machineType: string;
  /** The GPUs the machine type carries (catalog/machines.ts `machineInfo(machineType).gpu`). */
  gpu: { model: GpuModel; count: number };
  /** Boot disk for the OS and the server images; the weights' size (plus 25%) is added to it. */
  bootDiskGb: number;
  /**
   * One llama-server per GPU: distinct `gpuIndex` < gpu.count, distinct ports. Default: tier-50's
   * plan (gpu-node/models.ts `tierInference["tier-50"]`, 8B on GPU 0 port 8080, 32B on GPU 1 port
   * 8081) at the flag table's image, listening on 0.0.0.0. `weights` is always the box's local copy.
   */
  servers?: readonly Omit<InferenceServerSpec, "weights">[];
  /** VPC the firewall rule belongs to (id or self link) and the subnet the VM joins. */
  network: pulumi.Input<string>;
  subnetwork: pulumi.Input<string>;
  /** The cluster's pod and node ranges: the only sources allowed to reach the servers' ports. */
  sourceRanges: readonly string[];
  labels?: Record<string, string>;
}

/** What the box serves, for LiteLLM and the docs. */
export interface BoxEndpoint {
  modelKey: string;
  litellmName: string;
  gpuIndex: number;
  port: number;
  health: HealthCheck;
  /** The bucket object the server's weights come from, and the sha256 boot checks. */
  object: string;
  sha256: string;
}

const privateRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"];

function ipv4(cidr: string): { base: number; prefix: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const base = octets.reduce((a, o) => a * 256 + o, 0);
  return { base, prefix };
}

/** Whether a CIDR lies inside one of the private (RFC 1918) or shared (RFC 6598) ranges. */
export function isPrivateRange(cidr: string): boolean {
  const r = ipv4(cidr);
  if (!r) return false;
  return privateRanges.some((p) => {
    const outer = ipv4(p);
    if (!outer || r.prefix < outer.prefix) return false;
    const size = 2 ** (32 - outer.prefix);
    return Math.floor(r.base / size) === Math.floor(outer.base / size);
  });
}

/** The tier-50 plan's servers at the pinned image, listening on every interface of the box. */
export function defaultBoxServers(): Omit<InferenceServerSpec, "weights">[] {
  const plan = tierInference["tier-50"];
  if (!plan) throw new Error("InferenceBox: no tier-50 inference plan in gpu-node/models.ts");
  return plan.servers.map((s) => ({ ...s, image: defaultImage(s.server), host: "0.0.0.0" }));
}

/** The bucket object of a weights file: `<model key>/<file name>`. */
export function weightsObject(modelKey: string, file: WeightsFile): string {
  return `${modelKey}/${file.name}`;
}

/** What the box will run, checked before anything is declared; throws one line on the first problem. */
export function planBox(name: string, args: InferenceBoxArgs): { servers: BoxServer[]; endpoints: BoxEndpoint[]; warnings: string[]; diskGb: number } {
  const fail = (what: string) => new Error(`InferenceBox ${name}: ${what}`);
  const specs = args.servers ?? defaultBoxServers();
  if (specs.length === 0) throw fail("no servers");
  if (args.gpu.count < specs.length) throw fail(`${specs.length} servers need ${specs.length} GPUs; ${args.machineType} carries ${args.gpu.count}`);
  if (args.sourceRanges.length === 0) throw fail("sourceRanges is empty: name the cluster's pod and node ranges");
  for (const r of args.sourceRanges) {
    if (!isPrivateRange(r)) throw fail(`source range ${r} is not a private IPv4 range (10/8, 172.16/12, 192.168/16, 100.64/10)`);
  }
  const servers: BoxServer[] = [];
  const endpoints: BoxEndpoint[] = [];
  const warnings = new Set<string>();
  let weightsBytes = 0;
  for (const spec of specs) {
    if (spec.server !== "llama-server") throw fail(`${spec.modelKey}: the box runs llama-server (GGUF from the bucket), not ${spec.server}`);
    if (spec.gpuIndex >= args.gpu.count) throw fail(`${spec.modelKey}: gpuIndex ${spec.gpuIndex} but ${args.machineType} has GPUs 0-${args.gpu.count - 1}`);
    const fit = memoryFit(spec, args.gpu.model);
    if (!fit.fits) {
      throw fail(`${spec.modelKey} needs ${(fit.totalBytes / 1e9).toFixed(2)} GB on one ${args.gpu.model}, the budget is ${(fit.budgetBytes / 1e9).toFixed(2)} GB`);
    }
    const file = artifactFor(spec.server, spec.modelKey).file;
    if (!file) throw fail(`${spec.modelKey} has no weights file in gpu-node/models.ts`);
    const object = weightsObject(spec.modelKey, file);
    const rendered = render({ ...spec, weights: { path: `${containerModelsDir}/${object}` } });
    for (const w of rendered.warnings) warnings.add(`${name}: ${w}`);
    weightsBytes += file.bytes;
    servers.push({
      name: `inference-gpu${spec.gpuIndex}`,
      description: `${spec.server} serving ${spec.modelKey} on GPU ${spec.gpuIndex}, port ${spec.port}`,
      rendered,
      weights: { object, path: object, sha256: file.sha256, bytes: file.bytes },
    });
    endpoints.push({ modelKey: spec.modelKey, litellmName: modelFor(spec.modelKey).litellmName, gpuIndex: spec.gpuIndex, port: spec.port, health: rendered.health, object, sha256: file.sha256 });
  }
  // Duplicate GPUs or ports are refused by the boot renderer; check here too, before anything is declared.
  renderBoxCloudInit({ bucket: "check", servers });
  return { servers, endpoints, warnings: [...warnings], diskGb: args.bootDiskGb + Math.ceil((weightsBytes * 1.25) / 1e9) };
}

export class InferenceBox extends pulumi.ComponentResource {
  readonly instance: gcp.compute.Instance;
  readonly bucket: gcp.storage.Bucket;
  readonly firewall: gcp.compute.Firewall;
  readonly serviceAccount: RuntimeServiceAccount;
  /** Name of the weights bucket (upload target). */
  readonly bucketName: pulumi.Output<string>;
  /** The VM's internal address. */
  readonly internalIp: pulumi.Output<string>;
  readonly endpoints: BoxEndpoint[];
  /** LiteLLM's `served` list: each model at http://<internal ip>:<port>/v1. */
  readonly served: pulumi.Output<ServedModel[]>;
  /** The network tag the firewall rule targets. */
  readonly networkTag: string;
  readonly diskGb: number;
  /** The rendered #cloud-config (no secrets). */
  readonly userData: pulumi.Output<string>;
  /** One-line findings for `plan` (images pinned by tag only). */
  readonly warnings: string[];

  constructor(name: string, args: InferenceBoxArgs, opts?: pulumi.ComponentResourceOptions) {
    const plan = planBox(name, args);
    super("tierstack:inference:InferenceBox", name, {}, opts);
    const parent = { parent: this };
    const boxServers = plan.servers;
    const endpoints = plan.endpoints;
    this.endpoints = endpoints;
    this.warnings = plan.warnings;
    this.diskGb = plan.diskGb;
    this.networkTag = `tierstack-${args.stack}-inference`;
    const labels = { platform: "tierstack", stack: args.stack, role: "inference", ...(args.labels ?? {}) };

    this.serviceAccount = new RuntimeServiceAccount(`${name}-runtime`, {
      project: args.project,
      accountId: `ts-${args.stack}-gpu`.slice(0, 30).replace(/-+$/, ""),
      displayName: `tierstack ${args.stack} inference box`,
    }, parent);

    this.bucket = new gcp.storage.Bucket(`${name}-weights`, {
      location: args.region.toUpperCase(),
      storageClass: "STANDARD",
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      forceDestroy: false,
      labels,
    }, parent);
    this.bucketName = this.bucket.name;

    new gcp.storage.BucketIAMMember(`${name}-weights-reader`, {
      bucket: this.bucket.name,
      role: "roles/storage.objectViewer",
      member: this.serviceAccount.member,
    }, parent);

    const ports = [...new Set(endpoints.map((e) => String(e.port)))];
    this.firewall = new gcp.compute.Firewall(`${name}-inference-ingress`, {
      network: args.network,
      direction: "INGRESS",
      priority: 1000,
      allows: [{ protocol: "tcp", ports }],
      sourceRanges: [...args.sourceRanges],
      targetTags: [this.networkTag],
      description: `tierstack ${args.stack}: the inference servers, from the cluster's pod and node ranges only`,
    }, parent);

    this.userData = this.bucket.name.apply((bucket) => renderBoxCloudInit({ bucket, servers: boxServers }));
    this.instance = new gcp.compute.Instance(`${name}-vm`, {
      zone: args.zone,
      machineType: args.machineType,
      allowStoppingForUpdate: true,
      tags: [this.networkTag],
      labels,
      bootDisk: {
        autoDelete: true,
        initializeParams: { image: bootImage, size: this.diskGb, type: "pd-balanced" },
      },
      // No accessConfigs: no external IP (egress through the subnet's Cloud NAT, GCS through Private Google Access).
      networkInterfaces: [{ subnetwork: args.subnetwork }],
      serviceAccount: { email: this.serviceAccount.email, scopes: ["https://www.googleapis.com/auth/cloud-platform"] },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      scheduling: { onHostMaintenance: "TERMINATE", automaticRestart: true },
      metadata: {
        "enable-oslogin": "TRUE",
        "block-project-ssh-keys": "TRUE",
        "user-data": this.userData,
      },
    }, parent);

    this.internalIp = this.instance.networkInterfaces.apply((nics) => nics[0]?.networkIp ?? "");
    this.served = this.internalIp.apply((ip) => endpoints.map((e) => ({ modelKey: e.modelKey, apiBase: `http://${ip}:${e.port}/v1` })));
    this.registerOutputs({ instance: this.instance.name, bucket: this.bucketName, internalIp: this.internalIp });
  }
}

