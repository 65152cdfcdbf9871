/**
 * The GitHub workflows (.github/workflows, docs/adr/0038-previews-and-deploy-workflows.md): each
 * file passes the workflow linter (@action-validator/cli, which also fails a broken file), and our
 * own rules hold: every action pinned to a full commit SHA with its version, top-level
 * `permissions: {}` and permissions on every job, no `${{ }}` inside a script, the fork-safe
 * split (preview.yml read-only in debian:bookworm; comment.yml checks out nothing), Pulumi's
 * preview per stack from this repository only, and the stack selection of up.yml and images.yml
 * (.github/scripts/stacks.mjs) run on fixture stack files: a stack mid-migration is never deployed.
 * Over 300 lines on purpose: the five workflows' rules read the same parsed files and share the
 * linter and fixture helpers; split by workflow, each part would repeat them.
 */
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { services } from "../catalog/services.js";

const run = promisify(execFile);
const root = join(__dirname, "..");
const wfDir = join(root, ".github", "workflows");
const files = readdirSync(wfDir).filter((f) => f.endsWith(".yml")).sort();
const validator = join(root, "node_modules", ".bin", "action-validator");

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  if?: string;
  id?: string;
}
interface Job {
  permissions?: Record<string, string>;
  container?: unknown;
  if?: string;
  environment?: unknown;
  needs?: string | string[];
  strategy?: { matrix?: Record<string, unknown> };
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: unknown;
  concurrency?: { group: string; "cancel-in-progress": boolean };
  jobs: Record<string, Job>;
}

const text = (f: string) => readFileSync(join(wfDir, f), "utf8");
const wf = (f: string) => parse(text(f)) as Workflow;
const steps = (f: string) => Object.values(wf(f).jobs).flatMap((j) => j.steps ?? []);
const uses = (f: string, action: string) => steps(f).filter((s) => s.uses?.startsWith(`${action}@`));

