import fc from "fast-check";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStripePeer, stripeEvent } from "../test/peers/stripe.js";
import { isPlanId } from "./plans.js";
import { createPaymentLink, createStripeClient, planChangeFor, StripeSignatureError, verifyStripeEvent } from "./stripe.js";

const SECRET = "whsec_test_secret_0123456789";
let peer: Awaited<ReturnType<typeof startStripePeer>>;
let stripe: Stripe;
beforeAll(async () => {
  peer = await startStripePeer();
  stripe = createStripeClient({ secretKey: "sk_test_brainparts", host: peer.host, port: peer.port, protocol: "http", maxNetworkRetries: 0 });
});
afterAll(() => peer.close());

function signed(event: Record<string, unknown>, opts: { secret?: string; timestamp?: number } = {}) {
  const payload = JSON.stringify(event);
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? SECRET, ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}) });
  return { raw: Buffer.from(payload), header };
}
function verified(type: string, object: Record<string, unknown>, id?: string) {
  const { raw, header } = signed(stripeEvent(type, object, id));
  return verifyStripeEvent(stripe, raw, header, SECRET);
}

describe("payment links through the Stripe API (loopback peer)", () => {
  it("creates a payment link for the price, tags the learner, and returns the URL with client_reference_id", async () => {
    const url = await createPaymentLink(stripe, { learnerId: "lrn_42", priceId: "price_plus_monthly", plan: "plus" });
    const u = new URL(url);
    expect(u.origin).toBe("https://buy.stripe.com");
    expect(u.searchParams.get("client_reference_id")).toBe("lrn_42");
    const req = peer.requests.at(-1)!;
    expect(req).toMatchObject({ method: "POST", path: "/v1/payment_links", authorization: "Bearer sk_test_brainparts" });
    expect(req.body).toEqual({
      line_items: [{ price: "price_plus_monthly", quantity: "1" }],
      metadata: { learnerId: "lrn_42", plan: "plus" },
      subscription_data: { metadata: { learnerId: "lrn_42", plan: "plus" } },
    });
    expect(req.stripeVersion).toBeTruthy();
  });

  it("Stripe errors surface as the client's typed errors", async () => {
    await expect(createPaymentLink(stripe, { learnerId: "lrn_1", priceId: "not_a_price" })).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    const wrongKey = createStripeClient({ secretKey: "rk_bad", host: peer.host, port: peer.port, protocol: "http", maxNetworkRetries: 0 });
    await expect(createPaymentLink(wrongKey, { learnerId: "lrn_1", priceId: "price_x" })).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  it("refuses learner ids that cannot travel as client_reference_id, before any request", async () => {
    const before = peer.requests.length;
    for (const bad of ["", "a b", "x".repeat(201), "+15551234567", "ü"]) {
      await expect(createPaymentLink(stripe, { learnerId: bad, priceId: "price_x" })).rejects.toThrow(/learnerId/);
    }
    expect(peer.requests.length).toBe(before);
  });
});

describe("verifyStripeEvent", () => {
  const event = stripeEvent("customer.subscription.deleted", { id: "sub_1", object: "subscription", status: "canceled", metadata: {} }, "evt_fixed_1");

  it("accepts a correctly signed payload and returns the event", () => {
    const { raw, header } = signed(event);
    const e = verifyStripeEvent(stripe, raw, header, SECRET);
    expect(e.id).toBe("evt_fixed_1");
    expect(e.type).toBe("customer.subscription.deleted");
  });

  it("rejects missing, wrong-secret, tampered and stale signatures with StripeSignatureError", () => {
    const { raw, header } = signed(event);
    expect(() => verifyStripeEvent(stripe, raw, undefined, SECRET)).toThrow(StripeSignatureError);
    expect(() => verifyStripeEvent(stripe, raw, "", SECRET)).toThrow(StripeSignatureError);
    expect(() => verifyStripeEvent(stripe, raw, header, "whsec_other")).toThrow(StripeSignatureError);
    const tampered = Buffer.from(raw.toString().replace("canceled", "active"));
    expect(() => verifyStripeEvent(stripe, tampered, header, SECRET)).toThrow(StripeSignatureError);
    const stale = signed(event, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    expect(() => verifyStripeEvent(stripe, stale.raw, stale.header, SECRET)).toThrow(StripeSignatureError);
    expect(() => verifyStripeEvent(stripe, raw, "t=1,v1=deadbeef", SECRET)).toThrow(StripeSignatureError);
  });
});

describe("planChangeFor", () => {
  it("checkout.session.completed ⇒ the paid plan for client_reference_id", () => {
    const e = verified("checkout.session.completed", {
      id: "cs_1", object: "checkout.session", client_reference_id: "lrn_42", customer: "cus_1", subscription: "sub_1",
      mode: "subscription", payment_status: "paid", status: "complete", metadata: { learnerId: "lrn_42", plan: "dedicated" },
    }, "evt_cs");
    expect(planChangeFor(e)).toEqual({ eventId: "evt_cs", learnerId: "lrn_42", customerId: "cus_1", subscriptionId: "sub_1", plan: "dedicated", reason: "checkout.session.completed" });
  });

  it("checkout without plan metadata ⇒ plus; unpaid (async payment pending) ⇒ no change", () => {
    expect(planChangeFor(verified("checkout.session.completed", { id: "cs_2", client_reference_id: "lrn_7", payment_status: "paid", metadata: {} }))).toMatchObject({ learnerId: "lrn_7", plan: "plus" });
    expect(planChangeFor(verified("checkout.session.completed", { id: "cs_3", client_reference_id: "lrn_7", payment_status: "unpaid" }))).toBeUndefined();
    // a forged "free" plan in metadata never counts as a paid plan
    expect(planChangeFor(verified("checkout.session.completed", { id: "cs_4", client_reference_id: "lrn_7", payment_status: "paid", metadata: { plan: "free" } }))).toMatchObject({ plan: "plus" });
  });

  it("customer.subscription.updated follows the status", () => {
    const sub = (status: string) => ({ id: "sub_9", object: "subscription", customer: { id: "cus_9", object: "customer" }, status, metadata: { learnerId: "lrn_9", plan: "plus" } });
    expect(planChangeFor(verified("customer.subscription.updated", sub("active"), "evt_u1"))).toEqual({ eventId: "evt_u1", learnerId: "lrn_9", customerId: "cus_9", subscriptionId: "sub_9", plan: "plus", reason: "customer.subscription.updated (active)" });
    expect(planChangeFor(verified("customer.subscription.updated", sub("trialing")))).toMatchObject({ plan: "plus" });
    for (const s of ["canceled", "unpaid", "incomplete_expired", "paused"]) {
      expect(planChangeFor(verified("customer.subscription.updated", sub(s)))).toMatchObject({ plan: "free", learnerId: "lrn_9" });
    }
    for (const s of ["past_due", "incomplete"]) expect(planChangeFor(verified("customer.subscription.updated", sub(s)))).toBeUndefined();
  });

  it("customer.subscription.deleted ⇒ free", () => {
    expect(planChangeFor(verified("customer.subscription.deleted", { id: "sub_5", customer: "cus_5", status: "canceled", metadata: { learnerId: "lrn_5" } }, "evt_d"))).toEqual({
      eventId: "evt_d", learnerId: "lrn_5", customerId: "cus_5", subscriptionId: "sub_5", plan: "free", reason: "customer.subscription.deleted (canceled)",
    });
  });

  it("invoice.payment_failed ⇒ free, learner from the subscription details (new and old API shapes)", () => {
    const newShape = verified("invoice.payment_failed", { id: "in_1", object: "invoice", customer: "cus_3", parent: { type: "subscription_details", subscription_details: { subscription: "sub_3", metadata: { learnerId: "lrn_3" } } } }, "evt_f1");
    expect(planChangeFor(newShape)).toEqual({ eventId: "evt_f1", learnerId: "lrn_3", customerId: "cus_3", subscriptionId: "sub_3", plan: "free", reason: "invoice.payment_failed" });
    const oldShape = verified("invoice.payment_failed", { id: "in_2", customer: "cus_4", subscription: "sub_4", subscription_details: { metadata: { learnerId: "lrn_4" } } });
    expect(planChangeFor(oldShape)).toMatchObject({ learnerId: "lrn_4", customerId: "cus_4", subscriptionId: "sub_4", plan: "free" });
  });

  it("other event types ⇒ undefined", () => {
    for (const t of ["payment_intent.succeeded", "customer.created", "invoice.paid", "charge.refunded"]) {
      expect(planChangeFor(verified(t, { id: "x_1" }))).toBeUndefined();
    }
  });

  it("property: arbitrary (hostile) event objects never throw and only ever yield a known plan", () => {
    const types = ["checkout.session.completed", "customer.subscription.updated", "customer.subscription.deleted", "invoice.payment_failed", "other.type"];
    fc.assert(fc.property(fc.constantFrom(...types), fc.jsonValue(), fc.anything(), (type, object, meta) => {
      const data = object && typeof object === "object" && !Array.isArray(object) ? { ...object, metadata: meta, status: "active", parent: meta } : object;
      const e = { id: "evt_p", object: "event", type, data: { object: data } } as unknown as Stripe.Event;
      const c = planChangeFor(e);
      if (c !== undefined) {
        expect(isPlanId(c.plan)).toBe(true);
        expect(c.eventId).toBe("evt_p");
        for (const k of ["learnerId", "customerId", "subscriptionId"] as const) {
          if (k in c) expect(typeof c[k]).toBe("string");
        }
      }
    }), { numRuns: 500 });
  });
});
