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
import { natsDomains, natsLeafPort } from "../catalog/nats.js";

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

const stores = "--sqlite-dir /mnt/data --pg-url-task-queue <URL> --pg-url-brain <URL>";
const boxUrls = "--task-queue http://127.0.0.1:7401 --brain http://127.0.0.1:7403";
const [boxDomain, tier50Domain, tier100Domain] = [natsDomains["single-box"], natsDomains["tier-50"], natsDomains["tier-100"]];
const boxNats = `--nats-source nats://127.0.0.1:4222 --source-domain ${boxDomain} --nats-target nats://<the cluster's NATS>:4222`;
const tier50Nats = `--nats-source nats://<the tier-50 node>:4222 --source-domain ${tier50Domain} --nats-target nats://<the cluster>:4222`;
/** The leaf node connection pulumi up renders from expand on (catalog/nats.ts, components/nats/server-config.ts). */
const boxLeaf = `from expand on, pulumi up renders the box's NATS in JetStream domain ${boxDomain} with a leaf node listener on ${natsLeafPort} and tier-50's node in domain ${tier50Domain} with a leaf node remote to the box's internal IP`;
const tier50Leaf = `from expand on, pulumi up renders the tier-50 node in JetStream domain ${tier50Domain} with a leaf node listener on ${natsLeafPort} and the cluster in domain ${tier100Domain} with a leaf node remote to the tier-50 node's Service`;

