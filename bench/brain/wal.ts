/**
 * A new PostgreSQL cluster has no WAL segment ahead of the one it writes: each time it fills a
 * 16 MB segment it creates the next one, zero-filled and fsynced (wal_init_zero), and every commit
 * waits for that. At the brain's ~4 MB of WAL per second that is a stall of 50–150 ms every ~3.5 s,
 * which a server that has been running does not have: its checkpoints recycle old segments as the
 * next ones (measured, 60 s at 1,000 msg/s on a new cluster: p99 ack 73 ms; 34 ms with the
 * zero-fill off). The benchmark's server is brought to that running state before any trial: it
 * writes `segments` segments, then checkpoints, which keeps them as recycled future segments (up
 * to min_wal_size, which the server must be started with: `walSettings`).
 */
import type pg from "pg";

const SEGMENT_MB = 16;

/** Settings that let a checkpoint keep `segments` recycled segments (max_wal_size stays PostgreSQL's default unless it is smaller). */
export function walSettings(segments: number): Record<string, string> {
  const mb = segments * SEGMENT_MB;
  return { min_wal_size: `${mb}MB`, max_wal_size: `${Math.max(mb, 1024)}MB` };
}

/** Writes `segments` WAL segments and checkpoints; returns how many segments pg_wal then holds ahead of the one being written. */
export async function preallocateWal(c: pg.Client, segments: number): Promise<number> {
  const size = Number((await c.query("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")).rows[0].setting);
  if (size !== SEGMENT_MB * 1024 * 1024) throw new Error(`preallocateWal: wal_segment_size is ${size} bytes; expected ${SEGMENT_MB} MB`);
  await c.query("CREATE TABLE bench_wal_preallocate (n int)");
  for (let i = 0; i < segments; i++) {
    await c.query("INSERT INTO bench_wal_preallocate VALUES (1)"); // a record in the current segment, so the switch moves on
    await c.query("SELECT pg_switch_wal()");
  }
  await c.query("DROP TABLE bench_wal_preallocate");
  await c.query("CHECKPOINT");
  return futureSegments(c);
}

/** Segment files in pg_wal named after the one being written: recycled ones, ready for it to switch to. */
export async function futureSegments(c: pg.Client): Promise<number> {
  const r = await c.query("SELECT count(*)::int AS n FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND name > pg_walfile_name(pg_current_wal_lsn())");
  return r.rows[0].n as number;
}
