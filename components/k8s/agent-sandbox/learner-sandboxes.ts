/**
 * The learner sandboxes on a cluster whose agent-sandbox API is served (tier-100: the GKE add-on,
 * ADR 0036): the learners' namespace (Pod Security "restricted"), the learner runtime's
 * SandboxTemplate, the SandboxWarmPool the brain's claims draw from, the NetworkPolicies of the
 * sandbox flow table (./policies.ts), and the brain's RBAC for its claims.
 *
 * The template's pod: the `gvisor` RuntimeClass, tolerating the gVisor taint and selecting the
 * gVisor pool, no service-account token, no service links, a restricted security context
 * (non-root, no privilege escalation, every capability dropped, RuntimeDefault seccomp, read-only
 * root), requests = limits, the learner's files in an emptyDir (a claimed warm pod is fresh: they
 * are restored by the brain, ADR 0037). The template's own NetworkPolicy management is off
 * (`Unmanaged`): the controller's default policy would allow egress to the internet, and policies
 * add up; the flow table's policies are the only ones.
 *
 * Every agent-sandbox object is checked against the pinned CRD schemas (@tierstack/agent-sandbox)
 * before it is declared: an invalid one is a stack error, not an apply-time surprise.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { apiVersions, crds, formatErrors, validate, type SandboxTemplate, type SandboxWarmPool } from "@tierstack/agent-sandbox";
import type { SandboxFlow } from "../../../catalog/flows.js";
import type { NetworkPolicyObject } from "../network-policies.js";
import { renderSandboxPolicies, type PlatformPeer } from "./policies.js";

export interface LearnerSandboxArgs {
  provider: k8s.Provider;
  /** The learners' namespace (created here). */
  namespace: string;
  platformNamespace: string;
  templateName: string;
  warmPoolName: string;
  warmPoolSize: number;
  image: string;
  command: readonly string[];
  port: number;
  /** The learner's files inside the pod (an emptyDir). */
  learnerDir: string;
  resources: { cpu: string; memory: string };
  runAs: { user: number; group: number };
  runtimeClassName: string;
  toleration: { key: string; operator: "Equal"; value: string; effect: "NoSchedule" };
  nodeSelector: Record<string, string>;
  podLabels: Record<string, string>;
  flows: readonly SandboxFlow[];
  platformPods: Record<PlatformPeer, Record<string, string>>;
  /** The brain's Kubernetes ServiceAccount (in platformNamespace), which claims sandboxes. */
  brainServiceAccount: string;
  labels: Record<string, string>;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** The learner runtime's SandboxTemplate, as the API takes it. */
export function learnerTemplate(a: LearnerSandboxArgs): SandboxTemplate {
  const quantity = { cpu: a.resources.cpu, memory: a.resources.memory };
  return {
    apiVersion: apiVersions.SandboxTemplate,
    kind: "SandboxTemplate",
    metadata: { name: a.templateName, namespace: a.namespace, labels: a.labels },
    spec: {
      podTemplate: {
        metadata: { labels: a.podLabels },
        spec: {
          runtimeClassName: a.runtimeClassName,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          nodeSelector: a.nodeSelector,
          tolerations: [{ ...a.toleration }],
          securityContext: { runAsNonRoot: true, runAsUser: a.runAs.user, runAsGroup: a.runAs.group, fsGroup: a.runAs.group, seccompProfile: { type: "RuntimeDefault" } },
          terminationGracePeriodSeconds: 10,
          containers: [{
            name: "learner",
            image: a.image,
            command: [...a.command],
            env: [{ name: "LEARNER_DIR", value: a.learnerDir }],
            ports: [{ name: "channel", containerPort: a.port, protocol: "TCP" }],
            // No probe on the channel port: the runtime takes the newest connection as the brain's and drops the one before.
            resources: { requests: quantity, limits: quantity },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
            volumeMounts: [{ name: "learner", mountPath: a.learnerDir }],
          }],
          volumes: [{ name: "learner", emptyDir: { sizeLimit: "64Mi" } }],
        },
      },
      networkPolicyManagement: "Unmanaged",
      envVarsInjectionPolicy: "Disallowed",
    },
  };
}

