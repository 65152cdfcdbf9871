/**
 * TLS to PostgreSQL through the kit's own connection code (parseDatabaseUrl → openPgPool →
 * migratePostgres, and openTokenStore as the gateway uses it), against a private `ssl=on`
 * server whose certificate a throw-away CA signed and whose pg_hba.conf refuses plaintext.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migratePostgres, openPgPool, parseDatabaseUrl } from "./db.js";
import { openTokenStore } from "./token-store.js";
import { issueServerCert, makeCa, startTlsPostgres, tlsDir, type TestCa, type TlsPostgres } from "./testing/tls.js";

let dir: { dir: string; destroy: () => void };
let ca: TestCa;
let otherCa: TestCa;
let pgTls: TlsPostgres;
let pgOtherName: TlsPostgres;

beforeAll(async () => {
  dir = tlsDir();
  ca = makeCa(dir.dir, "tierstack-test-ca");
  otherCa = makeCa(dir.dir, "some-other-ca");
  // Names the loopback address the tests dial: verify-full passes.
  pgTls = await startTlsPostgres(issueServerCert(ca, "pg-loopback", { cn: "127.0.0.1", san: ["IP:127.0.0.1", "DNS:localhost"] }));
  // Like a Cloud SQL per-instance certificate: CN "project:instance", no subjectAltName.
  pgOtherName = await startTlsPostgres(issueServerCert(ca, "pg-instance-name", { cn: "my-project:tier50-pg", san: [] }));
});

afterAll(() => {
  pgTls?.destroy();
  pgOtherName?.destroy();
  dir?.destroy();
});

/** Open the kit's pool from a URL, migrate (the services' first connection), report TLS. */
async function kitRoundTrip(url: string): Promise<{ ssl: boolean; version: string }> {
  const target = parseDatabaseUrl(url);
  if (target.kind !== "postgres") throw new Error("expected postgres");
  const pool = openPgPool(target, { max: 2 });
  try {
    await migratePostgres(pool, "tls-test", target.schema, [{ version: 1, name: "t", sql: "CREATE TABLE IF NOT EXISTS t (v int)" }]);
    const r = await pool.query<{ ssl: boolean; version: string }>("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    const row = r.rows[0];
    if (!row) throw new Error("no pg_stat_ssl row");
    return row;
  } finally {
    await pool.end();
  }
}

async function startError(url: string): Promise<string> {
  try {
    await kitRoundTrip(url);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the connection to fail");
}

const q = (mode: string, caFile: string) => `sslmode=${mode}&sslrootcert=${encodeURIComponent(caFile)}`;

describe("PostgreSQL over TLS, server certificate verified against a CA", () => {
  it("the right CA and password: a migration and a query run, over TLS (pg_stat_ssl), with verify-full", async () => {
    const r = await kitRoundTrip(`${pgTls.baseUrl}?${q("verify-full", ca.certFile)}&schema=tls_ok`);
    expect(r.ssl).toBe(true);
    expect(r.version).toMatch(/^TLSv1\.[23]$/);
  });

  it("the gateway's token store opens and reads through the same URL form", async () => {
    const t = await openTokenStore(`${pgTls.baseUrl}?${q("verify-full", ca.certFile)}&schema=tls_tokens`);
    try {
      expect(await t.store.list()).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it("plaintext is refused by the server: one line that says TLS is required", async () => {
    const msg = await startError(`${pgTls.baseUrl}?schema=tls_plain`);
    expect(msg.split("\n")).toHaveLength(1);
    expect(msg).toMatch(new RegExp(`^PostgreSQL 127\\.0\\.0\\.1:${pgTls.port}: pg_hba\\.conf rejects connection .*no encryption: the server accepts TLS connections only`));
  });

  it("a wrong CA fails with one line naming the CA file", async () => {
    const msg = await startError(`${pgTls.baseUrl}?${q("verify-full", otherCa.certFile)}`);
    expect(msg.split("\n")).toHaveLength(1);
    expect(msg).toBe(
      `PostgreSQL 127.0.0.1:${pgTls.port}: TLS: the server's certificate is not signed by the CA in sslrootcert=${otherCa.certFile} (unable to verify the first certificate)`,
    );
  });

  it("a wrong password fails with one line (after the TLS handshake succeeded)", async () => {
    const u = new URL(pgTls.baseUrl);
    u.password = "not-the-password";
    const msg = await startError(`${u.toString()}?${q("verify-full", ca.certFile)}`);
    expect(msg).toBe(`PostgreSQL 127.0.0.1:${pgTls.port}: password authentication failed for user "${pgTls.user}"`);
  });

  it("verify-full refuses a certificate that does not name the host; verify-ca accepts it (same CA, no name check)", async () => {
    const full = await startError(`${pgOtherName.baseUrl}?${q("verify-full", ca.certFile)}`);
    expect(full.split("\n")).toHaveLength(1);
    expect(full).toMatch(new RegExp(`^PostgreSQL 127\\.0\\.0\\.1:${pgOtherName.port}: TLS: the server's certificate does not name 127\\.0\\.0\\.1 \\(`));
    const r = await kitRoundTrip(`${pgOtherName.baseUrl}?${q("verify-ca", ca.certFile)}&schema=tls_ca_only`);
    expect(r.ssl).toBe(true);
    // …but verify-ca still checks the chain: the other CA is refused.
    expect(await startError(`${pgOtherName.baseUrl}?${q("verify-ca", otherCa.certFile)}`)).toMatch(/TLS: the server's certificate is not signed by the CA in sslrootcert=/);
  });
});

describe("DATABASE_URL TLS parameters: one line per mistake, before any connection", () => {
  const base = "postgres://u:secretpw@10.0.0.5:5432/db";
  const fail = (url: string) => {
    try {
      parseDatabaseUrl(url);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`accepted ${url}`);
  };

  it("modes that do not check the certificate are refused", () => {
    for (const mode of ["require", "prefer", "allow", "no-verify"]) {
      expect(fail(`${base}?sslmode=${mode}`)).toBe(`DATABASE_URL sslmode=${mode}: expected verify-full or verify-ca (the server's certificate is checked against sslrootcert), or disable`);
    }
  });

  it("verify-* needs a readable PEM CA; sslrootcert alone is refused; pg's own TLS switches are refused", () => {
    expect(fail(`${base}?sslmode=verify-full`)).toBe("DATABASE_URL sslmode=verify-full: needs sslrootcert=<CA file> (the CA the server's certificate must chain to)");
    expect(fail(`${base}?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem`)).toBe("DATABASE_URL sslrootcert=/nonexistent/ca.pem: cannot read the CA file (ENOENT)");
    const notPem = join(dir.dir, "not-a-cert.pem");
    writeFileSync(notPem, "hello\n");
    expect(fail(`${base}?sslmode=verify-ca&sslrootcert=${notPem}`)).toBe(`DATABASE_URL sslrootcert=${notPem}: not a PEM certificate (no BEGIN CERTIFICATE block)`);
    expect(fail(`${base}?sslrootcert=${ca.certFile}`)).toMatch(/without sslmode=verify-full or verify-ca/);
    expect(fail(`${base}?ssl=true`)).toMatch(/^DATABASE_URL ssl=…: not supported/);
    expect(fail(`${base}?sslmode=verify-full&sslrootcert=${ca.certFile}&uselibpqcompat=false`)).toMatch(/^DATABASE_URL uselibpqcompat=…: not supported/);
    for (const m of [fail(`${base}?sslmode=require`), fail(`${base}?sslmode=verify-full`)]) expect(m).not.toContain("secretpw");
  });

  it("the connection string keeps the TLS parameters with libpq's meaning (every pg client built from it verifies)", () => {
    const t = parseDatabaseUrl(`${base}?${q("verify-ca", ca.certFile)}&schema=tq`);
    expect(t).toEqual({
      kind: "postgres",
      connectionString: `${base}?sslmode=verify-ca&sslrootcert=${encodeURIComponent(ca.certFile)}&uselibpqcompat=true`,
      schema: "tq",
      tls: { mode: "verify-ca", caFile: ca.certFile },
    });
    expect(parseDatabaseUrl(`${base}?schema=tq`)).toEqual({ kind: "postgres", connectionString: base, schema: "tq" });
  });
});
