import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@tierstack/common/testing";
import type { TaskStore } from "../src/types.js";
import { impls } from "./helpers.js";

// LISTEN/NOTIFY uses a channel per schema: parallel schemas (test runs, tenants) do not wake each other.
const pgImpl = impls.find((i) => i.name === "postgres")!;

describe.skipIf(pgImpl.skip)("PostgreSQL wake-ups are per schema", () => {
  let a: { store: TaskStore; close: () => Promise<void> };
  let b: { store: TaskStore; close: () => Promise<void> };
  beforeAll(async () => {
    a = await pgImpl.open();
    b = await pgImpl.open();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it("an enqueue in one schema wakes its own listeners only", async () => {
    const wokeA: string[] = [];
    const wokeB: string[] = [];
    a.store.onWake((q) => wokeA.push(q));
    b.store.onWake((q) => wokeB.push(q));
    await a.store.enqueue([{ queue: "only-a", payload: null, priority: 0, maxAttempts: 1 }]);
    await b.store.enqueue([{ queue: "only-b", payload: null, priority: 0, maxAttempts: 1 }]);
    await waitFor(() => wokeA.includes("only-a") && wokeB.includes("only-b"), { what: "each schema's own wake-up", intervalMs: 25 });
    // Give a wrong wake-up (the other schema's notification) the time to arrive, if one were coming.
    await new Promise((r) => setTimeout(r, 200));
    expect(wokeA).toContain("only-a");
    expect(wokeB).toContain("only-b");
    expect(wokeA).not.toContain("only-b");
    expect(wokeB).not.toContain("only-a");
  });
});
