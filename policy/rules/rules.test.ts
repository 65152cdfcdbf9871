/** The rules' own parsing, without a plan: image references, docker run lines, credential shapes, the pack's context. */
import { describe, expect, it } from "vitest";
import { contextFromEnv, once, toPolicies } from "../pack.js";
import { fromEngine, fromRecorded, inputAt } from "../resource.js";
import { dockerRunImages, movingTagProblem } from "./images.js";
import { rules } from "./index.js";
import { credentialShapes } from "./secrets.js";

describe("image references", () => {
  it("a digest or a version tag is pinned; no tag, rolling names, no version or a major version only move", () => {
    expect(movingTagProblem("nats:2.11.6-alpine")).toBeUndefined();
    expect(movingTagProblem("ghcr.io/ggml-org/llama.cpp:server-cuda-b5517")).toBeUndefined();
    expect(movingTagProblem(`ghcr.io/berriai/litellm:main@sha256:${"a".repeat(64)}`)).toBeUndefined();
    expect(movingTagProblem("nats")).toBe("has no tag (Docker pulls :latest)");
    expect(movingTagProblem("nats:latest")).toBe("uses the moving tag latest");
    expect(movingTagProblem("ghcr.io/ggml-org/llama.cpp:server-cuda")).toBe("uses the tag server-cuda, which names no version");
    expect(movingTagProblem("postgres:17")).toBe("uses the tag 17, a major version only");
  });

  it("docker run: the image is the first word after the options", () => {
    expect(dockerRunImages("ExecStart=/usr/bin/docker run --rm --name x --network host --env-file /a -v /b:/c --gpus all ghcr.io/x/y:1.2 --port 8080\nExecStop=/usr/bin/docker stop x")).toEqual(["ghcr.io/x/y:1.2"]);
    expect(dockerRunImages("docker run -d -e A=1 --env=B=2 nats:2 -js")).toEqual(["nats:2"]);
  });
});

describe("credential shapes", () => {
  it("recognise published key formats, and not certificates or plain configuration", () => {
    const hit = (s: string) => credentialShapes.find((c) => c.pattern.test(s))?.what;
    expect(hit("sk_live_0123456789abcdefghij")).toBe("a Stripe secret key");
    expect(hit("whsec_0123456789abcdefghij")).toBe("a Stripe webhook secret");
    expect(hit("sk-or-v1-0123456789abcdef0123456789")).toBe("an OpenRouter or OpenAI API key");
    expect(hit("-----BEGIN RSA PRIVATE KEY-----")).toBe("a PEM private key");
    expect(hit("rediss://:s3cr3tpassword@10.0.0.3:6378")).toBe("a URL with a password");
    expect(hit("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----")).toBeUndefined();
    expect(hit("api_key: os.environ/OPENROUTER_API_KEY")).toBeUndefined();
    expect(hit("nats://nats.tierstack.svc.cluster.local:4222")).toBeUndefined();
  });
});

describe("one view of a resource for the pack and for plan", () => {
  it("the engine's resource and a recorded one (secret markers unwrapped) read the same", () => {
    const secret = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "hunter2" };
    const recorded = fromRecorded({ type: "t:m:R", name: "r", urn: "urn:r", inputs: { a: { b: secret } }, protect: true, parent: "urn:p" });
    const engine = fromEngine({ type: "t:m:R", name: "r", urn: "urn:r", props: { a: { b: "hunter2" } }, opts: { protect: true, parent: "urn:p" } });
    expect(recorded).toEqual(engine);
    expect(inputAt(recorded, "a.b")).toBe("hunter2");
  });
});

describe("the pack", () => {
  it("reads the stack's config as the CLI passes it, and turns every rule into one policy", () => {
    expect(() => contextFromEnv({ PULUMI_CONFIG: "{not json" })).toThrow(/PULUMI_CONFIG is not JSON/);
    expect(() => contextFromEnv({ PULUMI_CONFIG: "{}" })).toThrow(/tierstack:tier/);
    let made = 0;
    const ctx = once(() => {
      made++;
      throw new Error("not needed to build the policies");
    });
    const policies = toPolicies(rules, ctx);
    expect(policies.map((p) => p.name)).toEqual(rules.map((r) => r.name));
    expect(policies.map((p) => ("validateStack" in p ? "stack" : "resource"))).toEqual(rules.map((r) => r.kind));
    expect(made).toBe(0);
  });
});
