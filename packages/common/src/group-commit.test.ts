import { describe, expect, it } from "vitest";
import { GroupCommit } from "./group-commit.js";

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("GroupCommit", () => {
  it("hands callers that arrive together to one run and answers each with its own result", async () => {
    const batches: number[][] = [];
    const b = new GroupCommit<number, number>(async (xs) => {
      batches.push(xs);
      return xs.map((x) => x * 10);
    }, { maxBatch: 100, concurrency: 1 });
    const out = await Promise.all([1, 2, 3, 4].map((x) => b.submit(x)));
    expect(out).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it("collects items arriving while a batch runs into the next batch, and never exceeds maxBatch", async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new GroupCommit<number, number>(async (xs) => {
      batches.push(xs);
      if (batches.length === 1) await gate;
      return xs;
    }, { maxBatch: 3, concurrency: 1 });
    const first = b.submit(0);
    await tick();
    const rest = [1, 2, 3, 4, 5].map((x) => b.submit(x));
    await tick();
    expect(batches).toEqual([[0]]);
    expect(b.waiting).toBe(5);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([0, 1, 2, 3, 4, 5]);
    expect(batches).toEqual([[0], [1, 2, 3], [4, 5]]);
  });

  it("answers nobody before the batch's run resolves (callers wait for the commit)", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let answered = false;
    const b = new GroupCommit<number, string>(async (xs) => {
      await gate;
      return xs.map(() => "committed");
    }, { maxBatch: 10, concurrency: 1 });
    const p = b.submit(1).then((v) => {
      answered = true;
      return v;
    });
    await tick();
    expect(answered).toBe(false);
    release();
    expect(await p).toBe("committed");
  });

  it("rejects every caller of a failed batch and keeps serving later ones", async () => {
    let fail = true;
    const b = new GroupCommit<number, number>(async (xs) => {
      if (fail) throw new Error("connection lost");
      return xs;
    }, { maxBatch: 10, concurrency: 1 });
    const r = await Promise.allSettled([b.submit(1), b.submit(2)]);
    expect(r.map((x) => x.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await b.submit(3)).toBe(3);
  });

  it("runs up to `concurrency` batches at once", async () => {
    let active = 0;
    let peak = 0;
    const b = new GroupCommit<number, number>(async (xs) => {
      active++;
      peak = Math.max(peak, active);
      await tick();
      active--;
      return xs;
    }, { maxBatch: 1, concurrency: 3 });
    await Promise.all([1, 2, 3, 4, 5, 6].map((x) => b.submit(x)));
    expect(peak).toBe(3);
  });

  it("refuses a run that returns the wrong number of results", async () => {
    const b = new GroupCommit<number, number>(async () => [], { maxBatch: 10, concurrency: 1 });
    await expect(b.submit(1)).rejects.toThrow(/0 results for 1 items/);
  });

  it("one bad item fails only itself: the rest of its batch is run again alone and answered", async () => {
    const runs: string[][] = [];
    const sizes: number[] = [];
    const g = new GroupCommit<string, string>(async (xs) => {
      runs.push(xs);
      if (xs.includes("bad")) throw new Error("constraint violated");
      return xs.map((x) => x.toUpperCase());
    }, { maxBatch: 10, concurrency: 1, onBatch: (n) => sizes.push(n) });
    const r = await Promise.allSettled(["a", "bad", "c"].map((x) => g.submit(x)));
    expect(r.map((x) => (x.status === "fulfilled" ? x.value : (x.reason as Error).message))).toEqual(["A", "constraint violated", "C"]);
    expect(runs).toEqual([["a", "bad", "c"], ["a"], ["bad"], ["c"]]);
    expect(sizes).toEqual([3, 1, 1, 1]);
  });

  it("a failed batch of one is rejected without running it again", async () => {
    let runs = 0;
    const g = new GroupCommit<number, number>(async () => {
      runs++;
      throw new Error("no");
    }, { maxBatch: 10, concurrency: 1 });
    await expect(g.submit(1)).rejects.toThrow("no");
    expect(runs).toBe(1);
  });

  it("items submitted while a failed batch is rerun item by item wait for the next batch", async () => {
    const runs: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const g = new GroupCommit<number, number>(async (xs) => {
      runs.push(xs);
      if (runs.length === 2) await gate; // the first single-item rerun
      if (xs.length > 1 && xs.includes(0)) throw new Error("batch with 0 fails");
      return xs;
    }, { maxBatch: 10, concurrency: 1 });
    const first = [0, 1].map((x) => g.submit(x));
    await tick();
    const late = g.submit(2);
    await tick();
    expect(g.waiting).toBe(1);
    release();
    expect(await Promise.all([...first, late])).toEqual([0, 1, 2]);
    expect(runs).toEqual([[0, 1], [0], [1], [2]]);
  });

  it("refuses nonsense options", () => {
    expect(() => new GroupCommit(async (xs: number[]) => xs, { maxBatch: 0, concurrency: 1 })).toThrow(/≥ 1/);
    expect(() => new GroupCommit(async (xs: number[]) => xs, { maxBatch: 1, concurrency: 0 })).toThrow(/≥ 1/);
  });
});
