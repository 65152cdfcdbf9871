/**
 * `tierstack migrate status | plan | next | verify | rollback | copy | writes | runbooks --stack X`:
 * drives a stack through the staged migration of its tier (migrate/transitions.ts). The state
 * is in the stack's config file; `next` refuses to skip a stage or to contract before the
 * cut-over is verified, each refusal one line saying why. After `next` or `rollback`, run
 * `pulumi up` so the infrastructure converges to the stage. `writes drain|freeze|resume` drives the
 * cut-over write path of the running services (ADR 0043): the task queue's drain and freeze, the
 * brain's reply workers held and resumed.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { MultiBar, Presets } from "cli-progress";
import { parseCommandArgs, UsageError } from "./args.js";
import { runStream, runWrites } from "./migrate-steps.js";
import { defaultStacksDir, stackFileLabel } from "./plan.js";

const usage = "tierstack migrate status|plan|next|verify|rollback|copy|copy-back|writes drain|freeze|resume|stream mirror|switch|compare|runbooks --stack X [--sqlite-dir DIR --pg-url-task-queue URL --pg-url-brain URL] [--ready URL …] [--nats-source URL --nats-target URL --stream NAME --source-domain D --replicas N] [--task-queue URL --brain URL --drain-seconds N --retry-after N]";

export type Out = (line: string) => void;

export async function runMigrate(argv: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseCommandArgs("migrate", usage, argv, {
    stack: { type: "string" },
    "sqlite-dir": { type: "string" },
    "pg-url-task-queue": { type: "string" },
    "pg-url-brain": { type: "string" },
    ready: { type: "string", multiple: true },
    "nats-source": { type: "string" },
    "nats-target": { type: "string" },
    stream: { type: "string" },
    "task-queue": { type: "string" },
    brain: { type: "string" },
    "drain-seconds": { type: "string" },
    "retry-after": { type: "string" },
    "source-domain": { type: "string" },
    replicas: { type: "string" },
  });
  const [command] = positionals;
  const { readState, next, rollback, verified, transitionOf } = await import("../migrate/state.js");
  const { transitionFrom } = await import("../migrate/transitions.js");
  if (command === "runbooks") {
    const { renderRunbooks } = await import("../migrate/runbook.js");
    const dir = join(__dirname, "..", "docs", "migrations");
    for (const [file, text] of Object.entries(renderRunbooks())) {
      writeFileSync(join(dir, file), text);
      out(`wrote docs/migrations/${file}`);
    }
    return 0;
  }
  if (!values.stack) throw new UsageError(`migrate: --stack is required; usage: ${usage}`);
  const { readStackConfig, writeStackConfig } = await import("../migrate/stack-file.js");
  const file = join(defaultStacksDir(), `Pulumi.${values.stack}.yaml`);
  const label = stackFileLabel(file);
  const state = readState(readStackConfig(file));
  const apply = (move: ReturnType<typeof next>, done: string): number => {
    if (!move.ok) {
      err(`migrate ${values.stack}: ${move.why}`);
      return 1;
    }
    writeStackConfig(file, move.config);
    out(`${done}; ${label} updated: ${Object.entries(move.config).map(([k, v]) => `${k}=${v || "(unset)"}`).join(", ")}`);
    if (command === "next" && move.ok && move.state.stage === "cutover") {
      out(`before pulumi up: drain and freeze the writes, copy, move the stream and verify (docs/migrations/${move.state.tier === "tier-50" ? "single-box-to-tier-50" : "tier-50-to-tier-100"}.md, stage 3); then run: pulumi up`);
    } else if (command !== "verify") out("now run: pulumi up");
    return 0;
  };

  switch (command) {
    case "status": {
      const t = transitionOf(state);
      if (!t || !state.stage) {
        const n = transitionFrom(state.tier);
        out(`${values.stack}: tier ${state.tier}, not migrating${n ? `; next: tierstack migrate next --stack ${values.stack} starts ${n.from} → ${n.to}` : " (the last tier)"}`);
      } else {
        const ok = state.verified === state.stage;
        out(`${values.stack}: ${t.from} → ${t.to}, stage ${state.stage} (${ok ? "verified" : "not verified yet"}), tier ${state.tier}`);
        out(ok ? `next: tierstack migrate next --stack ${values.stack}` : `next: tierstack migrate verify --stack ${values.stack}`);
      }
      return 0;
    }
    case "plan": {
      const t = transitionOf(state) ?? transitionFrom(state.tier);
      if (!t) {
        out(`${values.stack}: ${state.tier} is the last tier`);
        return 0;
      }
      out(`${t.from} → ${t.to}: ${t.summary}`);
      for (const s of t.stages) out(`${s.id === state.stage ? "▶" : " "} ${s.id.padEnd(9)} ${s.title}${s.data ? ` — data: ${s.data}` : ""}`);
      return 0;
    }
    case "next": {
      const move = next(state);
      return apply(move, `${values.stack}: ${move.ok && move.state.stage ? `now at stage ${move.state.stage}` : "migration finished"}`);
    }
    case "rollback":
      return apply(rollback(state), `${values.stack}: rolled back`);
    case "verify": {
      const problems = await verifyStage(state, values);
      if (problems.length > 0) {
        for (const p of problems) err(`migrate ${values.stack}: verification failed: ${p}`);
        return 1;
      }
      return apply(verified(state), `${values.stack}: stage ${state.stage} verified`);
    }
    case "copy": {
      if (state.stage !== "copy" && state.stage !== "cutover") {
        err(`migrate ${values.stack}: copy runs at the copy and cutover stages; the stack is at ${state.stage ?? "no migration"}`);
        return 1;
      }
      const stores = storeUrls(values, state.stage);
      if (state.stage === "copy") await snapshot(stores);
      const { copyStore, emptyTarget, openMove } = await import("../migrate/stores.js");
      const bars = new MultiBar({ format: "{store} {table} [{bar}] {value}/{total} rows, ETA {eta_formatted}", hideCursor: true, stream: process.stderr }, Presets.shades_classic);
      try {
        for (const s of stores) {
          const m = await openMove(s.store, s.sqlite, s.pg);
          const bar = new Map<string, ReturnType<MultiBar["create"]>>();
          try {
            // At cut-over the box has stopped taking writes: empty the target and copy it all again.
            if (state.stage === "cutover") await emptyTarget(m);
            const copied = await copyStore(m, {
              onProgress: (table, done, total) => {
                const b = bar.get(table) ?? bars.create(total, 0, { store: s.store, table });
                bar.set(table, b);
                b.update(done, { store: s.store, table });
              },
            });
            out(`${s.store}: ${Object.entries(copied).map(([t, n]) => `${t} ${n}`).join(", ")} rows copied`);
          } finally {
            await m.close();
          }
        }
      } finally {
        bars.stop();
      }
      return 0;
    }
    case "copy-back": {
      if (state.stage !== "cutover") {
        err(`migrate ${values.stack}: copy-back returns the stores to SQLite from the cutover stage, before tierstack migrate rollback; the stack is at ${state.stage ?? "no migration"}`);
        return 1;
      }
      const { openMove } = await import("../migrate/stores.js");
      const { copyBack } = await import("../migrate/postgres-to-sqlite.js");
      for (const s of storeUrls(values, state.stage)) {
        const m = await openMove(s.store, s.sqlite, s.pg);
        try {
          const changed = await copyBack(m);
          out(`${s.store}: ${Object.entries(changed).filter(([, c]) => c.inserted + c.updated + c.deleted > 0).map(([t, c]) => `${t} +${c.inserted} ~${c.updated} -${c.deleted}`).join(", ") || "nothing changed"} (SQLite brought to PostgreSQL's rows)`);
        } finally {
          await m.close();
        }
      }
      return 0;
    }
    case "stream":
      return runStream(positionals[1], state, values, usage, out, err);
    case "writes": {
      if (state.stage !== "cutover") {
        err(`migrate ${values.stack}: the write path is drained and frozen at the cutover stage; the stack is at ${state.stage ?? "no migration"}`);
        return 1;
      }
      // --drain-seconds wins over the stack's tierstack:cutoverDrainSeconds (default 30).
      const drain = values["drain-seconds"] ?? readStackConfig(file)["tierstack:cutoverDrainSeconds"];
      return runWrites(positionals[1], { ...values, ...(drain === undefined ? {} : { "drain-seconds": drain }) }, usage, out, err);
    }
    default:
      throw new UsageError(`migrate: unknown command ${JSON.stringify(command ?? "")}; usage: ${usage}`);
  }
}

interface VerifyFlags {
  "sqlite-dir"?: string;
  "pg-url-task-queue"?: string;
  "pg-url-brain"?: string;
  ready?: string[];
  "nats-source"?: string;
  "nats-target"?: string;
  stream?: string;
}

/**
 * The SQLite files each store is copied from. At the copy stage the box keeps serving, so the
 * copy and its verification read a snapshot (VACUUM INTO <sqlite-dir>/migrate-snapshot/, taken by
 * the first `migrate copy` and kept for its resumption); at cut-over the services have stopped
 * writing and the live files are read.
 */