async function validate(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(validator, [file], { cwd: root });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : -1, output: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

const scratch = mkdtempSync(join(tmpdir(), "tierstack-workflows-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the workflow linter", () => {
  it("the five workflows are there", () => {
    expect(files).toEqual(["comment.yml", "images.yml", "preview.yml", "pulumi-preview.yml", "up.yml"]);
  });

  it.each(files)("%s passes action-validator", async (f) => {
    const r = await validate(join(wfDir, f));
    expect(r.output.replace(/WARNING: Glob validation is not yet supported\.[^\n]*\n?/g, "")).toBe("");
    expect(r.code).toBe(0);
  });

  it("fails a broken workflow (a misspelled key, a job needing one that does not exist)", async () => {
    const broken = join(scratch, "broken.yml");
    writeFileSync(broken, text("up.yml").replace("    steps:\n", "    stepz:\n"));
    const a = await validate(broken);
    expect(a.code).not.toBe(0);
    expect(a.output).toContain("Additional property 'stepz' is not allowed");
    writeFileSync(broken, text("up.yml").replace("needs: select", "needs: selekt"));
    const b = await validate(broken);
    expect(b.code).not.toBe(0);
    expect(b.output).toContain("unresolved job selekt");
  });
});

describe("our rules for every workflow", () => {
  const pinned = /^\s*(?:-\s+)?uses:\s+([\w.-]+\/[\w.-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$/;

  it.each(files)("%s: every uses: is owner/repo@<40 hex> # vX.Y.Z, one SHA per action across the files", (f) => {
    const lines = text(f).split("\n").filter((l) => /^\s*(?:-\s+)?uses:/.test(l));
    expect(lines.length).toBe(steps(f).filter((s) => s.uses !== undefined).length);
    for (const l of lines) expect(l, l).toMatch(pinned);
    const shas = new Map<string, string>();
    for (const g of files) {
      for (const l of text(g).split("\n")) {
        const m = pinned.exec(l);
        if (!m) continue;
        const [, action, sha] = m as unknown as [string, string, string];
        expect(shas.get(action) ?? sha, `${g}: ${action}`).toBe(sha);
        shas.set(action, sha);
      }
    }
    expect(shas.get("actions/checkout")).toBe("11bd71901bbe5b1630ceea73d27597364c9af683");
  });

  it.each(files)("%s: permissions: {} at the top, and on every job", (f) => {
    const w = wf(f);
    expect(w.permissions).toEqual({});
    for (const [name, job] of Object.entries(w.jobs)) expect(job.permissions, `${f} job ${name}`).toBeTypeOf("object");
  });

  it.each(files)("%s: no ${{ }} expression inside a script (values reach scripts through env)", (f) => {
    for (const s of steps(f)) expect(s.run ?? "", s.run).not.toContain("${{");
  });

  it("no workflow authenticates to GCP with a key", () => {
    for (const f of files) {
      expect(text(f)).not.toMatch(/credentials_json|GOOGLE_APPLICATION_CREDENTIALS|service_account_key/);
      for (const s of uses(f, "google-github-actions/auth")) expect(Object.keys(s.with ?? {}).filter((k) => k !== "token_format").sort()).toEqual(["service_account", "workload_identity_provider"]);
    }
  });
});

describe("the pull-request workflows", () => {
  it("preview.yml: every pull request, read-only, .ci/run and the diff of every stack in debian:bookworm, markdown and PR number uploaded", () => {
    const w = wf("preview.yml");
    expect(Object.keys(w.on)).toEqual(["pull_request"]);
    const [job, ...others] = Object.values(w.jobs);
    expect(others).toEqual([]);
    expect(job?.container).toEqual({ image: "debian:bookworm", options: "--privileged" });
    expect(job?.permissions).toEqual({ contents: "read" });
    const scripts = steps("preview.yml").map((s) => s.run ?? "").join("\n");
    expect(scripts).toContain("bash .ci/run");
    expect(scripts).toContain('npx tierstack diff --base "$BASE_SHA" --format markdown > out/diff.md');
    expect(scripts).not.toContain("--stack");
    expect(text("preview.yml")).toContain("BASE_SHA: ${{ github.event.pull_request.base.sha }}");
    const upload = uses("preview.yml", "actions/upload-artifact")[0];
    expect(upload?.with?.name).toBe("tierstack-diff");
    expect(String(upload?.with?.path).trim().split("\n")).toEqual(["out/diff.md", "out/pr-number"]);
  });

  it("preview.yml's diff step: a diff that fails still uploads a comment, its one error line in it", async () => {
    const script = steps("preview.yml").find((s) => s.run?.includes("tierstack diff"))?.run ?? "";
    const dir = mkdtempSync(join(scratch, "preview-"));
    mkdirSync(join(dir, "bin"));
    // `npx tierstack diff` as it fails on a base ref the clone lacks: a note, then the error line.
    writeFileSync(join(dir, "bin", "npx"), '#!/usr/bin/env bash\necho "diff: package-lock.json unchanged since x" >&2\necho \'diff: base ref "abc" does not exist in /repo\' >&2\nexit 1\n', { mode: 0o755 });
    const env = { PATH: `${join(dir, "bin")}:${process.env.PATH ?? ""}`, BASE_SHA: "abc", PR_NUMBER: "12" };
    await run("bash", ["-e", "-c", script], { cwd: dir, env });
    expect(readFileSync(join(dir, "out", "pr-number"), "utf8")).toBe("12\n");
    expect(readFileSync(join(dir, "out", "diff.md"), "utf8")).toBe('## tierstack diff against `abc`\n\nThe diff did not run: diff: base ref "abc" does not exist in /repo\n');
  });

  it("comment.yml: workflow_run on preview, pull-requests: write, no checkout, the PR number validated as digits, one comment found by its marker", () => {
    const w = wf("comment.yml");
    expect(w.on).toEqual({ workflow_run: { workflows: ["preview"], types: ["completed"] } });
    const [job] = Object.values(w.jobs);
    expect(job?.permissions).toEqual({ actions: "read", "pull-requests": "write" });
    expect(steps("comment.yml").filter((s) => s.uses !== undefined).map((s) => s.uses?.split("@")[0])).toEqual(["actions/download-artifact"]);
    expect(text("comment.yml")).not.toMatch(/checkout|head_branch|npm |npx |node /);
    const script = steps("comment.yml").map((s) => s.run ?? "").join("\n");
    expect(script).toContain('[[ "$pr" =~ ^[0-9]{1,10}$ ]]');
    expect(script).toContain("marker='<!-- tierstack-diff -->'");
    expect(script).toContain('-X PATCH "repos/$REPO/issues/comments/$id" -F body=@body.md');
  });

  // GitHub's API is not reachable from a test: a `gh` on PATH answers the two reads with what the
  // API (after the script's --jq filter) would give, and records the writes with the body sent.
  async function commentScript(pr: string, answers: { head: string; commentId: string }) {
    const script = steps("comment.yml").map((s) => s.run ?? "").join("\n");
    const dir = mkdtempSync(join(scratch, "comment-"));
    mkdirSync(join(dir, "artifact"));
    mkdirSync(join(dir, "bin"));
    writeFileSync(join(dir, "artifact", "pr-number"), pr);
    writeFileSync(join(dir, "artifact", "diff.md"), "## tierstack diff against `abc`\n\n| stack |\n");
    writeFileSync(
      join(dir, "bin", "gh"),
      [
        "#!/usr/bin/env bash",
        'case "$*" in',
        '  "api repos/o/r/pulls/"*" --jq .head.sha") echo "$FAKE_HEAD" ;;',
        '  "api --paginate repos/o/r/issues/"*"/comments --jq "*) echo "$FAKE_ID" ;;',
        '  "api -X "*) { echo "$*"; cat body.md; } >> writes.log; echo "{}" ;;',
        '  *) echo "unexpected gh $*" >&2; exit 9 ;;',
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    const env = { PATH: `${join(dir, "bin")}:${process.env.PATH ?? ""}`, REPO: "o/r", HEAD_SHA: "c".repeat(40), GH_TOKEN: "t", FAKE_HEAD: answers.head, FAKE_ID: answers.commentId };
    const r = await run("bash", ["-c", script], { cwd: dir, env }).then(
      (x) => ({ code: 0, out: x.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    const writes = (() => {
      try {
        return readFileSync(join(dir, "writes.log"), "utf8");
      } catch {
        return "";
      }
    })();
    return { ...r, writes };
  }

  it("comment.yml's script: a PR number that is not digits is refused before any call to GitHub", async () => {
    expect(await commentScript("1; rm -rf /\n", { head: "c".repeat(40), commentId: "" })).toEqual({ code: 1, out: "::error::artifact pr-number is not a number\n", writes: "" });
  });

  it("comment.yml's script: edits the marked comment when there is one, posts one otherwise, and skips a PR that moved on", async () => {
    const body = "<!-- tierstack-diff -->\n## tierstack diff against `abc`\n\n| stack |\n";
    expect(await commentScript("7\n", { head: "c".repeat(40), commentId: "42" })).toEqual({ code: 0, out: "edited comment 42 on pull request 7\n", writes: `api -X PATCH repos/o/r/issues/comments/42 -F body=@body.md\n${body}` });
    expect(await commentScript("7\n", { head: "c".repeat(40), commentId: "" })).toEqual({ code: 0, out: "commented on pull request 7\n", writes: `api -X POST repos/o/r/issues/7/comments -F body=@body.md\n${body}` });
    const moved = await commentScript("7\n", { head: "d".repeat(40), commentId: "42" });
    expect(moved).toEqual({ code: 0, out: `pull request 7 is at ${"d".repeat(40)}, not at ${"c".repeat(40)} (a newer push): its own run will comment\n`, writes: "" });
  });

  it("pulumi-preview.yml: this repository's pull requests only, a matrix entry per stack, pulumi/actions preview with the policy pack and a PR comment, WIF, a concurrency group per PR", () => {
    const w = wf("pulumi-preview.yml");
    expect(Object.keys(w.on)).toEqual(["pull_request"]);
    expect(w.concurrency).toEqual({ group: "pulumi-preview-${{ github.event.pull_request.number }}", "cancel-in-progress": true });
    const job = w.jobs.preview as Job;
    expect(job.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
    expect(job.permissions).toEqual({ contents: "read", "id-token": "write", "pull-requests": "write" });
    const stacks = readdirSync(join(root, "stacks")).map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter(Boolean).sort();
    expect(job.strategy?.matrix?.stack).toEqual(stacks);
    const pulumi = uses("pulumi-preview.yml", "pulumi/actions");
    expect(pulumi).toHaveLength(1);
    expect(text("pulumi-preview.yml")).toMatch(/uses: pulumi\/actions@[0-9a-f]{40} # v7\.\d+\.\d+\n/);
    expect(pulumi[0]?.with).toMatchObject({ command: "preview", "stack-name": "${{ matrix.stack }}", policyPacks: "policy", "comment-on-pr": true });
    expect(uses("pulumi-preview.yml", "google-github-actions/auth")).toHaveLength(1);
  });
});

/** A checkout with only what stacks.mjs reads: stack files and .github/live-stacks. */
function fixtureRoot(name: string, stacks: Record<string, string>, live: string[]): string {
  const dir = join(scratch, name);
  mkdirSync(join(dir, "stacks"), { recursive: true });
  mkdirSync(join(dir, ".github"), { recursive: true });
  for (const [stack, extra] of Object.entries(stacks)) {
    writeFileSync(join(dir, "stacks", `Pulumi.${stack}.yaml`), `# ${stack}\nconfig:\n  gcp:project: tierstack-example\n  tierstack:tier: ${stack.replace(/-b$/, "")}\n${extra}  tierstack:accessEmails:\n    - ops@example.com\n`);
  }
  writeFileSync(join(dir, ".github", "live-stacks"), `# live\n${live.join("\n")}\n`);
  return dir;
}

const stacksScript = join(root, ".github", "scripts", "stacks.mjs");
async function stacksCmd(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return run(process.execPath, [stacksScript, ...args]).then(
    (x) => ({ code: 0, out: x.stdout, err: x.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}

describe("the main-branch workflows", () => {
  it("up.yml: pulumi up per selected stack, in the environment of its tier, after the migration guard; the selection from stacks.mjs deploy", () => {
    const w = wf("up.yml");
    expect(w.on).toEqual({ push: { branches: ["main"] } });
    expect(w.concurrency).toEqual({ group: "pulumi-up", "cancel-in-progress": false });
    const up = w.jobs.up as Job;
    expect(up.needs).toBe("select");
    expect(up.environment).toBe("${{ matrix.tier }}");
    expect(up.strategy?.matrix).toEqual({ include: "${{ fromJSON(needs.select.outputs.stacks) }}" });
    const s = up.steps ?? [];
    const guard = s.findIndex((x) => x.run === 'node .github/scripts/stacks.mjs check "$STACK"');
    const pulumi = s.findIndex((x) => x.uses?.startsWith("pulumi/actions@"));
    expect(guard).toBeGreaterThanOrEqual(0);
    expect(pulumi).toBeGreaterThan(guard);
    expect(s[pulumi]?.with).toMatchObject({ command: "up", "stack-name": "${{ matrix.stack }}", policyPacks: "policy" });
    expect(steps("up.yml").map((x) => x.run ?? "").join("\n")).toContain("node .github/scripts/stacks.mjs deploy");
  });

  it("stacks.mjs deploy: only live stacks, never one mid-migration (each skip said in one line); check refuses it", async () => {
    const dir = fixtureRoot(
      "deploy",
      {
        "tier-50": '  tierstack:migrationTarget: tier-100\n  tierstack:migrationStage: "copy" # stage 2\n',
        "tier-100": '  tierstack:migrationStage: ""\n',
        "single-box": "",
      },
      ["tier-50", "tier-100"],
    );
    const r = await stacksCmd(["deploy", "--root", dir]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual([{ stack: "tier-100", tier: "tier-100" }]);
    expect(r.err.split("\n")).toEqual([
      "tier-50: skipped, mid-migration (tierstack:migrationStage=copy); pulumi up runs again once tierstack migrate finishes or rolls back",
      "single-box: not live (not in .github/live-stacks), no pulumi up",
      "",
    ]);
    expect(await stacksCmd(["check", "tier-50", "--root", dir])).toEqual({ code: 1, out: "", err: "tier-50 is mid-migration (tierstack:migrationStage=copy): refusing pulumi up\n" });
    expect(await stacksCmd(["check", "tier-100", "--root", dir])).toEqual({ code: 0, out: "", err: "" });
    const bad = fixtureRoot("deploy-unknown", { "tier-50": "" }, ["tier-5O"]);
    expect(await stacksCmd(["deploy", "--root", bad])).toEqual({ code: 1, out: "", err: "stacks.mjs: .github/live-stacks names tier-5O, which has no stacks/Pulumi.tier-5O.yaml\n" });
  });

  it("stacks.mjs reads this repository: no stack is live yet; the images go to tier-50's and tier-100's registries, one per service of catalog/services.ts", async () => {
    const deploy = await stacksCmd(["deploy", "--root", root]);
    expect(deploy.out).toBe("[]\n");
    const images = JSON.parse((await stacksCmd(["images", "--root", root])).out) as { stack: string; service: string; imageKey: string; image: string }[];
    const expected = ["tier-100", "tier-50"].flatMap((stack) =>
      Object.values(services).map((svc) => ({ stack, service: svc.name, imageKey: svc.imageKey, image: `us-central1-docker.pkg.dev/tierstack-example/tierstack-${stack}/${svc.name}` })),
    );
    expect(images.sort((a, b) => `${a.stack}/${a.service}`.localeCompare(`${b.stack}/${b.service}`))).toEqual(expected.sort((a, b) => `${a.stack}/${a.service}`.localeCompare(`${b.stack}/${b.service}`)));
    // the tiers with a registry are the programs that declare one
    for (const [file, has] of [["tier-50.ts", true], ["tier-100.ts", true], ["single-box.ts", false]] as const) {
      expect(readFileSync(join(root, "stacks", file), "utf8").includes("new ImageRegistry("), file).toBe(has);
    }
  });

  it("images.yml: build per stack and service, push with a WIF token, record the digests through a pull request", () => {
    const w = wf("images.yml");
    expect(Object.keys(w.jobs)).toEqual(["targets", "build", "record"]);
    expect(w.jobs.build?.permissions).toEqual({ contents: "read", "id-token": "write" });
    expect(w.jobs.record?.permissions).toEqual({ contents: "write", "pull-requests": "write" });
    const scripts = steps("images.yml").map((s) => s.run ?? "").join("\n");
    expect(scripts).toContain('docker build -f services/Dockerfile --build-arg "SERVICE=$SERVICE"');
    expect(scripts).toContain("node .github/scripts/record-digests.mjs digests");
    expect(scripts).toContain("gh pr create --base main");
  });

  it("record-digests.mjs writes each reference into its stack file, comments kept, and refuses one that is not registry/service:sha@digest", async () => {
    const dir = join(scratch, "digests-repo");
    mkdirSync(join(dir, "stacks"), { recursive: true });
    copyFileSync(join(root, "stacks", "Pulumi.tier-50.yaml"), join(dir, "stacks", "Pulumi.tier-50.yaml"));
    const digests = join(scratch, "digests");
    mkdirSync(digests, { recursive: true });
    const ref = `us-central1-docker.pkg.dev/tierstack-example/tierstack-tier-50/brain:${"a".repeat(40)}@sha256:${"b".repeat(64)}`;
    writeFileSync(join(digests, "tier-50.brain"), `${ref}\n`);
    const script = join(root, ".github", "scripts", "record-digests.mjs");
    const out = execFileSync(process.execPath, [script, digests, "--root", dir], { encoding: "utf8" });
    expect(out).toBe(`tier-50 tierstack:brainImage=${ref}\n`);
    const after = readFileSync(join(dir, "stacks", "Pulumi.tier-50.yaml"), "utf8");
    expect((parse(after) as { config: Record<string, unknown> }).config["tierstack:brainImage"]).toBe(ref);
    expect(after.startsWith(readFileSync(join(root, "stacks", "Pulumi.tier-50.yaml"), "utf8").split("\nconfig:")[0] as string)).toBe(true);
    writeFileSync(join(digests, "tier-50.brain"), `${ref.replace("brain:", "task-queue:")}\n`);
    const r = await run(process.execPath, [script, digests, "--root", dir]).then(
      () => ({ code: 0, err: "" }),
      (e: { code: number; stderr: string }) => ({ code: e.code, err: e.stderr }),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^record-digests\.mjs: tier-50\.brain: ".+" is not <region>-docker\.pkg\.dev\/<project>\/<repository>\/brain:<git sha>@sha256:<digest>\n$/);
  });
});
