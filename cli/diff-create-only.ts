/**
 * Inputs the provider documents as create-only: changing one replaces the resource. Paths are
 * the plan's input paths (dots for nested objects, [i] for list items, matched by prefix).
 * Each entry cites where the provider says so ("Changing this forces a new resource" in the
 * Pulumi GCP registry docs, which are generated from the Terraform google provider's schema,
 * where these fields carry ForceNew).
 */
export interface CreateOnlyEntry {
  type: string;
  paths: string[];
  source: string;
}

const registry = "https://www.pulumi.com/registry/packages/gcp/api-docs";

export const createOnly: CreateOnlyEntry[] = [
  {
    type: "gcp:compute/instance:Instance",
    paths: ["name", "zone", "project", "bootDisk.initializeParams.image", "bootDisk.initializeParams.type", "networkInterfaces"],
    source: `${registry}/compute/instance/ (name, zone: "Changing this forces a new resource to be created"; bootDisk.initializeParams.image, .type)`,
  },
  {
    type: "gcp:compute/disk:Disk",
    paths: ["name", "zone", "type", "image", "project"],
    source: `${registry}/compute/disk/ (name, zone, type, image: "Changing this forces a new resource to be created")`,
  },
  {
    type: "gcp:sql/databaseInstance:DatabaseInstance",
    paths: ["name", "region", "project"],
    source: `${registry}/sql/databaseinstance/ (name, region: "Changing this forces a new resource to be created"; databaseVersion: a major version change is handled by databaseVersion below)`,
  },
  {
    type: "gcp:container/cluster:Cluster",
    paths: ["name", "location", "project", "networkConfig", "ipAllocationPolicy", "privateClusterConfig"],
    source: `${registry}/container/cluster/ (name, location, ipAllocationPolicy, privateClusterConfig: "Changing this forces a new resource to be created")`,
  },
  {
    type: "gcp:container/nodePool:NodePool",
    paths: ["name", "location", "cluster", "project", "nodeConfig.machineType", "nodeConfig.diskType", "nodeConfig.guestAccelerators"],
    source: `${registry}/container/nodepool/ (name, location, cluster, nodeConfig fields not updatable in place: "Changing this forces a new resource to be created")`,
  },
  {
    type: "gcp:redis/instance:Instance",
    paths: ["name", "region", "tier", "authorizedNetwork", "connectMode", "project"],
    source: `${registry}/redis/instance/ (name, region, tier, authorizedNetwork, connectMode: "Changing this forces a new resource to be created")`,
  },
  {
    type: "gcp:compute/network:Network",
    paths: ["name", "autoCreateSubnetworks", "project"],
    source: `${registry}/compute/network/ (name, autoCreateSubnetworks: "Changing this forces a new resource to be created")`,
  },
  {
    type: "gcp:compute/subnetwork:Subnetwork",
    paths: ["name", "network", "region", "project"],
    source: `${registry}/compute/subnetwork/ (name, network, region: "Changing this forces a new resource to be created")`,
  },
  {
    type: "gcp:serviceaccount/account:Account",
    paths: ["accountId", "project"],
    source: `${registry}/serviceaccount/account/ (accountId: "Changing this forces a new service account to be created")`,
  },
  {
    type: "gcp:artifactregistry/repository:Repository",
    paths: ["repositoryId", "location", "format", "project"],
    source: `${registry}/artifactregistry/repository/ (repositoryId, location, format: "Changing this forces a new resource to be created")`,
  },
  {
    type: "gcp:storage/bucket:Bucket",
    paths: ["name", "location", "project"],
    source: `${registry}/storage/bucket/ (name, location: "Changing this forces a new resource to be created")`,
  },
  {
    type: "gcp:secretmanager/secret:Secret",
    paths: ["secretId", "replication", "project"],
    source: `${registry}/secretmanager/secret/ (secretId, replication: "Changing this forces a new resource to be created")`,
  },
];

/** A changed SQL databaseVersion replaces the instance only across major versions (POSTGRES_15 → POSTGRES_16 is a major change). */
function sqlMajorChange(oldV: unknown, newV: unknown): boolean {
  const major = (v: unknown) => (typeof v === "string" ? /^([A-Z]+_\d+)/.exec(v)?.[1] ?? v : v);
  return major(oldV) !== major(newV);
}

/** Whether changing `path` (old → new) of a resource of `type` is documented to replace it. */
export function forcesReplacement(type: string, path: string, oldV: unknown, newV: unknown): boolean {
  if (type === "gcp:sql/databaseInstance:DatabaseInstance" && path === "databaseVersion") return sqlMajorChange(oldV, newV);
  const entry = createOnly.find((e) => e.type === type);
  if (!entry) return false;
  return entry.paths.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
}
