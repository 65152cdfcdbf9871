/**
 * The BrainStore contract, run against both stores on the real databases. Over 300 lines on
 * purpose: one contract suite per store interface, every behaviour asserted once for both.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { PgBrainStore } from "./postgres.js";
import { SqliteBrainStore } from "./sqlite.js";
import type { BrainStore, InboundInput } from "./types.js";

const pgUp = await available("postgres", PG_URL);
const T0 = Date.UTC(2026, 10, 22, 12);

function msg(waId: string, phone: string, body = "hi", sentAt = T0): InboundInput {
  return { waId, phone, type: "text", body, sentAt };
}

interface Target { name: string; open(): Promise<{ store: BrainStore; second?: () => Promise<BrainStore>; cleanup(): Promise<void> }> }

const targets: Target[] = [
  {
    name: "sqlite",
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), "brain-store-"));
      const store = new SqliteBrainStore(join(dir, "brain.db"));
      await store.migrate();
      return { store, cleanup: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
    },
  },
];
if (pgUp) {
  targets.push({
    name: "postgres",
    open: async () => {
      const s = await freshSchema("brain_contract");
      const store = new PgBrainStore(s.url);
      await store.migrate();
      const others: BrainStore[] = [];
      return {
        store,
        second: async () => {
          const o = new PgBrainStore(s.url);
          await o.migrate();
          others.push(o);
          return o;
        },
        cleanup: async () => {
          await store.close();
          for (const o of others) await o.close();
          await s.drop();
        },
      };
    },
  });
}

describe.each(targets)("BrainStore contract: $name", (target) => {
  let store: BrainStore;
  let second: (() => Promise<BrainStore>) | undefined;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ store, second, cleanup } = await target.open());
  });
  afterAll(async () => cleanup?.());

  it("migrates idempotently and answers ping", async () => {
    await store.migrate();
    await store.ping();
  });

  it("sign-up records consent; inbound creates learners and moves the window", async () => {
    const l = await store.signUp("447700900001", T0);
    expect(l.consentSource).toBe("signup");
    expect(l.plan).toBe("free");
    expect(l.lastInboundAt).toBeNull();
    const again = await store.signUp("447700900001", T0 + 5);
    expect(again.id).toBe(l.id);
    expect(again.consentAt).toBe(T0 + 5);

    expect(await store.storeInbound([msg("wamid.a1", "447700900001", "hello", T0 + 10)], [], [], T0 + 20)).toBe(1);
    expect((await store.learnerById(l.id))!.lastInboundAt).toBe(T0 + 10);
    // an older message never moves the window back
    await store.storeInbound([msg("wamid.a0", "447700900001", "older", T0 + 1)], [], [], T0 + 30);
    expect((await store.learnerByPhone("447700900001"))!.lastInboundAt).toBe(T0 + 10);

    await store.storeInbound([msg("wamid.b1", "447700900002")], [], [], T0);
    const fresh = await store.learnerByPhone("447700900002");
    expect(fresh!.consentSource).toBe("inbound");
  });

  it("dedupes the inbox on the WhatsApp message id", async () => {
    const m = msg("wamid.dup", "447700900003", "once");
    expect(await store.storeInbound([m], [], [], T0)).toBe(1);
    expect(await store.storeInbound([m], [], [], T0)).toBe(0);
    expect(await store.storeInbound([m, msg("wamid.dup2", "447700900003", "twice")], [], [], T0)).toBe(1);
    const l = await store.learnerByPhone("447700900003");
    expect((await store.pendingFor(l!.id, 10)).map((p) => p.body)).toEqual(["once", "twice"]);
  });

  it("keeps the highest status and the latest time whatever the arrival order", async () => {
    const at = (s: number) => T0 + s * 1000;
    await store.storeInbound([], [{ messageId: "wamid.s1", recipient: "447700900009", status: "read", at: at(3) }], [], T0);
    await store.storeInbound([], [{ messageId: "wamid.s1", recipient: "447700900009", status: "sent", at: at(1) }], [], T0);
    await store.storeInbound([], [{ messageId: "wamid.s1", recipient: "447700900009", status: "delivered", at: at(2) }], [], T0);
    let s = await store.status("wamid.s1");
    expect(s!.status).toBe("read");
    expect(s!.at).toBe(at(3));
    await store.storeInbound([], [{ messageId: "wamid.s1", recipient: "447700900009", status: "failed", at: at(4), error: "131047" }], [], T0);
    s = await store.status("wamid.s1");
    expect(s!.status).toBe("failed");
    expect(s!.error).toBe("131047");
    expect(await store.status("wamid.none")).toBeUndefined();
  });

  it("keeps dead letters, newest first, clipped", async () => {
    await store.storeInbound([], [], [{ source: "whatsapp", reason: "not json", payload: "{" }], T0);
    await store.addDeadLetter("whatsapp", "huge", "x".repeat(200_000), T0 + 1);
    const dl = await store.deadLetters(10);
    expect(dl[0]!.reason).toBe("huge");
    expect(dl[0]!.payload.length).toBe(64 * 1024);
    expect(dl[1]!.reason).toBe("not json");
  });

  it("leases one learner at a time, oldest pending first, and releases", async () => {
    await store.storeInbound([msg("wamid.c1", "447700900011", "1"), msg("wamid.c2", "447700900012", "1"), msg("wamid.c3", "447700900011", "2")], [], [], T0);
    // drain older test data first
    const seen: string[] = [];
    for (;;) {
      const c = await store.claimLearner("w1", T0, 60_000);
      if (!c) break;
      seen.push(c.learner.phone);
      // while leased, nobody else gets it
      const other = await store.claimLearner("w2", T0 + 1, 60_000);
      expect(other?.learner.id).not.toBe(c.learner.id);
      if (other) await store.releaseLearner(other.learner.id, "w2");
      for (const p of await store.pendingFor(c.learner.id, 100)) await store.completeInbound(p.id, "done");
      await store.releaseLearner(c.learner.id, "w1");
    }
    expect(seen.indexOf("447700900011")).toBeLessThan(seen.indexOf("447700900012"));
    expect(await store.backlog()).toBe(0);
  });

  it("an expired lease can be taken over; a retryAt keeps workers away until then", async () => {
    await store.storeInbound([msg("wamid.e1", "447700900021")], [], [], T0);
    const a = await store.claimLearner("w1", T0, 1000);
    expect(a).toBeDefined();
    expect(await store.claimLearner("w2", T0 + 500, 1000)).toBeUndefined();
    expect(await store.renewLease(a!.learner.id, "w1", T0 + 500, 1000)).toBe(true);
    expect(await store.claimLearner("w2", T0 + 1200, 1000)).toBeUndefined();
    const b = await store.claimLearner("w2", T0 + 1600, 1000);
    expect(b!.learner.id).toBe(a!.learner.id);
    expect(await store.renewLease(a!.learner.id, "w1", T0 + 1700, 1000)).toBe(false);
    await store.releaseLearner(b!.learner.id, "w2", T0 + 5000);
    expect(await store.claimLearner("w3", T0 + 4000, 1000)).toBeUndefined();
    const c = await store.claimLearner("w3", T0 + 5001, 1000);
    const [p] = await store.pendingFor(c!.learner.id, 10);
    expect(await store.bumpAttempts(p!.id)).toBe(1);
    await store.completeInbound(p!.id, "failed");
    await store.releaseLearner(c!.learner.id, "w3");
    expect(await store.backlog()).toBe(0);
  });

  it("a claim takes run-out leases and free learners together, longest waiting first, never a live lease", async () => {
    const opts = { learners: 1, batch: 10, historyRows: 4, day: "2026-11-22" };
    await store.storeInbound([msg("wamid.run1", "447700900031")], [], [], T0); // waits longest, then its worker dies
    const dead = await store.claimLearner("dead", T0, 1000);
    await store.storeInbound([msg("wamid.run2", "447700900032")], [], [], T0 + 10); // free, waiting since later
    await store.storeInbound([msg("wamid.run3", "447700900033")], [], [], T0 + 20); // leased and alive
    const live = (await store.claimWork("live", T0 + 20, 60_000, opts))[0];
    expect(live?.learner.phone).toBe("447700900032"); // the dead worker's lease still holds at T0 + 20
    await store.releaseLearner(live!.learner.id, "live");
    const alive = (await store.claimWork("alive", T0 + 30, 60_000, { ...opts, learners: 3 })).map((w) => w.learner.phone);
    expect(alive).toEqual(["447700900032", "447700900033"]);
    // run1's lease runs out: it comes first (it waited longest), then nothing else is claimable.
    const after = await store.claimWork("next", T0 + 1500, 60_000, { ...opts, learners: 3 });
    expect(after.map((w) => w.learner.id)).toEqual([dead!.learner.id]);
    expect(after[0]!.pending.map((m) => m.waId)).toEqual(["wamid.run1"]);
    for (const w of [...after, ...(await Promise.all([store.learnerByPhone("447700900032"), store.learnerByPhone("447700900033")])).map((l) => ({ learner: l! }))]) {
      for (const m of await store.pendingFor(w.learner.id, 10)) await store.completeInbound(m.id, "done");
    }
    expect(await store.backlog()).toBe(0);
  });

  it("records several replies at once: one result per record in order, an existing key wins", async () => {
    const a = await store.signUp("447700900041", T0);
    const b = await store.signUp("447700900042", T0);
    const first = await store.recordReply({ learnerId: a.id, outbound: { key: "reply:wamid.many0", payload: "{\"n\":0}", at: T0 } });
    const usage = (learnerId: string) => ({ learnerId, day: "2026-11-22", model: "m-small", messages: 1, promptTokens: 3, completionTokens: 1, costUsd: 0.001 });
    const rows = await store.recordReplies([
      { learnerId: b.id, history: { user: "hi", assistant: "hello", at: T0 }, usage: usage(b.id), outbound: { key: "reply:wamid.many1", payload: "{\"n\":1}", at: T0 } },
      { learnerId: a.id, outbound: { key: "reply:wamid.many0", payload: "{\"n\":99}", at: T0 } },
      { learnerId: a.id, history: { user: "2+2?", assistant: "4", at: T0 + 1 }, usage: usage(a.id), outbound: { key: "reply:wamid.many2", payload: "{\"n\":2}", at: T0 + 1 } },
    ]);
    expect(rows.map((r) => [r.key, r.payload, r.state])).toEqual([
      ["reply:wamid.many1", "{\"n\":1}", "pending"],
      ["reply:wamid.many0", "{\"n\":0}", "pending"],
      ["reply:wamid.many2", "{\"n\":2}", "pending"],
    ]);
    expect(rows[1]!.id).toBe(first.id);
    expect(await store.history(b.id, 10)).toEqual([{ role: "user", content: "hi", at: T0 }, { role: "assistant", content: "hello", at: T0 }]);
    expect((await store.history(a.id, 10)).map((h) => h.content)).toEqual(["2+2?", "4"]);
    expect(await store.usageTotals(a.id, "2026-11-22")).toEqual({ messages: 1, tokens: 4, costUsd: 0.001 });
    expect(await store.recordReplies([])).toEqual([]);
  });

  it("records several replies at once: a key repeated in the batch, usage summed per model, a quota-notice day", async () => {
    const a = await store.signUp("447700900045", T0);
    const b = await store.signUp("447700900046", T0);
    const usage = (learnerId: string, costUsd: number) => ({ learnerId, day: "2026-11-22", model: "m-small", messages: 1, promptTokens: 3, completionTokens: 1, costUsd });
    const rows = await store.recordReplies([
      { learnerId: a.id, history: { user: "q1", assistant: "a1", at: T0 }, usage: usage(a.id, 0.25), outbound: { key: "reply:wamid.rep1", payload: "{\"n\":1}", at: T0 } },
      { learnerId: b.id, history: { user: "dup", assistant: "dup", at: T0 }, usage: usage(b.id, 1), outbound: { key: "reply:wamid.rep1", payload: "{\"n\":9}", at: T0 } },
      { learnerId: a.id, history: { user: "q2", assistant: "a2", at: T0 + 1 }, usage: usage(a.id, 0.5), outbound: { key: "reply:wamid.rep2", payload: "{\"n\":2}", at: T0 + 1 } },
      { learnerId: b.id, quotaNoticeDay: "2026-11-22", outbound: { key: "reply:wamid.rep3", payload: "{\"n\":3}", at: T0 } },
    ]);
    expect(rows.map((r) => [r.key, r.payload, r.learnerId])).toEqual([
      ["reply:wamid.rep1", "{\"n\":1}", a.id],
      ["reply:wamid.rep1", "{\"n\":1}", a.id],
      ["reply:wamid.rep2", "{\"n\":2}", a.id],
      ["reply:wamid.rep3", "{\"n\":3}", b.id],
    ]);
    expect((await store.history(a.id, 10)).map((h) => h.content)).toEqual(["q1", "a1", "q2", "a2"]);
    expect(await store.history(b.id, 10)).toEqual([]);
    expect(await store.usageTotals(a.id, "2026-11-22")).toEqual({ messages: 2, tokens: 8, costUsd: 0.75 });
    expect(await store.usageTotals(b.id, "2026-11-22")).toEqual({ messages: 0, tokens: 0, costUsd: 0 });
    expect((await store.learnerById(b.id))!.quotaNoticeDay).toBe("2026-11-22");
  });

  it("records a reply with history, usage and a pending outbound in one step, once per key", async () => {
    const l = await store.signUp("447700900031", T0);
    const rec = {
      learnerId: l.id,
      history: { user: "what is 2+2?", assistant: "4", at: T0 },
      usage: { learnerId: l.id, day: "2026-11-22", model: "m-small", messages: 1, promptTokens: 10, completionTokens: 2, costUsd: 0.001 },
      outbound: { key: "reply:wamid.r1", payload: JSON.stringify({ kind: "text", to: l.phone, body: "4" }), at: T0 },
    };
    const o = await store.recordReply(rec);
    expect(o.state).toBe("pending");
    const o2 = await store.recordReply({ ...rec, outbound: { ...rec.outbound, payload: "other" } });
    expect(o2.id).toBe(o.id);
    expect(o2.payload).toBe(o.payload);
    expect(await store.history(l.id, 10)).toEqual([{ role: "user", content: "what is 2+2?", at: T0 }, { role: "assistant", content: "4", at: T0 }]);
    expect(await store.usageTotals(l.id, "2026-11-22")).toEqual({ messages: 1, tokens: 12, costUsd: 0.001 });

    await store.recordReply({ ...rec, outbound: { ...rec.outbound, key: "reply:wamid.r2" }, usage: { ...rec.usage, model: "m-big", costUsd: 0.002 } });
    await store.recordReply({ ...rec, outbound: { ...rec.outbound, key: "reply:wamid.r3" } });
    const t = await store.usageTotals(l.id, "2026-11-22");
    expect(t.messages).toBe(3);
    expect(t.tokens).toBe(36);
    expect(t.costUsd).toBeCloseTo(0.004, 10);
    expect((await store.usage(l.id)).map((u) => [u.model, u.messages])).toEqual([["m-big", 1], ["m-small", 2]]);
    expect(await store.usageTotals(l.id, "2026-11-23")).toEqual({ messages: 0, tokens: 0, costUsd: 0 });
    expect((await store.history(l.id, 2)).map((h) => h.role)).toEqual(["user", "assistant"]);

    await store.markOutbound(o.id, { state: "sent", waMessageId: "wamid.out1" }, T0 + 1);
    expect((await store.outboundByKey("reply:wamid.r1"))!.waMessageId).toBe("wamid.out1");
    expect((await store.outboundByKey("reply:wamid.r1"))!.state).toBe("sent");
    const r2 = (await store.outboundByKey("reply:wamid.r2"))!;
    expect(await store.bumpOutbound(r2.id, "503", T0)).toBe(1);
    await store.markOutbound(r2.id, { state: "failed", error: "131026 undeliverable" }, T0 + 2);
    expect((await store.sendFailures(10)).map((f) => f.key)).toContain("reply:wamid.r2");
    expect((await store.outboundFor(l.id)).length).toBe(3);

    await store.recordReply({ learnerId: l.id, outbound: { key: "quota:x", payload: "{}", at: T0 }, quotaNoticeDay: "2026-11-22" });
    expect((await store.learnerById(l.id))!.quotaNoticeDay).toBe("2026-11-22");
  });

  it("lists pending messages with the reply recorded for each, and settles send + message together", async () => {
    await store.storeInbound([msg("wamid.f1", "447700900061", "a"), msg("wamid.f2", "447700900061", "b")], [], [], T0);
    const l = (await store.learnerByPhone("447700900061"))!;
    const o = await store.recordReply({ learnerId: l.id, outbound: { key: "reply:wamid.f1", payload: "{\"x\":1}", at: T0 } });
    const pending = await store.pendingFor(l.id, 10);
    expect(pending.map((p) => p.waId)).toEqual(["wamid.f1", "wamid.f2"]);
    expect(pending[0]!.outbound).toEqual(o);
    expect(pending[1]!.outbound).toBeUndefined();
    await store.finishReply(o.id, { state: "sent", waMessageId: "wamid.sent.f1" }, pending[0]!.id, T0 + 1);
    expect((await store.pendingFor(l.id, 10)).map((p) => p.waId)).toEqual(["wamid.f2"]);
    const after = (await store.outboundByKey("reply:wamid.f1"))!;
    expect(after.state).toBe("sent");
    expect(after.waMessageId).toBe("wamid.sent.f1");
    expect(after.attempts).toBe(1);
    const o2 = await store.recordReply({ learnerId: l.id, outbound: { key: "reply:wamid.f2", payload: "{}", at: T0 } });
    await store.finishReply(o2.id, { state: "failed", error: "131026" }, pending[1]!.id, T0 + 2);
    expect(await store.pendingFor(l.id, 10)).toEqual([]);
    expect((await store.outboundByKey("reply:wamid.f2"))!.error).toBe("131026");
  });

  it("claims work with its pending messages, history and usage; the last settle can release the lease", async () => {
    const l = await store.signUp("447700900081", T0);
    await store.recordReply({
      learnerId: l.id, history: { user: "q0", assistant: "a0", at: T0 },
      usage: { learnerId: l.id, day: "2026-11-22", model: "m-small", messages: 1, promptTokens: 5, completionTokens: 1, costUsd: 0.5 },
      outbound: { key: "reply:wamid.w0", payload: "{}", at: T0 },
    });
    await store.storeInbound([msg("wamid.w1", "447700900081", "x"), msg("wamid.w2", "447700900081", "y")], [], [], T0);
    const o1 = await store.recordReply({ learnerId: l.id, outbound: { key: "reply:wamid.w1", payload: "{\"x\":1}", at: T0 } });
    const [w, none] = await store.claimWork("k1", T0, 60_000, { learners: 2, batch: 1, historyRows: 1, day: "2026-11-22" });
    expect(none).toBeUndefined();
    expect(w!.learner.id).toBe(l.id);
    expect(w!.owner).toBe("k1");
    expect(w!.pending.map((p) => [p.waId, p.body, p.outbound?.id])).toEqual([["wamid.w1", "x", o1.id]]);
    expect(w!.context).toEqual({ day: "2026-11-22", history: [{ role: "assistant", content: "a0", at: T0 }], usage: { messages: 1, tokens: 6, costUsd: 0.5 } });
    expect(await store.claimWork("k2", T0, 60_000, { learners: 5, batch: 20, historyRows: 60, day: "2026-11-22" })).toEqual([]);
    await store.finishReply(o1.id, { state: "sent", waMessageId: "wamid.sent.w1" }, w!.pending[0]!.id, T0 + 1);
    expect(await store.claimWork("k2", T0 + 1, 60_000, { learners: 5, batch: 20, historyRows: 60, day: "2026-11-22" })).toEqual([]);
    const [p2] = await store.pendingFor(l.id, 10);
    const o2 = await store.recordReply({ learnerId: l.id, outbound: { key: "reply:wamid.w2", payload: "{}", at: T0 } });
    await store.finishReply(o2.id, { state: "sent", waMessageId: "wamid.sent.w2" }, p2!.id, T0 + 2, { learnerId: l.id, owner: "k1" });
    expect(await store.backlog()).toBe(0);
    // released: a new message is claimable at once
    await store.storeInbound([msg("wamid.w3", "447700900081", "z")], [], [], T0 + 3);
    const [again] = await store.claimWork("k3", T0 + 3, 60_000, { learners: 5, batch: 20, historyRows: 60, day: "2026-11-23" });
    if (!again) throw new Error("nothing claimed");
    expect(again.learner.id).toBe(l.id);
    expect(again.pending.map((p) => p.waId)).toEqual(["wamid.w3"]);
    expect(again.context.usage).toEqual({ messages: 0, tokens: 0, costUsd: 0 });
    expect(again.context.history).toHaveLength(2);
    await store.completeInbound(again.pending[0]!.id, "done");
    await store.releaseLearner(l.id, "k3");
  });

  it("claims several learners at once, oldest pending message first, each once", async () => {
    await store.storeInbound([msg("wamid.m1", "447700900091", "1"), msg("wamid.m2", "447700900092", "1"), msg("wamid.m3", "447700900091", "2"), msg("wamid.m4", "447700900093", "1")], [], [], T0);
    const ws = await store.claimWork("m1", T0, 60_000, { learners: 2, batch: 20, historyRows: 60, day: "2026-11-22" });
    expect(ws.map((w) => [w.learner.phone, w.pending.map((p) => p.body)])).toEqual([["447700900091", ["1", "2"]], ["447700900092", ["1"]]]);
    const rest = await store.claimWork("m2", T0, 60_000, { learners: 5, batch: 20, historyRows: 60, day: "2026-11-22" });
    expect(rest.map((w) => w.learner.phone)).toEqual(["447700900093"]);
    for (const w of [...ws, ...rest]) {
      for (const p of w.pending) await store.completeInbound(p.id, "done");
      await store.releaseLearner(w.learner.id, w.owner);
    }
    expect(await store.backlog()).toBe(0);
  });

  it("finds a claimable learner behind hundreds of a leased learner's pending messages", async () => {
    const busy = Array.from({ length: 600 }, (_, i) => msg(`wamid.busy${i}`, "447700900095", String(i)));
    await store.storeInbound([...busy, msg("wamid.behind", "447700900096", "x")], [], [], T0);
    const [a] = await store.claimWork("z1", T0, 60_000, { learners: 1, batch: 20, historyRows: 60, day: "2026-11-22" });
    expect(a!.learner.phone).toBe("447700900095");
    const [b] = await store.claimWork("z2", T0, 60_000, { learners: 1, batch: 20, historyRows: 60, day: "2026-11-22" });
    expect(b?.learner.phone).toBe("447700900096");
    for (const w of [a!, b!]) {
      for (const p of await store.pendingFor(w.learner.id, 1000)) await store.completeInbound(p.id, "done");
      await store.releaseLearner(w.learner.id, w.owner);
    }
    expect(await store.backlog()).toBe(0);
  });

  it("batches: many learners and statuses in one call, in payload order, duplicates folded", async () => {
    const batch = [msg("wamid.g1", "447700900072", "1"), msg("wamid.g2", "447700900071", "1"), msg("wamid.g3", "447700900072", "2"), msg("wamid.g1", "447700900072", "1")];
    const statuses = [
      { messageId: "wamid.gs", recipient: "447700900072", status: "delivered" as const, at: T0 + 2 },
      { messageId: "wamid.gs", recipient: "447700900072", status: "sent" as const, at: T0 + 5 },
    ];
    expect(await store.storeInbound(batch, statuses, [{ source: "whatsapp", reason: "r", payload: "p" }], T0)).toBe(3);
    const l = (await store.learnerByPhone("447700900072"))!;
    expect((await store.pendingFor(l.id, 10)).map((p) => p.body)).toEqual(["1", "2"]);
    const s = (await store.status("wamid.gs"))!;
    expect(s.status).toBe("delivered");
    expect(s.at).toBe(T0 + 5);
    for (const phone of ["447700900071", "447700900072"]) {
      const learner = (await store.learnerByPhone(phone))!;
      for (const p of await store.pendingFor(learner.id, 10)) await store.completeInbound(p.id, "done");
    }
  });

  it("a batch from known and new senders stores each message once, each learner's in order", async () => {
    const known = await store.signUp("447700900081", T0);
    const batch = [msg("wamid.k1", "447700900082", "new 1", T0 + 1), msg("wamid.k2", "447700900081", "known 1", T0 + 2), msg("wamid.k3", "447700900082", "new 2", T0 + 3), msg("wamid.k4", "447700900081", "known 2", T0 + 4)];
    expect(await store.storeInbound(batch, [], [], T0 + 10)).toBe(4);
    expect(await store.storeInbound(batch, [], [], T0 + 20)).toBe(0); // a redelivery
    const fresh = (await store.learnerByPhone("447700900082"))!;
    expect(fresh.consentSource).toBe("inbound");
    expect(fresh.lastInboundAt).toBe(T0 + 3);
    expect((await store.learnerById(known.id))!.lastInboundAt).toBe(T0 + 4);
    expect((await store.pendingFor(known.id, 10)).map((p) => p.body)).toEqual(["known 1", "known 2"]);
    expect((await store.pendingFor(fresh.id, 10)).map((p) => p.body)).toEqual(["new 1", "new 2"]);
    for (const id of [known.id, fresh.id]) for (const p of await store.pendingFor(id, 10)) await store.completeInbound(p.id, "done");
  });

  it("a message id repeated in one batch belongs to its first sender in payload order, new or known", async () => {
    const known = await store.signUp("447700900083", T0);
    const batch = [msg("wamid.r1", "447700900084", "new first", T0 + 1), msg("wamid.r1", "447700900083", "known copy", T0 + 2), msg("wamid.r2", "447700900083", "known first", T0 + 3), msg("wamid.r2", "447700900084", "new copy", T0 + 4)];
    expect(await store.storeInbound(batch, [], [], T0 + 10)).toBe(2);
    const fresh = (await store.learnerByPhone("447700900084"))!;
    expect((await store.pendingFor(fresh.id, 10)).map((p) => p.body)).toEqual(["new first"]);
    expect((await store.pendingFor(known.id, 10)).map((p) => p.body)).toEqual(["known first"]);
    for (const id of [known.id, fresh.id]) for (const p of await store.pendingFor(id, 10)) await store.completeInbound(p.id, "done");
  });

  it("opts out and back in; deletes everything about a learner", async () => {
    const l = await store.signUp("447700900041", T0);
    await store.setOptedOut(l.id, true);
    expect((await store.learnerById(l.id))!.optedOut).toBe(true);
    await store.setOptedOut(l.id, false);
    expect((await store.learnerById(l.id))!.optedOut).toBe(false);
    await store.storeInbound([msg("wamid.d1", l.phone)], [{ messageId: "wamid.d-out", recipient: l.phone, status: "sent", at: T0 }], [], T0);
    await store.addDeadLetter("whatsapp", "bad", `{"from":"${l.phone}"}`, T0);
    await store.recordReply({ learnerId: l.id, history: { user: "a", assistant: "b", at: T0 }, outbound: { key: "reply:wamid.d1", payload: "{}", at: T0 } });
    expect(await store.deleteLearner(l.id)).toBe(true);
    expect(await store.learnerById(l.id)).toBeUndefined();
    expect(await store.history(l.id, 10)).toEqual([]);
    expect(await store.pendingFor(l.id, 10)).toEqual([]);
    expect(await store.outboundByKey("reply:wamid.d1")).toBeUndefined();
    expect(await store.status("wamid.d-out")).toBeUndefined();
    expect((await store.deadLetters(100)).some((d) => d.payload.includes(l.phone))).toBe(false);
    expect(await store.deleteLearner(l.id)).toBe(false);
  });

  it("applies a plan change once per Stripe event, finding the learner by id, customer or subscription", async () => {
    const l = await store.signUp("447700900051", T0);
    expect(await store.applyPlanChange({ eventId: "evt_1", learnerId: l.id, customerId: "cus_1", subscriptionId: "sub_1", plan: "plus" }, T0)).toBe("applied");
    expect(await store.applyPlanChange({ eventId: "evt_1", learnerId: l.id, plan: "dedicated" }, T0)).toBe("duplicate");
    expect((await store.learnerById(l.id))!.plan).toBe("plus");
    expect(await store.applyPlanChange({ eventId: "evt_2", subscriptionId: "sub_1", plan: "free" }, T0)).toBe("applied");
    expect((await store.learnerById(l.id))!.plan).toBe("free");
    expect(await store.applyPlanChange({ eventId: "evt_3", customerId: "cus_1", plan: "plus" }, T0)).toBe("applied");
    expect((await store.learnerById(l.id))!.stripeSubscriptionId).toBe("sub_1");
    expect(await store.applyPlanChange({ eventId: "evt_4", customerId: "cus_unknown", plan: "plus" }, T0)).toBe("no_learner");
    expect(await store.markStripeEvent("evt_5", T0)).toBe(true);
    expect(await store.markStripeEvent("evt_5", T0)).toBe(false);
    expect(await store.applyPlanChange({ eventId: "evt_5", learnerId: l.id, plan: "dedicated" }, T0)).toBe("duplicate");
  });

  it("keeps a dead letter once per key: redeliveries, a batch holding it twice, keyless payloads by their hash", async () => {
    const d = { source: "whatsapp", reason: "unknown message type: poll", payload: '{"id":"wamid.k1"}', key: "whatsapp:wamid.k1" };
    await store.storeInbound([], [], [d, d], T0);
    await store.storeInbound([], [], [d], T0 + 1);
    expect(await store.addDeadLetter(d.source, d.reason, d.payload, T0 + 2, d.key)).toBe(false);
    const keyed = (await store.deadLetters(1000)).filter((x) => x.key === d.key);
    expect(keyed).toHaveLength(1);
    expect(keyed[0]!.at).toBe(T0);
    // Without a key, source + reason + payload is the key: the same payload is one row, another payload another.
    const bad = { source: "whatsapp", reason: "invalid JSON", payload: "{x-contract" };
    await store.storeInbound([], [], [bad, bad], T0);
    expect(await store.addDeadLetter(bad.source, bad.reason, bad.payload, T0)).toBe(false);
    expect(await store.addDeadLetter(bad.source, bad.reason, "{y-contract", T0)).toBe(true);
    expect((await store.deadLetters(1000)).filter((x) => x.payload === bad.payload)).toHaveLength(1);
    // Lone surrogates do not collide in the hash (UTF-8 would turn both into U+FFFD).
    expect(await store.addDeadLetter("whatsapp", "lone", "\ud800", T0)).toBe(true);
    expect(await store.addDeadLetter("whatsapp", "lone", "\udc00", T0)).toBe(true);
    expect(await store.addDeadLetter("whatsapp", "lone", "\ufffd", T0)).toBe(true);
    // A key too long for an index entry is hashed, still one row per key.
    const long = `whatsapp:${"k".repeat(10_000)}`;
    expect(await store.addDeadLetter("whatsapp", "long id", "{}", T0, long)).toBe(true);
    expect(await store.addDeadLetter("whatsapp", "long id", "{}", T0, long)).toBe(false);
    expect(await store.addDeadLetter("whatsapp", "long id", "{}", T0, `${long}!`)).toBe(true);
  });

  it("returns every text exactly as given: NUL, lone surrogates and the codec's escape character, in every text column", async () => {
    const texts = ["a\u0000b", "\u0000", "x\ud800y", "\udc00", "\ud83d", "\udc00\ud800", "\u{1F600}", "\u0010", "\u00100", "\u0010d800", "\u0010\u0010", "\u0010x", "\uffff\ufffe", "\u{10FFFF}", "plain"];
    let n = 0;
    const roundTrip = async (text: string) => {
      n++;
      const phone = `4477009020${String(n % 100).padStart(2, "0")}`;
      const waId = `wamid.rt${n}${text}`;
      expect(await store.storeInbound([{ waId, phone, type: `type${text}`, body: text, sentAt: T0 }], [{ messageId: `out${n}${text}`, recipient: phone, status: "failed", at: T0, error: text }], [], T0)).toBe(1);
      const l = (await store.learnerByPhone(phone))!;
      const [p] = await store.pendingFor(l.id, 1);
      expect({ waId: p!.waId, type: p!.type, body: p!.body }).toEqual({ waId, type: `type${text}`, body: text });
      expect((await store.status(`out${n}${text}`))!.error).toBe(text);
      const key = `reply:${waId}`;
      await store.recordReply({
        learnerId: l.id, history: { user: text, assistant: `${text}!`, at: T0 }, outbound: { key, payload: text, at: T0 },
        usage: { learnerId: l.id, day: "2026-11-22", model: `m${text}`, messages: 1, promptTokens: 1, completionTokens: 1, costUsd: 0 },
      });
      // The reply recorded for the message is found through 'reply:' || wa_id (both encoded).
      expect((await store.pendingFor(l.id, 1))[0]!.outbound!.payload).toBe(text);
      expect((await store.outboundByKey(key))!.payload).toBe(text);
      expect((await store.history(l.id, 2)).map((h) => h.content)).toEqual([text, `${text}!`]);
      expect((await store.usage(l.id)).map((u) => u.model)).toContain(`m${text}`);
      const [w] = await store.claimWork(`owner${text}`, T0, 60_000, { learners: 1, batch: 5, historyRows: 10, day: "2026-11-22" });
      expect(w!.learner.id).toBe(l.id);
      expect(w!.pending.map((x) => x.body)).toEqual([text]);
      expect(w!.context.history.map((h) => h.content)).toEqual([text, `${text}!`]);
      await store.finishReply(w!.pending[0]!.outbound!.id, { state: "failed", error: text }, w!.pending[0]!.id, T0, { learnerId: l.id, owner: w!.owner });
      expect((await store.sendFailures(1))[0]!.error).toBe(text);
      expect(await store.addDeadLetter(`src${text}`, `reason${text}`, text, T0, `key${n}${text}`)).toBe(true);
      const [dl] = await store.deadLetters(1);
      expect({ source: dl!.source, reason: dl!.reason, payload: dl!.payload, key: dl!.key }).toEqual({ source: `src${text}`, reason: `reason${text}`, payload: text, key: `key${n}${text}` });
      expect(await store.markStripeEvent(`evt${n}${text}`, T0)).toBe(true);
      expect(await store.markStripeEvent(`evt${n}${text}`, T0)).toBe(false);
      expect(await store.learnerById(text)).toBeUndefined();
      expect(await store.learnerByPhone(text)).toBeUndefined();
    };
    for (const t of texts) await roundTrip(t);
    // And any string at all: every UTF-16 code unit, lone surrogates included.
    await fc.assert(fc.asyncProperty(fc.string({ unit: "binary", maxLength: 24 }), roundTrip), { numRuns: 40 });
  });

  // Only PostgreSQL is shared by several processes (SQLite has one owner), so only it is tested here.
  if (target.name === "postgres") it("two stores on one database never lease the same learner at once", async () => {
    const other = await second!();
    const phones = Array.from({ length: 20 }, (_, i) => `4477009010${String(i).padStart(2, "0")}`);
    await store.storeInbound(phones.flatMap((p, i) => [msg(`wamid.p${i}a`, p, "1"), msg(`wamid.p${i}b`, p, "2")]), [], [], T0);
    const held = new Set<string>();
    let overlap = 0;
    const order: Record<string, string[]> = {};
    const worker = async (s: BrainStore, name: string) => {
      for (;;) {
        const c = await s.claimLearner(name, T0, 60_000);
        if (!c) return;
        if (held.has(c.learner.id)) overlap++;
        held.add(c.learner.id);
        for (const p of await s.pendingFor(c.learner.id, 100)) {
          (order[c.learner.id] ??= []).push(p.body);
          await s.completeInbound(p.id, "done");
        }
        held.delete(c.learner.id);
        await s.releaseLearner(c.learner.id, name);
      }
    };
    await Promise.all([worker(store, "a1"), worker(store, "a2"), worker(other, "b1"), worker(other, "b2")]);
    expect(overlap).toBe(0);
    expect(Object.keys(order).length).toBe(20);
    for (const bodies of Object.values(order)) expect(bodies).toEqual(["1", "2"]);
  });
});
