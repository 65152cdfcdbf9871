/**
 * `tierstack diff --base <git ref> [--stack X] [--format markdown|json]`: renders every stack's
 * program at the base ref (a temporary `git worktree add --detach`) and at the working tree,
 * each with `tierstack plan <stack> --json` run as a child process in that tree under Pulumi's
 * mocks, and prints their diff (cli/diff-engine.ts).
 *
 * The base tree's dependencies: when package-lock.json is the same at the base and in the
 * working tree, the worktree gets a node_modules of symlinks to this tree's packages (workspace
 * packages pointing at the worktree's own copies); otherwise `npm ci --offline --prefer-offline`
 * runs in the worktree (no network: the npm cache must hold the base's packages).
 */
import { execFile } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { parseDocument } from "yaml";
import { parseCommandArgs, UsageError } from "./args.js";
import { diffPlans, renderJson, renderMarkdown, type PlanJson, type StackDiff } from "./diff-engine.js";

const run = promisify(execFile);
const usage = "tierstack diff --base <git ref> [--stack X] [--format markdown|json]";

export class DiffError extends Error {
  override name = "DiffError";
}

export interface DiffOptions {
  /** The repository's working tree (default: this checkout). */
  repo?: string;
  /** Progress lines (which dependency strategy was used, skipped stacks). */
  note?: (line: string) => void;
}

async function git(repo: string, args: string[]): Promise<string> {
  const { stdout } = await run("git", args, { cwd: repo, maxBuffer: 64 << 20 });
  return stdout;
}

