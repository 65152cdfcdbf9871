/**
 * The SQLite → PostgreSQL mover against a raw COPY of the same rows, in the same run, on one
 * private PostgreSQL (fsync on):
 *
 *   npx tsx bench/migrate/run.ts              # 1,000,000 tasks
 *   npx tsx bench/migrate/run.ts --rows 100000
 *
 * The task store is filled with `rows` tasks (100-byte JSON payloads, a mix of states) and as
 * many outbox rows. "raw COPY" streams the mover's own COPY text, prepared beforehand and not
 * timed, into an empty copy of the schema: the floor for getting those bytes into PostgreSQL.
 * The mover's figure includes reading SQLite, encoding, the checkpoint per batch and the
 * sequence reset. CPU time of this process (the mover's side) is read from /proc.
 */
import { readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { parseDatabaseUrl } from "@tierstack/common";
import { startPrivatePostgres } from "@tierstack/common/testing";
import { openStores } from "../../services/task-queue/src/open-store.js";
import { exitOnUsageError, intOption, parseCommandArgs } from "../../cli/args.js";
import { copyStore, emptyTarget, openMove, verifyStore } from "../../migrate/stores.js";
import { copyField } from "../../migrate/values.js";

const { values: args } = exitOnUsageError(() => parseCommandArgs("bench/migrate", "npx tsx bench/migrate/run.ts [--rows N] [--batch N]", process.argv.slice(2), { rows: { type: "string" }, batch: { type: "string" } }));
const ROWS = exitOnUsageError(() => intOption("bench/migrate", "rows", args.rows, 1_000_000, 1));
const BATCH = exitOnUsageError(() => intOption("bench/migrate", "batch", args.batch, 20_000, 1));

const cpuMs = () => {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
};
const log = (s: string) => process.stderr.write(`${s}\n`);

function fill(path: string): void {
  const db = new Database(path);
  db.pragma("synchronous = OFF");
  const task = db.prepare("INSERT INTO tasks (queue, state, priority, run_at, attempts, max_attempts, payload, created_at, updated_at, finished_at, lease_token, lease_owner) VALUES (?, ?, ?, ?, ?, 5, ?, ?, ?, ?, ?, ?)");
  const event = db.prepare("INSERT INTO outbox (queue, event, task_id, attempt, created_at, published_at) VALUES (?, 'completed', ?, 1, ?, ?)");
  const states = ["ready", "completed", "completed", "running", "dead"];
  const t0 = 1_700_000_000_000;
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) {
      const state = states[i % states.length]!;
      const payload = JSON.stringify({ p: "x".repeat(80), i });
      task.run(`q${i % 20}`, state, i % 3, t0 + i, state === "ready" ? 0 : 1, payload, t0 + i, t0 + i + 5, state === "completed" || state === "dead" ? t0 + i + 9 : null, state === "ready" ? null : `tok${i}`, state === "ready" ? null : `agent-${i % 100}`);
      event.run(`q${i % 20}`, i, t0 + i, i % 2 ? t0 + i + 1 : null);
    }
  })();
  db.close();
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), "bench-migrate-"));
  const server = await startPrivatePostgres();
  const admin = new pg.Pool({ connectionString: server.url, max: 2 });
  try {
    const source = join(tmp, "task-queue.db");
    (await openStores(parseDatabaseUrl(`sqlite:${source}`))).store.close();
    log(`filling SQLite with ${ROWS.toLocaleString("en")} tasks and outbox rows`);
    fill(source);

    const moverUrl = `${server.url}?schema=mover`;
    const m = await openMove("task-queue", source, moverUrl);
    const rows = m.tables.reduce((n, t) => n + (m.source.prepare(`SELECT count(*) AS n FROM "${t.name}"`).get() as { n: number }).n, 0);

    // The peer: the same COPY text, prepared beforehand, into an empty copy of the schema.
    log("preparing the raw COPY text");
    const texts = m.tables.map((t) => ({
      t,
      text: (m.source.prepare(`SELECT ${t.columns.map((c) => `"${c.name}"`).join(", ")} FROM "${t.name}"`).raw().all() as unknown[][])
        .map((r) => r.map((v, i) => copyField(v, t.columns[i]!.type)).join("\t"))
        .join("\n") + "\n",
    }));
    const rawUrl = `${server.url}?schema=raw`;
    (await openMove("task-queue", source, rawUrl)).close();
    const raw = new pg.Pool({ connectionString: server.url, max: 1, options: "-c search_path=raw" });
    log("raw COPY");
    let t = performance.now();
    for (const { t: table, text } of texts) {
      if (text === "\n") continue; // an empty table
      const client = await raw.connect();
      try {
        const stream = client.query(copyFrom(`COPY raw."${table.name}" (${table.columns.map((c) => `"${c.name}"`).join(", ")}) FROM STDIN`));
        await new Promise<void>((res, rej) => stream.on("finish", () => res()).on("error", rej).end(text));
      } finally {
        client.release();
      }
    }
    const rawS = (performance.now() - t) / 1000;
    await raw.end();

    log(`mover (batches of ${BATCH.toLocaleString("en")})`);
    await emptyTarget(m);
    const cpu0 = cpuMs();
    t = performance.now();
    await copyStore(m, { batchRows: BATCH });
    const moverS = (performance.now() - t) / 1000;
    const moverCpu = cpuMs() - cpu0;
    log("verification");
    t = performance.now();
    const diffs = await verifyStore(m);
    const verifyS = (performance.now() - t) / 1000;
    await m.close();
    if (diffs.length > 0) throw new Error(`verification found differences: ${JSON.stringify(diffs.slice(0, 3))}`);

    const fmt = (n: number) => Math.round(n).toLocaleString("en");
    console.log(`\n${rows.toLocaleString("en")} rows (${ROWS.toLocaleString("en")} tasks + ${ROWS.toLocaleString("en")} outbox rows), private PostgreSQL with fsync=${(await admin.query("SHOW fsync")).rows[0].fsync}\n`);
    console.log("| | seconds | rows/s | × raw COPY |");
    console.log("|---|---:|---:|---:|");
    console.log(`| raw COPY of the same rows (text prepared beforehand) | ${rawS.toFixed(1)} | ${fmt(rows / rawS)} | 1.00 |`);
    console.log(`| mover: read SQLite, encode, COPY, checkpoint per batch | ${moverS.toFixed(1)} | ${fmt(rows / moverS)} | ${(rawS / moverS).toFixed(2)} |`);
    console.log(`| verification: every column of every row, both sides | ${verifyS.toFixed(1)} | ${fmt(rows / verifyS)} | |`);
    console.log(`\nmover CPU (this process): ${(moverCpu / rows * 1000).toFixed(1)} µs per row; goal ≥ 0.5× raw COPY: ${rawS / moverS >= 0.5 ? "met" : "not met"}; time to migrate and verify the store: ${(moverS + verifyS).toFixed(0)} s`);
  } finally {
    await admin.end();
    server.stop();
    rmSync(server.dir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

void main();
