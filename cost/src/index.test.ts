import { describe, expect, it } from "vitest";
import {
  cloudSqlPostgresPrice, diskPrices, estimateMonthlyUsd, gkePrice, HOURS_PER_MONTH, llmCostUsd, llmPriceOf, llmPrices,
  loadBalancerPrice, machinePrices, memorystoreRedisPrices, monthlyUsd, natPrice,
} from "./index.js";

describe("LLM prices", () => {
  it("every price carries a source and a date, and non-negative rates", () => {
    expect(llmPrices.length).toBeGreaterThan(0);
    for (const p of llmPrices) {
      expect(p.source.length).toBeGreaterThan(0);
      expect(p.date).toMatch(/^\d{4}-\d{2}(-\d{2})?$/);
      expect(p.inputPerMTok).toBeGreaterThanOrEqual(0);
      expect(p.outputPerMTok).toBeGreaterThanOrEqual(0);
    }
    expect(new Set(llmPrices.map((p) => p.model.toLowerCase())).size).toBe(llmPrices.length);
  });

  it("matches the OpenRouter prices in pydantic genai-prices (2026-08)", () => {
    expect(llmPriceOf("anthropic/claude-sonnet-4.5")).toMatchObject({ inputPerMTok: 3, outputPerMTok: 15, date: "2026-08" });
    expect(llmPriceOf("openai/gpt-4.1-mini")).toMatchObject({ inputPerMTok: 0.4, outputPerMTok: 1.6 });
    expect(llmPriceOf("openai/gpt-4o-mini")).toMatchObject({ inputPerMTok: 0.15, outputPerMTok: 0.6 });
    expect(llmPriceOf("meta-llama/llama-3.1-8b-instruct")).toMatchObject({ inputPerMTok: 0.02, outputPerMTok: 0.03 });
    expect(llmPriceOf("qwen/qwen3-32b")).toMatchObject({ inputPerMTok: 0.1, outputPerMTok: 0.3 });
  });

  it("prices a completion per million tokens, case-insensitively on the model", () => {
    expect(llmCostUsd("openai/gpt-4o-mini", 1_000_000, 1_000_000)).toBeCloseTo(0.75, 10);
    expect(llmCostUsd("anthropic/claude-sonnet-4.5", 2_000, 500)).toBeCloseTo(0.006 + 0.0075, 12);
    expect(llmCostUsd("OpenAI/GPT-4o-mini", 1_000_000, 0)).toBeCloseTo(0.15, 10);
    expect(llmCostUsd("openai/gpt-4o-mini", 0, 0)).toBe(0);
  });

  it("local models cost 0 with source 'local inference'", () => {
    const local = llmPrices.filter((p) => p.model.startsWith("local/"));
    expect(local.length).toBeGreaterThan(0);
    for (const p of local) {
      expect(p.source).toBe("local inference");
      expect(llmCostUsd(p.model, 123_456, 7_890)).toBe(0);
    }
  });

  it("unknown model throws naming the model; bad token counts throw", () => {
    expect(() => llmCostUsd("acme/unknown-9000", 1, 1)).toThrow(/acme\/unknown-9000/);
    expect(() => llmCostUsd("openai/gpt-4o-mini", -1, 1)).toThrow(/promptTokens/);
    expect(() => llmCostUsd("openai/gpt-4o-mini", 1, Number.NaN)).toThrow(/completionTokens/);
  });
});

describe("infrastructure prices", () => {
  it("every entry carries a source and a date", () => {
    const all = [...machinePrices, ...diskPrices, ...memorystoreRedisPrices, natPrice, loadBalancerPrice, gkePrice, cloudSqlPostgresPrice];
    for (const p of all) {
      expect(p.source.length).toBeGreaterThan(0);
      expect(p.date).toMatch(/^\d{4}-\d{2}(-\d{2})?$/);
    }
  });

  it("GPU machine types include their GPU (priced once)", () => {
    const g2 = machinePrices.find((m) => m.machineType === "g2-standard-4")!;
    expect(g2.gpu).toEqual({ type: "nvidia-l4", count: 1 });
    expect(g2.usdPerHour).toBe(0.70683);
  });
});

