/**
 * The README's error table is what the gateway answers: every row of services/mcp-gateway/README.md
 * §Errors has a request here (and every request here a row), sent to a running gateway, and the live
 * answer must have the row's status, JSON-RPC code and the headers / `data` fields the row names.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentTokens, type TokenStore } from "@tierstack/common";
import { freePort } from "@tierstack/common/testing";
import { MemorySessionRegistry } from "../src/registry.js";
import { json, startFakeShard } from "./fake-shard.js";
import { configFor, modernRequest, startInProcess, tokenDb } from "./helpers.js";
import { startReplica, type Proc } from "./peers.js";

interface Row {
  status: string;
  code: string;
  when: string;
}

/** The rows of the table under `### Errors`. */
function errorRows(): Row[] {
  const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
  const section = readme.slice(readme.indexOf("### Errors"));
  const table = section.slice(section.indexOf("| status |")).split("\n\n")[0] as string;
  return table
    .split("\n")
    .slice(2)
    .map((line) => {
      const [status = "", code = "", when = ""] = line.split(" | ").map((c) => c.replace(/^\| ?| ?\|$/g, "").trim());
      return { status, code, when };
    });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** For the rows that relay a shard's answer: what the shard answered. */
  shard?: { status: number; code?: number };
}

let db: Awaited<ReturnType<typeof tokenDb>>;
let procs: Proc[] = [];
const fakes: Array<Awaited<ReturnType<typeof startFakeShard>>> = [];
const gateways: Array<Awaited<ReturnType<typeof startInProcess>>> = [];
let main: string;
let limited: string;
let registryDown: string;
let tokensDown: string;
let slow: string;
let token: string;
let hangingGateway: Awaited<ReturnType<typeof startInProcess>>;
let hangingArrived: Promise<void>;

