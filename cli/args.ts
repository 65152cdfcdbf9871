/**
 * Argument parsing for every CLI command and benchmark: node:util parseArgs in strict mode, with
 * its errors turned into one line that names the command, what was wrong and the usage.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses `argv` for `command`; throws UsageError ("<command>: unknown option --x; usage: …"). */
export function parseCommandArgs<O extends Options>(command: string, usage: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    const message = (err as Error).message;
    const option = /'(-[^']*)'/.exec(message)?.[1];
    const what =
      code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option ? `unknown option ${option}`
      : code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" ? message.split(".")[0]
      : message;
    throw new UsageError(`${command}: ${what}; usage: ${usage}`);
  }
}

/** A whole number from an option, or the default; UsageError names the option otherwise. */
export function intOption(command: string, name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${command}: --${name}=${JSON.stringify(value)}: expected a whole number ≥ ${min}`);
  return n;
}

/** For scripts (benchmarks): a usage error prints its one line and exits 2 instead of a stack trace. */
export function exitOnUsageError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
