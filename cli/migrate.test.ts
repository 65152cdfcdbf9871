/**
 * `tierstack migrate` on a copy of the single-box reference stack: the stage walk writes the
 * stack file, refuses to skip, verifies readiness for real against an HTTP server and the two
 * stores for real (SQLite files against fresh PostgreSQL schemas, through `migrate copy`).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseDatabaseUrl } from "@tierstack/common";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { openBrainStore } from "../services/brain/src/store/index.js";
import { openStores } from "../services/task-queue/src/open-store.js";
import { main } from "./main.js";
import { repoRoot } from "./plan.js";

const dir = mkdtempSync(join(tmpdir(), "tierstack-migrate-"));
let pgUp = false;
const before = process.env.TIERSTACK_STACKS_DIR;
beforeAll(async () => {
  pgUp = await available("postgres", PG_URL);
  process.env.TIERSTACK_STACKS_DIR = dir;
});
afterAll(() => {
  if (before === undefined) delete process.env.TIERSTACK_STACKS_DIR;
  else process.env.TIERSTACK_STACKS_DIR = before;
  rmSync(dir, { recursive: true, force: true });
});

async function migrate(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = { out: "", err: "" };
  const code = await main(["migrate", ...args, "--stack", "box"], { out: (s) => (io.out += s), err: (s) => (io.err += s) });
  return { code, ...io };
}

it("walks a stack through expand and copy with real verification, refusing every skip", async (ctx) => {
  if (!pgUp) return ctx.skip();
  copyFileSync(join(repoRoot, "stacks", "Pulumi.single-box.yaml"), join(dir, "Pulumi.box.yaml"));
  const file = join(dir, "Pulumi.box.yaml");
  const server = createServer((_req, res) => res.writeHead(200).end("ok")).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const ready = `http://127.0.0.1:${(server.address() as { port: number }).port}/readyz`;
  const tq = await freshSchema("migrate_cli_tq");
  const brain = await freshSchema("migrate_cli_brain");
  try {
    expect((await migrate("status")).out).toContain("tier single-box, not migrating; next: tierstack migrate next --stack box starts single-box → tier-50");
    expect((await migrate("next")).code).toBe(0);
    expect(readFileSync(file, "utf8")).toMatch(/tierstack:migrationTarget: tier-50\n\s+tierstack:migrationStage: expand/);
    expect(readFileSync(file, "utf8")).toContain("# Reference stack for the single-box tier"); // comments kept

    const skip = await migrate("next");
    expect(skip.code).toBe(1);
    expect(skip.err.trim()).toBe("migrate box: stage expand of single-box → tier-50 has not passed verification: run tierstack migrate verify first (no stage is skipped)");

    expect((await migrate("verify", "--ready", "http://127.0.0.1:1/readyz")).code).toBe(1);
    expect((await migrate("verify", "--ready", ready)).code).toBe(0);
    expect((await migrate("next")).out).toContain("now at stage copy");

    // The box's two SQLite stores, with a task and a learner's message in them.
    const tasks = await openStores(parseDatabaseUrl(`sqlite:${join(dir, "task-queue.db")}`));
    await tasks.store.enqueue([{ queue: "q", payload: { hello: "wörld\t\\" }, priority: 1, maxAttempts: 3 }]);
    await tasks.store.close();
    (await openBrainStore(`sqlite:${join(dir, "brain.db")}`)).close();
    const stores = ["--sqlite-dir", dir, "--pg-url-task-queue", tq.url, "--pg-url-brain", brain.url];
    const unverified = await migrate("verify", ...stores);
    expect(unverified.code).toBe(1);
    expect(unverified.err.trim()).toBe("migrate box: verification failed: no snapshot of the stores yet: run tierstack migrate copy first");
    const copied = await migrate("copy", ...stores);
    expect(copied.out).toMatch(/task-queue: .*tasks 1/);
    expect((await migrate("verify", ...stores)).code).toBe(0);
    // The box keeps serving while the copy is verified: the copy and verify read the snapshot, so a
    // task enqueued after it is not a difference (the cut-over's copy takes it), and a changed target is.
    const later = await openStores(parseDatabaseUrl(`sqlite:${join(dir, "task-queue.db")}`));
    await later.store.enqueue([{ queue: "q", payload: 2, priority: 1, maxAttempts: 3 }]);
    await later.store.close();
    expect((await migrate("verify", ...stores)).code).toBe(0);
    const setPriority = async (p: number) => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`UPDATE "${tq.schema}".tasks SET priority = $1 WHERE id = 1`, [p]);
      await client.end();
    };
    await setPriority(2);
    const changed = await migrate("verify", ...stores);
    expect(changed.err).toContain("verification failed: task-queue: tasks key 1 column priority: source 1, target 2");
    await setPriority(1);
    expect((await migrate("verify", ...stores)).code).toBe(0);
    expect((await migrate("status")).out).toContain("stage copy (verified)");
    expect((await migrate("rollback")).code).toBe(0);
    expect((await migrate("status")).out).toContain("stage expand (verified)");
  } finally {
    server.close();
    await tq.drop();
    await brain.drop();
  }
});

it("says what comes before pulumi up at cut-over, and runs each cut-over step only at its stage", async () => {
  const file = join(dir, "Pulumi.steps.yaml");
  copyFileSync(join(repoRoot, "stacks", "Pulumi.single-box.yaml"), file);
  const { writeStackConfig } = await import("../migrate/stack-file.js");
  const run = async (...args: string[]) => {
    const io = { out: "", err: "" };
    const code = await main(["migrate", ...args, "--stack", "steps"], { out: (s) => (io.out += s), err: (s) => (io.err += s) });
    return { code, ...io };
  };
  writeStackConfig(file, { "tierstack:migrationTarget": "tier-50", "tierstack:migrationStage": "copy", "tierstack:migrationVerified": "" });
  const tooEarly = await run("writes", "drain", "--task-queue", "http://127.0.0.1:1");
  expect(tooEarly.code).toBe(1);
  expect(tooEarly.err.trim()).toBe("migrate steps: the write path is drained and frozen at the cutover stage; the stack is at copy");
  expect((await run("copy-back", "--sqlite-dir", dir, "--pg-url-task-queue", "postgres://x/y", "--pg-url-brain", "postgres://x/z")).err).toContain("copy-back returns the stores to SQLite from the cutover stage");
  expect((await run("stream", "switch", "--nats-source", "nats://127.0.0.1:1", "--nats-target", "nats://127.0.0.1:2")).err.trim()).toBe("migrate stream switch: runs at the cutover stage; the stack is at copy");
  writeStackConfig(file, { "tierstack:migrationVerified": "copy" });
  const next = await run("next");
  expect(next.code).toBe(0);
  expect(next.out).toContain("before pulumi up: drain and freeze the writes, copy, move the stream and verify (docs/migrations/single-box-to-tier-50.md, stage 3); then run: pulumi up");
  // At cut-over, a service that cannot be reached is one line and exit 1.
  process.env.TIERSTACK_OPERATOR_TOKEN = "tsa_not_a_token";
  try {
    const down = await run("writes", "freeze", "--task-queue", "http://127.0.0.1:1");
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/^migrate writes freeze: /);
    // The drain's time is the stack's tierstack:cutoverDrainSeconds unless --drain-seconds is given.
    const bodies: unknown[] = [];
    const tq = createServer((req, res) => {
      let raw = "";
      req.on("data", (c: Buffer) => (raw += c.toString()));
      req.on("end", () => {
        bodies.push({ path: req.url, body: JSON.parse(raw || "{}") as unknown });
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ mode: "draining", leasesHeld: 0, unpublished: 0, leasesFinished: true, waitedMs: 1 }));
      });
    });
    await new Promise<void>((r) => tq.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(tq.address() as { port: number }).port}`;
    try {
      writeStackConfig(file, { "tierstack:cutoverDrainSeconds": "7" });
      expect((await run("writes", "drain", "--task-queue", url)).code).toBe(0);
      expect((await run("writes", "drain", "--task-queue", url, "--drain-seconds", "3")).code).toBe(0);
      expect(bodies).toEqual([{ path: "/admin/cutover/drain", body: { seconds: 7 } }, { path: "/admin/cutover/drain", body: { seconds: 3 } }]);
      writeStackConfig(file, { "tierstack:cutoverDrainSeconds": "7200" });
      const tooLong = await run("writes", "drain", "--task-queue", url);
      expect(tooLong.code).toBe(2);
      expect(tooLong.err).toContain("tierstack:cutoverDrainSeconds) = 7200; accepted: 0-3600");
    } finally {
      tq.close();
    }
  } finally {
    delete process.env.TIERSTACK_OPERATOR_TOKEN;
  }
});
