/**
 * Private services access: an internal address range reserved in the platform VPC for Google's
 * producer networks (purpose VPC_PEERING) and the service-networking peering that uses it.
 * Cloud SQL (private IP) and Memorystore (connectMode PRIVATE_SERVICE_ACCESS) take their
 * addresses from this range, so each must `dependsOn` the connection (`dependsOn` below): the
 * provider does not infer it, and an instance created before the peering fails.
 *
 * deletionPolicy ABANDON: deleting a peering that still has producer resources attached fails,
 * which would block `pulumi destroy`; with ABANDON the connection is dropped from state and the
 * peering goes away with the network.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export const serviceNetworkingService = "servicenetworking.googleapis.com";

export interface PrivateServicesArgs {
  /** The VPC (id or self link) the producers peer with. */
  network: pulumi.Input<string>;
  /** Size of the reserved range (/16 by default: room for Cloud SQL, Memorystore and later tiers). */
  prefixLength?: number;
  /** First address of the range; unset lets Google pick a free one. */
  address?: string;
  description?: string;
}

export class PrivateServices extends pulumi.ComponentResource {
  readonly range: gcp.compute.GlobalAddress;
  readonly connection: gcp.servicenetworking.Connection;
  /** Name of the allocated range (Cloud SQL's allocatedIpRange, Memorystore's reservedIpRange). */
  readonly rangeName: pulumi.Output<string>;
  /** What a Cloud SQL or Memorystore instance lists in `dependsOn`. */
  readonly dependsOn: pulumi.Resource[];

  constructor(name: string, args: PrivateServicesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:network:PrivateServices", name, {}, opts);
    const prefixLength = args.prefixLength ?? 16;
    if (!Number.isInteger(prefixLength) || prefixLength < 8 || prefixLength > 29) {
      throw new Error(`PrivateServices prefixLength=${prefixLength}: expected an integer between 8 and 29`);
    }
    this.range = new gcp.compute.GlobalAddress(`${name}-range`, {
      purpose: "VPC_PEERING",
      addressType: "INTERNAL",
      prefixLength,
      network: args.network,
      ...(args.address ? { address: args.address } : {}),
      description: args.description ?? "tierstack private services access (Cloud SQL, Memorystore)",
    }, { parent: this });
    this.connection = new gcp.servicenetworking.Connection(`${name}-peering`, {
      network: args.network,
      service: serviceNetworkingService,
      reservedPeeringRanges: [this.range.name],
      deletionPolicy: "ABANDON",
    }, { parent: this });
    this.rangeName = this.range.name;
    this.dependsOn = [this.connection];
    this.registerOutputs({ rangeName: this.rangeName, peering: this.connection.peering });
  }
}
