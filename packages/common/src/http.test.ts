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
    const boom = await app.inject("/boom");
    expect(boom.statusCode).toBe(500);
    expect(boom.body).not.toContain("bug");
  });
});
