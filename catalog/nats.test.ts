import { describe, expect, it } from "vitest";
import { natsStreamEnv, streamReplicas } from "./nats.js";
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
