/**
 * Per-agent token bucket in this process's memory: `burst` tokens, refilled at `perSecond`.
 * With N gateway replicas behind a load balancer an agent gets up to N× the rate (see ADR 0024).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly perSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  /** Take one token; returns 0 when allowed, else the milliseconds until a token is available. */
  take(agent: string): number {
    const now = this.now();
    let b = this.buckets.get(agent);
    if (!b) {
      if (this.buckets.size >= 100_000) this.buckets.clear();
      b = { tokens: this.burst, at: now };
      this.buckets.set(agent, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.perSecond) * 1000);
  }
}
