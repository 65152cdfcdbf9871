/**
 * Cloudflare Access in front of the private hostnames. Two reusable policies: operators (the
 * listed e-mails, decision "allow") and agents (one Access service token, decision
 * "non_identity": machines present CF-Access-Client-Id / CF-Access-Client-Secret, no login).
 * Two self-hosted applications: the agent-facing hostnames admit both policies, the admin
 * hostnames admit operators only. The token's client id and secret leave only as secrets
 * (SingleBox stores them in Secret Manager).
 *
 * Field names: @pulumi/cloudflare 6.22 zeroTrustAccessPolicy.d.ts / types/input.d.ts
 * (`includes[].email.email`, `includes[].serviceToken.tokenId`), zeroTrustAccessServiceToken.d.ts
 * (`clientId`, `clientSecret` outputs, `duration`). Decision values are the Cloudflare API's enum
 * "allow" | "deny" | "non_identity" | "bypass" (API schema of access policies; the d.ts comment
 * shows a camel-cased "nonIdentity", a doc-generation artifact: the string is sent as is).
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";

export const serviceTokenDecision = "non_identity";

export interface AccessGateArgs {
  accountId: string;
  appName: string;
  /** Hostnames for operators only (admin endpoints). */
  operatorHostnames: string[];
  /** Hostnames agents call with the service token (operators are admitted too). */
  agentHostnames: string[];
  emails: string[];
  sessionDuration?: string;
  /** Service token validity ("forever", or e.g. "8760h"). Default "forever": rotate by replacing it. */
  serviceTokenDuration?: string;
}

export class AccessGate extends pulumi.ComponentResource {
  readonly operatorsPolicy: cloudflare.ZeroTrustAccessPolicy;
  readonly agentsPolicy?: cloudflare.ZeroTrustAccessPolicy;
  readonly serviceToken?: cloudflare.ZeroTrustAccessServiceToken;
  readonly agentsApplication?: cloudflare.ZeroTrustAccessApplication;
  readonly adminApplication?: cloudflare.ZeroTrustAccessApplication;
  /** CF-Access-Client-Id of the agents' token (secret); undefined without agent hostnames. */
  readonly clientId?: pulumi.Output<string>;
  /** CF-Access-Client-Secret of the agents' token (secret). */
  readonly clientSecret?: pulumi.Output<string>;

  constructor(name: string, args: AccessGateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:edge:AccessGate", name, {}, opts);
    const parent = { parent: this };
    if (args.operatorHostnames.length + args.agentHostnames.length === 0) throw new Error("AccessGate: no hostnames to protect");
    if (args.emails.length === 0) throw new Error("AccessGate: no e-mail addresses to allow");
    const sessionDuration = args.sessionDuration ?? "24h";

    this.operatorsPolicy = new cloudflare.ZeroTrustAccessPolicy(`${name}-allow-operators`, {
      accountId: args.accountId,
      name: `${args.appName} operators`,
      decision: "allow",
      includes: args.emails.map((email) => ({ email: { email } })),
    }, parent);

    if (args.agentHostnames.length > 0) {
      const token = new cloudflare.ZeroTrustAccessServiceToken(`${name}-agents-token`, {
        accountId: args.accountId,
        name: `${args.appName} agents`,
        duration: args.serviceTokenDuration ?? "forever",
      }, parent);
      this.serviceToken = token;
      this.agentsPolicy = new cloudflare.ZeroTrustAccessPolicy(`${name}-allow-agents`, {
        accountId: args.accountId,
        name: `${args.appName} agents (service token)`,
        decision: serviceTokenDecision,
        includes: [{ serviceToken: { tokenId: token.id } }],
      }, parent);
      this.agentsApplication = new cloudflare.ZeroTrustAccessApplication(`${name}-agents-app`, {
        accountId: args.accountId,
        name: `${args.appName} agents`,
        type: "self_hosted",
        domain: args.agentHostnames[0],
        destinations: args.agentHostnames.map((uri) => ({ type: "public", uri })),
        sessionDuration,
        policies: [
          { id: this.operatorsPolicy.id, precedence: 1 },
          { id: this.agentsPolicy.id, precedence: 2 },
        ],
      }, parent);
      this.clientId = pulumi.secret(token.clientId);
      this.clientSecret = pulumi.secret(token.clientSecret);
    }

    if (args.operatorHostnames.length > 0) {
      this.adminApplication = new cloudflare.ZeroTrustAccessApplication(`${name}-admin-app`, {
        accountId: args.accountId,
        name: `${args.appName} admin`,
        type: "self_hosted",
        domain: args.operatorHostnames[0],
        destinations: args.operatorHostnames.map((uri) => ({ type: "public", uri })),
        sessionDuration,
        policies: [{ id: this.operatorsPolicy.id, precedence: 1 }],
      }, parent);
    }

    this.registerOutputs({ agentsApplication: this.agentsApplication?.id, adminApplication: this.adminApplication?.id });
  }
}
