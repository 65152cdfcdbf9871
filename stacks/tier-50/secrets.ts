/**
 * Tier-50's secrets in Secret Manager: every platform secret of the catalogue (catalog/secrets.ts,
 * same ids `tierstack-<stack>-<name>` as the single box) plus the two the tier's data plane adds
 * (the Redis URL with its auth string, and the auth string alone for LiteLLM). One secret and one
 * version each, generated values from @pulumi/random, every value secret-marked.
 *
 * Unlike the single box's PlatformSecrets (components/secrets.ts), nothing here grants read
 * access: each workload's own GCP service account is granted `secretAccessor` on exactly the
 * secrets it mounts (components/k8s/service-deployment.ts; docs/adr/0004-tier-50-secrets-path.md),
 * so no identity can read every secret.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { platformSecrets, type SecretName } from "../../catalog/secrets.js";

/** Secrets only the cluster tiers have (derived from the Memorystore instance). */
export type Tier50SecretName = SecretName | "redis-url" | "redis-auth";

export const tier50ExtraSecrets: { name: Exclude<Tier50SecretName, SecretName>; description: string }[] = [
  { name: "redis-url", description: "REDIS_URL of the gateway and the brain: rediss://:<auth>@<host>:6378" },
  { name: "redis-auth", description: "Memorystore AUTH string (LiteLLM's REDIS_PASSWORD)" },
];

/** Secret Manager secret id of a tier-50 secret (the catalogue's form). */
export function tier50SecretId(stack: string, name: Tier50SecretName): string {
  return `tierstack-${stack}-${name}`;
}

export interface Tier50SecretsArgs {
  stack: string;
  /** Values of every config and derived secret, the two Redis ones included. */
  values: Partial<Record<Tier50SecretName, pulumi.Input<string>>>;
}

export class Tier50Secrets extends pulumi.ComponentResource {
  readonly secrets = {} as Record<Tier50SecretName, gcp.secretmanager.Secret>;
  readonly secretIds = {} as Record<Tier50SecretName, string>;

  constructor(name: string, args: Tier50SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:secrets:Tier50Secrets", name, {}, opts);
    const parent = { parent: this };
    const specs: { name: Tier50SecretName; generated?: { length: number; prefix?: string } }[] = [
      ...platformSecrets.map((s) => ({ name: s.name as Tier50SecretName, ...(s.source.kind === "generated" ? { generated: { length: s.source.length, prefix: s.source.prefix } } : {}) })),
      ...tier50ExtraSecrets.map((s) => ({ name: s.name as Tier50SecretName })),
    ];
    for (const spec of specs) {
      let value: pulumi.Input<string>;
      if (spec.generated) {
        const generated = new random.RandomPassword(`${name}-${spec.name}`, { length: spec.generated.length, special: false }, parent);
        value = pulumi.interpolate`${spec.generated.prefix ?? ""}${generated.result}`;
      } else {
        const given = args.values[spec.name];
        if (given === undefined) throw new Error(`Tier50Secrets: no value for ${spec.name}`);
        value = given;
      }
      const id = tier50SecretId(args.stack, spec.name);
      const secret = new gcp.secretmanager.Secret(`${name}-${spec.name}`, {
        secretId: id,
        replication: { auto: {} },
        labels: { platform: "tierstack", stack: args.stack },
      }, parent);
      new gcp.secretmanager.SecretVersion(`${name}-${spec.name}`, { secret: secret.id, secretData: pulumi.secret(value) }, parent);
      this.secrets[spec.name] = secret;
      this.secretIds[spec.name] = id;
    }
    this.registerOutputs({ secretIds: this.secretIds });
  }
}
