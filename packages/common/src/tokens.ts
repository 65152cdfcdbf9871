import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type Database from "better-sqlite3";
import type pg from "pg";
import type { FastifyReply, FastifyRequest } from "fastify";
import { migratePostgres, migrateSqlite, type Migration } from "./db.js";

/**
 * Agent tokens: `tsa_<id>_<secret>`. The id is public (for listing and revoking); only a
 * SHA-256 of the 32-byte random secret is stored, so a database leak yields no usable token.
 * Rotation issues a new token and gives the old ones a grace period, so agents pick up the
 * new token without downtime. The task queue and the MCP gateway share this module and store.
 */
export interface TokenRecord {
  id: string;
  agent: string;
  hash: string;
  label: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export interface TokenStore {
  migrate(): Promise<void>;
  insert(rec: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  list(agent?: string): Promise<TokenRecord[]>;
  /** Mark revoked now; returns false when no such live token. */
  revoke(id: string, at: Date): Promise<boolean>;
  /** Set an expiry on every live token of the agent except `keepId`; returns how many. */
  expireOthers(agent: string, keepId: string, at: Date): Promise<number>;
}

export interface VerifiedAgent {
  agent: string;
  tokenId: string;
}

const TOKEN_RE = /^tsa_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export class AgentTokens {
  /** Verified tokens are cached this long; a revocation takes effect within it (0 disables). */
  private readonly cache = new Map<string, { v: VerifiedAgent; until: number; expiresAt: number }>();

  constructor(private readonly store: TokenStore, private readonly opts: { cacheMs?: number; now?: () => Date } = {}) {}

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async issue(agent: string, opts: { label?: string; ttlSeconds?: number } = {}): Promise<{ id: string; token: string }> {
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(agent)) throw new Error(`agent name ${JSON.stringify(agent)}: expected 1-128 of A-Z a-z 0-9 . _ : -`);
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const now = this.now();
    await this.store.insert({
      id,
      agent,
      hash: sha256(secret),
      label: opts.label ?? null,
      createdAt: now,
      expiresAt: opts.ttlSeconds ? new Date(now.getTime() + opts.ttlSeconds * 1000) : null,
      revokedAt: null,
    });
    return { id, token: `tsa_${id}_${secret}` };
  }

  async verify(token: string | undefined): Promise<VerifiedAgent | undefined> {
    if (!token) return undefined;
    const m = TOKEN_RE.exec(token);
    if (!m) return undefined;
    const [, id, secret] = m as unknown as [string, string, string];
    const nowMs = this.now().getTime();
    const hit = this.cache.get(token);
    if (hit && hit.until > nowMs && hit.expiresAt > nowMs) return hit.v;
    const rec = await this.store.get(id);
    if (!rec || rec.revokedAt) return undefined;
    if (rec.expiresAt && rec.expiresAt.getTime() <= nowMs) return undefined;
    const a = Buffer.from(sha256(secret), "hex");
    const b = Buffer.from(rec.hash, "hex");
    if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
    const v = { agent: rec.agent, tokenId: rec.id };
    const cacheMs = this.opts.cacheMs ?? 5000;
    if (cacheMs > 0) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(token, { v, until: nowMs + cacheMs, expiresAt: rec.expiresAt?.getTime() ?? Infinity });
    }
    return v;
  }

  async revoke(id: string): Promise<boolean> {
    const ok = await this.store.revoke(id, this.now());
    for (const [k, e] of this.cache) if (e.v.tokenId === id) this.cache.delete(k);
    return ok;
  }

  /** New token for the agent; its other live tokens stop working after `graceSeconds`. */
  async rotate(agent: string, opts: { graceSeconds?: number; label?: string } = {}): Promise<{ id: string; token: string; expiring: number }> {
    const fresh = await this.issue(agent, { label: opts.label });
    const at = new Date(this.now().getTime() + (opts.graceSeconds ?? 3600) * 1000);
    const expiring = await this.store.expireOthers(agent, fresh.id, at);
    this.cache.clear();
    return { ...fresh, expiring };
  }

  list(agent?: string): Promise<TokenRecord[]> {
    return this.store.list(agent);
  }
}

/**
 * The token of an `Authorization: Bearer <token>` header, or undefined. The scheme's name is
 * case-insensitive (RFC 9110 §11.1), spaces may precede the token (RFC 6750 §2.1: 1*SP) and
 * trail it; a header with anything else after the token is not a bearer credential.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^bearer +(\S+) *$/i.exec(header ?? "");
  return m?.[1];
}

/** A Fastify preHandler: `Authorization: Bearer tsa_…` or 401. Sets `request.agent`. */
export function requireAgent(tokens: AgentTokens) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const token = bearerToken(req.headers.authorization);
    const agent = await tokens.verify(token);
    if (!agent) {
      return reply.code(401).send({ error: "unauthorized", message: token ? "unknown, expired or revoked agent token" : "missing bearer token" });
    }
    (req as FastifyRequest & { agent: VerifiedAgent }).agent = agent;
  };
}

