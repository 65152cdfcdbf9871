/** tierstack capacity: the smallest tier that holds a load, each tier's first wall, the walls' arithmetic. */
import { describe, expect, it } from "vitest";
import { tiers } from "../catalog/tiers.js";
import { assessCapacity, measured, tierLimits } from "./capacity.js";
import { main } from "./main.js";

const wall = (tier: keyof typeof tiers, subsystem: RegExp) => tierLimits(tiers[tier]).find((l) => subsystem.test(l.subsystem));

describe("capacity", () => {
  it("the smallest tier whose limits hold", () => {
    expect(assessCapacity({ agents: 10, products: 5, learners: 0 }).smallest).toBe("single-box");
    expect(assessCapacity({ agents: 30, products: 5, learners: 0 }).smallest).toBe("tier-50");
    expect(assessCapacity({ agents: 60, products: 5, learners: 0 }).smallest).toBe("tier-100");
    // Learners have a target only at tier-100.
    expect(assessCapacity({ agents: 5, products: 1, learners: 100 }).smallest).toBe("tier-100");
    expect(assessCapacity({ agents: 101, products: 1, learners: 0 }).smallest).toBeUndefined();
  });

  it("names each tier's first wall: the limit the load presses hardest", () => {
    const r = assessCapacity({ agents: 40, products: 45, learners: 0 });
    const sb = r.verdicts.find((v) => v.tier === "single-box");
    expect(sb?.holds).toBe(false);
    expect(sb?.exceeded.map((l) => l.subsystem)).toEqual(["agents target", "products target"]);
    expect(sb?.firstWall.subsystem).toBe("agents target"); // 40 / 20 = 2 beats 45 / 30 = 1.5
    const t50 = r.verdicts.find((v) => v.tier === "tier-50");
    expect(t50?.holds).toBe(true);
    expect(t50?.firstWall.subsystem).toBe("products target"); // 45 / 50 beats 40 / 50
  });

  it("measured walls: per-agent and per-learner work at peak against the benchmark figures", () => {
    // An agent: 50 LLM calls a day, 3× at peak, one queue cycle and one tool call per call.
    const perAgent = (50 * 3) / 86_400;
    expect(wall("single-box", /^task queue/)?.wall).toBe(Math.floor(measured.queueSqlite.value / perAgent));
    expect(wall("tier-50", /^task queue/)?.wall).toBe(Math.floor(2_766 / perAgent));
    expect(wall("tier-50", /^MCP gateway/)?.wall).toBe(Math.floor((2 * 1 * 2_525) / perAgent));
    // A learner: at most 30 messages a day (the free plan's quota), 3× at peak.
    const perLearner = (30 * 3) / 86_400;
    expect(wall("tier-100", /^brain/)?.wall).toBe(Math.floor(250 / perLearner));
    expect(wall("tier-100", /^WhatsApp/)?.wall).toBe(Math.floor(80 / perLearner));
    for (const m of Object.values(measured)) expect(m.source).toMatch(/RESULTS\.md|developers\.facebook\.com/);
  });

  it("local inference is a soft wall, from the GPU capacity model", () => {
    const gpu = wall("tier-50", /^local inference/);
    expect(gpu?.hard).toBe(false);
    // The 32B on one L4: 51.8 tok/s against its 121.5 tok/s peak at 50 agents → 21 agents.
    expect(gpu?.wall).toBe(21);
    expect(wall("single-box", /^local inference/)?.wall).toBe(0);
  });

  it("the command: text, JSON, and one line on a bad option", async () => {
    const io = { out: "", err: "" };
    const sink = { out: (s: string) => void (io.out += s), err: (s: string) => void (io.err += s) };
    expect(await main(["capacity", "--agents", "30"], sink)).toBe(0);
    expect(io.out).toMatch(/^smallest tier whose limits hold: tier-50/m);
    expect(io.out).toMatch(/^single-box: does not hold \(agents target\); first wall: agents target at 20 agents$/m);
    io.out = "";
    expect(await main(["capacity", "--agents", "30", "--json"], sink)).toBe(0);
    expect(JSON.parse(io.out).smallest).toBe("tier-50");
    expect(await main(["capacity"], sink)).toBe(2);
    expect(await main(["capacity", "--agents", "many"], sink)).toBe(2);
    expect(io.err.trim().split("\n")).toEqual([expect.stringMatching(/^capacity: expected --agents N/), expect.stringMatching(/^capacity: --agents="many": expected a whole number/)]);
  });
});
