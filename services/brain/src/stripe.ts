/**
 * Stripe: the client (pointable at a loopback peer through host/port/protocol), webhook signature
 * verification (stripe.webhooks.constructEvent, 300 s tolerance) and the mapping from events to
 * plan changes, and payment links.
 *
 * Learner identity travels two ways: `client_reference_id` on the payment link URL (copied by
 * Checkout onto checkout.session.completed) and `metadata.learnerId` on the payment link's
 * subscription_data (copied onto the subscription, hence onto customer.subscription.* and the
 * invoice's subscription details).
 */
import Stripe from "stripe";
import { jsonDepthExceeds } from "./input.js";
import { isPlanId, type PlanId } from "./plans.js";

export class StripeSignatureError extends Error {
  override readonly name = "StripeSignatureError";
}

export function createStripeClient(opts: { secretKey: string; host?: string; port?: number; protocol?: "http" | "https"; timeoutMs?: number; maxNetworkRetries?: number }): Stripe {
  return new Stripe(opts.secretKey, {
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.protocol !== undefined ? { protocol: opts.protocol } : {}),
    timeout: opts.timeoutMs ?? 20_000,
    maxNetworkRetries: opts.maxNetworkRetries ?? 2,
    telemetry: false,
  });
}

/** Verifies the Stripe-Signature header over the raw bytes; throws StripeSignatureError on any failure. */
export function verifyStripeEvent(stripe: Stripe, rawBody: Buffer, signature: string | undefined, secret: string): Stripe.Event {
  if (!signature) throw new StripeSignatureError("missing Stripe-Signature header");
  try {
    return stripe.webhooks.constructEvent(rawBody, signature, secret);
  } catch (e) {
    throw new StripeSignatureError(`invalid Stripe signature: ${(e as Error).message}`);
  }
}

/**
 * Verifies the Stripe-Signature header over the raw bytes (HMAC-SHA256, 300 s tolerance) without
 * parsing them, so the body's nesting is checked before anything walks it; throws
 * StripeSignatureError on any failure.
 */
export function verifyStripeSignature(stripe: Stripe, rawBody: Buffer, signature: string | undefined, secret: string): void {
  if (!signature) throw new StripeSignatureError("missing Stripe-Signature header");
  const sig = stripe.webhooks.signature;
  if (!sig) throw new StripeSignatureError("the stripe client has no signature helper");
  try {
    sig.verifyHeader(rawBody, signature, secret, stripe.webhooks.DEFAULT_TOLERANCE);
  } catch (e) {
    throw new StripeSignatureError(`invalid Stripe signature: ${(e as Error).message}`);
  }
}

/** Stripe's event payloads nest a few levels; deeper is refused before JSON.parse. */
export const STRIPE_MAX_DEPTH = 64;
/** Stripe event ids are strings ("evt_…"); longer than this is not a Stripe id. */
const MAX_EVENT_ID = 255;

/**
 * A verified body read as an event, or why it cannot be one. Stripe adds fields over time, so
 * unknown fields are never refused; what the brain needs is checked: a JSON object (nesting at
 * most STRIPE_MAX_DEPTH) with `id` a string of 1-255 characters, `type` a string and
 * `data.object` an object. Fields inside data.object are read defensively by planChangeFor.
 */
export function readStripeEvent(rawBody: Buffer): { event: Stripe.Event } | { refused: string } {
  const text = rawBody.toString("utf8");
  if (jsonDepthExceeds(text, STRIPE_MAX_DEPTH)) return { refused: `event: nested deeper than ${STRIPE_MAX_DEPTH} levels` };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { refused: "event: not JSON" };
  }
  if (!isObj(doc)) return { refused: "event: expected an object" };
  const id = ownOf(doc, "id");
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_EVENT_ID) return { refused: `id: expected a string of 1-${MAX_EVENT_ID} characters` };
  if (typeof ownOf(doc, "type") !== "string") return { refused: "type: expected a string" };
  const data = ownOf(doc, "data");
  if (!isObj(data) || !isObj(ownOf(data, "object"))) return { refused: "data.object: expected an object" };
  return { event: doc as unknown as Stripe.Event };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const ownOf = (o: Record<string, unknown>, k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);

