/** The one retry loop, against fake replicas (no network), and the answer the gateway gives for NoReplica. */
import Fastify, { type FastifyBaseLogger } from "fastify";
import { Registry } from "prom-client";
import type { Dispatcher } from "undici";
import { describe, expect, it } from "vitest";
import { ReplicaHealth } from "./health.js";
import { ERR } from "./mcp.js";
import { createMetrics } from "./metrics.js";
import { NoReplica, NotDelivered, callReplica, type ReplicaPicker } from "./replica-call.js";
import { Replies } from "./reply.js";
import { isReplicaDown } from "./upstream.js";

/** Round-robin over the replicas not marked dead, like ReplicaHealth.pick. */
class FakeHealth implements ReplicaPicker {
  readonly dead = new Map<string, string>();
  private n = 0;
  constructor(private readonly replicas: string[]) {}
  pick(_ns: string, exclude?: Set<string>) {
    const live = this.replicas.filter((r) => !this.dead.has(r) && !exclude?.has(r));
    return live.length ? live[++this.n % live.length] : undefined;
  }
  markDead(replica: string, reason: string) {
    this.dead.set(replica, reason);
  }
}

const codeError = (code: string) => Object.assign(new Error(`fake ${code}`), { code });
const REFUSED = codeError("ECONNREFUSED"); // never reached the replica
const RESET = codeError("ECONNRESET"); // the replica is down, but the request may have been received
const HTTP_FAILED = new Error("initialize on r failed: HTTP 500"); // delivered and answered

/** Fake replicas: each behaves as told (an error to throw, or answers `ok:<replica>`); records the calls. */
function fakeReplicas(behaviour: Record<string, Error | undefined>) {
  const calls: string[] = [];
  const call = async (replica: string) => {
    calls.push(replica);
    const err = behaviour[replica];
    if (err) throw err;
    return `ok:${replica}`;
  };
  return { calls, call };
}

