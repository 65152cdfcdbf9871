import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { services } from "../catalog/services.js";

const root = resolve(__dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "tierstack-local-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// `npm run local` end to end: every catalogue service comes up from its entry point, the printed
// token works against the task queue and the gateway, and Ctrl-C stops everything cleanly.
describe("tierstack local", () => {
  it("starts the single-box services, serves the API with the printed token, stops on SIGINT", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "cli/main.ts", "local", "--data", dir, "--ready-timeout", "90"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      const token = await new Promise<string>((res, rej) => {
        const t = setInterval(() => {
          const m = /agent token \(local-agent\): (tsa_\S+)/.exec(out);
          if (m) {
            clearInterval(t);
            res(m[1] as string);
          } else if (child.exitCode !== null) {
            clearInterval(t);
            rej(new Error(`local exited ${child.exitCode}: ${err}`));
          }
        }, 100);
      });
      for (const s of Object.values(services)) {
        expect((await fetch(`http://127.0.0.1:${s.port}${s.readyPath}`)).status, s.name).toBe(200);
      }
      const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const tq = `http://127.0.0.1:${services["task-queue"].port}`;
      const enq = await fetch(`${tq}/v1/tasks`, { method: "POST", headers: auth, body: JSON.stringify({ queue: "local-test", payload: { n: 1 } }) });
      expect(enq.status).toBeLessThan(300);
      const unauth = await fetch(`${tq}/v1/tasks`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(unauth.status).toBe(401);

      const init = await fetch(`http://127.0.0.1:${services["mcp-gateway"].port}/mcp/dev-tools`, {
        method: "POST",
        headers: { ...auth, accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "local-test", version: "1" } } }),
      });
      expect(init.status).toBe(200);
      expect(init.headers.get("mcp-session-id")).toBeTruthy();
      expect(await init.text()).toContain('"protocolVersion"');
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
    expect(out).toContain("stopped");
    // CI installs runsc and runs as root: dedicated-plan learners get gVisor sandboxes locally.
    if (process.env.CI === "true") expect(out).toMatch(/ sandboxes +gVisor \(runsc\), one per dedicated-plan learner/);
  }, 180_000);
});
