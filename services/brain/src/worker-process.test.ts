/** The worker process's node flags (BRAIN_WORKER_SEMI_SPACE_MB); the fork itself runs in test/settle-crash.test.ts. */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { workerExecArgv } from "./worker-process.js";

describe("workerExecArgv", () => {
  it("adds the semi-space after the parent's flags, and leaves V8's default at 0", () => {
    expect(workerExecArgv(["--import", "tsx"], 64, "")).toEqual(["--import", "tsx", "--max-semi-space-size=64"]);
    expect(workerExecArgv(["--import", "tsx"], 0, "")).toEqual(["--import", "tsx"]);
  });
  it("keeps a semi-space the parent was started with, on its command line or in NODE_OPTIONS", () => {
    expect(workerExecArgv(["--max-semi-space-size=8"], 64, "")).toEqual(["--max-semi-space-size=8"]);
    expect(workerExecArgv(["--max-semi-space-size", "8"], 64, "")).toEqual(["--max-semi-space-size", "8"]);
    expect(workerExecArgv(["--import", "tsx"], 64, "--enable-source-maps --max-semi-space-size=32")).toEqual(["--import", "tsx"]);
    expect(workerExecArgv(["--import", "tsx"], 64, "--enable-source-maps")).toEqual(["--import", "tsx", "--max-semi-space-size=64"]);
  });
  it("gives node a flag it starts with", () => {
    const r = spawnSync(process.execPath, [...workerExecArgv([], 64, ""), "-e", "console.log(process.execArgv[0])"], { encoding: "utf8" });
    expect(r.stderr).toBe(""); // node refuses a flag it does not know ("bad option")
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("--max-semi-space-size=64");
  });
});
