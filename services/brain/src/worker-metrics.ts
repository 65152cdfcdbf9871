/**
 * The reply workers' metrics, in whichever registry runs them: the HTTP process's own (workers in
 * process, as the tests run them) or the worker process's, which the HTTP process merges into its
 * /metrics on each scrape (worker-process.ts).
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { WorkerMetrics } from "./reply.js";

export const WORKER_METRIC_NAMES = ["brain_replies_total", "brain_send_failures_total", "brain_llm_latency_seconds", "brain_workers_busy"] as const;

/** Replies, send failures and LLM latency; `registers` empty ⇒ counted but not exposed by this registry. */
export function workerMetrics(registers: Registry[]): WorkerMetrics {
  return {
    replies: new Counter({ name: "brain_replies_total", help: "Messages accepted by the Cloud API, by kind (text, template)", labelNames: ["kind"] as const, registers }),
    sendFailures: new Counter({ name: "brain_send_failures_total", help: "Cloud API send failures (retry: will be retried; final/ambiguous: given up)", labelNames: ["reason"] as const, registers }),
    llmLatency: new Histogram({
      name: "brain_llm_latency_seconds", help: "LLM completion latency (retries and fallback included)", labelNames: ["model", "outcome"] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60], registers,
    }),
  };
}

/** Worker loops holding a learner. */
export function busyGauge(registers: Registry[], busy: () => number): Gauge {
  return new Gauge({ name: "brain_workers_busy", help: "Worker loops holding a learner", registers, collect() { this.set(busy()); } });
}
