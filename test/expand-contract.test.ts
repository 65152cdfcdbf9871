/**
 * Schema changes stay expand/contract: on tier-50 several replicas of the task queue and the
 * brain run on one PostgreSQL, and during a rolling update the previous release's replicas keep
 * running on the schema the new release has just migrated. So, for the task queue (with the
 * agent tokens in its schema) and the brain:
 *
 *   1. the PREVIOUS release's own code (its tree from git, `git archive`) opens its stores on
 *      fresh schemas (its migrations) and writes and reads through its store API;
 *   2. the CURRENT release's code opens the same schemas (its migrations run);
 *   3. every table and column the previous release had is still there with the same type, no
 *      column it did not know about became NOT NULL without a default (its INSERTs would fail),
 *      and a fresh schema migrated by the current release alone has the same columns as the
 *      upgraded one (an applied migration was not edited);
 *   4. the previous release's code opens the upgraded schemas and writes and reads again.
 *
 * PREVIOUS_RELEASE is the commit of the release deployed before this one. There are no release
 * tags yet: it is the main branch's first commit of the session that built tier-50; the release
 * job moves it forward (to the tag it deploys) after each release.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDatabaseUrl } from "@tierstack/common";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";

export const PREVIOUS_RELEASE = "d05a8f9";

/**
 * Contract problems accepted on purpose, problem line → why the previous release is not hurt
 * (e.g. it never reads the column). Empty is the normal state; an entry is reviewed like code
 * and removed when PREVIOUS_RELEASE moves past the change (a stale entry fails the test).
 */
export const ACCEPTED: Readonly<Record<string, string>> = {
  "column tasks.payload changed type jsonb → json": "task-queue schema v2 (ADR 0014 amendment): jsonb refuses NUL and lone surrogates and reorders members, json keeps the text as sent; the previous release reads and writes both types the same way through pg (the last test here runs it on the upgraded schema), and the one-time table rewrite under a lock at upgrade is the cost",
  "column tasks.result changed type jsonb → json": "task-queue schema v2 (ADR 0014 amendment): jsonb refuses NUL and lone surrogates and reorders members, json keeps the text as sent; the previous release reads and writes both types the same way through pg (the last test here runs it on the upgraded schema), and the one-time table rewrite under a lock at upgrade is the cost",
};

const repo = resolve(__dirname, "..");

// ---------------------------------------------------------------- schema snapshots (pure)

export interface Column {
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}
export type Snapshot = Record<string, Record<string, Column>>;

/** What would break the previous release on the migrated schema, one line each. */
export function contractProblems(before: Snapshot, after: Snapshot): string[] {
  const problems: string[] = [];
  for (const [table, cols] of Object.entries(before)) {
    const now = after[table];
    if (!now) {
      problems.push(`table ${table} was dropped or renamed (the previous release reads it)`);
      continue;
    }
    for (const [name, col] of Object.entries(cols)) {
      const c = now[name];
      if (!c) problems.push(`column ${table}.${name} was dropped or renamed (the previous release reads it)`);
      else if (c.type !== col.type) problems.push(`column ${table}.${name} changed type ${col.type} → ${c.type}`);
      else if (col.nullable && !c.nullable && !c.hasDefault) problems.push(`column ${table}.${name} became NOT NULL without a default (the previous release's INSERTs may omit it)`);
    }
    for (const [name, c] of Object.entries(now)) {
      if (!cols[name] && !c.nullable && !c.hasDefault) problems.push(`new column ${table}.${name} is NOT NULL without a default (the previous release's INSERTs do not set it)`);
    }
  }
  return problems;
}

async function snapshot(schema: string): Promise<Snapshot> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    const rows = (await c.query<{ table_name: string; column_name: string; udt_name: string; is_nullable: string; column_default: string | null }>(
      `SELECT c.table_name, c.column_name, c.udt_name, c.is_nullable, c.column_default
         FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'`, [schema])).rows;
    const out: Snapshot = {};
    for (const r of rows) {
      (out[r.table_name] ??= {})[r.column_name] = { type: r.udt_name, nullable: r.is_nullable === "YES", hasDefault: r.column_default !== null };
    }
    return out;
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- the previous release, from git