/** The commit a ref names; DiffError when it names none. */
export async function resolveBase(repo: string, ref: string): Promise<string> {
  try {
    return (await git(repo, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`])).trim();
  } catch {
    throw new DiffError(`base ref "${ref}" does not exist in ${repo}`);
  }
}

/** Secret config keys whose `secure:` ciphertext differs between two stack files' text. */
export function changedSecrets(baseText: string | undefined, headText: string | undefined): string[] {
  const secure = (text: string | undefined): Map<string, string> => {
    const out = new Map<string, string>();
    if (text === undefined) return out;
    const js = parseDocument(text).toJS() as { config?: Record<string, unknown> } | null;
    for (const [k, v] of Object.entries(js?.config ?? {})) {
      if (v !== null && typeof v === "object" && typeof (v as { secure?: unknown }).secure === "string") out.set(k, (v as { secure: string }).secure);
    }
    return out;
  };
  const a = secure(baseText);
  const b = secure(headText);
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
}

/** node_modules for the worktree: symlinks to `repo`'s packages; workspace links re-pointed into the worktree. */
export function linkNodeModules(repo: string, tree: string): void {
  const src = join(repo, "node_modules");
  const dst = join(tree, "node_modules");
  mkdirSync(dst, { recursive: true });
  const linkEntry = (from: string, to: string) => {
    const st = lstatSync(from);
    if (st.isSymbolicLink()) {
      const target = resolve(dirname(from), readlinkSync(from));
      const rel = relative(repo, target);
      const inRepo = !rel.startsWith("..") && !isAbsolute(rel) && !rel.startsWith("node_modules");
      symlinkSync(inRepo ? join(tree, rel) : target, to);
    } else {
      symlinkSync(from, to);
    }
  };
  for (const name of readdirSync(src)) {
    const from = join(src, name);
    if (name.startsWith("@") && lstatSync(from).isDirectory()) {
      mkdirSync(join(dst, name), { recursive: true });
      for (const sub of readdirSync(from)) linkEntry(join(from, sub), join(dst, name, sub));
    } else {
      linkEntry(from, join(dst, name));
    }
  }
}

function stacksIn(tree: string): string[] {
  const dir = join(tree, "stacks");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

type Rendered = { ok: true; plan: PlanJson } | { ok: false; error: string };

async function renderPlan(tree: string, stack: string): Promise<Rendered> {
  const env = { ...process.env };
  delete env.TIERSTACK_STACKS_DIR;
  try {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "cli/main.ts", "plan", stack, "--json"], { cwd: tree, env, maxBuffer: 256 << 20 });
    return { ok: true, plan: JSON.parse(stdout) as PlanJson };
  } catch (err) {
    // plan exits 1 on a mandatory policy violation but still prints the whole plan: that renders.
    const stdout = String((err as { stdout?: unknown }).stdout ?? "");
    if (stdout.trimStart().startsWith("{")) {
      try {
        const plan = JSON.parse(stdout) as PlanJson;
        if (Array.isArray(plan.resources)) return { ok: true, plan };
      } catch {
        // not a plan: fall through to the error line
      }
    }
    const stderr = String((err as { stderr?: unknown }).stderr ?? "");
    const line = stderr.split("\n").find((l) => l.trim() !== "" && !l.startsWith("warning:")) ?? (err as Error).message.split("\n")[0] ?? "failed";
    return { ok: false, error: line.trim() };
  }
}

/** Renders both sides and diffs them. `stacks` empty: every stack of the working tree. */
export async function diffAgainst(baseRef: string, stacks: string[], opts: DiffOptions = {}): Promise<StackDiff[]> {
  const repo = (await git(opts.repo ?? resolve(__dirname, ".."), ["rev-parse", "--show-toplevel"])).trim();
  const note = opts.note ?? (() => undefined);
  const sha = await resolveBase(repo, baseRef);
  const tree = mkdtempSync(join(tmpdir(), "tierstack-diff-"));
  await git(repo, ["worktree", "add", "--detach", "--quiet", tree, sha]);
  try {
    const headLock = existsSync(join(repo, "package-lock.json")) ? readFileSync(join(repo, "package-lock.json"), "utf8") : "";
    const baseLock = existsSync(join(tree, "package-lock.json")) ? readFileSync(join(tree, "package-lock.json"), "utf8") : "";
    if (headLock === baseLock) {
      linkNodeModules(repo, tree);
      note(`diff: package-lock.json unchanged since ${baseRef}: the base reuses this tree's node_modules (symlinked)`);
    } else {
      note(`diff: package-lock.json differs at ${baseRef}: npm ci --offline --prefer-offline in the base worktree`);
      try {
        await run("npm", ["ci", "--offline", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: tree, maxBuffer: 64 << 20 });
      } catch (err) {
        throw new DiffError(`npm ci --offline failed in the base worktree (${baseRef}): ${String((err as { stderr?: unknown }).stderr ?? "").split("\n").find((l) => l.includes("ERR")) ?? (err as Error).message.split("\n")[0]}`);
      }
    }
    const explicit = stacks.length > 0;
    const names = explicit ? stacks : stacksIn(repo);
    const results = await Promise.all(
      names.map(async (stack) => {
        const baseFile = join(tree, "stacks", `Pulumi.${stack}.yaml`);
        const headFile = join(repo, "stacks", `Pulumi.${stack}.yaml`);
        const baseExists = existsSync(baseFile);
        const [b, h] = await Promise.all([baseExists ? renderPlan(tree, stack) : Promise.resolve<Rendered>({ ok: true, plan: { stack, tier: "(none)", resources: [] } }), renderPlan(repo, stack)]);
        return { stack, b, h, secrets: changedSecrets(baseExists ? readFileSync(baseFile, "utf8") : undefined, existsSync(headFile) ? readFileSync(headFile, "utf8") : undefined) };
      }),
    );
    const diffs: StackDiff[] = [];
    for (const { stack, b, h, secrets } of results) {
      if (!b.ok && !h.ok && !explicit) {
        note(`diff: ${stack} renders on neither side, skipped (working tree: ${h.error})`);
        continue;
      }
      if (!b.ok) throw new DiffError(`stack ${stack} does not render at ${baseRef}: ${b.error}`);
      if (!h.ok) throw new DiffError(`stack ${stack} does not render in the working tree: ${h.error}`);
      diffs.push(diffPlans(b.plan, h.plan, secrets));
    }
    return diffs;
  } finally {
    await git(repo, ["worktree", "remove", "--force", tree]).catch(() => undefined);
    rmSync(tree, { recursive: true, force: true });
    await git(repo, ["worktree", "prune"]).catch(() => undefined);
  }
}

export async function runDiff(argv: string[], out: (s: string) => void, err: (s: string) => void, opts: DiffOptions = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandArgs("diff", usage, argv, { base: { type: "string" }, stack: { type: "string", multiple: true }, format: { type: "string" } });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`${e.message}\n`);
    return 2;
  }
  const base = parsed.values.base;
  const format = parsed.values.format ?? "markdown";
  if (base === undefined || base === "" || parsed.positionals.length > 0 || (format !== "markdown" && format !== "json")) {
    err(`diff: ${base === undefined || base === "" ? "--base is required" : parsed.positionals.length > 0 ? `unexpected argument ${parsed.positionals[0]}` : `--format must be markdown or json, not ${format}`}; usage: ${usage}\n`);
    return 2;
  }
  try {
    const diffs = await diffAgainst(base, parsed.values.stack ?? [], { note: (l) => err(`${l}\n`), ...opts });
    out(format === "json" ? renderJson(diffs, base) : renderMarkdown(diffs, base));
    return 0;
  } catch (e) {
    if (e instanceof DiffError) {
      err(`diff: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
