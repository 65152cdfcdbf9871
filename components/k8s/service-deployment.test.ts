/**
 * ServiceDeployment's argument checks for the Kubernetes API token (`kubernetesApi`): the token's
 * life within the API's bounds, the credentials' directory never writable; and the projected
 * volume laid out as @kubernetes/client-node's loadFromCluster reads it. The rendered pods are
 * tested in test/tier-100.test.ts (the brain alone carries the token).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as k8s from "@pulumi/kubernetes";
import { describe, expect, it } from "vitest";
import { kubernetesApiVolume, serviceAccountMountPath, serviceDeploymentProblems, type ServiceDeploymentArgs } from "./service-deployment.js";

const args: ServiceDeploymentArgs = {
  provider: {} as k8s.Provider,
  namespace: "tierstack",
  app: "brain",
  kind: "Deployment",
  image: "ghcr.io/tierstack/brain:0.1.0",
  command: ["node", "server.js"],
  ports: [{ name: "http", port: 7403 }],
  liveness: { path: "/healthz", port: "http" },
  readiness: { path: "/readyz", port: "http" },
  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "256Mi" } },
  replicas: 1,
  env: {},
  secrets: { project: "p", files: [], exportAsEnv: true },
  writablePaths: ["/tmp"],
  identity: { project: "p", accountId: "tierstack-brain", displayName: "brain", workloadPool: "p.svc.id.goog" },
  runAs: { user: 10001, group: 10001 },
};

describe("the Kubernetes API token of a ServiceDeployment", () => {
  it("takes a token life from 10 minutes to a day, and never a writable credentials directory", () => {
    expect(serviceDeploymentProblems("brain", { ...args, kubernetesApi: { tokenExpirationSeconds: 600 } })).toEqual([]);
    expect(serviceDeploymentProblems("brain", { ...args, kubernetesApi: { tokenExpirationSeconds: 599 } })).toEqual(["kubernetesApi.tokenExpirationSeconds 599 is outside 600-86400"]);
    expect(serviceDeploymentProblems("brain", { ...args, kubernetesApi: { tokenExpirationSeconds: 86_401 } })).toEqual(["kubernetesApi.tokenExpirationSeconds 86401 is outside 600-86400"]);
    expect(serviceDeploymentProblems("brain", { ...args, writablePaths: [serviceAccountMountPath] })).toEqual([`writable path ${serviceAccountMountPath} is not allowed`]);
  });

  it("projects token, ca.crt and namespace into the directory @kubernetes/client-node reads in-cluster", () => {
    const req = createRequire(join(process.cwd(), "services/brain/package.json"));
    const config = readFileSync(join(dirname(req.resolve("@kubernetes/client-node")), "config.js"), "utf8");
    const root = /SERVICEACCOUNT_ROOT = '([^']+)'/.exec(config)?.[1];
    expect(root).toBe(serviceAccountMountPath);
    const files = [...config.matchAll(/SERVICEACCOUNT_ROOT \+ '\/([a-z.]+)'/g)].map((m) => m[1]).sort();
    const v = kubernetesApiVolume(900);
    const projected = v.projected as { sources: { serviceAccountToken?: { path: string; expirationSeconds: number }; configMap?: { items: { path: string }[] }; downwardAPI?: { items: { path: string }[] } }[] };
    const paths = projected.sources.flatMap((s) => [s.serviceAccountToken?.path, ...(s.configMap?.items ?? []).map((i) => i.path), ...(s.downwardAPI?.items ?? []).map((i) => i.path)]).filter((x): x is string => !!x).sort();
    expect(paths).toEqual(files);
    expect(projected.sources[0]?.serviceAccountToken?.expirationSeconds).toBe(900);
  });
});
