/**
 * The platform box: one GCE VM, shielded, OS Login, no external IP (egress through Cloud NAT),
 * the runtime service account instead of the default one, the data disk attached by device
 * name and the boot configuration in `user-data` (cloud-init; Ubuntu images run it).
 * Machine types that carry a GPU (g2/a2/a3) must stop on host maintenance.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export const bootImage = "ubuntu-os-cloud/ubuntu-2404-lts-amd64";

export interface PlatformVmArgs {
  zone: string;
  machineType: string;
  /** The machine type carries a GPU (checked by stacks/config.ts). */
  gpu: boolean;
  bootDiskGb: number;
  subnet: pulumi.Input<string>;
  networkTag: string;
  serviceAccountEmail: pulumi.Input<string>;
  dataDisk: pulumi.Input<string>;
  dataDeviceName: string;
  /** Rendered #cloud-config: no secret values. */
  userData: string;
  labels: Record<string, string>;
}

export class PlatformVm extends pulumi.ComponentResource {
  readonly instance: gcp.compute.Instance;

  constructor(name: string, args: PlatformVmArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:compute:PlatformVm", name, {}, opts);

    this.instance = new gcp.compute.Instance(`${name}-vm`, {
      zone: args.zone,
      machineType: args.machineType,
      allowStoppingForUpdate: true,
      tags: [args.networkTag],
      labels: args.labels,
      bootDisk: {
        autoDelete: true,
        initializeParams: { image: bootImage, size: args.bootDiskGb, type: "pd-balanced" },
      },
      attachedDisks: [{ source: args.dataDisk, deviceName: args.dataDeviceName, mode: "READ_WRITE" }],
      // No accessConfigs: no external IP.
      networkInterfaces: [{ subnetwork: args.subnet }],
      serviceAccount: { email: args.serviceAccountEmail, scopes: ["https://www.googleapis.com/auth/cloud-platform"] },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      scheduling: args.gpu
        ? { onHostMaintenance: "TERMINATE", automaticRestart: true }
        : { onHostMaintenance: "MIGRATE", automaticRestart: true },
      metadata: {
        "enable-oslogin": "TRUE",
        "block-project-ssh-keys": "TRUE",
        "user-data": args.userData,
      },
    }, { parent: this });

    this.registerOutputs({ name: this.instance.name });
  }
}
