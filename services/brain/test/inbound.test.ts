/**
 * Issue #10 (brain): what a learner gets back for every inbound message type the Cloud API
 * documents, that a redelivered unusable message is kept once, and that text the stores cannot
 * hold as such (NUL, lone surrogates) round trips — on both stores, end to end through the webhook.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, PG_URL } from "@tierstack/common/testing";
import { texts } from "../src/templates.js";
import { notification, startHarness, textNotification, until, type Db, type Harness } from "./harness.js";

const dbs: Db[] = ["sqlite"];
if (await available("postgres", PG_URL)) dbs.push("postgres");

let phoneSeq = 0;
const newPhone = () => `4477018${String(process.pid % 1000).padStart(3, "0")}${String(++phoneSeq).padStart(2, "0")}`;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sentTo = (h: Harness, phone: string): any[] => h.cloud.sent.filter((s) => s.to === phone);

/** What the learner gets back: the LLM's answer to this text, the fixed notice, the welcome, nothing with a dead letter, or nothing at all. */
type Expect = { llm: string } | { notice: string } | { deadLetter: string } | "nothing";

/** One message of each documented type (Graph v23.0 webhook shapes), without from/id/timestamp. */
const table: [name: string, message: Record<string, unknown>, expected: Expect][] = [
  ["text", { type: "text", text: { body: "What is a verb?" } }, { llm: "What is a verb?" }],
  ["image with a caption", { type: "image", image: { id: "m1", mime_type: "image/jpeg", sha256: "abc", caption: "What does this sign say?" } }, { llm: "What does this sign say?" }],
  ["image without a caption", { type: "image", image: { id: "m2", mime_type: "image/jpeg", sha256: "abc" } }, { notice: texts.unreadable }],
  ["video with a caption", { type: "video", video: { id: "m3", mime_type: "video/mp4", caption: "Is my pronunciation right?" } }, { llm: "Is my pronunciation right?" }],
  ["video without a caption", { type: "video", video: { id: "m4", mime_type: "video/mp4" } }, { notice: texts.unreadable }],
  ["document with a caption", { type: "document", document: { id: "m5", filename: "essay.pdf", mime_type: "application/pdf", caption: "Can you check my essay?" } }, { llm: "Can you check my essay?" }],
  ["document without a caption", { type: "document", document: { id: "m6", filename: "essay.pdf", mime_type: "application/pdf" } }, { notice: texts.unreadable }],
  ["audio (voice note)", { type: "audio", audio: { id: "m7", mime_type: "audio/ogg; codecs=opus", voice: true } }, { notice: texts.unreadable }],
  ["sticker", { type: "sticker", sticker: { id: "m8", mime_type: "image/webp", animated: false } }, { notice: texts.unreadable }],
  ["location", { type: "location", location: { latitude: 51.5, longitude: -0.12, name: "Library", address: "1 Main St" } }, { notice: texts.unreadable }],
  ["contacts", { type: "contacts", contacts: [{ name: { formatted_name: "Ada L", first_name: "Ada" }, phones: [{ phone: "+44 7700 900000", wa_id: "447700900000", type: "CELL" }] }] }, { notice: texts.unreadable }],
  ["interactive button_reply", { type: "interactive", interactive: { type: "button_reply", button_reply: { id: "b1", title: "Next lesson" } } }, { llm: "Next lesson" }],
  ["interactive list_reply", { type: "interactive", interactive: { type: "list_reply", list_reply: { id: "l1", title: "Past tense", description: "Verbs in the past" } } }, { llm: "Past tense" }],
  ["interactive nfm_reply (a Flow)", { type: "interactive", interactive: { type: "nfm_reply", nfm_reply: { name: "flow", body: "Sent", response_json: "{}" } } }, { notice: texts.unreadable }],
  ["button (template quick reply)", { type: "button", button: { payload: "CONTINUE", text: "Continue" } }, { llm: "Continue" }],
  ["reaction", { type: "reaction", reaction: { message_id: "wamid.earlier", emoji: "\u{1F44D}" } }, "nothing"],
  ["reaction removed", { type: "reaction", reaction: { message_id: "wamid.earlier" } }, "nothing"],
  ["order with text", { type: "order", order: { catalog_id: "c1", text: "Do you have a grammar book?", product_items: [{ product_retailer_id: "p1", quantity: "1", item_price: "9.99", currency: "GBP" }] } }, { llm: "Do you have a grammar book?" }],
  ["order without text", { type: "order", order: { catalog_id: "c1", product_items: [{ product_retailer_id: "p1", quantity: "1", item_price: "9.99", currency: "GBP" }] } }, { notice: texts.unreadable }],
  ["system (number changed)", { type: "system", system: { body: "User A changed from 447700900001 to 447700900002", new_wa_id: "447700900002", type: "user_changed_number" } }, { deadLetter: "system message: user_changed_number" }],
  ["request_welcome", { type: "request_welcome" }, { notice: texts.welcome }],
  ["unsupported", { type: "unsupported", errors: [{ code: 131051, title: "Message type unknown", message: "Message type unknown", error_data: { details: "Message type is currently not supported." } }], unsupported: { type: "poll_creation" } }, { notice: texts.unreadable }],
  ["unknown (older label)", { type: "unknown", errors: [{ code: 131051, title: "Message type unknown" }] }, { notice: texts.unreadable }],
  ["a type the Cloud API does not document", { type: "hologram", hologram: { id: "h1" } }, { deadLetter: "unknown message type: hologram" }],
  ["text without a body (broken)", { type: "text", text: {} }, { deadLetter: "text message without a body" }],
];

