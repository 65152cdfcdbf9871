/**
 * The platform's secrets in Secret Manager: one secret + version each, values generated with
 * @pulumi/random or taken from config secrets / derived values (always secret-marked), and the
 * runtime service account granted secretAccessor on each of these secrets only (and not on the
 * ones other machines use, `readByBox: false`).
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { platformSecrets, secretId, type SecretName } from "../catalog/secrets.js";

export interface PlatformSecretsArgs {
  stack: string;
  /** Values of the config and derived secrets; generated ones are made here. */
  values: Partial<Record<SecretName, pulumi.Input<string>>>;
  /** IAM member that may read the secrets (the VM's service account). */
  accessorMember: pulumi.Input<string>;
}

export class PlatformSecrets extends pulumi.ComponentResource {
  /** Secret Manager secret ids (not values). */
  readonly secretIds: Record<SecretName, string>;
  readonly secrets: Partial<Record<SecretName, gcp.secretmanager.Secret>> = {};

  constructor(name: string, args: PlatformSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:secrets:PlatformSecrets", name, {}, opts);
    const parent = { parent: this };
    const ids = {} as Record<SecretName, string>;

    for (const spec of platformSecrets) {
      let value: pulumi.Input<string>;
      if (spec.source.kind === "generated") {
        const generated = new random.RandomPassword(`${name}-${spec.name}`, { length: spec.source.length, special: false }, parent);
        value = pulumi.interpolate`${spec.source.prefix ?? ""}${generated.result}`;
      } else {
        const given = args.values[spec.name];
        if (given === undefined) throw new Error(`PlatformSecrets: no value for ${spec.name} (${spec.source.kind})`);
        value = given;
      }
      const id = secretId(args.stack, spec.name);
      ids[spec.name] = id;
      const secret = new gcp.secretmanager.Secret(`${name}-${spec.name}`, {
        secretId: id,
        replication: { auto: {} },
        labels: { platform: "tierstack", stack: args.stack },
      }, parent);
      new gcp.secretmanager.SecretVersion(`${name}-${spec.name}`, {
        secret: secret.id,
        secretData: pulumi.secret(value),
      }, parent);
      if (spec.readByBox !== false) {
        new gcp.secretmanager.SecretIamMember(`${name}-${spec.name}-accessor`, {
          secretId: secret.id,
          role: "roles/secretmanager.secretAccessor",
          member: args.accessorMember,
        }, parent);
      }
      this.secrets[spec.name] = secret;
    }
    this.secretIds = ids;
    this.registerOutputs({ secretIds: ids });
  }
}
