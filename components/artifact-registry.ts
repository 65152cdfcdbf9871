/**
 * The services' container images: one Docker repository in Artifact Registry, tags immutable (a
 * tag always names the digest it was pushed with, so stack config pinned by tag@digest stays
 * true), cleanup policies that keep the recent images and drop stale untagged layers, and read
 * access for the runtime's service account (the GKE nodes pull with it).
 *
 * Cleanup policies: a version is deleted when a DELETE policy matches it and no KEEP policy does.
 * KEEP "keep-recent" protects the `keepRecent` newest versions of every image, whatever their
 * tags; DELETE "delete-untagged" removes untagged versions older than `deleteUntaggedAfterDays`.
 * Tagged versions are never deleted here: releases are tagged, and a rollback needs them.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export interface ImageRegistryArgs {
  project: string;
  /** Region of the repository, next to the cluster (e.g. us-central1). */
  location: string;
  /** 1-63 characters, lowercase letters, digits and hyphens. */
  repositoryId: string;
  /** Newest versions of each image that are always kept. */
  keepRecent: number;
  /** Untagged versions older than this many days are deleted (unless among the newest). */
  deleteUntaggedAfterDays: number;
  /** IAM members that pull (the runtime's service account: serviceAccount:<email>). */
  readers: pulumi.Input<string>[];
  /** IAM members that push (the release job), if any. */
  writers?: pulumi.Input<string>[];
  /** Evaluate the policies without deleting (Artifact Registry logs what it would delete). */
  cleanupDryRun?: boolean;
  labels?: Record<string, string>;
}

export class ImageRegistry extends pulumi.ComponentResource {
  readonly repository: gcp.artifactregistry.Repository;
  readonly readerBindings: gcp.artifactregistry.RepositoryIamMember[] = [];
  readonly writerBindings: gcp.artifactregistry.RepositoryIamMember[] = [];
  /** <location>-docker.pkg.dev/<project>/<repository>: the prefix of every image reference. */
  readonly imagePrefix: pulumi.Output<string>;

  constructor(name: string, args: ImageRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:images:ImageRegistry", name, {}, opts);
    if (!/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/.test(args.repositoryId)) {
      throw new Error(`ImageRegistry repositoryId=${JSON.stringify(args.repositoryId)}: expected 1-63 lowercase letters, digits and hyphens, starting with a letter`);
    }
    if (!Number.isInteger(args.keepRecent) || args.keepRecent < 1) throw new Error(`ImageRegistry keepRecent=${args.keepRecent}: expected an integer ≥ 1`);
    if (!Number.isInteger(args.deleteUntaggedAfterDays) || args.deleteUntaggedAfterDays < 1) {
      throw new Error(`ImageRegistry deleteUntaggedAfterDays=${args.deleteUntaggedAfterDays}: expected an integer ≥ 1`);
    }
    this.repository = new gcp.artifactregistry.Repository(`${name}-repo`, {
      project: args.project,
      location: args.location,
      repositoryId: args.repositoryId,
      format: "DOCKER",
      description: "tierstack service images (services/Dockerfile)",
      dockerConfig: { immutableTags: true },
      cleanupPolicyDryRun: args.cleanupDryRun ?? false,
      cleanupPolicies: [
        { id: "keep-recent", action: "KEEP", mostRecentVersions: { keepCount: args.keepRecent } },
        { id: "delete-untagged", action: "DELETE", condition: { tagState: "UNTAGGED", olderThan: `${args.deleteUntaggedAfterDays}d` } },
      ],
      labels: args.labels ?? {},
    }, { parent: this });
    const bind = (role: string, member: pulumi.Input<string>, i: number, kind: string) =>
      new gcp.artifactregistry.RepositoryIamMember(`${name}-${kind}-${i}`, {
        project: args.project,
        location: args.location,
        repository: this.repository.name,
        role,
        member,
      }, { parent: this });
    args.readers.forEach((m, i) => this.readerBindings.push(bind("roles/artifactregistry.reader", m, i, "reader")));
    (args.writers ?? []).forEach((m, i) => this.writerBindings.push(bind("roles/artifactregistry.writer", m, i, "writer")));
    this.imagePrefix = pulumi.interpolate`${args.location}-docker.pkg.dev/${args.project}/${this.repository.repositoryId}`;
    this.registerOutputs({ imagePrefix: this.imagePrefix });
  }
}
