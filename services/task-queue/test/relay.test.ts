import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, NATS_URL, waitFor } from "@tierstack/common/testing";
import { OutboxRelay } from "../src/relay.js";
import type { TaskStore } from "../src/types.js";
import { deleteStream, impls, readStream } from "./helpers.js";

const natsUp = await available("nats", NATS_URL);
const silent = { info: () => undefined, warn: () => undefined };

describe.each(impls)("outbox relay to NATS JetStream on $name", ({ skip, open }) => {
  const off = skip || !natsUp;
  const tag = `tq${process.pid}${Math.random().toString(36).slice(2, 7)}`;
  const stream = `TQTEST_${tag}`;
  let store: TaskStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    if (off) return;
    ({ store, close } = await open());
  });
  afterAll(async () => {
    if (off) return;
    await close();
    await deleteStream(NATS_URL, stream);
  });

  it.skipIf(off)("creates the stream, publishes each event once with msgID = outbox id, even when marking fails after the PubAck", async () => {
    const [a, b] = await store.enqueue([{ queue: "build", payload: 1, priority: 0, maxAttempts: 3 }, { queue: "deploy", payload: 2, priority: 0, maxAttempts: 3 }]);
    const lease = (await store.claim([{ queues: ["build"], limit: 1, leaseSeconds: 30, owner: "t" }]))[0]![0]!;
    await store.complete([{ id: lease.task.id, leaseToken: lease.leaseToken, result: null }]);

    // The first pass gets its PubAcks but "crashes" before marking the rows published.
    let crashed = false;
    const flaky: TaskStore = Object.create(store, {
      relayBatch: {
        value: async (limit: number, fn: Parameters<TaskStore["relayBatch"]>[1]) => {
          if (!crashed) {
            crashed = true;
            return store.relayBatch(limit, async (rows) => {
              await fn(rows);
              throw new Error("database went away after the PubAck");
            });
          }
          return store.relayBatch(limit, fn);
        },
      },
    });
    const relay = new OutboxRelay(flaky, { servers: NATS_URL, stream, subjectPrefix: tag, replicas: 1, duplicateWindowSeconds: 120, log: silent });
    relay.start();
    try {
      await waitFor(async () => (await store.outboxLag()).unpublished === 0, { what: "outbox drained", timeoutMs: 15_000 });
    } finally {
      await relay.stop();
    }
    expect(crashed).toBe(true);
    const msgs = await readStream(NATS_URL, stream);
    expect(msgs.map((m) => m.subject)).toEqual([`${tag}.build.enqueued`, `${tag}.deploy.enqueued`, `${tag}.build.claimed`, `${tag}.build.completed`]);
    expect(msgs.map((m) => m.msgId)).toEqual(msgs.map((m) => String(m.data.id)));
    expect(new Set(msgs.map((m) => m.msgId)).size).toBe(4);
    expect(msgs.map((m) => m.data.taskId)).toEqual([a!.task.id, b!.task.id, a!.task.id, a!.task.id]);
  });
});
