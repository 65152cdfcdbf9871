import { decodeText, encodeText, sqliteLimit } from "@tierstack/common";

/**
 * What differs between the two stores' SQL, and nothing else: column types, how "now" and
 * durations are written, parameters PostgreSQL cannot infer, list parameters, row locking, and
 * how time and JSON values come back from each driver. The schema (schema.ts), the statements
 * (transitions.ts) and the row mapping (rows.ts) are written once against this — and so is what
 * both stores do with values neither can hold as they are (`stored`, below).
 *
 * Parameters are `$1…$n` in both: PostgreSQL binds them by position, better-sqlite3 by name
 * (the SQLite store binds `{ 1: …, 2: …, now }`).
 */

/**
 * Both stores accept every value the API accepts and return it exactly; decided here, once:
 *
 * - Text columns (idempotency key, last error, lease token and owner, queue): every string a
 *   store binds goes through the kit's text codec (`encodeText`, the brain's rule too), every
 *   text column read through `decodeText`. PostgreSQL's text cannot hold U+0000, and neither
 *   store keeps a lone surrogate (pg sends U+FFFD, better-sqlite3 reads back three), so two keys
 *   differing only there would collapse into one. Ordinary text is stored unchanged.
 * - JSON documents (payload, result) are stored as JSON text: SQLite TEXT, PostgreSQL `json`
 *   (schema version 2; it was `jsonb`, which refuses \u0000 and lone surrogates, reorders members
 *   and drops duplicates). JSON.stringify escapes U+0000, U+0010 and lone surrogates, so the text
 *   needs no codec, and both stores return the members in the order they were sent.
 * - What JavaScript itself cannot hold (numbers beyond a double, duplicate members, nesting past
 *   the limit) never reaches a store: the kit's bounded JSON parse refuses it with a 400.
 */
export const stored = {
  /** A statement parameter as bound: a string, or each string of an array (pg's unnest lists), encoded. */
  param(v: unknown): unknown {
    if (typeof v === "string") return encodeText(v);
    if (Array.isArray(v)) return v.map((x: unknown) => (typeof x === "string" ? encodeText(x) : x));
    return v;
  },
  /** A JSON value as its stored text (bound as a string; the codec leaves JSON text as it is). */
  json: (v: unknown): string => JSON.stringify(v ?? null),
  /** A text column as read. */
  text<T extends string | null | undefined>(v: T): T {
    return (typeof v === "string" ? decodeText(v) : v) as T;
  },
};

export interface Dialect {
  readonly kind: "sqlite" | "postgres";
  /**
   * DDL: the id column, a point in time, a JSON document (as version 1 created it; `jsonText`
   * from version 2 on), and the DEFAULT for a time column.
   */
  readonly ddl: { pk: string; ref: string; ts: string; json: string; jsonText: string; defaultNow: string };
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
  /** A bound LIMIT (on SQLite behind a cast: the kit's sqliteLimit says why). */
  limit(param: string): string;
  /** Appended to a SELECT that picks rows to change: concurrent pickers skip each other's rows. */
  readonly skipLocked: string;
  /** A stored time as it comes back from the driver → ISO-8601. */
  iso(v: unknown): string;
  /** A JSON column as it comes back from the driver → the value (stored as JSON text: see `stored`). */
  json(v: unknown): unknown;
  /** An epoch-milliseconds value as a time parameter. */
  time(ms: number): unknown;
  /** The one-character string with this code, in SQL (for migrations, which bind nothing). */
  char(code: number): string;
}

const iso = (v: unknown) => (v instanceof Date ? v : new Date(Number(v))).toISOString();

export const sqlite: Dialect = {
  kind: "sqlite",
  // Version 1 of the SQLite schema had no defaults on time columns: every statement sets them.
  ddl: { pk: "INTEGER PRIMARY KEY AUTOINCREMENT", ref: "INTEGER", ts: "INTEGER", json: "TEXT", jsonText: "TEXT", defaultNow: "" },
  now: "$now",
  nowPlusMs: (ms) => `($now + ${ms})`,
  fromMs: (ms) => ms,
  secondsSince: (t) => `(($now - ${t}) / 1000.0)`,
  typed: (param) => param,
  inList: (expr, param) => `${expr} IN (SELECT value FROM json_each(${param}))`,
  // The elements are compared with stored values: encoded as every bound string is.
  list: (values) => JSON.stringify(stored.param(values)),
  limit: sqliteLimit,
  skipLocked: "",
  iso,
  json: (v) => (v === null || v === undefined ? null : (JSON.parse(String(v)) as unknown)),
  time: (ms) => ms,
  char: (code) => `char(${code})`,
};

export const postgres: Dialect = {
  kind: "postgres",
  ddl: { pk: "bigserial PRIMARY KEY", ref: "bigint", ts: "timestamptz", json: "jsonb", jsonText: "json", defaultNow: " DEFAULT now()" },
  now: "now()",
  nowPlusMs: (ms) => `(now() + (${ms})::float8 * interval '1 millisecond')`,
  // Whole seconds, then the milliseconds: to_timestamp(ms / 1000.0) rounds through a float8 and
  // is a millisecond off for dates far from 1970 (9698-08-16T15:18:37.839Z came back .838Z).
  fromMs: (ms) => `(to_timestamp((${ms})::bigint / 1000) + ((${ms})::bigint % 1000) * interval '1 millisecond')`,
  secondsSince: (t) => `EXTRACT(EPOCH FROM now() - ${t})::float8`,
  typed: (param, pgType) => `${param}::${pgType}`,
  inList: (expr, param, pgType) => `${expr} = ANY(${param}::${pgType}[])`,
  list: (values) => values,
  limit: (param) => param,
  skipLocked: " FOR UPDATE SKIP LOCKED",
  iso,
  json: (v) => v ?? null,
  time: (ms) => new Date(ms),
  char: (code) => `chr(${code})`,
};
