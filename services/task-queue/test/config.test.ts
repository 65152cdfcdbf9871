import { describe, expect, it } from "vitest";
import { ConfigError } from "@tierstack/common";
import { services } from "../../../catalog/services.js";
import { readConfig } from "../src/config.js";

describe("task-queue config", () => {
  it("reads exactly the env keys the service catalogue lists for task-queue", () => {
    const read = new Set<string>();
    const env = new Proxy({ DATABASE_URL: "sqlite:/tmp/x.db" } as Record<string, string | undefined>, {
      get(target, key: string) {
        read.add(key);
        return target[key];
      },
    });
    readConfig(env);
    const listed = services["task-queue"].env.map((k) => k.name);
    expect([...read].sort()).toEqual([...listed].sort());
    expect(services["task-queue"].env.filter((k) => k.required).map((k) => k.name)).toEqual(["DATABASE_URL"]);
  });

  it("reports every bad key, one line each", () => {
    try {
      readConfig({ DATABASE_URL: "mysql://x", PORT: "abc", NATS_URL: "http://x", LEASE_SECONDS_DEFAULT: "0" });
      throw new Error("expected a ConfigError");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const lines = (err as ConfigError).problems;
      expect(lines.some((l) => l.startsWith('PORT="abc"'))).toBe(true);
      expect(lines.some((l) => l.includes("DATABASE_URL"))).toBe(true);
      expect(lines.some((l) => l.startsWith("NATS_URL"))).toBe(true);
      expect(lines.some((l) => l.startsWith("LEASE_SECONDS_DEFAULT"))).toBe(true);
    }
    expect(() => readConfig({})).toThrow(/DATABASE_URL is required/);
  });

  it("parses SQLite and PostgreSQL targets", () => {
    expect(readConfig({ DATABASE_URL: "sqlite:./.data/task-queue.db" }).database).toEqual({ kind: "sqlite", path: "./.data/task-queue.db" });
    expect(readConfig({ DATABASE_URL: "postgres://u@h:5432/db?schema=tq" }).database).toMatchObject({ kind: "postgres", schema: "tq" });
  });
});
