import type { ServiceApp } from "./http.js";

export interface RunOptions {
  port: number;
  host: string;
  /** Closed after the HTTP server stopped taking and finished in-flight requests (stores, pools, workers). */
  onClose?: () => Promise<void>;
  /** How long in-flight work may take before the process exits anyway. */
  graceMs?: number;
}

/**
 * Listen, then on SIGTERM/SIGINT: mark not ready, stop accepting, let in-flight requests
 * finish, close resources, exit 0. A second signal or the grace period forces exit 1.
 */
export async function runService(svc: ServiceApp, opts: RunOptions): Promise<void> {
  const { app } = svc;
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) {
      app.log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    closing = true;
    app.log.info({ signal }, "shutting down");
    svc.markDraining();
    const timer = setTimeout(() => {
      app.log.error("grace period over: exiting with work in flight");
      process.exit(1);
    }, opts.graceMs ?? 15_000);
    timer.unref();
    try {
      await app.close();
      await opts.onClose?.();
      app.log.info("stopped");
      process.exit(0);
    } catch (err) {
      app.log.error({ err }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  await app.listen({ port: opts.port, host: opts.host });
}

/** Print a start-up failure (bad config) as plain lines and exit 1. */
export function exitOnStartError(service: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${service}: ${message}\n`);
  process.exit(1);
}
