/**
 * The one way a rule sees a resource: its type, name, URN, inputs and the options that matter
 * (protect), whether it came from the Pulumi engine (the policy pack's `PolicyResource`) or from
 * a plan recorded offline under Pulumi's mocks. Both paths produce the same `StackResource`, and
 * every rule reads inputs through `inputAt`, so no rule is written twice.
 *
 * The engine hands a policy pack plain values (secret markers unwrapped by @pulumi/policy's
 * deserializer), so the plan path unwraps them too: a rule sees what the pack sees.
 */
import * as pulumi from "@pulumi/pulumi";
import { readPath } from "@tierstack/cost";

export interface ResourceOptionsSeen {
  /** `protect: true`: Pulumi refuses to delete the resource. */
  protect: boolean;
  /** URN of the parent resource, when there is one. */
  parent?: string;
}

export interface StackResource {
  type: string;
  name: string;
  urn: string;
  inputs: Record<string, unknown>;
  options: ResourceOptionsSeen;
}

/** The value at a dotted path of a resource's inputs ("nodeConfig.machineType"), or undefined. */
export function inputAt(r: StackResource, path: string): unknown {
  return readPath(r.inputs, path);
}

/** What @pulumi/policy passes a policy (ResourceValidationArgs or a stack's PolicyResource). */
export interface EngineResource {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  opts: { protect?: boolean; parent?: string };
}

/** From the engine: inputs are the props as given (proxied: reading an unknown value during a preview throws). */
export function fromEngine(r: EngineResource): StackResource {
  return {
    type: r.type,
    name: r.name,
    urn: r.urn,
    inputs: r.props,
    options: { protect: r.opts.protect === true, ...(r.opts.parent ? { parent: r.opts.parent } : {}) },
  };
}

/** Secret markers removed, as the policy pack's deserializer removes them. */
export function unwrapSecrets(value: unknown): unknown {
  if (pulumi.runtime.isRpcSecret(value)) return unwrapSecrets((value as { value: unknown }).value);
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

/** A resource a plan recorded: raw inputs (secret-marked), its engine-shaped URN and options. */
export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  urn: string;
  protect: boolean;
  parent?: string;
}

/** From a recorded plan. */
export function fromRecorded(r: RecordedResource): StackResource {
  return {
    type: r.type,
    name: r.name,
    urn: r.urn,
    inputs: unwrapSecrets(r.inputs) as Record<string, unknown>,
    options: { protect: r.protect, ...(r.parent ? { parent: r.parent } : {}) },
  };
}
