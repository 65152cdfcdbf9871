/**
 * Test helper: runs a function that declares Pulumi resources under Pulumi's runtime mocks
 * (`pulumi.runtime.setMocks`, as `tierstack plan` does) and records every resource registered,
 * with its type, name, raw inputs and parent URN. Used only by gpu-node's tests.
 */
import * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** Extra state a mock returns for a resource type (provider-computed fields the component reads). */
export type MockState = (type: string, name: string, inputs: Record<string, unknown>) => Record<string, unknown>;

const computed: MockState = (type, _name, inputs) => {
  switch (type) {
    case "gcp:serviceaccount/account:Account":
      return { email: `${String(inputs.accountId)}@${String(inputs.project)}.iam.gserviceaccount.com` };
    case "gcp:compute/instance:Instance": {
      const nics = (inputs.networkInterfaces as Record<string, unknown>[] | undefined) ?? [];
      return { networkInterfaces: nics.map((n, i) => ({ ...n, networkIp: `10.10.0.${5 + i}` })) };
    }
    default:
      return {};
  }
};

const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;

/** Declares what `build` declares under mocks; returns its result and every registered resource. */
export async function underMocks<T>(stack: string, build: () => T, extra?: MockState): Promise<{ result: T; resources: RecordedResource[] }> {
  const resources: RecordedResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const inputs = args.inputs as Record<string, unknown>;
        resources.push({ type: args.type, name: args.name, inputs });
        const state = { ...inputs, name: inputs.name ?? args.name, ...computed(args.type, args.name, inputs), ...(extra?.(args.type, args.name, inputs) ?? {}) };
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs as Record<string, unknown>,
    },
    "tierstack",
    stack,
    false,
  );
  const result = build();
  if (waitForRPCs) await waitForRPCs();
  return { result, resources };
}

/** The value of an Output (or plain input) once the mocks resolved it. */
export function settle<T>(value: pulumi.Input<T>): Promise<T> {
  return new Promise<T>((resolve) => {
    pulumi.output(value).apply((v) => {
      resolve(v as T);
      return v;
    });
  });
}

/** Unwraps a secret marker in recorded inputs (or returns the value). */
export function reveal(value: unknown): unknown {
  return pulumi.runtime.isRpcSecret(value) ? (value as { value: unknown }).value : value;
}

export function ofType(resources: readonly RecordedResource[], suffix: string): RecordedResource[] {
  return resources.filter((r) => r.type.endsWith(suffix));
}

export function only(resources: readonly RecordedResource[], suffix: string): RecordedResource {
  const found = ofType(resources, suffix);
  if (found.length !== 1) throw new Error(`expected one ${suffix}, found ${found.length}`);
  return found[0] as RecordedResource;
}
