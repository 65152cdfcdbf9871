/** The LLM pricing of token demands, and the learners' volume priced back to the product's projection. */
import { describe, expect, it } from "vitest";
import { learnerLlmVolume, learnerTokensPerDay } from "../../catalog/llm-volume.js";
import { catalogueModelName, DAYS_PER_MONTH, projectLlm } from "./llm.js";

describe("projectLlm", () => {
  it("prices tokens a day at the demand's prompt/completion split for a 730-hour month", () => {
    const p = projectLlm([{ label: "agents", tokensPerDay: 1_000_000, completionShare: 0.25, model: "openai/gpt-4o-mini" }]);
    // gpt-4o-mini: $0.15 in, $0.60 out per million → 0.75 × 0.15 + 0.25 × 0.60 = $0.2625 per million.
    expect(p.lines[0]?.usdPerMTok).toBeCloseTo(0.2625, 10);
    expect(p.usdPerMonth).toBeCloseTo(0.2625 * (730 / 24), 10);
    expect(DAYS_PER_MONTH).toBeCloseTo(30.4167, 4);
  });

  it("local models cost nothing per token and are not unverified; an unpriced model is reported, not priced at zero", () => {
    const p = projectLlm([
      { label: "local", tokensPerDay: 5e6, completionShare: 0.25, model: "local/qwen3-32b" },
      { label: "mystery", tokensPerDay: 1e6, completionShare: 0.25, model: "acme/unknown-9000" },
    ]);
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatchObject({ usdPerMonth: 0, unverified: false });
    expect(p.unpriced.map((d) => d.model)).toEqual(["acme/unknown-9000"]);
    expect(() => projectLlm([{ label: "bad", tokensPerDay: -1, completionShare: 0.25, model: "openai/gpt-4o-mini" }])).toThrow(/tokensPerDay/);
  });

  it("LiteLLM ids name the catalogue model after the route", () => {
    expect(catalogueModelName("openrouter/openai/gpt-4o-mini")).toBe("openai/gpt-4o-mini");
    expect(catalogueModelName("local/qwen3-32b")).toBe("local/qwen3-32b");
  });
});

describe("the learners' volume (catalog/llm-volume.ts)", () => {
  it("priced at its mix, gives back the product's projection of ~$12,000 a month for 16,000 learners", () => {
    const v = learnerLlmVolume;
    expect(v.mix.reduce((s, m) => s + m.share, 0)).toBe(1);
    const p = projectLlm(v.mix.map((m) => ({ label: "learners", tokensPerDay: v.tokensPerDay * m.share, completionShare: v.completionShare, model: m.model })));
    expect(p.unpriced).toEqual([]);
    expect(Math.abs(p.usdPerMonth - v.projection.usdPerMonth)).toBeLessThan(1);
    expect(v.projection.source).toMatch(/16,000 learners/);
  });

  it("scales linearly with the learners", () => {
    expect(learnerTokensPerDay(8_000)).toBe(learnerLlmVolume.tokensPerDay / 2);
    expect(learnerTokensPerDay(0)).toBe(0);
  });
});
