/**
 * `tierstack migrate` on a copy of the single-box reference stack: the stage walk writes the
 * stack file, refuses to skip, verifies readiness for real against an HTTP server and the two
 * stores for real (SQLite files against fresh PostgreSQL schemas, through `migrate copy`).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    expect(unverified.err).toMatch(/verification failed: task-queue: tasks key 1 column \(row\): source present, target missing/);
    const copied = await migrate("copy", ...stores);
    expect(copied.out).toMatch(/task-queue: .*tasks 1/);
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
