/**
 * Checks recorded resource inputs against the installed providers' TypeScript declarations
 * (node_modules/@pulumi/<provider>/**.d.ts). Pulumi's mocks accept any input name, and a
 * misspelled or nested key the type checker cannot see (objects built in `.map` callbacks,
 * spreads) would only fail on `pulumi up`; this walks every key path of every input to the
 * Args interface and the nested `inputs.*` interfaces the provider declares.
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

/** Body of `interface <name> {` … its closing brace at the same indentation. */
function interfaceBody(text: string, name: string, namespace?: string): string | undefined {
  let from = 0;
  if (namespace !== undefined) {
    from = text.indexOf(`export declare namespace ${namespace} {`);
    if (from < 0) return undefined;
  }
  const re = new RegExp(`^( *)(?:export )?interface ${name} \\{$`, "m");
  const m = re.exec(text.slice(from));
  if (!m) return undefined;
  const start = from + m.index + m[0].length;
  const end = text.indexOf(`\n${m[1] ?? ""}}`, start);
  return text.slice(start, end);
}

function parseFields(body: string): Iface {
  const fields: Iface = new Map();
  const props = body.split("\n").map((line) => /^( +)([A-Za-z_$][\w$]*)\??: (.*)$/.exec(line)).filter((m): m is RegExpExecArray => m !== null);
  // Properties sit at the shallowest indentation; deeper matches are inside map types ({ [key: string]: … }).
  const indent = Math.min(...props.map((m) => (m[1] ?? "").length));
  for (const m of props) {
    if ((m[1] ?? "").length !== indent || !m[2]) continue;
    const ref = /^pulumi\.Input<(?:pulumi\.Input<)?inputs\.((?:[a-z]\w*\.)?[A-Z]\w*)>?/.exec(m[3] ?? "")?.[1];
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

/** "gcp:compute/instance:Instance" → its Args interface; undefined for component types. */
function argsOf(type: string): Iface | undefined {
  const m = /^(gcp|cloudflare|random):([^/]+)\/([^:]+):(\w+)$/.exec(type);
  if (!m) return undefined;
  const [, provider = "", module = "", file = "", cls = ""] = m;
  // Type tokens and file names differ in case for some modules (projects/iAMMember → iammember.d.ts).
  const dir = join(pkgDir(provider), module === "index" ? "" : module);
  const fileName = existsSync(dir) ? readdirSync(dir).find((f) => f.toLowerCase() === `${file.toLowerCase()}.d.ts`) : undefined;
  if (fileName === undefined) throw new Error(`no declarations for ${type} in ${dir}`);
  const path = join(dir, fileName);
  const body = interfaceBody(read(path), `${cls}Args`);
  if (body === undefined) throw new Error(`no ${cls}Args in ${path}`);
  return parseFields(body);
}

function nested(provider: string, ref: string): Iface | undefined {
  const [ns, name] = ref.includes(".") ? ref.split(".") : [undefined, ref];
  const body = interfaceBody(read(join(pkgDir(provider), "types", "input.d.ts")), name ?? "", ns);
  return body === undefined ? undefined : parseFields(body);
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
    const provider = r.type.split(":")[0] ?? "";
    walk(provider, args, r.inputs, "", `${r.type}::${r.name}`, out);
  }
  return out;
}

/** Resource types the check can resolve (everything not a tierstack component). */
export function checkedTypes(resources: { type: string }[]): string[] {
  return [...new Set(resources.map((r) => r.type).filter((t) => argsOf(t) !== undefined))].sort();
}
