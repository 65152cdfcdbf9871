import { describe, expect, it } from "vitest";
import { sharedPlacement } from "./placement.js";
import { planIds } from "./plans.js";

describe("sharedPlacement", () => {
  it("places every learner in the shared process, whatever the plan", async () => {
    const p = sharedPlacement();
    for (const plan of planIds) {
      await expect(p.place({ id: `l-${plan}`, plan })).resolves.toEqual({ kind: "shared" });
    }
  });
});