export function learnerWarmPool(a: LearnerSandboxArgs): SandboxWarmPool {
  return {
    apiVersion: apiVersions.SandboxWarmPool,
    kind: "SandboxWarmPool",
    metadata: { name: a.warmPoolName, namespace: a.namespace, labels: a.labels },
    // Recreate: a changed template (a new image) replaces the unclaimed warm pods at once.
    spec: { replicas: a.warmPoolSize, sandboxTemplateRef: { name: a.templateName }, updateStrategy: { type: "Recreate" } },
  };
}

/** The brain's rules in the learners' namespace: its claims, and reading the Sandbox a claim is bound to. */
export function brainRules(): { apiGroups: string[]; resources: string[]; verbs: string[] }[] {
  return [
    { apiGroups: [crds.SandboxClaim.group], resources: [crds.SandboxClaim.plural], verbs: ["create", "get", "list", "delete"] },
    { apiGroups: [crds.Sandbox.group], resources: [crds.Sandbox.plural], verbs: ["get"] },
  ];
}

function checked<T>(o: T): T {
  const r = validate(o);
  if (!r.valid) throw new Error(`LearnerSandboxes: ${r.kind ?? "object"} does not validate against the agent-sandbox CRD schemas: ${formatErrors(r.errors).join("; ")}`);
  return o;
}

export class LearnerSandboxes extends pulumi.ComponentResource {
  readonly namespace: k8s.core.v1.Namespace;
  readonly template: k8s.apiextensions.CustomResource;
  readonly warmPool: k8s.apiextensions.CustomResource;
  readonly rendered: { template: SandboxTemplate; warmPool: SandboxWarmPool; policies: NetworkPolicyObject[] };
  readonly policies: k8s.networking.v1.NetworkPolicy[];

  constructor(name: string, args: LearnerSandboxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:k8s:LearnerSandboxes", name, {}, opts);
    if (args.warmPoolSize < 0) throw new Error(`LearnerSandboxes: warm pool size ${args.warmPoolSize} < 0`);
    const template = checked(learnerTemplate(args));
    const warmPool = checked(learnerWarmPool(args));
    const policies = renderSandboxPolicies({
      platformNamespace: args.platformNamespace,
      sandboxNamespace: args.namespace,
      flows: args.flows,
      sandboxPods: args.podLabels,
      platformPods: args.platformPods,
      labels: args.labels,
    });
    this.rendered = { template, warmPool, policies };
    const k8sOpts = { parent: this, provider: args.provider };

    this.namespace = new k8s.core.v1.Namespace(`${name}-ns`, {
      metadata: {
        name: args.namespace,
        labels: { ...args.labels, "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" },
      },
    }, k8sOpts);
    const inNamespace = { ...k8sOpts, dependsOn: [this.namespace, ...(args.dependsOn ?? [])] };
    this.template = new k8s.apiextensions.CustomResource(`${name}-template`, { ...template }, inNamespace);
    this.warmPool = new k8s.apiextensions.CustomResource(`${name}-warm-pool`, { ...warmPool }, { ...inNamespace, dependsOn: [this.namespace, this.template, ...(args.dependsOn ?? [])] });
    this.policies = policies.map((p) => new k8s.networking.v1.NetworkPolicy(`${name}-netpol-${p.metadata.namespace}-${p.metadata.name}`, { metadata: p.metadata, spec: p.spec }, inNamespace));

    const role = new k8s.rbac.v1.Role(`${name}-brain-role`, {
      metadata: { name: "brain-sandbox-claims", namespace: args.namespace, labels: args.labels },
      rules: brainRules(),
    }, inNamespace);
    new k8s.rbac.v1.RoleBinding(`${name}-brain-binding`, {
      metadata: { name: "brain-sandbox-claims", namespace: args.namespace, labels: args.labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "brain-sandbox-claims" },
      subjects: [{ kind: "ServiceAccount", name: args.brainServiceAccount, namespace: args.platformNamespace }],
    }, { ...inNamespace, dependsOn: [this.namespace, role] });

    this.registerOutputs({ namespace: args.namespace, template: args.templateName, warmPool: args.warmPoolName });
  }
}
