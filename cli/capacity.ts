/**
 * `tierstack capacity --agents N [--products M] [--learners L] [--json]`: the smallest tier whose
 * limits hold for that load, and for each tier which subsystem hits its wall first and at what
 * load. Limits are the tier catalogue's targets (catalog/tiers.ts) and, where a benchmark in
 * bench/ measured a subsystem, that measurement with its run and machine; the load a subsystem
 * sees comes from stated planning figures (gpu-node/capacity.ts capacityParams, the brain's plan
 * quotas) and assumptions, each named in the output. Local inference is a soft limit: beyond its
 * GPUs, tokens fall back to the cloud (they cost more, `tierstack cost`), nothing stops.
 */
import { tierNames, tiers, type TierSpec } from "../catalog/tiers.js";
import { capacityParams, gpusNeeded } from "../gpu-node/capacity.js";
import { tierInference } from "../gpu-node/models.js";
import { plans } from "../services/brain/src/plans.js";
import { intOption, parseCommandArgs } from "./args.js";

const SECONDS_PER_DAY = 86_400;

export interface Measured {
  value: number;
  unit: string;
  /** The run (file, section, commit) and the machine it ran on. */
  source: string;
}

/** Throughputs the benchmarks measured (one process, as run); read as ratios in their logs, used here as planning limits. */
export const measured = {
  queueSqlite: { value: 4_823, unit: "cycles/s", source: "bench/queue/RESULTS.md Run C (07:15 UTC, quiet machine, commit 705a78a+): task-queue SQLite store, in process, 100 workers, on a 2-vCPU VM" },
  queueHttpPostgres: { value: 2_766, unit: "cycles/s", source: "bench/queue/RESULTS.md Run C (07:15 UTC, quiet machine, commit 705a78a+): HTTP end to end, claim + complete, PostgreSQL, 100 agents, on a 2-vCPU VM" },
  gatewayReplica: { value: 2_525, unit: "calls/s", source: "bench/gateway/RESULTS.md quiet-machine run 2 (07:20 UTC): 100 clients through one gateway to one replica, 2,525 calls/s (run 1: 2,665), three processes on a 2-vCPU VM" },
  brainSqlite: { value: 875, unit: "replies/s", source: "bench/brain/RESULTS.md run at daa69cb (modelled LLM latency, median 1.5 s): SQLite, the highest offered rate that held replies ÷ inbound ≥ 0.95 with a bounded backlog (875 msg/s; 1,000 did not), one replica on the shared 2-vCPU development box" },
  brainPostgres: { value: 250, unit: "replies/s", source: "bench/brain/RESULTS.md run at daa69cb (modelled LLM latency, median 1.5 s): PostgreSQL, the highest offered rate that held replies ÷ inbound ≥ 0.95 with a bounded backlog (250 msg/s; 375 did not), one replica and its database on the shared 2-vCPU development box" },
  whatsappSendRate: { value: 80, unit: "messages/s", source: "WhatsApp Cloud API default throughput per business number, 80 messages a second (https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput; docs/architecture.md)" },
} satisfies Record<string, Measured>;

/** How load turns into work for each subsystem: planning figures and assumptions, each stated. */
export const demand = {
  llmCallsPerAgentPerDay: capacityParams.callsPerAgentPerDay,
  peakToAverage: capacityParams.peakToAverage,
  queueCyclesPerLlmCall: { value: 1, reason: "assumption: one task claim + complete per LLM call (an upper bound: a task usually spans several calls)" },
  toolCallsPerLlmCall: { value: 1, reason: "assumption: one MCP tool call through the gateway per LLM call" },
  learnerMessagesPerDay: { value: plans.free.messagesPerDay, reason: "the brain's free-plan quota (services/brain/src/plans.ts), as an upper bound of what a learner sends a day" },
};

export type LoadUnit = "agents" | "products" | "learners";

export interface SubsystemLimit {
  subsystem: string;
  unit: LoadUnit;
  /** The most load (in `unit`) the subsystem holds on this tier. */
  wall: number;
  /** A hard limit decides whether the tier holds; a soft one costs more beyond its wall. */
  hard: boolean;
  limit: string;
  source: string;
}

const perAgentPerSecondAtPeak = () => (demand.llmCallsPerAgentPerDay.value * demand.peakToAverage.value) / SECONDS_PER_DAY;
const perLearnerPerSecondAtPeak = () => (demand.learnerMessagesPerDay.value * demand.peakToAverage.value) / SECONDS_PER_DAY;

