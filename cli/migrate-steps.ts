/**
 * The cut-over steps of `tierstack migrate` (cli/migrate.ts dispatches to them): `writes
 * drain|freeze|resume`, the write path of the running services (ADR 0043), and `stream
 * mirror|switch|compare`, the JetStream stream across a leaf node (migrate/nats.ts).
 */
import { intOption, UsageError } from "./args.js";
import type { Out } from "./migrate.js";
interface WritesFlags {
  "task-queue"?: string;
  brain?: string;
  "drain-seconds"?: string;
  "retry-after"?: string;
}

/**
 * The cut-over write path of the running services (ADR 0043). drain: the task queue stops
 * handing out claims and waits up to --drain-seconds for the leases held; the brain's reply
 * workers are held (webhooks are still acknowledged into the inbox) until none holds a learner.
 * freeze: the task queue refuses every write until the switch. resume: both back to normal (a
 * cut-over called off, or the old side taking over again after a rollback). Tokens come from the
 * environment: TIERSTACK_OPERATOR_TOKEN (an agent token of tierstack-operator) and BRAIN_ADMIN_TOKEN.
 */
export async function runWrites(step: string | undefined, v: WritesFlags, usage: string, out: Out, err: Out): Promise<number> {
  if (step !== "drain" && step !== "freeze" && step !== "resume") throw new UsageError(`migrate writes: expected drain, freeze or resume; usage: ${usage}`);
  const tq = v["task-queue"];
  const brain = v.brain;
  if (!tq && !brain) throw new UsageError("migrate writes: name the services on the old side: --task-queue URL and/or --brain URL");
  const drainSeconds = intOption("migrate", "drain-seconds", v["drain-seconds"], 30, 0);
  if (drainSeconds > 3600) throw new UsageError(`migrate writes: --drain-seconds (or tierstack:cutoverDrainSeconds) = ${drainSeconds}; accepted: 0-3600`);
  const call = async (base: string, method: "GET" | "POST", path: string, tokenVar: string, body?: unknown) => {
    const token = process.env[tokenVar];
    if (!token) throw new UsageError(`migrate writes: ${tokenVar} is not set`);
    const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${base}${path} answered ${r.status}: ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  try {
    if (tq) {
      const path = step === "drain" ? "/admin/cutover/drain" : step === "freeze" ? "/admin/cutover/freeze" : "/admin/cutover/resume";
      const s = await call(tq, "POST", path, "TIERSTACK_OPERATOR_TOKEN", step === "drain" ? { seconds: drainSeconds, ...(v["retry-after"] ? { retryAfterSeconds: intOption("migrate", "retry-after", v["retry-after"], 5, 1) } : {}) } : {});
      out(`task-queue: ${s.mode}; leases held ${s.leasesHeld}, outbox unpublished ${s.unpublished}${step === "drain" ? `, ${s.leasesFinished ? "every lease finished" : `gave up after ${drainSeconds} s`} (${s.waitedMs} ms)` : ""}`);
    }
    if (brain && step !== "freeze") {
      let w = (await call(brain, "POST", `/admin/workers/${step === "drain" ? "hold" : "resume"}`, "BRAIN_ADMIN_TOKEN")).workers as { held: boolean; busy: number };
      const end = Date.now() + drainSeconds * 1000;
      while (step === "drain" && w.busy > 0 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
        w = (await call(brain, "GET", "/admin/workers", "BRAIN_ADMIN_TOKEN")).workers as { held: boolean; busy: number };
      }
      out(`brain: workers ${w.held ? "held" : "running"}, ${w.busy} still answering${step === "drain" && w.busy > 0 ? ` after ${drainSeconds} s` : ""}`);
      if (step === "drain" && w.busy > 0) return 1;
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    err(`migrate writes ${step}: ${(e as Error).message}`);
    return 1;
  }
  return 0;
}

interface StreamFlags {
  "nats-source"?: string;
  "nats-target"?: string;
  stream?: string;
  "source-domain"?: string;
  replicas?: string;
}

/**
 * The JetStream stream move (migrate/nats.ts): mirror at the copy stage (the new stream sources
 * the old one over the leaf node), switch at cut-over once publishers have stopped and it has
 * caught up (old subjects retired, the new stream takes them), compare afterwards (every old
 * message once, in order).
 */
export async function runStream(step: string | undefined, state: { stage?: string; target?: string }, v: StreamFlags, usage: string, out: Out, err: Out): Promise<number> {
  const at: Record<string, string[]> = { mirror: ["copy"], switch: ["cutover"], compare: ["cutover", "contract"] };
  const stages = step ? at[step] : undefined;
  if (!stages) throw new UsageError(`migrate stream: expected mirror, switch or compare; usage: ${usage}`);
  if (!state.stage || !stages.includes(state.stage)) {
    err(`migrate stream ${step}: runs at the ${stages.join(" or ")} stage; the stack is at ${state.stage ?? "no migration"}`);
    return 1;
  }
  if (!v["nats-source"] || !v["nats-target"]) throw new UsageError("migrate stream: needs --nats-source URL (the old node) and --nats-target URL (the new one); --source-domain (default box on single-box, tier50 on tier-50), --stream (default TASKS)");
  const { compareStreams, mirrorStream, switchStream, waitCaughtUp } = await import("../migrate/nats.js");
  const stream = v.stream ?? "TASKS";
  const domain = v["source-domain"] ?? (state.target === "tier-50" ? "box" : "tier50");
  const spec = { from: { servers: v["nats-source"], stream, domain }, to: { servers: v["nats-target"], stream, ...(v.replicas ? { replicas: intOption("migrate", "replicas", v.replicas, 1, 1) } : {}) } };
  try {
    if (step === "mirror") {
      await mirrorStream(spec);
      const c = await waitCaughtUp(spec);
      out(`stream ${stream}: sourced from domain ${domain}, caught up at sequence ${c.sourceLastSeq} (${c.sourceMessages} messages)`);
    } else if (step === "switch") {
      const c = await waitCaughtUp(spec);
      const subjects = await switchStream(spec);
      out(`stream ${stream}: switched at sequence ${c.sourceLastSeq} (${c.sourceMessages} messages); the new stream takes ${subjects.join(", ")}`);
    } else {
      const c = await compareStreams(spec);
      for (const p of c.problems) err(`migrate stream compare: ${p}`);
      out(`stream ${stream}: ${c.sourced} messages from the old stream, ${c.direct} published since the switch${c.sameSequences ? ", sequence numbers kept" : ""}`);
      return c.problems.length ? 1 : 0;
    }
  } catch (e) {
    err(`migrate stream ${step}: ${(e as Error).message}`);
    return 1;
  }
  return 0;
}
