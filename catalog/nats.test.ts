import { describe, expect, it } from "vitest";
import { natsLeafRole, natsStreamEnv, streamReplicas } from "./nats.js";
import { environmentProblems, plainEnv } from "./service-env.js";
import { tiers } from "./tiers.js";

describe("stream replicas on the platform's NATS", () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 3],
    [5, 3],
  ])("%i node(s) ⇒ R%i", (nodes, replicas) => {
    expect(streamReplicas(nodes)).toBe(replicas);
  });

  it("refuses a node count that is not a whole number ≥ 1", () => {
    for (const n of [0, -3, 2.5, Number.NaN]) expect(() => streamReplicas(n)).toThrow(/natsNodes must be a whole number ≥ 1/);
  });

  it("every tier's allowed natsNodes gives a count the task queue accepts (NATS_STREAM_REPLICAS 1-5) and no more than the nodes", () => {
    for (const t of Object.values(tiers)) {
      for (let n = t.sizes.natsNodes.min; n <= t.sizes.natsNodes.max; n++) {
        const r = streamReplicas(n);
        expect(r >= 1 && r <= 5 && r <= n, `${t.name} natsNodes ${n} ⇒ R${r}`).toBe(true);
      }
    }
    expect(streamReplicas(tiers["tier-100"].sizes.natsNodes.default)).toBe(3);
  });

  it("is the task queue's NATS_STREAM_REPLICAS, a catalogued plain key", () => {
    const wiring = { host: "0.0.0.0", natsUrl: "nats://nats:4222", llmBaseUrl: "http://litellm:4000/v1", gatewayShards: "{}", whatsappPhoneNumberId: "1" };
    const env = plainEnv("task-queue", { ...wiring, extra: { "task-queue": natsStreamEnv(5) } });
    expect(env.NATS_STREAM_REPLICAS).toBe("3");
    expect(environmentProblems("task-queue", env, ["DATABASE_URL"])).toEqual([]);
  });
});

describe("the NATS leaf node roles during a migration", () => {
  it("the old tier listens in its domain, the target connects in its own, from expand to cut-over", () => {
    for (const stage of ["expand", "copy", "cutover"]) {
      const phase = { from: "single-box", to: "tier-50", stage };
      expect(natsLeafRole("single-box", phase)).toEqual({ side: "old", domain: "box", port: 7422 });
      expect(natsLeafRole("tier-50", phase)).toEqual({ side: "target", domain: "tier50", oldDomain: "box", port: 7422 });
      expect(natsLeafRole("tier-100", phase)).toBeUndefined();
    }
    expect(natsLeafRole("tier-50", { from: "tier-50", to: "tier-100", stage: "copy" })).toEqual({ side: "old", domain: "tier50", port: 7422 });
    expect(natsLeafRole("tier-100", { from: "tier-50", to: "tier-100", stage: "copy" })).toMatchObject({ side: "target", domain: "tier100", oldDomain: "tier50" });
  });

  it("none outside a migration or at contract", () => {
    expect(natsLeafRole("single-box", undefined)).toBeUndefined();
    expect(natsLeafRole("tier-50", { from: "single-box", to: "tier-50", stage: "contract" })).toBeUndefined();
  });
});
