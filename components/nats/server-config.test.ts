import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { natsClusterServerConfig } from "./nats-cluster.js";
import { leafUrl, natsServerConfigProblems, renderNatsServerConfig, routeUrl, type NatsServerConfig } from "./server-config.js";

const inCI = process.env.CI === "true" || process.env.CI === "1";

/** nats-server on PATH or where Debian puts it; missing under CI fails the suite. */
function natsServerBinary(): string | undefined {
  for (const candidate of ["nats-server", "/usr/sbin/nats-server"]) {
    const r = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (r.status === 0) return candidate;
  }
  if (inCI) throw new Error("nats-server is not installed and CI=true: install it (see .ci/apt-packages)");
  console.warn("[test] nats-server not found: skipping the checks against the real binary");
  return undefined;
}
const bin = natsServerBinary();

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tierstack-nats-conf-"));
  dirs.push(d);
  return d;
};

const loopback = (dir: string, over: Partial<NatsServerConfig> = {}): NatsServerConfig => ({
  serverName: "n0",
  clusterName: "local",
  host: "127.0.0.1",
  clientPort: 14222,
  clusterPort: 16222,
  monitorPort: 18222,
  routes: [routeUrl("127.0.0.1", 16222), routeUrl("127.0.0.1", 16223), routeUrl("127.0.0.1", 16224)],
  jetStream: { storeDir: join(dir, "js"), maxMemoryStoreBytes: 64 * 1024 * 1024, maxFileStoreBytes: 1024 * 1024 * 1024 },
  lameDuck: { durationSeconds: 30, gracePeriodSeconds: 10 },
  pidFile: join(dir, "n0.pid"),
  ...over,
});

/** The cluster's configuration exactly as NatsCluster puts it into its ConfigMap. */
/** One node, as the box renders it during a migration: its own domain and a leaf node listener. */
const standaloneLeaf = (dir: string, over: Partial<NatsServerConfig> = {}): NatsServerConfig => ({
  ...loopback(dir),
  standalone: true,
  routes: [],
  pidFile: undefined,
  jetStream: { storeDir: join(dir, "js"), maxMemoryStoreBytes: 64 * 1024 * 1024, maxFileStoreBytes: 1024 * 1024 * 1024, domain: "box" },
  leafNodes: { listen: { host: "127.0.0.1", port: 17422 } },
  ...over,
});

const cluster = natsClusterServerConfig("nats", { namespace: "tierstack", nodes: 3, storage: { sizeGi: 10, storageClassName: "premium-rwo" }, resources: { cpu: "500m", memoryMi: 1024 } });

