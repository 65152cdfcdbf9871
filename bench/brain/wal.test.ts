/**
 * The benchmark's WAL pre-allocation: after it, the server holds the segments it wrote as
 * recycled ones (a server that has been running), which a new cluster does not.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPrivatePostgres, type PrivatePostgres } from "@tierstack/common/testing";
import { futureSegments, preallocateWal, walSettings } from "./wal.js";

const SEGMENTS = 8;
let server: PrivatePostgres;
let c: pg.Client;

beforeAll(async () => {
  server = await startPrivatePostgres({ settings: walSettings(SEGMENTS) });
  c = new pg.Client({ connectionString: server.url });
  await c.connect();
}, 60_000);
afterAll(async () => {
  await c?.end();
  server?.destroy();
});

describe("WAL pre-allocation", () => {
  it("leaves the segments it wrote in pg_wal as future ones, recycled by the checkpoint", async () => {
    expect(await futureSegments(c)).toBe(0); // a new cluster: the next switch creates (zero-fills) a segment
    const lsn = async () => String((await c.query("SELECT pg_walfile_name(pg_current_wal_lsn()) AS f")).rows[0].f);
    const first = await lsn();
    const ahead = await preallocateWal(c, SEGMENTS);
    expect(parseInt((await lsn()).slice(16), 16) - parseInt(first.slice(16), 16)).toBe(SEGMENTS);
    expect(ahead).toBe(await futureSegments(c));
    expect(ahead).toBeGreaterThanOrEqual(SEGMENTS - 1); // min_wal_size counts the one being written
    expect((await c.query("SELECT to_regclass('bench_wal_preallocate') AS t")).rows[0].t).toBeNull();
  }, 60_000);
  it("sizes min_wal_size to the segments and never lowers max_wal_size below PostgreSQL's default", () => {
    expect(walSettings(64)).toEqual({ min_wal_size: "1024MB", max_wal_size: "1024MB" });
    expect(walSettings(128)).toEqual({ min_wal_size: "2048MB", max_wal_size: "2048MB" });
    expect(walSettings(8)).toEqual({ min_wal_size: "128MB", max_wal_size: "1024MB" });
  });
});
