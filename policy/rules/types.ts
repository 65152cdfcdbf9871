/**
 * What a rule is: a name, a description, an enforcement level and a check, either of one resource
 * (run by the engine on every resource it registers, `Analyze`) or of the whole stack (run once
 * the stack is known, `AnalyzeStack`). Rules are pure: `policy/pack.ts` turns them into
 * @pulumi/policy policies and `evaluate` runs them offline for `tierstack plan`; both give a rule
 * the same `StackResource`s (policy/resource.ts) and the same context.
 */
import type { StackConfig } from "../../config/config.js";
import type { StackResource } from "../resource.js";

export type Level = "mandatory" | "advisory";
export type RuleGroup = "cost" | "security";

/** What every rule is given besides the resources: the stack and its parsed config. */
export interface PolicyContext {
  stack: string;
  config: StackConfig;
}

/** One violation: a one-line message, and the resource it is about (a stack rule may name none). */
export interface Finding {
  message: string;
  urn?: string;
}

interface RuleBase {
  /** kebab-case; the policy's name in the pack. */
  name: string;
  description: string;
  enforcementLevel: Level;
  group: RuleGroup;
}

export interface ResourceRule extends RuleBase {
  kind: "resource";
  /** One message per violation of this resource; none when it complies or the rule does not apply. */
  check(r: StackResource, ctx: PolicyContext): string[];
}

export interface StackRule extends RuleBase {
  kind: "stack";
  check(resources: readonly StackResource[], ctx: PolicyContext): Finding[];
}

export type Rule = ResourceRule | StackRule;

/** A finding with its rule's name and level, as `plan` reports it and the pack's diagnostics carry it. */
export interface Violation {
  policy: string;
  enforcementLevel: Level;
  message: string;
  urn?: string;
}
