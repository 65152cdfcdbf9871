/**
 * Tier-50's tunnel routes: the single box's (catalog/edge.ts: the same hostnames, public paths
 * and Access split) with each origin pointing at the in-cluster Service instead of 127.0.0.1,
 * and the gateway's hostname split by path: `/mcp/<namespace>` to that namespace's shard, the
 * rest (the federated `/mcp`, health) to the federated deployment.
 */
import { edgeRoutes, publicPathRegex, type EdgeRoute } from "../../catalog/edge.js";
import type { ServiceName } from "../../catalog/services.js";
import type { TunnelIngress } from "../../components/tunnel.js";
import type { GatewayShard } from "./gateway.js";

export interface ClusterOrigins {
  /** In-cluster URL of each service's Service (the gateway's: the federated deployment's). */
  services: Record<ServiceName, string>;
  /** In-cluster URL of each gateway shard's Service, by shard name. */
  shards: Record<string, string>;
}

export interface Tier50Edge {
  routes: EdgeRoute[];
  ingresses: TunnelIngress[];
}

export function tier50Edge(domain: string, gatewayShards: readonly GatewayShard[], origins: ClusterOrigins): Tier50Edge {
  const routes = edgeRoutes(domain).map((r) => ({ ...r, origin: origins.services[r.service] }));
  const ingresses: TunnelIngress[] = [];
  for (const r of routes) {
    if (r.service === "mcp-gateway" && r.path === undefined) {
      for (const shard of gatewayShards) {
        const origin = origins.shards[shard.name];
        if (!origin) throw new Error(`tier-50 edge: no origin for gateway shard ${shard.name}`);
        for (const ns of shard.namespaces) ingresses.push({ hostname: r.hostname, path: publicPathRegex(`/mcp/${ns}`), service: origin });
      }
    }
    ingresses.push(r.path === undefined ? { hostname: r.hostname, service: r.origin } : { hostname: r.hostname, path: r.path, service: r.origin });
  }
  return { routes, ingresses };
}