/** Every limit of a tier, in the units of the load that meets it. */
export function tierLimits(tier: TierSpec): SubsystemLimit[] {
  const cat = "catalog/tiers.ts capacity targets";
  const out: SubsystemLimit[] = [
    { subsystem: "agents target", unit: "agents", wall: tier.capacity.agents, hard: true, limit: `${tier.capacity.agents} agents`, source: cat },
    { subsystem: "products target", unit: "products", wall: tier.capacity.products, hard: true, limit: `${tier.capacity.products} products`, source: cat },
    { subsystem: "learners target", unit: "learners", wall: tier.capacity.learners, hard: true, limit: tier.capacity.learners === 0 ? "no learner target" : `${tier.capacity.learners.toLocaleString("en-US")} learners`, source: cat },
  ];
  const agentRate = perAgentPerSecondAtPeak();
  const queue = tier.subsystems.store === "sqlite" ? measured.queueSqlite : measured.queueHttpPostgres;
  out.push({
    subsystem: `task queue (${tier.subsystems.store})`, unit: "agents", hard: true,
    wall: Math.floor(queue.value / (agentRate * demand.queueCyclesPerLlmCall.value)),
    limit: `${queue.value.toLocaleString("en-US")} ${queue.unit}`, source: queue.source,
  });
  const replicas = tier.sizes.gatewayShards.default * tier.sizes.gatewayReplicas.default;
  out.push({
    subsystem: `MCP gateway (${tier.sizes.gatewayShards.default} shard(s) × ${tier.sizes.gatewayReplicas.default} replica(s))`, unit: "agents", hard: true,
    wall: Math.floor((measured.gatewayReplica.value * replicas) / (agentRate * demand.toolCallsPerLlmCall.value)),
    limit: `${replicas} × ${measured.gatewayReplica.value.toLocaleString("en-US")} ${measured.gatewayReplica.unit} (assumption: replicas scale linearly, each on its own core)`, source: measured.gatewayReplica.source,
  });
  const brain = tier.subsystems.store === "sqlite" ? measured.brainSqlite : measured.brainPostgres;
  const learnerRate = perLearnerPerSecondAtPeak();
  out.push({
    subsystem: `brain replies (${tier.subsystems.store}, one replica)`, unit: "learners", hard: true,
    wall: Math.floor(brain.value / learnerRate), limit: `${brain.value.toLocaleString("en-US")} ${brain.unit}`, source: brain.source,
  });
  out.push({
    subsystem: "WhatsApp send rate (one number)", unit: "learners", hard: true,
    wall: Math.floor(measured.whatsappSendRate.value / learnerRate), limit: `${measured.whatsappSendRate.value} ${measured.whatsappSendRate.unit}`, source: measured.whatsappSendRate.source,
  });
  const plan = tierInference[tier.name];
  if (plan) {
    // Local tokens scale with agents; the wall is where the busiest model's GPUs are full at peak.
    const load = { agents: tier.capacity.agents, tokensPerDay: tier.capacity.tokensPerDay, localShare: tier.capacity.localShare };
    const cap = gpusNeeded(tier.name, load, plan, tier.sizes.gpus.default);
    const walls = cap.models.map((m) => (m.gpusConfigured === 0 ? 0 : Math.floor((tier.capacity.agents * m.gpusConfigured * m.effectiveTps) / m.peakTps)));
    out.push({
      subsystem: `local inference (${tier.sizes.gpus.default}× ${plan.gpu}, ${plan.server})`, unit: "agents", hard: false,
      wall: Math.min(...walls), limit: cap.models.map((m) => `${m.modelKey} ${m.gpusConfigured} GPU × ${m.effectiveTps.toFixed(0)} tok/s`).join(", "),
      source: "gpu-node/capacity.ts (throughput figures cited or derived there); beyond it the local share falls back to the cloud",
    });
  }
  return out;
}

export interface Load {
  agents: number;
  products: number;
  learners: number;
}

export interface TierVerdict {
  tier: string;
  built: boolean;
  holds: boolean;
  /** The hard limit the load is nearest to (or beyond): lowest wall relative to the load in its unit. */
  firstWall: SubsystemLimit;
  /** Hard limits the load exceeds. */
  exceeded: SubsystemLimit[];
  limits: SubsystemLimit[];
}

