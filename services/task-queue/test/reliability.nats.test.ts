import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { AgentTokens, openTokenStore, parseDatabaseUrl } from "@tierstack/common";
import { available, NATS_URL, startPrivateNats, waitFor, type PrivateServer } from "@tierstack/common/testing";
import { client, impls, readStream, startServer, type ServerProcess } from "./helpers.js";

// A private nats-server is stopped and restarted under load: every outbox event reaches the
// stream exactly once (read back from the stream, compared with the outbox table).
const natsTools = await available("nats", NATS_URL);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function outboxIds(url: string): Promise<{ ids: number[]; unpublished: number }> {
  const t = parseDatabaseUrl(url);
  if (t.kind === "sqlite") {
    const db = new Database(t.path, { readonly: true });
    try {
      const ids = (db.prepare("SELECT id FROM outbox ORDER BY id").all() as { id: number }[]).map((r) => r.id);
      const un = (db.prepare("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").get() as { n: number }).n;
      return { ids, unpublished: un };
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: t.connectionString, options: `-c search_path=${t.schema}` });
  await c.connect();
  try {
    const ids = (await c.query<{ id: string }>("SELECT id FROM outbox ORDER BY id")).rows.map((r) => Number(r.id));
    const un = Number((await c.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")).rows[0].n);
    return { ids, unpublished: un };
  } finally {
    await c.end();
  }
}

describe.each(impls)("reliability: NATS stopped and restarted under load, on $name", ({ skip, open }) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it.skipIf(skip || !natsTools)("publishes every outbox event exactly once", async () => {
    const { url, close } = await open();
    cleanups.push(close);
    const nats: PrivateServer = await startPrivateNats();
    cleanups.push(nats.destroy);
    const ts = await openTokenStore(url);
    const { token } = await new AgentTokens(ts.store).issue("nats-test");
    await ts.close();
    const server: ServerProcess = await startServer({ DATABASE_URL: url, NATS_URL: nats.url, NATS_STREAM: "TQ_EVENTS", NATS_DUPLICATE_WINDOW_SECONDS: "120" });
    cleanups.push(server.stop);
    const api = client(server.url, token);

    let running = true;
    let cycles = 0;
    const loop = async (n: number) => {
      for (let i = 0; running; i++) {
        await api.post("/v1/tasks", { queue: `q${n % 3}`, payload: { n, i } });
        const t = (await api.post("/v1/claim", { queues: [`q${n % 3}`] })).body.tasks[0];
        if (t) await api.post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken });
        cycles++;
      }
    };
    const loops = Array.from({ length: 12 }, (_, n) => loop(n));
    try {
      await waitFor(() => cycles > 100, { what: "load before the outage", timeoutMs: 30_000 });
      await nats.stop();
      const before = cycles;
      await waitFor(() => cycles > before + 100, { what: "load during the outage", timeoutMs: 30_000 });
      expect((await outboxIds(url)).unpublished).toBeGreaterThan(0);
      await sleep(500);
      await nats.start();
      const after = cycles;
      await waitFor(() => cycles > after + 100, { what: "load after the outage", timeoutMs: 30_000 });
    } finally {
      running = false;
      await Promise.all(loops);
    }
    await waitFor(async () => (await outboxIds(url)).unpublished === 0, { what: "outbox drained", timeoutMs: 60_000, intervalMs: 200 });

    const { ids } = await outboxIds(url);
    const msgs = await readStream(nats.url, "TQ_EVENTS");
    const msgIds = msgs.map((m) => Number(m.msgId));
    expect(new Set(msgIds).size).toBe(msgIds.length);
    expect([...msgIds].sort((a, b) => a - b)).toEqual(ids);
    expect(msgs.every((m) => m.subject === `tasks.${m.subject.split(".")[1]}.${m.data.event}` && m.data.id === Number(m.msgId))).toBe(true);
  });
});
