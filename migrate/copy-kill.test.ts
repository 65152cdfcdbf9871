/**
 * The mover SIGKILLed at random points and resumed: each batch commits with its checkpoint, so
 * after ten kills (after a random number of batches, a few ms into the next COPY) and a last
 * uninterrupted run, the
 * target holds exactly the source, row for row.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { openBrainStore } from "../services/brain/src/store/index.js";
import { openMove, verifyStore } from "./stores.js";

let pgUp = false;
beforeAll(async () => {
  pgUp = await available("postgres", PG_URL);
});
const dir = mkdtempSync(join(tmpdir(), "tierstack-move-kill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const root = resolve(__dirname, "..");

/** Runs the mover; with `killAfter`, SIGKILLs it that many committed batches in, a few ms later (mid-COPY of the next). */
function run(args: string[], killAfter?: number): Promise<{ done: boolean; batches: number }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "migrate/test/copy-child.ts"), ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on("data", (d) => {
      out += d;
      const seen = out.split("\n").filter((l) => l.startsWith("batch ")).length;
      if (killAfter !== undefined && seen >= killAfter && !timer) timer = setTimeout(() => child.kill("SIGKILL"), Math.floor(Math.random() * 15));
    });
    child.stderr.on("data", (d) => (err += d));
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      const done = out.includes("done\n");
      if (!done && signal !== "SIGKILL") return rej(new Error(`mover exited ${code}: ${err}`));
      res({ done, batches: out.split("\n").filter((l) => l.startsWith("batch ")).length });
    });
  });
}

it("ten SIGKILLs at random points, then a resume: the target equals the source", async (ctx) => {
  if (!pgUp) return ctx.skip();
  const schema = await freshSchema("move_kill");
  const path = join(dir, "brain.db");
  try {
    const store = await openBrainStore(`sqlite:${path}`);
    await store.close();
    const db = new Database(path);
    const ins = db.prepare("INSERT INTO history (learner_id, role, content, at) VALUES (?, ?, ?, ?)");
    const insInbox = db.prepare("INSERT INTO inbox (wa_id, learner_id, type, body, sent_at, received_at) VALUES (?, ?, 'text', ?, ?, ?)");
    db.transaction(() => {
      for (let i = 0; i < 6000; i++) ins.run(`l${i % 97}`, i % 2 ? "user" : "assistant", `message ${i} \t with \\ escapes ✓`, 1_700_000_000_000 + i);
      for (let i = 0; i < 3000; i++) insInbox.run(`wamid.${i}`, `l${i % 97}`, `body ${i}`, 1_700_000_000_000 + i, 1_700_000_000_500 + i);
    })();
    db.close();
    const args = ["brain", path, schema.url, "50"];
    let killedAfterProgress = 0;
    for (let i = 0; i < 10; i++) {
      const r = await run(args, 1 + Math.floor(Math.random() * 25));
      if (!r.done && r.batches > 0) killedAfterProgress++;
    }
    // At least one kill landed mid-copy, after some batches had committed: the resume resumed.
    expect(killedAfterProgress).toBeGreaterThan(0);
    const last = await run(args);
    expect(last.done).toBe(true);
    const m = await openMove("brain", path, schema.url);
    try {
      expect(await verifyStore(m)).toEqual([]);
      const { rows } = await m.target.pool.query("SELECT (SELECT count(*) FROM history) AS h, (SELECT count(*) FROM inbox) AS i");
      expect(rows[0]).toEqual({ h: "6000", i: "3000" });
    } finally {
      await m.close();
    }
  } finally {
    await schema.drop();
  }
}, 120_000);
