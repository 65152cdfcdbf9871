/**
 * validate(obj): is this object a Sandbox, SandboxTemplate, SandboxClaim or SandboxWarmPool the
 * pinned agent-sandbox CRDs (./crds.ts) accept? The checks an API server makes on create:
 * - apiVersion and kind name one of the four kinds at v1beta1;
 * - the object against its CRD's openAPIV3Schema (Ajv): types, required fields, enums, minimum,
 *   patterns, formats (int32, int64, date-time); unknown fields are refused where the schema lists
 *   properties and does not say x-kubernetes-preserve-unknown-fields (a server with
 *   fieldValidation=Strict refuses them; without it they would be dropped silently, which is a
 *   bug either way);
 * - the Kubernetes extensions: x-kubernetes-int-or-string (an integer or a string),
 *   x-kubernetes-list-type set (no duplicate items) and map (no two items with the same
 *   x-kubernetes-list-map-keys), x-kubernetes-embedded-resource (apiVersion and kind present);
 *   x-kubernetes-map-type is an annotation; any other extension (e.g. CEL
 *   x-kubernetes-validations) is unknown to this validator and refused when the schemas compile;
 * - x-tierstack-core-type nodes (an embedded PodSpec or PersistentVolumeClaimSpec) against the
 *   Kubernetes schema of that type (kubernetes-models: types, required fields, formats; it does not
 *   refuse unknown field names);
 * - metadata against ObjectMeta, with a name (or generateName) that is a DNS subdomain.
 * Every error carries the JSON-pointer path of the offending value.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { ConfigMap, PersistentVolumeClaim, Pod } from "kubernetes-models/v1";
import { apiVersions, crds, isSandboxKind, sandboxKinds, type SandboxKind } from "./crds.js";

export interface SchemaError {
  /** JSON pointer of the value, e.g. /spec/podTemplate/spec/containers/0/name ("" = the object). */
  path: string;
  message: string;
}

export interface ValidationResult {
  valid: boolean;
  kind?: SandboxKind;
  errors: SchemaError[];
}

type Json = Record<string, unknown>;

/** Structural schemas drop unknown fields; here they are refused, so a typo is an error. */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = k === "properties" ? Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, closeObjects(s)])) : closeObjects(v);
  }
  if (out.properties && out.additionalProperties === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) out.additionalProperties = false;
  return out;
}

interface ModelError { instancePath?: string; message?: string; params?: Record<string, unknown> }
type Model = { validate(): void };

/** Errors of a kubernetes-models object, their paths under `prefix` (the model's own path stripped). */
function modelErrors(model: Model, strip: string, prefix: string): SchemaError[] {
  try {
    model.validate();
    return [];
  } catch (err) {
    const list = (err as { errors?: ModelError[] }).errors;
    if (!Array.isArray(list)) return [{ path: prefix, message: (err as Error).message }];
    return list
      // kubernetes-models reports every failed branch of a oneOf and then the oneOf itself: keep the summary.
      .filter((e, _, all) => !all.some((o) => o !== e && o.instancePath === e.instancePath && (o as { keyword?: string }).keyword === "oneOf"))
      .map((e) => {
        const at = (e.instancePath ?? "").startsWith(strip) ? (e.instancePath ?? "").slice(strip.length) : (e.instancePath ?? "");
        const missing = typeof e.params?.missingProperty === "string" ? `/${e.params.missingProperty}` : "";
        return { path: `${prefix}${at}${missing}`, message: missing ? "is required" : (e.message ?? "is not valid") };
      });
  }
}

const coreTypes: Record<string, (data: unknown, path: string) => SchemaError[]> = {
  "io.k8s.api.core.v1.PodSpec": (data, path) => modelErrors(new Pod({ spec: data as never }), "/spec", path),
  "io.k8s.api.core.v1.PersistentVolumeClaimSpec": (data, path) => modelErrors(new PersistentVolumeClaim({ spec: data as never }), "/spec", path),
};

/** RFC 3339 date-time, as metav1.Time serialises (Z or an offset, optional fraction). */
const dateTime = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

type KeywordFn = ((schema: unknown, data: unknown, parentSchema?: Json, cxt?: { instancePath: string }) => boolean) & { errors?: Partial<ErrorObject>[] };

