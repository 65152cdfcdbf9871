/**
 * An in-process brain wired to the loopback peers (Cloud API, LLM, Stripe) and a real store:
 * a SQLite file or a fresh PostgreSQL schema. Also builds Cloud API webhook payloads and signs
 * them the way Meta does.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshSchema } from "@tierstack/common/testing";
import { buildApp, type Brain } from "../src/app.js";
import { loadConfig, type BrainConfig } from "../src/config.js";
import { createLlmClient } from "../src/llm.js";
import { localBucket } from "../src/ratelimit.js";
import { openBrainStore, type BrainStore } from "../src/store/index.js";
import { createStripeClient } from "../src/stripe.js";
import { signPayload } from "../src/webhook.js";
import { createWhatsAppSender } from "../src/whatsapp.js";
import { startCloudApiPeer, type CloudApiPeerOptions } from "./peers/cloudapi.js";
import { startLlmPeer, type LlmPeerOptions } from "./peers/llm.js";
import { startStripePeer } from "./peers/stripe.js";

export const APP_SECRET = "test-app-secret";
export const VERIFY_TOKEN = "test-verify-token";
export const ADMIN_TOKEN = "test-admin-token-0123456789";
export const STRIPE_WEBHOOK_SECRET = "whsec_test_secret";
export const PHONE_NUMBER_ID = "1098765432";

export type Db = "sqlite" | "postgres";

/** A database for one test: a SQLite file in a temp dir or a fresh PostgreSQL schema. */
export async function testDatabase(db: Db): Promise<{ url: string; drop(): Promise<void> }> {
  if (db === "postgres") {
    const s = await freshSchema("brain_test");
    return { url: s.url, drop: s.drop };
  }
  const dir = mkdtempSync(join(tmpdir(), "brain-test-"));
  return { url: `sqlite:${join(dir, "brain.db")}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

export function brainEnv(p: { databaseUrl: string; cloudUrl: string; accessToken: string; llmUrl: string; stripeHost: string; stripePort: number }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    DATABASE_URL: p.databaseUrl,
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
    WHATSAPP_ACCESS_TOKEN: p.accessToken,
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_API_BASE: p.cloudUrl,
    WHATSAPP_SEND_RATE: "1000",
    LLM_BASE_URL: p.llmUrl,
    LLM_TIMEOUT_MS: "10000",
    LLM_RETRIES: "1",
    STRIPE_SECRET_KEY: "sk_test_brain",
    STRIPE_WEBHOOK_SECRET,
    STRIPE_API_BASE: `http://${p.stripeHost}:${p.stripePort}`,
    STRIPE_PRICE_PLUS: "price_plus_test",
    STRIPE_PRICE_DEDICATED: "price_dedicated_test",
    BRAIN_ADMIN_TOKEN: ADMIN_TOKEN,
    BRAIN_WORKERS: "4",
    BRAIN_LEASE_MS: "30000",
    ...extra,
  };
}

export interface Harness {
  brain: Brain;
  store: BrainStore;
  config: BrainConfig;
  cloud: Awaited<ReturnType<typeof startCloudApiPeer>>;
  llm: Awaited<ReturnType<typeof startLlmPeer>>;
  stripe: Awaited<ReturnType<typeof startStripePeer>>;
  clock: { now: number | undefined };
  /** POST a signed webhook (raw string or object) through app.inject. */
  deliver(payload: unknown, opts?: { sign?: boolean; signature?: string }): Promise<{ statusCode: number; body: string }>;
  close(): Promise<void>;
}

export async function startHarness(opts: { db: Db; llm?: LlmPeerOptions; cloud?: CloudApiPeerOptions; env?: Record<string, string>; workers?: boolean } ): Promise<Harness> {
  const database = await testDatabase(opts.db);
  const cloud = await startCloudApiPeer(opts.cloud);
  const llm = await startLlmPeer(opts.llm);
  const stripePeer = await startStripePeer();
  const env = brainEnv({ databaseUrl: database.url, cloudUrl: cloud.url, accessToken: cloud.accessToken, llmUrl: llm.url, stripeHost: stripePeer.host, stripePort: stripePeer.port }, opts.env);
  const config = loadConfig(env);
  const store = await openBrainStore(config.databaseUrl);
  const sender = createWhatsAppSender({
    apiBase: config.whatsapp.apiBase, version: config.whatsapp.apiVersion, phoneNumberId: config.whatsapp.phoneNumberId,
    accessToken: config.whatsapp.accessToken, limiter: localBucket(1000, 100), backoffMs: 5, maxRetries: 1,
  });
  const client = createLlmClient({ baseUrl: config.llm.baseUrl, timeoutMs: config.llm.timeoutMs, retries: config.llm.retries, backoffMs: 5 });
  const stripe = createStripeClient({ secretKey: config.stripe.secretKey, host: stripePeer.host, port: stripePeer.port, protocol: "http", maxNetworkRetries: 0 });
  const clock: { now: number | undefined } = { now: undefined };
  const brain = buildApp(config, { store, llm: client, sender, stripe, now: () => clock.now ?? Date.now() });
  await brain.app.ready();
  if (opts.workers !== false) brain.workers.start();
  return {
    brain, store, config, cloud, llm, stripe: stripePeer, clock,
    deliver: async (payload, o = {}) => {
      const raw = typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (o.signature !== undefined) headers["x-hub-signature-256"] = o.signature;
      else if (o.sign !== false) headers["x-hub-signature-256"] = signPayload(raw, APP_SECRET);
      const res = await brain.app.inject({ method: "POST", url: "/webhooks/whatsapp", headers, payload: raw });
      return { statusCode: res.statusCode, body: res.body };
    },
    close: async () => {
      await brain.app.close();
      await brain.close();
      llm.release();
      await Promise.all([cloud.close(), llm.close(), stripePeer.close()]);
      await database.drop();
    },
  };
}

let seq = 0;
/** The pid of a running brain's worker process (`/admin/workers`), or null while there is none or the brain does not answer. */
export async function workersPid(base: string): Promise<number | null> {
  try {
    const res = await fetch(`${base}/admin/workers`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return res.status === 200 ? (((await res.json()) as { workers: { process?: { pid: number | null } } }).workers.process?.pid ?? null) : null;
  } catch {
    return null;
  }
}

/** True once `pid` is gone or a zombie (an orphan's reaper may be slow, or absent in a container). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").startsWith("Z");
  } catch {
    return true;
  }
}

/** A Cloud API "messages" notification carrying text messages. */
export function textNotification(items: { from: string; body: string; id?: string; timestamp?: number }[]): Record<string, unknown> {
  return notification({
    messages: items.map((m) => ({
      from: m.from, id: m.id ?? `wamid.test${process.pid}x${++seq}`, timestamp: String(m.timestamp ?? Math.floor(Date.now() / 1000)), type: "text", text: { body: m.body },
    })),
    contacts: items.map((m) => ({ profile: { name: "Learner" }, wa_id: m.from })),
  });
}

export function statusNotification(items: { id: string; status: string; recipient: string; timestamp: number }[]): Record<string, unknown> {
  return notification({ statuses: items.map((s) => ({ id: s.id, status: s.status, timestamp: String(s.timestamp), recipient_id: s.recipient })) });
}

export function notification(value: Record<string, unknown>): Record<string, unknown> {
  return {
    object: "whatsapp_business_account",
    entry: [{ id: "WABA_ID", changes: [{ field: "messages", value: { messaging_product: "whatsapp", metadata: { display_phone_number: "15550000000", phone_number_id: PHONE_NUMBER_ID }, ...value } }] }],
  };
}

export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