describe("estimator", () => {
  it("a single-box tier: e2-standard-8 + 200 GB pd-balanced + NAT (one VM, one NAT IP)", () => {
    const { totalUsd, lines } = estimateMonthlyUsd([
      { kind: "machine", machineType: "e2-standard-8" },
      { kind: "disk", disk: "pd-balanced", gb: 200 },
      { kind: "nat" },
    ]);
    expect(lines).toHaveLength(3);
    expect(lines[0]!.usdPerMonth).toBeCloseTo(0.26805 * 730, 6);
    expect(lines[1]!.usdPerMonth).toBeCloseTo(20, 6);
    // Google's model (https://cloud.google.com/nat/pricing): $0.0014 per VM-hour + $0.005 per NAT IP-hour.
    expect(lines[2]!.usdPerMonth).toBeCloseTo((0.0014 + 0.005) * 730, 6);
    expect(totalUsd).toBeCloseTo(195.6765 + 20 + 4.672, 4);
    for (const l of lines) expect(l.source.length).toBeGreaterThan(0);
  });

  it("Cloud NAT per Google's model: per VM-hour up to 32 VMs, flat above, per NAT IP-hour, per GiB processed", () => {
    expect(natPrice.source).toBe("https://cloud.google.com/nat/pricing");
    expect(monthlyUsd({ kind: "nat", vms: 14, natIps: 1, gbPerMonth: 100 }).usdPerMonth).toBeCloseTo(0.0014 * 14 * 730 + 0.005 * 730 + 100 * 0.045, 6);
    expect(monthlyUsd({ kind: "nat", vms: 32, natIps: 1 }).usdPerMonth).toBeCloseTo((0.0014 * 32 + 0.005) * 730, 6);
    expect(monthlyUsd({ kind: "nat", vms: 36, natIps: 2, gbPerMonth: 200 }).usdPerMonth).toBeCloseTo((0.044 + 2 * 0.005) * 730 + 200 * 0.045, 6);
  });

  it("spot, counts, HA Cloud SQL, GKE credit, forwarding rules, Memorystore bands", () => {
    expect(monthlyUsd({ kind: "machine", machineType: "n2-standard-4", count: 3, spot: true }).usdPerMonth).toBeCloseTo(0.19424 * 0.6 * 730 * 3, 6);
    const sql = monthlyUsd({ kind: "cloudSql", vcpus: 2, memoryGb: 8, storageGb: 50 }).usdPerMonth;
    expect(sql).toBeCloseTo((2 * 0.0413 + 8 * 0.007) * 730 + 50 * 0.17, 6);
    expect(monthlyUsd({ kind: "cloudSql", vcpus: 2, memoryGb: 8, storageGb: 50, ha: true }).usdPerMonth).toBeCloseTo(sql * 2, 6);
    expect(monthlyUsd({ kind: "gke" }).usdPerMonth).toBeCloseTo(73, 6);
    expect(monthlyUsd({ kind: "gke", applyFreeCredit: true }).usdPerMonth).toBe(0);
    expect(monthlyUsd({ kind: "gke", clusters: 2, applyFreeCredit: true }).usdPerMonth).toBeCloseTo(146 - 74.4, 6);
    expect(monthlyUsd({ kind: "forwardingRules", count: 0 }).usdPerMonth).toBe(0);
    expect(monthlyUsd({ kind: "forwardingRules", count: 3 }).usdPerMonth).toBeCloseTo(0.025 * HOURS_PER_MONTH, 6);
    expect(monthlyUsd({ kind: "forwardingRules", count: 7 }).usdPerMonth).toBeCloseTo((0.025 + 2 * 0.01) * HOURS_PER_MONTH, 6);
    expect(monthlyUsd({ kind: "memorystore", tier: "BASIC", gb: 1 }).usdPerMonth).toBeCloseTo(0.049 * 730, 6);
    expect(monthlyUsd({ kind: "memorystore", tier: "STANDARD_HA", gb: 10 }).usdPerMonth).toBeCloseTo(0.054 * 10 * 730, 6);
  });

  it("unknown machine types and out-of-band capacities throw", () => {
    expect(() => monthlyUsd({ kind: "machine", machineType: "z9-mega-1" })).toThrow(/z9-mega-1/);
    expect(() => monthlyUsd({ kind: "memorystore", tier: "BASIC", gb: 100 })).toThrow(/Memorystore/);
  });
});