function keywordFn(check: (schema: unknown, data: unknown, parentSchema: Json, path: string) => SchemaError[]): KeywordFn {
  const fn: KeywordFn = (schema, data, parentSchema, cxt) => {
    const problems = check(schema, data, parentSchema ?? {}, cxt?.instancePath ?? "");
    fn.errors = problems.map((p) => ({ keyword: "x-tierstack", instancePath: p.path, message: p.message, params: {} }));
    return problems.length === 0;
  };
  return fn;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat("date-time", { type: "string", validate: (s: string) => dateTime.test(s) && !Number.isNaN(Date.parse(s)) });
  for (const kw of ["x-kubernetes-map-type", "x-kubernetes-list-map-keys", "x-kubernetes-preserve-unknown-fields"]) ajv.addKeyword(kw);
  ajv.addKeyword({
    keyword: "x-kubernetes-int-or-string",
    errors: true,
    validate: keywordFn((on, data, _p, path) => (on === true && !(typeof data === "string" || Number.isInteger(data)) ? [{ path, message: "must be an integer or a string" }] : [])),
  });
  ajv.addKeyword({
    keyword: "x-kubernetes-list-type",
    errors: true,
    validate: keywordFn((type, data, parent, path) => {
      if (!Array.isArray(data) || (type !== "set" && type !== "map")) return [];
      const keys = type === "map" ? ((parent["x-kubernetes-list-map-keys"] as string[] | undefined) ?? []) : [];
      const seen = new Map<string, number>();
      const out: SchemaError[] = [];
      data.forEach((item, i) => {
        const id = type === "set" ? JSON.stringify(item) : JSON.stringify(keys.map((k) => (item as Json | null)?.[k]));
        const first = seen.get(id);
        if (first !== undefined) out.push({ path: `${path}/${i}`, message: `duplicates item ${first} (x-kubernetes-list-type ${type}${keys.length ? ` on ${keys.join(", ")}` : ""})` });
        else seen.set(id, i);
      });
      return out;
    }),
  });
  ajv.addKeyword({
    keyword: "x-kubernetes-embedded-resource",
    errors: true,
    validate: keywordFn((on, data, _p, path) => {
      if (on !== true || data === null || typeof data !== "object") return [];
      return (["apiVersion", "kind"] as const).filter((k) => typeof (data as Json)[k] !== "string").map((k) => ({ path: `${path}/${k}`, message: "is required (embedded resource)" }));
    }),
  });
  ajv.addKeyword({
    keyword: "x-tierstack-core-type",
    errors: true,
    validate: keywordFn((type, data, _p, path) => {
      const check = coreTypes[String(type)];
      if (!check) return [{ path, message: `no validator for core type ${String(type)}` }];
      return check(data, path);
    }),
  });
  return ajv;
}

let compiled: Map<SandboxKind, ValidateFunction> | undefined;

function validatorFor(kind: SandboxKind): ValidateFunction {
  if (!compiled) {
    const ajv = newAjv();
    compiled = new Map(sandboxKinds.map((k) => [k, ajv.compile(closeObjects(crds[k].file.openAPIV3Schema) as object)]));
  }
  return compiled.get(kind) as ValidateFunction;
}

function fromAjv(e: ErrorObject): SchemaError {
  const p = e.params as Record<string, unknown>;
  if (e.keyword === "additionalProperties") return { path: `${e.instancePath}/${String(p.additionalProperty)}`, message: "is not a field of this kind (unknown field)" };
  if (e.keyword === "required") return { path: `${e.instancePath}/${String(p.missingProperty)}`, message: "is required" };
  if (e.keyword === "enum") return { path: e.instancePath, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}` };
  return { path: e.instancePath, message: e.message ?? `fails ${e.keyword}` };
}

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function metadataErrors(metadata: unknown): SchemaError[] {
  if (metadata === undefined || metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) return [{ path: "/metadata", message: "is required (an object with a name)" }];
  const out = modelErrors(new ConfigMap({ metadata: metadata as never }), "", "");
  const m = metadata as Json;
  if (m.name === undefined && m.generateName === undefined) out.push({ path: "/metadata/name", message: "is required (or generateName)" });
  if (typeof m.name === "string" && (m.name.length > 253 || !dnsSubdomain.test(m.name))) out.push({ path: "/metadata/name", message: "must be a DNS subdomain (lowercase a-z, 0-9, '-', '.', at most 253 characters)" });
  return out;
}

/** Checks one object; `errors` is empty exactly when `valid`. */
export function validate(obj: unknown): ValidationResult {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return { valid: false, errors: [{ path: "", message: "must be an object" }] };
  const o = obj as Json;
  if (!isSandboxKind(o.kind)) return { valid: false, errors: [{ path: "/kind", message: `must be one of ${sandboxKinds.join(", ")}` }] };
  const kind = o.kind;
  const errors: SchemaError[] = [];
  if (o.apiVersion !== apiVersions[kind]) errors.push({ path: "/apiVersion", message: `must be ${apiVersions[kind]} for ${kind}` });
  const check = validatorFor(kind);
  if (!check(o)) errors.push(...(check.errors ?? []).map(fromAjv));
  errors.push(...metadataErrors(o.metadata));
  return { valid: errors.length === 0, kind, errors };
}

/** One line per error: "<path>: <message>". */
export function formatErrors(errors: readonly SchemaError[]): string[] {
  return errors.map((e) => `${e.path || "/"}: ${e.message}`);
}

/** Throws an Error listing every problem unless the object is valid. */
export function assertValid(obj: unknown): void {
  const r = validate(obj);
  if (!r.valid) throw new Error(`invalid ${r.kind ?? "object"}: ${formatErrors(r.errors).join("; ")}`);
}
