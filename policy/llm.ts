/**
 * The LLM projection of a tier, beside its infrastructure: the agents' tokens a day (tier
 * catalogue, at the tier's agent target) and the learners' (catalog/llm-volume.ts, at its learner
 * target), each answered by a model and priced in @tierstack/cost.
 *
 * - Agents: `localShare` of their tokens is meant for local inference, the rest goes to the cloud
 *   model (tierstack:cloudModel). Of the local share, each local model serves what its GPUs hold
 *   at peak (gpu-node/capacity.ts: served = min(1, GPUs × tok/s per GPU ÷ peak tok/s)); the rest
 *   falls back to the same model in the cloud (LiteLLM's fallback, gpu-node/models.ts
 *   `cloudFallback`). Tokens served locally cost nothing per token: their cost is the GPU, which
 *   is in the infrastructure.
 * - Learners: their volume at the model mix of the projection.
 */
import { catalogueModelName, projectLlm, type LlmDemand, type LlmProjection } from "@tierstack/cost";
import { learnerLlmVolume, learnerTokensPerDay } from "../catalog/llm-volume.js";
import type { TierSpec } from "../catalog/tiers.js";
import { capacityParams, gpusNeeded, tokensPerDayAtTarget } from "../gpu-node/capacity.js";
import { models, tierInference } from "../gpu-node/models.js";

export interface LocalServing {
  modelKey: string;
  gpus: number;
  /** Fraction of the model's local tokens its GPUs serve (the rest goes to its cloud fallback). */
  served: number;
}

export interface TierLlm {
  agentsTokensPerDay: number;
  learnerTokensPerDay: number;
  local: LocalServing[];
  projection: LlmProjection;
}

/** The month's LLM spend of a tier with `gpus` GPUs declared, and the cloud model it is configured with. */
export function tierLlm(tier: TierSpec, gpus: number, cloudModel: string): TierLlm {
  const load = { agents: tier.capacity.agents, tokensPerDay: tier.capacity.tokensPerDay, localShare: tier.capacity.localShare };
  const completionShare = capacityParams.completionShare.value;
  const agentsTokensPerDay = tokensPerDayAtTarget(load);
  const demands: LlmDemand[] = [
    { label: "agents, cloud share", tokensPerDay: agentsTokensPerDay * (1 - load.localShare), completionShare, model: catalogueModelName(cloudModel) },
  ];
  const local: LocalServing[] = [];
  const plan = tierInference[tier.name];
  if (plan && load.localShare > 0) {
    const cap = gpusNeeded(tier.name, load, plan, gpus);
    for (const share of plan.shares) {
      const m = cap.models.find((x) => x.modelKey === share.modelKey);
      const model = models[share.modelKey];
      if (!m || !model) throw new Error(`${tier.name}: no capacity or catalogue entry for local model ${share.modelKey}`);
      const served = m.gpusConfigured > 0 ? Math.min(1, (m.gpusConfigured * m.effectiveTps) / m.peakTps) : 0;
      const tokens = agentsTokensPerDay * load.localShare * share.share;
      local.push({ modelKey: share.modelKey, gpus: m.gpusConfigured, served });
      demands.push({ label: `agents, local ${share.modelKey} (served by ${m.gpusConfigured} GPU)`, tokensPerDay: tokens * served, completionShare, model: model.litellmName });
      demands.push({ label: `agents, ${share.modelKey} beyond its GPUs (cloud fallback)`, tokensPerDay: tokens * (1 - served), completionShare, model: model.cloudFallback });
    }
  } else if (load.localShare > 0) {
    demands.push({ label: "agents, local share without an inference plan (cloud model)", tokensPerDay: agentsTokensPerDay * load.localShare, completionShare, model: catalogueModelName(cloudModel) });
  }
  const learners = learnerTokensPerDay(tier.capacity.learners);
  for (const m of learnerLlmVolume.mix) {
    if (tier.capacity.learners > 0) demands.push({ label: `learners (${tier.capacity.learners.toLocaleString("en-US")})`, tokensPerDay: learners * m.share, completionShare: learnerLlmVolume.completionShare, model: m.model });
  }
  return { agentsTokensPerDay, learnerTokensPerDay: learners, local, projection: projectLlm(demands.filter((d) => d.tokensPerDay > 0)) };
}
