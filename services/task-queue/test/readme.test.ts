import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { buildApp, type TaskQueueApp } from "../src/app.js";
import { readConfig } from "../src/config.js";
import { impls } from "./helpers.js";

// The README's error table is what the service answers: each row's example is sent to the service
// on both stores (default configuration) and must get the row's status, error and message.

interface Row { status: number; error: string; example: string; message: string }

/** The cells of a Markdown table row; a `|` inside a code span does not split. */
function cells(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let code = false;
  for (const ch of line.trim().slice(1, -1)) {
    if (ch === "`") code = !code;
    if (ch === "|" && !code) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}
const unquote = (cell: string) => cell.replace(/^`/, "").replace(/`$/, "");

function errorRows(): Row[] {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const section = readme.split("### Errors")[1]?.split(/\n#{2,3} /)[0] ?? "";
  return section
    .split("\n")
    .filter((l) => /^\| [1-5]\d\d \|/.test(l))
    .map((l) => {
      const [status, error, , example, message] = cells(l);
      return { status: Number(status), error: unquote(error ?? ""), example: unquote(example ?? ""), message: unquote(message ?? "") };
    });
}

/** `"x×N"` → a string of N x; `[×N]` → N nested arrays. */
const expand = (body: string) =>
  body.replace(/"x×(\d+)"/g, (_m, n: string) => JSON.stringify("x".repeat(Number(n)))).replace(/\[×(\d+)\]/g, (_m, n: string) => "[".repeat(Number(n)) + "]".repeat(Number(n)));

const rows = errorRows();

describe("the README's error table", () => {
  it("has a row for every error status the service answers", () => {
    expect([...new Set(rows.map((r) => r.status))]).toEqual([400, 401, 404, 409, 413, 415, 503]);
    expect(rows.length).toBeGreaterThan(20);
  });
});

describe.each(impls)("the README's error table against the service on $name", ({ skip, open }) => {
  let svc: TaskQueueApp;
  let close: () => Promise<void>;
  let token: string;
  const ids: Record<string, number> = {};
  beforeAll(async () => {
    if (skip) return;
    const opened = await open();
    const ts = await openTokenStore(opened.url);
    const tokens = new AgentTokens(ts.store, { cacheMs: 0 });
    token = (await tokens.issue("agent-readme")).token;
    svc = buildApp(readConfig({ DATABASE_URL: opened.url, LOG_LEVEL: "silent" }), { store: opened.store, tokens });
    await svc.app.ready();
    close = async () => {
      await svc.app.close();
      await ts.close();
      await opened.close();
    };
    // A running task and a completed one for the {running} and {completed} placeholders.
    const headers = { authorization: `Bearer ${token}` };
    for (const state of ["completed", "running"]) {
      await svc.app.inject({ method: "POST", url: "/v1/tasks", headers, payload: { queue: `readme-${state}` } });
      const t = (await svc.app.inject({ method: "POST", url: "/v1/claim", headers, payload: { queues: [`readme-${state}`] } })).json().tasks[0];
      ids[state] = t.id;
      if (state === "completed") await svc.app.inject({ method: "POST", url: `/v1/tasks/${t.id}/complete`, headers, payload: { leaseToken: t.leaseToken } });
    }
  });
  afterAll(async () => {
    if (!skip) await close();
  });

  // Draining stops the queue for good: that row goes last.
  const ordered = [...rows.filter((r) => !r.example.startsWith("(draining)")), ...rows.filter((r) => r.example.startsWith("(draining)"))];
  it.skipIf(skip).each(ordered)("$status $error: $example", async (row) => {
    const fill = (s: string) => s.replace(/\{(running|completed)\}/g, (_m, k: string) => String(ids[k]));
    const m = /^(?:\(([^)]*)\) )?(GET|POST) (\S+)(?: (.*))?$/s.exec(fill(row.example));
    if (!m) throw new Error(`cannot read the example ${row.example}`);
    const [, modifier = "", method, url, body] = m;
    const headers: Record<string, string> = {};
    if (modifier !== "no token") headers.authorization = modifier === "unknown token" ? `Bearer tsa_0000000000000000_${"A".repeat(43)}` : `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = modifier.startsWith("content-type ") ? modifier.slice("content-type ".length) : "application/json";
    if (modifier === "draining") svc.queue.stop();
    if (modifier === "cut-over draining" || modifier === "cut-over frozen") svc.cutover.set(modifier === "cut-over draining" ? "draining" : "frozen");
    const r = await svc.app.inject({ method: method as "GET" | "POST", url: url as string, headers, payload: body === undefined ? undefined : expand(body) });
    svc.cutover.set("serving");
    const want = new RegExp(`^${fill(row.message).split("…").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "s");
    expect({ status: r.statusCode, error: r.json().error }).toEqual({ status: row.status, error: row.error });
    expect(r.json().message).toMatch(want);
  });
});
