import { describe, expect, it } from "vitest";
import { MESSAGE_TYPES, outcomeOf, parseWhatsAppWebhook, WEBHOOK_MAX_DEPTH, type MessageOutcome } from "./webhook.js";

const NOW = Date.UTC(2026, 10, 22, 12);
const notification = (messages: unknown[]) =>
  Buffer.from(JSON.stringify({ object: "whatsapp_business_account", entry: [{ id: "W", changes: [{ field: "messages", value: { messaging_product: "whatsapp", messages } }] }] }));
const base = { from: "447700900123", id: "wamid.1", timestamp: "1790000000" };

/** The inbound message types of the Cloud API webhook reference (Graph v23.0). */
const DOCUMENTED = ["text", "image", "video", "document", "audio", "sticker", "location", "contacts", "interactive", "button", "reaction", "order", "system", "request_welcome", "unsupported", "unknown"];

const read = (text: string): MessageOutcome => ({ kind: "read", text });
const notice: MessageOutcome = { kind: "notice" };

describe("what each inbound message type becomes", () => {
  it("the table has a rule for every documented type, and only those", () => {
    expect([...MESSAGE_TYPES.keys()].sort()).toEqual([...DOCUMENTED].sort());
  });

  it.each<[string, Record<string, unknown>, MessageOutcome]>([
    ["text", { type: "text", text: { body: "hi" } }, read("hi")],
    ["text of exactly 4096 characters", { type: "text", text: { body: "x".repeat(4096) } }, read("x".repeat(4096))],
    ["text over 4096 characters", { type: "text", text: { body: "x".repeat(4097) } }, { kind: "dead", reason: "text over 4096 characters" }],
    ["text without a body", { type: "text", text: {} }, { kind: "dead", reason: "text message without a body" }],
    ["text with a numeric body", { type: "text", text: { body: 7 } }, { kind: "dead", reason: "text message without a body" }],
    ["text of whitespace only", { type: "text", text: { body: " \n " } }, { kind: "dead", reason: "text message without a body" }],
    ["text without a text object", { type: "text" }, { kind: "dead", reason: "text message without a body" }],
    ["image with a caption", { type: "image", image: { id: "m", caption: "what is this?" } }, read("what is this?")],
    ["image without a caption", { type: "image", image: { id: "m" } }, notice],
    ["image with an empty caption", { type: "image", image: { id: "m", caption: "" } }, notice],
    ["image with a numeric caption (ignored, Meta's contract says string)", { type: "image", image: { id: "m", caption: 5 } }, notice],
    ["image without an image object", { type: "image" }, notice],
    ["video with a caption", { type: "video", video: { caption: "v" } }, read("v")],
    ["video without one", { type: "video", video: {} }, notice],
    ["document with a caption", { type: "document", document: { caption: "d", filename: "f.pdf" } }, read("d")],
    ["document without one (the file name is not read)", { type: "document", document: { filename: "f.pdf" } }, notice],
    ["audio", { type: "audio", audio: { id: "a", voice: true } }, notice],
    ["sticker", { type: "sticker", sticker: { id: "s" } }, notice],
    ["location (its name is not the learner's text)", { type: "location", location: { latitude: 1, longitude: 2, name: "Library" } }, notice],
    ["contacts", { type: "contacts", contacts: [{ name: { formatted_name: "A" } }] }, notice],
    ["interactive button_reply", { type: "interactive", interactive: { type: "button_reply", button_reply: { id: "b", title: "Yes" } } }, read("Yes")],
    ["interactive list_reply", { type: "interactive", interactive: { type: "list_reply", list_reply: { id: "l", title: "Nouns", description: "d" } } }, read("Nouns")],
    ["interactive list_reply without its type field", { type: "interactive", interactive: { list_reply: { id: "l", title: "Verbs" } } }, read("Verbs")],
    ["interactive nfm_reply", { type: "interactive", interactive: { type: "nfm_reply", nfm_reply: { body: "Sent", response_json: "{}" } } }, notice],
    ["interactive of a type with another kind's object", { type: "interactive", interactive: { type: "list_reply", button_reply: { title: "x" } } }, notice],
    ["interactive without an object", { type: "interactive" }, notice],
    ["button", { type: "button", button: { payload: "P", text: "Go on" } }, read("Go on")],
    ["button without text", { type: "button", button: { payload: "P" } }, notice],
    ["reaction", { type: "reaction", reaction: { message_id: "wamid.0", emoji: "\u2764\ufe0f" } }, { kind: "ignore" }],
    ["reaction removed", { type: "reaction", reaction: { message_id: "wamid.0" } }, { kind: "ignore" }],
    ["order with text", { type: "order", order: { catalog_id: "c", text: "a question", product_items: [] } }, read("a question")],
    ["order without text", { type: "order", order: { catalog_id: "c", product_items: [] } }, notice],
    ["system: number changed", { type: "system", system: { type: "user_changed_number", new_wa_id: "447700900124" } }, { kind: "dead", reason: "system message: user_changed_number" }],
    ["system without a type", { type: "system", system: {} }, { kind: "dead", reason: "system message" }],
    ["request_welcome", { type: "request_welcome" }, { kind: "welcome" }],
    ["unsupported", { type: "unsupported", errors: [{ code: 131051 }] }, notice],
    ["unknown", { type: "unknown", errors: [{ code: 131051 }] }, notice],
    ["a type not documented", { type: "poll" }, { kind: "dead", reason: "unknown message type: poll" }],
    ["__proto__ as a type", { type: "__proto__" }, { kind: "dead", reason: "unknown message type: __proto__" }],
    ["constructor as a type", { type: "constructor" }, { kind: "dead", reason: "unknown message type: constructor" }],
    ["a type in another case", { type: "TEXT", text: { body: "hi" } }, { kind: "dead", reason: "unknown message type: TEXT" }],
    ["no type", { text: { body: "hi" } }, { kind: "dead", reason: "message without a type" }],
    ["a numeric type", { type: 1 }, { kind: "dead", reason: "message without a type" }],
  ])("%s", (_name, m, expected) => {
    expect(outcomeOf({ ...base, ...m })).toEqual(expected);
  });
});

