/**
 * Cloudflare edge: a remotely configured tunnel (cloudflared on the box dials out; nothing is
 * exposed on the VM), its ingress rules ending in a 404 catch-all, and a proxied CNAME per
 * hostname to <tunnel id>.cfargotunnel.com. The connector token is built from the account id,
 * tunnel id and the generated tunnel secret, and only ever leaves as a secret.
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

export interface TunnelIngress {
  hostname: string;
  /** cloudflared path regex; undefined = every path. */
  path?: string;
  /** Origin, e.g. http://127.0.0.1:7403. */
  service: string;
}

export interface CloudflareTunnelArgs {
  accountId: string;
  zoneId: string;
  tunnelName: string;
  ingresses: TunnelIngress[];
}

export const catchAll = "http_status:404";

export class CloudflareTunnel extends pulumi.ComponentResource {
  readonly tunnel: cloudflare.ZeroTrustTunnelCloudflared;
  readonly tunnelId: pulumi.Output<string>;
  /** TUNNEL_TOKEN for `cloudflared tunnel run` (secret). */
  readonly token: pulumi.Output<string>;
  readonly hostnames: string[];

  constructor(name: string, args: CloudflareTunnelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:edge:CloudflareTunnel", name, {}, opts);
    const parent = { parent: this };

    // Tunnel secrets are at least 32 random bytes, base64 (Cloudflare API: tunnel_secret).
    const tunnelSecret = new random.RandomBytes(`${name}-tunnel-secret`, { length: 32 }, parent);

    this.tunnel = new cloudflare.ZeroTrustTunnelCloudflared(`${name}-tunnel`, {
      accountId: args.accountId,
      name: args.tunnelName,
      configSrc: "cloudflare",
      tunnelSecret: pulumi.secret(tunnelSecret.base64),
    }, parent);
    this.tunnelId = this.tunnel.id;

    new cloudflare.ZeroTrustTunnelCloudflaredConfig(`${name}-ingress`, {
      accountId: args.accountId,
      tunnelId: this.tunnel.id,
      config: {
        ingresses: [
          ...args.ingresses.map((i) => (i.path === undefined ? { hostname: i.hostname, service: i.service } : { hostname: i.hostname, path: i.path, service: i.service })),
          { service: catchAll },
        ],
      },
    }, parent);

    this.hostnames = [...new Set(args.ingresses.map((i) => i.hostname))];
    for (const hostname of this.hostnames) {
      new cloudflare.DnsRecord(`${name}-dns-${hostname.split(".")[0]}`, {
        zoneId: args.zoneId,
        name: hostname,
        type: "CNAME",
        content: pulumi.interpolate`${this.tunnel.id}.cfargotunnel.com`,
        proxied: true,
        ttl: 1,
        comment: "tierstack tunnel",
      }, parent);
    }

    // The token cloudflared expects: base64 of JSON {"a": account tag, "t": tunnel id, "s": secret
    // (base64)}, the TunnelToken struct of github.com/cloudflare/cloudflared connection/connection.go.
    this.token = pulumi.secret(
      pulumi
        .all([this.tunnel.id, tunnelSecret.base64])
        .apply(([t, s]) => Buffer.from(JSON.stringify({ a: args.accountId, t, s })).toString("base64")),
    );

    this.registerOutputs({ tunnelId: this.tunnelId, hostnames: this.hostnames });
  }
}
