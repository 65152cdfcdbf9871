/**
 * TypeScript types of the four agent-sandbox kinds, field for field as the pinned CRD schemas
 * (./crds/*.json) declare them. The embedded core types are kubernetes-models' (the same
 * Kubernetes schemas the validator checks them against).
 */
import type { IPersistentVolumeClaimSpec, IPodSpec } from "kubernetes-models/v1";
import type { INetworkPolicyEgressRule, INetworkPolicyIngressRule } from "kubernetes-models/networking.k8s.io/v1";

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
}

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface PodMetadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface PodTemplate {
  metadata?: PodMetadata;
  spec: IPodSpec;
}

export interface PersistentVolumeClaimTemplate {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: IPersistentVolumeClaimSpec;
}

// ---- Sandbox (agents.x-k8s.io/v1beta1)

export interface SandboxSpec {
  podTemplate: PodTemplate;
  volumeClaimTemplates?: PersistentVolumeClaimTemplate[];
  shutdownTime?: string;
  shutdownPolicy?: "Delete" | "Retain";
  operatingMode?: "Running" | "Suspended";
  service?: boolean;
}

export interface SandboxStatus {
  serviceFQDN?: string;
  service?: string;
  conditions?: Condition[];
  selector?: string;
  podIPs?: string[];
  nodeName?: string;
}

export interface Sandbox {
  apiVersion: "agents.x-k8s.io/v1beta1";
  kind: "Sandbox";
  metadata: ObjectMeta;
  spec: SandboxSpec;
  status?: SandboxStatus;
}

// ---- SandboxTemplate (extensions.agents.x-k8s.io/v1beta1)

export interface SandboxTemplateSpec {
  podTemplate: PodTemplate;
  volumeClaimTemplates?: PersistentVolumeClaimTemplate[];
  /** The template's shared NetworkPolicy (used when networkPolicyManagement is Managed). */
  networkPolicy?: { ingress?: INetworkPolicyIngressRule[]; egress?: INetworkPolicyEgressRule[] };
  networkPolicyManagement?: "Managed" | "Unmanaged";
  envVarsInjectionPolicy?: "Allowed" | "Overrides" | "Disallowed";
  service?: boolean;
}

export interface SandboxTemplate {
  apiVersion: "extensions.agents.x-k8s.io/v1beta1";
  kind: "SandboxTemplate";
  metadata: ObjectMeta;
  spec: SandboxTemplateSpec;
}

// ---- SandboxClaim (extensions.agents.x-k8s.io/v1beta1)

export interface SandboxClaimSpec {
  warmPoolRef: { name: string };
  lifecycle?: {
    shutdownTime?: string;
    ttlSecondsAfterFinished?: number;
    shutdownPolicy?: "Delete" | "DeleteForeground" | "Retain";
  };
  additionalPodMetadata?: PodMetadata;
  /** Setting env makes the claim cold-start from the warm pool's template. */
  env?: { name: string; value: string; containerName?: string }[];
}

export interface SandboxClaimStatus {
  conditions?: Condition[];
  sandbox?: { name?: string; podIPs?: string[] };
}

export interface SandboxClaim {
  apiVersion: "extensions.agents.x-k8s.io/v1beta1";
  kind: "SandboxClaim";
  metadata: ObjectMeta;
  spec: SandboxClaimSpec;
  status?: SandboxClaimStatus;
}

// ---- SandboxWarmPool (extensions.agents.x-k8s.io/v1beta1)

export interface SandboxWarmPoolSpec {
  replicas: number;
  sandboxTemplateRef: { name: string };
  updateStrategy?: { type?: "Recreate" | "OnReplenish" };
}

export interface SandboxWarmPoolStatus {
  replicas?: number;
  readyReplicas?: number;
  selector?: string;
}

export interface SandboxWarmPool {
  apiVersion: "extensions.agents.x-k8s.io/v1beta1";
  kind: "SandboxWarmPool";
  metadata: ObjectMeta;
  spec: SandboxWarmPoolSpec;
  status?: SandboxWarmPoolStatus;
}

export type AgentSandboxObject = Sandbox | SandboxTemplate | SandboxClaim | SandboxWarmPool;
