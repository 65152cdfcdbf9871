import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { natsClusterServerConfig } from "./nats-cluster.js";
import { natsServerConfigProblems, renderNatsServerConfig, routeUrl, type NatsServerConfig } from "./server-config.js";

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
    ["an auth reference that is not a name", { auth: { user: { env: "U" }, password: { env: "$P" } } }, /^auth.password: "\$P" is not an environment variable name/],
  ])("refuses %s, naming the field", (_what, over, line) => {
    const problems = natsServerConfigProblems(loopback("/tmp/x", over));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(line);
    expect(() => renderNatsServerConfig(loopback("/tmp/x", over))).toThrow(/^nats-server configuration: /);
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
