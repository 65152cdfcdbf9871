import { describe, expect, it } from "vitest";
import { environmentProblems, plainEnv, secretEnv, serviceSecretBindings } from "./service-env.js";
import { platformSecrets } from "./secrets.js";
import { serviceNames } from "./services.js";

const wiring = { host: "127.0.0.1", natsUrl: "nats://127.0.0.1:4222", llmBaseUrl: "http://127.0.0.1:4000/v1", gatewayShards: '{"x":{"replicas":["http://a/mcp"],"protocol":"2025-11-25"}}', whatsappPhoneNumberId: "1" };

describe("service environment from the catalogue", () => {
  it.each(serviceNames)("%s: every required key is set, plain keys are plain and secret keys are secret", (name) => {
    const plain = plainEnv(name, wiring);
    const secret = secretEnv(name, (s) => `id-of-${s}`);
    expect(environmentProblems(name, plain, Object.keys(secret))).toEqual([]);
  });

  it("every bound secret is a platform secret", () => {
    for (const name of serviceNames) for (const s of Object.values(serviceSecretBindings[name])) expect(platformSecrets.map((p) => p.name)).toContain(s);
  });

  it("names what a wiring gets wrong, one line each", () => {
    const plain = { ...plainEnv("brain", wiring), DATABASE_URL: "sqlite:x", BRAIN_TYPO: "1" };
    delete (plain as Record<string, string>).LLM_BASE_URL;
    expect(environmentProblems("brain", plain, ["WHATSAPP_PHONE_NUMBER_ID"])).toEqual([
      "brain: DATABASE_URL is a secret but was given as a plain value",
      "brain: BRAIN_TYPO is not in the service catalogue",
      "brain: WHATSAPP_PHONE_NUMBER_ID is not a secret but was bound to one",
      "brain: required WHATSAPP_APP_SECRET is not set",
      "brain: required WHATSAPP_VERIFY_TOKEN is not set",
      "brain: required WHATSAPP_ACCESS_TOKEN is not set",
      "brain: required LLM_BASE_URL is not set",
      "brain: required STRIPE_SECRET_KEY is not set",
      "brain: required STRIPE_WEBHOOK_SECRET is not set",
      "brain: required BRAIN_ADMIN_TOKEN is not set",
    ]);
  });

  it("a tier's extra plain keys ride along; no NATS URL leaves the outbox on", () => {
    expect(plainEnv("task-queue", { ...wiring, natsUrl: undefined, extra: { "task-queue": { NATS_STREAM_REPLICAS: "3" } } })).toEqual({ PORT: "7401", HOST: "127.0.0.1", LOG_LEVEL: "info", NATS_STREAM_REPLICAS: "3" });
  });
});