export function agentOf(req: FastifyRequest): VerifiedAgent {
  const a = (req as FastifyRequest & { agent?: VerifiedAgent }).agent;
  if (!a) throw new Error("agentOf: route is not behind requireAgent");
  return a;
}

const tokenMigrations = (ts: string): Migration[] => [
  {
    version: 1,
    name: "agent_tokens",
    sql: `CREATE TABLE IF NOT EXISTS agent_tokens (
      id text PRIMARY KEY, agent text NOT NULL, hash text NOT NULL, label text,
      created_at ${ts} NOT NULL, expires_at ${ts}, revoked_at ${ts});
      CREATE INDEX IF NOT EXISTS agent_tokens_agent ON agent_tokens (agent)`,
  },
];

type Row = { id: string; agent: string; hash: string; label: string | null; created_at: unknown; expires_at: unknown; revoked_at: unknown };
const toDate = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(v as string | number));
const fromRow = (r: Row): TokenRecord => ({
  id: r.id,
  agent: r.agent,
  hash: r.hash,
  label: r.label,
  createdAt: toDate(r.created_at) as Date,
  expiresAt: toDate(r.expires_at),
  revokedAt: toDate(r.revoked_at),
});

export class PgTokenStore implements TokenStore {
  constructor(private readonly pool: pg.Pool, private readonly schema?: string) {}
  async migrate() {
    await migratePostgres(this.pool, "agent-tokens", this.schema, tokenMigrations("timestamptz"));
  }
  async insert(r: TokenRecord) {
    await this.pool.query(
      "INSERT INTO agent_tokens (id, agent, hash, label, created_at, expires_at, revoked_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
      [r.id, r.agent, r.hash, r.label, r.createdAt, r.expiresAt, r.revokedAt],
    );
  }
  async get(id: string) {
    const { rows } = await this.pool.query<Row>("SELECT * FROM agent_tokens WHERE id = $1", [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }
  async list(agent?: string) {
    const { rows } = agent
      ? await this.pool.query<Row>("SELECT * FROM agent_tokens WHERE agent = $1 ORDER BY created_at, id", [agent])
      : await this.pool.query<Row>("SELECT * FROM agent_tokens ORDER BY created_at, id");
    return rows.map(fromRow);
  }
  async revoke(id: string, at: Date) {
    const r = await this.pool.query("UPDATE agent_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", [id, at]);
    return (r.rowCount ?? 0) > 0;
  }
  async expireOthers(agent: string, keepId: string, at: Date) {
    const r = await this.pool.query(
      "UPDATE agent_tokens SET expires_at = $3 WHERE agent = $1 AND id <> $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
      [agent, keepId, at],
    );
    return r.rowCount ?? 0;
  }
}

/** SQLite stores times as epoch milliseconds. */
export class SqliteTokenStore implements TokenStore {
  constructor(private readonly db: Database.Database) {}
  async migrate() {
    migrateSqlite(this.db, "agent-tokens", tokenMigrations("integer"));
  }
  async insert(r: TokenRecord) {
    this.db
      .prepare("INSERT INTO agent_tokens (id, agent, hash, label, created_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?)")
      .run(r.id, r.agent, r.hash, r.label, r.createdAt.getTime(), r.expiresAt?.getTime() ?? null, r.revokedAt?.getTime() ?? null);
  }
  async get(id: string) {
    const row = this.db.prepare("SELECT * FROM agent_tokens WHERE id = ?").get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }
  async list(agent?: string) {
    const rows = (agent
      ? this.db.prepare("SELECT * FROM agent_tokens WHERE agent = ? ORDER BY created_at, id").all(agent)
      : this.db.prepare("SELECT * FROM agent_tokens ORDER BY created_at, id").all()) as Row[];
    return rows.map(fromRow);
  }
  async revoke(id: string, at: Date) {
    return this.db.prepare("UPDATE agent_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(at.getTime(), id).changes > 0;
  }
  async expireOthers(agent: string, keepId: string, at: Date) {
    const t = at.getTime();
    return this.db
      .prepare("UPDATE agent_tokens SET expires_at = ? WHERE agent = ? AND id <> ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)")
      .run(t, agent, keepId, t).changes;
  }
}
