import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { AgentTokens, openTokenStore, parseDatabaseUrl } from "@tierstack/common";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { buildApp, type TaskQueueApp } from "../src/app.js";
import { readConfig } from "../src/config.js";
import { openTaskStore } from "../src/open-store.js";
import type { EnqueueInput, Lease, TaskEvent, TaskStore } from "../src/types.js";

export const pgUp = await available("postgres", PG_URL);

export interface StoreImpl {
  name: "sqlite" | "postgres";
  skip: boolean;
  /** A fresh, migrated store and its DATABASE_URL; close() also drops the schema / file. */
  open: () => Promise<{ store: TaskStore; url: string; close: () => Promise<void> }>;
}

export const impls: StoreImpl[] = [
  {
    name: "sqlite",
    skip: false,
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), "task-queue-"));
      const url = `sqlite:${join(dir, "tq.db")}`;
      const store = await openTaskStore(parseDatabaseUrl(url));
      return { store, url, close: async () => { await store.close().catch(() => undefined); rmSync(dir, { recursive: true, force: true }); } };
    },
  },
  {
    name: "postgres",
    skip: !pgUp,
    open: async () => {
      const s = await freshSchema("tq");
      const store = await openTaskStore(parseDatabaseUrl(s.url), { poolMax: 6 });
      return { store, url: s.url, close: async () => { await store.close().catch(() => undefined); await s.drop(); } };
    },
  },
];

import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

export { repoRoot, startServer, type ServerProcess } from "./server-process.js";

/** Every message in a stream: subject, Nats-Msg-Id and the decoded event. */
export async function readStream(servers: string, stream: string): Promise<{ subject: string; msgId: string; data: { id: number; event: string; taskId: number } }[]> {
  const nc = await connect({ servers });
  try {
    const jsm = await jetstreamManager(nc);
    const total = (await jsm.streams.info(stream)).state.messages;
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream);
    const out: { subject: string; msgId: string; data: { id: number; event: string; taskId: number } }[] = [];
    while (out.length < total) {
      const batch = await consumer.fetch({ max_messages: Math.min(1000, total - out.length), expires: 2000 });
      for await (const m of batch) out.push({ subject: m.subject, msgId: m.headers?.get("Nats-Msg-Id") ?? "", data: m.json() });
    }
    return out;
  } finally {
    await nc.close();
  }
}

export async function deleteStream(servers: string, stream: string): Promise<void> {
  const nc = await connect({ servers });
  try {
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

/** A tiny HTTP client for the API. */
export function client(url: string, token: string) {
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  return { post: (p: string, b?: unknown) => call("POST", p, b ?? {}), get: (p: string) => call("GET", p) };
}

/** A task to enqueue in the contract suites: payload {n: 1}, priority 0, 3 attempts unless overridden. */
export const item = (queue: string, extra: Partial<EnqueueInput> = {}): EnqueueInput => ({ queue, payload: { n: 1 }, priority: 0, maxAttempts: 3, ...extra });

export const claimOne = async (s: TaskStore, queue: string, leaseSeconds = 30, owner = "a1"): Promise<Lease | undefined> =>
  (await s.claim([{ queues: [queue], limit: 1, leaseSeconds, owner }]))[0]?.[0];

/** The task's unpublished outbox events as [event, attempt], in outbox order; publishes nothing. */
export async function eventsOf(s: TaskStore, taskId: number): Promise<[TaskEvent, number][]> {
  const seen: [TaskEvent, number][] = [];
  await s.relayBatch(1_000_000, async (rows) => {
    for (const r of rows) if (r.taskId === taskId) seen.push([r.event, r.attempt]);
    return [];
  });
  return seen;
}

/** For the enclosing describe: a fresh store, handed to `use` before its tests and closed after them. */
export function storeFixture(open: StoreImpl["open"], skip: boolean, use: (store: TaskStore) => void): void {
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (skip) return;
    const opened = await open();
    close = opened.close;
    use(opened.store);
  });
  afterAll(async () => {
    await close?.();
  });
}

/**
 * The service (buildApp, ready, not listening) on a fresh store, with its agent tokens in the same
 * database (no token cache, so a revoke shows at once); `close` closes all three.
 */
export async function openApp(open: StoreImpl["open"], env: Record<string, string>): Promise<{ svc: TaskQueueApp; tokens: AgentTokens; close: () => Promise<void> }> {
  const opened = await open();
  const ts = await openTokenStore(opened.url);
  const tokens = new AgentTokens(ts.store, { cacheMs: 0 });
  const svc = buildApp(readConfig({ DATABASE_URL: opened.url, LOG_LEVEL: "silent", ...env }), { store: opened.store, tokens });
  await svc.app.ready();
  return {
    svc,
    tokens,
    close: async () => {
      await svc.app.close();
      await ts.close();
      await opened.close();
    },
  };
}
