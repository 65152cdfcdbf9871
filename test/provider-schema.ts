/**
 * Checks recorded resource inputs against the installed providers' TypeScript declarations
 * (node_modules/@pulumi/<provider>/**.d.ts). Pulumi's mocks accept any input name, and a
 * misspelled or nested key the type checker cannot see (objects built in `.map` callbacks,
 * spreads) would only fail on `pulumi up`; this walks every key path of every input to the
 * Args interface and the nested `inputs.*` interfaces the provider declares. Kubernetes objects
 * (@pulumi/kubernetes) are walked the same way, down to containers, probes and volumes.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";

interface Field {
  /** Referenced input interface ("compute.InstanceBootDisk", "ZeroTrustAccessPolicyInclude"), if any. */
  ref?: string;
}

type Iface = Map<string, Field>;

const cache = new Map<string, string>();
function read(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    text = readFileSync(file, "utf8");
    cache.set(file, text);
  }
  return text;
}

/** The block of `namespace <name> {` (the outermost with `export declare`), from its first line to its closing brace. */
function namespaceBlock(text: string, name: string, outermost: boolean): string | undefined {
  const re = outermost ? new RegExp(`^export declare namespace ${name} \\{$`, "m") : new RegExp(`^( +)namespace ${name} \\{$`, "m");
  const m = re.exec(text);
  if (!m) return undefined;
  const indent = outermost ? "" : (m[1] ?? "");
  const start = m.index + m[0].length;
  const end = text.indexOf(`\n${indent}}`, start);
  return text.slice(start, end < 0 ? undefined : end);
}

/**
 * Body of `interface <name> {` … its closing brace at the same indentation, inside the given
 * namespaces (gcp: `compute`; kubernetes: `core`, `v1`).
 */
function interfaceBody(text: string, name: string, namespaces: string[] = []): string | undefined {
  let scope: string | undefined = text;
  namespaces.forEach((ns, i) => {
    if (scope !== undefined) scope = namespaceBlock(scope, ns, i === 0);
  });
  if (scope === undefined) return undefined;
  const re = new RegExp(`^( *)(?:export )?interface ${name} \\{$`, "m");
  const m = re.exec(scope);
  if (!m) return undefined;
  const start = m.index + m[0].length;
  const end = scope.indexOf(`\n${m[1] ?? ""}}`, start);
  return scope.slice(start, end);
}

function parseFields(body: string): Iface {
  const fields: Iface = new Map();
  const props = body.split("\n").map((line) => /^( +)([A-Za-z_$][\w$]*)\??: (.*)$/.exec(line)).filter((m): m is RegExpExecArray => m !== null);
  // Properties sit at the shallowest indentation; deeper matches are inside map types ({ [key: string]: … }).
  const indent = Math.min(...props.map((m) => (m[1] ?? "").length));
  for (const m of props) {
    if ((m[1] ?? "").length !== indent || !m[2]) continue;
    const ref = /^pulumi\.Input<(?:pulumi\.Input<)?inputs\.((?:[a-z]\w*\.)*[A-Z]\w*)>?/.exec(m[3] ?? "")?.[1];
    fields.set(m[2], ref === undefined ? {} : { ref });
  }
  return fields;
}

export interface SchemaProblem {
  resource: string;
  path: string;
  problem: string;
}

function pkgDir(provider: string): string {
  return join(__dirname, "..", "node_modules", "@pulumi", provider);
}

/** Args interface in `dir`/<file>.d.ts (file names differ in case from type tokens for some modules). */
function argsIn(dir: string, file: string, iface: string, type: string): Iface {
  const fileName = existsSync(dir) ? readdirSync(dir).find((f) => f.toLowerCase() === `${file.toLowerCase()}.d.ts`) : undefined;
  if (fileName === undefined) throw new Error(`no declarations for ${type} in ${dir}`);
  const path = join(dir, fileName);
  const body = interfaceBody(read(path), iface);
  if (body === undefined) throw new Error(`no ${iface} in ${path}`);
  return parseFields(body);
}

