/**
 * What differs between the two stores' SQL, and nothing else: column types, how "now" and
 * durations are written, parameters PostgreSQL cannot infer, list parameters, row locking, and
 * how time and JSON values come back from each driver. The schema (schema.ts), the statements
 * (transitions.ts) and the row mapping (rows.ts) are written once against this.
 *
 * Parameters are `$1…$n` in both: PostgreSQL binds them by position, better-sqlite3 by name
 * (the SQLite store binds `{ 1: …, 2: …, now }`).
 */
export interface Dialect {
  readonly kind: "sqlite" | "postgres";
  /** DDL: the id column, a point in time, a JSON document, and the DEFAULT for a time column. */
  readonly ddl: { pk: string; ref: string; ts: string; json: string; defaultNow: string };
  /**
   * The write's time. PostgreSQL: now() — the transaction's start on the database's clock, the
   * same clock for every replica. SQLite: the `$now` parameter, which the store binds to
   * Date.now() once per transaction (one process owns the file).
   */
  readonly now: string;
  /** now plus an SQL expression in milliseconds. */
  nowPlusMs(ms: string): string;
  /** An epoch-milliseconds expression as a stored time. */
  fromMs(ms: string): string;
  /** Seconds from a stored time until now. */
  secondsSince(t: string): string;
  /** A parameter whose type PostgreSQL cannot infer from where it stands. */
  typed(param: string, pgType: string): string;
  /** `expr` is one of the values of a list parameter (bind it with `list`). */
  inList(expr: string, param: string, pgType: string): string;
  list(values: readonly unknown[]): unknown;
  /** Appended to a SELECT that picks rows to change: concurrent pickers skip each other's rows. */
  readonly skipLocked: string;
  /** A stored time as it comes back from the driver → ISO-8601. */
  iso(v: unknown): string;
  /** A JSON column as it comes back from the driver → the value. */
  json(v: unknown): unknown;
  /** An epoch-milliseconds value as a time parameter. */
  time(ms: number): unknown;
}

const iso = (v: unknown) => (v instanceof Date ? v : new Date(Number(v))).toISOString();

export const sqlite: Dialect = {
  kind: "sqlite",
  // Version 1 of the SQLite schema had no defaults on time columns: every statement sets them.
  ddl: { pk: "INTEGER PRIMARY KEY AUTOINCREMENT", ref: "INTEGER", ts: "INTEGER", json: "TEXT", defaultNow: "" },
  now: "$now",
  nowPlusMs: (ms) => `($now + ${ms})`,
  fromMs: (ms) => ms,
  secondsSince: (t) => `(($now - ${t}) / 1000.0)`,
  typed: (param) => param,
  inList: (expr, param) => `${expr} IN (SELECT value FROM json_each(${param}))`,
  list: (values) => JSON.stringify(values),
  skipLocked: "",
  iso,
  json: (v) => (v === null || v === undefined ? null : (JSON.parse(String(v)) as unknown)),
  time: (ms) => ms,
};

export const postgres: Dialect = {
  kind: "postgres",
  ddl: { pk: "bigserial PRIMARY KEY", ref: "bigint", ts: "timestamptz", json: "jsonb", defaultNow: " DEFAULT now()" },
  now: "now()",
  nowPlusMs: (ms) => `(now() + (${ms})::float8 * interval '1 millisecond')`,
  fromMs: (ms) => `to_timestamp(${ms} / 1000.0)`,
  secondsSince: (t) => `EXTRACT(EPOCH FROM now() - ${t})::float8`,
  typed: (param, pgType) => `${param}::${pgType}`,
  inList: (expr, param, pgType) => `${expr} = ANY(${param}::${pgType}[])`,
  list: (values) => values,
  skipLocked: " FOR UPDATE SKIP LOCKED",
  iso,
  json: (v) => v ?? null,
  time: (ms) => new Date(ms),
};
