import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentTokens, bearerToken, type TokenStore } from "./tokens.js";
import { openTokenStore } from "./token-store.js";
import { available, freshSchema, PG_URL } from "./testing/index.js";

// One contract suite, run against every TokenStore implementation on the real database.
const pgUp = await available("postgres", PG_URL);
const dir = mkdtempSync(join(tmpdir(), "tokens-"));

const impls: { name: string; skip: boolean; open: () => Promise<{ store: TokenStore; close: () => Promise<void> }> }[] = [
  { name: "sqlite", skip: false, open: () => openTokenStore(`sqlite:${join(dir, "tokens.db")}`) },
  {
    name: "postgres",
    skip: !pgUp,
    open: async () => {
      const s = await freshSchema("tokens");
      const t = await openTokenStore(s.url);
      return { store: t.store, close: async () => { await t.close(); await s.drop(); } };
    },
  },
];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(impls)("agent tokens on $name", ({ skip, open }) => {
  let store: TokenStore;
  let close: () => Promise<void>;
  let clock = new Date("2026-01-01T00:00:00Z");
  let tokens: AgentTokens;
  beforeAll(async () => {
    if (skip) return;
    ({ store, close } = await open());
    tokens = new AgentTokens(store, { cacheMs: 0, now: () => clock });
  });
  afterAll(async () => {
    if (!skip) await close();
  });

  it.skipIf(skip)("issues a token that verifies as its agent and stores only a hash", async () => {
    const { id, token } = await tokens.issue("agent-1", { label: "ci" });
    expect(token).toMatch(/^tsa_[0-9a-f]{16}_/);
    expect(await tokens.verify(token)).toEqual({ agent: "agent-1", tokenId: id });
    const rec = await store.get(id);
    expect(rec?.hash).toMatch(/^[0-9a-f]{64}$/);
    // The secret is everything after "tsa_<16 hex>_" (base64url: it may itself contain "_").
    const secret = token.slice("tsa_".length + 16 + 1);
    expect(secret).toHaveLength(43);
    expect(JSON.stringify(rec)).not.toContain(secret);
  });

  it.skipIf(skip)("rejects unknown, malformed, tampered and revoked tokens", async () => {
    const { id, token } = await tokens.issue("agent-2");
    expect(await tokens.verify(undefined)).toBeUndefined();
    expect(await tokens.verify("nonsense")).toBeUndefined();
    const tampered = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    expect(await tokens.verify(tampered)).toBeUndefined();
    expect(await tokens.revoke(id)).toBe(true);
    expect(await tokens.revoke(id)).toBe(false);
    expect(await tokens.verify(token)).toBeUndefined();
  });

  it.skipIf(skip)("rotation keeps the old token valid for the grace period only", async () => {
    const old = await tokens.issue("agent-3");
    const fresh = await tokens.rotate("agent-3", { graceSeconds: 60 });
    expect(fresh.expiring).toBe(1);
    expect(await tokens.verify(old.token)).toMatchObject({ agent: "agent-3" });
    expect(await tokens.verify(fresh.token)).toMatchObject({ agent: "agent-3" });
    clock = new Date(clock.getTime() + 61_000);
    expect(await tokens.verify(old.token)).toBeUndefined();
    expect(await tokens.verify(fresh.token)).toMatchObject({ agent: "agent-3", tokenId: fresh.id });
    expect((await tokens.list("agent-3")).map((t) => t.id).sort()).toEqual([old.id, fresh.id].sort());
  });

  it.skipIf(skip)("refuses agent names that are not plain identifiers", async () => {
    await expect(tokens.issue("bad name; drop")).rejects.toThrow(/agent name/);
  });
});

describe("token cache", () => {
  it("forgets a revoked token at once in the process that revoked it", async () => {
    const t = await openTokenStore(`sqlite:${join(dir, "cache.db")}`);
    const tokens = new AgentTokens(t.store, { cacheMs: 60_000 });
    const { id, token } = await tokens.issue("a");
    expect(await tokens.verify(token)).toBeDefined();
    await tokens.revoke(id);
    expect(await tokens.verify(token)).toBeUndefined();
    await t.close();
  });
});

describe("bearerToken", () => {
  it("takes the scheme in any case (RFC 9110 §11.1) and one or more spaces before the token", () => {
    for (const h of ["Bearer tsa_x", "bearer tsa_x", "BEARER tsa_x", "Bearer   tsa_x", "Bearer tsa_x  "]) expect(bearerToken(h), h).toBe("tsa_x");
  });
  it("refuses what is not one bearer credential", () => {
    for (const h of [undefined, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearertsa_x", "Bearer tsa_x extra", " Bearer tsa_x"]) expect(bearerToken(h), String(h)).toBeUndefined();
  });
});