export const transitions: readonly Transition[] = [
  {
    from: "single-box",
    to: "tier-50",
    summary: "SQLite, files and one GPU on one VM → Cloud SQL PostgreSQL, Memorystore Redis, a sharded gateway on GKE and a GPU box with two GPUs",
    stateNotes: [
      "Task queue and agent tokens: SQLite (task-queue.db) → the task queue's Cloud SQL database, every table by the mover (tasks with their lease columns, the outbox, the agent tokens). At cut-over the queue drains (no new claims; held leases finish for up to cutoverDrainSeconds) and freezes (no writes), so the final copy misses nothing it acknowledged; the leases still held are copied with their tokens and expiries and their agents complete them on the new side (ADR 0043).",
      "Brain: SQLite (brain.db) → the brain's Cloud SQL database. At cut-over its reply workers are held while webhooks keep being acknowledged into the inbox; the brain on the box then stops (Meta redelivers what it cannot deliver), the inbox is copied with the rest and the brain on the cluster answers it. Nothing is answered twice: held workers finished the message in hand, and a reply recorded but not sent is sent once by the new side.",
      `NATS: the box's node → the cluster's node. The two are joined as leaf nodes (${boxLeaf}); from the copy stage the cluster's TASKS stream sources the box's through $JS.${boxDomain}.API; at cut-over the relay has published the outbox and stopped, the stream switches once caught up (sequence numbers and message counts) and publishers publish to the cluster; an event sent again is a duplicate by its Nats-Msg-Id.`,
      "Gateway: the box keeps MCP sessions in the gateway process's memory (no REDIS_URL), nothing on disk, and they do not move. After the switch new sessions go to the shards (their registry in Memorystore Redis); a request naming a session the shards do not know is answered 404 and the client initializes again; streams already open to the box's gateway finish there or expire (GATEWAY_SESSION_TTL_SECONDS) until contract removes the box.",
      "Redis: the box has none; tier-50's Memorystore starts empty (the send-rate bucket and the session registry fill as they are used). Coordination files on the data disk hold nothing that outlives a restart; nothing else moves.",
    ],
    stages: [
      {
        id: "expand",
        title: "Expand: build tier-50 beside the box",
        config: { "tierstack:migrationTarget": "tier-50" },
        preconditions: ["the stack is on single-box and not in a migration", "the images are pushed to the stack's Artifact Registry"],
        data: "",
        verification: ["pulumi up finished; tier-50's Cloud SQL, Redis, cluster and GPU box answer their health checks", `the leaf node connection is up: on tier-50's NATS, \`nats request '$JS.${boxDomain}.API.INFO' ''\` answers with domain ${boxDomain}`, "`tierstack migrate verify --ready <URL>/readyz` for each service: the box still serves every request (nothing moved yet)"],
        rollback: "tierstack migrate rollback, then pulumi up: the new resources are deleted; the box was never touched",
      },
      {
        id: "copy",
        title: "Copy and verify, while the box keeps serving",
        config: {},
        preconditions: ["expand verified", `tier-50's NATS node connected to the box's as a leaf node since expand (the box in JetStream domain ${boxDomain}, tier-50's node in ${tier50Domain})`],
        data: `on the box (it reaches both stores; Cloud SQL has a private IP only): \`tierstack migrate copy --stack <stack> ${stores}\` takes a snapshot of each SQLite file (VACUUM INTO /mnt/data/migrate-snapshot/) and copies it through COPY in key batches, each committed with its checkpoint (resumable after a crash, with a progress bar and ETA); \`tierstack migrate stream mirror --stack <stack> ${boxNats}\` creates the cluster's TASKS stream sourcing the box's and waits until it has caught up`,
        verification: [`\`tierstack migrate verify --stack <stack> ${stores}\`: every table, row and column of the snapshot equal on both sides (canonical encoding), or the differences by table, key and column`],
        rollback: "tierstack migrate rollback: the box still serves and nothing of it changed; the copies, the snapshot and the sourced stream stay for the next attempt (delete /mnt/data/migrate-snapshot to copy a fresh one)",
      },
      {
        id: "cutover",
        title: "Cut over: drain and freeze the writes on the box, copy again in full, switch",
        config: { "tierstack:tier": "tier-50" },
        preconditions: [
          "copy verified",
          "TIERSTACK_OPERATOR_TOKEN (an agent token of tierstack-operator) and BRAIN_ADMIN_TOKEN in the environment",
          "the agents' leases (leaseSeconds) longer than the freeze: heartbeats are refused while it lasts",
          "pulumi up runs last, after the verification: the cluster's services must not take traffic before the final copy",
        ],
        data: [
          `(1) \`tierstack migrate writes drain --stack <stack> ${boxUrls} --drain-seconds <cutoverDrainSeconds>\`: the task queue hands out no new claims (503 cutover with Retry-After) and waits for the held leases to finish; the brain's reply workers are held (webhooks are still acknowledged into the inbox) until none is answering`,
          `(2) \`tierstack migrate writes freeze --stack <stack> --task-queue http://127.0.0.1:7401\`: every write is refused the same way, those in flight commit, the reaper pauses, the relay publishes the outbox and stops`,
          "(3) `systemctl stop tierstack-brain`",
          `(4) \`tierstack migrate copy --stack <stack> ${stores}\` at this stage: the targets are emptied and both stores copied again in full from the still files, the leases still held with their tokens and expiries and the unanswered inbox included`,
          `(5) \`tierstack migrate stream switch --stack <stack> ${boxNats}\`: once caught up, the box's stream gives up its subjects and the cluster's takes them`,
          "(6) the verification below",
          "(7) pulumi up: the tunnel's origins move to the cluster, whose services start on the copies; agents retrying after Retry-After reach them and complete the leases they hold, the brain answers the inbox",
          "(8) `systemctl stop tierstack-task-queue` (it has refused every write since the freeze)",
        ].join("; "),
        verification: [`\`tierstack migrate verify --stack <stack> ${stores} ${boxNats}\`, before pulumi up: both stores equal after the final copy, and the cluster's stream caught up with the box's (sequence numbers and message counts)`],
        rollback: `from the cluster (its services reached by kubectl port-forward): \`tierstack migrate writes drain\` and \`writes freeze\` with their URLs, the brain scaled to 0, \`tierstack migrate copy-back --stack <stack> ${stores}\` (SQLite brought to PostgreSQL's rows, what was written after the switch included), \`tierstack migrate verify\` (both stores equal), then \`tierstack migrate rollback\` and pulumi up: the tunnel points back at the box, whose units start on the SQLite files; the stream stays on the cluster's node, which the box's relay reaches over the leaf node`,
      },
      {
        id: "contract",
        title: "Contract: retire the box",
        config: {},
        preconditions: ["cutover verified and its pulumi up finished", "a snapshot of the data disk taken after cut-over (kept 30 days)"],
        data: "the data disk is archived by the snapshot schedule's last snapshot; the VM, its NATS node and the disk are removed by pulumi up (gateway streams still open to the box end with it)",
        verification: ["`tierstack migrate verify --stack <stack> --ready <URL>/readyz` for each of the cluster's services: each answers 200", "pulumi up finished; the stack holds only tier-50's resources"],
        rollback: "restore the box from the snapshot (docs/runbooks/restore-data-disk.md) and migrate again",
      },
    ],
  },
  {
    from: "tier-50",
    to: "tier-100",
    summary: "one NATS node, BASIC Redis, zonal PostgreSQL → a 3-node NATS cluster, STANDARD_HA Redis, REGIONAL PostgreSQL, a dedicated inference pool and the learner pool",
    stateNotes: [
      "PostgreSQL: zonal → REGIONAL in place, no copy: Cloud SQL enables high availability on an existing instance (https://cloud.google.com/sql/docs/postgres/configure-ha); the task queue and the brain keep their databases.",
      "Redis: BASIC → STANDARD_HA is a new instance, not an in-place change: an update of a Memorystore for Redis instance may name only displayName, labels, memorySizeGb, redisConfig and replica_count, not its tier (UpdateInstanceRequest.update_mask, https://cloud.google.com/python/docs/reference/redis/latest/google.cloud.redis_v1.types.UpdateInstanceRequest). What it holds is not copied (an RDB export and import through Cloud Storage could, https://cloud.google.com/memorystore/docs/redis/import-export-overview, but the importing instance is unavailable meanwhile and overwritten): the gateway's session registry starts empty (clients re-initialize on 404) and the send-rate bucket refills.",
      `NATS: one node → three. The two are joined as leaf nodes (${tier50Leaf}); from the copy stage the cluster's TASKS stream (3 replicas) sources the tier-50 node's through $JS.${tier50Domain}.API; at cut-over it switches once caught up (sequence numbers and message counts); task-queue pods still publishing to the tier-50 node reach the cluster's stream over the leaf node, and an event sent again is a duplicate by its Nats-Msg-Id.`,
      "The learner pool (GKE Sandbox, from 0 nodes) and the dedicated inference pool are added at expand; nothing moves into them.",
    ],
    stages: [
      {
        id: "expand",
        title: "Expand: the NATS cluster, the HA Redis, the inference and learner pools beside tier-50",
        config: { "tierstack:migrationTarget": "tier-100" },
        preconditions: ["the stack is on tier-50 and not in a migration"],
        data: "",
        verification: ["pulumi up finished; the three NATS nodes report a JetStream meta leader; the new Redis answers PING over TLS with AUTH", `the leaf node connection is up: on the cluster, \`nats request '$JS.${tier50Domain}.API.INFO' ''\` answers with domain ${tier50Domain}`, "`tierstack migrate verify --ready <URL>/readyz` for each service: tier-50 still serves"],
        rollback: "tierstack migrate rollback, then pulumi up: the new resources are deleted",
      },
      {
        id: "copy",
        title: "Mirror the streams",
        config: {},
        preconditions: ["expand verified", `the cluster's nodes connected to the tier-50 node as leaf nodes since expand (the tier-50 node in JetStream domain ${tier50Domain}, the cluster in ${tier100Domain})`],
        data: `\`tierstack migrate stream mirror --stack <stack> ${tier50Nats} --replicas 3\`: the cluster's TASKS stream sources the tier-50 node's and the command waits until it has caught up`,
        verification: [`\`tierstack migrate verify --stack <stack> ${tier50Nats}\`: the cluster's stream caught up (sequence numbers and message counts)`],
        rollback: "tierstack migrate rollback: nothing was switched; delete the sourced stream on the cluster (`nats stream rm TASKS`) to start over",
      },
      {
        id: "cutover",
        title: "Cut over: the stream, then publishers and consumers to the cluster, PostgreSQL to REGIONAL",
        config: { "tierstack:tier": "tier-100" },
        preconditions: ["copy verified"],
        data: `\`tierstack migrate stream switch --stack <stack> ${tier50Nats}\` (the tier-50 node's stream gives up its subjects, the cluster's takes them), then pulumi up: the services to the cluster's NATS and the STANDARD_HA Redis, Cloud SQL availabilityType REGIONAL`,
        verification: [`\`tierstack migrate stream compare --stack <stack> ${tier50Nats}\`: every event of the tier-50 stream once and in order in the cluster's`, "`tierstack migrate verify --stack <stack> --ready <URL>/readyz` for each service on the new Redis"],
        rollback: "tierstack migrate rollback, then pulumi up: the services back to the tier-50 node and the BASIC Redis, availabilityType ZONAL; the tier-50 node stays a leaf of the cluster, so what its publishers send lands in the cluster's stream, which keeps the events published since the switch",
      },
      {
        id: "contract",
        title: "Contract: retire the single NATS node and the BASIC Redis",
        config: {},
        preconditions: ["cutover verified"],
        data: "",
        verification: ["`tierstack migrate verify --stack <stack> --ready <URL>/readyz` for each service", "pulumi up finished; the stack holds only tier-100's resources"],
        rollback: "none needed: nothing durable was on the retired resources after cut-over",
      },
    ],
  },
];

export function transitionFrom(tier: TierName): Transition | undefined {
  return transitions.find((t) => t.from === tier);
}
