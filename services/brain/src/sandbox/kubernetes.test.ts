/**
 * What only the kubernetes runtime has, against the in-test API server: the claim it creates
 * (warm pool, lifecycle backstop, learner label) passes the agent-sandbox CRD schemas, which
 * the server enforces (an invalid claim is a 422 Status); a claim the controller never binds
 * fails in time and is deleted; a second brain replica adopts the learner's claim.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiException, CustomObjectsApi } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { claimGroup, claimPlural, claimVersion, KubernetesRuntime, directoryVault, learnerLabel } from "./kubernetes.js";
import { kubernetesHarness, recordingLlm } from "./testing.js";

const req = { model: "anthropic/claude-sonnet-4.5", messages: [{ role: "user" as const, content: "Hi" }], user: "learner-a" };

describe("kubernetes runtime", () => {
  let h: Awaited<ReturnType<typeof kubernetesHarness>> | undefined;
  const dirs: string[] = [];
  const vaultDir = () => {
    dirs.push(mkdtempSync(join(tmpdir(), "brain-vault-")));
    return dirs.at(-1)!;
  };
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("the API server refuses a claim failing the CRD schema with a 422 Status; the runtime's claims pass it", async () => {
    h = await kubernetesHarness();
    const api = h.api.kubeConfig().makeApiClient(CustomObjectsApi);
    const ref = { group: claimGroup, version: claimVersion, namespace: "learners", plural: claimPlural };
    const bad = { apiVersion: `${claimGroup}/${claimVersion}`, kind: "SandboxClaim", metadata: { name: "bad" }, spec: { sandboxTemplateRef: { name: "learner" } } };
    const err = await api.createNamespacedCustomObject({ ...ref, body: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    const e = err as ApiException<string>;
    expect(e.code).toBe(422);
    const body = (typeof e.body === "string" ? JSON.parse(e.body) : e.body) as { kind: string; reason: string; message: string };
    expect(body).toMatchObject({ kind: "Status", reason: "Invalid" });
    expect(body.message).toContain("/spec/warmPoolRef: is required");
    expect(body.message).toContain("/spec/sandboxTemplateRef: is not a field of this kind");

    const s = await h.runtime.claim("learner-a");
    await h.runtime.ask("learner-a", req, recordingLlm());
    const [claim] = h.api.claims();
    expect(claim).toMatchObject({ name: h.runtime.claimName("learner-a"), sandbox: s.name, spec: { warmPoolRef: { name: "learner" }, lifecycle: { shutdownPolicy: "Delete" } } });
    const shutdown = Date.parse((claim!.spec.lifecycle as { shutdownTime: string }).shutdownTime);
    expect(shutdown).toBeGreaterThan(Date.now() + 23 * 3_600_000);
    const listed = (await api.listNamespacedCustomObject({ ...ref, labelSelector: learnerLabel })) as { items: { metadata: { labels: Record<string, string> } }[] };
    expect(listed.items).toHaveLength(1);
    await h.runtime.release("learner-a");
    expect(h.api.claims()).toEqual([]);
    // The runtime's own requests: create, get (until bound), snapshot taken, delete; none refused.
    const mine = h.api.requests.filter((r) => !(r.method === "POST" && r.status === 422) && r.method !== "GET" || r.path.endsWith(h!.runtime.claimName("learner-a")));
    expect(mine.filter((r) => r.status >= 400)).toEqual([]);
    expect(mine.map((r) => r.method)).toEqual(expect.arrayContaining(["POST", "GET", "DELETE"]));
  });

  it("a claim the controller never binds fails in time and is deleted", async () => {
    h = await kubernetesHarness();
    const lost = new KubernetesRuntime({ kubeConfig: h.api.kubeConfig(), namespace: "learners", warmPool: "no-such-pool", vault: directoryVault(vaultDir()), pollMs: 20, readyTimeoutMs: 500 });
    await expect(lost.claim("learner-a")).rejects.toThrow(/not ready in time/);
    expect(h.api.claims()).toEqual([]);
    expect(lost.list()).toEqual([]);
  });

  it("a second replica adopts the learner's claim instead of claiming twice; the newest connection wins and the older replica claims again", async () => {
    h = await kubernetesHarness();
    const other = new KubernetesRuntime({ kubeConfig: h.api.kubeConfig(), namespace: "learners", warmPool: "learner", port: h.api.port, vault: directoryVault(vaultDir()), pollMs: 20 });
    const a = await h.runtime.claim("learner-a");
    const b = await other.claim("learner-a");
    expect(b.name).toBe(a.name);
    expect(h.api.claims()).toHaveLength(1);
    expect(await other.ask("learner-a", req, recordingLlm())).toMatchObject({ text: "answer: Hi" });
    // The first replica's connection was replaced: its channel is closed, and its next ask claims (adopts) again.
    expect(h.runtime.status("learner-a")).toBeUndefined();
    expect(await h.runtime.ask("learner-a", req, recordingLlm())).toMatchObject({ text: "answer: Hi" });
    expect(h.api.claims()).toHaveLength(1);
    await other.close();
  });
});
