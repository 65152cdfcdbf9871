/**
 * `tierstack <command>`: the platform's CLI. Commands: plan (offline inventory under Pulumi
 * mocks, with each resource's cost and the policy results), cost and capacity (cli/cost.ts,
 * cli/capacity.ts), local (run the services on this machine; cli/local.ts) and token (agent tokens).
 */
import { ConfigError } from "../config/config.js";
import { TierNotBuiltError } from "../stacks/program.js";
import { parseCommandArgs, UsageError } from "./args.js";
import { PlanError, planStack } from "./plan.js";
import { renderTable } from "./plan-table.js";

const usage = `usage: tierstack <command>
  plan <stack> [--json]   list what the stack's program declares (offline, Pulumi mocks), its cost and policy results
  cost [--stack X] [--json] [--svg FILE]   the built tiers' monthly cost side by side (infrastructure, LLM, share)
  capacity --agents N [--products M] [--learners L]   the smallest tier that holds the load, each tier's first wall
  local [--data DIR]      run the single-box services on this machine (Ctrl-C stops them)
  token <command> ...     agent tokens: issue, list, revoke, rotate (tierstack token --help)
  migrate <command> --stack X   staged migration to the next tier: status, plan, next, verify, rollback, copy
  diff --base <ref> [--stack X] [--format markdown|json]   what each stack's plan changes since a git ref (offline)`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export async function planCommand(argv: string[], io: Io = stdio): Promise<number> {
  let parsed: ReturnType<typeof parseCommandArgs<{ json: { type: "boolean" } }>>;
  try {
    parsed = parseCommandArgs("plan", "tierstack plan <stack> [--json]", argv, { json: { type: "boolean" } });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`${err.message}\n`);
    return 2;
  }
  if (parsed.positionals.length !== 1) {
    io.err("plan: expected one stack name; usage: tierstack plan <stack> [--json]\n");
    return 2;
  }
  const json = parsed.values.json === true;
  const stack = parsed.positionals[0] as string;
  try {
    const plan = await planStack(stack);
    for (const w of plan.warnings) io.err(`warning: ${w}\n`);
    io.out(json ? `${JSON.stringify(plan, null, 2)}\n` : renderTable(plan));
    const mandatory = (plan.policy?.violations ?? []).filter((v) => v.enforcementLevel === "mandatory");
    for (const v of mandatory) io.err(`plan ${stack}: mandatory policy ${v.policy}: ${v.urn ? `${v.urn.split("::").pop() ?? ""}: ` : ""}${v.message}\n`);
    return mandatory.length > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PlanError || err instanceof TierNotBuiltError) {
      io.err(`plan ${stack}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function localCommand(argv: string[], io: Io): Promise<number> {
  let mod: { runLocal?: (argv: string[]) => Promise<number | void> | number | void };
  try {
    const path = "./local.js";
    mod = (await import(path)) as typeof mod;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND") {
      io.err("local: not built yet\n");
      return 1;
    }
    throw err;
  }
  if (typeof mod.runLocal !== "function") {
    io.err("local: not built yet\n");
    return 1;
  }
  const code = await mod.runLocal(argv);
  return typeof code === "number" ? code : 0;
}

async function tokenCommand(argv: string[], io: Io): Promise<number> {
  const { runToken } = await import("./token.js");
  try {
    return await runToken(argv, (line) => io.out(`${line}\n`));
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

async function migrateCommand(argv: string[], io: Io): Promise<number> {
  const { runMigrate } = await import("./migrate.js");
  try {
    return await runMigrate(argv, (l) => io.out(`${l}\n`), (l) => io.err(`${l}\n`));
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

async function diffCommand(argv: string[], io: Io): Promise<number> {
  const { runDiff } = await import("./diff.js");
  return runDiff(argv, io.out, io.err);
}

async function costCommand(argv: string[], io: Io): Promise<number> {
  const { runCost } = await import("./cost.js");
  try {
    return await runCost(argv, io.out, io.err);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

async function capacityCommand(argv: string[], io: Io): Promise<number> {
  const { runCapacity } = await import("./capacity.js");
  try {
    return runCapacity(argv, io.out, io.err);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "plan":
      return planCommand(rest, io);
    case "local":
      return localCommand(rest, io);
    case "token":
      return tokenCommand(rest, io);
    case "migrate":
      return migrateCommand(rest, io);
    case "cost":
      return costCommand(rest, io);
    case "capacity":
      return capacityCommand(rest, io);
    case "diff":
      return diffCommand(rest, io);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      io.out(`${usage}\n`);
      return command === undefined ? 2 : 0;
    default:
      io.err(`tierstack: unknown command "${command}"\n${usage}\n`);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`tierstack: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
