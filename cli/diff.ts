/**
 * `tierstack diff --base <git ref> [--stack X] [--format markdown|json]`: renders each stack's
 * program at the base ref (a temporary `git worktree add --detach`) and in the working tree under
 * Pulumi's mocks, and prints their diff (cli/diff-engine.ts).
 *
 * Each side renders in a child process in its own tree (this file run with `__side`, importing
 * that tree's cli/plan.ts). The working tree's child then prices and policy-checks BOTH sides
 * with the working tree's price catalogue, rules and config parser, so the cost delta and the
 * new or fixed violations come from the change to the infrastructure, not to the price data.
 * A base ref that does not exist, or a stack that does not render at one side (no stack file
 * there, a tier not built, a config or YAML error), ends the diff with one line and exit 1.
 *
 * The base tree's dependencies: when package-lock.json is the same at the base and in the
 * working tree, the worktree gets a node_modules of symlinks to this tree's packages (workspace
 * packages pointing at the worktree's own copies); otherwise `npm ci --offline --prefer-offline`
 * runs in the worktree (no network: the npm cache must hold the base's packages).
 *
 * Over 300 lines on purpose: the parent and the side's child are one file because the child is
 * this file run against the other tree (a base ref older than it has no copy of it).
 */
import { execFile, spawn } from "node:child_process";
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
  /** Progress lines (which dependency strategy was used, how the base's config was read). */
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

// ---- the child process of one side ----

/** What a side's child records: the scrubbed resources for the diff, the raw ones for pricing. */
interface SideRecord {
  stack: string;
  tier: string;
  resources: PlanJson["resources"];
  recorded: unknown[];
  config: { tier: { name: string } } & Record<string, unknown>;
}

/** What the working tree's child prints: both sides priced and checked with its own code. */
interface PricedPair {
  base: PlanJson;
  head: PlanJson;
  notes: string[];
}

/** Renders `stack` with `tree`'s own cli/plan.ts (the tree's program, config parser and mocks). */
async function recordSide(tree: string, stack: string): Promise<SideRecord> {
  const plan = (await import(join(tree, "cli", "plan.ts"))) as {
    runPlan(stack: string, opts: { stacksDir: string }): Promise<{ tier: string; resources: PlanJson["resources"]; recorded?: unknown[]; leaks: string[]; config: SideRecord["config"] }>;
  };
  const r = await plan.runPlan(stack, { stacksDir: join(tree, "stacks") });
  if (r.leaks.length > 0) throw new Error(`secret value in plain inputs or outputs at ${r.leaks.join(", ")}`);
  if (!Array.isArray(r.recorded)) throw new Error("this tree's cli/plan.ts records no resources for pricing (older than the cost and policy guards)");
  return { stack, tier: r.tier, resources: r.resources, recorded: r.recorded, config: r.config };
}