describe("callReplica", () => {
  it("not delivered (refused) ⇒ the next replica, and the refusing one is marked dead", async () => {
    const health = new FakeHealth(["a", "b", "c"]);
    // a deterministic picker over the same health: a, then b, then c
    const picker: ReplicaPicker = { pick: (_ns, ex) => ["a", "b", "c"].find((r) => !ex?.has(r) && !health.dead.has(r)), markDead: (r, why) => health.markDead(r, why) };
    const { calls, call } = fakeReplicas({ a: REFUSED, b: REFUSED });
    await expect(callReplica(picker, "ns", call)).resolves.toBe("ok:c");
    expect(calls).toEqual(["a", "b", "c"]);
    expect([...health.dead.keys()]).toEqual(["a", "b"]);
    expect(health.dead.get("a")).toBe("fake ECONNREFUSED");
  });

  it("delivered but failed (reset mid-request) ⇒ no retry; the replica is still marked dead", async () => {
    const health = new FakeHealth(["a", "b"]);
    const { calls, call } = fakeReplicas({ a: RESET, b: RESET });
    await expect(callReplica(health, "ns", call)).rejects.toBe(RESET);
    expect(calls).toHaveLength(1);
    expect(health.dead.size).toBe(1);
  });

  it("delivered and answered with a failure (not a replica-down error) ⇒ no retry, the replica stays live", async () => {
    const health = new FakeHealth(["a", "b"]);
    const { calls, call } = fakeReplicas({ a: HTTP_FAILED, b: HTTP_FAILED });
    await expect(callReplica(health, "ns", call)).rejects.toBe(HTTP_FAILED);
    expect(calls).toHaveLength(1);
    expect(health.dead.size).toBe(0);
  });

  it("none healthy ⇒ NoReplica naming the namespace, without calling anything", async () => {
    const health = new FakeHealth(["a", "b"]);
    health.markDead("a", "x");
    health.markDead("b", "x");
    const { calls, call } = fakeReplicas({});
    const err = await callReplica(health, "commerce", call).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoReplica);
    expect((err as NoReplica).namespace).toBe("commerce");
    expect((err as Error).message).toBe("namespace commerce has no live replica");
    expect(calls).toEqual([]);
  });

  it("every replica refused ⇒ NoReplica (each tried once)", async () => {
    const health = new FakeHealth(["a", "b", "c"]);
    const { calls, call } = fakeReplicas({ a: REFUSED, b: REFUSED, c: REFUSED });
    await expect(callReplica(health, "ns", call)).rejects.toBeInstanceOf(NoReplica);
    expect([...calls].sort()).toEqual(["a", "b", "c"]);
  });

  it("a replica that a health check revives mid-loop is not tried twice", async () => {
    // markDead does nothing here, as if a health round had just marked the replica up again.
    const picker: ReplicaPicker = { pick: (_ns, ex) => ["a", "b"].find((r) => !ex?.has(r)), markDead: () => undefined };
    const { calls, call } = fakeReplicas({ a: REFUSED, b: REFUSED });
    await expect(callReplica(picker, "ns", call)).rejects.toBeInstanceOf(NoReplica);
    expect(calls).toEqual(["a", "b"]);
  });

  it("retryIf widens what is retried (opening a session runs no tool: any replica-down error moves on)", async () => {
    const health = new FakeHealth(["a", "b"]);
    const { calls, call } = fakeReplicas({ a: RESET, b: RESET });
    await expect(callReplica(health, "ns", call, { retryIf: isReplicaDown })).rejects.toBeInstanceOf(NoReplica);
    expect(calls).toHaveLength(2);
    expect(health.dead.size).toBe(2);
  });

  it("attempts caps the loop and the last failure is thrown", async () => {
    const health = new FakeHealth(["a", "b", "c"]);
    const { calls, call } = fakeReplicas({ a: REFUSED, b: REFUSED, c: REFUSED });
    await expect(callReplica(health, "ns", call, { attempts: 2 })).rejects.toBe(REFUSED);
    expect(calls).toHaveLength(2);
  });

  it("NotDelivered from the call ⇒ retried; on the last attempt the call sees last=true", async () => {
    const health = new FakeHealth(["a"]);
    const seen: Array<{ n: number; last: boolean }> = [];
    const result = await callReplica(
      health,
      "ns",
      async (_replica, attempt) => {
        seen.push(attempt);
        if (!attempt.last) throw new NotDelivered("session not found");
        return "reopened";
      },
      { attempts: 2, choose: () => health.pick("ns") },
    );
    expect(result).toBe("reopened");
    expect(seen).toEqual([{ n: 0, last: false }, { n: 1, last: true }]);
  });

  it("NotDelivered's cause decides about the replica's health and is what is thrown at the end", async () => {
    const health = new FakeHealth(["a", "b"]);
    const calls: string[] = [];
    const err = await callReplica(
      health,
      "ns",
      async (replica) => {
        calls.push(replica);
        throw new NotDelivered("pooled session not opened", { cause: RESET });
      },
      { attempts: 2 },
    ).catch((e: unknown) => e);
    expect(err).toBe(RESET);
    expect(calls).toHaveLength(2);
    expect(health.dead.size).toBe(2);
  });

  it("choose may send the retry to the same replica (a one-replica shard reopens a forgotten session)", async () => {
    const health = new FakeHealth(["only"]);
    const calls: string[] = [];
    const res = await callReplica(
      health,
      "ns",
      async (replica, attempt) => {
        calls.push(replica);
        if (attempt.n === 0) throw new NotDelivered("404");
        return "ok";
      },
      { attempts: 2, choose: () => health.pick("ns") },
    );
    expect(res).toBe("ok");
    expect(calls).toEqual(["only", "only"]);
  });

  it("an error from choose ends the loop as it is (it is not an attempt)", async () => {
    const health = new FakeHealth(["a"]);
    const boom = new Error("registry down");
    const { calls, call } = fakeReplicas({});
    await expect(callReplica(health, "ns", call, { choose: () => Promise.reject(boom) })).rejects.toBe(boom);
    expect(calls).toEqual([]);
  });

  it("works with the real ReplicaHealth: a refused replica is marked dead at once (passive check)", async () => {
    const log = { info: () => undefined, warn: () => undefined } as unknown as FastifyBaseLogger;
    const health = new ReplicaHealth([{ namespace: "ns", replicas: ["http://a/mcp", "http://b/mcp"], protocol: "2025-11-25" }], {} as Dispatcher, { intervalMs: 1000, timeoutMs: 100 }, log);
    const changes: string[] = [];
    health.onChange = (_ns, r, up) => changes.push(`${r}:${up}`);
    const { calls, call } = fakeReplicas({ "http://a/mcp": REFUSED, "http://b/mcp": REFUSED });
    await expect(callReplica(health, "ns", call)).rejects.toBeInstanceOf(NoReplica);
    expect(calls).toHaveLength(2);
    expect(health.live("ns")).toEqual([]);
    expect(changes.sort()).toEqual(["http://a/mcp:false", "http://b/mcp:false"]);
  });
});

describe("the gateway's answer to NoReplica (ADR 0023)", () => {
  it("503, JSON-RPC -32003, the request id, data.namespace, counted as no_live_replica", async () => {
    const register = new Registry();
    const metrics = createMetrics(register, [], async () => 0);
    const replies = new Replies(metrics, 1024);
    const app = Fastify();
    app.post("/", async (_req, reply) => {
      const err = await callReplica(new FakeHealth([]), "commerce", async () => "never").catch((e: unknown) => e);
      return replies.upstreamFailure(reply, "commerce", err, 7);
    });
    try {
      const res = await app.inject({ method: "POST", url: "/" });
      expect(res.statusCode).toBe(503);
      expect(res.headers["content-type"]).toContain("application/json");
      expect(res.json()).toEqual({ jsonrpc: "2.0", id: 7, error: { code: ERR.unavailable, message: "namespace commerce has no live replica", data: { namespace: "commerce" } } });
      expect(await register.metrics()).toMatch(/mcp_gateway_errors_total\{namespace="commerce",reason="no_live_replica"\} 1/);
    } finally {
      await app.close();
    }
  });
});
