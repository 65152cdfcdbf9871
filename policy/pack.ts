/**
 * The rules as @pulumi/policy policies: a resource rule becomes a ResourceValidationPolicy (the
 * engine calls it for each resource, `Analyze`), a stack rule a StackValidationPolicy (once for
 * the whole stack, `AnalyzeStack`). Both hand the rule `StackResource`s through `fromEngine`
 * (policy/resource.ts) and the stack's parsed config, read the way the Pulumi CLI passes it to a
 * policy pack: PULUMI_CONFIG (JSON of every config key, secrets decrypted) and the stack's name in
 * PULUMI_NODEJS_STACK / PULUMI_STACK. Building policies starts nothing; `new PolicyPack` does
 * (policy/index.ts).
 */
import type { Policies, ReportViolation, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { parseStackConfig, type RawConfig } from "../config/config.js";
import { fromEngine } from "./resource.js";
import type { PolicyContext, Rule } from "./rules/types.js";

export const packName = "tierstack-guards";

/** The stack's context as a policy pack process sees it. */
export function contextFromEnv(env: NodeJS.ProcessEnv = process.env): PolicyContext {
  const stack = env.PULUMI_NODEJS_STACK ?? env.PULUMI_STACK ?? "";
  let raw: RawConfig;
  try {
    raw = JSON.parse(env.PULUMI_CONFIG ?? "{}") as RawConfig;
  } catch (err) {
    throw new Error(`${packName}: PULUMI_CONFIG is not JSON (${(err as Error).message})`);
  }
  return { stack, config: parseStackConfig(raw, stack) };
}

/** Computes the context once, on the first policy that needs it. */
export function once(make: () => PolicyContext): () => PolicyContext {
  let ctx: PolicyContext | undefined;
  return () => (ctx ??= make());
}

export function toPolicies(rules: readonly Rule[], context: () => PolicyContext): Policies {
  return rules.map((rule) => {
    const base = { name: rule.name, description: rule.description, enforcementLevel: rule.enforcementLevel };
    if (rule.kind === "resource") {
      return {
        ...base,
        validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
          for (const message of rule.check(fromEngine(args), context())) report(message, args.urn);
        },
      };
    }
    return {
      ...base,
      validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        for (const f of rule.check(args.resources.map(fromEngine), context())) report(f.message, f.urn);
      },
    };
  });
}
