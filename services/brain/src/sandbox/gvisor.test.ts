/**
 * Isolation of the gvisor runtime, shown rather than assumed: a probe run inside learner A's
 * sandbox (runsc exec) tries to read learner B's directory and a sentinel file on the host,
 * and to connect to a loopback port this test listens on; each attempt fails. The same probe
 * run on the host with the same arguments succeeds at each, so the test can fail.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { learnerDir } from "./gvisor.js";
import { gvisorHarness, recordingLlm, requireRunsc } from "./testing.js";

type Probe = { read: Record<string, string>; connect: string };

describe("gvisor runtime isolation", () => {
  let ok = false;
  let h: ReturnType<typeof gvisorHarness>;
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    ok = requireRunsc();
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
    if (ok) h = gvisorHarness();
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((r) => server.close(r));
  });

  it("learner A's sandbox reads neither learner B's directory nor a host file, nor reaches a host loopback port; the host can", async (ctx) => {
    if (!ok) ctx.skip();
    const { runtime } = h;
    await runtime.claim("learner-a");
    await runtime.claim("learner-b");
    await runtime.ask("learner-b", { model: "m", messages: [{ role: "user", content: "B's secret question" }] }, recordingLlm());
    const bDir = runtime.dirOf("learner-b");
    const sentinelDir = join(h.dir, "host");
    mkdirSync(sentinelDir);
    const sentinel = join(sentinelDir, "sentinel.txt");
    writeFileSync(sentinel, "host secret");
    const args = ["--connect", `127.0.0.1:${port}`, bDir, join(bDir, "journal.jsonl"), sentinel, "/learner/../"];

    const outside = spawnSync(process.execPath, [join(learnerDir, "probe.mjs"), ...args], { encoding: "utf8" });
    const host = JSON.parse(outside.stdout) as Probe;
    expect(host.connect).toBe("ok");
    expect(host.read[bDir]).toBe("ok: journal.jsonl");
    expect(host.read[join(bDir, "journal.jsonl")]).toContain("B's secret question");
    expect(host.read[sentinel]).toBe("ok: host secret");

    const inside = runtime.exec("learner-a", [process.execPath, "/runtime/probe.mjs", ...args]);
    expect(inside.status).toBe(0);
    const sandboxed = JSON.parse(inside.stdout) as Probe;
    expect(sandboxed.connect).toMatch(/^fail: /);
    expect(sandboxed.read[bDir]).toMatch(/^fail: /);
    expect(sandboxed.read[join(bDir, "journal.jsonl")]).toMatch(/^fail: /);
    expect(sandboxed.read[sentinel]).toMatch(/^fail: /);
    // Its root holds mount points only (gVisor adds /sys): no host /etc, /work, /root, nothing of another learner.
    expect(sandboxed.read["/learner/../"]).toBe("ok: bin,dev,etc,learner,lib,lib64,proc,runtime,sbin,sys,tmp,usr");
  });

  it("the runtime is read-only inside the sandbox; only the learner's directory is writable", async (ctx) => {
    if (!ok) ctx.skip();
    const script = "const fs=require('fs');const r={};for(const p of ['/runtime/x','/usr/x','/x','/learner/x']){try{fs.writeFileSync(p,'1');r[p]='ok'}catch(e){r[p]=e.code}}console.log(JSON.stringify(r))";
    const inside = h.runtime.exec("learner-a", [process.execPath, "-e", script]);
    expect(JSON.parse(inside.stdout)).toEqual({ "/runtime/x": "EROFS", "/usr/x": "EROFS", "/x": "EROFS", "/learner/x": "ok" });
  });
});