/** The previous release's workspace code in a temp dir; bare imports resolve to the installed packages, @tierstack/* to its own. */
function checkoutPrevious(): string {
  const has = spawnSync("git", ["cat-file", "-e", `${PREVIOUS_RELEASE}^{commit}`], { cwd: repo });
  if (has.status !== 0) throw new Error(`the previous release ${PREVIOUS_RELEASE} is not in this clone's history (a shallow clone? fetch it)`);
  const dir = mkdtempSync(join(tmpdir(), `tierstack-prev-${PREVIOUS_RELEASE}-`));
  const archive = spawnSync("git", ["archive", "--format=tar", PREVIOUS_RELEASE, "packages", "services", "cost"], { cwd: repo, maxBuffer: 256 * 1024 * 1024 });
  if (archive.status !== 0) throw new Error(`git archive ${PREVIOUS_RELEASE} failed: ${archive.stderr.toString()}`);
  const untar = spawnSync("tar", ["-x", "-C", dir], { input: archive.stdout });
  if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr.toString()}`);
  const nm = join(dir, "node_modules");
  mkdirSync(join(nm, "@tierstack"), { recursive: true });
  for (const name of readdirSync(join(repo, "node_modules"))) {
    if (name === "@tierstack" || name === ".bin") continue;
    symlinkSync(join(repo, "node_modules", name), join(nm, name));
  }
  for (const [pkg, path] of [["common", "packages/common"], ["shard-map", "packages/shard-map"], ["cost", "cost"]]) {
    if (existsSync(join(dir, path as string))) symlinkSync(join(dir, path as string), join(nm, "@tierstack", pkg as string));
  }
  // The previous release's store API, exercised: migrate, write, read (tasks, agent tokens, the brain).
  writeFileSync(join(dir, "previous-release.mts"), `
