/**
 * The MCP gateway's shard map: which MCP server replicas serve which namespace, and the newest
 * protocol version each namespace's servers speak. One parser for the gateway (`GATEWAY_SHARDS`)
 * and the stack config (`tierstack:gatewayShardMap`), so the two cannot disagree.
 *
 * This module imports nothing: the Pulumi program loads it and must not pull in a service's
 * runtime dependencies.
 *
 * Accepted per namespace, in one JSON object:
 *   "dev-tools": ["http://127.0.0.1:9101/mcp", ...]
 *   "commerce":  { "replicas": ["http://…", ...], "protocol": "2026-07-28" }
 * The array form means protocol 2025-11-25 (DEFAULT_PROTOCOL).
 */

/** The stateless protocol era: a shard that speaks it is forwarded to natively. */
export const MODERN_VERSION = "2026-07-28";
/** Session-based protocol versions, newest first; a shard speaking one of these is bridged for modern clients. */
export const LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
export type ShardProtocol = typeof MODERN_VERSION | (typeof LEGACY_VERSIONS)[number];
/** Every accepted `protocol` value, newest first. */
export const PROTOCOL_VERSIONS: readonly ShardProtocol[] = [MODERN_VERSION, ...LEGACY_VERSIONS];
/** The protocol of a namespace given in the array form or without `protocol`. */
export const DEFAULT_PROTOCOL: ShardProtocol = LEGACY_VERSIONS[0];

export interface ShardConfig {
  namespace: string;
  replicas: string[];
  /** The newest protocol version the shard's servers speak; older than 2026-07-28 ⇒ the gateway bridges modern clients. */
  protocol: ShardProtocol;
}

/** Namespaces are path segments (`/mcp/<namespace>`) and tool-name prefixes (`<namespace>__<tool>`), so no `__`. */
export const NAMESPACE_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
export const NAMESPACE_RULE = "1-32 of a-z 0-9 -, starting and ending with a letter or digit";

export function isNamespace(name: string): boolean {
  return NAMESPACE_PATTERN.test(name);
}

export interface ShardMapResult {
  /** The namespaces that passed every check, in input order; use them only when `problems` is empty. */
  shards: ShardConfig[];
  /** One line per problem, each naming the namespace or field and what is accepted; empty when the map is valid. */
  problems: string[];
}

const OBJECT_KEYS = ["replicas", "protocol"] as const;
const NOT_A_LIST = "expected a non-empty array of replica URLs";

/**
 * Parses a shard map given as JSON text (any string is taken as JSON text) or as an already parsed
 * value. Every problem is reported, one line each; nothing throws.
 */
export function parseShardMap(input: unknown): ShardMapResult {
  const problems: string[] = [];
  const shards: ShardConfig[] = [];
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (err) {
      return { shards, problems: [`not JSON: ${err instanceof Error ? err.message : String(err)}`] };
    }
  }
  if (!isPlainObject(value)) {
    return { shards, problems: ["expected an object mapping namespace to replica URLs"] };
  }
  const tainted = new Set<string>();
  if (typeof input === "string") {
    for (const d of duplicateKeys(input)) {
      if (d.namespace === undefined) problems.push(`namespace ${JSON.stringify(d.key)}: listed twice; expected each namespace once`);
      else problems.push(`${d.namespace}: key ${JSON.stringify(d.key)} listed twice; expected each of ${OBJECT_KEYS.join(", ")} at most once`);
      tainted.add(d.namespace ?? d.key);
    }
  }
  const entries = Object.entries(value);
  if (entries.length === 0) problems.push("no namespaces: at least one is required");
  for (const [namespace, spec] of entries) {
    const before = problems.length;
    const shard = parseNamespace(namespace, spec, problems);
    if (shard && problems.length === before && !tainted.has(namespace)) shards.push(shard);
  }
  return { shards, problems };
}

