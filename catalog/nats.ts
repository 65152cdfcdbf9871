/**
 * JetStream replication on the platform's NATS: a stream is created with as many replicas as
 * there are nodes, up to 3. JetStream replicates a stream over at most 5 servers, and 3 keeps
 * it writable through the loss of any one node (a Raft group of 3 needs 2); more replicas than
 * 3 only add write cost, so a 5-node cluster still runs R3 streams and spreads them over its
 * nodes (https://docs.nats.io/nats-concepts/jetstream/streams#replicas).
 *
 * The task queue creates its stream at start with NATS_STREAM_REPLICAS (services/task-queue,
 * catalog/services.ts); a tier's composition passes `natsStreamEnv(natsNodes)` as the task
 * queue's extra wiring (ServiceWiring.extra in catalog/service-env.ts).
 */
import { workloadPorts } from "./flows.js";

/** Replicas of every platform stream on a cluster of `natsNodes` nodes: min(natsNodes, 3). */
export function streamReplicas(natsNodes: number): number {
  if (!Number.isInteger(natsNodes) || natsNodes < 1) throw new Error(`streamReplicas: natsNodes must be a whole number ≥ 1, got ${natsNodes}`);
  return Math.min(natsNodes, 3);
}

/** The task queue's plain environment for a cluster of `natsNodes` nodes. */
export function natsStreamEnv(natsNodes: number): { NATS_STREAM_REPLICAS: string } {
  return { NATS_STREAM_REPLICAS: String(streamReplicas(natsNodes)) };
}

/**
 * JetStream domains during a migration between tiers (migrate/nats.ts): the old tier's NATS and
 * the target's each run JetStream in their own domain, and the target's connects to the old as a
 * leaf node on `natsLeafPort`, so the old streams are reachable from the target as
 * `$JS.<old domain>.API` (`tierstack migrate stream mirror --source-domain <old domain>`).
 * Outside a migration no domain and no leaf node is rendered.
 */
export const natsDomains = { "single-box": "box", "tier-50": "tier50", "tier-100": "tier100" } as const;

/** The leaf node port the old side listens on (nats-server's default; the flow table's NATS leaf port). */
export const natsLeafPort = workloadPorts.nats.leaf as number;

/** The stages during which both tiers' NATS run and are joined (contract has the target alone). */
export const natsLeafStages = ["expand", "copy", "cutover"] as const;

export type NatsTier = keyof typeof natsDomains;

/** What one tier's NATS renders during a migration: the old side listens, the target connects. */
export type NatsLeafRole =
  | { side: "old"; domain: string; port: number }
  | { side: "target"; domain: string; oldDomain: string; port: number };

/** The role of `tier`'s NATS in the migration `phase` (undefined outside one, at contract, or when the tier is in neither side). */
export function natsLeafRole(tier: NatsTier, phase: { from: string; to: string; stage: string } | undefined): NatsLeafRole | undefined {
  if (!phase || !(natsLeafStages as readonly string[]).includes(phase.stage)) return undefined;
  const known = (t: string): t is NatsTier => t in natsDomains;
  if (!known(phase.from) || !known(phase.to)) return undefined;
  if (tier === phase.from) return { side: "old", domain: natsDomains[tier], port: natsLeafPort };
  if (tier === phase.to) return { side: "target", domain: natsDomains[tier], oldDomain: natsDomains[phase.from], port: natsLeafPort };
  return undefined;
}
