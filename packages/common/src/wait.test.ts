import net from "node:net";
import { describe, expect, it } from "vitest";
import { freePort } from "./net.js";
import { waitFor, waitForPort } from "./wait.js";

describe("waitFor", () => {
  it("resolves as soon as the predicate holds, checking again every interval (sync or async)", async () => {
    let calls = 0;
    await waitFor(() => ++calls === 3, { intervalMs: 1 });
    expect(calls).toBe(3);
    let asyncCalls = 0;
    await waitFor(async () => ++asyncCalls >= 2, { intervalMs: 1 });
    expect(asyncCalls).toBe(2);
  });

  it("checks once before waiting at all", async () => {
    let calls = 0;
    await waitFor(() => {
      calls++;
      return true;
    }, { intervalMs: 60_000 });
    expect(calls).toBe(1);
  });

  it("rejects naming what it waited for and for how long", async () => {
    await expect(waitFor(() => false, { timeoutMs: 30, intervalMs: 5, what: "the moon" })).rejects.toThrow("timed out after 30 ms waiting for the moon");
  });

  it("an exception in the predicate rejects at once", async () => {
    let calls = 0;
    const err = await waitFor(() => {
      calls++;
      throw new Error("child exited 1");
    }, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect((err as Error).message).toBe("child exited 1");
    expect(calls).toBe(1);
  });
});

describe("waitForPort", () => {
  it("resolves once something listens on the port", async () => {
    const port = await freePort();
    const srv = net.createServer((s) => s.end());
    const waiting = waitForPort(port, { intervalMs: 5 });
    // Listen only after the wait has begun (its first check finds the port closed).
    await new Promise<void>((r) => setTimeout(r, 20));
    await new Promise<void>((r) => srv.listen(port, "127.0.0.1", r));
    try {
      await expect(waiting).resolves.toBeUndefined();
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  it("rejects when nothing listens", async () => {
    const port = await freePort();
    await expect(waitForPort(port, { timeoutMs: 100, intervalMs: 10 })).rejects.toThrow(`waiting for 127.0.0.1:${port} to accept connections`);
  });
});
