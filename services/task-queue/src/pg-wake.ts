import pg from "pg";

/**
 * The PostgreSQL store's wake-ups: one connection LISTENing on the store's channel (named after
 * the schema, so parallel schemas do not wake each other), reconnecting by itself a second after
 * it drops. On every (re)connect it wakes every waiter once, for work enqueued while it was away.
 */
export interface PgWakeOptions {
  connectionString: string;
  schema?: string;
  channel: string;
  /** A queue name from a notification, or "*" after a (re)connect. */
  wake: (queue: string) => void;
  onError?: (err: unknown, where: string) => void;
}

export class PgWakeListener {
  private listener?: pg.Client;
  private closed = false;
  private reconnectTimer?: NodeJS.Timeout;

  constructor(private readonly opts: PgWakeOptions) {}

  /** Start listening for wake-ups (reconnects by itself after a database outage). */
  async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.opts.connectionString,
      ...(this.opts.schema ? { options: `-c search_path=${this.opts.schema}` } : {}),
    });
    const retry = (err?: unknown) => {
      if (err) this.opts.onError?.(err, "listen connection");
      if (this.listener === client) this.listener = undefined;
      client.removeAllListeners();
      client.on("error", () => undefined);
      void client.end().catch(() => undefined);
      if (!this.closed && !this.reconnectTimer) {
        this.reconnectTimer = setTimeout(() => {
          this.reconnectTimer = undefined;
          void this.listen();
        }, 1000);
      }
    };
    client.on("error", retry);
    client.on("end", () => retry());
    client.on("notification", (n) => {
      if (n.channel === this.opts.channel && n.payload) this.opts.wake(n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.opts.channel}"`);
      this.listener = client;
      // Anything enqueued while we were not listening: wake every waiter once.
      this.opts.wake("*");
    } catch (err) {
      retry(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      l.removeAllListeners();
      l.on("error", () => undefined);
      await l.end().catch(() => undefined);
    }
  }
}
