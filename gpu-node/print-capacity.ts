/**
 * Prints the capacity model's table for the three tiers (Markdown), from the tier catalogue's
 * load figures and configured GPUs: `npx tsx gpu-node/print-capacity.ts`.
 */
import { tierNames, tiers } from "../catalog/tiers.js";
import { capacityParams, capacityWarnings, gpusNeeded, swapLoss } from "./capacity.js";
import { coResident, tierInference } from "./models.js";

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "—");
const pct = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(0)}%` : "no GPU");

const lines: string[] = [
  "| tier | model | server / GPU | local tok/s avg / peak | tok/s per GPU | GPUs at avg / peak | GPUs needed | configured | utilisation avg / peak |",
  "|---|---|---|---|---|---|---|---|---|",
];
const warnings: string[] = [];
for (const name of tierNames) {
  const spec = tiers[name];
  const plan = tierInference[name];
  if (!plan) throw new Error(`no inference plan for ${name}`);
  const load = { agents: spec.capacity.agents, tokensPerDay: spec.capacity.tokensPerDay, localShare: spec.capacity.localShare };
  const configured = spec.sizes.gpus.default;
  const cap = gpusNeeded(name, load, plan, configured);
  for (const m of cap.models) {
    lines.push(`| ${name} | ${m.modelKey} | ${plan.server} / ${plan.gpu} | ${f(m.averageTps)} / ${f(m.peakTps)} | ${f(m.effectiveTps)} | ${f(m.gpusAtAverage, 2)} / ${f(m.gpusAtPeak, 2)} | ${m.gpusNeeded} | ${m.gpusConfigured} | ${pct(m.utilisationAverage)} / ${pct(m.utilisationPeak)} |`);
  }
  lines.push(`| ${name} | **total** | | ${f(cap.averageTps)} / ${f(cap.peakTps)} | | | **${cap.gpusNeeded}** | **${configured}** | ${cap.holds ? "holds" : "**does not hold**"} |`);
  warnings.push(...capacityWarnings({ tier: name, load, plan }, configured));
}

const thrash = swapLoss({ agents: 50, shares: [0.5, 0.5], coResident: coResident("llama-server", ["llama-3.1-8b-instruct", "qwen3-32b"], "nvidia-l4") });
console.log(lines.join("\n"));
console.log("");
console.log(`Single GPU (one L4) holding the 8B and the 32B in turn at 50 agents (${capacityParams.callsPerAgentPerDay.value} calls per agent a day, ${capacityParams.swapSeconds.min}-${capacityParams.swapSeconds.max} s a swap):`);
console.log(`- ${f(thrash.requestsPerHourAverage)} requests/h on average, ${f(thrash.requestsPerHourPeak)} at peak; P(switch) = ${thrash.switchProbability}`);
console.log(`- ${f(thrash.swapsPerHourAverage)} swaps/h on average: ${f(thrash.lostSecondsPerHourAverage.min, 0)}-${f(thrash.lostSecondsPerHourAverage.max, 0)} s lost per hour (${pct(thrash.lostSecondsPerHourAverage.min / 3600)}-${pct(thrash.lostSecondsPerHourAverage.max / 3600)})`);
console.log(`- ${f(thrash.swapsPerHourPeak)} swaps/h at peak: ${f(thrash.lostSecondsPerHourPeak.min, 0)}-${f(thrash.lostSecondsPerHourPeak.max, 0)} s of every hour${thrash.saturated ? " — thrashing" : ""}`);
console.log("");
console.log("Warnings (`capacityWarnings`, at the catalogue's default GPUs):");
for (const w of warnings) console.log(`- ${w}`);
