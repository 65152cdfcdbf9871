/** The gateway's Prometheus metrics, per namespace (`*` is the federated endpoint). */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { ShardConfig } from "./config.js";
import { FEDERATED } from "./protocol.js";

export interface GatewayMetrics {
  requests: Counter<"namespace" | "era" | "status">;
  latency: Histogram<"namespace">;
  errors: Counter<"namespace" | "reason">;
  replicaUp: Gauge<"namespace" | "replica">;
}

/**
 * Registers the gateway's metrics on the service's registry. `countOpen` feeds the open-sessions gauge
 * at scrape time (a failing registry counts 0 rather than failing the scrape). Every replica starts up.
 */
export function createMetrics(register: Registry, shards: ShardConfig[], countOpen: (namespace: string) => Promise<number>): GatewayMetrics {
  const registers = [register];
  const requests = new Counter({ name: "mcp_gateway_requests_total", help: "MCP requests by namespace, protocol era and status", labelNames: ["namespace", "era", "status"] as const, registers });
  const latency = new Histogram({
    name: "mcp_gateway_upstream_seconds",
    help: "Time from request to upstream response headers, by namespace",
    labelNames: ["namespace"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers,
  });
  const errors = new Counter({ name: "mcp_gateway_errors_total", help: "Gateway-side failures by namespace and reason", labelNames: ["namespace", "reason"] as const, registers });
  const replicaUp = new Gauge({ name: "mcp_gateway_replica_up", help: "1 when the replica passes health checks", labelNames: ["namespace", "replica"] as const, registers });
  const namespaces = [...shards.map((s) => s.namespace), FEDERATED];
  new Gauge({
    name: "mcp_gateway_open_sessions",
    help: "Open client sessions by namespace",
    labelNames: ["namespace"] as const,
    registers,
    async collect() {
      for (const ns of namespaces) this.set({ namespace: ns }, await countOpen(ns).catch(() => 0));
    },
  });
  for (const s of shards) for (const r of s.replicas) replicaUp.set({ namespace: s.namespace, replica: r }, 1);
  return { requests, latency, errors, replicaUp };
}
