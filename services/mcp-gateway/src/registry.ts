import { Redis } from "ioredis";

/** One upstream MCP session: the replica that owns it and the id that replica minted. */
export interface Leg {
  replica: string;
  upstream: string;
}

/**
 * A client-facing session. The gateway mints its own opaque id (never the replica's), binds it to the
 * agent that created it, and maps it to one leg (pass-through `/mcp/<ns>`) or one leg per namespace
 * (federated `/mcp`, namespace `*`).
 */
export interface SessionRecord {
  id: string;
  agent: string;
  namespace: string;
  legs: Record<string, Leg>;
  protocolVersion: string;
  expiresAt: number;
}

export interface SessionRegistry {
  readonly kind: "memory" | "redis";
  /** Store a new session; its expiry is now + ttl. */
  put(rec: Omit<SessionRecord, "expiresAt">): Promise<SessionRecord>;
  /** The live session, or undefined when unknown or expired. Slides the expiry once half the TTL has passed. */
  get(id: string): Promise<SessionRecord | undefined>;
  /** Replace the legs of a live session (federated re-leg). */
  setLegs(id: string, legs: Record<string, Leg>): Promise<void>;
  delete(id: string): Promise<boolean>;
  /** Open (unexpired) sessions of a namespace (`*` for federated). */
  countOpen(namespace: string): Promise<number>;
  close(): Promise<void>;
}

export class MemorySessionRegistry implements SessionRegistry {
  readonly kind = "memory" as const;
  private readonly sessions = new Map<string, SessionRecord>();
  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  async put(rec: Omit<SessionRecord, "expiresAt">): Promise<SessionRecord> {
    const full = { ...rec, legs: { ...rec.legs }, expiresAt: this.now() + this.ttlMs };
    this.sessions.set(rec.id, full);
    if (this.sessions.size % 1024 === 0) this.sweep();
    return { ...full, legs: { ...full.legs } };
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    const now = this.now();
    if (s.expiresAt <= now) {
      this.sessions.delete(id);
      return undefined;
    }
    if (s.expiresAt - now < this.ttlMs / 2) s.expiresAt = now + this.ttlMs;
    return { ...s, legs: { ...s.legs } };
  }

  async setLegs(id: string, legs: Record<string, Leg>): Promise<void> {
    const s = this.sessions.get(id);
    if (s) s.legs = { ...legs };
  }

  async delete(id: string): Promise<boolean> {
    return this.sessions.delete(id);
  }

  async countOpen(namespace: string): Promise<number> {
    this.sweep();
    let n = 0;
    for (const s of this.sessions.values()) if (s.namespace === namespace) n++;
    return n;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }

  async close(): Promise<void> {
    this.sessions.clear();
  }
}

/** The session registry failed (Redis down or answering garbage): the gateway answers 503, retry later. */
export class RegistryUnavailable extends Error {
  constructor(cause: unknown) {
    super(`session registry unavailable: ${(cause as Error).message}`, { cause });
    this.name = "RegistryUnavailable";
  }
}

/** The registry with every failure turned into RegistryUnavailable (one answer for "the registry is down"). */
export function failingAsUnavailable(registry: SessionRegistry): SessionRegistry {
  const wrap =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await f(...a);
      } catch (err) {
        throw err instanceof RegistryUnavailable ? err : new RegistryUnavailable(err);
      }
    };
  return {
    kind: registry.kind,
    put: wrap((rec) => registry.put(rec)),
    get: wrap((id) => registry.get(id)),
    setLegs: wrap((id, legs) => registry.setLegs(id, legs)),
    delete: wrap((id) => registry.delete(id)),
    countOpen: wrap((ns) => registry.countOpen(ns)),
    close: () => registry.close(),
  };
}

const isLeg = (v: unknown): v is Leg => typeof v === "object" && v !== null && typeof (v as Leg).replica === "string" && typeof (v as Leg).upstream === "string";

/** A stored record read back: the record when it has every field with its type, else undefined (treated as unknown). */
export function recordOf(raw: string): SessionRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const legs = r.legs;
  const ok =
    typeof r.id === "string" &&
    typeof r.agent === "string" &&
    typeof r.namespace === "string" &&
    typeof r.protocolVersion === "string" &&
    typeof r.expiresAt === "number" &&
    typeof legs === "object" &&
    legs !== null &&
    !Array.isArray(legs) &&
    Object.values(legs).every(isLeg);
  return ok ? (v as SessionRecord) : undefined;
}

/**
 * Sessions in Redis, shared by every gateway replica: `<prefix>s:<id>` holds the record (with a TTL),
 * `<prefix>open:<namespace>` is a sorted set of ids scored by expiry (for the open-sessions gauge).
 * The hot path is one GET; the expiry slides with a second round trip only once half the TTL has passed.
 */
export class RedisSessionRegistry implements SessionRegistry {
  readonly kind = "redis" as const;
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  static connect(url: string, prefix: string, ttlMs: number): RedisSessionRegistry {
    const redis = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
    return new RedisSessionRegistry(redis, prefix, ttlMs);
  }

  private key(id: string) {
    return `${this.prefix}s:${id}`;
  }
  private openKey(ns: string) {
    return `${this.prefix}open:${ns}`;
  }

  async put(rec: Omit<SessionRecord, "expiresAt">): Promise<SessionRecord> {
    const full: SessionRecord = { ...rec, expiresAt: this.now() + this.ttlMs };
    await this.redis
      .multi()
      .set(this.key(rec.id), JSON.stringify(full), "PX", this.ttlMs)
      .zadd(this.openKey(rec.namespace), full.expiresAt, rec.id)
      .exec();
    return full;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const raw = await this.redis.get(this.key(id));
    if (!raw) return undefined;
    const s = recordOf(raw);
    if (!s) return undefined;
    const now = this.now();
    if (s.expiresAt <= now) return undefined;
    if (s.expiresAt - now < this.ttlMs / 2) {
      s.expiresAt = now + this.ttlMs;
      await this.redis
        .multi()
        .set(this.key(id), JSON.stringify(s), "PX", this.ttlMs, "XX")
        .zadd(this.openKey(s.namespace), s.expiresAt, id)
        .exec();
    }
    return s;
  }

  async setLegs(id: string, legs: Record<string, Leg>): Promise<void> {
    const raw = await this.redis.get(this.key(id));
    const s = raw ? recordOf(raw) : undefined;
    if (!s) return;
    s.legs = legs;
    const left = Math.max(1, s.expiresAt - this.now());
    await this.redis.set(this.key(id), JSON.stringify(s), "PX", left, "XX");
  }

  async delete(id: string): Promise<boolean> {
    const raw = await this.redis.get(this.key(id));
    if (!raw) return false;
    const s = recordOf(raw);
    if (!s) return (await this.redis.del(this.key(id))) === 1;
    const [del] = (await this.redis.multi().del(this.key(id)).zrem(this.openKey(s.namespace), id).exec()) ?? [];
    return del?.[1] === 1;
  }

  async countOpen(namespace: string): Promise<number> {
    const res = await this.redis
      .multi()
      .zremrangebyscore(this.openKey(namespace), "-inf", this.now())
      .zcard(this.openKey(namespace))
      .exec();
    return Number(res?.[1]?.[1] ?? 0);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
