/**
 * The one walk over resource inputs and outputs that tells secret strings from plain ones:
 * Pulumi marks a secret with a wrapper (`runtime.isRpcSecret`), and everything below a marker is
 * secret. `plan` uses it to find secret values and to hide them; the tests use it to assert that
 * no secret value sits anywhere plain.
 */
import * as pulumi from "@pulumi/pulumi";

export type StringVisitor = (value: string, path: string, inSecret: boolean) => void;

export function isSecretMarked(v: unknown): v is { value: unknown } {
  return pulumi.runtime.isRpcSecret(v);
}

/** Calls `visit` for every string reachable from `value`, with its path and whether a secret marker is above it. */
export function walkStrings(value: unknown, visit: StringVisitor, path = "$", inSecret = false): void {
  if (isSecretMarked(value)) return walkStrings(value.value, visit, path, true);
  if (typeof value === "string") return visit(value, path, inSecret);
  if (Array.isArray(value)) return value.forEach((v, i) => walkStrings(v, visit, `${path}[${i}]`, inSecret));
  if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) walkStrings(v, visit, `${path}.${k}`, inSecret);
  }
}

/** Every string under a secret marker. */
export function secretStrings(value: unknown): string[] {
  const out: string[] = [];
  walkStrings(value, (s, _path, secret) => secret && out.push(s));
  return out;
}

/** Every string reachable without passing through a secret marker, with its path. */
export function plainStrings(value: unknown, path = "$"): { path: string; value: string }[] {
  const out: { path: string; value: string }[] = [];
  walkStrings(value, (s, p, secret) => !secret && out.push({ path: p, value: s }), path);
  return out;
}
