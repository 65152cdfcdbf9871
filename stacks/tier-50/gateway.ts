/**
 * The sharded MCP gateway of tier-50: which namespaces each gateway shard serves.
 *
 * The shard map (tierstack:gatewayShardMap, canonical JSON from @tierstack/shard-map) names the
 * MCP namespaces. Gateway shard i serves the namespaces at positions i, i + N, i + 2N, … of the
 * namespaces in sorted order (N = tierstack:gatewayShards): the assignment depends only on the
 * set of namespaces and N, never on the order they are written in the stack file, and every
 * shard serves at least one namespace (or the configuration is refused). Each shard's process
 * gets only its own namespaces in GATEWAY_SHARDS, so a shard cannot serve a namespace that is
 * not routed to it. The federated `/mcp` endpoint (every namespace's tools, ADR 0022) is served
 * by a further deployment of the same gateway holding the whole map; the tunnel sends
 * `/mcp/<namespace>` to the namespace's shard and everything else on the gateway's hostname to
 * the federated deployment. Sessions live in the Redis registry (ADR 0020) on this tier, so any
 * replica of a shard, and any replica of the federated deployment, can serve any session.
 */
import { formatShardMap, parseShardMap, type ShardConfig } from "@tierstack/shard-map";
import { ConfigError } from "../../config/config.js";

export interface GatewayShard {
  index: number;
  /** Deployment and Service name: mcp-gateway-<index>. */
  name: string;
  namespaces: string[];
  /** GATEWAY_SHARDS of this shard: its namespaces only, canonical JSON. */
  shardMap: string;
}

export const federatedGatewayName = "mcp-gateway";

function parsed(shardMap: string): ShardConfig[] {
  const { shards, problems } = parseShardMap(shardMap);
  if (problems.length > 0) throw new Error(`gateway shards: the shard map is not valid (${problems.join("; ")})`);
  return shards;
}

/** The namespaces of each gateway shard; a shard left without a namespace is a one-line ConfigError. */
export function assignGatewayShards(shardMap: string, shardCount: number): GatewayShard[] {
  const all = parsed(shardMap);
  const names = all.map((s) => s.namespace).sort();
  if (shardCount < 1) throw new Error(`gateway shards: ${shardCount} shards`);
  if (names.length < shardCount) {
    throw new ConfigError(
      `tierstack:gatewayShards = ${shardCount} leaves ${shardCount - names.length} gateway shard(s) without a namespace; accepted: at most ${names.length} shard(s) for the namespaces of tierstack:gatewayShardMap (${names.join(", ")}), or more namespaces in the map`,
    );
  }
  const shards: GatewayShard[] = [];
  for (let i = 0; i < shardCount; i++) {
    const namespaces = names.filter((_, k) => k % shardCount === i);
    const configs = namespaces.map((n) => all.find((s) => s.namespace === n) as ShardConfig);
    shards.push({ index: i, name: `mcp-gateway-${i}`, namespaces, shardMap: formatShardMap(configs) });
  }
  return shards;
}

/** The shard serving a namespace. */
export function shardOf(shards: readonly GatewayShard[], namespace: string): GatewayShard | undefined {
  return shards.find((s) => s.namespaces.includes(namespace));
}

export interface McpServerTarget {
  host: string;
  port: number;
}

/** Hosts and ports of every MCP server in the shard map (for the gateway's egress). */
export function mcpServerTargets(shardMap: string): McpServerTarget[] {
  const out = new Map<string, McpServerTarget>();
  for (const s of parsed(shardMap)) {
    for (const r of s.replicas) {
      const u = new URL(r);
      const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
      out.set(`${u.hostname}:${port}`, { host: u.hostname, port });
    }
  }
  return [...out.values()];
}
