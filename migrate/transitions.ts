/**
 * The staged migrations between tiers, as data: for each transition an ordered list of stages
 * (expand, copy and verify, cut over, contract), each with the stack config it sets, its
 * preconditions, its data step, its verification and its rollback. `tierstack migrate` drives a
 * stack through them and the runbooks in docs/migrations/ are generated from the same list.
 *
 * The stage lives in the stack's config (tierstack:migrationTarget / migrationStage), so
 * `pulumi up` at each stage converges the infrastructure to it; the data stores keep
 * `protect` throughout, and only contract retires the old tier's resources.
 */
import type { TierName } from "../catalog/tiers.js";

import { stageOrder, type StageId } from "../catalog/migration.js";

export { stageOrder, type StageId };

export interface Stage {
  id: StageId;
  title: string;
  /** Stack config the stage sets (besides the migration keys), applied by `migrate next`; finishing contract clears the migration keys. */
  config: Record<string, string>;
  preconditions: string[];
  /** What moves, and the command that moves it ("" when nothing moves at this stage). */
  data: string;
  /** What `migrate verify` checks before the next stage is allowed. */
  verification: string[];
  rollback: string;
}

export interface Transition {
  from: TierName;
  to: TierName;
  summary: string;
  /** What the old tier keeps in files or memory, and what of it moves. */
  stateNotes: string[];
  stages: Stage[];
}

const pgMove = (stores: string) =>
  `tierstack migrate copy --stack <stack> --stores ${stores} --sqlite-dir /mnt/data --pg-url <Cloud SQL URL per store>: COPY in key batches, each committed with its checkpoint (resumable after a crash; run it on the box, which reaches both stores: Cloud SQL has a private IP only)`;

