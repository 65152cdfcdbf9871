/**
 * GPU rules: the GPUs a stack declares are within what its tier allows (catalog/tiers.ts
 * `sizes.gpus`), every machine type is one the machine catalogue accepts and, when it carries
 * GPUs, carries the tier's inference GPU (gpu-node/models.ts `tierInference`), and the declared
 * GPUs against the capacity model (advisory: the same `stackCapacityWarnings` plan warns with).
 */
import { machineInfo } from "../../catalog/machines.js";
import { stackCapacityWarnings } from "../../gpu-node/capacity.js";
import { gpus as gpuCatalogue } from "../../gpu-node/models.js";
import type { GpuModel } from "../../gpu-node/types.js";
import { tierInference } from "../../gpu-node/models.js";
import { declaredGpus } from "../assess.js";
import { inputAt, type StackResource } from "../resource.js";
import type { ResourceRule, StackRule } from "./types.js";

export const gpuCount: StackRule = {
  kind: "stack",
  name: "gpu-count",
  description: "The GPUs the stack declares are within the tier's range (catalog/tiers.ts sizes.gpus).",
  enforcementLevel: "mandatory",
  group: "cost",
  check(resources, ctx) {
    const g = declaredGpus(resources);
    const allowed = ctx.config.tier.sizes.gpus;
    if (g.max <= allowed.max && g.max >= allowed.min) return [];
    const where = g.byResource.map((x) => `${x.resource.name} ${x.min === x.max ? x.max : `${x.min}-${x.max}`}`).join(", ") || "none";
    return [{ message: `${g.max} GPU(s) declared (${where}); tier ${ctx.config.tier.name} allows ${allowed.min}-${allowed.max}` }];
  },
};

/** Machine types a resource declares, with the input path each is at. */
function machineTypes(r: StackResource): { path: string; value: string }[] {
  const paths =
    r.type === "gcp:compute/instance:Instance" ? ["machineType"]
    : r.type === "gcp:container/nodePool:NodePool" ? ["nodeConfig.machineType"]
    : r.type === "gcp:container/cluster:Cluster" && inputAt(r, "removeDefaultNodePool") !== true ? ["nodeConfig.machineType"]
    : [];
  return paths.flatMap((path) => {
    const v = inputAt(r, path);
    return typeof v === "string" && v !== "" ? [{ path, value: v.split("/").pop() ?? v }] : [];
  });
}

export const machineFamilies: ResourceRule = {
  kind: "resource",
  name: "machine-families",
  description: "Every machine type is one the machine catalogue accepts (catalog/machines.ts), and one that carries GPUs carries the tier's inference GPU.",
  enforcementLevel: "mandatory",
  group: "cost",
  check(r, ctx) {
    const tierGpu = tierInference[ctx.config.tier.name]?.gpu;
    return machineTypes(r).flatMap(({ path, value }) => {
      const info = machineInfo(value);
      if (!info) return [`${path} = ${value} is not a machine type the catalogue accepts (catalog/machines.ts)`];
      if (info.gpu && info.gpu.model !== tierGpu) return [`${path} = ${value} carries ${info.gpu.count}× ${info.gpu.model}; tier ${ctx.config.tier.name} runs its inference on ${tierGpu ?? "no GPU"}`];
      return [];
    });
  },
};

export const gpuCapacity: StackRule = {
  kind: "stack",
  name: "gpu-capacity",
  description: "The declared GPUs hold the tier's local inference at peak (gpu-node/capacity.ts stackCapacityWarnings, the function plan warns with).",
  enforcementLevel: "advisory",
  group: "cost",
  check(resources, ctx) {
    const declared = declaredGpus(resources);
    const model = declared.byResource.map((g) => g.model).find((m): m is GpuModel => m in gpuCatalogue);
    return stackCapacityWarnings(ctx.config.tier, declared.max, model).map((message) => ({ message }));
  },
};
