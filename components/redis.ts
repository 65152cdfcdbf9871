/**
 * Memorystore for Redis: the gateway's session registry and the brain's shared send-rate bucket.
 * Reached over private services access (connectMode PRIVATE_SERVICE_ACCESS, so it `dependsOn` the
 * peering), AUTH on, and in-transit encryption with server authentication: the server presents a
 * certificate from the instance's CA (`serverCaCerts`) on port 6378 and accepts TLS only. The
 * services connect with `rediss://:<auth>@host:6378` and REDIS_CA_FILE pointing at that CA
 * (packages/common/src/redis.ts), so the URL is a secret.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export type RedisTier = "BASIC" | "STANDARD_HA";
export const redisTiers: readonly RedisTier[] = ["BASIC", "STANDARD_HA"];

export interface RedisCacheArgs {
  region: string;
  /** The VPC (id or self link) authorised to reach the instance. */
  network: pulumi.Input<string>;
  /** Private services access: the allocated range's name and what the instance depends on. */
  privateServices: { rangeName: pulumi.Input<string>; dependsOn: pulumi.Resource[] };
  /** BASIC (tier-50) or STANDARD_HA (tier-100: a replica in another zone, automatic failover). */
  tier: RedisTier;
  memorySizeGb: number;
  /** REDIS_7_2 unless the stack says otherwise. */
  redisVersion?: string;
  labels?: Record<string, string>;
}

export class RedisCache extends pulumi.ComponentResource {
  readonly instance: gcp.redis.Instance;
  readonly host: pulumi.Output<string>;
  /** 6378 with in-transit encryption. */
  readonly port: pulumi.Output<number>;
  readonly authString: pulumi.Output<string>;
  /** Every server CA certificate of the instance, PEM, concatenated (REDIS_CA_FILE's content). */
  readonly serverCaPem: pulumi.Output<string>;
  /** rediss://:<auth>@host:port, secret (REDIS_URL). */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: RedisCacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:data:RedisCache", name, {}, opts);
    if (!redisTiers.includes(args.tier)) throw new Error(`RedisCache tier=${JSON.stringify(args.tier)}: expected one of ${redisTiers.join(", ")}`);
    if (!Number.isInteger(args.memorySizeGb) || args.memorySizeGb < 1 || args.memorySizeGb > 300) {
      throw new Error(`RedisCache memorySizeGb=${args.memorySizeGb}: expected an integer between 1 and 300`);
    }
    this.instance = new gcp.redis.Instance(`${name}-instance`, {
      region: args.region,
      tier: args.tier,
      memorySizeGb: args.memorySizeGb,
      redisVersion: args.redisVersion ?? "REDIS_7_2",
      authorizedNetwork: args.network,
      connectMode: "PRIVATE_SERVICE_ACCESS",
      reservedIpRange: args.privateServices.rangeName,
      authEnabled: true,
      transitEncryptionMode: "SERVER_AUTHENTICATION",
      displayName: "tierstack coordination (sessions, send-rate buckets)",
      labels: args.labels ?? {},
    }, { parent: this, dependsOn: args.privateServices.dependsOn });
    this.host = this.instance.host;
    this.port = this.instance.port;
    this.authString = pulumi.secret(this.instance.authString);
    this.serverCaPem = this.instance.serverCaCerts.apply((certs) => certs.map((c) => c.cert.trim()).join("\n") + "\n");
    // The auth string is a UUID-like token; escaped anyway, the kit decodes it.
    this.url = pulumi.secret(pulumi.interpolate`rediss://:${this.instance.authString.apply(encodeURIComponent)}@${this.instance.host}:${this.instance.port}`);
    this.registerOutputs({ host: this.host, port: this.port });
  }
}
