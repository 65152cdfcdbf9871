/**
 * How one stored value crosses between SQLite and PostgreSQL, decided by the PostgreSQL column's
 * type: the COPY text the forward mover writes, the SQLite value the copy-back writes
 * (migrate/postgres-to-sqlite.ts), the expression PostgreSQL is read with, and the canonical
 * form verification compares on both sides (the same for both directions). Nothing here knows a
 * table: a column added to a service's schema later is carried by its type.
 *
 * SQLite keeps times as epoch milliseconds (INTEGER), JSON as TEXT and booleans as 0/1; the
 * PostgreSQL schemas use timestamptz, jsonb and boolean for the same columns (or the same
 * integers and text, as the brain does).
 */

/** The PostgreSQL types the mover carries (information_schema.columns.data_type). */
export const carriedTypes = [
  "text",
  "character varying",
  "integer",
  "bigint",
  "smallint",
  "double precision",
  "real",
  "numeric",
  "boolean",
  "timestamp with time zone",
  "jsonb",
  "json",
] as const;
export type CarriedType = (typeof carriedTypes)[number];

export function isCarried(type: string): type is CarriedType {
  return (carriedTypes as readonly string[]).includes(type);
}

/** SQLite's stored time (epoch ms, or an ISO string from older writers) → epoch ms. */
function sourceMs(v: unknown): number {
  if (typeof v === "number" || typeof v === "bigint") return Number(v);
  const ms = Date.parse(String(v));
  if (Number.isNaN(ms)) throw new Error(`not a time: ${JSON.stringify(v)}`);
  return ms;
}

const needsEscape = /[\\\t\n\r]/;

/** COPY text format: backslash, tab, newline and carriage return escaped; NULL is \N. Most values need none: tested first. */
function copyEscape(s: string): string {
  if (!needsEscape.test(s)) return s;
  return s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

const dayMs = 86_400_000;
const pad2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0"));
const pad3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
/** "YYYY-MM-DDT" per day number, for the days seen (bounded). */
const dayPrefix = new Map<number, string>();
/** Years 0001-9999, where toISOString's shape is fixed (outside it, toISOString itself). */
const fastFrom = -62_135_596_800_000;
const fastTo = 253_402_300_799_999;

/**
 * Epoch ms → the text Date.prototype.toISOString gives ("2023-11-14T22:13:20.007Z"), without a
 * Date per value: the day's prefix is cached, the time of day is integer arithmetic.
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < fastFrom || ms > fastTo) return new Date(ms).toISOString();
  const day = Math.floor(ms / dayMs);
  let prefix = dayPrefix.get(day);
  if (prefix === undefined) {
    if (dayPrefix.size >= 4096) dayPrefix.clear();
    prefix = new Date(day * dayMs).toISOString().slice(0, 11);
    dayPrefix.set(day, prefix);
  }
  let r = ms - day * dayMs;
  const h = Math.floor(r / 3_600_000);
  r -= h * 3_600_000;
  const m = Math.floor(r / 60_000);
  r -= m * 60_000;
  const sec = Math.floor(r / 1000);
  return `${prefix}${pad2[h]}:${pad2[m]}:${pad2[sec]}.${pad3[r - sec * 1000]}Z`;
}

/** Encodes one source value as a COPY text field; chosen once per column. */
export type FieldEncoder = (v: unknown) => string;

const nullable = (f: (v: unknown) => string): FieldEncoder => (v) => (v === null || v === undefined ? "\\N" : f(v));

/** The COPY text encoder of a column of `type`. */
export function copyEncoder(type: CarriedType): FieldEncoder {
  switch (type) {
    case "timestamp with time zone":
      return nullable((v) => isoTime(typeof v === "number" ? v : sourceMs(v)));
    case "boolean":
      return nullable((v) => (Number(v) ? "t" : "f"));
    case "jsonb":
    case "json":
    case "text":
    case "character varying":
      return nullable((v) => copyEscape(typeof v === "string" ? v : String(v)));
    default:
      return nullable((v) => String(v));
  }
}

const encoders = new Map<CarriedType, FieldEncoder>();

/** One source value as a field of a COPY text row for a column of `type`. */
export function copyField(v: unknown, type: CarriedType): string {
  let e = encoders.get(type);
  if (!e) encoders.set(type, (e = copyEncoder(type)));
  return e(v);
}

/** How a column is read from PostgreSQL: JSON as its stored text (byte for byte what json keeps), everything else as pg parses it. */
export function pgSelect(column: string, type: CarriedType): string {
  const id = `"${column.replace(/"/g, '""')}"`;
  return type === "json" || type === "jsonb" ? `${id}::text AS ${id}` : id;
}

/**
 * One PostgreSQL value (as pg returns the pgSelect expression) as SQLite stores it: times as
 * epoch ms, booleans as 0/1, JSON as its text, integers beyond 2^53 as BigInt.
 */
export function sqliteValue(v: unknown, type: CarriedType): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "timestamp with time zone":
      return (v as Date).getTime();
    case "boolean":
      return v ? 1 : 0;
    case "integer":
    case "bigint":
    case "smallint": {
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : BigInt(String(v));
    }
    case "double precision":
    case "real":
    case "numeric":
      return Number(v);
    default:
      return String(v);
  }
}

/** JSON with object keys sorted, so jsonb's reordering is not a difference. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/**
 * The value both sides must agree on. `side` says which driver produced `v`: better-sqlite3
 * (numbers, strings) or pg reading pgSelect (Date for timestamptz, JSON text, strings for
 * bigint/numeric).
 */
export function canonical(v: unknown, type: CarriedType, side: "source" | "target"): string {
  if (v === null || v === undefined) return "NULL";
  switch (type) {
    case "timestamp with time zone":
      return String(side === "source" ? sourceMs(v) : (v as Date).getTime());
    case "boolean":
      return side === "source" ? String(Boolean(Number(v))) : String(v);
    case "jsonb":
    case "json":
      // Both sides hold JSON text (PostgreSQL read through pgSelect).
      return canonicalJson(JSON.parse(String(v)));
    case "integer":
    case "bigint":
    case "smallint":
      return BigInt(typeof v === "number" ? Math.trunc(v) : String(v)).toString();
    case "double precision":
    case "real":
    case "numeric":
      return String(Number(v));
    default:
      return String(v);
  }
}