describe("parseWhatsAppWebhook", () => {
  it("stores read and notice messages (a notice with an empty body), ignores reactions, keys dead letters on the message id", () => {
    const p = parseWhatsAppWebhook(notification([
      { ...base, id: "wamid.a", type: "image", image: { caption: "look" } },
      { ...base, id: "wamid.b", type: "sticker", sticker: {} },
      { ...base, id: "wamid.c", type: "reaction", reaction: { emoji: "x" } },
      { ...base, id: "wamid.d", type: "poll" },
      { ...base, id: "wamid.e", type: "request_welcome" },
    ]), NOW);
    expect(p.messages.map((m) => [m.waId, m.type, m.body])).toEqual([["wamid.a", "image", "look"], ["wamid.b", "sticker", ""], ["wamid.e", "request_welcome", ""]]);
    expect(p.ignored).toBe(1);
    expect(p.deadLetters.map((d) => [d.key, d.reason])).toEqual([["whatsapp:wamid.d", "unknown message type: poll"]]);
  });

  it("a payload of reactions only is not a dead letter", () => {
    const p = parseWhatsAppWebhook(notification([{ ...base, type: "reaction", reaction: { emoji: "x" } }]), NOW);
    expect(p).toEqual({ messages: [], statuses: [], deadLetters: [], ignored: 1 });
  });

  it("a message with a bad sender is keyed on its id; without an id the dead letter has no key (the store hashes it)", () => {
    const p = parseWhatsAppWebhook(notification([{ ...base, id: "wamid.x", from: "not a number", type: "text", text: { body: "hi" } }, { from: base.from, type: "text", text: { body: "hi" } }]), NOW);
    expect(p.deadLetters.map((d) => d.key)).toEqual(["whatsapp:wamid.x", undefined]);
  });

  it("never calls String() on a parsed object: an own toString that is not a function used to throw (a 500)", () => {
    const hostile = JSON.parse('{"toString":false,"valueOf":1}') as unknown;
    const p = parseWhatsAppWebhook(Buffer.from(JSON.stringify({
      object: "whatsapp_business_account",
      entry: [{ changes: [{ field: "messages", value: {
        statuses: [{ id: "wamid.s", status: "failed", recipient_id: base.from, errors: [{ code: hostile, title: hostile }] }],
        messages: [{ ...base, id: "wamid.t", type: hostile }, { ...base, id: "wamid.u", type: "text", text: hostile }],
      } }] }],
    })), NOW);
    expect(p.statuses).toEqual([{ messageId: "wamid.s", recipient: base.from, status: "failed", at: NOW }]);
    expect(p.deadLetters.map((d) => d.reason)).toEqual(["message without a type", "text message without a body"]);
  });

  it(`refuses nesting deeper than ${WEBHOOK_MAX_DEPTH} before parsing, counting only brackets outside strings`, () => {
    const nested = (depth: number) => Buffer.from(`${"[".repeat(depth - 1)}${JSON.stringify({ object: "whatsapp_business_account" })}${"]".repeat(depth - 1)}`);
    expect(parseWhatsAppWebhook(nested(WEBHOOK_MAX_DEPTH), NOW).deadLetters[0]!.reason).toBe("not a whatsapp_business_account notification");
    expect(parseWhatsAppWebhook(nested(WEBHOOK_MAX_DEPTH + 1), NOW).deadLetters[0]!.reason).toBe(`nested deeper than ${WEBHOOK_MAX_DEPTH} levels`);
    const bracketsInText = notification([{ ...base, type: "text", text: { body: "[".repeat(500) + '\\"{' } }]);
    expect(parseWhatsAppWebhook(bracketsInText, NOW).messages).toHaveLength(1);
  });
});
