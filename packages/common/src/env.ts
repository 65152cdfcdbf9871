/**
 * Typed reading of configuration from the environment, validated once at start.
 * Every problem is collected and reported together, one line per key:
 *   PORT="abc": expected an integer between 1 and 65535
 */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

export class EnvReader {
  private readonly problems: string[] = [];
  constructor(private readonly env: Env = process.env) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === "" ? undefined : v;
  }

  private fail(name: string, value: string | undefined, expected: string): void {
    this.problems.push(value === undefined ? `${name} is required: ${expected}` : `${name}=${JSON.stringify(value)}: expected ${expected}`);
  }

  str(name: string, opts: { default: string }): string;
  str(name: string, opts?: { default?: undefined; required?: true; description?: string }): string;
  str(name: string, opts: { required: false }): string | undefined;
  str(name: string, opts: { default?: string; required?: boolean; description?: string } = {}): string | undefined {
    const v = this.raw(name);
    if (v !== undefined) return v;
    if (opts.default !== undefined) return opts.default;
    if (opts.required === false) return undefined;
    this.fail(name, undefined, opts.description ?? "a non-empty string");
    return "";
  }

  int(name: string, opts: { default?: number; min?: number; max?: number; required?: boolean } = {}): number {
    const v = this.raw(name);
    const min = opts.min ?? Number.MIN_SAFE_INTEGER;
    const max = opts.max ?? Number.MAX_SAFE_INTEGER;
    const expected = `an integer between ${min} and ${max}`;
    if (v === undefined) {
      if (opts.default !== undefined) return opts.default;
      this.fail(name, undefined, expected);
      return 0;
    }
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.fail(name, v, expected);
      return 0;
    }
    return n;
  }

  bool(name: string, opts: { default: boolean }): boolean {
    const v = this.raw(name);
    if (v === undefined) return opts.default;
    if (["1", "true", "yes", "on"].includes(v.toLowerCase())) return true;
    if (["0", "false", "no", "off"].includes(v.toLowerCase())) return false;
    this.fail(name, v, "true or false");
    return opts.default;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], opts: { default?: T } = {}): T {
    const v = this.raw(name);
    if (v === undefined && opts.default !== undefined) return opts.default;
    if (v !== undefined && (allowed as readonly string[]).includes(v)) return v as T;
    this.fail(name, v, `one of ${allowed.join(", ")}`);
    return allowed[0] as T;
  }

  url(name: string, opts: { protocols?: string[]; required?: boolean; default?: string } = {}): string | undefined {
    const v = this.raw(name) ?? opts.default;
    const expected = `a URL${opts.protocols ? ` (${opts.protocols.join(", ")})` : ""}`;
    if (v === undefined) {
      if (opts.required === false) return undefined;
      this.fail(name, undefined, expected);
      return undefined;
    }
    try {
      const u = new URL(v);
      if (opts.protocols && !opts.protocols.includes(u.protocol.replace(/:$/, ""))) throw new Error("protocol");
      return v;
    } catch {
      this.fail(name, v, expected);
      return undefined;
    }
  }

  json<T>(name: string, check: (value: unknown) => string | undefined, opts: { default?: T } = {}): T {
    const v = this.raw(name);
    if (v === undefined) {
      if (opts.default !== undefined) return opts.default;
      this.fail(name, undefined, "a JSON document");
      return undefined as T;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      this.fail(name, v, "valid JSON");
      return undefined as T;
    }
    const problem = check(parsed);
    if (problem) this.problems.push(`${name}: ${problem}`);
    return parsed as T;
  }

  /** Record a cross-field problem. */
  problem(line: string): void {
    this.problems.push(line);
  }

  /** Throw a ConfigError if anything was wrong; call once after reading every key. */
  done(): void {
    if (this.problems.length) throw new ConfigError(this.problems);
  }
}

/** The keys every service reads. */
export interface BaseConfig {
  port: number;
  host: string;
  logLevel: string;
}

export function readBase(env: EnvReader, defaultPort: number): BaseConfig {
  return {
    port: env.int("PORT", { default: defaultPort, min: 0, max: 65535 }),
    host: env.str("HOST", { default: "0.0.0.0" }),
    logLevel: env.oneOf("LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, { default: "info" }),
  };
}
