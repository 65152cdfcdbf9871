import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, PG_URL } from "@tierstack/common/testing";
import { buildApp, type Brain } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { createLlmClient } from "../src/llm.js";
import { localBucket } from "../src/ratelimit.js";
import { openBrainStore } from "../src/store/index.js";
import { createStripeClient } from "../src/stripe.js";
import { signPayload } from "../src/webhook.js";
import { createWhatsAppSender } from "../src/whatsapp.js";
import { APP_SECRET, brainEnv, startHarness, testDatabase, textNotification, until, type Harness } from "./harness.js";
import { startCloudApiPeer } from "./peers/cloudapi.js";
import { startLlmPeer } from "./peers/llm.js";
import { startStripePeer } from "./peers/stripe.js";

const pgUp = await available("postgres", PG_URL);

describe.skipIf(!pgUp)("three brain replicas on one PostgreSQL", () => {
  const brains: Brain[] = [];
  let peers: { cloud: Awaited<ReturnType<typeof startCloudApiPeer>>; llm: Awaited<ReturnType<typeof startLlmPeer>>; stripe: Awaited<ReturnType<typeof startStripePeer>> };
  let database: Awaited<ReturnType<typeof testDatabase>>;
  beforeAll(async () => {
    peers = { cloud: await startCloudApiPeer(), llm: await startLlmPeer(), stripe: await startStripePeer() };
    database = await testDatabase("postgres");
    for (let i = 0; i < 3; i++) {
      const config = loadConfig(brainEnv({ databaseUrl: database.url, cloudUrl: peers.cloud.url, accessToken: peers.cloud.accessToken, llmUrl: peers.llm.url, stripeHost: peers.stripe.host, stripePort: peers.stripe.port }));
      const store = await openBrainStore(config.databaseUrl); // three migrators at once: the advisory lock serialises them
      const sender = createWhatsAppSender({ apiBase: config.whatsapp.apiBase, version: config.whatsapp.apiVersion, phoneNumberId: config.whatsapp.phoneNumberId, accessToken: config.whatsapp.accessToken, limiter: localBucket(1000, 100) });
      const llm = createLlmClient({ baseUrl: config.llm.baseUrl, retries: 0 });
      const stripe = createStripeClient({ secretKey: config.stripe.secretKey, host: peers.stripe.host, port: peers.stripe.port, protocol: "http" });
      const brain = buildApp(config, { store, llm, sender, stripe });
      await brain.app.ready();
      brain.workers.start();
      brains.push(brain);
    }
  });
  afterAll(async () => {
    for (const b of brains) {
      await b.app.close();
      await b.close();
    }
    await Promise.all([peers.cloud.close(), peers.llm.close(), peers.stripe.close()]);
    await database.drop();
  });

  it("keeps each learner's order and answers every message once, whichever replica took the webhook", async () => {
    const learners = Array.from({ length: 8 }, (_, i) => `4477009777${String(i).padStart(2, "0")}`);
    const steps = 8;
    for (let s = 0; s < steps; s++) {
      await Promise.all(learners.map(async (phone, i) => {
        const raw = JSON.stringify(textNotification([{ from: phone, body: `m${s}`, id: `wamid.rep.${phone}.${s}` }]));
        const headers = { "content-type": "application/json", "x-hub-signature-256": signPayload(raw, APP_SECRET) };
        // every message goes to one replica, and a redelivery of it to another
        const a = brains[(i + s) % 3]!;
        const b = brains[(i + s + 1) % 3]!;
        expect((await a.app.inject({ method: "POST", url: "/webhooks/whatsapp", headers, payload: raw })).statusCode).toBe(200);
        expect((await b.app.inject({ method: "POST", url: "/webhooks/whatsapp", headers, payload: raw })).statusCode).toBe(200);
      }));
    }
    await until(() => peers.cloud.sent.length >= learners.length * steps, "every reply", 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(peers.cloud.sent).toHaveLength(learners.length * steps);
    for (const phone of learners) {
      expect(peers.cloud.sent.filter((x) => x.to === phone).map((x) => x.text.body)).toEqual(Array.from({ length: steps }, (_, s) => `echo: m${s}`));
    }
  });
});

describe("resuming a recorded reply", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ db: "sqlite", workers: false });
  });
  afterAll(async () => h?.close());

  it("a reply recorded before a crash is sent from the record, without a second LLM call", async () => {
    const phone = "447700966601";
    const payload = textNotification([{ from: phone, body: "recorded already", id: "wamid.resume.1" }]);
    expect((await h.deliver(payload)).statusCode).toBe(200);
    const learner = (await h.store.learnerByPhone(phone))!;
    // the state a crash between "recorded" and "sent" leaves behind
    const msg = { kind: "text", to: phone, body: "the recorded answer" };
    await h.store.recordReply({ learnerId: learner.id, outbound: { key: "reply:wamid.resume.1", payload: JSON.stringify({ msg, outsideWindow: msg }), at: Date.now() } });
    h.brain.workers.start();
    await until(() => h.cloud.sent.length === 1, "resumed send");
    expect(h.cloud.sent[0].text.body).toBe("the recorded answer");
    expect(h.llm.requests).toHaveLength(0);
    await until(async () => (await h.store.backlog()) === 0, "settled");
    expect((await h.store.outboundByKey("reply:wamid.resume.1"))!.state).toBe("sent");
  });
});
