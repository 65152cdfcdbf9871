/**
 * The validation schemas of the kubernetes-sigs/agent-sandbox v1beta1 CRDs, one JSON file per kind
 * under ./crds/, all pinned to one upstream commit of https://github.com/kubernetes-sigs/agent-sandbox:
 * 3cb4df7b24601d768bf262155cf6adc18cd196bb (the v1beta1 API, controller-gen v0.21.0).
 *
 * Where each kind comes from (each file's `source` and `derivation` say the same):
 * - SandboxWarmPool: k8s/crds/extensions.agents.x-k8s.io_sandboxwarmpools.yaml at that commit,
 *   spec.versions[v1beta1].schema.openAPIV3Schema unchanged.
 * - Sandbox, SandboxClaim, SandboxTemplate: their CRD files are not stored at that commit (the
 *   stored copies of the sandboxes and claims CRDs are v1alpha1; the templates CRD is stored at a
 *   later commit only), so their schemas are controller-gen's output for the Go types at that
 *   commit (api/v1beta1/sandbox_types.go, extensions/api/v1beta1/sandboxclaim_types.go,
 *   extensions/api/v1beta1/sandboxtemplate_types.go): each field, its +required/+optional,
 *   Enum, default, Minimum, Format and listType marker. No field is added.
 * - The embedded core types (podTemplate.spec: core/v1 PodSpec; volumeClaimTemplates[].spec:
 *   core/v1 PersistentVolumeClaimSpec) carry `x-tierstack-core-type` instead of controller-gen's
 *   ~190 kB inline copy, and are checked against the Kubernetes schema of that type
 *   (kubernetes-models). Descriptions are left out.
 *
 * The release this commit belongs to (the issue asks for v0.5.x, whose API is v1beta1) is not
 * recorded in the stored files: the pin is the commit.
 */
import sandbox from "./crds/agents.x-k8s.io_v1beta1_Sandbox.json" with { type: "json" };
import claim from "./crds/extensions.agents.x-k8s.io_v1beta1_SandboxClaim.json" with { type: "json" };
import template from "./crds/extensions.agents.x-k8s.io_v1beta1_SandboxTemplate.json" with { type: "json" };
import warmPool from "./crds/extensions.agents.x-k8s.io_v1beta1_SandboxWarmPool.json" with { type: "json" };

export const upstream = {
  repo: "kubernetes-sigs/agent-sandbox",
  commit: "3cb4df7b24601d768bf262155cf6adc18cd196bb",
} as const;

export const sandboxGroup = "agents.x-k8s.io";
export const extensionsGroup = "extensions.agents.x-k8s.io";
export const apiVersions = {
  Sandbox: `${sandboxGroup}/v1beta1`,
  SandboxTemplate: `${extensionsGroup}/v1beta1`,
  SandboxClaim: `${extensionsGroup}/v1beta1`,
  SandboxWarmPool: `${extensionsGroup}/v1beta1`,
} as const;

export type SandboxKind = keyof typeof apiVersions;
export const sandboxKinds = Object.keys(apiVersions) as SandboxKind[];

export interface CrdSchemaFile {
  group: string;
  version: string;
  apiVersion: string;
  kind: string;
  source: { repo: string; commit: string; files: string[] };
  derivation: string;
  openAPIV3Schema: Record<string, unknown>;
}

export interface CrdInfo {
  kind: SandboxKind;
  group: string;
  apiVersion: string;
  /** The resource name in API paths (spec.names.plural of the CRD). */
  plural: string;
  /** Every kind here is namespaced (spec.scope). */
  scope: "Namespaced";
  file: CrdSchemaFile;
}

export const crds: Record<SandboxKind, CrdInfo> = {
  Sandbox: { kind: "Sandbox", group: sandboxGroup, apiVersion: apiVersions.Sandbox, plural: "sandboxes", scope: "Namespaced", file: sandbox },
  SandboxTemplate: { kind: "SandboxTemplate", group: extensionsGroup, apiVersion: apiVersions.SandboxTemplate, plural: "sandboxtemplates", scope: "Namespaced", file: template },
  SandboxClaim: { kind: "SandboxClaim", group: extensionsGroup, apiVersion: apiVersions.SandboxClaim, plural: "sandboxclaims", scope: "Namespaced", file: claim },
  SandboxWarmPool: { kind: "SandboxWarmPool", group: extensionsGroup, apiVersion: apiVersions.SandboxWarmPool, plural: "sandboxwarmpools", scope: "Namespaced", file: warmPool },
};

export function isSandboxKind(kind: unknown): kind is SandboxKind {
  return typeof kind === "string" && Object.prototype.hasOwnProperty.call(apiVersions, kind);
}
