/**
 * The one nats-server configuration renderer: a typed description of one node of a JetStream
 * cluster → the text of its configuration file, in the NATS configuration format
 * (https://docs.nats.io/running-a-nats-service/configuration). The Kubernetes cluster
 * (components/nats/nats-cluster.ts, its ConfigMap) and the local failover test
 * (test/nats-failover.test.ts) both render through it; they differ only in host names, ports
 * and directories. Pure: no Pulumi, no I/O.
 *
 * The keys mirror the official nats-io Helm chart's configuration (helm/charts/nats,
 * files/config/*.yaml of github.com/nats-io/k8s): server name from the pod's name, lame-duck
 * duration and grace period, a pid file for the pre-stop signal, the monitoring port, a
 * JetStream block with the store on the volume, and a cluster block with a route to every node
 * and client advertisement off. Every key exists in nats-server 2.9 (the version CI validates
 * the text with, `nats-server -c <file> -t`) and in the 2.11 image the platform pins.
 *
 * During a migration between tiers (migrate/nats.ts) a node also runs JetStream in a named
 * domain and joins the other tier's node as a leaf node
 * (https://docs.nats.io/running-a-nats-service/configuration/leafnodes): the old side listens
 * (`leafnodes { host, port }`), the new side connects (`leafnodes { remotes: [{ urls }] }`). A
 * single node (the box, tier-50's node) renders without a cluster block (`standalone`).
 */

/**
 * A value the server reads from its environment when it starts (`$NAME` in the file). Secrets
 * are always given this way, so a rendered file never holds one.
 */
export interface EnvRef {
  env: string;
}

export interface NatsServerConfig {
  /** Unique per node (JetStream requires it): a literal, or the pod's name from the environment. */
  serverName: string | EnvRef;
  /** The cluster's name, the same on every node. */
  clusterName: string;
  /** Address every listener binds: 0.0.0.0 in a pod, 127.0.0.1 on loopback. */
  host: string;
  clientPort: number;
  clusterPort: number;
  /** HTTP monitoring (/healthz, /jsz, /varz): the probes' port. */
  monitorPort: number;
  /**
   * `nats://<host>:<cluster port>` of every node of the cluster, this node's own included (as the
   * chart renders them: a server recognises a route to itself and drops it).
   */
  routes: string[];
  jetStream: {
    /** Absolute; the server keeps its data under `<storeDir>/jetstream`. */
    storeDir: string;
    maxMemoryStoreBytes: number;
    maxFileStoreBytes: number;
    /** The JetStream domain (its API is `$JS.<domain>.API` across a leaf node connection). */
    domain?: string;
  };
  /**
   * One node, no cluster block: clusterName, clusterPort and routes are not rendered (routes must
   * be empty). The box and tier-50's node.
   */
  standalone?: boolean;
  /** Leaf node connections: a listener the other side connects to, or remotes this node connects to. */
  leafNodes?: LeafNodes;
  /**
   * Lame-duck mode (signal `ldm`): after the grace period the server closes its clients over the
   * duration, so they reconnect to the other nodes; the grace period must be shorter.
   */
  lameDuck: { durationSeconds: number; gracePeriodSeconds: number };
  /** Where the server writes its pid (the pre-stop hook signals it through this file). */
  pidFile?: string;
  /** Client authentication (user and password, from the environment); routes stay unauthenticated. */
  auth?: { user: EnvRef; password: EnvRef };
}

/** Default leaf node port (https://docs.nats.io/running-a-nats-service/configuration/leafnodes/leafnode_conf). */
export const leafNodePort = 7422;

export type LeafNodes =
  /** Accept leaf node connections on host:port (port defaults to 7422). */
  | { listen: { host: string; port?: number } }
  /** Connect to each remote (every URL of one remote is the same server set): nats-leaf://host:port. */
  | { remotes: { urls: string[] }[] };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const ENV = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const PATH = /^\/[A-Za-z0-9._/-]*$/;
