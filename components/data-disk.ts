/**
 * The data disk: SQLite databases, NATS JetStream and the coordination files live here, apart
 * from the VM's boot disk. Protected, so replacing or destroying the VM never deletes it, and
 * snapshotted daily by a snapshot schedule with a retention from config.
 * Restore: docs/runbooks/restore-data-disk.md.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export interface DataDiskArgs {
  zone: string;
  region: string;
  sizeGb: number;
  type: string;
  /** Daily start, UTC, "HH:00". */
  snapshotStartTime: string;
  retentionDays: number;
  labels: Record<string, string>;
}

export class DataDisk extends pulumi.ComponentResource {
  readonly disk: gcp.compute.Disk;
  readonly schedule: gcp.compute.ResourcePolicy;
  readonly attachment: gcp.compute.DiskResourcePolicyAttachment;

  constructor(name: string, args: DataDiskArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:storage:DataDisk", name, {}, opts);

    this.disk = new gcp.compute.Disk(`${name}-disk`, {
      zone: args.zone,
      size: args.sizeGb,
      type: args.type,
      labels: args.labels,
    }, {
      parent: this,
      protect: true,
      // A restore recreates the disk under the same name from a snapshot
      // (docs/runbooks/restore-data-disk.md); that must not read as a change to replace it.
      ignoreChanges: ["snapshot"],
    });

    this.schedule = new gcp.compute.ResourcePolicy(`${name}-daily-snapshots`, {
      region: args.region,
      description: "Daily snapshots of the tierstack data disk",
      snapshotSchedulePolicy: {
        schedule: { dailySchedule: { daysInCycle: 1, startTime: args.snapshotStartTime } },
        retentionPolicy: { maxRetentionDays: args.retentionDays, onSourceDiskDelete: "KEEP_AUTO_SNAPSHOTS" },
        snapshotProperties: { labels: args.labels, storageLocations: args.region },
      },
    }, { parent: this });

    this.attachment = new gcp.compute.DiskResourcePolicyAttachment(`${name}-snapshot-schedule`, {
      disk: this.disk.name,
      name: this.schedule.name,
      zone: args.zone,
    }, { parent: this });

    this.registerOutputs({ disk: this.disk.name, schedule: this.schedule.name });
  }
}
