/**
 * The VM's own service account: writes logs and metrics, nothing else at project level.
 * Secret Manager access is granted per secret by PlatformSecrets, never project-wide.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export const projectRoles = ["roles/logging.logWriter", "roles/monitoring.metricWriter"] as const;

export interface RuntimeServiceAccountArgs {
  project: string;
  /** 6-30 characters, lowercase: the part before @. */
  accountId: string;
  displayName: string;
}

export class RuntimeServiceAccount extends pulumi.ComponentResource {
  readonly account: gcp.serviceaccount.Account;
  readonly email: pulumi.Output<string>;
  /** IAM member string, serviceAccount:<email>. */
  readonly member: pulumi.Output<string>;

  constructor(name: string, args: RuntimeServiceAccountArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:iam:RuntimeServiceAccount", name, {}, opts);
    this.account = new gcp.serviceaccount.Account(`${name}-sa`, {
      project: args.project,
      accountId: args.accountId,
      displayName: args.displayName,
    }, { parent: this });
    this.email = this.account.email;
    this.member = pulumi.interpolate`serviceAccount:${this.account.email}`;
    for (const role of projectRoles) {
      const short = role.replace("roles/", "").replace(/\./g, "-").toLowerCase();
      new gcp.projects.IAMMember(`${name}-${short}`, { project: args.project, role, member: this.member }, { parent: this });
    }
    this.registerOutputs({ email: this.email });
  }
}
