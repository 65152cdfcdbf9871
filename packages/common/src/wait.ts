import { portOpen } from "./net.js";

/**
 * Waiting for something to become true: a port to accept connections, a server to answer its
 * readiness check, a test's condition. The one polling loop the services, their tests and the
 * private test servers share.
 */
export interface WaitOptions {
  /** Give up after this long, ms (default 20 000). */
  timeoutMs?: number;
  /** Check this often, ms (default 50). */
  intervalMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
}

/**
 * Resolve once `predicate` returns true (checked at once, then every intervalMs); reject with
 * "timed out after N ms waiting for <what>" when timeoutMs passes first. An exception thrown by
 * the predicate rejects at once (e.g. "the child process exited": no point in waiting on).
 */
export async function waitFor(predicate: () => boolean | Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 50;
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= end) break;
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(intervalMs, end - Date.now()))));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? "a condition"}`);
}

/** Resolve once host:port (default 127.0.0.1) accepts TCP connections. */
export function waitForPort(port: number, opts: WaitOptions & { host?: string } = {}): Promise<void> {
  const host = opts.host ?? "127.0.0.1";
  return waitFor(() => portOpen(host, port, Math.min(1000, opts.intervalMs ?? 1000)), { ...opts, what: opts.what ?? `${host}:${port} to accept connections` });
}
