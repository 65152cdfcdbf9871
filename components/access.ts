/**
 * Cloudflare Access in front of the private hostnames: one self-hosted application covering
 * all of them and one reusable allow policy for the listed e-mail addresses.
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";

export interface AccessGateArgs {
  accountId: string;
  appName: string;
  hostnames: string[];
  emails: string[];
  sessionDuration?: string;
}

export class AccessGate extends pulumi.ComponentResource {
  readonly policy: cloudflare.ZeroTrustAccessPolicy;
  readonly application: cloudflare.ZeroTrustAccessApplication;

  constructor(name: string, args: AccessGateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:edge:AccessGate", name, {}, opts);
    if (args.hostnames.length === 0) throw new Error("AccessGate: no hostnames to protect");
    if (args.emails.length === 0) throw new Error("AccessGate: no e-mail addresses to allow");

    this.policy = new cloudflare.ZeroTrustAccessPolicy(`${name}-allow-operators`, {
      accountId: args.accountId,
      name: `${args.appName} operators`,
      decision: "allow",
      includes: args.emails.map((email) => ({ email: { email } })),
    }, { parent: this });

    this.application = new cloudflare.ZeroTrustAccessApplication(`${name}-app`, {
      accountId: args.accountId,
      name: args.appName,
      type: "self_hosted",
      domain: args.hostnames[0],
      destinations: args.hostnames.map((uri) => ({ type: "public", uri })),
      sessionDuration: args.sessionDuration ?? "24h",
      policies: [{ id: this.policy.id, precedence: 1 }],
    }, { parent: this });

    this.registerOutputs({ application: this.application.id });
  }
}
