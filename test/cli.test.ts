/**
 * The `tierstack` CLI as a user runs it: child processes through tsx (and the bin launcher).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { repoRoot } from "../cli/plan.js";

function tierstack(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe("tierstack plan (child process)", () => {
  it("prints valid JSON for single-box with secrets as [secret], warnings on stderr", () => {
    const res = tierstack(["plan", "single-box", "--json"]);
    expect(res.code, res.stderr).toBe(0);
    const plan = JSON.parse(res.stdout) as { tier: string; resources: { type: string; inputs: Record<string, unknown> }[]; outputs: Record<string, unknown> };
    expect(plan.tier).toBe("single-box");
    const types = new Set(plan.resources.map((r) => r.type));
    for (const t of [
      "gcp:compute/instance:Instance",
      "gcp:compute/routerNat:RouterNat",
      "gcp:compute/disk:Disk",
      "gcp:compute/resourcePolicy:ResourcePolicy",
      "gcp:compute/firewall:Firewall",
      "gcp:serviceaccount/account:Account",
      "gcp:secretmanager/secret:Secret",
      "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
      "cloudflare:index/dnsRecord:DnsRecord",
      "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
    ]) {
      expect(types.has(t), t).toBe(true);
    }
    const versions = plan.resources.filter((r) => r.type === "gcp:secretmanager/secretVersion:SecretVersion");
    expect(versions.length).toBeGreaterThan(0);
    for (const v of versions) expect(v.inputs.secretData).toBe("[secret]");
    expect(res.stdout).not.toContain("plan-placeholder-secret");
    expect(res.stdout).not.toContain("generated-at-apply");
    expect(res.stderr).toMatch(/warning: tierstack:natsImage = nats:[^ ]+ is pinned by tag only/);
  });

  it("exits non-zero with one clear line for a wrong tier", () => {
    const dir = mkdtempSync(join(tmpdir(), "tierstack-stacks-"));
    const reference = readFileSync(join(repoRoot, "stacks", "Pulumi.single-box.yaml"), "utf8");
    writeFileSync(join(dir, "Pulumi.wrong.yaml"), reference.replace("tierstack:tier: single-box", "tierstack:tier: tier-9000"));
    const res = tierstack(["plan", "wrong"], { TIERSTACK_STACKS_DIR: dir });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    const lines = res.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("npm warn"));
    expect(lines).toEqual([`plan wrong: ${join(dir, "Pulumi.wrong.yaml")}: tierstack:tier = "tier-9000" is not a known tier; accepted: single-box | tier-50 | tier-100`]);
  });

  it("answers through the bin launcher with the command's one line and exit code", () => {
    const unknown = spawnSync(process.execPath, [join(repoRoot, "cli", "bin.cjs"), "plan", "tier-9000"], { encoding: "utf8" });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr.trim()).toMatch(/^plan tier-9000: unknown stack "tier-9000": no stacks\/Pulumi\.tier-9000\.yaml \(known: .*single-box.*\)$/);
  });
});

describe("tierstack dispatcher (in process)", () => {
  function capture() {
    const io = { stdout: "", stderr: "", out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
    return io;
  }

  it("prints a table by default", async () => {
    const io = capture();
    expect(await main(["plan", "single-box"], io)).toBe(0);
    expect(io.stdout).toMatch(/^TYPE\s+NAME\s+INPUTS THAT MATTER$/m);
    expect(io.stdout).toMatch(/^gcp:compute:Instance\s+single-box-platform-vm\s+machineType=e2-standard-4 .*externalIp=none/m);
    expect(io.stdout).toMatch(/^gcp:compute:Firewall\s+\S+\s+direction=INGRESS .*sourceRanges=35\.235\.240\.0\/20/m);
    expect(io.stderr).toMatch(/^warning: /m);
  });

  it("rejects unknown stacks with one line", async () => {
    const io = capture();
    expect(await main(["plan", "nope"], io)).toBe(1);
    expect(io.stderr.trim()).toMatch(/^plan nope: unknown stack "nope": no stacks\/Pulumi\.nope\.yaml \(known: .*single-box.*\)$/);
  });

  it("rejects a missing stack argument, unknown options and unknown commands", async () => {
    const io = capture();
    expect(await main(["plan"], io)).toBe(2);
    expect(await main(["plan", "single-box", "--yaml"], io)).toBe(2);
    expect(await main(["frobnicate"], io)).toBe(2);
    expect(io.stderr).toContain("expected one stack name");
    expect(io.stderr).toContain("unknown option --yaml");
    expect(io.stderr).toContain('unknown command "frobnicate"');
    expect(io.stdout).toBe("");
  });
});
