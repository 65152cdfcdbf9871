/**
 * No plain-text secret where anyone who can read the resource reads it: in instance metadata
 * (readable by everything on the VM and by anyone with compute.instances.get), in a ConfigMap,
 * or as a literal value of a container's environment variable. Secrets belong in Secret
 * Manager, mounted or fetched at start (docs/adr/0004).
 *
 * Two signals, one per place a secret shows: an entry whose *name* says secret (PASSWORD,
 * TOKEN, API_KEY, …) holding a literal value, and a *value* in a credential's published shape
 * (Stripe, OpenRouter/OpenAI, AWS, Google API keys, GitHub and Slack tokens, Meta access tokens,
 * PEM private keys, URLs with a password). Free text (boot scripts, config files) is searched
 * for the shapes only.
 */
import { inputAt, type StackResource } from "../resource.js";
import type { ResourceRule } from "./types.js";
import { containersOf, instanceMetadata, scriptKeys } from "./workloads.js";

const secretName = /(^|[_.-])(password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|credentials?|auth[_-]?string)([_.-]|$)/i;

/** Values that point at a secret rather than hold one. */
const reference = /^(\/|\$\(|\$\{|os\.environ\/|projects\/[^/]+\/secrets\/|sm:\/\/|none$|null$|true$|false$)/i;

export const credentialShapes: readonly { what: string; pattern: RegExp }[] = [
  { what: "a Stripe secret key", pattern: /\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,}/ },
  { what: "a Stripe webhook secret", pattern: /\bwhsec_[A-Za-z0-9]{16,}/ },
  { what: "an OpenRouter or OpenAI API key", pattern: /\bsk-(or-v1-)?[A-Za-z0-9_-]{20,}/ },
  { what: "an AWS access key id", pattern: /\bAKIA[0-9A-Z]{16}\b/ },
  { what: "a Google API key", pattern: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { what: "a GitHub token", pattern: /\bgh[pousr]_[A-Za-z0-9]{36,}/ },
  { what: "a Slack token", pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/ },
  { what: "a Meta (WhatsApp) access token", pattern: /\bEAA[A-Za-z0-9]{40,}/ },
  { what: "a PEM private key", pattern: /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/ },
  { what: "a URL with a password", pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@'"]*:[^\s@/'"]+@/i },
];

function shapeOf(value: string): string | undefined {
  return credentialShapes.find((s) => s.pattern.test(value))?.what;
}

function literalSecret(name: string, value: string): boolean {
  return secretName.test(name) && value.trim() !== "" && !reference.test(value.trim());
}

function check(r: StackResource): string[] {
  const out: string[] = [];
  for (const [key, value] of instanceMetadata(r)) {
    if (!scriptKeys.has(key) && literalSecret(key, value)) out.push(`instance metadata ${key} holds a literal secret`);
    const shape = shapeOf(value);
    if (shape) out.push(`instance metadata ${key} contains ${shape}`);
  }
  if (r.type === "kubernetes:core/v1:ConfigMap") {
    for (const field of ["data", "binaryData"]) {
      const data = inputAt(r, field);
      if (data === null || typeof data !== "object") continue;
      for (const [key, v] of Object.entries(data as Record<string, unknown>)) {
        const value = typeof v === "string" ? v : JSON.stringify(v);
        if (literalSecret(key, value)) out.push(`ConfigMap ${field}.${key} holds a literal secret`);
        const shape = shapeOf(value);
        if (shape) out.push(`ConfigMap ${field}.${key} contains ${shape}`);
      }
    }
  }
  for (const c of containersOf(r)) {
    const env = c.container.env;
    if (!Array.isArray(env)) continue;
    for (const e of env) {
      if (e === null || typeof e !== "object") continue;
      const { name, value } = e as { name?: unknown; value?: unknown };
      if (typeof value !== "string") continue;
      if (literalSecret(String(name ?? ""), value)) out.push(`container ${c.name} env ${String(name)} is a literal secret: use valueFrom or a mounted secret`);
      const shape = shapeOf(value);
      if (shape) out.push(`container ${c.name} env ${String(name)} contains ${shape}`);
    }
  }
  return out;
}

export const noPlaintextSecrets: ResourceRule = {
  kind: "resource",
  name: "no-plaintext-secrets",
  description: "No plain-text secret in instance metadata, a ConfigMap or a container's environment literal.",
  enforcementLevel: "mandatory",
  group: "security",
  check,
};
