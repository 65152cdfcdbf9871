/**
 * Sign-up: the page, and the endpoint it posts to. Its input contract (input.ts):
 * - JSON (`application/json`): exactly `{ "phone": string ≤ 32 characters, "consent": true }`;
 * - a form (`application/x-www-form-urlencoded`, what the page posts): `phone` and `consent`
 *   (`yes`, the page's checkbox value, or `on`, a browser's default), each given once;
 * at most 8 KB and 8 levels of nesting, no other field, no other content type (415). A refused
 * field is a 400 whose message starts with its name.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { HttpError, redactPhone } from "@tierstack/common";
import { normalizePhone, parseBoundedJson, readFields, type Spec } from "./input.js";
import { signupPage } from "./signup-page.js";
import type { BrainStore } from "./store/index.js";
import { templates, type OutboundPayload } from "./templates.js";
import type { Replier } from "./reply.js";

export const SIGNUP_BODY_LIMIT = 8 * 1024;

const JSON_FIELDS = {
  phone: { type: "string", maxLength: 32, required: true },
  consent: { type: "true", required: true },
} satisfies Spec;
const FORM_FIELDS = {
  phone: { type: "string", maxLength: 32, required: true },
  consent: { type: "true", required: true, accept: ["yes", "on"] },
} satisfies Spec;

/** A parsed form body: each field's values in order (more than one ⇒ refused). */
class FormBody {
  constructor(readonly fields: Record<string, string | string[]>) {}
}

function parseForm(text: string): FormBody {
  const fields: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of new URLSearchParams(text)) {
    const cur = fields[k];
    fields[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
  }
  return new FormBody(fields);
}

export function signupRoutes(scope: FastifyInstance, opts: { store: BrainStore; replier: Replier; templateLanguage: string; now: () => number }): void {
  const { store, replier, now } = opts;
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: SIGNUP_BODY_LIMIT }, (_req, body, done) => {
    try {
      done(null, parseBoundedJson(String(body)));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  scope.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: SIGNUP_BODY_LIMIT }, (_req, body, done) => {
    done(null, parseForm(String(body)));
  });

  scope.get("/signup", async (_req, reply) => reply.type("text/html; charset=utf-8").send(signupPage()));
  scope.post("/signup", async (req, reply) => {
    if (req.body === undefined) throw new HttpError(400, "body: expected JSON { phone, consent: true } or a form with phone and consent");
    const fields = req.body instanceof FormBody ? readFields(req.body.fields, FORM_FIELDS, { strings: true }) : readFields(req.body, JSON_FIELDS);
    const phone = normalizePhone(fields.phone);
    if (!phone) throw new HttpError(400, "phone: expected a WhatsApp number in international format, e.g. +44 7700 900123");
    const t = now();
    const learner = await store.signUp(phone, t);
    const msg = { kind: "template" as const, to: phone, template: templates.onboarding, language: opts.templateLanguage };
    const payload: OutboundPayload = { msg, outsideWindow: msg };
    const out = await store.recordReply({ learnerId: learner.id, outbound: { key: `signup:${learner.id}:${randomUUID()}`, payload: JSON.stringify(payload), at: t } });
    await replier.deliver(out, learner);
    const sent = (await store.outboundByKey(out.key))?.state === "sent";
    req.log.info({ learner: redactPhone(phone), sent }, "sign-up");
    const html = (req.headers.accept ?? "").includes("text/html") && req.body instanceof FormBody;
    if (html) return reply.type("text/html; charset=utf-8").code(202).send(signupPage(sent ? "Check WhatsApp: we sent you a message. Reply to it to start learning." : "We could not reach WhatsApp just now; please try again in a minute."));
    return reply.code(202).send({ learnerId: learner.id, optInSent: sent });
  });
}