/** Load ÷ wall: above 1, the subsystem does not hold. A wall of 0 holds only no load. */
function pressure(l: SubsystemLimit, load: Load): number {
  const n = load[l.unit];
  return l.wall === 0 ? (n === 0 ? 0 : Infinity) : n / l.wall;
}

export function assessCapacity(load: Load): { verdicts: TierVerdict[]; smallest?: string } {
  const verdicts = tierNames.map((name): TierVerdict => {
    const limits = tierLimits(tiers[name]);
    const hard = limits.filter((l) => l.hard);
    const exceeded = hard.filter((l) => pressure(l, load) > 1);
    // With no load in a unit, its wall is not approached: rank the walls of the units under load.
    const loaded = hard.filter((l) => load[l.unit] > 0);
    const ranked = [...(loaded.length > 0 ? loaded : hard)].sort((a, b) => pressure(b, load) - pressure(a, load) || a.wall - b.wall);
    return { tier: name, built: tiers[name].built, holds: exceeded.length === 0, firstWall: ranked[0] ?? (hard[0] as SubsystemLimit), exceeded, limits };
  });
  const smallest = verdicts.find((v) => v.holds)?.tier;
  return { verdicts, ...(smallest ? { smallest } : {}) };
}

const n = (x: number) => (Number.isFinite(x) ? x.toLocaleString("en-US") : "∞");

export function renderCapacity(load: Load, result: ReturnType<typeof assessCapacity>): string {
  const out: string[] = [
    `load: ${n(load.agents)} agents, ${n(load.products)} products, ${n(load.learners)} learners`,
    result.smallest ? `smallest tier whose limits hold: ${result.smallest}${tiers[result.smallest as keyof typeof tiers].built ? "" : " (catalogued, not built yet)"}` : "no catalogued tier holds this load",
    "",
  ];
  for (const v of result.verdicts) {
    out.push(`${v.tier}${v.built ? "" : " (not built yet)"}: ${v.holds ? "holds" : `does not hold (${v.exceeded.map((l) => l.subsystem).join(", ")})`}; first wall: ${v.firstWall.subsystem} at ${n(v.firstWall.wall)} ${v.firstWall.unit}`);
    for (const l of v.limits) {
      out.push(`  ${l.hard ? " " : "~"} ${l.subsystem.padEnd(48)} wall ${`${n(l.wall)} ${l.unit}`.padEnd(18)} ${l.limit}`);
    }
    out.push("");
  }
  out.push("~ = soft limit (beyond it local tokens go to the cloud fallback; it costs, it does not stop)");
  out.push(`load per agent: ${demand.llmCallsPerAgentPerDay.value} LLM calls a day (${demand.llmCallsPerAgentPerDay.provenance.kind === "cited" ? demand.llmCallsPerAgentPerDay.provenance.source : "assumption"}), peak ${demand.peakToAverage.value}× the average; ${demand.queueCyclesPerLlmCall.reason}; ${demand.toolCallsPerLlmCall.reason}`);
  out.push(`load per learner: ${demand.learnerMessagesPerDay.value} messages a day, ${demand.learnerMessagesPerDay.reason}, peak ${demand.peakToAverage.value}×`);
  out.push("sources of the measured limits:");
  for (const m of Object.values(measured)) out.push(`  ${m.value.toLocaleString("en-US")} ${m.unit}: ${m.source}`);
  return `${out.join("\n")}\n`;
}

const usage = "tierstack capacity --agents N [--products M] [--learners L] [--json]";

/** Runs the command; usage errors throw UsageError (one line, exit 2 in cli/main.ts). */
export function runCapacity(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  const parsed = parseCommandArgs("capacity", usage, argv, {
    agents: { type: "string" }, products: { type: "string" }, learners: { type: "string" }, json: { type: "boolean" },
  });
  if (parsed.positionals.length > 0 || parsed.values.agents === undefined) {
    err(`capacity: expected --agents N; usage: ${usage}\n`);
    return 2;
  }
  const load: Load = {
    agents: intOption("capacity", "agents", parsed.values.agents, 0),
    products: intOption("capacity", "products", parsed.values.products, 0),
    learners: intOption("capacity", "learners", parsed.values.learners, 0),
  };
  const result = assessCapacity(load);
  out(parsed.values.json === true ? `${JSON.stringify({ load, ...result }, null, 2)}\n` : renderCapacity(load, result));
  return 0;
}
