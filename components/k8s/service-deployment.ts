/**
 * One workload on the cluster: a Deployment (stateless) or a StatefulSet (with a volume), its
 * Service, a HorizontalPodAutoscaler where it is stateless and asked for, a PodDisruptionBudget
 * (maxUnavailable 1) once it runs two or more replicas, a Kubernetes ServiceAccount bound by
 * Workload Identity to a GCP service account of its own (roles/iam.workloadIdentityUser plus the
 * iam.gke.io/gcp-service-account annotation,
 * https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity), that account's
 * Secret Manager access on exactly the secrets the workload mounts, a SecretProviderClass for
 * the GKE Secret Manager add-on (provider "gke", driver secrets-store-gke.csi.k8s.io,
 * https://cloud.google.com/secret-manager/docs/secret-manager-managed-csi-component), and a
 * PodMonitoring (Managed Prometheus) for its /metrics.
 *
 * Every container runs restricted: runAsNonRoot with a numeric user, read-only root
 * filesystem, no privilege escalation, every capability dropped, seccomp RuntimeDefault;
 * writable paths are emptyDirs the caller names (`writablePaths`), plus the StatefulSet's volume.
 *
 * No pod gets a Kubernetes API token: the ServiceAccount and the pod say
 * automountServiceAccountToken false. A workload that must call the API (the brain on tier-100,
 * for its learner sandboxes' claims) asks for `kubernetesApi`: its pod alone gets a projected
 * volume at the path @kubernetes/client-node's loadFromCluster reads (`serviceAccountMountPath`:
 * token, ca.crt, namespace) with a bound token that expires after `tokenExpirationSeconds`; the
 * kubelet renews it at 80 % of its life and the client re-reads the file every minute
 * (https://kubernetes.io/docs/concepts/storage/projected-volumes/#serviceaccounttoken).
 *
 * Secrets arrive as files, one per key, under `secretsMountPath` (docs/adr/0004). With
 * `exportAsEnv`, the container's process is started by `envFromFilesScript`, which exports each
 * file as the environment variable of its name and then execs the process: the services read
 * their secrets from the environment only (packages/common/src/env.ts).
 */
import { createHash } from "node:crypto";
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type * as k8sInputs from "@pulumi/kubernetes/types/input.js";
import { stringify } from "yaml";

/** Where the Secret Manager add-on mounts a workload's secrets (one file per key). */
export const secretsMountPath = "/run/secrets/tierstack";
export const secretsCsiDriver = "secrets-store-gke.csi.k8s.io";

/** Where in-cluster clients read the service-account credentials (token, ca.crt, namespace). */
export const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount";
/** The cluster's CA bundle, published in every namespace by the control plane. */
export const rootCaConfigMap = "kube-root-ca.crt";
/** The API server's bounds on a projected token's life (expirationSeconds at least 10 min); we cap it at a day. */
export const tokenExpirationBounds = { min: 600, max: 86_400 } as const;