function storeUrls(v: VerifyFlags, stage?: string) {
  if (!v["sqlite-dir"] || !v["pg-url-task-queue"] || !v["pg-url-brain"]) {
    throw new UsageError("migrate: the stores need --sqlite-dir DIR, --pg-url-task-queue URL and --pg-url-brain URL");
  }
  const dir = stage === "copy" ? join(v["sqlite-dir"], "migrate-snapshot") : v["sqlite-dir"];
  return [
    { store: "task-queue" as const, sqlite: join(dir, "task-queue.db"), live: join(v["sqlite-dir"], "task-queue.db"), pg: v["pg-url-task-queue"] },
    { store: "brain" as const, sqlite: join(dir, "brain.db"), live: join(v["sqlite-dir"], "brain.db"), pg: v["pg-url-brain"] },
  ];
}

/** The current stage's checks, one line per failure (empty when it passed). */
async function verifyStage(state: { tier: string; target?: string; stage?: string }, v: VerifyFlags): Promise<string[]> {
  if (!state.stage) return ["the stack is not in a migration: nothing to verify (tierstack migrate next starts one)"];
  const problems: string[] = [];
  const storesMove = state.target === "tier-50" && (state.stage === "copy" || state.stage === "cutover");
  const streamMove = state.target === "tier-100" && state.stage === "copy";
  if (storesMove) {
    const { openMove, verifyStore } = await import("../migrate/stores.js");
    const stores = storeUrls(v, state.stage);
    if (state.stage === "copy" && !stores.every((s) => existsSync(s.sqlite))) return ["no snapshot of the stores yet: run tierstack migrate copy first"];
    for (const s of stores) {
      const m = await openMove(s.store, s.sqlite, s.pg);
      try {
        for (const d of await verifyStore(m)) problems.push(`${s.store}: ${d.table} key ${d.key} column ${d.column}: source ${d.source}, target ${d.target}`);
      } finally {
        await m.close();
      }
    }
  }
  // The stream: the mirror's check at tier-100's copy; at tier-50's cut-over, before publishers switch.
  if (streamMove || (storesMove && state.stage === "cutover" && (v["nats-source"] || v["nats-target"]))) {
    if (!v["nats-source"] || !v["nats-target"]) throw new UsageError("migrate: the stream check needs --nats-source URL and --nats-target URL (and --stream, default TASKS)");
    const { streamCatchUp } = await import("../migrate/nats.js");
    const name = v.stream ?? "TASKS";
    const c = await streamCatchUp({ from: { servers: v["nats-source"], stream: name, domain: "" }, to: { servers: v["nats-target"], stream: name } });
    if (!c.caughtUp) problems.push(`stream ${name}: source at sequence ${c.sourceLastSeq} with ${c.sourceMessages} messages, target has ${c.targetMessages} messages up to source sequence ${c.lastSourcedSeq}`);
  }
  if (storesMove || streamMove) {
    for (const url of v.ready ?? []) {
      const status = await fetch(url).then((r) => r.status, (e: Error) => e.message);
      if (status !== 200) problems.push(`${url} answered ${status}`);
    }
  } else {
    if (!v.ready?.length) throw new UsageError(`migrate: stage ${state.stage} is verified by readiness checks: pass --ready URL (repeatable) for each new service`);
    for (const url of v.ready) {
      const status = await fetch(url).then((r) => r.status, (e: Error) => e.message);
      if (status !== 200) problems.push(`${url} answered ${status}`);
    }
  }
  return problems;
}

/** A consistent copy of each live SQLite file (VACUUM INTO reads one snapshot while the service writes); kept once taken. */
async function snapshot(stores: { sqlite: string; live: string }[]): Promise<void> {
  const { default: Database } = await import("better-sqlite3");
  for (const s of stores) {
    if (existsSync(s.sqlite)) continue;
    mkdirSync(dirname(s.sqlite), { recursive: true });
    const db = new Database(s.live, { fileMustExist: true, readonly: true });
    try {
      db.prepare("VACUUM INTO ?").run(s.sqlite);
    } finally {
      db.close();
    }
  }
}
