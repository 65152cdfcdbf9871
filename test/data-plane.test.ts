/**
 * The data-plane components under Pulumi's mocks: private services access, Cloud SQL
 * PostgreSQL, Memorystore Redis and the image repository, composed as tier-50 will compose them.
 * Invariants of issue #12 (private IP only, TLS only, ENTERPRISE, both deletion protections,
 * backups with PITR, max_connections from the pools, AUTH + TLS on Redis, cleanup policies),
 * every input checked against the installed providers' declarations, secrets only as secrets.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { dataPlaneCaFiles } from "../catalog/services.js";
import { resourceTypePricing } from "../cost/src/infra.js";
import { plainStrings, secretStrings } from "./helpers.js";
import { checkedTypes, schemaProblems } from "./provider-schema.js";

type Recorded = { type: string; name: string; inputs: Record<string, unknown> };
const raw: Recorded[] = [];
const dependsOn = new Map<string, string[]>();

const PASSWORD = "GENERATED0password0for0tests0xyz";
const AUTH = "mock-auth-string-0f1e2d3c";
const PEM = (n: string) => `-----BEGIN CERTIFICATE-----\nMOCK${n}\n-----END CERTIFICATE-----`;

pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const inputs = args.inputs as Record<string, unknown>;
      raw.push({ type: args.type, name: args.name, inputs });
      const state: Record<string, unknown> = { ...inputs, name: inputs.name ?? args.name };
      switch (args.type) {
        case "random:index/randomPassword:RandomPassword":
          state.result = PASSWORD;
          break;
        case "gcp:sql/databaseInstance:DatabaseInstance":
          Object.assign(state, {
            privateIpAddress: "10.20.0.3",
            connectionName: `my-project:${String(inputs.region)}:${args.name}`,
            serverCaCerts: [{ cert: PEM("SQLCA1"), commonName: "C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA" }, { cert: PEM("SQLCA2"), commonName: "next" }],
          });
          break;
        case "gcp:redis/instance:Instance":
          Object.assign(state, { host: "10.20.1.4", port: 6378, authString: AUTH, serverCaCerts: [{ cert: PEM("REDISCA") }] });
          break;
      }
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs as Record<string, unknown>,
  },
  "tierstack",
  "tier-50",
  false,
);

// The components are imported after setMocks (in beforeAll), as the program is.
type Components = {
  PrivateServices: typeof import("../components/private-services.js").PrivateServices;
  PostgresDatabase: typeof import("../components/postgres.js").PostgresDatabase;
  maxConnectionsFor: typeof import("../components/postgres.js").maxConnectionsFor;
  RedisCache: typeof import("../components/redis.js").RedisCache;
  ImageRegistry: typeof import("../components/artifact-registry.js").ImageRegistry;
};
let c: Components;

/** Records every child's dependsOn (legacy transformations run in-process, also under mocks). */
const recordDeps: pulumi.ResourceTransformation = (a) => {
  const deps = a.opts.dependsOn;
  const list = deps === undefined ? [] : Array.isArray(deps) ? deps : [deps];
  dependsOn.set(`${a.type}::${a.name}`, list.map((d) => (d as pulumi.Resource & { __name?: string }).__name ?? "?"));
  return undefined;
};

const settle = <T>(o: pulumi.Input<T>) =>
  new Promise<{ value: T; secret: boolean }>((res) => {
    const out = pulumi.output(o) as pulumi.Output<T>;
    void pulumi.isSecret(out).then((secret) => pulumi.unsecret(out).apply((value) => res({ value: value as T, secret })));
  });

const clients = [
  // pool 10 (PG_POOL_MAX) + the LISTEN connection for wake-ups
  { service: "task-queue", maxReplicas: 3, poolSize: 11 },
  // workers' pool 16 + ingest pool 6 (services/brain/src/store/postgres.ts)
  { service: "brain", maxReplicas: 3, poolSize: 22 },
  // the token store's pool of 4 (packages/common/src/token-store.ts), 4 shards × 2 replicas
  { service: "mcp-gateway", maxReplicas: 8, poolSize: 4 },
];

let ps: InstanceType<Components["PrivateServices"]>;
let db: InstanceType<Components["PostgresDatabase"]>;
let ha: InstanceType<Components["PostgresDatabase"]>;
let redis: InstanceType<Components["RedisCache"]>;
let registry: InstanceType<Components["ImageRegistry"]>;

