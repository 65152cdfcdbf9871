import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { runToken } from "./token.js";

const dir = mkdtempSync(join(tmpdir(), "token-cli-"));
const db = `sqlite:${join(dir, "nested", "tokens.db")}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runToken([...args, "--db", db], (l) => lines.push(l));
  return { code, lines };
}

async function verify(token: string) {
  const { store, close } = await openTokenStore(db);
  try {
    return await new AgentTokens(store, { cacheMs: 0 }).verify(token);
  } finally {
    await close();
  }
}

describe("tierstack token", () => {
  it("issues a token the services accept, lists it without the secret, revokes it", async () => {
    const issued = await run("issue", "builder-7", "--label", "ci");
    expect(issued.code).toBe(0);
    const token = issued.lines[0] as string;
    expect(await verify(token)).toMatchObject({ agent: "builder-7" });

    const listed = await run("list", "builder-7");
    expect(listed.lines).toHaveLength(1);
    expect(listed.lines[0]).toMatch(/ builder-7 {2}live /);
    expect(listed.lines.join("\n")).not.toContain(token);

    const id = (listed.lines[0] as string).split(" ")[0] as string;
    expect((await run("revoke", id)).code).toBe(0);
    expect(await verify(token)).toBeUndefined();
    expect((await run("list", "builder-7")).lines[0]).toContain("revoked");
  });

  it("rotates: both tokens work during the grace period", async () => {
    const old = (await run("issue", "rotator")).lines[0] as string;
    const fresh = (await run("rotate", "rotator", "--grace", "120")).lines[0] as string;
    expect(fresh).not.toBe(old);
    expect(await verify(old)).toMatchObject({ agent: "rotator" });
    expect(await verify(fresh)).toMatchObject({ agent: "rotator" });
    expect((await run("list", "rotator")).lines.some((l) => l.includes("expires"))).toBe(true);
  });

  it("rejects bad input with a clear message", async () => {
    await expect(run("issue")).rejects.toThrow(/missing <agent>/);
    await expect(run("rotate", "x", "--grace=-5")).rejects.toThrow(/--grace="-5": expected a positive whole number/);
    await expect(run("frobnicate")).rejects.toThrow(/unknown command "frobnicate"/);
    expect((await run("revoke", "0000000000000000")).code).toBe(1);
  });
});
