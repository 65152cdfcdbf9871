/**
 * LLM calls in flight are not bounded by database connections: a loop waiting on the LLM holds
 * no connection and no transaction. With the LLM peer holding every request, 40 learners' calls
 * are in flight at once on PostgreSQL pools of 16 + 6 connections (and on SQLite), and webhooks
 * are still acknowledged meanwhile; released, each learner gets its one reply.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, PG_URL } from "@tierstack/common/testing";
import { startHarness, textNotification, until, type Db, type Harness } from "./harness.js";

const dbs: Db[] = ["sqlite"];
if (await available("postgres", PG_URL)) dbs.push("postgres");

const LEARNERS = 40;

describe.each(dbs)("LLM calls in flight on %s", (db) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ db, llm: { hold: true }, env: { BRAIN_WORKERS: String(LEARNERS + 4) } });
  });
  afterAll(async () => h?.close());

  it(`${LEARNERS} completions wait at once, more than the store's connections; acks go on`, async () => {
    const phones = Array.from({ length: LEARNERS }, (_, i) => `4477009${db === "sqlite" ? "4" : "5"}${String(i).padStart(3, "0")}`);
    expect((await h.deliver(textNotification(phones.map((from) => ({ from, body: `question of ${from}` }))))).statusCode).toBe(200);
    await until(() => h.llm.held === LEARNERS, `${LEARNERS} LLM requests in flight`);
    // Every loop is waiting on the LLM: the webhook is still answered and stored.
    expect((await h.deliver(textNotification([{ from: phones[0]!, body: "one more" }]))).statusCode).toBe(200);
    expect(await h.store.backlog()).toBe(LEARNERS + 1);
    h.llm.release();
    await until(async () => (await h.store.backlog()) === 0, "all answered");
    for (const p of phones) expect(h.cloud.sent.filter((s) => s.to === p).map((s) => s.text.body)).toEqual([`echo: question of ${p}`, "echo: one more"].slice(0, p === phones[0] ? 2 : 1));
  });
});