export const transitions: readonly Transition[] = [
  {
    from: "single-box",
    to: "tier-50",
    summary: "SQLite, files and one GPU on one VM → Cloud SQL PostgreSQL, Memorystore Redis, a sharded gateway on GKE and a GPU box with two GPUs",
    stateNotes: [
      "Task queue and agent tokens: SQLite (task-queue.db) → the task queue's Cloud SQL database, by the mover; leases still held at cut-over are copied with their tokens and expiries.",
      "Brain: SQLite (brain.db) → the brain's Cloud SQL database, by the mover; every acknowledged webhook is in the inbox when the writes stop, and is answered by the new side.",
      "NATS: the box's node → the cluster's node; the TASKS stream moves by JetStream sourcing, verified by sequence numbers and message counts.",
      "Gateway: sessions live in the gateway's memory and are not durable; new sessions go to the shards after cut-over, old ones finish or expire (clients re-initialize on 404).",
      "Coordination files on the data disk hold nothing that outlives a restart; nothing else moves.",
    ],
    stages: [
      {
        id: "expand",
        title: "Expand: build tier-50 beside the box",
        config: { "tierstack:migrationTarget": "tier-50" },
        preconditions: ["the stack is on single-box and not in a migration", "the images are pushed to the stack's Artifact Registry"],
        data: "",
        verification: ["pulumi up finished; tier-50's Cloud SQL, Redis, cluster and GPU box answer their health checks", "the box still serves every request (nothing moved yet)"],
        rollback: "tierstack migrate rollback, then pulumi up: the new resources are deleted; the box was never touched",
      },
      {
        id: "copy",
        title: "Copy and verify, while the box keeps serving",
        config: {},
        preconditions: ["expand verified"],
        data: pgMove("task-queue,brain"),
        verification: ["tierstack migrate verify: every table, row and column of both stores equal on both sides (canonical encoding), or the differences by table, key and column"],
        rollback: "tierstack migrate rollback: the copies are dropped (the box is still the source of truth)",
      },
      {
        id: "cutover",
        title: "Cut over: stop writes on the box, copy again in full, switch",
        config: { "tierstack:tier": "tier-50" },
        preconditions: ["copy verified", "a maintenance window: the box's task queue and brain stop taking writes for the length of one full copy"],
        data: "on the box, `systemctl stop tierstack-task-queue tierstack-brain` (agents' calls fail and are retried; Meta redelivers webhooks that were not acknowledged); then `tierstack migrate copy` at this stage empties the targets and copies both stores again in full, leases with their tokens and expiries included, so an agent holding a lease completes it on the new side; then pulumi up points the tunnel's origins at the cluster",
        verification: ["tierstack migrate verify: both stores equal after the full copy", "the new services answer /readyz"],
        rollback: "tierstack migrate rollback, then pulumi up: the tunnel points back at the box and its units start again on the SQLite files, which stopped taking writes at the switch (what the new side accepted after the switch is not copied back: roll back before the tunnel moves, or copy it by hand)",
      },
      {
        id: "contract",
        title: "Contract: retire the box",
        config: {},
        preconditions: ["cutover verified", "a snapshot of the data disk taken after cut-over (kept 30 days)"],
        data: "the data disk is archived by the snapshot schedule's last snapshot; the VM and the disk are removed by pulumi up",
        verification: ["pulumi up finished; the stack holds only tier-50's resources"],
        rollback: "restore the box from the snapshot (docs/runbooks/restore-data-disk.md) and migrate again",
      },
    ],
  },
  {
    from: "tier-50",
    to: "tier-100",
    summary: "one NATS node, BASIC Redis, zonal PostgreSQL → a 3-node NATS cluster, STANDARD_HA Redis, REGIONAL PostgreSQL, a dedicated inference pool and the learner pool",
    stateNotes: [
      "PostgreSQL: zonal → REGIONAL in place (Cloud SQL changes availabilityType with a restart; no copy).",
      "Redis: BASIC → STANDARD_HA is not an in-place change in Memorystore; a new instance is created and the gateway's session registry and the shared limits start empty on it (sessions re-initialize on 404; limits refill).",
      "NATS: one node → three; the TASKS stream is mirrored into the cluster with 3 replicas, publishers switch after the mirror has caught up (sequence numbers and counts equal).",
    ],
    stages: [
      {
        id: "expand",
        title: "Expand: the NATS cluster, the HA Redis, the inference and learner pools beside tier-50",
        config: { "tierstack:migrationTarget": "tier-100" },
        preconditions: ["the stack is on tier-50 and not in a migration"],
        data: "",
        verification: ["pulumi up finished; the three NATS nodes report a JetStream meta leader; the new Redis answers PING over TLS with AUTH"],
        rollback: "tierstack migrate rollback, then pulumi up: the new resources are deleted",
      },
      {
        id: "copy",
        title: "Mirror the streams",
        config: {},
        preconditions: ["expand verified"],
        data: "an operator creates a mirror of the TASKS stream on the cluster with 3 replicas, sourced from the tier-50 node (nats CLI: `nats stream add TASKS --mirror TASKS --replicas 3`, the tier-50 node reachable as a leaf node); tierstack does not create it",
        verification: ["tierstack migrate verify: the mirror's last sequence and message count equal the source's"],
        rollback: "tierstack migrate rollback: the mirror is deleted",
      },
      {
        id: "cutover",
        title: "Cut over: publishers and consumers to the cluster, PostgreSQL to REGIONAL",
        config: { "tierstack:tier": "tier-100" },
        preconditions: ["copy verified"],
        data: "the task queue's relay publishes to the cluster (the outbox holds what was not yet published); the mirror is promoted to a stream; Cloud SQL availabilityType REGIONAL",
        verification: ["every outbox event published exactly once (Nats-Msg-Id deduplication on the cluster)", "the services answer /readyz on the new Redis"],
        rollback: "tierstack migrate rollback, then pulumi up: publishers back to the tier-50 node; events published meanwhile stay in the cluster's stream and are re-sourced",
      },
      {
        id: "contract",
        title: "Contract: retire the single NATS node and the BASIC Redis",
        config: {},
        preconditions: ["cutover verified"],
        data: "",
        verification: ["pulumi up finished; the stack holds only tier-100's resources"],
        rollback: "none needed: nothing durable was on the retired resources after cut-over",
      },
    ],
  },
];

export function transitionFrom(tier: TierName): Transition | undefined {
  return transitions.find((t) => t.from === tier);
}