/** Prices and policy-checks recorded sides with `head`'s catalogue, rules and config parser. */
async function priceSides(head: string, stack: string, sides: { record: SideRecord; stacksDir: string }[]): Promise<{ plans: PlanJson[]; notes: string[] }> {
  type Ctx = { stack: string; config: unknown };
  const report = (await import(join(head, "policy", "report.ts"))) as { costReport(r: unknown[], c: Ctx): { totalMinUsd: number; totalMaxUsd: number }; policyReport(r: unknown[], c: Ctx): NonNullable<PlanJson["policy"]> };
  const { fromRecorded } = (await import(join(head, "policy", "resource.ts"))) as { fromRecorded(r: unknown): unknown };
  const { loadStackConfig } = (await import(join(head, "cli", "plan.ts"))) as { loadStackConfig(s: string, o: { stacksDir: string }): { config: Record<string, string> } };
  const { parseStackConfig } = (await import(join(head, "config", "config.ts"))) as { parseStackConfig(raw: Record<string, string>, s: string): unknown };
  const { tiers } = (await import(join(head, "catalog", "tiers.ts"))) as { tiers: Record<string, unknown> };
  const notes: string[] = [];
  const plans = sides.map(({ record, stacksDir }) => {
    let config: unknown;
    try {
      config = parseStackConfig(loadStackConfig(stack, { stacksDir }).config, stack);
    } catch (err) {
      // The base's stack file may not satisfy today's schema: its own parse, today's tier catalogue.
      config = { ...record.config, tier: tiers[record.config.tier.name] ?? record.config.tier };
      notes.push(`diff: ${stack}: the working tree cannot read the base's stack file (${(err as Error).message}); the base is priced with its own parsed config`);
    }
    const seen = record.recorded.map(fromRecorded);
    const ctx = { stack, config };
    const cost = report.costReport(seen, ctx);
    const policy = report.policyReport(seen, ctx);
    return { stack, tier: record.tier, resources: record.resources, cost: { totalMinUsd: cost.totalMinUsd, totalMaxUsd: cost.totalMaxUsd }, policy: { violations: policy.violations } };
  });
  return { plans, notes };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** `diff.ts __side base|head <tree> <stack> [<base tree>]`: a SideRecord or a PricedPair, as JSON. */
async function sideMain([role, tree, stack, baseTree]: string[]): Promise<string> {
  if (!tree || !stack || (role !== "base" && role !== "head")) throw new Error("usage: diff.ts __side base|head <tree> <stack> [<base tree>]");
  const own = await recordSide(tree, stack);
  if (role === "base") return JSON.stringify(own);
  if (!baseTree) throw new Error("usage: diff.ts __side head <tree> <stack> <base tree>");
  const base = JSON.parse(await readStdin()) as SideRecord;
  const { plans, notes } = await priceSides(tree, stack, [
    { record: base, stacksDir: join(baseTree, "stacks") },
    { record: own, stacksDir: join(tree, "stacks") },
  ]);
  const [b, h] = plans;
  if (!b || !h) throw new Error("pricing returned fewer than two plans");
  const out: PricedPair = { base: b, head: h, notes };
  return JSON.stringify(out);
}

// ---- the parent ----

interface Child {
  done: Promise<{ ok: true; stdout: string } | { ok: false; error: string }>;
  stdin: NodeJS.WritableStream;
  kill: () => void;
}

/** The child's first line of stderr that says something (not a warning), for the one-line error. */
function firstLine(stderr: string, fallback: string): string {
  return (stderr.split("\n").find((l) => l.trim() !== "" && !l.startsWith("warning:")) ?? fallback).trim();
}

function spawnSide(args: string[], cwd: string): Child {
  const env = { ...process.env };
  delete env.TIERSTACK_STACKS_DIR;
  const child = spawn(process.execPath, ["--import", "tsx", __filename, "__side", ...args], { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => err.push(c));
  child.stdin.on("error", () => undefined); // a child that failed early closes its stdin
  const done = new Promise<{ ok: true; stdout: string } | { ok: false; error: string }>((res) => {
    child.on("error", (e) => res({ ok: false, error: e.message }));
    child.on("close", (code) => {
      const stdout = Buffer.concat(out).toString("utf8");
      if (code === 0) res({ ok: true, stdout });
      else res({ ok: false, error: firstLine(Buffer.concat(err).toString("utf8"), `exited with ${String(code)}`) });
    });
  });
  return { done, stdin: child.stdin, kill: () => child.kill() };
}

/** Renders one stack at both sides (in parallel) and returns the working tree's pricing of both. */
async function diffStack(repo: string, tree: string, baseRef: string, stack: string): Promise<{ diff: StackDiff; notes: string[] }> {
  const file = (root: string) => join(root, "stacks", `Pulumi.${stack}.yaml`);
  if (!existsSync(file(repo))) throw new DiffError(`stack ${stack} does not render in the working tree: no stacks/Pulumi.${stack}.yaml (known: ${stacksIn(repo).join(", ")})`);
  if (!existsSync(file(tree))) throw new DiffError(`stack ${stack} does not render at ${baseRef}: no stacks/Pulumi.${stack}.yaml there (a new stack has nothing to be diffed against)`);
  const base = spawnSide(["base", tree, stack], tree);
  const head = spawnSide(["head", repo, stack, tree], repo);
  const b = await base.done;
  if (!b.ok) {
    head.kill();
    await head.done;
    throw new DiffError(`stack ${stack} does not render at ${baseRef}: ${b.error}`);
  }
  head.stdin.end(b.stdout);
  const h = await head.done;
  if (!h.ok) throw new DiffError(`stack ${stack} does not render in the working tree: ${h.error}`);
  const pair = JSON.parse(h.stdout) as PricedPair;
  return { diff: diffPlans(pair.base, pair.head, changedSecrets(readFileSync(file(tree), "utf8"), readFileSync(file(repo), "utf8"))), notes: pair.notes };
}

/** Renders both sides and diffs them. `stacks` empty: every stack of the working tree. */
export async function diffAgainst(baseRef: string, stacks: string[], opts: DiffOptions = {}): Promise<StackDiff[]> {
  const repo = (await git(opts.repo ?? resolve(__dirname, ".."), ["rev-parse", "--show-toplevel"])).trim();
  const note = opts.note ?? (() => undefined);
  const sha = await resolveBase(repo, baseRef);
  const tree = mkdtempSync(join(tmpdir(), "tierstack-diff-"));
  await git(repo, ["worktree", "add", "--detach", "--quiet", tree, sha]);
  try {
    const lock = (root: string) => (existsSync(join(root, "package-lock.json")) ? readFileSync(join(root, "package-lock.json"), "utf8") : "");
    if (lock(repo) === lock(tree)) {
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
    const diffs: StackDiff[] = [];
    // One stack at a time, its two sides in parallel: each side is one CPU-bound process.
    for (const stack of stacks.length > 0 ? stacks : stacksIn(repo)) {
      const { diff, notes } = await diffStack(repo, tree, baseRef, stack);
      notes.forEach(note);
      diffs.push(diff);
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

if (require.main === module && process.argv[2] === "__side") {
  sideMain(process.argv.slice(3)).then(
    // exit once stdout is flushed (a pipe's writes are asynchronous; the mocks keep handles open)
    (json) => process.stdout.write(json, () => process.exit(0)),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message.split("\n")[0] : String(e)}\n`);
      process.exit(1);
    },
  );
}
