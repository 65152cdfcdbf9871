import type { Migration } from "@tierstack/common";
import { postgres, sqlite, type Dialect } from "./dialect.js";

/**
 * One schema, two dialects (the slots in dialect.ts). Times are epoch milliseconds on SQLite and
 * timestamptz on PostgreSQL; JSON is TEXT and json (jsonb in version 1). The indexes are partial
 * (ADR 0010): the claim path sees only ready tasks, the reaper only running ones, the relay only
 * unpublished events, so a long history of finished work costs disk, not claim time.
 */
const tables = ({ ddl: d }: Dialect) => `
CREATE TABLE tasks (
  id ${d.pk},
  queue text NOT NULL,
  state text NOT NULL,
  priority integer NOT NULL DEFAULT 0,
  run_at ${d.ts} NOT NULL${d.defaultNow},
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  payload ${d.json},
  result ${d.json},
  last_error text,
  idempotency_key text,
  lease_token text,
  lease_owner text,
  lease_expires_at ${d.ts},
  created_at ${d.ts} NOT NULL${d.defaultNow},
  updated_at ${d.ts} NOT NULL${d.defaultNow},
  finished_at ${d.ts}
);
CREATE UNIQUE INDEX tasks_idempotency ON tasks (queue, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_ready ON tasks (queue, priority DESC, run_at, id) WHERE state = 'ready';
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_dead ON tasks (queue, id) WHERE state = 'dead';
CREATE TABLE outbox (
  id ${d.pk},
  queue text NOT NULL,
  event text NOT NULL,
  task_id ${d.ref} NOT NULL,
  attempt integer NOT NULL,
  created_at ${d.ts} NOT NULL${d.defaultNow},
  published_at ${d.ts}
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
`;

/**
 * Version 2: values stored as dialect.ts's `stored` says. PostgreSQL's JSON columns become `json`
 * (JSON text, as SQLite's TEXT: every string and the members' order kept; `jsonb` refused
 * \u0000 and lone surrogates and reordered members). Both stores now keep text columns through
 * the kit's text codec, whose escape is U+0010: a U+0010 already stored is doubled, so it reads
 * back as itself. (The rewrite of the PostgreSQL table holds its lock for the length of a table
 * scan; the UPDATE touches only rows holding a U+0010, in practice none.)
 */
const storedValues = (d: Dialect) => {
  const dle = d.char(16);
  const cols = ["queue", "idempotency_key", "last_error", "lease_token", "lease_owner"];
  const t = d.ddl.jsonText;
  const alter = d.ddl.json === t ? "" : `ALTER TABLE tasks ALTER COLUMN payload TYPE ${t} USING payload::${t}, ALTER COLUMN result TYPE ${t} USING result::${t};\n`;
  return `${alter}UPDATE tasks SET ${cols.map((c) => `${c} = replace(${c}, ${dle}, ${dle} || ${dle})`).join(", ")}
  WHERE ${cols.map((c) => `${c} LIKE '%' || ${dle} || '%'`).join(" OR ")};
UPDATE outbox SET queue = replace(queue, ${dle}, ${dle} || ${dle}) WHERE queue LIKE '%' || ${dle} || '%';`;
};

/**
 * Version 3: the cut-over mode (ADR 0043) survives a restart. One row while a cut-over drains or
 * freezes the write path, none while serving. A `tierstack_` table is the migrations' own
 * bookkeeping: the mover neither copies nor compares it, and clears it in the store it copies
 * into, so a copy starts serving.
 */
const cutoverState = `CREATE TABLE tierstack_cutover (
  id integer PRIMARY KEY CHECK (id = 1),
  mode text NOT NULL CHECK (mode IN ('draining', 'frozen')),
  retry_after_seconds integer NOT NULL
);`;

const migrations = (d: Dialect): Migration[] => [
  { version: 1, name: "tasks_and_outbox", sql: tables(d) },
  { version: 2, name: "stored_values", sql: storedValues(d) },
  { version: 3, name: "cutover_state", sql: cutoverState },
];

export const sqliteMigrations = migrations(sqlite);
export const postgresMigrations = migrations(postgres);