const send = async (base: string, method: string, path: string, headers: Record<string, string | string[]>, body?: unknown): Promise<Answer> => {
  const res = await request(`${base}${path}`, {
    method: method as "POST",
    headers: { accept: "application/json, text/event-stream", ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
};
const INIT = (v = "2025-11-25") => ({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: v, capabilities: {}, clientInfo: { name: "readme", version: "1" } } });
const call = (name: string) => modernRequest("tools/call", { name, arguments: {} }, 3);

beforeAll(async () => {
  db = await tokenDb();
  token = await db.issue("agent-readme");
  procs = await Promise.all([startReplica("dev", { json: true }), startReplica("modern", { modern: true })]);
  const [dev, modern] = procs as [Proc, Proc];
  const shardSays = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    startFakeShard((r, res) => (status === 405 ? void res.writeHead(405).end() : json(res, status, typeof body === "function" ? (body as (id: unknown) => unknown)(r.msg?.id ?? null) : body, headers)));
  const [relayed, bare, failing, busy, silent, hanging] = await Promise.all([
    shardSays(409, (id: unknown) => ({ jsonrpc: "2.0", id, error: { code: -32042, message: "the shard's own error" } })),
    shardSays(405, undefined),
    shardSays(500, "<html>oops</html>"),
    shardSays(503, (id: unknown) => ({ jsonrpc: "2.0", id, error: { code: -32000, message: "overloaded" } })),
    startFakeShard(() => undefined), // never answers a call
    startFakeShard(() => undefined),
  ]);
  fakes.push(relayed, bare, failing, busy, silent, hanging);
  const modernShard = (url: string) => ({ replicas: [url], protocol: "2026-07-28" });
  const dead = `http://127.0.0.1:${await freePort()}/mcp`;
  const start = async (shards: Record<string, unknown>, env: Record<string, string> = {}, registry?: MemorySessionRegistry) => {
    const config = configFor(shards, env);
    const g = await startInProcess(config, db.tokens, registry ?? new MemorySessionRegistry(60_000));
    gateways.push(g);
    return g;
  };
  main = (
    await start(
      { dev: [dev.url], modern: modernShard(modern.url), relayed: modernShard(relayed.url), bare: modernShard(bare.url), failing: modernShard(failing.url), busy: modernShard(busy.url), dead: [dead] },
      { GATEWAY_ALLOWED_ORIGINS: "https://console.example.com", GATEWAY_MAX_BODY_BYTES: "2048", GATEWAY_HEALTH_INTERVAL_MS: "600000" },
    )
  ).base;
  limited = (await start({ dev: [dev.url] }, { GATEWAY_RATE_BURST: "1", GATEWAY_RATE_PER_SECOND: "1" })).base;
  class Down extends MemorySessionRegistry {
    override async put(): Promise<never> {
      throw new Error("connection refused");
    }
    override async get(): Promise<never> {
      throw new Error("connection refused");
    }
  }
  registryDown = (await start({ dev: [dev.url] }, {}, new Down(60_000))).base;
  const unreachable = new AgentTokens({
    get: async () => {
      throw new Error("database connection lost");
    },
  } as unknown as TokenStore);
  const g = await startInProcess(configFor({ dev: [dev.url] }), unreachable);
  gateways.push(g);
  tokensDown = g.base;
  slow = (await start({ silent: modernShard(silent.url) }, { GATEWAY_UPSTREAM_TIMEOUT_MS: "100" })).base;
  hangingGateway = await startInProcess(configFor({ hanging: modernShard(hanging.url) }), db.tokens);
  hangingArrived = new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (hanging.requests.some((r) => r.msg?.method === "tools/call")) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await Promise.all([...procs.map((p) => p.kill()), ...fakes.map((f) => f.close())]);
  await db?.close();
});

const bearer = () => ({ authorization: `Bearer ${token}` });
const session = async (path: string, version: string) => {
  const r = await send(main, "POST", path, bearer(), INIT(version));
  return r.headers["mcp-session-id"] as string;
};

/** One request per README row, keyed by the row's `when` text. */
const scenarios: Record<string, () => Promise<Answer>> = {
  "the body is not JSON, not UTF-8, or empty": () => send(main, "POST", "/mcp/dev", bearer(), '{"jsonrpc":"2.0",'),
  "the body breaks the input contract: an unknown member, a wrong type, deeper than 64 levels, a member twice, a number not held exactly": () =>
    send(main, "POST", "/mcp/dev", bearer(), { ...INIT(), extra: true }),
  "a JSON-RPC batch where the protocol has none (every version but 2025-03-26), or an initialize inside a batch": async () =>
    send(main, "POST", "/mcp", { ...bearer(), "mcp-session-id": await session("/mcp", "2025-11-25") }, [{ jsonrpc: "2.0", id: 1, method: "ping" }]),
  "a header the gateway reads given twice": () => send(main, "POST", "/mcp/dev", { ...bearer(), "mcp-session-id": ["gw_a", "gw_b"] }, { jsonrpc: "2.0", id: 1, method: "ping" }),
  "a legacy request without `Mcp-Session-Id` that is not an initialize": () => send(main, "POST", "/mcp/dev", bearer(), { jsonrpc: "2.0", id: 1, method: "tools/list" }),
  "a legacy client on `/mcp/<ns>` of a namespace that speaks 2026-07-28 only": () => send(main, "POST", "/mcp/modern", bearer(), INIT()),
  "a URL that cannot be decoded, or bytes Node's HTTP parser refuses": () => send(main, "POST", "/mcp/%ZZ", bearer(), INIT()),
  "2026-07-28: a request-metadata header is missing or disagrees with the body (§Server Validation)": () => {
    const { body, headers } = call("echo");
    return send(main, "POST", "/mcp/dev", { ...bearer(), ...headers, "mcp-name": "whoami" }, body);
  },
  "no agent token, or an unknown, expired or revoked one (`WWW-Authenticate: Bearer`)": () => send(main, "POST", "/mcp/dev", {}, INIT()),
  "an `Origin` not in `GATEWAY_ALLOWED_ORIGINS`": () => send(main, "POST", "/mcp/dev", { ...bearer(), origin: "https://evil.example" }, INIT()),
  "the session is unknown, expired or another agent's, or its owner replica died or forgot it: re-initialize": () =>
    send(main, "POST", "/mcp/dev", { ...bearer(), "mcp-session-id": "gw_unknown" }, { jsonrpc: "2.0", id: 1, method: "ping" }),
  "an unknown namespace (`data.namespace`), or a path under `/mcp` that is no endpoint": () => send(main, "POST", "/mcp/nowhere", bearer(), INIT()),
  "GET or DELETE in the 2026-07-28 era, GET on `/mcp`, or another HTTP method (`Allow`)": () => send(main, "GET", "/mcp", bearer()),
  "a body over `GATEWAY_MAX_BODY_BYTES`": () => send(main, "POST", "/mcp/dev", bearer(), { ...INIT(), params: { pad: "x".repeat(3000) } }),
  "a body that is not `Content-Type: application/json`": () => send(main, "POST", "/mcp/dev", { ...bearer(), "content-type": "text/plain" }, JSON.stringify(INIT())),
  "the agent's rate limit (`Retry-After`)": async () => {
    await send(limited, "POST", "/mcp/dev", bearer(), INIT());
    return send(limited, "POST", "/mcp/dev", bearer(), INIT());
  },
  "the shard answered 4xx with a JSON-RPC error: relayed": async () => {
    const { body, headers } = call("x");
    return { ...(await send(main, "POST", "/mcp/relayed", { ...bearer(), ...headers }, body)), shard: { status: 409, code: -32042 } };
  },
  "the shard answered 4xx without a JSON-RPC error (`data.namespace`, `data.status`)": async () => {
    const { body, headers } = call("x");
    return { ...(await send(main, "POST", "/mcp/bare", { ...bearer(), ...headers }, body)), shard: { status: 405 } };
  },
  "the shard failed: a reset, an answer over `GATEWAY_MAX_RESPONSE_BYTES`, or a 5xx other than 503 (`data.namespace`)": () => {
    const { body, headers } = call("x");
    return send(main, "POST", "/mcp/failing", { ...bearer(), ...headers }, body);
  },
  "the namespace has no live replica (`data.namespace`)": () => send(main, "POST", "/mcp/dead", bearer(), INIT()),
  "the shard answered 503 (`data.namespace`)": () => {
    const { body, headers } = call("x");
    return send(main, "POST", "/mcp/busy", { ...bearer(), ...headers }, body);
  },
  "the session registry is unavailable (`Retry-After`)": () => send(registryDown, "POST", "/mcp/dev", { ...bearer(), "mcp-session-id": "gw_any" }, { jsonrpc: "2.0", id: 1, method: "ping" }),
  "the agent token store is unavailable (`Retry-After`)": () => send(tokensDown, "POST", "/mcp/dev", bearer(), INIT()),
  "the gateway is shutting down (`Retry-After`)": async () => {
    const { body, headers } = call("x");
    const pending = send(hangingGateway.base, "POST", "/mcp/hanging", { ...bearer(), ...headers }, body);
    await hangingArrived;
    const stopped = hangingGateway.stop();
    const answer = await pending;
    await stopped;
    return answer;
  },
  "the shard did not answer within `GATEWAY_UPSTREAM_TIMEOUT_MS` (`data.namespace`)": () => {
    const { body, headers } = call("x");
    return send(slow, "POST", "/mcp/silent", { ...bearer(), ...headers }, body);
  },
};

describe("README §Errors = the live answers", () => {
  const rows = errorRows();

  it("has a request for every row and a row for every request", () => {
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.map((r) => r.when).sort()).toEqual(Object.keys(scenarios).sort());
  });

  it.each(rows.map((r) => [`${r.status} ${r.code}: ${r.when}`, r] as const))("%s", async (_name, row) => {
    const scenario = scenarios[row.when];
    expect(scenario, "no request for this row").toBeDefined();
    const a = await (scenario as () => Promise<Answer>)();
    const what = `${a.status} ${a.text}`;
    if (/^\d{3}$/.test(row.status)) expect(a.status, what).toBe(Number(row.status));
    else expect(a.status, what).toBe(a.shard?.status);
    expect(String(a.headers["content-type"]), what).toContain("application/json");
    const body = JSON.parse(a.text) as { jsonrpc: string; id?: unknown; error: { code: number; message: string; data?: { namespace?: unknown; status?: unknown } } };
    expect(body.jsonrpc).toBe("2.0");
    expect("id" in body).toBe(true);
    expect(typeof body.error.message).toBe("string");
    expect(body.error.code, what).toBe(/^-\d+$/.test(row.code) ? Number(row.code) : a.shard?.code);
    for (const [mention, name] of [["`Retry-After`", "retry-after"], ["`Allow`", "allow"], ["`WWW-Authenticate", "www-authenticate"]] as const) {
      if (row.when.includes(mention)) expect(a.headers[name], `${name} header`).toBeTruthy();
    }
    if (row.when.includes("`data.namespace`")) expect(typeof body.error.data?.namespace).toBe("string");
    if (row.when.includes("`data.status`")) expect(body.error.data?.status).toBe(a.shard?.status);
  });
});
