/**
 * validate() against the pinned agent-sandbox schemas: a valid object of each kind passes, and a
 * wrong field, a wrong type, a missing required field and each Kubernetes extension fail with the
 * offending path.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { apiVersions, crds, sandboxKinds, upstream, type Sandbox, type SandboxClaim, type SandboxTemplate, type SandboxWarmPool } from "./index.js";
import { assertValid, formatErrors, validate } from "./validate.js";

const podSpec = {
  runtimeClassName: "gvisor",
  automountServiceAccountToken: false,
  containers: [{ name: "learner", image: "example.org/learner:1", resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: 1, memory: "512Mi" } } }],
};
const meta = { name: "learner", namespace: "learners" };

const sandbox: Sandbox = { apiVersion: "agents.x-k8s.io/v1beta1", kind: "Sandbox", metadata: meta, spec: { podTemplate: { metadata: { labels: { app: "learner" } }, spec: podSpec }, operatingMode: "Running", shutdownPolicy: "Delete" } };
const template: SandboxTemplate = {
  apiVersion: "extensions.agents.x-k8s.io/v1beta1",
  kind: "SandboxTemplate",
  metadata: meta,
  spec: {
    podTemplate: { spec: podSpec },
    networkPolicyManagement: "Managed",
    networkPolicy: { egress: [{ to: [{ podSelector: { matchLabels: { app: "litellm" } } }], ports: [{ protocol: "TCP", port: 4000 }] }] },
    envVarsInjectionPolicy: "Disallowed",
  },
};
const claim: SandboxClaim = { apiVersion: "extensions.agents.x-k8s.io/v1beta1", kind: "SandboxClaim", metadata: { name: "learner-42", namespace: "learners" }, spec: { warmPoolRef: { name: "learner" }, lifecycle: { shutdownPolicy: "Delete", shutdownTime: "2026-12-01T23:00:00Z" }, additionalPodMetadata: { labels: { learner: "42" } } } };
const warmPool: SandboxWarmPool = { apiVersion: "extensions.agents.x-k8s.io/v1beta1", kind: "SandboxWarmPool", metadata: meta, spec: { replicas: 2, sandboxTemplateRef: { name: "learner" }, updateStrategy: { type: "Recreate" } } };

const clone = <T>(v: T): T => structuredClone(v);
const paths = (obj: unknown) => validate(obj).errors.map((e) => e.path);

describe("the pinned schemas", () => {
  it("cover the four v1beta1 kinds from one upstream commit, as data", () => {
    expect(sandboxKinds).toEqual(["Sandbox", "SandboxTemplate", "SandboxClaim", "SandboxWarmPool"]);
    for (const kind of sandboxKinds) {
      const file = crds[kind].file;
      expect(file.kind).toBe(kind);
      expect(file.apiVersion).toBe(apiVersions[kind]);
      expect(file.version).toBe("v1beta1");
      expect(file.source).toMatchObject({ repo: upstream.repo, commit: upstream.commit });
      expect(file.derivation.length).toBeGreaterThan(20);
    }
    // The data files are plain JSON (no code), so the in-test API server and the stack read the same thing.
    const raw = readFileSync(new URL("./crds/extensions.agents.x-k8s.io_v1beta1_SandboxClaim.json", import.meta.url), "utf8");
    expect(JSON.parse(raw)).toEqual(crds.SandboxClaim.file);
  });
});

describe("a valid object of each kind passes", () => {
  it.each([["Sandbox", sandbox], ["SandboxTemplate", template], ["SandboxClaim", claim], ["SandboxWarmPool", warmPool]] as const)("%s", (kind, obj) => {
    const r = validate(obj);
    expect(formatErrors(r.errors)).toEqual([]);
    expect(r).toMatchObject({ valid: true, kind });
    expect(() => assertValid(obj)).not.toThrow();
  });
});

describe("a wrong field or type fails, with its path", () => {
  it("Sandbox: an unknown spec field, a bad enum, a wrong type inside the PodSpec", () => {
    const o = clone(sandbox) as unknown as { spec: Record<string, unknown> & { podTemplate: { spec: { containers: Record<string, unknown>[] } } } };
    o.spec.replicas = 1; // a v1alpha1 field, gone in v1beta1
    o.spec.operatingMode = "Paused";
    o.spec.podTemplate.spec.containers[0]!.name = 7;
    expect(paths(o)).toEqual(expect.arrayContaining(["/spec/replicas", "/spec/operatingMode", "/spec/podTemplate/spec/containers/0/name"]));
    const missing = clone(sandbox) as unknown as { spec: Record<string, unknown> };
    delete missing.spec.podTemplate;
    expect(validate(missing).errors).toContainEqual({ path: "/spec/podTemplate", message: "is required" });
  });

  it("SandboxTemplate: a PodSpec without containers, a NetworkPolicy port that is neither integer nor string", () => {
    const o = clone(template) as unknown as { spec: { podTemplate: { spec: Record<string, unknown> }; networkPolicy: { egress: { ports: { port: unknown }[] }[] } } };
    delete o.spec.podTemplate.spec.containers;
    o.spec.networkPolicy.egress[0]!.ports[0]!.port = { number: 4000 };
    const r = paths(o);
    expect(r).toContain("/spec/podTemplate/spec/containers");
    expect(r).toContain("/spec/networkPolicy/egress/0/ports/0/port");
    const unknown = clone(template) as unknown as { spec: { networkPolicy: Record<string, unknown> } };
    unknown.spec.networkPolicy.podSelector = {}; // managed by the controller, not part of the template's subset
    expect(paths(unknown)).toEqual(["/spec/networkPolicy/podSelector"]);
  });

  it("SandboxClaim: the v1alpha1 sandboxTemplateRef instead of warmPoolRef, a bad date, a negative TTL", () => {
    const o = clone(claim) as unknown as { spec: Record<string, unknown> & { lifecycle: Record<string, unknown> } };
    o.spec.sandboxTemplateRef = { name: "learner" };
    delete o.spec.warmPoolRef;
    o.spec.lifecycle.shutdownTime = "tomorrow";
    o.spec.lifecycle.ttlSecondsAfterFinished = -1;
    expect(paths(o).sort()).toEqual(["/spec/lifecycle/shutdownTime", "/spec/lifecycle/ttlSecondsAfterFinished", "/spec/sandboxTemplateRef", "/spec/warmPoolRef"]);
  });

  it("SandboxWarmPool: replicas as a string, below 0, beyond int32; a wrong update strategy", () => {
    for (const replicas of ["2", -1, 2 ** 31, 1.5]) {
      const o = clone(warmPool) as unknown as { spec: Record<string, unknown> };
      o.spec.replicas = replicas;
      expect(paths(o)).toContain("/spec/replicas");
    }
    const o = clone(warmPool) as unknown as { spec: { updateStrategy: { type: string } } };
    o.spec.updateStrategy.type = "Rolling";
    expect(validate(o).errors).toEqual([{ path: "/spec/updateStrategy/type", message: 'must be one of "Recreate", "OnReplenish"' }]);
  });
});

describe("envelope and metadata", () => {
  it("refuses an unknown kind, a wrong apiVersion (v1alpha1), and a missing or malformed name", () => {
    expect(validate({ ...warmPool, kind: "SandboxPool" }).errors).toEqual([{ path: "/kind", message: "must be one of Sandbox, SandboxTemplate, SandboxClaim, SandboxWarmPool" }]);
    expect(paths({ ...claim, apiVersion: "extensions.agents.x-k8s.io/v1alpha1" })).toEqual(["/apiVersion"]);
    expect(paths({ ...sandbox, apiVersion: "extensions.agents.x-k8s.io/v1beta1" })).toEqual(["/apiVersion"]);
    expect(paths({ ...warmPool, metadata: { namespace: "learners" } })).toEqual(["/metadata/name"]);
    expect(paths({ ...warmPool, metadata: { name: "Learner_Pool" } })).toEqual(["/metadata/name"]);
    expect(paths({ ...warmPool, metadata: { name: "learner", labels: { a: 1 } } })).toEqual(["/metadata/labels/a"]);
    expect(validate("Sandbox")).toMatchObject({ valid: false });
  });

  it("assertValid throws with every problem in the message", () => {
    expect(() => assertValid({ ...warmPool, spec: { replicas: -1 } })).toThrow("invalid SandboxWarmPool: /spec/sandboxTemplateRef: is required; /spec/replicas: must be >= 0");
  });
});

describe("Kubernetes schema extensions", () => {
  it("x-kubernetes-int-or-string: 4000 and \"http\" pass, true fails", () => {
    for (const [port, ok] of [[4000, true], ["http", true], [true, false], [1.5, false]] as const) {
      const o = clone(template);
      o.spec.networkPolicy!.egress![0]!.ports![0]!.port = port as never;
      expect(validate(o).valid).toBe(ok);
    }
  });

  it("resources quantities are int-or-string inside the PodSpec", () => {
    const o = clone(sandbox);
    o.spec.podTemplate.spec.containers[0]!.resources = { limits: { cpu: [1] as never } };
    expect(paths(o)).toContain("/spec/podTemplate/spec/containers/0/resources/limits/cpu");
  });
});
