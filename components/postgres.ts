/**
 * Cloud SQL for PostgreSQL for the task queue and the brain (tier-50 ZONAL, tier-100 REGIONAL):
 * private IP only, TLS only, automated backups with point-in-time recovery, deletion protected
 * twice (the provider's `deletionProtection` stops `pulumi destroy`; the API's
 * `settings.deletionProtectionEnabled` stops a delete from the console or gcloud), one database
 * and one user per service with a generated password.
 *
 * - `settings.edition: "ENTERPRISE"` is explicit: from POSTGRES_16 the default edition rejects
 *   the `db-custom-*` tiers (issue #12).
 * - `max_connections` is computed from every client's pool at its maximum replicas plus headroom
 *   (`maxConnectionsFor`), not left to the memory-based default.
 * - TLS: `sslMode: ENCRYPTED_ONLY` refuses plaintext. The server CA mode is pinned to the
 *   per-instance CA (GOOGLE_MANAGED_INTERNAL_CA): a CA dedicated to this one instance signs its
 *   server certificate, so a client that trusts only that CA (`sslrootcert`) talks to this
 *   instance. Its server certificates name the instance in the CN ("project:instance") and carry
 *   no subjectAltName (hexpm/hexpm#1637; the Cloud SQL connectors check that CN,
 *   GoogleCloudPlatform/cloud-sql-jdbc-socket-factory#2150), so a host-name check against the
 *   private IP cannot pass: the URLs use `sslmode=verify-ca` (the chain to the instance's own CA).
 *   The services refuse every mode that does not check the certificate (packages/common/src/db.ts).
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

/** One client of the database: a pool of `poolSize` connections in each of up to `maxReplicas` replicas. */
export interface PostgresClient {
  service: string;
  maxReplicas: number;
  /** Connections one replica may hold at once (every pool of the process, plus any LISTEN connection). */
  poolSize: number;
}

export interface ConnectionBudget {
  perClient: { service: string; connections: number }[];
  clients: number;
  headroom: number;
  maxConnections: number;
}

/** PostgreSQL's own limit on max_connections (GUC maximum); Cloud SQL allows values up to it. */
export const MAX_CONNECTIONS_LIMIT = 262_143;

/**
 * max_connections = Σ maxReplicas × poolSize + headroom. Headroom covers what is not a service
 * pool: superuser_reserved_connections, Cloud SQL's own maintenance and monitoring sessions, a
 * migration or an operator's psql. Count a rolling update's surge in maxReplicas.
 */
export function maxConnectionsFor(clients: PostgresClient[], headroom: number): ConnectionBudget {
  const problems: string[] = [];
  for (const c of clients) {
    if (!Number.isInteger(c.maxReplicas) || c.maxReplicas < 1) problems.push(`${c.service}: maxReplicas=${c.maxReplicas}: expected an integer ≥ 1`);
    if (!Number.isInteger(c.poolSize) || c.poolSize < 1) problems.push(`${c.service}: poolSize=${c.poolSize}: expected an integer ≥ 1`);
  }
  if (!Number.isInteger(headroom) || headroom < 0) problems.push(`headroom=${headroom}: expected an integer ≥ 0`);
  if (clients.length === 0) problems.push("no clients: expected at least one {service, maxReplicas, poolSize}");
  if (problems.length) throw new Error(`PostgresDatabase connections: ${problems.join("; ")}`);
  const perClient = clients.map((c) => ({ service: c.service, connections: c.maxReplicas * c.poolSize }));
  const total = perClient.reduce((s, c) => s + c.connections, 0);
  const maxConnections = total + headroom;
  if (maxConnections > MAX_CONNECTIONS_LIMIT) throw new Error(`PostgresDatabase connections: ${maxConnections} exceeds PostgreSQL's limit of ${MAX_CONNECTIONS_LIMIT}`);
  return { perClient, clients: total, headroom, maxConnections };
}

/** A service name as a PostgreSQL identifier: "task-queue" → "task_queue". */
export function sqlName(service: string): string {
  const n = service.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(n)) throw new Error(`PostgresDatabase: service name ${JSON.stringify(service)} is not usable as a database name`);
  return n;
}

export interface PostgresDatabaseArgs {
  region: string;
  /** The VPC (id or self link) the private IP lives in. */
  network: pulumi.Input<string>;
  /** Private services access: the allocated range's name and what the instance depends on. */
  privateServices: { rangeName: pulumi.Input<string>; dependsOn: pulumi.Resource[] };
  /** A current major; POSTGRES_17 unless the stack says otherwise. */
  databaseVersion?: string;
  /** Machine tier, e.g. db-custom-2-7680 (2 vCPUs, 7.5 GB). */
  tier: string;
  diskSizeGb: number;
  /** REGIONAL (a standby in a second zone, automatic failover) instead of ZONAL. */
  highAvailability: boolean;
  /** Services that own a database (and a user of the same name). */
  databases: string[];
  /** Every client's pool at its maximum replicas: sizes max_connections. */
  clients: PostgresClient[];
  /** Connections beyond the services' pools (default 20). */
  connectionHeadroom?: number;
  /** Where the pods find this instance's server CA: the URLs' sslrootcert. */
  caFile: string;
  backup: {
    /** "HH:MM" UTC. */
    startTime: string;
    retainedBackups: number;
    /** Write-ahead log kept for point-in-time recovery, days (1-7 on ENTERPRISE). */
    transactionLogRetentionDays: number;
  };
  /** Maintenance window: day 1-7 (Monday-Sunday), hour 0-23 UTC. */
  maintenanceWindow?: { day: number; hour: number };
  labels?: Record<string, string>;
}

