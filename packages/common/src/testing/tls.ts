import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort, portOpen } from "../net.js";
import { waitFor } from "../wait.js";
import { startPrivatePostgres, type PrivatePostgres } from "./processes.js";

/**
 * TLS test fixtures: a throw-away CA made with openssl in a temp dir, server certificates it
 * signs, and private PostgreSQL / Redis servers that accept TLS only. Only processes started
 * here are ever signalled, by their own pid.
 */

function openssl(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr || r.stdout || r.error?.message}`);
}

export interface TestCa {
  name: string;
  dir: string;
  certFile: string;
  keyFile: string;
}

export interface ServerCert {
  certFile: string;
  keyFile: string;
}

/** A self-signed CA (EC P-256, valid two days) in `dir`. */
export function makeCa(dir: string, name: string): TestCa {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  openssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  return { name, dir, certFile, keyFile };
}

/**
 * A server certificate signed by `ca`: subject CN `cn`, and subjectAltName entries `san`
 * ("IP:127.0.0.1", "DNS:localhost"), or none at all when `san` is empty.
 */
export function issueServerCert(ca: TestCa, name: string, opts: { cn: string; san: string[] }): ServerCert {
  const keyFile = join(ca.dir, `${name}.key`);
  const csr = join(ca.dir, `${name}.csr`);
  const certFile = join(ca.dir, `${name}.crt`);
  const ext = join(ca.dir, `${name}.ext`);
  writeFileSync(ext, ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth",
    ...(opts.san.length ? [`subjectAltName=${opts.san.join(",")}`] : [])].join("\n") + "\n");
  openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", `/CN=${opts.cn}`], ca.dir);
  openssl(["x509", "-req", "-in", csr, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-CAcreateserial", "-out", certFile, "-days", "2", "-extfile", ext], ca.dir);
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile };
}

/** A temp dir for CA material, readable by the postgres user when the tests run as root. */
export function tlsDir(prefix = "tierstack-tls-"): { dir: string; destroy: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, destroy: () => rmSync(dir, { recursive: true, force: true }) };
}

function postgresIds(): [number, number] | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const u = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const g = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  return [Number(u.stdout.trim()), Number(g.stdout.trim())];
}

export interface TlsPostgres {
  host: "127.0.0.1";
  port: number;
  user: string;
  password: string;
  database: string;
  /** postgres://user:password@127.0.0.1:port/database (no TLS parameters: add them per test). */
  baseUrl: string;
  server: PrivatePostgres;
  destroy(): void;
}

/**
 * A private PostgreSQL with `ssl=on` and the given server certificate whose pg_hba.conf accepts
 * TCP only over TLS with a SCRAM password (`hostnossl … reject`); a role and a database owned
 * by it for the test. The superuser stays reachable over the Unix socket only.
 */
export async function startTlsPostgres(cert: ServerCert, opts: { user?: string; password?: string } = {}): Promise<TlsPostgres> {
  const ids = postgresIds();
  const certDir = cert.keyFile.slice(0, cert.keyFile.lastIndexOf("/"));
  if (ids) {
    chownSync(certDir, ...ids);
    chownSync(cert.keyFile, ...ids);
    chownSync(cert.certFile, ...ids);
  }
  const server = await startPrivatePostgres({ settings: { ssl: "on", ssl_cert_file: cert.certFile, ssl_key_file: cert.keyFile, password_encryption: "scram-sha-256" } });
  const user = opts.user ?? "app";
  const password = opts.password ?? `pw-${Math.random().toString(36).slice(2, 12)}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
    await admin.query(`CREATE DATABASE ${user} OWNER ${user}`);
    const hba = await admin.query<{ hba_file: string }>("SHOW hba_file");
    const file = hba.rows[0]?.hba_file;
    if (!file) throw new Error("no hba_file");
    writeFileSync(file, [
      "local all all trust",
      "hostssl all all 127.0.0.1/32 scram-sha-256",
      "hostnossl all all 0.0.0.0/0 reject",
    ].join("\n") + "\n");
    await admin.query("SELECT pg_reload_conf()");
  } finally {
    await admin.end();
  }
  // The reload is asynchronous: wait until a plaintext connection is refused.
  await waitFor(async () => {
    const c = new pg.Client({ connectionString: server.url });
    try {
      await c.connect();
      await c.end();
      return false;
    } catch {
      return true;
    }
  }, { what: "pg_hba.conf reload" });
  return {
    host: "127.0.0.1",
    port: server.port,
    user,
    password,
    database: user,
    baseUrl: `postgres://${user}:${password}@127.0.0.1:${server.port}/${user}`,
    server,
    destroy: () => server.destroy(),
  };
}

export interface TlsRedis {
  port: number;
  password: string;
  stop(): Promise<void>;
}

/**
 * redis-server with TLS only (`--port 0 --tls-port N`), `requirepass`, no client certificates
 * asked for (`--tls-auth-clients no`, as Memorystore's SERVER_AUTHENTICATION), nothing persisted.
 */
export async function startTlsRedis(cert: ServerCert, ca: TestCa, opts: { password?: string } = {}): Promise<TlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), "tierstack-redis-tls-"));
  const port = await freePort();
  const password = opts.password ?? `auth-${Math.random().toString(36).slice(2, 12)}`;
  const child: ChildProcess = spawn("redis-server", [
    "--bind", "127.0.0.1", "--port", "0", "--tls-port", String(port),
    "--tls-cert-file", cert.certFile, "--tls-key-file", cert.keyFile, "--tls-ca-cert-file", ca.certFile,
    "--tls-auth-clients", "no", "--requirepass", password,
    "--save", "", "--appendonly", "no", "--dir", dir,
  ], { stdio: "ignore" });
  let spawnError: Error | undefined;
  child.once("error", (err) => {
    spawnError = err;
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (spawnError) throw spawnError;
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      return portOpen("127.0.0.1", port);
    }, { what: `TLS redis-server on ${port}` });
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, password, stop };
}
