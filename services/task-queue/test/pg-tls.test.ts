/**
 * The task queue's PostgreSQL store over TLS through the code server.ts runs (readConfig's
 * parseDatabaseUrl → openStores): the pool AND the separate LISTEN connection for wake-ups
 * both speak verified TLS, against a private `ssl=on` server that refuses plaintext.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueServerCert, makeCa, startTlsPostgres, tlsDir, type TestCa, type TlsPostgres } from "@tierstack/common/testing";
import { readConfig } from "../src/config.js";
import { openStores } from "../src/open-store.js";

let dir: { dir: string; destroy: () => void };
let ca: TestCa;
let server: TlsPostgres;

beforeAll(async () => {
  dir = tlsDir();
  ca = makeCa(dir.dir, "tierstack-test-ca");
  server = await startTlsPostgres(issueServerCert(ca, "pg", { cn: "127.0.0.1", san: ["IP:127.0.0.1"] }));
});

afterAll(() => {
  server?.destroy();
  dir?.destroy();
});

describe("task-queue store over verified TLS", () => {
  it("every connection the store opens (pool and LISTEN) is TLS; a wrong CA stops the start with one line", async () => {
    const url = `${server.baseUrl}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca.certFile)}&schema=tq_tls`;
    const config = readConfig({ DATABASE_URL: url });
    const { store } = await openStores(config.database, { poolMax: 3 });
    // The superuser over the Unix socket (pg_hba: local trust) sees every backend of the app role.
    const admin = new pg.Client({ host: server.server.dir, port: server.port, user: "postgres", database: "postgres" });
    await admin.connect();
    try {
      const rows = (await admin.query<{ query: string; ssl: boolean }>(
        "SELECT a.query, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = $1", [server.user],
      )).rows;
      expect(rows.length).toBeGreaterThanOrEqual(2);
      expect(rows.some((r) => /^LISTEN /.test(r.query))).toBe(true);
      expect(rows.every((r) => r.ssl)).toBe(true);
    } finally {
      await admin.end();
      await store.close();
    }

    const other = makeCa(dir.dir, "some-other-ca");
    const bad = readConfig({ DATABASE_URL: url.replace(encodeURIComponent(ca.certFile), encodeURIComponent(other.certFile)) });
    const err = await openStores(bad.database).then(() => undefined, (e: Error) => e.message);
    expect(err).toMatch(new RegExp(`^PostgreSQL 127\\.0\\.0\\.1:${server.port}: TLS: the server's certificate is not signed by the CA in sslrootcert=`));
    expect(err?.split("\n")).toHaveLength(1);
  });
});
