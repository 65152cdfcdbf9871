import { describe, expect, it } from "vitest";
import { ConfigError } from "@tierstack/common";
import { services } from "../../../catalog/services.js";
import { ENV_KEYS, checkShards, readConfig } from "./config.js";

const base = { TOKENS_DATABASE_URL: "sqlite:/tmp/x.db" };

describe("config", () => {
  it("reads a shard map in both shapes, with per-namespace protocol versions", () => {
    const c = readConfig({
      ...base,
      GATEWAY_SHARDS: JSON.stringify({ "dev-tools": ["http://127.0.0.1:9101/mcp", "http://127.0.0.1:9102/mcp"], commerce: { replicas: ["http://127.0.0.1:9201/mcp"], protocol: "2026-07-28" } }),
      GATEWAY_ALLOWED_ORIGINS: "https://a.example, http://localhost:3000",
    });
    expect(c.shards).toEqual([
      { namespace: "dev-tools", replicas: ["http://127.0.0.1:9101/mcp", "http://127.0.0.1:9102/mcp"], protocol: "2025-11-25" },
      { namespace: "commerce", replicas: ["http://127.0.0.1:9201/mcp"], protocol: "2026-07-28" },
    ]);
    expect(c.allowedOrigins).toEqual(["https://a.example", "http://localhost:3000"]);
    expect(c.port).toBe(7402);
  });

  it("reports every problem of the shard map on its own line", () => {
    const { problems } = checkShards({
      "Bad__Name": ["http://x/mcp"],
      empty: [],
      dup: ["http://a/mcp", "http://a/mcp"],
      wrong: { replicas: ["ftp://x/mcp", 7], protocol: "1999-01-01", extra: 1 },
    });
    expect(problems).toEqual([
      'namespace "Bad__Name": expected 1-32 of a-z 0-9 -, starting and ending with a letter or digit',
      "empty: expected a non-empty array of replica URLs",
      'dup[1]="http://a/mcp": listed twice',
      'wrong: unknown key "extra" (expected replicas, protocol)',
      'wrong.protocol="1999-01-01": expected one of 2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26',
      'wrong[0]="ftp://x/mcp": expected an http(s) URL',
      "wrong[1]: expected a URL string",
    ]);
    expect(checkShards([]).problems).toEqual(["expected an object mapping namespace to replica URLs"]);
    expect(checkShards({}).problems).toEqual(["no namespaces: at least one is required"]);
  });

  it("refuses to start with one clear line per bad key", () => {
    let err: unknown;
    try {
      readConfig({ GATEWAY_SHARDS: "{not json", GATEWAY_RATE_BURST: "0", GATEWAY_ALLOWED_ORIGINS: "https://a.example/path", REDIS_URL: "http://x" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const lines = (err as ConfigError).problems;
    expect(lines).toContain('GATEWAY_SHARDS="{not json": expected valid JSON');
    expect(lines.some((l) => l.startsWith("TOKENS_DATABASE_URL is required"))).toBe(true);
    expect(lines.some((l) => l.startsWith('GATEWAY_RATE_BURST="0"'))).toBe(true);
    expect(lines.some((l) => l.startsWith("GATEWAY_ALLOWED_ORIGINS:"))).toBe(true);
    expect(lines.some((l) => l.startsWith('REDIS_URL="http://x"'))).toBe(true);
  });

  it("reads exactly the env keys the service catalogue lists for mcp-gateway", () => {
    const catalogued = services["mcp-gateway"].env.map((k) => k.name).sort();
    expect(catalogued).toEqual([...ENV_KEYS].sort());
    const required = services["mcp-gateway"].env.filter((k) => k.required).map((k) => k.name).sort();
    expect(required).toEqual(["GATEWAY_SHARDS", "TOKENS_DATABASE_URL"]);
  });
});
