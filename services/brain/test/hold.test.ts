/**
 * The workers' hold switch (`POST /admin/workers/hold` / `resume`, `GET /admin/workers`): admin
 * token required; held ⇒ no new claims while webhooks are still acknowledged into the inbox; the
 * message in hand when the hold came finishes; resume answers what waited, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, PG_URL } from "@tierstack/common/testing";
import { ADMIN_TOKEN, startHarness, textNotification, until, type Db, type Harness } from "./harness.js";

const dbs: Db[] = ["sqlite"];
if (await available("postgres", PG_URL)) dbs.push("postgres");

describe.each(dbs)("workers hold switch on %s", (db) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ db, llm: { hold: true }, env: { BRAIN_WORKERS: "4" } });
  });
  afterAll(async () => h?.close());

  const admin = (method: "GET" | "POST", url: string, token: string | null = ADMIN_TOKEN) =>
    h.brain.app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it("refuses the switch without the admin token", async () => {
    for (const url of ["/admin/workers/hold", "/admin/workers/resume"]) {
      expect((await admin("POST", url, null)).statusCode).toBe(401);
      expect((await admin("POST", url, "wrong-token-0123456789")).statusCode).toBe(401);
    }
    expect((await admin("GET", "/admin/workers", null)).statusCode).toBe(401);
    expect((await admin("GET", "/admin/workers")).json()).toEqual({ workers: { held: false, busy: 0 } });
  });

  it("held: the message in hand finishes, nothing new is claimed, webhooks are still acknowledged; resume answers the rest in order", async () => {
    const a = `44770098${db === "sqlite" ? "1" : "2"}001`;
    const b = `44770098${db === "sqlite" ? "1" : "2"}002`;
    expect((await h.deliver(textNotification([{ from: a, body: "first" }]))).statusCode).toBe(200);
    await until(() => h.llm.held === 1, "LLM request in hand");

    const held = await admin("POST", "/admin/workers/hold");
    expect(held.statusCode).toBe(200);
    expect(held.json()).toEqual({ workers: { held: true, busy: 1 } });
    // Acknowledged while held: a second message of the same learner and one of another learner.
    expect((await h.deliver(textNotification([{ from: a, body: "second" }, { from: b, body: "other" }]))).statusCode).toBe(200);
    h.llm.release();

    // The message in hand is answered; then the loop lets the learner go without claiming again.
    await until(() => h.cloud.sent.length === 1, "the reply in hand");
    await until(async () => (await admin("GET", "/admin/workers")).json().workers.busy === 0, "loops idle");
    expect(h.cloud.sent[0].text.body).toBe("echo: first");
    // Wakes (from the webhook) and polls go by; a claim would be answered within milliseconds.
    h.brain.workers.wake();
    await new Promise((r) => setTimeout(r, 400));
    expect(h.cloud.sent).toHaveLength(1);
    expect(h.llm.requests).toHaveLength(1);
    expect(await h.store.backlog()).toBe(2);

    const resumed = await admin("POST", "/admin/workers/resume");
    expect(resumed.json().workers.held).toBe(false);
    await until(() => h.cloud.sent.length === 3, "the held messages answered");
    expect(h.cloud.sent.filter((s) => s.to === a).map((s) => s.text.body)).toEqual(["echo: first", "echo: second"]);
    expect(h.cloud.sent.filter((s) => s.to === b).map((s) => s.text.body)).toEqual(["echo: other"]);
    await until(async () => (await h.store.backlog()) === 0, "inbox settled");
  });
});
