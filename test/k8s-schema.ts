/**
 * Validates every Kubernetes object a plan declares against the schema of its kind:
 * - built-in kinds against kubernetes-models (the Kubernetes OpenAPI schemas, compiled), which
 *   checks types, required fields and formats; unknown field names are the provider-schema
 *   check's job (test/provider-schema.ts walks them against @pulumi/kubernetes' declarations);
 * - custom kinds (PodMonitoring, SecretProviderClass) against the CRD schemas checked in under
 *   test/fixtures/crds/ (each file names its upstream source and version), with ajv, and with
 *   unknown fields refused (the API server would prune them silently); their metadata against
 *   ObjectMeta;
 * - any other kind is a problem: no object goes unvalidated.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Ajv, type ValidateFunction } from "ajv";

const requireHere = createRequire(join(__dirname, "k8s-schema.ts"));

export interface CrdSchemaFile {
  source: string;
  version: string;
  group: string;
  apiVersion: string;
  kind: string;
  derivation: string;
  schema: Record<string, unknown>;
}

export const crdDir = join(__dirname, "fixtures", "crds");

export function loadCrdSchemas(dir = crdDir): CrdSchemaFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as CrdSchemaFile);
}

/** Structural schemas prune unknown fields; here they are refused, so a typo fails the test. */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === "properties" ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, closeObjects(s)])) : closeObjects(v);
  if (out.properties && out.additionalProperties === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) out.additionalProperties = false;
  return out;
}

let ajv: Ajv | undefined;
const crdValidators = new Map<string, ValidateFunction>();

function crdValidator(apiVersion: string, kind: string): ValidateFunction | undefined {
  const key = `${apiVersion} ${kind}`;
  if (crdValidators.size === 0) {
    ajv = new Ajv({ allErrors: true, strict: true });
    for (const kw of ["x-kubernetes-int-or-string", "x-kubernetes-map-type", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-list-type", "x-kubernetes-list-map-keys"]) ajv.addKeyword(kw);
    ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
    for (const crd of loadCrdSchemas()) crdValidators.set(`${crd.apiVersion} ${crd.kind}`, ajv.compile(closeObjects(crd.schema) as object));
  }
  return crdValidators.get(key);
}

type Model = { validate(): void };
type ModelClass = new (data: unknown) => Model;

function builtinModel(apiVersion: string, kind: string): ModelClass | undefined {
  if (!/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(apiVersion)) return undefined;
  try {
    const mod = requireHere(`kubernetes-models/${apiVersion}`) as Record<string, unknown>;
    const cls = mod[kind];
    return typeof cls === "function" ? (cls as ModelClass) : undefined;
  } catch {
    return undefined;
  }
}

const ObjectMeta = requireHere("@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta").ObjectMeta as ModelClass;

/** Secret markers unwrapped (a Kubernetes object should carry none; the tests say so separately). */
function plain(value: unknown): unknown {
  if (pulumi.runtime.isRpcSecret(value)) return plain((value as { value: unknown }).value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

export interface K8sResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** The resources of a plan that are Kubernetes objects (the provider itself excluded). */
export function kubernetesObjects(resources: readonly K8sResource[]): K8sResource[] {
  return resources.filter((r) => r.type.startsWith("kubernetes:"));
}

/** "kubernetes:apps/v1:Deployment" → apps/v1 Deployment; core/v1 → v1. */
export function tokenKind(type: string): { apiVersion: string; kind: string } | undefined {
  const m = /^kubernetes:([^:]+):(\w+)$/.exec(type);
  if (!m) return undefined;
  const apiVersion = (m[1] ?? "").replace(/^core\//, "");
  return { apiVersion, kind: m[2] ?? "" };
}

/** One line per object that fails its schema or has no schema at all. */
export function k8sSchemaProblems(resources: readonly K8sResource[]): string[] {
  const problems: string[] = [];
  for (const r of kubernetesObjects(resources)) {
    const at = `${r.type}::${r.name}`;
    const object = plain(r.inputs) as Record<string, unknown>;
    const apiVersion = String(object.apiVersion ?? "");
    const kind = String(object.kind ?? "");
    const token = tokenKind(r.type);
    if (!token || token.apiVersion !== apiVersion || token.kind !== kind) {
      problems.push(`${at}: type token and object (${apiVersion} ${kind}) disagree`);
      continue;
    }
    const model = builtinModel(apiVersion, kind);
    if (model) {
      try {
        new model(object).validate();
      } catch (err) {
        problems.push(`${at}: ${(err as Error).message}`);
      }
      continue;
    }
    const crd = crdValidator(apiVersion, kind);
    if (!crd) {
      problems.push(`${at}: no schema for ${apiVersion} ${kind} (neither kubernetes-models nor test/fixtures/crds)`);
      continue;
    }
    if (!crd(object)) problems.push(`${at}: ${(crd.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""}${e.params && "additionalProperty" in e.params ? ` (${String(e.params.additionalProperty)})` : ""}`).join(", ")}`);
    try {
      new ObjectMeta(object.metadata ?? {}).validate();
    } catch (err) {
      problems.push(`${at}: metadata: ${(err as Error).message}`);
    }
  }
  return problems;
}