const find = (type: string, nameSuffix = "") => {
  const r = raw.filter((x) => x.type === type && x.name.endsWith(nameSuffix));
  if (r.length !== 1) throw new Error(`expected one ${type} *${nameSuffix}, found ${r.length}`);
  return r[0] as Recorded;
};

beforeAll(async () => {
  c = {
    ...(await import("../components/private-services.js")),
    ...(await import("../components/postgres.js")),
    ...(await import("../components/redis.js")),
    ...(await import("../components/artifact-registry.js")),
  };
  const { PrivateServices, PostgresDatabase, RedisCache, ImageRegistry } = c;
  const opts = { transformations: [recordDeps] };
  const network = "projects/my-project/global/networks/tierstack-vpc";
  ps = new PrivateServices("psa", { network }, opts);
  const common = {
    region: "us-central1",
    network,
    privateServices: ps,
    tier: "db-custom-2-7680",
    diskSizeGb: 50,
    databases: ["task-queue", "brain"],
    clients,
    caFile: dataPlaneCaFiles.postgres,
    backup: { startTime: "03:00", retainedBackups: 14, transactionLogRetentionDays: 7 },
  };
  db = new PostgresDatabase("pg", { ...common, highAvailability: false }, opts);
  ha = new PostgresDatabase("pgha", { ...common, highAvailability: true }, opts);
  redis = new RedisCache("redis", { region: "us-central1", network, privateServices: ps, tier: "BASIC", memorySizeGb: 1 }, opts);
  registry = new ImageRegistry("images", {
    project: "my-project", location: "us-central1", repositoryId: "tierstack", keepRecent: 10, deleteUntaggedAfterDays: 7,
    readers: ["serviceAccount:nodes@my-project.iam.gserviceaccount.com"],
  }, opts);
  await settle(db.databaseUrls.brain as pulumi.Output<string>);
  await settle(redis.url);
  await settle(registry.imagePrefix);
  await settle(ha.privateIp);
});

describe("private services access", () => {
  it("reserves an internal VPC_PEERING range and peers service networking with it, ABANDON on delete", () => {
    const range = find("gcp:compute/globalAddress:GlobalAddress");
    expect(range.inputs).toMatchObject({ purpose: "VPC_PEERING", addressType: "INTERNAL", prefixLength: 16, network: "projects/my-project/global/networks/tierstack-vpc" });
    const peering = find("gcp:servicenetworking/connection:Connection");
    expect(peering.inputs).toMatchObject({ service: "servicenetworking.googleapis.com", reservedPeeringRanges: [range.name], deletionPolicy: "ABANDON" });
  });

  it("Cloud SQL and Memorystore depend on the peering explicitly", () => {
    for (const key of ["gcp:sql/databaseInstance:DatabaseInstance::pg-instance", "gcp:sql/databaseInstance:DatabaseInstance::pgha-instance", "gcp:redis/instance:Instance::redis-instance"]) {
      expect(dependsOn.get(key)).toEqual(["psa-peering"]);
    }
  });
});