/**
 * The Args interface of a resource type; undefined for component types and for Kubernetes
 * custom resources (their objects are checked against their CRD schemas, test/k8s-schema.ts).
 * "gcp:compute/instance:Instance" → gcp/compute/instance.d.ts InstanceArgs;
 * "kubernetes:apps/v1:Deployment" → kubernetes/apps/v1/deployment.d.ts DeploymentArgs
 * (networking.k8s.io → networking, rbac.authorization.k8s.io → rbac); "pulumi:providers:kubernetes" → kubernetes/provider.d.ts.
 */
function argsOf(type: string): Iface | undefined {
  const provider = /^pulumi:providers:(gcp|cloudflare|random|kubernetes)$/.exec(type);
  if (provider) return argsIn(pkgDir(provider[1] ?? ""), "provider", "ProviderArgs", type);
  const kube = /^kubernetes:([^/:]+)\/(v[^:]+):(\w+)$/.exec(type);
  if (kube) {
    const [, group = "", version = "", kind = ""] = kube;
    const builtin = !group.includes(".") || group.endsWith(".k8s.io");
    if (!builtin) return undefined;
    // The module is the group's first label: networking.k8s.io → networking, rbac.authorization.k8s.io → rbac.
    return argsIn(join(pkgDir("kubernetes"), group.split(".")[0] ?? "", version), kind, `${kind}Args`, type);
  }
  const m = /^(gcp|cloudflare|random):([^/]+)\/([^:]+):(\w+)$/.exec(type);
  if (!m) return undefined;
  const [, prov = "", module = "", file = "", cls = ""] = m;
  return argsIn(join(pkgDir(prov), module === "index" ? "" : module), file, `${cls}Args`, type);
}

const nestedCache = new Map<string, Iface | undefined>();

function nested(provider: string, ref: string): Iface | undefined {
  const key = `${provider}:${ref}`;
  if (nestedCache.has(key)) return nestedCache.get(key);
  const parts = ref.split(".");
  const name = parts.pop() ?? "";
  const body = interfaceBody(read(join(pkgDir(provider), "types", "input.d.ts")), name, parts);
  const fields = body === undefined ? undefined : parseFields(body);
  nestedCache.set(key, fields);
  return fields;
}

function isSecretMarker(v: unknown): v is { value: unknown } {
  return pulumi.runtime.isRpcSecret(v);
}

function walk(provider: string, iface: Iface, value: Record<string, unknown>, path: string, resource: string, out: SchemaProblem[]): void {
  for (const [key, raw] of Object.entries(value)) {
    if (raw === undefined) continue;
    const field = iface.get(key);
    const here = path ? `${path}.${key}` : key;
    if (!field) {
      out.push({ resource, path: here, problem: "not an input of the provider" });
      continue;
    }
    if (!field.ref) continue;
    const inner = nested(provider, field.ref);
    if (!inner) {
      out.push({ resource, path: here, problem: `no declaration for inputs.${field.ref}` });
      continue;
    }
    const v = isSecretMarker(raw) ? raw.value : raw;
    const items = Array.isArray(v) ? v : [v];
    items.forEach((item, i) => {
      const itemPath = Array.isArray(v) ? `${here}[${i}]` : here;
      const unwrapped = isSecretMarker(item) ? item.value : item;
      if (unwrapped !== null && typeof unwrapped === "object" && !Array.isArray(unwrapped)) {
        walk(provider, inner, unwrapped as Record<string, unknown>, itemPath, resource, out);
      }
    });
  }
}

/** Every input key path that the provider's declarations do not have. Components are skipped. */
export function schemaProblems(resources: { type: string; name: string; inputs: Record<string, unknown> }[]): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  for (const r of resources) {
    const args = argsOf(r.type);
    if (!args) continue;
    const provider = r.type.startsWith("pulumi:providers:") ? r.type.split(":")[2] ?? "" : r.type.split(":")[0] ?? "";
    walk(provider, args, r.inputs, "", `${r.type}::${r.name}`, out);
  }
  return out;
}

/** Resource types the check can resolve (everything but tierstack components and Kubernetes custom resources). */
export function checkedTypes(resources: { type: string }[]): string[] {
  return [...new Set(resources.map((r) => r.type).filter((t) => argsOf(t) !== undefined))].sort();
}
