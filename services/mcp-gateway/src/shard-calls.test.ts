/**
 * ShardCalls over fake replicas (no network): native 2026-07-28 forwarding, the bridge's pooled
 * sessions and a federated session's legs, each with its retry rules (ADR 0021, 0022, 0023).
 */
import { describe, expect, it } from "vitest";
import type { ShardConfig } from "./config.js";
import type { JsonRpcMessage } from "./mcp.js";
import type { Leg, SessionRecord } from "./registry.js";
import { NoReplica } from "./replica-call.js";
import { ShardCalls, type ShardCallsBridge, type ShardCallsHealth, type ShardCallsRegistry, type ShardCallsUpstream } from "./shard-calls.js";
import { UpstreamError, type UpstreamResponse } from "./upstream.js";

const codeError = (code: string) => Object.assign(new Error(`fake ${code}`), { code });
const answer = (statusCode: number, replica: string) => ({ statusCode, headers: { "x-replica": replica }, body: { dump: async () => undefined, text: async () => "" } }) as unknown as UpstreamResponse;

type Step = number | Error;
interface Sent {
  replica: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Fake replicas: each replica answers its scripted steps in order (a status, or an error thrown); the
 * last step repeats. `forgets` lists replicas whose answer to a session ping is "unknown session".
 */
function world(shards: ShardConfig[], script: Record<string, Step[]>, opens: Record<string, Step[]> = {}, forgets: string[] = []) {
  const dead = new Set<string>();
  const sent: Sent[] = [];
  const opened: string[] = [];
  const dropped: string[] = [];
  const probed: string[] = [];
  const pooled = new Map<string, Promise<string>>();
  const next = (steps: Step[] | undefined) => (steps && steps.length > 1 ? steps.shift() : steps?.[0]);
  let rr = 0;
  const health: ShardCallsHealth = {
    pick: (ns, exclude) => {
      const live = (shards.find((s) => s.namespace === ns)?.replicas ?? []).filter((r) => !dead.has(r) && !exclude?.has(r));
      return live.length ? live[rr++ % live.length] : undefined;
    },
    markDead: (r) => void dead.add(r),
    isAlive: (r) => !dead.has(r),
  };
  let sessions = 0;
  const upstream: ShardCallsUpstream = {
    request: async (replica, _method, headers, body) => {
      sent.push({ replica, headers, body: String(body) });
      const step = next(script[replica]) ?? 200;
      if (step instanceof Error) throw step;
      return answer(step, replica);
    },
    sessionKnown: async (replica, sid) => {
      probed.push(`${replica} ${sid}`);
      return !forgets.includes(replica);
    },
    openSession: async (replica) => {
      opened.push(replica);
      const step = next(opens[replica]) ?? 200;
      if (step instanceof Error) throw step;
      return `${replica}#${++sessions}`;
    },
  };
  const bridge: ShardCallsBridge = {
    get: (replica, version) => {
      let s = pooled.get(replica);
      if (!s) {
        s = upstream.openSession(replica, version);
        pooled.set(replica, s);
        s.catch(() => pooled.delete(replica));
      }
      return s;
    },
    drop: (replica) => {
      dropped.push(replica);
      pooled.delete(replica);
    },
  };
  const legsSaved: Array<Record<string, Leg>> = [];
  const registry: ShardCallsRegistry = { setLegs: async (_id, legs) => void legsSaved.push({ ...legs }) };
  const calls = new ShardCalls(new Map(shards.map((s) => [s.namespace, s])), health, upstream, bridge, registry);
  return { calls, dead, sent, opened, dropped, legsSaved, probed };
}

const legacy = (replicas: string[]): ShardConfig => ({ namespace: "old", replicas, protocol: "2025-11-25" });
const modern = (replicas: string[]): ShardConfig => ({ namespace: "new", replicas, protocol: "2026-07-28" });
const call: JsonRpcMessage = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: {}, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", progressToken: 5 } } };
const send = (ns: string, session?: SessionRecord) => ({ ns, msg: call, body: JSON.stringify(call), headers: { "mcp-param-x": "1", "mcp-name": "spoofed" }, session });

describe("ShardCalls: native 2026-07-28 shard", () => {
  it("forwards statelessly with headers built from the body, over the client's", async () => {
    const w = world([modern(["m1"])], {});
    await w.calls.send(send("new"));
    expect(w.sent).toHaveLength(1);
    expect(w.sent[0]?.headers).toMatchObject({ "mcp-param-x": "1", "mcp-name": "echo", "mcp-method": "tools/call", "mcp-protocol-version": "2026-07-28" });
    expect(w.sent[0]?.body).toBe(JSON.stringify(call));
    expect(w.opened).toEqual([]);
  });

  it("refused ⇒ the next replica; reset ⇒ no retry; none left ⇒ NoReplica", async () => {
    const refused = world([modern(["m1", "m2"])], { m1: [codeError("ECONNREFUSED")], m2: [codeError("ECONNREFUSED")] });
    await expect(refused.calls.send(send("new"))).rejects.toBeInstanceOf(NoReplica);
    expect(refused.sent.map((s) => s.replica).sort()).toEqual(["m1", "m2"]);
    const reset = world([modern(["m1", "m2"])], { m1: [codeError("ECONNRESET")], m2: [codeError("ECONNRESET")] });
    await expect(reset.calls.send(send("new"))).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(reset.sent).toHaveLength(1);
  });

  it("an unknown namespace is an UpstreamError 404", async () => {
    const w = world([modern(["m1"])], {});
    await expect(w.calls.send(send("nope"))).rejects.toBeInstanceOf(UpstreamError);
  });
});

describe("ShardCalls: the bridge (a 2026-07-28 client, a legacy shard)", () => {
  it("sends on the pooled session with the 2026 _meta keys stripped, and reuses the session", async () => {
    const w = world([legacy(["r1"])], {});
    await w.calls.send(send("old"));
    await w.calls.send(send("old"));
    expect(w.opened).toEqual(["r1"]);
    expect(w.sent.map((s) => s.headers["mcp-session-id"])).toEqual(["r1#1", "r1#1"]);
    expect(w.sent[0]?.headers).not.toHaveProperty("mcp-param-x");
    expect(JSON.parse(w.sent[0]?.body ?? "")).toEqual({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: {}, _meta: { progressToken: 5 } } });
  });

  it("a forgotten session (404) is reopened once, on the same replica of a one-replica shard", async () => {
    const w = world([legacy(["r1"])], { r1: [404, 200] });
    const res = await w.calls.send(send("old"));
    expect(res.statusCode).toBe(200);
    expect(w.dropped).toEqual(["r1"]);
    expect(w.sent.map((s) => s.headers["mcp-session-id"])).toEqual(["r1#1", "r1#2"]);
  });

  it("a 400 that a ping on the session confirms as unknown (a replica restarted unseen) is reopened once", async () => {
    const w = world([legacy(["r1"])], { r1: [400, 200] }, {}, ["r1"]);
    const res = await w.calls.send(send("old"));
    expect(res.statusCode).toBe(200);
    expect(w.probed).toEqual(["r1 r1#1"]);
    expect(w.dropped).toEqual(["r1"]);
    expect(w.sent.map((s) => s.headers["mcp-session-id"])).toEqual(["r1#1", "r1#2"]);
  });

  it("a 400 on a session the replica still knows is the answer (no retry)", async () => {
    const w = world([legacy(["r1"])], { r1: [400, 200] });
    expect((await w.calls.send(send("old"))).statusCode).toBe(400);
    expect(w.probed).toEqual(["r1 r1#1"]);
    expect(w.sent).toHaveLength(1);
  });

  it("404 twice ⇒ the second 404 is the answer (no third attempt)", async () => {
    const w = world([legacy(["r1"])], { r1: [404] });
    expect((await w.calls.send(send("old"))).statusCode).toBe(404);
    expect(w.sent).toHaveLength(2);
  });

  it("a pooled session that cannot be opened is tried once more, then the failure is thrown", async () => {
    const failed = new UpstreamError("initialize on r1 failed: HTTP 500", 502);
    const once = world([legacy(["r1"])], {}, { r1: [failed, 200] });
    expect((await once.calls.send(send("old"))).statusCode).toBe(200);
    expect(once.opened).toEqual(["r1", "r1"]);
    const twice = world([legacy(["r1"])], {}, { r1: [failed] });
    await expect(twice.calls.send(send("old"))).rejects.toBe(failed);
    expect(twice.sent).toEqual([]);
  });

  it("refused ⇒ replica dead, its pooled session dropped, retried on another; reset ⇒ no retry", async () => {
    const w = world([legacy(["r1", "r2"])], { r1: [codeError("ECONNREFUSED")], r2: [codeError("ECONNREFUSED")] });
    // whichever replica is picked first refuses; the retry goes to the other, which refuses too (second and last attempt)
    await expect(w.calls.send(send("old"))).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(w.sent.map((s) => s.replica).sort()).toEqual(["r1", "r2"]);
    expect([...w.dead].sort()).toEqual(["r1", "r2"]);
    expect(w.dropped.sort()).toEqual(["r1", "r2"]);
    const reset = world([legacy(["r1", "r2"])], { r1: [codeError("ECONNRESET")], r2: [codeError("ECONNRESET")] });
    await expect(reset.calls.send(send("old"))).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(reset.sent).toHaveLength(1);
  });

  it("no live replica ⇒ NoReplica", async () => {
    const w = world([legacy(["r1"])], {});
    w.dead.add("r1");
    await expect(w.calls.send(send("old"))).rejects.toBeInstanceOf(NoReplica);
  });
});