import { parseDatabaseUrl } from "@tierstack/common";
import { openStores } from "./services/task-queue/src/open-store.js";
import { openBrainStore } from "./services/brain/src/store/index.js";
const [tqUrl, brainUrl, phase] = process.argv.slice(2);
const out = {};
const { store, tokens } = await openStores(parseDatabaseUrl(tqUrl));
try {
  const [enq] = await store.enqueue([{ queue: "ec", payload: { phase }, priority: 0, maxAttempts: 3, idempotencyKey: "ec-" + phase }]);
  const [leases] = await store.claim([{ queues: ["ec"], limit: 1, leaseSeconds: 30, owner: "previous-release" }]);
  const [done] = await store.complete([{ id: leases[0].task.id, leaseToken: leases[0].leaseToken, result: { ok: true } }]);
  await tokens.insert({ id: "ec-" + phase, agent: "ec-agent", hash: "0".repeat(64), label: phase, createdAt: new Date(), expiresAt: null, revokedAt: null });
  out.tasks = {
    created: enq.created, completed: done.status, got: (await store.get(enq.task.id))?.state,
    listed: (await store.list({ queue: "ec", limit: 100 })).length, depth: (await store.depth()).length >= 0, lag: typeof (await store.outboxLag()).unpublished,
  };
  out.tokens = (await tokens.list("ec-agent")).map((t) => t.label).sort();
} finally {
  await store.close();
}
const b = await openBrainStore(brainUrl);
try {
  const now = Date.now();
  const learner = await b.signUp(phase === "before" ? "+15550000001" : "+15550000002", now);
  await b.storeInbound([{ waId: "wamid.ec." + phase, phone: learner.phone, type: "text", body: "hi", sentAt: now }], [], [], now);
  await b.addDeadLetter("ec", "test", "{}", now);
  out.brain = {
    learner: (await b.learnerById(learner.id))?.phone === learner.phone, byPhone: (await b.learnerByPhone(learner.phone))?.id === learner.id,
    pending: (await b.pendingFor(learner.id, 10)).length, backlog: await b.backlog(), dead: (await b.deadLetters(10)).length,
    history: (await b.history(learner.id, 10)).length, usage: (await b.usage(learner.id)).length, outbound: (await b.outboundFor(learner.id)).length,
  };
} finally {
  await b.close();
}
console.log(JSON.stringify(out));
`);
  return dir;
}

function runPrevious(dir: string, tqUrl: string, brainUrl: string, phase: "before" | "after"): Record<string, unknown> {
  const r = spawnSync(process.execPath, ["--import", "tsx", "previous-release.mts", tqUrl, brainUrl, phase], { cwd: dir, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`the previous release (${PREVIOUS_RELEASE}) failed on the ${phase === "after" ? "upgraded" : "fresh"} schema: ${(r.stderr || r.stdout).trim()}`);
  const last = r.stdout.trim().split("\n").pop() ?? "{}";
  return JSON.parse(last) as Record<string, unknown>;
}

// ---------------------------------------------------------------- the current release

async function migrateCurrent(tqUrl: string, brainUrl: string): Promise<void> {
  const { openStores } = await import("../services/task-queue/src/open-store.js");
  const { openBrainStore } = await import("../services/brain/src/store/index.js");
  const { store } = await openStores(parseDatabaseUrl(tqUrl));
  await store.close();
  const b = await openBrainStore(brainUrl);
  await b.close();
}

// ---------------------------------------------------------------- the runs

type Fresh = Awaited<ReturnType<typeof freshSchema>>;
let pgUp = false;
let prev: string | undefined;
const schemas: Record<"tq" | "brain" | "tqFresh" | "brainFresh", Fresh | undefined> = { tq: undefined, brain: undefined, tqFresh: undefined, brainFresh: undefined };
const before: Record<string, Snapshot> = {};
const after: Record<string, Snapshot> = {};
const fresh: Record<string, Snapshot> = {};
let firstRun: Record<string, unknown> = {};
let secondRun: Record<string, unknown> = {};

beforeAll(async () => {
  pgUp = await available("postgres", PG_URL);
  if (!pgUp) return;
  prev = checkoutPrevious();
  schemas.tq = await freshSchema("ec_tq");
  schemas.brain = await freshSchema("ec_brain");
  schemas.tqFresh = await freshSchema("ec_tq_fresh");
  schemas.brainFresh = await freshSchema("ec_brain_fresh");
  firstRun = runPrevious(prev, schemas.tq.url, schemas.brain.url, "before");
  before.tq = await snapshot(schemas.tq.schema);
  before.brain = await snapshot(schemas.brain.schema);
  await migrateCurrent(schemas.tq.url, schemas.brain.url);
  after.tq = await snapshot(schemas.tq.schema);
  after.brain = await snapshot(schemas.brain.schema);
  await migrateCurrent(schemas.tqFresh.url, schemas.brainFresh.url);
  fresh.tq = await snapshot(schemas.tqFresh.schema);
  fresh.brain = await snapshot(schemas.brainFresh.schema);
  secondRun = runPrevious(prev, schemas.tq.url, schemas.brain.url, "after");
}, 240_000);

afterAll(async () => {
  for (const s of Object.values(schemas)) await s?.drop();
  if (prev) rmSync(prev, { recursive: true, force: true });
});

describe("the contract check itself", () => {
  const base: Snapshot = { tasks: { id: { type: "int8", nullable: false, hasDefault: true }, last_error: { type: "text", nullable: true, hasDefault: false } } };
  it("finds a dropped table, a renamed or retyped column, a new NOT NULL column without default, a tightened column", () => {
    expect(contractProblems(base, base)).toEqual([]);
    expect(contractProblems(base, {})).toEqual(["table tasks was dropped or renamed (the previous release reads it)"]);
    expect(contractProblems(base, { tasks: { id: base.tasks!.id!, error: { type: "text", nullable: true, hasDefault: false } } })).toEqual(["column tasks.last_error was dropped or renamed (the previous release reads it)"]);
    expect(contractProblems(base, { tasks: { ...base.tasks, last_error: { type: "jsonb", nullable: true, hasDefault: false } } })).toEqual(["column tasks.last_error changed type text → jsonb"]);
    expect(contractProblems(base, { tasks: { ...base.tasks, tenant: { type: "text", nullable: false, hasDefault: false } } })).toEqual(["new column tasks.tenant is NOT NULL without a default (the previous release's INSERTs do not set it)"]);
    expect(contractProblems(base, { tasks: { ...base.tasks, tenant: { type: "text", nullable: false, hasDefault: true } } })).toEqual([]);
    expect(contractProblems(base, { tasks: { ...base.tasks, last_error: { type: "text", nullable: false, hasDefault: false } } })).toEqual(["column tasks.last_error became NOT NULL without a default (the previous release's INSERTs may omit it)"]);
  });
});

describe(`expand/contract against the previous release (${PREVIOUS_RELEASE})`, () => {
  it("the previous release migrated fresh schemas and used them (tasks, agent tokens, brain)", (ctx) => {
    if (!pgUp) ctx.skip();
    expect(firstRun).toMatchObject({ tasks: { created: true, completed: "ok", got: "completed", listed: 1 }, tokens: ["before"], brain: { learner: true, byPhone: true, pending: 1 } });
    expect(Object.keys(before.tq ?? {})).toEqual(expect.arrayContaining(["tasks", "outbox", "agent_tokens"]));
    expect(Object.keys(before.brain ?? {})).toEqual(expect.arrayContaining(["learners", "inbox", "dead_letters"]));
  });

  it.for(["tq", "brain"] as const)("%s: nothing the previous release reads was dropped, renamed or retyped; nothing it writes became required", (name, ctx) => {
    if (!pgUp) ctx.skip();
    const problems = contractProblems(before[name] ?? {}, after[name] ?? {});
    expect(problems.filter((p) => !(p in ACCEPTED))).toEqual([]);
  });

  it("every accepted exception still occurs (none outlives its change)", (ctx) => {
    if (!pgUp) ctx.skip();
    const all = new Set([...contractProblems(before.tq ?? {}, after.tq ?? {}), ...contractProblems(before.brain ?? {}, after.brain ?? {})]);
    expect(Object.keys(ACCEPTED).filter((p) => !all.has(p))).toEqual([]);
  });

  it.for(["tq", "brain"] as const)("%s: the upgraded schema has the same columns as a fresh install of the current release (no applied migration was edited)", (name, ctx) => {
    if (!pgUp) ctx.skip();
    expect(after[name]).toEqual(fresh[name]);
  });

  it("the previous release still runs on the upgraded schemas: migrate (no-op), write, read", (ctx) => {
    if (!pgUp) ctx.skip();
    expect(secondRun).toMatchObject({ tasks: { created: true, completed: "ok", got: "completed", listed: 2 }, tokens: ["after", "before"], brain: { learner: true, byPhone: true, pending: 1 } });
  });
});