export class PostgresDatabase extends pulumi.ComponentResource {
  readonly instance: gcp.sql.DatabaseInstance;
  readonly databases: Record<string, gcp.sql.Database> = {};
  readonly users: Record<string, gcp.sql.User> = {};
  readonly passwords: Record<string, random.RandomPassword> = {};
  /** "project:region:instance". */
  readonly connectionName: pulumi.Output<string>;
  readonly privateIp: pulumi.Output<string>;
  /** Every server CA certificate of the instance, PEM, concatenated (during a CA rotation both are trusted). */
  readonly serverCaPem: pulumi.Output<string>;
  readonly connectionBudget: ConnectionBudget;
  /** Per service: postgres://user:password@privateIp:5432/db?sslmode=verify-ca&sslrootcert=<caFile>, secret. */
  readonly databaseUrls: Record<string, pulumi.Output<string>> = {};

  constructor(name: string, args: PostgresDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:data:PostgresDatabase", name, {}, opts);
    const parent = { parent: this };
    this.connectionBudget = maxConnectionsFor(args.clients, args.connectionHeadroom ?? 20);
    const owners = args.databases.map(sqlName);
    if (owners.length === 0) throw new Error("PostgresDatabase: expected at least one database");
    if (new Set(owners).size !== owners.length) throw new Error(`PostgresDatabase: databases ${JSON.stringify(args.databases)} collide as SQL names`);
    if (!args.caFile.startsWith("/")) throw new Error(`PostgresDatabase caFile=${args.caFile}: expected an absolute path in the pod`);
    const mw = args.maintenanceWindow ?? { day: 7, hour: 4 };

    this.instance = new gcp.sql.DatabaseInstance(`${name}-instance`, {
      region: args.region,
      databaseVersion: args.databaseVersion ?? "POSTGRES_17",
      deletionProtection: true,
      settings: {
        tier: args.tier,
        edition: "ENTERPRISE",
        availabilityType: args.highAvailability ? "REGIONAL" : "ZONAL",
        diskType: "PD_SSD",
        diskSize: args.diskSizeGb,
        diskAutoresize: true,
        deletionProtectionEnabled: true,
        ipConfiguration: {
          ipv4Enabled: false,
          privateNetwork: args.network,
          allocatedIpRange: args.privateServices.rangeName,
          sslMode: "ENCRYPTED_ONLY",
          serverCaMode: "GOOGLE_MANAGED_INTERNAL_CA",
        },
        backupConfiguration: {
          enabled: true,
          pointInTimeRecoveryEnabled: true,
          startTime: args.backup.startTime,
          transactionLogRetentionDays: args.backup.transactionLogRetentionDays,
          backupRetentionSettings: { retainedBackups: args.backup.retainedBackups, retentionUnit: "COUNT" },
        },
        databaseFlags: [{ name: "max_connections", value: String(this.connectionBudget.maxConnections) }],
        maintenanceWindow: { day: mw.day, hour: mw.hour, updateTrack: "stable" },
        insightsConfig: { queryInsightsEnabled: true },
        userLabels: args.labels ?? {},
      },
    }, { parent: this, dependsOn: args.privateServices.dependsOn });

    this.connectionName = this.instance.connectionName;
    this.privateIp = this.instance.privateIpAddress;
    this.serverCaPem = this.instance.serverCaCerts.apply((certs) => certs.map((c) => c.cert.trim()).join("\n") + "\n");
    const sslrootcert = encodeURIComponent(args.caFile);

    args.databases.forEach((service, i) => {
      const sql = owners[i] as string;
      // Alphanumeric only: the password goes into a URL unescaped by every client.
      const password = new random.RandomPassword(`${name}-${service}-password`, { length: 32, special: false }, parent);
      // ABANDON: removing a service from the list never drops its data; PostgreSQL also refuses to
      // drop a role that owns objects, which would fail the update.
      const database = new gcp.sql.Database(`${name}-${service}-db`, { instance: this.instance.name, name: sql, deletionPolicy: "ABANDON" }, parent);
      const user = new gcp.sql.User(`${name}-${service}-user`, {
        instance: this.instance.name,
        name: sql,
        password: password.result,
        type: "BUILT_IN",
        deletionPolicy: "ABANDON",
      }, parent);
      this.passwords[service] = password;
      this.databases[service] = database;
      this.users[service] = user;
      this.databaseUrls[service] = pulumi.secret(
        pulumi.interpolate`postgres://${user.name}:${password.result}@${this.instance.privateIpAddress}:5432/${database.name}?sslmode=verify-ca&sslrootcert=${sslrootcert}`,
      );
    });

    this.registerOutputs({
      connectionName: this.connectionName,
      privateIp: this.privateIp,
      maxConnections: this.connectionBudget.maxConnections,
    });
  }
}