/** The projected volume of the Kubernetes API credentials, as the kubelet's own kube-api-access volume lays it out. */
export function kubernetesApiVolume(tokenExpirationSeconds: number): k8sInputs.core.v1.Volume {
  return {
    name: "kube-api-access",
    projected: {
      defaultMode: 0o444,
      sources: [
        { serviceAccountToken: { path: "token", expirationSeconds: tokenExpirationSeconds } },
        { configMap: { name: rootCaConfigMap, items: [{ key: "ca.crt", path: "ca.crt" }] } },
        { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
      ],
    },
  };
}

/**
 * `sh -c` script: for every regular file in the directory given as $1, export it as the
 * environment variable named like the file (value = its content, trailing newlines dropped by
 * the shell), then exec the remaining arguments. A file name that is not a valid variable name
 * stops the start (set -e). Secrets never appear in the pod spec, only their file names.
 */
export const envFromFilesScript = 'set -eu; dir="$1"; shift; for f in "$dir"/*; do [ -f "$f" ] || continue; n="${f##*/}"; export "$n=$(cat "$f")"; done; exec "$@"';

/** What a container's process is wrapped in when its secrets are exported as environment variables. */
export function envFromFilesCommand(process: string[]): string[] {
  return ["/bin/sh", "-c", envFromFilesScript, "tierstack-secrets-env", secretsMountPath, ...process];
}

export const labelKeys = { app: "app.kubernetes.io/name", instance: "app.kubernetes.io/instance", partOf: "app.kubernetes.io/part-of" } as const;

export interface PortSpec {
  name: string;
  port: number;
  protocol?: "TCP" | "UDP";
}

export interface HttpProbe {
  path: string;
  /** A container port name. */
  port: string;
}

export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export interface SecretFile {
  /** File name under secretsMountPath; with exportAsEnv, the environment variable. */
  file: string;
  /** Secret Manager secret id (tierstack-<stack>-<secret>). */
  secretId: string;
  /** The Secret resource's id (projects/<p>/secrets/<id>), for the IAM binding. */
  resource: pulumi.Input<string>;
}

export interface ServiceDeploymentArgs {
  provider: k8s.Provider;
  namespace: string;
  /** app.kubernetes.io/name: the workload; several deployments may share it (the gateway's shards). */
  app: string;
  /** Labels added to the pods (e.g. the gateway shard). */
  extraLabels?: Record<string, string>;
  kind: "Deployment" | "StatefulSet";
  image: string;
  /** The process; without it the image's own entry point runs (not allowed with exportAsEnv). */
  command?: string[];
  ports: PortSpec[];
  liveness: HttpProbe;
  readiness: HttpProbe;
  /** Startup probe: the liveness path, given failureThreshold × 2 s to come up. */
  startupFailureThreshold?: number;
  resources: Resources;
  /** Replicas (the autoscaler's minimum when there is one). */
  replicas: number;
  /** Deployments only. */
  autoscaling?: { maxReplicas: number; cpuUtilization: number };
  /** Plain environment (never a secret: secrets come as files). */
  env: Record<string, pulumi.Input<string>>;
  secrets: { project: string; files: SecretFile[]; exportAsEnv: boolean };
  /** emptyDir mounts, the only writable paths besides the StatefulSet's volume. */
  writablePaths: string[];
  /** Plain files from a ConfigMap, mounted read-only in one directory. */
  config?: { mountPath: string; files: Record<string, pulumi.Input<string>> };
  /** StatefulSets only: the volume claim template. */
  volume?: { mountPath: string; sizeGi: number; storageClassName: string };
  /** Managed Prometheus scrape of a container port. */
  metrics?: { port: string; path: string; interval: string };
  identity: { project: string; accountId: string; displayName: string; workloadPool: string };
  runAs: { user: number; group: number };
  nodeSelector?: Record<string, string>;
  terminationGracePeriodSeconds?: number;
  /** A short-lived token for the Kubernetes API, this workload's pods only (every other pod has none). */
  kubernetesApi?: { tokenExpirationSeconds: number };
}

const restrictedContainer = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

const volumeName = (path: string) => `w${path.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`.replace(/-+$/, "").slice(0, 63);

export class ServiceDeployment extends pulumi.ComponentResource {
  readonly name: string;
  readonly podLabels: Record<string, string>;
  readonly serviceAccount: k8s.core.v1.ServiceAccount;
  readonly gcpServiceAccount: gcp.serviceaccount.Account;
  readonly workload: k8s.apps.v1.Deployment | k8s.apps.v1.StatefulSet;
  readonly service: k8s.core.v1.Service;
  readonly autoscaler?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
  readonly disruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
  readonly secretProviderClass?: k8s.apiextensions.CustomResource;
  readonly podMonitoring?: k8s.apiextensions.CustomResource;
  readonly configMap?: k8s.core.v1.ConfigMap;
  /** In-cluster base URL of the Service's first port. */
  readonly url: string;

  constructor(name: string, args: ServiceDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:k8s:ServiceDeployment", name, {}, opts);
    const problems = serviceDeploymentProblems(name, args);
    if (problems.length > 0) throw new Error(`ServiceDeployment ${name}: ${problems.join("; ")}`);
    this.name = name;
    const k8sOpts = { parent: this, provider: args.provider };
    const ns = args.namespace;
    const labels = { [labelKeys.app]: args.app, [labelKeys.instance]: name, [labelKeys.partOf]: "tierstack", ...(args.extraLabels ?? {}) };
    this.podLabels = labels;
    const selector = { [labelKeys.app]: args.app, [labelKeys.instance]: name };
    const meta = (suffix = "") => ({ name: `${name}${suffix}`, namespace: ns, labels });

    // Identity: GCP service account, Workload Identity binding, annotated Kubernetes ServiceAccount.
    this.gcpServiceAccount = new gcp.serviceaccount.Account(`${name}-gsa`, {
      project: args.identity.project,
      accountId: args.identity.accountId,
      displayName: args.identity.displayName,
    }, { parent: this });
    const gsaMember = pulumi.interpolate`serviceAccount:${this.gcpServiceAccount.email}`;
    const wiBinding = new gcp.serviceaccount.IAMMember(`${name}-workload-identity`, {
      serviceAccountId: this.gcpServiceAccount.name,
      role: "roles/iam.workloadIdentityUser",
      member: `serviceAccount:${args.identity.workloadPool}[${ns}/${name}]`,
    }, { parent: this });
    this.serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-ksa`, {
      metadata: { ...meta(), annotations: { "iam.gke.io/gcp-service-account": this.gcpServiceAccount.email } },
      automountServiceAccountToken: false,
    }, k8sOpts);

    // Secrets: read access on exactly these secrets, and the add-on's SecretProviderClass.
    const secretBindings = args.secrets.files.map(
      (f) =>
        new gcp.secretmanager.SecretIamMember(`${name}-reads-${f.file.toLowerCase().replace(/_/g, "-")}`, {
          secretId: f.resource,
          role: "roles/secretmanager.secretAccessor",
          member: gsaMember,
        }, { parent: this }),
    );
    const volumes: k8sInputs.core.v1.Volume[] = [];
    const mounts: k8sInputs.core.v1.VolumeMount[] = [];
    if (args.secrets.files.length > 0) {
      const entries = args.secrets.files.map((f) => ({ resourceName: `projects/${args.secrets.project}/secrets/${f.secretId}/versions/latest`, path: f.file }));
      this.secretProviderClass = new k8s.apiextensions.CustomResource(`${name}-secrets`, {
        apiVersion: "secrets-store.csi.x-k8s.io/v1",
        kind: "SecretProviderClass",
        metadata: meta("-secrets"),
        spec: { provider: "gke", parameters: { secrets: stringify(entries, { lineWidth: 0 }) } },
      }, { ...k8sOpts, dependsOn: [...secretBindings, wiBinding] });
      volumes.push({ name: "secrets", csi: { driver: secretsCsiDriver, readOnly: true, volumeAttributes: { secretProviderClass: `${name}-secrets` } } });
      mounts.push({ name: "secrets", mountPath: secretsMountPath, readOnly: true });
    }
    for (const path of args.writablePaths) {
      volumes.push({ name: volumeName(path), emptyDir: { sizeLimit: "256Mi" } });
      mounts.push({ name: volumeName(path), mountPath: path });
    }
    let configHash: pulumi.Output<string> | undefined;
    if (args.config) {
      this.configMap = new k8s.core.v1.ConfigMap(`${name}-config`, { metadata: meta("-config"), data: args.config.files }, k8sOpts);
      // A changed file changes the pod template, so the pods restart with it.
      configHash = pulumi.output(args.config.files).apply((files) => createHash("sha256").update(JSON.stringify(files)).digest("hex").slice(0, 16));
      volumes.push({ name: "config", configMap: { name: `${name}-config` } });
      mounts.push({ name: "config", mountPath: args.config.mountPath, readOnly: true });
    }
    if (args.volume) mounts.push({ name: "data", mountPath: args.volume.mountPath });
    if (args.kubernetesApi) {
      volumes.push(kubernetesApiVolume(args.kubernetesApi.tokenExpirationSeconds));
      mounts.push({ name: "kube-api-access", mountPath: serviceAccountMountPath, readOnly: true });
    }

    const command = args.command === undefined ? undefined : args.secrets.exportAsEnv ? envFromFilesCommand(args.command) : args.command;
    const probe = (p: HttpProbe, extra: Record<string, number>) => ({ httpGet: { path: p.path, port: p.port }, ...extra });
    const container = {
      name: args.app,
      image: args.image,
      ...(command ? { command } : {}),
      ports: args.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol ?? "TCP" })),
      env: Object.entries(args.env).map(([k, value]) => ({ name: k, value })),
      resources: args.resources,
      startupProbe: probe(args.liveness, { periodSeconds: 2, failureThreshold: args.startupFailureThreshold ?? 30, timeoutSeconds: 2 }),
      livenessProbe: probe(args.liveness, { periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 }),
      readinessProbe: probe(args.readiness, { periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 2 }),
      securityContext: { ...restrictedContainer, runAsUser: args.runAs.user, runAsGroup: args.runAs.group },
      volumeMounts: mounts,
    };
    const spread = ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map((topologyKey) => ({
      maxSkew: 1,
      topologyKey,
      whenUnsatisfiable: "ScheduleAnyway",
      labelSelector: { matchLabels: selector },
    }));
    const template = {
      metadata: { labels, ...(configHash ? { annotations: { "tierstack.dev/config-hash": configHash } } : {}) },
      spec: {
        serviceAccountName: name,
        automountServiceAccountToken: false,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: args.runAs.user,
          runAsGroup: args.runAs.group,
          fsGroup: args.runAs.group,
          seccompProfile: { type: "RuntimeDefault" },
        },
        ...(args.nodeSelector ? { nodeSelector: args.nodeSelector } : {}),
        topologySpreadConstraints: spread,
        terminationGracePeriodSeconds: args.terminationGracePeriodSeconds ?? 30,
        containers: [container],
        volumes,
      },
    };
    const dependsOn = this.secretProviderClass ? [this.serviceAccount, this.secretProviderClass] : [this.serviceAccount];

    this.service = new k8s.core.v1.Service(`${name}-svc`, {
      metadata: meta(),
      spec: {
        type: "ClusterIP",
        selector,
        ports: args.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol ?? "TCP" })),
      },
    }, k8sOpts);
    const first = args.ports[0] as PortSpec;
    this.url = `http://${name}.${ns}.svc.cluster.local:${first.port}`;

    if (args.kind === "Deployment") {
      this.workload = new k8s.apps.v1.Deployment(`${name}-deploy`, {
        metadata: meta(),
        spec: {
          // With an autoscaler the replica count is its business (a `pulumi up` would reset it otherwise).
          ...(args.autoscaling ? {} : { replicas: args.replicas }),
          selector: { matchLabels: selector },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template,
        },
      }, { ...k8sOpts, dependsOn });
      if (args.autoscaling) {
        this.autoscaler = new k8s.autoscaling.v2.HorizontalPodAutoscaler(`${name}-hpa`, {
          metadata: meta(),
          spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
            minReplicas: args.replicas,
            maxReplicas: args.autoscaling.maxReplicas,
            metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: args.autoscaling.cpuUtilization } } }],
          },
        }, k8sOpts);
      }
    } else {
      const volume = args.volume as NonNullable<ServiceDeploymentArgs["volume"]>;
      this.workload = new k8s.apps.v1.StatefulSet(`${name}-sts`, {
        metadata: meta(),
        spec: {
          replicas: args.replicas,
          serviceName: name,
          selector: { matchLabels: selector },
          podManagementPolicy: "OrderedReady",
          persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
          template,
          volumeClaimTemplates: [{
            metadata: { name: "data", labels },
            spec: { accessModes: ["ReadWriteOnce"], storageClassName: volume.storageClassName, resources: { requests: { storage: `${volume.sizeGi}Gi` } } },
          }],
        },
      }, { ...k8sOpts, dependsOn });
    }

    if (args.replicas >= 2) {
      this.disruptionBudget = new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
        metadata: meta(),
        spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
      }, k8sOpts);
    }

    if (args.metrics) {
      this.podMonitoring = new k8s.apiextensions.CustomResource(`${name}-metrics`, {
        apiVersion: "monitoring.googleapis.com/v1",
        kind: "PodMonitoring",
        metadata: meta(),
        spec: { selector: { matchLabels: selector }, endpoints: [{ port: args.metrics.port, path: args.metrics.path, interval: args.metrics.interval }] },
      }, k8sOpts);
    }

    this.registerOutputs({ service: this.url, gcpServiceAccount: this.gcpServiceAccount.email });
  }
}

