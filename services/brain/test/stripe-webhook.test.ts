/**
 * Issue #10 (brain): a correctly signed Stripe event the brain cannot use is acknowledged (2xx:
 * Stripe redelivers anything else for days) and kept once as a dead letter — never a 500. On both
 * stores.
 */
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, PG_URL } from "@tierstack/common/testing";
import { stripeEvent } from "./peers/stripe.js";
import { STRIPE_WEBHOOK_SECRET, startHarness, type Db, type Harness } from "./harness.js";

const dbs: Db[] = ["sqlite"];
if (await available("postgres", PG_URL)) dbs.push("postgres");

const signer = new Stripe("sk_test_signer");
const sign = (p: string) => signer.webhooks.generateTestHeaderString({ payload: p, secret: STRIPE_WEBHOOK_SECRET });

describe.each(dbs)("Stripe webhook on %s", (db) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ db, workers: false });
  });
  afterAll(async () => h?.close());

  const post = (payload: string, headers: Record<string, string | string[]> = { "stripe-signature": sign(payload) }) =>
    h.brain.app.inject({ method: "POST", url: "/webhooks/stripe", headers: { "content-type": "application/json", ...headers }, payload });

  const checkout = (id: unknown, marker: string) => {
    const e: Record<string, unknown> = stripeEvent("checkout.session.completed", { object: "checkout.session", client_reference_id: "nobody", payment_status: "paid", status: "complete", metadata: { marker } });
    if (id === undefined) delete e.id;
    else e.id = id;
    return JSON.stringify(e);
  };

  it.each([
    ["a number", 123],
    ["null", null],
    ["an object", { nested: "evt_1" }],
    ["an array", ["evt_1"]],
    ["a boolean", true],
    ["missing", undefined],
    ["an empty string", ""],
    ["a 10,000-character string", "e".repeat(10_000)],
  ])("an event whose id is %s answers 200, applies nothing and is kept once", async (what, id) => {
    const marker = `id-${db}-${what}`;
    const payload = checkout(id, marker);
    for (let i = 0; i < 3; i++) {
      const res = await post(payload);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ received: true, applied: false, refused: "id: expected a string of 1-255 characters" });
    }
    const dead = (await h.store.deadLetters(1000)).filter((d) => d.payload.includes(marker));
    expect(dead).toHaveLength(1);
    expect(dead[0]!.source).toBe("stripe");
  });

  it.each([
    ["type is not a string", (e: Record<string, unknown>) => ({ ...e, type: 7 }), "type: expected a string"],
    ["data is missing", (e: Record<string, unknown>) => ({ ...e, data: undefined }), "data.object: expected an object"],
    ["data.object is a string", (e: Record<string, unknown>) => ({ ...e, data: { object: "x" } }), "data.object: expected an object"],
    ["the event is an array", () => [1, 2], "event: expected an object"],
  ])("an event where %s answers 200 and is kept once", async (_what, change, refused) => {
    const base = stripeEvent("customer.subscription.deleted", { object: "subscription", id: "sub_x", status: "canceled", metadata: {} });
    const payload = JSON.stringify(change(base));
    for (let i = 0; i < 2; i++) {
      const res = await post(payload);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ received: true, applied: false, refused });
    }
    expect((await h.store.deadLetters(1000)).filter((d) => d.payload === payload)).toHaveLength(1);
  });

  it("a signed event that is not JSON, or nested too deep, answers 200 and is kept once", async () => {
    for (const [payload, refused] of [[`{"id": "evt_${db}_broken`, "event: not JSON"], ["[".repeat(5000) + "]".repeat(5000), "event: nested deeper than 64 levels"]] as const) {
      for (let i = 0; i < 2; i++) {
        const res = await post(payload);
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ received: true, applied: false, refused });
      }
      expect((await h.store.deadLetters(1000)).filter((d) => d.payload === payload)).toHaveLength(1);
    }
  });

  it("event ids with NUL and lone surrogates are events like any other: applied once, the same on both stores", async () => {
    for (const id of [`evt_nul\u0000${db}`, `evt_sur\ud800${db}`, `evt_dle\u0010${db}`]) {
      const payload = JSON.stringify(stripeEvent("customer.created", { object: "customer", id: "cus_x" }, id));
      expect((await post(payload)).json()).toEqual({ received: true, applied: false });
      expect(await h.store.markStripeEvent(id, Date.now())).toBe(false);
    }
  });

  it("a missing, duplicated or unsigned Stripe-Signature is a 400 and nothing is kept", async () => {
    const payload = checkout("evt_sigtest", `sig-${db}`);
    const before = (await h.store.deadLetters(1000)).length;
    expect((await post(payload, {})).statusCode).toBe(400);
    expect((await post(payload, { "stripe-signature": [sign(payload), sign(payload)] })).statusCode).toBe(400);
    expect((await post(payload, { "stripe-signature": "t=1,v1=00" })).statusCode).toBe(400);
    expect((await h.store.deadLetters(1000)).length).toBe(before);
  });
});
