/**
 * Placement: where a learner's conversation runs. "shared" is this process (its LLM client
 * answers); "dedicated" is the learner's own sandbox (gVisor locally, agent-sandbox on
 * tier-100), which answers through the same LlmClient shape: the worker forwards the request to
 * it and relays what it returns, and everything else (history, usage, the outbound record, the
 * send) stays in the brain, so a learner who leaves the dedicated plan keeps their history.
 *
 * dedicatedPlacement puts a learner whose plan says "dedicated" in their sandbox of a
 * SandboxRuntime (sandbox/runtime.ts): claimed on their first message, released after idleMs
 * without one, claimed again on the next. A sandbox that dies mid-answer is replaced and the
 * request forwarded once more; a second failure goes back to the worker, which retries the
 * message like an LLM failure. A learner on another plan is released and answered shared.
 */
import type { FastifyBaseLogger } from "fastify";
import type { LlmClient } from "./llm.js";
import { plans, type PlanId } from "./plans.js";
import { SandboxGone, type SandboxRuntime } from "./sandbox/runtime.js";

export type PlacementTarget = { kind: "shared" } | { kind: "dedicated"; sandbox: string; llm: LlmClient };

export interface Placement {
  place(learner: { id: string; plan: PlanId }): Promise<PlacementTarget>;
}

/** Every learner ⇒ shared (this process), whatever the plan says; the only placement before tier-100. */
export function sharedPlacement(): Placement {
  return {
    place: () => Promise.resolve({ kind: "shared" }),
  };
}

export interface DedicatedPlacementOptions {
  runtime: SandboxRuntime;
  /** The brain's LLM client: the sandboxes' LLM calls come back over their channel and are made with it. */
  llm: LlmClient;
  /** Release a sandbox after this long without a message (default 10 minutes). */
  idleMs?: number;
  /** How often idle sandboxes are looked for (default min(idleMs, 30 s)). */
  sweepMs?: number;
  now?: () => number;
  log?: FastifyBaseLogger;
}

export interface DedicatedPlacement extends Placement {
  /** Release every sandbox idle for idleMs or more (the timer calls it; tests may too). */
  sweep(): Promise<void>;
  /** Stop the timer and release every sandbox. */
  close(): Promise<void>;
}

export function dedicatedPlacement(opts: DedicatedPlacementOptions): DedicatedPlacement {
  const { runtime } = opts;
  const now = opts.now ?? Date.now;
  const idleMs = opts.idleMs ?? 10 * 60_000;
  const lastUsed = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const touch = (id: string) => lastUsed.set(id, now());

  const forward = (learnerId: string): LlmClient => ({
    async complete(req) {
      inFlight.set(learnerId, (inFlight.get(learnerId) ?? 0) + 1);
      touch(learnerId);
      try {
        try {
          return await runtime.ask(learnerId, req, opts.llm);
        } catch (err) {
          if (!(err instanceof SandboxGone)) throw err;
          opts.log?.warn({ err: err.message }, "learner sandbox gone mid-answer: replacing it");
          await runtime.release(learnerId);
          return await runtime.ask(learnerId, req, opts.llm);
        }
      } finally {
        inFlight.set(learnerId, (inFlight.get(learnerId) ?? 1) - 1);
        touch(learnerId);
      }
    },
  });

  async function sweep(): Promise<void> {
    const t = now();
    for (const s of runtime.list()) {
      if ((inFlight.get(s.learnerId) ?? 0) > 0 || t - (lastUsed.get(s.learnerId) ?? 0) < idleMs) continue;
      lastUsed.delete(s.learnerId);
      await runtime.release(s.learnerId).catch((err: unknown) => opts.log?.error({ err }, "sandbox release failed"));
    }
  }
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    sweeping ??= sweep().finally(() => (sweeping = undefined));
  }, opts.sweepMs ?? Math.min(idleMs, 30_000));
  timer.unref();

  return {
    async place(learner) {
      if (plans[learner.plan]?.placement !== "dedicated") {
        // Left the dedicated plan (or never on it): no sandbox; the history is the brain's anyway.
        if (runtime.status(learner.id)) await runtime.release(learner.id);
        return { kind: "shared" };
      }
      touch(learner.id);
      const s = await runtime.claim(learner.id);
      return { kind: "dedicated", sandbox: s.name, llm: forward(learner.id) };
    },
    sweep,
    async close() {
      clearInterval(timer);
      await sweeping;
      await runtime.close();
    },
  };
}
