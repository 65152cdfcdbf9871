/**
 * The policy pack's entry, as `pulumi preview --policy-pack policy` runs it: constructing the
 * PolicyPack starts the analyzer's gRPC server and prints its port (never import this file from
 * a test; test policy/pack.ts and the rules instead).
 */
import { PolicyPack } from "@pulumi/policy";
import { contextFromEnv, once, packName, toPolicies } from "./pack.js";
import { rules } from "./rules/index.js";

new PolicyPack(packName, {
  description: "tierstack cost and security guards: the stack's estimated cost within its budget, GPUs and machine families per tier, every resource priced, and the security rules (docs/adr/0006-cost-and-policy.md)",
  policies: toPolicies(rules, once(() => contextFromEnv())),
});
