/**
 * POST /webhooks/stripe. Stripe redelivers any event not answered 2xx (for up to three days), so
 * only a bad or missing signature is refused (400: the sender is not Stripe). A correctly signed
 * event the brain cannot use — not JSON, nested too deep, an `id` that is not a string, no `type`
 * or `data.object` — is acknowledged 200 with `refused` saying why, and kept once as a dead letter.
 * Unknown fields are never refused (Stripe adds them over time).
 */
import type { FastifyBaseLogger } from "fastify";
import type Stripe from "stripe";
import type { BrainStore } from "./store/index.js";
import { planChangeFor, readStripeEvent, verifyStripeSignature } from "./stripe.js";

export type StripeWebhookAnswer =
  | { status: 400; body: { error: "bad_request"; message: string } }
  | { status: 503; body: { error: "unavailable"; message: string } }
  | { status: 200; body: { received: true; applied: boolean; outcome?: string; refused?: string } };

export function stripeWebhook(opts: { stripe: Stripe; secret: string; store: BrainStore; now: () => number; rejected: () => void }) {
  const { store, now } = opts;
  return async (raw: Buffer, signature: string | undefined, log: FastifyBaseLogger): Promise<StripeWebhookAnswer> => {
    try {
      verifyStripeSignature(opts.stripe, raw, signature, opts.secret);
    } catch (err) {
      opts.rejected();
      return { status: 400, body: { error: "bad_request", message: (err as Error).message } };
    }
    try {
      return await apply(raw, log);
    } catch (err) {
      // The database failed: a non-2xx makes Stripe redeliver later, which loses nothing.
      log.error({ err }, "stripe event not stored");
      return { status: 503, body: { error: "unavailable", message: "try again" } };
    }
  };

  async function apply(raw: Buffer, log: FastifyBaseLogger): Promise<StripeWebhookAnswer> {
    const read = readStripeEvent(raw);
    if ("refused" in read) {
      await store.addDeadLetter("stripe", `unusable event: ${read.refused}`, raw.toString("utf8"), now());
      log.warn({ refused: read.refused }, "stripe event refused");
      return { status: 200, body: { received: true, applied: false, refused: read.refused } };
    }
    const { event } = read;
    const change = planChangeFor(event);
    if (!change) {
      await store.markStripeEvent(event.id, now());
      return { status: 200, body: { received: true, applied: false } };
    }
    const outcome = await store.applyPlanChange(change, now());
    if (outcome === "no_learner") {
      await store.addDeadLetter("stripe", `plan change for an unknown learner (${change.reason})`, JSON.stringify(change), now(), `stripe:${event.id}`);
    }
    log.info({ event: event.id, type: event.type, plan: change.plan, outcome }, "stripe event");
    return { status: 200, body: { received: true, applied: outcome === "applied", outcome } };
  }
}