describe("PostgresDatabase", () => {
  it("max_connections = Σ maxReplicas × poolSize + headroom, shown", () => {
    const b = c.maxConnectionsFor(clients, 20);
    // task-queue 3 × 11 = 33, brain 3 × 22 = 66, mcp-gateway 8 × 4 = 32 → 131, + 20 headroom = 151
    expect(b.perClient).toEqual([
      { service: "task-queue", connections: 33 },
      { service: "brain", connections: 66 },
      { service: "mcp-gateway", connections: 32 },
    ]);
    expect(b.clients).toBe(131);
    expect(b.maxConnections).toBe(151);
    const flags = find("gcp:sql/databaseInstance:DatabaseInstance", "pg-instance").inputs.settings as { databaseFlags: { name: string; value: string }[] };
    expect(flags.databaseFlags).toEqual([{ name: "max_connections", value: "151" }]);
    expect(db.connectionBudget.maxConnections).toBe(151);
  });

  it("refuses a budget it cannot compute, one line", () => {
    expect(() => c.maxConnectionsFor([{ service: "brain", maxReplicas: 0, poolSize: 22 }], 20)).toThrow("PostgresDatabase connections: brain: maxReplicas=0: expected an integer ≥ 1");
    expect(() => c.maxConnectionsFor([], 20)).toThrow(/no clients/);
    expect(() => c.maxConnectionsFor([{ service: "x", maxReplicas: 100_000, poolSize: 10 }], 0)).toThrow(/exceeds PostgreSQL's limit of 262143/);
  });

  it("private IP only, TLS only with the per-instance CA, ENTERPRISE, a current major, both deletion protections, backups with PITR", () => {
    for (const [suffix, availability] of [["pg-instance", "ZONAL"], ["pgha-instance", "REGIONAL"]] as const) {
      const i = find("gcp:sql/databaseInstance:DatabaseInstance", suffix).inputs;
      expect(i.databaseVersion).toBe("POSTGRES_17");
      expect(i.deletionProtection).toBe(true);
      expect(i.settings).toMatchObject({
        tier: "db-custom-2-7680",
        edition: "ENTERPRISE",
        availabilityType: availability,
        deletionProtectionEnabled: true,
        ipConfiguration: {
          ipv4Enabled: false,
          privateNetwork: "projects/my-project/global/networks/tierstack-vpc",
          allocatedIpRange: find("gcp:compute/globalAddress:GlobalAddress").name,
          sslMode: "ENCRYPTED_ONLY",
          serverCaMode: "GOOGLE_MANAGED_INTERNAL_CA",
        },
        backupConfiguration: { enabled: true, pointInTimeRecoveryEnabled: true, startTime: "03:00", transactionLogRetentionDays: 7, backupRetentionSettings: { retainedBackups: 14, retentionUnit: "COUNT" } },
      });
      expect((i.settings as { ipConfiguration: Record<string, unknown> }).ipConfiguration.authorizedNetworks).toBeUndefined();
    }
  });

  it("one database and one user per service, each with its own generated password, ABANDON on delete", () => {
    const dbs = raw.filter((r) => r.type === "gcp:sql/database:Database" && r.name.startsWith("pg-"));
    const users = raw.filter((r) => r.type === "gcp:sql/user:User" && r.name.startsWith("pg-"));
    const passwords = raw.filter((r) => r.type === "random:index/randomPassword:RandomPassword" && r.name.startsWith("pg-"));
    expect(dbs.map((d) => d.inputs.name).sort()).toEqual(["brain", "task_queue"]);
    expect(users.map((u) => u.inputs.name).sort()).toEqual(["brain", "task_queue"]);
    expect(passwords.map((p) => p.name).sort()).toEqual(["pg-brain-password", "pg-task-queue-password"]);
    for (const p of passwords) expect(p.inputs).toMatchObject({ length: 32, special: false });
    for (const r of [...dbs, ...users]) expect(r.inputs.deletionPolicy).toBe("ABANDON");
    for (const u of users) expect(secretStrings(u.inputs.password)).toEqual([PASSWORD]);
  });

  it("exposes the private IP, connection name, the CA bundle and per-service DATABASE_URLs as secrets with verify-ca and the CA file", async () => {
    expect((await settle(db.privateIp)).value).toBe("10.20.0.3");
    expect((await settle(db.connectionName)).value).toBe("my-project:us-central1:pg-instance");
    expect((await settle(db.serverCaPem)).value).toBe(`${PEM("SQLCA1")}\n${PEM("SQLCA2")}\n`);
    for (const [service, dbName] of [["task-queue", "task_queue"], ["brain", "brain"]] as const) {
      const url = await settle(db.databaseUrls[service] as pulumi.Output<string>);
      expect(url.secret).toBe(true);
      expect(url.value).toBe(`postgres://${dbName}:${PASSWORD}@10.20.0.3:5432/${dbName}?sslmode=verify-ca&sslrootcert=${encodeURIComponent(dataPlaneCaFiles.postgres)}`);
    }
  });
});

describe("RedisCache", () => {
  it("private services access, AUTH on, TLS with server authentication, tier and size from args", () => {
    const i = find("gcp:redis/instance:Instance").inputs;
    expect(i).toMatchObject({
      tier: "BASIC", memorySizeGb: 1, connectMode: "PRIVATE_SERVICE_ACCESS", authEnabled: true, transitEncryptionMode: "SERVER_AUTHENTICATION",
      authorizedNetwork: "projects/my-project/global/networks/tierstack-vpc", reservedIpRange: find("gcp:compute/globalAddress:GlobalAddress").name,
    });
  });

  it("host and port plain; auth string and rediss:// URL secret; the CA bundle", async () => {
    expect((await settle(redis.host)).value).toBe("10.20.1.4");
    expect((await settle(redis.port)).value).toBe(6378);
    const auth = await settle(redis.authString);
    expect(auth).toEqual({ value: AUTH, secret: true });
    const url = await settle(redis.url);
    expect(url).toEqual({ value: `rediss://:${AUTH}@10.20.1.4:6378`, secret: true });
    expect((await settle(redis.serverCaPem)).value).toBe(`${PEM("REDISCA")}\n`);
  });

  it("a tier or size outside what Memorystore offers is one line", () => {
    const base = { region: "us-central1", network: "n", privateServices: ps, memorySizeGb: 1 };
    expect(() => new c.RedisCache("bad", { ...base, tier: "STANDARD" as "BASIC" })).toThrow('RedisCache tier="STANDARD": expected one of BASIC, STANDARD_HA');
    expect(() => new c.RedisCache("bad2", { ...base, tier: "BASIC", memorySizeGb: 0 })).toThrow("RedisCache memorySizeGb=0: expected an integer between 1 and 300");
  });
});

describe("ImageRegistry", () => {
  it("a Docker repository with immutable tags, keep-recent and delete-untagged policies, and the runtime's reader binding", async () => {
    const repo = find("gcp:artifactregistry/repository:Repository").inputs;
    expect(repo).toMatchObject({ format: "DOCKER", repositoryId: "tierstack", location: "us-central1", dockerConfig: { immutableTags: true }, cleanupPolicyDryRun: false });
    expect(repo.cleanupPolicies).toEqual([
      { id: "keep-recent", action: "KEEP", mostRecentVersions: { keepCount: 10 } },
      { id: "delete-untagged", action: "DELETE", condition: { tagState: "UNTAGGED", olderThan: "7d" } },
    ]);
    const reader = find("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember");
    expect(reader.inputs).toMatchObject({ role: "roles/artifactregistry.reader", member: "serviceAccount:nodes@my-project.iam.gserviceaccount.com", location: "us-central1" });
    expect((await settle(registry.imagePrefix)).value).toBe("us-central1-docker.pkg.dev/my-project/tierstack");
  });
});

describe("provider declarations and secrets", () => {
  it("every resource type is checked, and every input key path is declared by @pulumi/gcp or @pulumi/random", () => {
    expect(checkedTypes(raw)).toEqual([
      "gcp:artifactregistry/repository:Repository",
      "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
      "gcp:compute/globalAddress:GlobalAddress",
      "gcp:redis/instance:Instance",
      "gcp:servicenetworking/connection:Connection",
      "gcp:sql/database:Database",
      "gcp:sql/databaseInstance:DatabaseInstance",
      "gcp:sql/user:User",
      "random:index/randomPassword:RandomPassword",
    ]);
    expect(schemaProblems(raw)).toEqual([]);
    // The check is real: a misspelled nested key of the new types is found.
    const sql = find("gcp:sql/databaseInstance:DatabaseInstance", "pg-instance");
    const broken = { ...sql, inputs: { ...sql.inputs, settings: { ...(sql.inputs.settings as object), ipConfiguration: { ipv4Enable: false }, backupConfiguration: { pointInTimeRecovery: true } } } };
    expect(schemaProblems([broken]).map((p) => p.path).sort()).toEqual(["settings.backupConfiguration.pointInTimeRecovery", "settings.ipConfiguration.ipv4Enable"]);
  });

  it("every resource type has a price or an explicit free entry in cost/ (the cost guard refuses unpriced types)", () => {
    const types = [...new Set(raw.map((r) => r.type))].sort();
    expect(types.filter((t) => !t.startsWith("tierstack:") && resourceTypePricing[t] === undefined)).toEqual([]);
    expect(types.filter((t) => !t.startsWith("tierstack:")).length).toBe(9);
  });

  it("no password or auth string appears outside a secret in any input", () => {
    for (const r of raw) {
      for (const s of plainStrings(r.inputs)) {
        expect(s.value, `${r.type}::${r.name} ${s.path}`).not.toContain(PASSWORD);
        expect(s.value, `${r.type}::${r.name} ${s.path}`).not.toContain(AUTH);
      }
    }
  });
});
