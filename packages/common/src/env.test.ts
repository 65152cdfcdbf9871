import { describe, expect, it } from "vitest";
import { ConfigError, EnvReader, readBase } from "./env.js";
import { parseDatabaseUrl, redactUrl } from "./db.js";
import { redactPhone } from "./logger.js";

describe("EnvReader", () => {
  it("reports every bad key in one error, one line each, naming key, value and what is accepted", () => {
    const env = new EnvReader({ PORT: "abc", LOG_LEVEL: "loud" });
    readBase(env, 8080);
    env.str("DATABASE_URL");
    try {
      env.done();
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems).toEqual([
        'PORT="abc": expected an integer between 0 and 65535',
        'LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent',
        "DATABASE_URL is required: a non-empty string",
      ]);
    }
  });

  it("applies defaults and parses valid values", () => {
    const env = new EnvReader({ PORT: "9000", FLAG: "yes" });
    expect(readBase(env, 1)).toEqual({ port: 9000, host: "0.0.0.0", logLevel: "info" });
    expect(env.bool("FLAG", { default: false })).toBe(true);
    expect(env.str("OPT", { required: false })).toBeUndefined();
    env.done();
  });
});

describe("database URLs", () => {
  it("parses sqlite and postgres forms and rejects others with the value", () => {
    expect(parseDatabaseUrl("sqlite:./.data/q.db")).toEqual({ kind: "sqlite", path: "./.data/q.db" });
    expect(parseDatabaseUrl("sqlite:///var/q.db")).toEqual({ kind: "sqlite", path: "/var/q.db" });
    expect(parseDatabaseUrl("postgres://u@h:5432/db?schema=tq")).toEqual({ kind: "postgres", connectionString: "postgres://u@h:5432/db", schema: "tq" });
    expect(() => parseDatabaseUrl("mysql://u:pw@h/db")).toThrow(/DATABASE_URL="mysql:\/\/u:\*\*\*@h\/db": expected/);
    expect(() => parseDatabaseUrl("postgres://h/db?schema=Robert;drop")).toThrow(/schema/);
  });
  it("redacts passwords", () => {
    expect(redactUrl("postgres://u:secret@h/db")).toBe("postgres://u:***@h/db");
  });
});

describe("redactPhone", () => {
  it("keeps the country prefix and last three digits only", () => {
    expect(redactPhone("+447700900123")).toBe("+44*******123");
    expect(redactPhone("123")).toBe("***");
  });
});
