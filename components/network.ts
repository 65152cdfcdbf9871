/**
 * The platform network: a custom-mode VPC and one subnet, SSH only from Google's IAP TCP
 * forwarding range (cloud.google.com/iap/docs/using-tcp-forwarding), nothing from 0.0.0.0/0,
 * and Cloud NAT so a VM without an external IP can pull images and reach Cloudflare and cloud LLMs.
 * A cluster tier adds the subnet's secondary ranges for pods and services (VPC-native GKE,
 * https://cloud.google.com/kubernetes-engine/docs/concepts/alias-ips); NAT covers them too
 * (ALL_IP_RANGES). Without secondary ranges the subnet's inputs are the single box's as deployed.
 * During single-box → tier-50 (expand to cut-over) one more rule lets the GKE pod range reach the
 * box's NATS leaf node port (`natsLeafFrom`): tier-50's node joins the box's as a leaf node.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

/** Source range of IAP TCP forwarding. */
export const iapRange = "35.235.240.0/20";

export interface PlatformNetworkArgs {
  region: string;
  subnetCidr: string;
  /** Network tag the SSH rule targets; the VM carries it. */
  targetTag: string;
  /** Secondary ranges of the subnet (GKE pods and services), by range name. */
  secondaryRanges?: { rangeName: string; ipCidrRange: string }[];
  /** Ingress to the target tag's NATS leaf node port from these ranges (a migration's leaf connection). */
  natsLeafFrom?: { sourceRanges: string[]; port: number };
}

export class PlatformNetwork extends pulumi.ComponentResource {
  readonly network: gcp.compute.Network;
  readonly subnet: gcp.compute.Subnetwork;
  readonly sshFromIap: gcp.compute.Firewall;
  readonly natsLeaf?: gcp.compute.Firewall;
  readonly router: gcp.compute.Router;
  readonly nat: gcp.compute.RouterNat;

  constructor(name: string, args: PlatformNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:network:PlatformNetwork", name, {}, opts);
    const parent = { parent: this };

    this.network = new gcp.compute.Network(`${name}-vpc`, {
      autoCreateSubnetworks: false,
      routingMode: "REGIONAL",
      description: "tierstack platform network",
    }, parent);

    this.subnet = new gcp.compute.Subnetwork(`${name}-subnet`, {
      network: this.network.id,
      region: args.region,
      ipCidrRange: args.subnetCidr,
      privateIpGoogleAccess: true,
      ...(args.secondaryRanges && args.secondaryRanges.length > 0 ? { secondaryIpRanges: args.secondaryRanges } : {}),
    }, parent);

    this.sshFromIap = new gcp.compute.Firewall(`${name}-ssh-from-iap`, {
      network: this.network.id,
      direction: "INGRESS",
      priority: 1000,
      allows: [{ protocol: "tcp", ports: ["22"] }],
      sourceRanges: [iapRange],
      targetTags: [args.targetTag],
      description: "SSH through IAP TCP forwarding only",
    }, parent);

    if (args.natsLeafFrom) {
      if (args.natsLeafFrom.sourceRanges.length === 0) throw new Error(`PlatformNetwork ${name}: natsLeafFrom needs a source range`);
      this.natsLeaf = new gcp.compute.Firewall(`${name}-nats-leaf`, {
        network: this.network.id,
        direction: "INGRESS",
        priority: 1000,
        allows: [{ protocol: "tcp", ports: [String(args.natsLeafFrom.port)] }],
        sourceRanges: args.natsLeafFrom.sourceRanges,
        targetTags: [args.targetTag],
        description: "NATS leaf node connections during a tier migration (the new tier's pods to this node)",
      }, parent);
    }

    this.router = new gcp.compute.Router(`${name}-router`, {
      network: this.network.id,
      region: args.region,
    }, parent);

    this.nat = new gcp.compute.RouterNat(`${name}-nat`, {
      router: this.router.name,
      region: args.region,
      natIpAllocateOption: "AUTO_ONLY",
      sourceSubnetworkIpRangesToNat: "LIST_OF_SUBNETWORKS",
      subnetworks: [{ name: this.subnet.id, sourceIpRangesToNats: ["ALL_IP_RANGES"] }],
      logConfig: { enable: true, filter: "ERRORS_ONLY" },
    }, parent);

    this.registerOutputs({ network: this.network.id, subnet: this.subnet.id });
  }
}
