import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentTokens } from "@tierstack/common";
import type { TaskQueueApp } from "../src/app.js";
import { impls, openApp } from "./helpers.js";

// The findings of issue #10 against the HTTP API, each on both stores: what a hostile (or merely
// careless) client sent, and the answer it must get. Every test here failed before its fix.
describe.each(impls)("task-queue hostile input on $name", ({ skip, open }) => {
  let svc: TaskQueueApp;
  let close: () => Promise<void>;
  let auth: Record<string, string>;
  beforeAll(async () => {
    if (skip) return;
    let tokens: AgentTokens;
    ({ svc, tokens, close } = await openApp(open, { PAYLOAD_MAX_BYTES: "65536", BACKOFF_BASE_MS: "3600000", BACKOFF_MAX_MS: "3600000" }));
    auth = { authorization: `Bearer ${(await tokens.issue("agent-hostile")).token}` };
  });
  afterAll(async () => {
    if (!skip) await close();
  });

  const post = (url: string, payload?: object | string) =>
    svc.app.inject({ method: "POST", url, payload, headers: typeof payload === "string" ? { ...auth, "content-type": "application/json" } : auth });
  const get = (url: string) => svc.app.inject({ method: "GET", url, headers: auth });
  const claimOne = async (queue: string) => {
    const r = await post("/v1/claim", { queues: [queue], leaseSeconds: 60 });
    expect(r.statusCode).toBe(200);
    return r.json().tasks[0] as { id: number; leaseToken: string };
  };
  const deep = (levels: number, leaf = "1") => "[".repeat(levels) + leaf + "]".repeat(levels);

  it.skipIf(skip)("a payload or result nested 10,000 levels deep (a 20 KB body) is a 400 naming the depth, not a 500", async () => {
    // (The probe's 4,000 levels overflowed its server's stack; this process has a little more.)
    const body = `{"queue":"deep","payload":${deep(10_000)}}`;
    expect(Buffer.byteLength(body)).toBeLessThan(65_536);
    const e = await post("/v1/tasks", body);
    expect(e.statusCode).toBe(400);
    expect(e.json().message).toMatch(/^body\/payload(\/0)+: nested deeper than 64 levels$/);
    expect((await get("/v1/tasks?queue=deep")).json().tasks).toEqual([]);

    expect((await post("/v1/tasks", { queue: "deep" })).statusCode).toBe(201);
    const t = await claimOne("deep");
    const c = await post(`/v1/tasks/${t.id}/complete`, `{"leaseToken":${JSON.stringify(t.leaseToken)},"result":${deep(10_000)}}`);
    expect(c.statusCode).toBe(400);
    expect(c.json().message).toMatch(/^body\/result(\/0)+: nested deeper than 64 levels$/);
    expect((await get(`/v1/tasks/${t.id}`)).json().task.state).toBe("running");
    // Depth within the limit is stored and returned as it was sent.
    const ok = await post(`/v1/tasks/${t.id}/complete`, `{"leaseToken":${JSON.stringify(t.leaseToken)},"result":${deep(60)}}`);
    expect(ok.statusCode).toBe(200);
    expect(JSON.stringify(ok.json().task.result)).toBe(deep(60));
  });

  it.skipIf(skip)("unknown fields are refused with a 400 naming them, and nothing happens", async () => {
    // A misspelled runAt used to run the task now.
    const e = await post("/v1/tasks", { queue: "typo", runat: "2099-01-01T00:00:00Z" });
    expect(e.statusCode).toBe(400);
    expect(e.json().message).toBe("body/runat is not a known field (expected queue, payload, priority, runAt, maxAttempts, idempotencyKey)");
    expect((await get("/v1/tasks?queue=typo")).json().tasks).toEqual([]);
    const inBatch = await post("/v1/tasks/batch", { tasks: [{ queue: "typo" }, { queue: "typo", priorty: 5 }] });
    expect(inBatch.statusCode).toBe(400);
    expect(inBatch.json().message).toMatch(/^body\/tasks\/1\/priorty is not a known field/);
    expect((await get("/v1/tasks?queue=typo")).json().tasks).toEqual([]);

    // A misspelled leaseSeconds used to give the default lease.
    expect((await post("/v1/tasks", { queue: "typo" })).statusCode).toBe(201);
    const c = await post("/v1/claim", { queues: ["typo"], leaseSecond: 600 });
    expect(c.statusCode).toBe(400);
    expect(c.json().message).toMatch(/^body\/leaseSecond is not a known field/);
    const t = await claimOne("typo");

    // A misspelled result used to complete the task with null.
    const done = await post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken, reslt: { answer: 42 } });
    expect(done.statusCode).toBe(400);
    expect(done.json().message).toMatch(/^body\/reslt is not a known field/);
    expect((await get(`/v1/tasks/${t.id}`)).json().task).toMatchObject({ state: "running", result: null });
    const hb = await post(`/v1/tasks/${t.id}/heartbeat`, { leaseToken: t.leaseToken, leaseSecs: 5 });
    expect(hb.json().message).toMatch(/^body\/leaseSecs is not a known field/);
    const f = await post(`/v1/tasks/${t.id}/fail`, { leaseToken: t.leaseToken, error: "x", retries: false });
    expect(f.json().message).toMatch(/^body\/retries is not a known field/);
    const nx = await post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken, next: { queues: ["typo"], wait: 0 } });
    expect(nx.json().message).toMatch(/^body\/next\/wait is not a known field/);
    const q = await get("/v1/tasks?queue=typo&stat=ready");
    expect(q.statusCode).toBe(400);
    expect(q.json().message).toMatch(/^querystring\/stat is not a known field/);
    expect((await get(`/v1/tasks/${t.id}`)).json().task.state).toBe("running");
  });

  it.skipIf(skip)("types are not coerced: booleans, nulls, strings and hex ids are refused with the field named", async () => {
    for (const [priority, want] of [[true, "boolean"], [null, "null"], ["5", "a string"], [1.5, "1.5"]] as const) {
      const r = await post("/v1/tasks", { queue: "types", priority });
      expect(r.statusCode, `priority ${JSON.stringify(priority)} (${want})`).toBe(400);
      expect(r.json().message).toBe("body/priority must be integer");
    }
    expect((await post("/v1/tasks", { queue: "types", maxAttempts: "3" })).json().message).toBe("body/maxAttempts must be integer");
    expect((await post("/v1/claim", { queues: "types" })).json().message).toBe("body/queues must be array");
    expect((await post("/v1/tasks", { queue: 7 })).json().message).toBe("body/queue must be string");
    expect((await get("/v1/tasks?queue=types")).json().tasks).toEqual([]);

    const e = (await post("/v1/tasks", { queue: "types" })).json().task as { id: number };
    // Path and query integers are decimal digits, nothing else.
    for (const id of ["0x10", "1e1", "+1", "01", " 1", "1.0", "-1"]) {
      const r = await get(`/v1/tasks/${encodeURIComponent(id)}`);
      expect(r.statusCode, id).toBe(400);
      expect(r.json().message).toMatch(/^params\/id must be/);
    }
    expect((await get(`/v1/tasks/${e.id}`)).statusCode).toBe(200);
    for (const limit of ["0x10", "1e1", "true", "", "2.0"]) {
      const r = await get(`/v1/tasks?queue=types&limit=${encodeURIComponent(limit)}`);
      expect(r.statusCode, limit).toBe(400);
      expect(r.json().message).toBe("querystring/limit must be integer");
    }
    // A field given twice in the query string is refused, not picked.
    const twice = await get("/v1/tasks?queue=types&limit=1&limit=2");
    expect(twice.statusCode).toBe(400);
    expect(twice.json().message).toBe("querystring/limit must be integer");
  });

  it.skipIf(skip)("a NUL or a lone surrogate in a payload, result, error or idempotency key is stored and returned exactly", async () => {
    const weird = ["nul \u0000 here", "lone high \ud800", "lone low \udc00 end", "pair \ud83d\ude00 ok", "dle \u0010 0 \u00100", "\u0010d800"];
    const payload = { text: weird, "key \u0000": 1, "key \udfff": [weird[1]], nested: { "\u0010": "\u0000\u0000" } };
    const e = await post("/v1/tasks", { queue: "weird", payload, idempotencyKey: "idem \u0000 \ud800" });
    expect(e.statusCode).toBe(201);
    expect(e.json().task).toMatchObject({ payload, idempotencyKey: "idem \u0000 \ud800" });
    expect(e.body).toBe(JSON.stringify(e.json())); // and the answer's bytes are JavaScript's own encoding of it
    const again = await post("/v1/tasks", { queue: "weird", payload, idempotencyKey: "idem \u0000 \ud800" });
    expect(again.statusCode).toBe(200);
    expect(again.json().task.id).toBe(e.json().task.id);

    const t = await claimOne("weird");
    expect(t.id).toBe(e.json().task.id);
    // An agent whose error contains a NUL used to get a 500 on every retry.
    const f = await post(`/v1/tasks/${t.id}/fail`, { leaseToken: t.leaseToken, error: "boom \u0000 \udbff", retry: false });
    expect(f.statusCode).toBe(200);
    expect(f.json().task).toMatchObject({ state: "dead", lastError: "boom \u0000 \udbff" });
    expect((await post(`/v1/dead/${t.id}/requeue`)).statusCode).toBe(200);
    const t2 = await claimOne("weird");
    // …and one whose result contains a NUL could never complete.
    const result = { out: "done \u0000", lone: "\udc00", [weird[0] as string]: weird };
    const c = await post(`/v1/tasks/${t2.id}/complete`, { leaseToken: t2.leaseToken, result });
    expect(c.statusCode).toBe(200);
    expect(c.json().task).toMatchObject({ state: "completed", result, lastError: "boom \u0000 \udbff" });
    const read = (await get(`/v1/tasks/${t2.id}`)).json().task;
    expect(read).toMatchObject({ payload, result, idempotencyKey: "idem \u0000 \ud800", lastError: "boom \u0000 \udbff" });
    // A lease token with a NUL is simply not the holder's.
    expect((await post(`/v1/tasks/${t2.id}/heartbeat`, { leaseToken: "\u0000" })).statusCode).toBe(409);
  });

  it.skipIf(skip)("two idempotency keys that differ only in a lone surrogate are two tasks", async () => {
    const keys = ["k-\ud800", "k-\udbff", "k-\ufffd", "k-\udc00", "k-\u0010d800", "k-\u0000", "k-\u00100", "k-"];
    const ids = new Set<number>();
    for (const idempotencyKey of keys) {
      const r = await post("/v1/tasks", { queue: "keys", idempotencyKey });
      expect(r.statusCode, JSON.stringify(idempotencyKey)).toBe(201);
      expect(r.json().task.idempotencyKey).toBe(idempotencyKey);
      ids.add(r.json().task.id as number);
    }
    expect(ids.size).toBe(keys.length);
    for (const idempotencyKey of keys) expect((await post("/v1/tasks", { queue: "keys", idempotencyKey })).statusCode).toBe(200);
  });

  it.skipIf(skip)("a payload's members come back in the order they were sent, on both stores", async () => {
    const body = '{"queue":"order","payload":{"zeta":1,"alpha":{"b":2,"a":1},"mid":[{"y":0,"x":0}]}}';
    const e = await post("/v1/tasks", body);
    expect(e.statusCode).toBe(201);
    expect(JSON.stringify(e.json().task.payload)).toBe('{"zeta":1,"alpha":{"b":2,"a":1},"mid":[{"y":0,"x":0}]}');
    expect(JSON.stringify((await get(`/v1/tasks/${e.json().task.id}`)).json().task.payload)).toBe('{"zeta":1,"alpha":{"b":2,"a":1},"mid":[{"y":0,"x":0}]}');
  });

  it.skipIf(skip)("complete with an invalid next claim is refused before the task is completed", async () => {
    expect((await post("/v1/tasks", { queue: "next" })).statusCode).toBe(201);
    const t = await claimOne("next");
    const r = await post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken, result: 1, next: { queues: ["next"], leaseSeconds: 999_999 } });
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toBe("body/next/leaseSeconds must be <= 3600");
    expect((await get(`/v1/tasks/${t.id}`)).json().task).toMatchObject({ state: "running", result: null });
    const ok = await post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken, result: 1, next: { queues: ["next"], leaseSeconds: 3600 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ task: { state: "completed", result: 1 }, next: [] });
  });

  it.skipIf(skip)("GET /v1/tasks?after=1e400 (and other numbers JavaScript cannot hold) is a 400", async () => {
    for (const after of ["1e400", "Infinity", "9007199254740993", "99999999999999999999999"]) {
      const r = await get(`/v1/tasks?after=${after}`);
      expect(r.statusCode, after).toBe(400);
      expect(r.json().message).toMatch(/^querystring\/after /);
    }
    expect((await get("/v1/tasks?after=9007199254740991")).json()).toEqual({ tasks: [], next: null });
    // In a body: a number that overflows, underflows or loses digits is refused, never stored changed.
    for (const [lit, why] of [["1e400", "is out of range"], ["-1e400", "is out of range"], ["1e-400", "underflows to 0"], ["12345678901234567890", "cannot be represented exactly"]] as const) {
      const r = await post("/v1/tasks", `{"queue":"nums","payload":{"n":[${lit}]}}`);
      expect(r.statusCode, lit).toBe(400);
      expect(r.json().message).toMatch(new RegExp(`^body/payload/n/0: number ${lit.replace("+", "\\+")} ${why}`));
    }
    expect((await get("/v1/tasks?queue=nums")).json().tasks).toEqual([]);
  });

  it.skipIf(skip)("a body that is not one JSON reading is refused: member twice, __proto__, not UTF-8", async () => {
    const twice = await post("/v1/tasks", '{"queue":"dup","queue":"other"}');
    expect(twice.statusCode).toBe(400);
    expect(twice.json().message).toBe("body/queue: member given twice");
    const proto = await post("/v1/tasks", '{"queue":"dup","payload":{"__proto__":{"x":1}}}');
    expect(proto.statusCode).toBe(400);
    expect(proto.json().message).toMatch(/^body\/payload\/__proto__: /);
    const latin1 = await svc.app.inject({ method: "POST", url: "/v1/tasks", headers: { ...auth, "content-type": "application/json" }, payload: Buffer.from('{"queue":"dup","payload":"caf\xe9"}', "latin1") });
    expect(latin1.statusCode).toBe(400);
    expect(latin1.json().message).toBe("body: not valid UTF-8");
    expect((await get("/v1/tasks?queue=dup")).json().tasks).toEqual([]);
    expect((await get("/v1/tasks?queue=other")).json().tasks).toEqual([]);
  });
});
