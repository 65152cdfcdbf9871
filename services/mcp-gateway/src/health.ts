import type { Dispatcher } from "undici";
import type { FastifyBaseLogger } from "fastify";
import type { ShardConfig } from "./config.js";

/**
 * Active health checks: every interval each replica gets a JSON-RPC `ping` POST. Any HTTP answer below
 * 500 means the process is up and speaking HTTP (a legacy server answers a session-less ping with 400);
 * a refused connection, a timeout or a 5xx marks it dead. Forwarding errors mark a replica dead at once
 * (passive check) so failover does not wait for the next round.
 */
export class ReplicaHealth {
  private readonly alive = new Map<string, boolean>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private rr = new Map<string, number>();
  onChange?: (namespace: string, replica: string, up: boolean) => void;

  constructor(
    private readonly shards: ShardConfig[],
    private readonly dispatcher: Dispatcher,
    private readonly opts: { intervalMs: number; timeoutMs: number; upstreamToken?: string },
    private readonly log: FastifyBaseLogger,
  ) {
    for (const s of shards) for (const r of s.replicas) this.alive.set(r, true);
  }

  start(): Promise<void> {
    const first = this.checkAll();
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.checkAll().finally(() => (this.running = undefined));
    }, this.opts.intervalMs);
    this.timer.unref();
    return first;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  isAlive(replica: string): boolean {
    return this.alive.get(replica) ?? false;
  }

  live(namespace: string): string[] {
    const shard = this.shards.find((s) => s.namespace === namespace);
    return shard ? shard.replicas.filter((r) => this.alive.get(r)) : [];
  }

  /** Round-robin over the live replicas of a namespace (stateless requests and pooled bridge sessions). */
  pick(namespace: string, exclude?: Set<string>): string | undefined {
    const live = this.live(namespace).filter((r) => !exclude?.has(r));
    if (live.length === 0) return undefined;
    const n = (this.rr.get(namespace) ?? 0) + 1;
    this.rr.set(namespace, n);
    return live[n % live.length];
  }

  markDead(replica: string, reason: string): void {
    this.set(replica, false, reason);
  }

  private set(replica: string, up: boolean, reason?: string): void {
    const was = this.alive.get(replica);
    this.alive.set(replica, up);
    if (was !== up) {
      const ns = this.shards.find((s) => s.replicas.includes(replica))?.namespace ?? "?";
      this.log[up ? "info" : "warn"]({ replica, namespace: ns, reason }, up ? "replica up" : "replica down");
      this.onChange?.(ns, replica, up);
    }
  }

  async checkAll(): Promise<void> {
    await Promise.all(this.shards.flatMap((s) => s.replicas.map((r) => this.check(r))));
  }

  private async check(replica: string): Promise<void> {
    const u = new URL(replica);
    try {
      const res = await this.dispatcher.request({
        origin: u.origin,
        path: u.pathname + u.search,
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...(this.opts.upstreamToken ? { authorization: `Bearer ${this.opts.upstreamToken}` } : {}),
        },
        body: '{"jsonrpc":"2.0","id":"gateway-health","method":"ping"}',
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      });
      await res.body.dump();
      this.set(replica, res.statusCode < 500, `status ${res.statusCode}`);
    } catch (err) {
      this.set(replica, false, (err as Error).message);
    }
  }
}