const envName = /^[A-Z_][A-Z0-9_]*$/;

/** One line per argument the component refuses (checked before anything is declared). */
export function serviceDeploymentProblems(name: string, a: ServiceDeploymentArgs): string[] {
  const p: string[] = [];
  if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) p.push(`name "${name}" is not a DNS label`);
  if (a.replicas < 1) p.push(`replicas ${a.replicas} < 1`);
  if (a.kind === "StatefulSet" && a.autoscaling) p.push("a StatefulSet gets no autoscaler");
  if (a.kind === "StatefulSet" && !a.volume) p.push("a StatefulSet needs its volume");
  if (a.kind === "Deployment" && a.volume) p.push("a Deployment gets no volume claim (stateless)");
  if (a.autoscaling && a.autoscaling.maxReplicas < a.replicas) p.push(`autoscaling.maxReplicas ${a.autoscaling.maxReplicas} < replicas ${a.replicas}`);
  if (a.ports.length === 0) p.push("no ports");
  const portNames = new Set(a.ports.map((x) => x.name));
  for (const probe of [a.liveness, a.readiness]) if (!portNames.has(probe.port)) p.push(`probe port ${probe.port} is not a container port`);
  if (a.metrics && !portNames.has(a.metrics.port)) p.push(`metrics port ${a.metrics.port} is not a container port`);
  if (a.runAs.user === 0) p.push("runs as root");
  if (a.secrets.exportAsEnv && a.command === undefined) p.push("exportAsEnv needs the command it wraps");
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(a.identity.accountId)) p.push(`GCP service account id "${a.identity.accountId}" is not 6-30 of a-z 0-9 -`);
  const files = a.secrets.files.map((f) => f.file);
  if (new Set(files).size !== files.length) p.push("a secret file is listed twice");
  for (const f of files) if (a.secrets.exportAsEnv && !envName.test(f)) p.push(`secret file ${f} is not an environment variable name`);
  for (const k of Object.keys(a.env)) if (files.includes(k)) p.push(`${k} is both a plain value and a secret`);
  for (const w of a.writablePaths) if (!w.startsWith("/") || w === "/" || w === secretsMountPath || w === serviceAccountMountPath) p.push(`writable path ${w} is not allowed`);
  if (a.kubernetesApi) {
    const t = a.kubernetesApi.tokenExpirationSeconds;
    if (!Number.isInteger(t) || t < tokenExpirationBounds.min || t > tokenExpirationBounds.max) p.push(`kubernetesApi.tokenExpirationSeconds ${t} is outside ${tokenExpirationBounds.min}-${tokenExpirationBounds.max}`);
  }
  return p;
}
