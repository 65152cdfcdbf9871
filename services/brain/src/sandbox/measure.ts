/**
 * Measures the gvisor runtime's latencies on this host (the numbers in ADR 0037):
 *   cold   claim of a learner with an empty directory until the runtime is ready
 *   resume release, then claim again with the learner's files (a journal of 200 exchanges) until ready
 *   first  resume plus the first answer through the sandbox (an LLM client that answers at once)
 *   ask    one forwarded request on a live sandbox
 * Run as root with runsc installed: npx tsx services/brain/src/sandbox/measure.ts [rounds]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GvisorRuntime } from "./gvisor.js";
import type { LlmClient } from "../llm.js";

const rounds = Number(process.argv[2] ?? 10);
const llm: LlmClient = { complete: async (r) => ({ text: "ok", model: r.model, promptTokens: 1, completionTokens: 1, costUsd: 0 }) };
const req = { model: "m", messages: [{ role: "user" as const, content: "hello" }] };
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]!.toFixed(0)} ms, p90 ${s[Math.min(s.length - 1, Math.floor(s.length * 0.9))]!.toFixed(0)} ms, max ${s.at(-1)!.toFixed(0)} ms (n=${s.length})`;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "brain-measure-"));
  const rt = new GvisorRuntime({ dataDir: join(dir, "learners"), stateDir: join(dir, "state") });
  const t = { cold: [] as number[], resume: [] as number[], first: [] as number[], ask: [] as number[] };
  try {
    for (let i = 0; i < rounds; i++) {
      const id = `learner-${i}`;
      let s = performance.now();
      await rt.claim(id);
      t.cold.push(performance.now() - s);
      const lines = Array.from({ length: 200 }, (_, k) => JSON.stringify({ at: k, user: "question ".repeat(20), assistant: "answer ".repeat(60), model: "m" })).join("\n");
      writeFileSync(join(rt.dirOf(id), "journal.jsonl"), `${lines}\n`);
      for (let k = 0; k < 5; k++) {
        s = performance.now();
        await rt.ask(id, req, llm);
        t.ask.push(performance.now() - s);
      }
      await rt.release(id);
      s = performance.now();
      const info = await rt.claim(id);
      t.resume.push(performance.now() - s);
      if (info.resumedEntries < 200) throw new Error(`resumed ${info.resumedEntries} entries`);
      await rt.ask(id, req, llm);
      t.first.push(performance.now() - s);
      await rt.release(id);
    }
  } finally {
    await rt.close();
    rt.sweep();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [k, v] of Object.entries(t)) console.log(`${k.padEnd(6)} ${stats(v)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
