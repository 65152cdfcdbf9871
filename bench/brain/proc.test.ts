/**
 * The /proc reader behind the benchmark's cost per message: a snapshot of a tree holds every
 * descendant, and the CPU of a grandchild that exited stays in the tree's total (through its
 * parent's cutime + cstime), so a process that forks short-lived children is not undercounted.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { byLabel, snapshot } from "./proc.js";

const burn = "const t=process.cpuUsage();while((process.cpuUsage(t).user+process.cpuUsage(t).system)<200000){}console.log('burnt');setTimeout(()=>{},1500)";

describe("process tree CPU", () => {
  it("counts every descendant, and a child's CPU after it exited", async () => {
    const sh = spawn("sh", ["-c", `${process.execPath} -e "${burn}"; exec sleep 30`], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve) => sh.stdout.on("data", (d: Buffer) => d.toString().includes("burnt") && resolve()));
      const a = snapshot([sh.pid!]);
      const node = [...a.procs.values()].find((p) => p.pid !== sh.pid && p.cmd.startsWith(process.execPath));
      expect(node).toBeDefined();
      expect(node!.ms).toBeGreaterThanOrEqual(150);
      for (let i = 0; i < 100 && snapshot([sh.pid!]).procs.has(node!.pid); i++) await new Promise((r) => setTimeout(r, 100));
      const b = snapshot([sh.pid!]);
      expect(b.procs.has(node!.pid)).toBe(false);
      expect(b.totalMs).toBeGreaterThanOrEqual(a.totalMs);
      const delta = [...byLabel(a, b, (p) => (p.pid === node!.pid ? "child" : "sh")).values()].reduce((s, x) => s + x, 0);
      expect(delta).toBe(b.totalMs - a.totalMs);
    } finally {
      sh.kill("SIGKILL");
    }
  });
});
