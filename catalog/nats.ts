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

/** Replicas of every platform stream on a cluster of `natsNodes` nodes: min(natsNodes, 3). */
export function streamReplicas(natsNodes: number): number {
  if (!Number.isInteger(natsNodes) || natsNodes < 1) throw new Error(`streamReplicas: natsNodes must be a whole number ≥ 1, got ${natsNodes}`);
  return Math.min(natsNodes, 3);
}

/** The task queue's plain environment for a cluster of `natsNodes` nodes. */
export function natsStreamEnv(natsNodes: number): { NATS_STREAM_REPLICAS: string } {
  return { NATS_STREAM_REPLICAS: String(streamReplicas(natsNodes)) };
}