function testConfig(text: string, env: Record<string, string>): { status: number | null; output: string } {
  const file = join(tempDir(), "nats.conf");
  writeFileSync(file, text);
  const r = spawnSync(bin as string, ["-c", file, "-t"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("nats-server configuration renderer", () => {
  it("renders the cluster's configuration: server name from $POD_NAME, a route to every pod, the store on the volume", () => {
    const text = renderNatsServerConfig(cluster);
    expect(text).toContain("server_name: $POD_NAME\n");
    expect(text).toContain('listen: "0.0.0.0:4222"\n');
    expect(text).toContain('http: "0.0.0.0:8222"\n');
    expect(text).toContain('pid_file: "/var/run/nats/nats.pid"\n');
    expect(text).toContain('lame_duck_duration: "30s"\nlame_duck_grace_period: "10s"\n');
    expect(text).toContain('jetstream {\n  store_dir: "/data"\n  max_memory_store: 268435456\n  max_file_store: 9663676416\n}\n');
    expect(text).toContain(
      [
        "cluster {",
        '  name: "nats"',
        '  listen: "0.0.0.0:6222"',
        "  no_advertise: true",
        "  routes: [",
        '    "nats://nats-0.nats-headless.tierstack.svc.cluster.local:6222"',
        '    "nats://nats-1.nats-headless.tierstack.svc.cluster.local:6222"',
        '    "nats://nats-2.nats-headless.tierstack.svc.cluster.local:6222"',
        "  ]",
        "}",
      ].join("\n"),
    );
    expect(text).not.toContain("authorization");
  });

  it("renders client authentication as environment references only", () => {
    const text = renderNatsServerConfig(loopback("/tmp/x", { auth: { user: { env: "NATS_USER" }, password: { env: "NATS_PASSWORD" } } }));
    expect(text).toContain("authorization {\n  user: $NATS_USER\n  password: $NATS_PASSWORD\n}\n");
  });

  it.each<[string, Partial<NatsServerConfig>, RegExp]>([
    ["a server name with a space", { serverName: "n 0" }, /^serverName: "n 0" must be/],
    ["a bad environment name", { serverName: { env: "POD-NAME" } }, /^serverName: "POD-NAME" is not an environment variable name/],
    ["a quote in the cluster name", { clusterName: 'a"b' }, /^clusterName: /],
    ["a host with a colon", { host: "::1" }, /^host: "::1" is not a host name/],
    ["port 0", { clientPort: 0 }, /^clientPort: 0 is not a TCP port/],
    ["two listeners on one port", { monitorPort: 14222 }, /^clientPort, clusterPort and monitorPort must differ/],
    ["no routes", { routes: [] }, /^routes: a cluster node needs a route/],
    ["a route that is not nats://host:port", { routes: ["tcp://a:1"] }, /^routes: "tcp:\/\/a:1" is not nats/],
    ["a route listed twice", { routes: ["nats://a:1", "nats://a:1"] }, /^routes: listed twice/],
    ["a relative store dir", { jetStream: { storeDir: "data", maxMemoryStoreBytes: 1, maxFileStoreBytes: 1 } }, /^jetStream.storeDir: "data" must be an absolute path/],
    ["a zero file store", { jetStream: { storeDir: "/d", maxMemoryStoreBytes: 1, maxFileStoreBytes: 0 } }, /^jetStream.maxFileStoreBytes: 0 must be a positive/],
    ["a grace period as long as lame duck", { lameDuck: { durationSeconds: 10, gracePeriodSeconds: 10 } }, /^lameDuck.gracePeriodSeconds: 10 must be a whole number below the duration \(10\)/],
    ["a domain with a dot", { jetStream: { storeDir: "/d", maxMemoryStoreBytes: 1, maxFileStoreBytes: 1, domain: "a.b" } }, /^jetStream.domain: "a.b" must be/],
    ["a leaf listener on the client port", { leafNodes: { listen: { host: "0.0.0.0", port: 14222 } } }, /^leafNodes.listen.port: 14222 is already the client/],
    ["a leaf listener on a bad host", { leafNodes: { listen: { host: "a b" } } }, /^leafNodes.listen.host: "a b" is not a host/],
    ["no leaf remotes", { leafNodes: { remotes: [] } }, /^leafNodes.remotes: none given/],
    ["a leaf remote that is not nats-leaf://", { leafNodes: { remotes: [{ urls: ["nats://a:7422"] }] } }, /^leafNodes.remotes\[0\].urls: "nats:\/\/a:7422" is not nats-leaf/],
    ["a standalone node with routes", { standalone: true }, /^routes: a standalone node has no cluster/],
    ["an auth reference that is not a name", { auth: { user: { env: "U" }, password: { env: "$P" } } }, /^auth.password: "\$P" is not an environment variable name/],
  ])("refuses %s, naming the field", (_what, over, line) => {
    const problems = natsServerConfigProblems(loopback("/tmp/x", over));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(line);
    expect(() => renderNatsServerConfig(loopback("/tmp/x", over))).toThrow(/^nats-server configuration: /);
  });

  it("renders the domain inside the JetStream block, a leaf listener, and no cluster block for a standalone node", () => {
    const text = renderNatsServerConfig(standaloneLeaf("/tmp/x"));
    expect(text).toContain('  max_file_store: 1073741824\n  domain: "box"\n}\n');
    expect(text).toContain('leafnodes {\n  host: "127.0.0.1"\n  port: 17422\n}\n');
    expect(text).not.toContain("cluster {");
    expect(text).not.toContain("routes");
    const defaultPort = renderNatsServerConfig(standaloneLeaf("/tmp/x", { leafNodes: { listen: { host: "0.0.0.0" } } }));
    expect(defaultPort).toContain('leafnodes {\n  host: "0.0.0.0"\n  port: 7422\n}\n');
  });

  it("renders leaf remotes with their URLs, beside a cluster block", () => {
    const text = renderNatsServerConfig({ ...cluster, jetStream: { ...cluster.jetStream, domain: "tier100" }, leafNodes: { remotes: [{ urls: [leafUrl("nats.tierstack.svc.cluster.local")] }] } });
    expect(text).toContain(['leafnodes {', '  remotes: [', '    {', '      urls: [', '        "nats-leaf://nats.tierstack.svc.cluster.local:7422"', '      ]', '    }', '  ]', '}'].join("\n"));
    expect(text).toContain('  domain: "tier100"\n}\n');
    expect(text).toContain("cluster {\n");
  });

  it("renders without domain or leafnodes when neither is given (the configurations outside a migration)", () => {
    for (const c of [cluster, loopback("/tmp/x")]) {
      const text = renderNatsServerConfig(c);
      expect(text).not.toContain("domain");
      expect(text).not.toContain("leafnodes");
    }
  });

  it("accepts the loopback and the cluster configurations", () => {
    expect(natsServerConfigProblems(loopback("/tmp/x"))).toEqual([]);
    expect(natsServerConfigProblems(cluster)).toEqual([]);
  });
});

describe.skipIf(!bin)("the rendered text against the real nats-server (-t)", () => {
  it("the cluster's configuration is valid with POD_NAME set, and $POD_NAME is a variable reference", () => {
    const text = renderNatsServerConfig(cluster);
    const ok = testConfig(text, { POD_NAME: "nats-0" });
    expect(ok.output).toContain("is valid");
    expect(ok.status).toBe(0);
    const unset = testConfig(text, {});
    expect(unset.status).not.toBe(0);
    expect(unset.output).toContain("variable reference for 'POD_NAME'");
  });

  it("the loopback configuration (with auth) is valid, and -t does refuse an unknown key", () => {
    const dir = tempDir();
    const text = renderNatsServerConfig(loopback(dir, { auth: { user: { env: "NATS_USER" }, password: { env: "NATS_PASSWORD" } } }));
    const env = { NATS_USER: "u", NATS_PASSWORD: "p" };
    expect(testConfig(text, env).status).toBe(0);
    const typo = testConfig(text.replace("no_advertise", "no_advertize"), env);
    expect(typo.status).not.toBe(0);
    expect(typo.output).toContain('unknown field "no_advertize"');
  });

  it("a standalone node with a domain and a leaf listener, and a cluster node with a domain and a leaf remote, are valid", () => {
    const dir = tempDir();
    const box = testConfig(renderNatsServerConfig(standaloneLeaf(dir)), {});
    expect(box.output).toContain("is valid");
    expect(box.status).toBe(0);
    const hub = testConfig(renderNatsServerConfig({ ...cluster, jetStream: { ...cluster.jetStream, domain: "hub" }, leafNodes: { remotes: [{ urls: [leafUrl("box.internal"), leafUrl("10.0.0.2", 17422)] }] } }), { POD_NAME: "nats-0" });
    expect(hub.output).toContain("is valid");
    expect(hub.status).toBe(0);
    const typo = testConfig(renderNatsServerConfig(standaloneLeaf(dir)).replace("leafnodes {", "leafnode {"), {});
    expect(typo.status).not.toBe(0);
  });

  it("two nodes started from rendered texts join over the leaf node: the box's JetStream API answers as $JS.box.API on the hub", async () => {
    const { freePort, waitForPort } = await import("@tierstack/common/testing");
    const [boxDir, hubDir] = [tempDir(), tempDir()];
    const [boxClient, boxMonitor, leaf, hubClient, hubMonitor] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const boxFile = join(boxDir, "box.conf");
    const hubFile = join(hubDir, "hub.conf");
    writeFileSync(boxFile, renderNatsServerConfig(standaloneLeaf(boxDir, { serverName: "box", clientPort: boxClient, monitorPort: boxMonitor, leafNodes: { listen: { host: "127.0.0.1", port: leaf } } })));
    writeFileSync(hubFile, renderNatsServerConfig(standaloneLeaf(hubDir, {
      serverName: "hub", clientPort: hubClient, monitorPort: hubMonitor,
      jetStream: { storeDir: join(hubDir, "js"), maxMemoryStoreBytes: 64 * 1024 * 1024, maxFileStoreBytes: 1024 * 1024 * 1024, domain: "hub" },
      leafNodes: { remotes: [{ urls: [leafUrl("127.0.0.1", leaf)] }] },
    })));
    const children = [boxFile, hubFile].map((f) => spawn(bin as string, ["-c", f], { stdio: "ignore", env: { PATH: process.env.PATH ?? "" } }));
    try {
      await waitForPort(boxClient, { what: "the box nats-server", timeoutMs: 15_000 });
      await waitForPort(hubClient, { what: "the hub nats-server", timeoutMs: 15_000 });
      const nc = await connect({ servers: `nats://127.0.0.1:${hubClient}`, reconnect: false, timeout: 5000 });
      try {
        // The leaf connection comes up asynchronously (the hub redials every second when the box
        // was not listening yet). "No responders" fails at once, so ask against a deadline, pausing
        // between tries, rather than a count of tries.
        let info: { domain?: string } | undefined;
        const deadline = Date.now() + 20_000;
        while (!info && Date.now() < deadline) {
          info = await nc.request("$JS.box.API.INFO", "", { timeout: 500 }).then((m) => m.json<{ domain?: string }>(), () => undefined);
          if (!info) await new Promise((r) => setTimeout(r, 100));
        }
        expect(info?.domain).toBe("box");
        const own = await nc.request("$JS.API.INFO", "", { timeout: 2000 }).then((m) => m.json<{ domain?: string }>());
        expect(own.domain).toBe("hub");
      } finally {
        await nc.close();
      }
    } finally {
      for (const child of children) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
      }
    }
  });

  it("a node started from the rendered text refuses clients without the user and password it read from its environment", async () => {
    const { freePort, waitForPort } = await import("@tierstack/common/testing");
    const dir = tempDir();
    const [clientPort, clusterPort, monitorPort] = [await freePort(), await freePort(), await freePort()];
    const file = join(dir, "nats.conf");
    writeFileSync(file, renderNatsServerConfig(loopback(dir, {
      clientPort, clusterPort, monitorPort,
      routes: [routeUrl("127.0.0.1", clusterPort)],
      auth: { user: { env: "NATS_USER" }, password: { env: "NATS_PASSWORD" } },
    })));
    const child = spawn(bin as string, ["-c", file], { stdio: "ignore", env: { PATH: process.env.PATH ?? "", NATS_USER: "relay", NATS_PASSWORD: "s3cret-from-env" } });
    try {
      await waitForPort(clientPort, { what: "nats-server with auth", timeoutMs: 15_000 });
      const refused = await connect({ servers: `nats://127.0.0.1:${clientPort}`, reconnect: false, timeout: 5000 }).then(
        async (nc) => {
          await nc.close();
          return "connected";
        },
        (err: Error) => err.message,
      );
      expect(refused).toMatch(/Authorization Violation/i);
      const nc = await connect({ servers: `nats://127.0.0.1:${clientPort}`, user: "relay", pass: "s3cret-from-env", reconnect: false, timeout: 5000 });
      await nc.flush();
      await nc.close();
      expect(existsSync(join(dir, "n0.pid"))).toBe(true);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
  });
});