export interface PlanChange {
  eventId: string;
  learnerId?: string;
  customerId?: string;
  subscriptionId?: string;
  plan: PlanId;
  reason: string;
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);
const idOf = (v: unknown): string | undefined => str(v) ?? (v && typeof v === "object" ? str((v as Obj).id) : undefined);
const obj = (v: unknown): Obj => (v && typeof v === "object" ? (v as Obj) : {});

function paidPlan(metadata: unknown): PlanId {
  const p = obj(metadata).plan;
  return isPlanId(p) && p !== "free" ? p : "plus";
}

/**
 * The plan change an event implies, or undefined when it implies none:
 * - checkout.session.completed (status complete / payment_status paid or no_payment_required) ⇒ metadata.plan or "plus";
 * - customer.subscription.updated ⇒ active/trialing: metadata.plan or "plus"; canceled/unpaid/incomplete_expired/paused: free; past_due/incomplete: none;
 * - customer.subscription.deleted ⇒ free;
 * - invoice.payment_failed ⇒ free.
 */
export function planChangeFor(event: Stripe.Event): PlanChange | undefined {
  const o = obj(event.data?.object);
  const base = { eventId: event.id };
  const customerId = idOf(o.customer);
  switch (event.type) {
    case "checkout.session.completed": {
      if (o.payment_status === "unpaid") return undefined; // async payment methods: wait for async_payment_succeeded
      const learnerId = str(o.client_reference_id) ?? str(obj(o.metadata).learnerId);
      return { ...base, ...(learnerId ? { learnerId } : {}), ...(customerId ? { customerId } : {}), ...sub(idOf(o.subscription)), plan: paidPlan(o.metadata), reason: "checkout.session.completed" };
    }
    case "customer.subscription.updated":
    case "customer.subscription.deleted": {
      const learnerId = str(obj(o.metadata).learnerId);
      const status = str(o.status);
      let plan: PlanId | undefined;
      if (event.type === "customer.subscription.deleted") plan = "free";
      else if (status === "active" || status === "trialing") plan = paidPlan(o.metadata);
      else if (status === "canceled" || status === "unpaid" || status === "incomplete_expired" || status === "paused") plan = "free";
      if (!plan) return undefined;
      return { ...base, ...(learnerId ? { learnerId } : {}), ...(customerId ? { customerId } : {}), ...sub(idOf(o.id)), plan, reason: `${event.type}${status ? ` (${status})` : ""}` };
    }
    case "invoice.payment_failed": {
      // API ≥ 2025-03: parent.subscription_details; older: subscription + subscription_details.
      const details = obj(obj(o.parent).subscription_details ?? o.subscription_details);
      const learnerId = str(obj(details.metadata).learnerId);
      const subscriptionId = idOf(details.subscription) ?? idOf(o.subscription);
      return { ...base, ...(learnerId ? { learnerId } : {}), ...(customerId ? { customerId } : {}), ...sub(subscriptionId), plan: "free", reason: "invoice.payment_failed" };
    }
    default:
      return undefined;
  }
}

function sub(id: string | undefined): { subscriptionId?: string } {
  return id ? { subscriptionId: id } : {};
}

/**
 * Creates a payment link for one price and returns its URL with `client_reference_id=<learnerId>`
 * appended (Checkout accepts alphanumerics, dashes and underscores, up to 200 characters).
 */
export async function createPaymentLink(stripe: Stripe, opts: { learnerId: string; priceId: string; plan?: PlanId }): Promise<string> {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(opts.learnerId)) throw new Error("learnerId must be 1-200 of [A-Za-z0-9_-] to travel as client_reference_id");
  const metadata: Record<string, string> = { learnerId: opts.learnerId, ...(opts.plan ? { plan: opts.plan } : {}) };
  const link = await stripe.paymentLinks.create({
    line_items: [{ price: opts.priceId, quantity: 1 }],
    metadata,
    subscription_data: { metadata },
  });
  const url = new URL(link.url);
  url.searchParams.set("client_reference_id", opts.learnerId);
  return url.toString();
}