describe.each(dbs)("inbound message types on %s", (db) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ db });
  });
  afterAll(async () => h?.close());

  const deadFor = async (waId: string) => (await h.store.deadLetters(1000)).filter((d) => d.payload.includes(waId));

  it.each(table)("%s", async (name, message, expected) => {
    const phone = newPhone();
    const waId = `wamid.type.${db}.${phone}`;
    const payload = notification({ messages: [{ from: phone, id: waId, timestamp: String(Math.floor(Date.now() / 1000)), ...message }], contacts: [{ profile: { name: "Learner" }, wa_id: phone }] });
    // Delivered twice: Meta redelivers; neither the reply nor the dead letter may double.
    expect((await h.deliver(payload)).statusCode).toBe(200);
    expect((await h.deliver(payload)).statusCode).toBe(200);
    // A text after it: per-learner order means its reply comes after whatever the first one got.
    const sentinel = `sentinel for ${name}`;
    expect((await h.deliver(textNotification([{ from: phone, body: sentinel }]))).statusCode).toBe(200);
    await until(() => sentTo(h, phone).some((s) => s.text?.body === `echo: ${sentinel}`), "the sentinel's reply");
    const replies = sentTo(h, phone).map((s) => s.text?.body as string).filter((b) => b !== `echo: ${sentinel}`);
    if (expected === "nothing") {
      expect(replies).toEqual([]);
      expect(await deadFor(waId)).toEqual([]);
    } else if ("deadLetter" in expected) {
      expect(replies).toEqual([]);
      const dead = await deadFor(waId);
      expect(dead.map((d) => d.reason)).toEqual([expected.deadLetter]);
    } else {
      expect(replies).toEqual(["llm" in expected ? `echo: ${expected.llm}` : expected.notice]);
      expect(await deadFor(waId)).toEqual([]);
    }
    if (expected === "nothing" || !("llm" in expected)) expect(h.llm.requests.some((r) => JSON.stringify(r.messages).includes(waId))).toBe(false);
  });

  it("a notice costs no LLM call and no quota", async () => {
    const phone = newPhone();
    const before = h.llm.requests.length;
    await h.deliver(notification({ messages: [{ from: phone, id: `wamid.nollm.${db}.${phone}`, timestamp: String(Math.floor(Date.now() / 1000)), type: "sticker", sticker: { id: "s" } }] }));
    await until(() => sentTo(h, phone).length === 1, "the notice");
    expect(h.llm.requests.length).toBe(before);
    const learner = (await h.store.learnerByPhone(phone))!;
    expect(await h.store.usage(learner.id)).toEqual([]);
  });

  it("each redelivery of an unusable message leaves one dead letter, not one per delivery", async () => {
    const phone = newPhone();
    const items = [
      { from: phone, id: `wamid.dl1.${db}.${phone}`, timestamp: "1", type: "hologram" },
      { from: phone, id: `wamid.dl2.${db}.${phone}`, timestamp: "1", type: "system", system: { type: "customer_identity_changed", body: "changed" } },
      { from: phone, id: `wamid.dl3.${db}.${phone}`, timestamp: "1", type: "text", text: { body: 42 } },
    ];
    const payload = notification({ messages: items });
    for (let i = 0; i < 4; i++) expect((await h.deliver(payload)).statusCode).toBe(200);
    await Promise.all([h.deliver(payload), h.deliver(payload)]);
    for (const m of items) expect(await deadFor(m.id)).toHaveLength(1);
    // Payload-level dead letters (no message id) are kept once per distinct payload too.
    const broken = `{"object":"whatsapp_business_account","entry":"not a list ${db} ${phone}"}`;
    for (let i = 0; i < 3; i++) expect((await h.deliver(broken)).statusCode).toBe(200);
    expect((await h.store.deadLetters(1000)).filter((d) => d.payload.includes(`not a list ${db} ${phone}`))).toHaveLength(1);
  });

  it("text with NUL, lone surrogates and the escape character reaches the LLM, the history and the learner exactly", async () => {
    for (const body of ["a\u0000b", "x\ud800y", "\udc00", "\u0010", "\u00100", "\u0010d800", "\u{1F600}\u0000\ud83d"]) {
      const phone = newPhone();
      expect((await h.deliver(textNotification([{ from: phone, body }]))).statusCode).toBe(200);
      await until(() => sentTo(h, phone).length === 1, `the reply to ${JSON.stringify(body)}`);
      expect(sentTo(h, phone)[0].text.body).toBe(`echo: ${body}`);
      const learner = (await h.store.learnerByPhone(phone))!;
      await until(async () => (await h.store.history(learner.id, 10)).length === 2, "history");
      expect((await h.store.history(learner.id, 10)).map((x) => x.content)).toEqual([body, `echo: ${body}`]);
      expect(h.llm.requests.some((r) => r.messages.at(-1).content === body)).toBe(true);
    }
  });
});
