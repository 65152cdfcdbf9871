import { describe, expect, it } from "vitest";
import { createServiceApp, HttpError, pingReadiness } from "./http.js";

describe("createServiceApp", () => {
  const make = (ready?: string) => {
    const svc = createServiceApp({ service: "t", logLevel: "silent", bodyLimit: 64, readiness: () => ready });
    svc.app.post("/echo", { schema: { body: { type: "object", required: ["n"], properties: { n: { type: "integer" } } } } }, async (req) => req.body);
    svc.app.get("/gone", async () => { throw new HttpError(404, "no such thing"); });
    svc.app.get("/boom", async () => { throw new Error("bug"); });
    return svc;
  };

  it("serves health, readiness and Prometheus metrics", async () => {
    const { app, markDraining } = make();
    expect((await app.inject("/healthz")).json()).toEqual({ status: "ok" });
    expect((await app.inject("/readyz")).statusCode).toBe(200);
    await app.inject("/healthz");
    const m = await app.inject("/metrics");
    expect(m.body).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/healthz",status="200"\} 2/);
    markDraining();
    expect((await app.inject("/readyz")).statusCode).toBe(503);
  });

  it("answers not-ready with the reason", async () => {
    const r = await make("database down").app.inject("/readyz");
    expect(r.statusCode).toBe(503);
    expect(r.json()).toEqual({ status: "not_ready", reason: "database down" });
  });

  it("turns a failing ping into a not-ready reason", async () => {
    let up = false;
    const svc = createServiceApp({ service: "t", logLevel: "silent", readiness: pingReadiness("database", async () => { if (!up) throw new Error("connection refused"); }) });
    expect((await svc.app.inject("/readyz")).json()).toEqual({ status: "not_ready", reason: "database: connection refused" });
    up = true;
    expect((await svc.app.inject("/readyz")).statusCode).toBe(200);
  });

  it("maps client mistakes to clear 4xx and hides server faults behind a 500", async () => {
    const { app } = make();
    const bad = await app.inject({ method: "POST", url: "/echo", payload: { n: "x" } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/n must be integer/);
    const malformed = await app.inject({ method: "POST", url: "/echo", headers: { "content-type": "application/json" }, payload: "{" });
    expect(malformed.statusCode).toBe(400);
    const big = await app.inject({ method: "POST", url: "/echo", payload: { n: 1, pad: "x".repeat(200) } });
    expect(big.statusCode).toBe(413);
    expect((await app.inject("/gone")).json()).toEqual({ error: "not_found", message: "no such thing" });
    expect((await app.inject("/nope")).statusCode).toBe(404);
    // An unknown route is a 404 whatever its body: no 415 for an empty or odd Content-Type, no 413.
    for (const [ct, payload] of [["", "[1]"], ["text/plain", "x"], ["application/json", "x".repeat(1000)], ["", ""]] as const) {
      for (const method of ["POST", "DELETE", "PUT"] as const) {
        const r = await app.inject({ method, url: "/nope/..", headers: { "content-type": ct }, payload });
        expect({ ct, method, status: r.statusCode, body: r.json() }).toEqual({ ct, method, status: 404, body: { error: "not_found", message: `no route ${method} /` } });
      }
    }
    const boom = await app.inject("/boom");
    expect(boom.statusCode).toBe(500);
    expect(boom.body).not.toContain("bug");
  });

  describe("one input contract for route schemas", () => {
    const contract = (json?: { maxDepth?: number }) => {
      const svc = createServiceApp({ service: "t", logLevel: "silent", json });
      const body = { type: "object", required: ["n"], additionalProperties: false, properties: { n: { type: "integer" }, s: { type: "string" }, inner: { type: "object", additionalProperties: false, properties: { k: { type: "boolean" } } } } };
      svc.app.post("/body", { schema: { body } }, async (req) => ({ got: req.body }));
      svc.app.get<{ Params: { id: number }; Querystring: Record<string, unknown> }>("/items/:id", {
        schema: {
          params: { type: "object", additionalProperties: false, properties: { id: { type: "integer", minimum: 1 } } },
          querystring: { type: "object", additionalProperties: false, properties: { limit: { type: "integer" }, name: { type: "string" }, flag: { type: "boolean" } } },
        },
      }, async (req) => ({ id: req.params.id, query: req.query }));
      return svc.app;
    };

    it("refuses an unknown field, naming it and the fields expected, instead of dropping it", async () => {
      const app = contract();
      const r = await app.inject({ method: "POST", url: "/body", payload: { n: 1, m: 2 } });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toEqual({ error: "bad_request", message: "body/m is not a known field (expected n, s, inner)" });
      const nested = await app.inject({ method: "POST", url: "/body", payload: { n: 1, inner: { k: true, "odd key/1": 0 } } });
      expect(nested.json().message).toBe('body/inner/"odd key~11" is not a known field (expected k)');
      expect((await app.inject({ method: "POST", url: "/body", payload: { n: 1, inner: { k: true } } })).json()).toEqual({ got: { n: 1, inner: { k: true } } });
      const q = await app.inject("/items/1?limit=1&limt=2");
      expect(q.json().message).toBe("querystring/limt is not a known field (expected limit, name, flag)");
    });

    it("takes JSON types as written: nothing in a body is coerced", async () => {
      const app = contract();
      for (const n of ["1", true, null, 1.5, [1]]) {
        const r = await app.inject({ method: "POST", url: "/body", payload: { n } });
        expect(r.statusCode, JSON.stringify(n)).toBe(400);
        expect(r.json().message).toBe("body/n must be integer");
      }
      expect((await app.inject({ method: "POST", url: "/body", payload: { n: 1, s: 5 } })).json().message).toBe("body/s must be string");
      expect((await app.inject({ method: "POST", url: "/body", payload: { n: 1, inner: { k: "true" } } })).json().message).toBe("body/inner/k must be boolean");
    });

    it("reads a path or query integer only when it is a decimal integer; nothing else is coerced", async () => {
      const app = contract();
      expect((await app.inject("/items/16?limit=-3&name=7")).json()).toEqual({ id: 16, query: { limit: -3, name: "7" } });
      for (const id of ["0x10", "1e1", "+1", "01", "1.0", "%2016", "-0", "", "1_0"]) {
        const r = await app.inject(`/items/${id}`);
        expect(r.statusCode, id).toBe(r.statusCode === 404 ? 404 : 400);
        if (r.statusCode === 400) expect(r.json().message).toBe("params/id must be integer");
      }
      expect((await app.inject("/items/0")).json().message).toBe("params/id must be >= 1");
      expect((await app.inject("/items/9007199254740993")).json().message).toBe("params/id must be an integer within ±(2^53-1)");
      expect((await app.inject("/items/1?limit=1e400")).json().message).toBe("querystring/limit must be integer");
      expect((await app.inject("/items/1?limit=1&limit=2")).json().message).toBe("querystring/limit must be integer");
      expect((await app.inject("/items/1?flag=true")).json().message).toBe("querystring/flag must be boolean");
      expect((await app.inject("/items/1?name=a&name=b")).json().message).toBe("querystring/name must be string");
    });

    it("with json set, every application/json body passes the bounded parse first", async () => {
      const deep = `{"n":1,"s":${"[".repeat(5000)}${"]".repeat(5000)}}`;
      const bounded = contract({ maxDepth: 8 });
      const r = await bounded.inject({ method: "POST", url: "/body", headers: { "content-type": "application/json" }, payload: deep });
      expect(r.statusCode).toBe(400);
      expect(r.json().message).toBe(`body/s${"/0".repeat(7)}: nested deeper than 8 levels`);
      const twice = await bounded.inject({ method: "POST", url: "/body", headers: { "content-type": "application/json; charset=utf-8" }, payload: '{"n":1,"n":2}' });
      expect(twice.json()).toEqual({ error: "bad_request", message: "body/n: member given twice" });
      const big = await bounded.inject({ method: "POST", url: "/body", headers: { "content-type": "application/json" }, payload: `{"n":1,"s":"${"x".repeat(2 * 1024 * 1024)}"}` });
      expect(big.statusCode).toBe(413);
      const empty = await bounded.inject({ method: "POST", url: "/body", headers: { "content-type": "application/json" }, payload: "" });
      expect(empty.statusCode).toBe(400);
      expect((await bounded.inject({ method: "POST", url: "/body", payload: { n: 7 } })).json()).toEqual({ got: { n: 7 } });
      // Without it, Fastify's own parser reads the same body (a service with its own parsers).
      const plain = await contract().inject({ method: "POST", url: "/body", headers: { "content-type": "application/json" }, payload: deep });
      expect(plain.json().message).toBe("body/s must be string");
    });
  });
});
