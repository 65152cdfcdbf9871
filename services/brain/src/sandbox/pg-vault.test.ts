/**
 * The PostgreSQL FileVault on the real local PostgreSQL (a fresh schema per run): the table made
 * on open, by two replicas opening at once; a learner's files saved by one replica and loaded by
 * another; a save replacing the last one; names and contents any string (NUL, lone surrogates,
 * non-ASCII) round trip; a learner never saved has none; a non-PostgreSQL URL refused. And
 * openPlacement on tier-100's environment (the kubernetes runtime, a postgres:// DATABASE_URL)
 * choosing it, BRAIN_SANDBOX_VAULT_DIR overriding it, the keys it reads being the catalogued ones.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { available, freshSchema, PG_URL } from "@tierstack/common/testing";
import { learnerRuntimePort, learnerWarmPoolName, sandboxNamespace } from "../../../../catalog/sandbox.js";
import { services } from "../../../../catalog/services.js";
import { openPlacement } from "./index.js";
import { openPgVault, vaultTable, type PgVault } from "./pg-vault.js";
import { recordingLlm } from "./testing.js";

describe("the PostgreSQL file vault", () => {
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  const open: PgVault[] = [];
  const vault = async () => {
    const v = await openPgVault(schema.url);
    open.push(v);
    return v;
  };

  beforeAll(async () => {
    if (!(await available("postgres", PG_URL))) throw new Error("postgres is needed for the vault's tests");
    schema = await freshSchema("brain_vault");
  });
  afterAll(async () => {
    for (const v of open) await v.close();
    await schema?.drop();
  });

  it("two replicas opening at once make the table once, in the URL's schema; each sees the other's saves", async () => {
    const [a, b] = await Promise.all([vault(), vault()]);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const t = await c.query("SELECT table_schema FROM information_schema.tables WHERE table_name = $1", [vaultTable]);
      expect(t.rows.map((r: { table_schema: string }) => r.table_schema)).toContain(schema.schema);
      const m = await c.query(`SELECT version FROM ${schema.schema}.brain_sandbox_migrations`);
      expect(m.rows).toEqual([{ version: 1 }]);
    } finally {
      await c.end();
    }
    await a!.save("learner-1", { "notes.md": Buffer.from("# day 1").toString("base64") });
    expect(await b!.load("learner-1")).toEqual({ "notes.md": Buffer.from("# day 1").toString("base64") });
  });

  it("a save replaces the learner's files; other learners keep theirs; a learner never saved has none", async () => {
    const v = await vault();
    await v.save("learner-2", { "a.txt": "YQ==", "b.txt": "Yg==" });
    await v.save("learner-3", { "c.txt": "Yw==" });
    await v.save("learner-2", { "b.txt": "YmI=" });
    expect(await v.load("learner-2")).toEqual({ "b.txt": "YmI=" });
    expect(await v.load("learner-3")).toEqual({ "c.txt": "Yw==" });
    await v.save("learner-3", {});
    expect(await v.load("learner-3")).toEqual({});
    expect(await v.load("nobody")).toBeUndefined();
  });

  it("any name and content round trip: NUL, lone surrogates, non-ASCII", async () => {
    const v = await vault();
    const files = { "nul\u0000name": "a\u0000b", "lone\ud800": "\udc00x", "δοκιμή/файл.txt": "✓ — ok", "": "" };
    await v.save("learner-4", files);
    expect(await (await vault()).load("learner-4")).toEqual(files);
  });

  it("refuses a database that is not PostgreSQL", async () => {
    await expect(openPgVault("sqlite:/tmp/brain.db")).rejects.toThrow(/postgres:\/\//);
  });
});

describe("openPlacement on tier-100's environment keeps the learners' files in PostgreSQL", () => {
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  const tier100 = { BRAIN_SANDBOX_RUNTIME: "kubernetes", BRAIN_SANDBOX_NAMESPACE: sandboxNamespace, BRAIN_SANDBOX_WARM_POOL: learnerWarmPoolName, BRAIN_SANDBOX_PORT: String(learnerRuntimePort) };
  const tableIn = async (s: string) => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      return (await c.query("SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2", [s, vaultTable])).rowCount === 1;
    } finally {
      await c.end();
    }
  };

  beforeEach(async () => {
    schema = await freshSchema("brain_placement");
  });
  afterEach(async () => {
    await schema.drop();
  });

  it("a postgres:// DATABASE_URL and no BRAIN_SANDBOX_VAULT_DIR: the vault's table in the brain's schema", async () => {
    const p = await openPlacement({ ...tier100, DATABASE_URL: schema.url }, recordingLlm());
    try {
      expect(p.runtime?.kind).toBe("kubernetes");
      expect(await tableIn(schema.schema)).toBe(true);
    } finally {
      await p.close();
    }
  });

  it("BRAIN_SANDBOX_VAULT_DIR wins: no table; a SQLite store without it is refused, naming the key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brain-vault-"));
    try {
      const p = await openPlacement({ ...tier100, DATABASE_URL: schema.url, BRAIN_SANDBOX_VAULT_DIR: dir }, recordingLlm());
      await p.close();
      expect(await tableIn(schema.schema)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await expect(openPlacement({ ...tier100, DATABASE_URL: "sqlite:/tmp/brain.db" }, recordingLlm())).rejects.toThrow(/BRAIN_SANDBOX_VAULT_DIR is required/);
  });

  it("reads exactly the keys the service catalogue lists for it (and DATABASE_URL, the store's)", async () => {
    const read = new Set<string>();
    const watched = (env: Record<string, string>) =>
      new Proxy(env as Record<string, string | undefined>, {
        get(target, key) {
          if (typeof key === "string") read.add(key);
          return target[key as string];
        },
      });
    const dir = mkdtempSync(join(tmpdir(), "brain-vault-"));
    try {
      const envs: Record<string, string>[] = [{}, { ...tier100, DATABASE_URL: schema.url }, { ...tier100, BRAIN_SANDBOX_VAULT_DIR: dir }, { BRAIN_SANDBOX_RUNTIME: "gvisor", BRAIN_SANDBOX_DIR: dir }];
      for (const env of envs) {
        const p = await openPlacement(watched(env), recordingLlm()).catch(() => undefined);
        await p?.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const listed = (services.brain.moduleEnv?.keys ?? []).map((k) => k.name);
    expect(services.brain.moduleEnv?.readBy).toMatch(/sandbox\/index\.ts/);
    expect([...read].sort()).toEqual([...listed, "DATABASE_URL"].sort());
  });
});