describe("ShardCalls: a federated session's legs", () => {
  const session = (legs: Record<string, Leg> = {}): SessionRecord => ({ id: "gw_x", agent: "a", namespace: "*", legs, protocolVersion: "2025-11-25", expiresAt: 0 });

  it("uses the recorded leg while its replica lives; opens and records one otherwise", async () => {
    const w = world([legacy(["r1", "r2"])], {});
    const rec = session({ old: { replica: "r2", upstream: "kept" } });
    await w.calls.send(send("old", rec));
    expect(w.sent[0]).toMatchObject({ replica: "r2", headers: { "mcp-session-id": "kept" } });
    expect(w.opened).toEqual([]);
    w.dead.add("r2");
    await w.calls.send(send("old", rec));
    expect(w.sent[1]).toMatchObject({ replica: "r1", headers: { "mcp-session-id": "r1#1" } });
    expect(w.legsSaved).toEqual([{ old: { replica: "r1", upstream: "r1#1" } }]);
  });

  it("a leg the replica forgot (404) is reopened once and recorded; the bridge pool is left alone", async () => {
    const w = world([legacy(["r1"])], { r1: [404, 200] });
    const rec = session({ old: { replica: "r1", upstream: "stale" } });
    expect((await w.calls.send(send("old", rec))).statusCode).toBe(200);
    expect(w.sent.map((s) => s.headers["mcp-session-id"])).toEqual(["stale", "r1#1"]);
    expect(rec.legs.old).toEqual({ replica: "r1", upstream: "r1#1" });
    expect(w.dropped).toEqual([]);
  });

  it("a leg answered 400 that the replica no longer knows (restarted unseen) is reopened once and recorded", async () => {
    const w = world([legacy(["r1"])], { r1: [400, 200] }, {}, ["r1"]);
    const rec = session({ old: { replica: "r1", upstream: "stale" } });
    expect((await w.calls.send(send("old", rec))).statusCode).toBe(200);
    expect(w.probed).toEqual(["r1 stale"]);
    expect(w.sent.map((s) => s.headers["mcp-session-id"])).toEqual(["stale", "r1#1"]);
    expect(rec.legs.old).toEqual({ replica: "r1", upstream: "r1#1" });
  });

  it("opening a leg moves past replicas that are down (reset included) and records the one that opened", async () => {
    const w = world([legacy(["r1", "r2"])], {}, { r1: [codeError("ECONNRESET")], r2: [codeError("ECONNRESET")] });
    await expect(w.calls.ensureLeg(session(), legacy(["r1", "r2"]), false)).rejects.toBeInstanceOf(NoReplica);
    expect(w.opened.sort()).toEqual(["r1", "r2"]);
    // the fake picks round-robin from the first replica: r1 (reset, marked dead), then r2
    const ok = world([legacy(["r1", "r2"])], {}, { r1: [codeError("ECONNRESET")] });
    const rec = session();
    const leg = await ok.calls.ensureLeg(rec, legacy(["r1", "r2"]), false);
    expect(ok.opened).toEqual(["r1", "r2"]);
    expect(leg).toEqual({ replica: "r2", upstream: "r2#1" });
    expect([...ok.dead]).toEqual(["r1"]);
    expect(rec.legs.old).toEqual(leg);
  });

  it("a leg open answered with a failure (not replica-down) is not retried elsewhere", async () => {
    const failed = new UpstreamError("initialize on r1 failed: HTTP 500", 502);
    const w = world([legacy(["r1", "r2"])], {}, { r1: [failed], r2: [failed] });
    await expect(w.calls.send(send("old", session()))).rejects.toBe(failed);
    expect(w.opened).toHaveLength(1);
  });
});
