import { describe, expect, it } from "vitest";
import { ConfigError } from "@tierstack/common";
import { services } from "../../../catalog/services.js";
import { loadConfig } from "./config.js";
import { plans } from "./plans.js";

const valid = {
  DATABASE_URL: "sqlite:/tmp/brain.db",
  WHATSAPP_APP_SECRET: "app-secret",
  WHATSAPP_VERIFY_TOKEN: "verify",
  WHATSAPP_ACCESS_TOKEN: "access",
  WHATSAPP_PHONE_NUMBER_ID: "1234567890",
  LLM_BASE_URL: "http://127.0.0.1:4000",
  STRIPE_SECRET_KEY: "sk_test_x",
  STRIPE_WEBHOOK_SECRET: "whsec_x",
  BRAIN_ADMIN_TOKEN: "admin-token-0123456789",
};

describe("brain config", () => {
  it("reads exactly the env keys listed for the brain in catalog/services.ts", () => {
    const read = new Set<string>();
    const env = new Proxy({ ...valid } as Record<string, string | undefined>, {
      get(target, key) {
        if (typeof key === "string") read.add(key);
        return target[key as string];
      },
    });
    loadConfig(env);
    const listed = services.brain.env.map((k) => k.name);
    expect([...read].sort()).toEqual([...listed].sort());
    const required = services.brain.env.filter((k) => k.required).map((k) => k.name).sort();
    expect(required).toEqual(Object.keys(valid).sort());
  });

  it("every paid plan's price key is a config key", () => {
    const listed = new Set(services.brain.env.map((k) => k.name));
    for (const p of Object.values(plans)) if (p.stripePriceEnv) expect(listed.has(p.stripePriceEnv)).toBe(true);
  });

  it("applies defaults and parses values", () => {
    const c = loadConfig({ ...valid, WHATSAPP_SEND_RATE: "1000", STRIPE_PRICE_PLUS: "price_123" });
    expect(c.port).toBe(7403);
    expect(c.whatsapp.sendRate).toBe(1000);
    expect(c.whatsapp.apiBase).toBe("https://graph.facebook.com");
    expect(c.stripe.prices.STRIPE_PRICE_PLUS).toBe("price_123");
    expect(c.workers).toBe(64);
  });

  it("reports every problem, one line per key", () => {
    let err: unknown;
    try {
      loadConfig({ ...valid, WHATSAPP_APP_SECRET: "", WHATSAPP_SEND_RATE: "50000", LLM_BASE_URL: "ftp://x", BRAIN_ADMIN_TOKEN: "short", DATABASE_URL: "mysql://x" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join("\n");
    for (const k of ["WHATSAPP_APP_SECRET", "WHATSAPP_SEND_RATE", "LLM_BASE_URL", "BRAIN_ADMIN_TOKEN", "DATABASE_URL"]) expect(problems).toContain(k);
  });
});
