import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, StorageType, type JetStreamClient } from "@nats-io/jetstream";
import { Counter, type Registry } from "prom-client";
import { backoffDelay, type BackoffPolicy } from "@tierstack/common";
import type { OutboxRow, TaskStore } from "./types.js";

type NatsConnection = Awaited<ReturnType<typeof connect>>;

export interface RelayOptions {
  servers: string;
  stream: string;
  subjectPrefix: string;
  replicas: number;
  duplicateWindowSeconds: number;
  /** Rows read per relay pass. */
  batch?: number;
  publishTimeoutMs?: number;
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void };
}

/** After a failed pass: 250 ms, doubling to 5 s. No jitter: one relay loop per replica, not a crowd. */
const RETRY: BackoffPolicy = { baseMs: 250, maxMs: 5000, jitter: 0 };

export const subjectFor = (prefix: string, row: Pick<OutboxRow, "queue" | "event">) => `${prefix}.${row.queue}.${row.event}`;

/**
 * Transactional outbox → NATS JetStream. Rows are published in id order with msgID = the row id
 * (JetStream drops a re-publish inside the stream's duplicate window), and marked published
 * only after the PubAck. When NATS is away the rows wait; when it returns they drain in order.
 */
export class OutboxRelay {
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private running = false;
  private loop?: Promise<void>;
  private nudgeResolve?: () => void;
  private readonly published: Counter;

  constructor(private readonly store: TaskStore, private readonly opts: RelayOptions, registry?: Registry) {
    this.published = new Counter({ name: "task_queue_events_published_total", help: "Outbox events acknowledged by JetStream", registers: registry ? [registry] : [] });
  }

  get connected(): boolean {
    return this.js !== undefined && this.nc !== undefined && !this.nc.isClosed();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Something was written to the outbox: run a pass now. */
  nudge(): void {
    this.nudgeResolve?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.nudgeResolve = done;
    });
  }

  private async connectOnce(): Promise<void> {
    const nc = await connect({
      servers: this.opts.servers.split(",").map((s) => s.trim()),
      name: "task-queue-relay",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 2000,
    });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      try {
        await jsm.streams.info(this.opts.stream);
      } catch {
        await jsm.streams.add({
          name: this.opts.stream,
          subjects: [`${this.opts.subjectPrefix}.>`],
          num_replicas: this.opts.replicas,
          storage: StorageType.File,
          duplicate_window: this.opts.duplicateWindowSeconds * 1_000_000_000,
        });
        this.opts.log.info({ stream: this.opts.stream, replicas: this.opts.replicas }, "created JetStream stream");
      }
      this.nc = nc;
      this.js = jetstream(nc, { timeout: this.opts.publishTimeoutMs ?? 5000 });
      this.opts.log.info({ servers: this.opts.servers, stream: this.opts.stream }, "outbox relay connected to NATS");
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        if (!this.js) await this.connectOnce();
        const n = await this.store.relayBatch(this.opts.batch ?? 500, (rows) => this.publish(rows));
        failures = 0;
        if (n === 0) await this.sleep(500);
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, "outbox relay pass failed; events stay in the outbox");
        await this.sleep(backoffDelay(failures++, RETRY));
      }
    }
  }

  /** Publish in order; returns the ids acknowledged, stopping at the first failure so order holds. */
  private async publish(rows: OutboxRow[]): Promise<number[]> {
    const js = this.js;
    if (!js) return [];
    const acks = await Promise.allSettled(
      rows.map((r) =>
        js.publish(
          subjectFor(this.opts.subjectPrefix, r),
          JSON.stringify({ id: r.id, event: r.event, taskId: r.taskId, queue: r.queue, attempt: r.attempt, at: r.createdAt }),
          { msgID: String(r.id) },
        ),
      ),
    );
    const done: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const a = acks[i] as PromiseSettledResult<unknown>;
      if (a.status !== "fulfilled") {
        if (done.length === 0) throw a.reason;
        break;
      }
      done.push((rows[i] as OutboxRow).id);
    }
    this.published.inc(done.length);
    return done;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.nudge();
    await this.loop;
    const nc = this.nc;
    this.nc = undefined;
    this.js = undefined;
    if (nc) await nc.drain().catch(() => nc.close());
  }
}
