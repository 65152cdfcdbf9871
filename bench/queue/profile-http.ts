/**
 * CPU profile of the service under HTTP load (what the README's "profile" section quotes):
 *   npx tsx bench/queue/profile-http.ts [agents=100] [seconds=8] [pair|chain]
 * Starts a private PostgreSQL, pre-enqueues the backlog, runs the service with `node --cpu-prof`
 * and the load generator as separate processes, then prints the top self-time frames.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AgentTokens, openTokenStore, parseDatabaseUrl } from "@tierstack/common";
import { startPrivatePostgres } from "@tierstack/common/testing";
import { openTaskStore } from "../../services/task-queue/src/open-store.js";
import { startServer } from "../../services/task-queue/test/server-process.js";
import { parseCommandArgs } from "../../cli/args.js";

const [agents = "100", seconds = "8", mode = "chain"] = parseCommandArgs("bench/queue/profile-http", "profile-http.ts [agents] [seconds] [chain|pair]", process.argv.slice(2), {}).positionals;
const root = fileURLToPath(new URL("../../", import.meta.url));
const db = await startPrivatePostgres();
const profDir = mkdtempSync(join(tmpdir(), "tq-prof-"));
try {
  const url = `${db.url}?schema=tq_prof`;
  const store = await openTaskStore(parseDatabaseUrl(url));
  for (let i = 0; i < 50_000; i += 1000) await store.enqueue(Array.from({ length: 1000 }, () => ({ queue: "bench", payload: { p: "x".repeat(90) }, priority: 0, maxAttempts: 3 })));
  await store.close();
  const ts = await openTokenStore(url);
  const { token } = await new AgentTokens(ts.store).issue("profile");
  await ts.close();
  const server = await startServer({ DATABASE_URL: url, LOG_LEVEL: "error" }, ["--cpu-prof", "--cpu-prof-dir", profDir]);
  const load = spawnSync(process.execPath, ["--import", "tsx", "bench/queue/load.ts", server.url, token, agents, seconds, "bench", mode], { cwd: root, encoding: "utf8" });
  process.stdout.write(`load: ${load.stdout}`);
  await server.stop();
  for (const f of readdirSync(profDir).filter((n) => n.endsWith(".cpuprofile"))) {
    const p = JSON.parse(readFileSync(join(profDir, f), "utf8")) as { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[] };
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    for (const s of p.samples) {
      const cf = byId.get(s)!.callFrame;
      const key = `${cf.functionName || "(anonymous)"} ${cf.url.replace(/.*node_modules\//, "").replace(`file://${root}`, "")}:${cf.lineNumber}`;
      self.set(key, (self.get(key) ?? 0) + 1);
    }
    const total = p.samples.length;
    process.stdout.write(`\n${f}: ${total} samples\n`);
    for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}\n`);
  }
} finally {
  db.destroy();
  rmSync(profDir, { recursive: true, force: true });
}
