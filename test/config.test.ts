/**
 * Stack config: every bad value gives one line naming the key, the value and what is
 * accepted; the program itself throws it under mocks; Pulumi.yaml mirrors the schema.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadStackConfig, repoRoot } from "../cli/plan.js";
import { projectFile } from "../cli/project-file.js";
import { ConfigError, parseStackConfig, type RawConfig } from "../config/config.js";
import { buildStack, tierBuilders } from "../stacks/program.js";
import { sizeKeys, tierNames, tiers } from "../catalog/tiers.js";

const base = loadStackConfig("single-box").config;

function parseWith(overrides: RawConfig) {
  const raw: RawConfig = { ...base, ...overrides };
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete raw[k];
  return parseStackConfig(raw, "single-box");
}

function errorOf(overrides: RawConfig): string {
  try {
    parseWith(overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`no error for ${JSON.stringify(overrides)}`);
}

describe("bad configuration: one clear line each", () => {
  const cases: { what: string; overrides: RawConfig; key: string; value: string; accepted: RegExp }[] = [
    { what: "unknown tier", overrides: { "tierstack:tier": "tier-500" }, key: "tierstack:tier", value: "tier-500", accepted: /single-box \| tier-50 \| tier-100/ },
    { what: "missing domain", overrides: { "tierstack:domain": undefined }, key: "tierstack:domain", value: '""', accepted: /DNS zone name/ },
    { what: "bad domain", overrides: { "tierstack:domain": "Not A Domain" }, key: "tierstack:domain", value: "Not A Domain", accepted: /example\.com/ },
    { what: "GPU on a machine type that cannot carry one", overrides: { "tierstack:gpus": "1" }, key: "tierstack:machineType", value: "e2-standard-4", accepted: /g2-standard/ },
    { what: "GPU count contradicting the machine type", overrides: { "tierstack:machineType": "g2-standard-4" }, key: "tierstack:gpus", value: "0", accepted: /carries 1/ },
    { what: "more GPUs than the tier allows", overrides: { "tierstack:machineType": "g2-standard-24", "tierstack:gpus": "2" }, key: "tierstack:gpus", value: "2", accepted: /0-1 GPUs on tier single-box/ },
    { what: "unknown machine type", overrides: { "tierstack:machineType": "n1-standard-4" }, key: "tierstack:machineType", value: "n1-standard-4", accepted: /e2\|n2/ },
    { what: "negative size", overrides: { "tierstack:dataDiskGb": "-10" }, key: "tierstack:dataDiskGb", value: "-10", accepted: /20-4000 GB/ },
    { what: "size outside the tier", overrides: { "tierstack:natsNodes": "3" }, key: "tierstack:natsNodes", value: "3", accepted: /1-1 nodes on tier single-box/ },
    { what: "non-numeric size", overrides: { "tierstack:snapshotRetentionDays": "two weeks" }, key: "tierstack:snapshotRetentionDays", value: "two weeks", accepted: /whole number/ },
    { what: "zone outside the region", overrides: { "tierstack:zone": "europe-west1-b" }, key: "tierstack:zone", value: "europe-west1-b", accepted: /us-central1/ },
    { what: "snapshot start off the hour", overrides: { "tierstack:snapshotStartTime": "03:30" }, key: "tierstack:snapshotStartTime", value: "03:30", accepted: /HH:00/ },
    { what: "no Access e-mails", overrides: { "tierstack:accessEmails": "[]" }, key: "tierstack:accessEmails", value: "[]", accepted: /e-mail/ },
    { what: "moving image tag", overrides: { "tierstack:natsImage": "nats:latest" }, key: "tierstack:natsImage", value: "nats:latest", accepted: /pinned tag or a digest/ },
    { what: "image without tag", overrides: { "tierstack:brainImage": "ghcr.io/tierstack/brain" }, key: "tierstack:brainImage", value: "ghcr.io/tierstack/brain", accepted: /repo:tag/ },
    { what: "malformed digest", overrides: { "tierstack:brainImage": "ghcr.io/tierstack/brain:1@sha256:abc" }, key: "tierstack:brainImage", value: "ghcr.io/tierstack/brain:1@sha256:abc", accepted: /64 hex/ },
    { what: "unknown key", overrides: { "tierstack:machinetype": "e2-standard-8" }, key: "tierstack:machinetype", value: "e2-standard-8", accepted: /machineType/ },
    { what: "missing GCP project", overrides: { "gcp:project": undefined }, key: "gcp:project", value: '""', accepted: /GCP project id/ },
    { what: "missing config secret", overrides: { "tierstack:stripeSecretKey": undefined }, key: "tierstack:stripeSecretKey", value: '""', accepted: /pulumi config set --secret tierstack:stripeSecretKey/ },
    { what: "bad shard map", overrides: { "tierstack:gatewayShardMap": '{"dev-tools": "not-a-list"}' }, key: "tierstack:gatewayShardMap", value: "dev-tools", accepted: /namespace/ },
    { what: "empty shard map", overrides: { "tierstack:gatewayShardMap": "{}" }, key: "tierstack:gatewayShardMap", value: "no namespaces", accepted: /replicas/ },
    { what: "shard map with an unknown protocol", overrides: { "tierstack:gatewayShardMap": '{"dev-tools": {"replicas": ["http://a/mcp"], "protocol": "2024-11-05"}}' }, key: "tierstack:gatewayShardMap", value: "2024-11-05", accepted: /2026-07-28/ },
    { what: "unknown migration stage", overrides: { "tierstack:migrationTarget": "tier-50", "tierstack:migrationStage": "copying" }, key: "tierstack:migrationStage", value: "copying", accepted: /expand \| copy \| cutover \| contract/ },
    { what: "migration stage without a target", overrides: { "tierstack:migrationStage": "copy" }, key: "tierstack:migrationStage", value: "copy", accepted: /migrationTarget/ },
    { what: "missing shard map", overrides: { "tierstack:gatewayShardMap": undefined }, key: "tierstack:gatewayShardMap", value: '""', accepted: /namespace/ },
  ];

  for (const c of cases) {
    it(c.what, () => {
      const message = errorOf(c.overrides);
      expect(message.split("\n")).toHaveLength(1);
      expect(message.startsWith(`${c.key} = `)).toBe(true);
      expect(message).toContain(c.value);
      expect(message).toContain("accepted:");
      expect(message).toMatch(c.accepted);
    });
  }

  it("accepts both shard-map shapes and both protocol eras per namespace, in the gateway's canonical form", () => {
    const cfg = parseWith({
      "tierstack:gatewayShardMap": '{"dev-tools": ["http://a:9101/mcp"], "search": {"replicas": ["http://b:9102/mcp", "http://c:9102/mcp"], "protocol": "2026-07-28"}}',
    });
    expect(JSON.parse(cfg.gatewayShardMap)).toEqual({
      "dev-tools": { replicas: ["http://a:9101/mcp"], protocol: "2025-11-25" },
      search: { replicas: ["http://b:9102/mcp", "http://c:9102/mcp"], protocol: "2026-07-28" },
    });
    expect(cfg.gatewayShardMap).not.toContain("\n");
  });

  it("accepts the reference stack and applies tier defaults", () => {
    const cfg = parseWith({});
    expect(cfg.tier.name).toBe("single-box");
    expect(cfg.sizes.natsNodes).toBe(1);
    expect(cfg.gpu).toBe(false);
    const zeros = parseWith({ "tierstack:dataDiskGb": "0", "tierstack:machineType": "" });
    expect(zeros.sizes.dataDiskGb).toBe(tiers["single-box"].sizes.dataDiskGb.default);
    expect(zeros.machineType).toBe("e2-standard-4");
  });

  it("the program throws the same line under Pulumi's mocks", async () => {
    await pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs }, "tierstack", "single-box", false);
    pulumi.runtime.setAllConfig({ ...loadStackConfig("single-box").config, "tierstack:gpus": "1" }, []);
    await expect(buildStack()).rejects.toThrow(/^tierstack:machineType = "e2-standard-4" cannot carry a GPU; accepted: /);
    // A tier the catalogue does not mark built is refused by the program, in one line.
    const spec = tiers["tier-100"] as { built: boolean };
    spec.built = false;
    try {
      pulumi.runtime.setAllConfig({ ...loadStackConfig("tier-100").config }, []);
      await expect(buildStack()).rejects.toThrow("tier-100 is not built yet (issue: tier-100)");
    } finally {
      spec.built = true;
    }
  });
});

describe("tier catalogue and project file", () => {
  it("0 always means the tier's default (never a different allowed value)", () => {
    for (const tier of tierNames) {
      for (const key of sizeKeys) {
        const s = tiers[tier].sizes[key];
        expect(s.min <= s.default && s.default <= s.max, `${tier} ${key}`).toBe(true);
        expect(s.min > 0 || s.default === 0, `${tier} ${key}`).toBe(true);
      }
    }
  });

  it("a tier is marked built exactly when the program has its builder", () => {
    for (const tier of tierNames) expect(tiers[tier].built, tier).toBe(tierBuilders[tier] !== undefined);
  });

  it("every reference stack parses with its own tier", () => {
    for (const tier of tierNames) expect(parseStackConfig(loadStackConfig(tier).config, tier).tier.name).toBe(tier);
  });

  it("Pulumi.yaml is the schema in stacks/config.ts", () => {
    const onDisk = parse(readFileSync(join(repoRoot, "Pulumi.yaml"), "utf8")) as unknown;
    expect(onDisk).toEqual(projectFile());
  });
});