const LEAF_URL = /^nats-leaf:\/\/([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/;
const ROUTE = /^nats:\/\/([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/;

const isPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
const isEnvRef = (v: unknown): v is EnvRef => typeof v === "object" && v !== null && typeof (v as EnvRef).env === "string";

/** `nats://host:port`, the form `routes` takes. */
export function routeUrl(host: string, port: number): string {
  return `nats://${host}:${port}`;
}

/** `nats-leaf://host:port`, the form a leaf node remote's URLs take. */
export function leafUrl(host: string, port: number = leafNodePort): string {
  return `nats-leaf://${host}:${port}`;
}

function leafNodeProblems(l: LeafNodes, otherPorts: number[]): string[] {
  const p: string[] = [];
  if ("listen" in l) {
    const port = l.listen.port ?? leafNodePort;
    if (!HOST.test(l.listen.host)) p.push(`leafNodes.listen.host: ${JSON.stringify(l.listen.host)} is not a host name or IPv4 address`);
    if (!isPort(port)) p.push(`leafNodes.listen.port: ${port} is not a TCP port (1-65535)`);
    else if (otherPorts.includes(port)) p.push(`leafNodes.listen.port: ${port} is already the client, cluster or monitoring port`);
    return p;
  }
  if (l.remotes.length === 0) p.push("leafNodes.remotes: none given (omit leafNodes instead)");
  l.remotes.forEach((r, i) => {
    if (r.urls.length === 0) p.push(`leafNodes.remotes[${i}].urls: none given`);
    for (const u of r.urls) {
      const m = LEAF_URL.exec(u);
      if (!m || !isPort(Number(m[2]))) p.push(`leafNodes.remotes[${i}].urls: ${JSON.stringify(u)} is not nats-leaf://<host>:<port>`);
    }
  });
  return p;
}

/** One line per problem of a configuration (empty when it renders). */
export function natsServerConfigProblems(c: NatsServerConfig): string[] {
  const p: string[] = [];
  const envName = (what: string, ref: EnvRef) => {
    if (!ENV.test(ref.env)) p.push(`${what}: ${JSON.stringify(ref.env)} is not an environment variable name`);
  };
  if (isEnvRef(c.serverName)) envName("serverName", c.serverName);
  else if (!NAME.test(c.serverName)) p.push(`serverName: ${JSON.stringify(c.serverName)} must be 1-63 letters, digits, '-' or '_', starting with a letter or digit`);
  if (!NAME.test(c.clusterName)) p.push(`clusterName: ${JSON.stringify(c.clusterName)} must be 1-63 letters, digits, '-' or '_', starting with a letter or digit`);
  if (!HOST.test(c.host)) p.push(`host: ${JSON.stringify(c.host)} is not a host name or IPv4 address`);
  const ports: [string, number][] = [["clientPort", c.clientPort], ...(c.standalone ? [] : [["clusterPort", c.clusterPort] as [string, number]]), ["monitorPort", c.monitorPort]];
  for (const [what, port] of ports) if (!isPort(port)) p.push(`${what}: ${port} is not a TCP port (1-65535)`);
  if (new Set(ports.map(([, port]) => port)).size !== ports.length) p.push(`${ports.map(([w]) => w).join(", ").replace(/, (\w+)$/, " and $1")} must differ (${ports.map(([, port]) => port).join(", ")})`);
  if (c.standalone && c.routes.length > 0) p.push("routes: a standalone node has no cluster, so no routes");
  if (!c.standalone && c.routes.length === 0) p.push("routes: a cluster node needs a route to every node, none given");
  for (const r of c.routes) {
    const m = ROUTE.exec(r);
    if (!m || !isPort(Number(m[2]))) p.push(`routes: ${JSON.stringify(r)} is not nats://<host>:<port>`);
  }
  if (new Set(c.routes).size !== c.routes.length) p.push("routes: listed twice");
  if (!PATH.test(c.jetStream.storeDir)) p.push(`jetStream.storeDir: ${JSON.stringify(c.jetStream.storeDir)} must be an absolute path of letters, digits, '.', '_', '-', '/'`);
  for (const [what, n] of [["maxMemoryStoreBytes", c.jetStream.maxMemoryStoreBytes], ["maxFileStoreBytes", c.jetStream.maxFileStoreBytes]] as const) {
    if (!Number.isSafeInteger(n) || n <= 0) p.push(`jetStream.${what}: ${n} must be a positive whole number of bytes`);
  }
  const { durationSeconds: d, gracePeriodSeconds: g } = c.lameDuck;
  if (!Number.isInteger(d) || d <= 0) p.push(`lameDuck.durationSeconds: ${d} must be a positive whole number`);
  if (!Number.isInteger(g) || g < 0 || g >= d) p.push(`lameDuck.gracePeriodSeconds: ${g} must be a whole number below the duration (${d})`);
  if (c.jetStream.domain !== undefined && !NAME.test(c.jetStream.domain)) p.push(`jetStream.domain: ${JSON.stringify(c.jetStream.domain)} must be 1-63 letters, digits, '-' or '_', starting with a letter or digit`);
  if (c.leafNodes) p.push(...leafNodeProblems(c.leafNodes, ports.map(([, port]) => port)));
  if (c.pidFile !== undefined && !PATH.test(c.pidFile)) p.push(`pidFile: ${JSON.stringify(c.pidFile)} must be an absolute path of letters, digits, '.', '_', '-', '/'`);
  if (c.auth) {
    envName("auth.user", c.auth.user);
    envName("auth.password", c.auth.password);
  }
  return p;
}

/** Every string rendered is checked against the patterns above, so quoting never needs an escape. */
const q = (s: string) => JSON.stringify(s);
const value = (v: string | EnvRef) => (isEnvRef(v) ? `$${v.env}` : q(v));

function leafNodeLines(l: LeafNodes): string[] {
  if ("listen" in l) return ["leafnodes {", `  host: ${q(l.listen.host)}`, `  port: ${l.listen.port ?? leafNodePort}`, "}"];
  return [
    "leafnodes {",
    "  remotes: [",
    ...l.remotes.flatMap((r) => ["    {", "      urls: [", ...r.urls.map((u) => `        ${q(u)}`), "      ]", "    }"]),
    "  ]",
    "}",
  ];
}

/** The configuration file's text; throws one error listing every problem. */
export function renderNatsServerConfig(c: NatsServerConfig): string {
  const problems = natsServerConfigProblems(c);
  if (problems.length > 0) throw new Error(`nats-server configuration: ${problems.join("; ")}`);
  const lines = [
    "# nats-server configuration rendered by components/nats/server-config.ts",
    `server_name: ${value(c.serverName)}`,
    `listen: ${q(`${c.host}:${c.clientPort}`)}`,
    `http: ${q(`${c.host}:${c.monitorPort}`)}`,
    ...(c.pidFile ? [`pid_file: ${q(c.pidFile)}`] : []),
    `lame_duck_duration: ${q(`${c.lameDuck.durationSeconds}s`)}`,
    `lame_duck_grace_period: ${q(`${c.lameDuck.gracePeriodSeconds}s`)}`,
    "",
  ];
  if (c.auth) lines.push("authorization {", `  user: ${value(c.auth.user)}`, `  password: ${value(c.auth.password)}`, "}", "");
  lines.push(
    "jetstream {",
    `  store_dir: ${q(c.jetStream.storeDir)}`,
    `  max_memory_store: ${c.jetStream.maxMemoryStoreBytes}`,
    `  max_file_store: ${c.jetStream.maxFileStoreBytes}`,
    ...(c.jetStream.domain !== undefined ? [`  domain: ${q(c.jetStream.domain)}`] : []),
    "}",
    "",
  );
  if (c.leafNodes) lines.push(...leafNodeLines(c.leafNodes), "");
  if (c.standalone) return lines.join("\n");
  lines.push(
    "cluster {",
    `  name: ${q(c.clusterName)}`,
    `  listen: ${q(`${c.host}:${c.clusterPort}`)}`,
    // Clients are given the servers (or a Service) explicitly; the cluster does not gossip client URLs.
    "  no_advertise: true",
    "  routes: [",
    ...c.routes.map((r) => `    ${q(r)}`),
    "  ]",
    "}",
    "",
  );
  return lines.join("\n");
}