function parseNamespace(namespace: string, spec: unknown, problems: string[]): ShardConfig | undefined {
  if (!isNamespace(namespace)) {
    problems.push(`namespace ${JSON.stringify(namespace)}: expected ${NAMESPACE_RULE}`);
    return undefined;
  }
  let replicas: unknown = spec;
  let replicasField = namespace;
  let protocol: unknown = DEFAULT_PROTOCOL;
  if (isPlainObject(spec)) {
    replicasField = `${namespace}.replicas`;
    replicas = Object.hasOwn(spec, "replicas") ? spec.replicas : undefined;
    if (Object.hasOwn(spec, "protocol")) protocol = spec.protocol;
    for (const k of Object.keys(spec)) {
      if (!(OBJECT_KEYS as readonly string[]).includes(k)) problems.push(`${namespace}: unknown key ${JSON.stringify(k)} (expected ${OBJECT_KEYS.join(", ")})`);
    }
  }
  const protocolOk = typeof protocol === "string" && (PROTOCOL_VERSIONS as readonly string[]).includes(protocol);
  if (!protocolOk) problems.push(`${namespace}.protocol=${show(protocol)}: expected one of ${PROTOCOL_VERSIONS.join(", ")}`);

  if (replicas === undefined) {
    problems.push(`${replicasField}: missing; ${NOT_A_LIST}`);
    return undefined;
  }
  if (!Array.isArray(replicas)) {
    const forms = replicasField === namespace ? ` or {"replicas": [...], "protocol": "${DEFAULT_PROTOCOL}"}` : "";
    problems.push(`${replicasField}=${show(replicas)}: ${NOT_A_LIST}${forms}`);
    return undefined;
  }
  if (replicas.length === 0) {
    problems.push(`${replicasField}: ${NOT_A_LIST}`);
    return undefined;
  }
  const seen = new Set<string>();
  const ok: string[] = [];
  for (const [i, r] of (replicas as unknown[]).entries()) {
    if (typeof r !== "string") {
      problems.push(`${namespace}[${i}]: expected a URL string`);
      continue;
    }
    const href = httpUrl(r);
    if (href === undefined) problems.push(`${namespace}[${i}]=${JSON.stringify(r)}: expected an http(s) URL`);
    else if (seen.has(href)) problems.push(`${namespace}[${i}]=${JSON.stringify(r)}: listed twice`);
    else {
      seen.add(href);
      ok.push(r);
    }
  }
  if (!protocolOk || ok.length !== replicas.length) return undefined;
  return { namespace, replicas: ok, protocol: protocol as ShardProtocol };
}

/**
 * The canonical shard-map JSON (object form, one line, explicit protocol), as `GATEWAY_SHARDS`
 * takes it. Throws when the shards would not parse back unchanged (a bad namespace, URL or
 * protocol, or a namespace given twice), so nothing invalid is ever rendered.
 */
export function formatShardMap(shards: readonly ShardConfig[]): string {
  const names = new Set<string>();
  for (const s of shards) {
    if (names.has(s.namespace)) throw new Error(`formatShardMap: namespace ${JSON.stringify(s.namespace)} given twice`);
    names.add(s.namespace);
  }
  const text = JSON.stringify(Object.fromEntries(shards.map((s) => [s.namespace, { replicas: [...s.replicas], protocol: s.protocol }])));
  const { problems } = parseShardMap(text);
  if (problems.length > 0) throw new Error(`formatShardMap: ${problems.join("; ")}`);
  return text;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return v === undefined ? "undefined" : JSON.stringify(v);
}

/** The normalised href of an absolute http(s) URL (so `http://a:80/x` and `http://a/x` are the same replica), else undefined. */
function httpUrl(s: string): string | undefined {
  if (!/^https?:\/\/[^\s/]/i.test(s) || /\s/.test(s)) return undefined;
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keys given twice in the top-level object (namespaces) or in a namespace's object form, which
 * JSON.parse would silently collapse to the last one. `text` must be valid JSON.
 */
function duplicateKeys(text: string): { namespace?: string; key: string }[] {
  const found: { namespace?: string; key: string }[] = [];
  // One frame per open container: objects keep their keys and the last one seen; arrays keep nothing.
  const stack: ({ keys: Set<string>; last?: string } | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") stack.push({ keys: new Set() });
    else if (c === "[") stack.push(null);
    else if (c === "}" || c === "]") stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const literal = text.slice(i, j + 1);
      i = j;
      let k = j + 1;
      while (k < text.length && " \t\n\r".includes(text[k] as string)) k++;
      const top = stack[stack.length - 1];
      if (text[k] !== ":" || !top) continue;
      const key = JSON.parse(literal) as string;
      if (top.keys.has(key)) {
        const outer = stack[0];
        if (stack.length === 1) found.push({ key });
        else if (stack.length === 2 && outer?.last !== undefined) found.push({ namespace: outer.last, key });
      }
      top.keys.add(key);
      top.last = key;
    }
  }
  return found;
}
