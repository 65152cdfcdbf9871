/**
 * How one stored value crosses from SQLite to PostgreSQL, decided by the target column's type:
 * the COPY text the mover writes, and the canonical form verification compares on both sides.
 * Nothing here knows a table: a column added to a service's schema later is carried by its type.
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

/** COPY text format: backslash, tab, newline and carriage return escaped; NULL is \N. */
function copyEscape(s: string): string {
  return s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

/** One source value as a field of a COPY text row for a column of `type`. */
export function copyField(v: unknown, type: CarriedType): string {
  if (v === null || v === undefined) return "\\N";
  switch (type) {
    case "timestamp with time zone":
      return new Date(sourceMs(v)).toISOString();
    case "boolean":
      return Number(v) ? "t" : "f";
    case "jsonb":
    case "json":
    case "text":
    case "character varying":
      return copyEscape(String(v));
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
 * (numbers, strings) or pg (Date for timestamptz, parsed jsonb, strings for bigint/numeric).
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
      return canonicalJson(side === "source" ? JSON.parse(String(v)) : v);
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
