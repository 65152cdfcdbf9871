/**
 * What the program declares while a stack migrates between tiers (tierstack:migrationTarget and
 * tierstack:migrationStage set, migrate/transitions.ts): the old tier and the target tier side by
 * side, built by their own compositions, unchanged. Only the way they are called differs, through
 * a Pulumi transformation on each composition's root:
 *
 * - expand, copy: the old tier is declared in full and owns every resource the two tiers share
 *   (the same type and name under the same components: the network, the edge, the secrets;
 *   tier-50 → tier-100 also the cluster, Cloud SQL, Redis and the workloads). The target tier
 *   declares its new resources; each shared one is a reference (`urn` option: read from the
 *   resource the old tier registered, never registered twice), so nothing exists twice. The
 *   referring composition is built once the other's registrations have their URNs.
 * - cutover: the target tier is declared in full and takes the shared resources over (the tunnel's
 *   origins, the secrets' values become the target's); the old tier's own resources (the box, its
 *   data disk) stay, and its shared ones are references to the target's.
 * - contract: the target tier alone; the old tier's own resources go.
 *
 * Identity: a resource's URN carries its composition's root type (…Tier50$…::name), so every
 * resource declared during a migration also carries an alias to its URN under the other tier's
 * root; a shared resource moving from the old composition to the target's is renamed by the
 * engine, not replaced, and so is a new resource created under a shared component. The target's
 * resources registered during expand have the URNs the target tier has built alone (or, under a
 * shared component, an alias to them).
 *
 * Data stores (the data disk, Cloud SQL instances and databases, Memorystore) of the old tier are
 * `protect: true` during expand, copy and cutover (no `pulumi up` of the migration, a rollback
 * included, can delete them) and `retainOnDelete: true` from cut-over on, so contract removes
 * them from the stack without deleting them (archived: the disk is kept with its snapshots until
 * deleted by hand). Contract therefore needs `pulumi state unprotect` of the URNs the cut-over
 * exports as `migration.releaseAtContract`. The target's data stores are protected from cut-over
 * on (they hold the data then); during expand and copy they are not, so rolling back the expand
 * deletes them.
 *
 * Config: the per-tier keys (machineType, gpus and the size keys) belong to the tier
 * tierstack:tier names (the old tier until cut-over, the target from cut-over on, as the stage
 * configs set it); the other tier is built with its catalogue defaults for them.
 *
 * NATS: during expand, copy and cutover the old tier's NATS runs JetStream in its domain with a
 * leaf node listener and the target's in its own domain with a leaf node remote to the old
 * (catalog/nats.ts natsLeafRole; migrate/nats.ts moves the streams over it). The old side's
 * address that only the old composition knows (the box's internal IP) is handed to the target's
 * through `publishNatsLeafHost` / `natsLeafHost`, whichever is built first.
 */
import * as pulumi from "@pulumi/pulumi";
import { isStageId, type StageId } from "../catalog/migration.js";
import { natsLeafRole, type NatsLeafRole } from "../catalog/nats.js";
import { sizeKeys, tierNames, type TierName } from "../catalog/tiers.js";
import { parseStackConfig, type RawConfig, type StackConfig } from "../config/config.js";

/** The composition root's type per tier (the first segment of every URN's type chain). */
export const rootTypes: Record<TierName, string> = {
  "single-box": "tierstack:tier:SingleBox",
  "tier-50": "tierstack:tier:Tier50",
  "tier-100": "tierstack:tier:Tier100",
};

/** The resource types that hold data: protected while a migration runs. */
export const dataStoreTypes = ["gcp:compute/disk:Disk", "gcp:sql/databaseInstance:DatabaseInstance", "gcp:sql/database:Database", "gcp:redis/instance:Instance"] as const;

export interface MigrationPhase {
  from: TierName;
  to: TierName;
  stage: StageId;
}

/** The migration a stack's config is in (undefined when none): the target's predecessor is the old tier. */
export function migrationPhase(raw: RawConfig): MigrationPhase | undefined {
  const to = raw["tierstack:migrationTarget"];
  const stage = raw["tierstack:migrationStage"];
  if (!to || !stage || !isStageId(stage)) return undefined;
  const i = tierNames.indexOf(to as TierName);
  if (i < 1) throw new Error(`tierstack:migrationTarget = ${JSON.stringify(to)}: no tier migrates to it`);
  return { from: tierNames[i - 1] as TierName, to: to as TierName, stage };
}

/** The config of `tier` during the migration: the stack's own for the tier tierstack:tier names, catalogue defaults for the other's per-tier keys. */
export function tierConfig(raw: RawConfig, stack: string, tier: TierName): StackConfig {
  if (raw["tierstack:tier"] === tier) return parseStackConfig(raw, stack);
  const own: RawConfig = { ...raw, "tierstack:tier": tier };
  for (const k of ["machineType", "gpus", ...sizeKeys]) delete own[`tierstack:${k}`];
  return parseStackConfig(own, stack);
}

/** The URN the engine gives a resource of `chain` (its qualified type) named `name`. */
export function urnOf(chain: string, name: string): string {
  return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${chain}::${name}`;
}

/** A chain with its root type replaced by another tier's. */
function swapRoot(chain: string, to: TierName): string {
  const i = chain.indexOf("$");
  return i < 0 ? rootTypes[to] : `${rootTypes[to]}${chain.slice(i)}`;
}

export interface CompositionPlan {
  tier: TierName;
  /** The other tier of the migration (aliases point at its URNs). */
  other: TierName;
  /** URNs the other composition registered earlier in this program: the same resources here are references to them. */
  referTo?: ReadonlySet<string>;
  /** Data stores get `protect: true`. */
  protect: boolean;
  /** Data stores get `retainOnDelete: true`. */
  retain: boolean;
}

/** What one composition registered, referenced and protected while it was built. */
export interface CompositionRecord {
  registered: Set<string>;
  referenced: Set<string>;
  /** URNs of the data stores it registered with protect. */
  protectedStores: string[];
  /** The resources it registered: the other composition is built once all have their URNs. */
  resources: pulumi.Resource[];
}

/**
 * The transformation a composition's root is built with during a migration: every resource gets
 * the alias of its URN under the other tier's root; a resource the other composition already
 * registered becomes a reference to it; data stores are protected (and retained) as planned.
 */
export function migrationTransformation(plan: CompositionPlan, record: CompositionRecord): pulumi.ResourceTransformation {
  const chains = new WeakMap<pulumi.Resource, string>();
  return (args) => {
    const parentChain = args.opts.parent ? chains.get(args.opts.parent) : undefined;
    const chain = parentChain ? `${parentChain}$${args.type}` : args.type;
    const own = urnOf(chain, args.name);
    if (!parentChain) {
      // The composition's root: its own, never shared.
      chains.set(args.resource, chain);
      record.registered.add(own);
      record.resources.push(args.resource);
      return undefined;
    }
    const counterpart = urnOf(swapRoot(chain, plan.other), args.name);
    if (plan.referTo?.has(counterpart)) {
      // Declared by the other composition: read its state, so children and outputs keep working.
      chains.set(args.resource, swapRoot(chain, plan.other));
      record.referenced.add(counterpart);
      return { props: args.props, opts: { ...args.opts, urn: counterpart } };
    }
    chains.set(args.resource, chain);
    record.registered.add(own);
    record.resources.push(args.resource);
    // Its URN under the other root, and (under a shared component, registered beneath the other
    // composition's chain) under its own root: the URN it has built alone.
    const others = [...new Set([counterpart, urnOf(swapRoot(chain, plan.tier), args.name)])].filter((u) => u !== own);
    const opts: pulumi.ResourceOptions = { ...args.opts, aliases: [...(args.opts.aliases ?? []), ...others] };
    if ((dataStoreTypes as readonly string[]).includes(args.type)) {
      if (plan.protect) {
        opts.protect = true;
        record.protectedStores.push(own);
      }
      if (plan.retain) opts.retainOnDelete = true;
    }
    return { props: args.props, opts };
  };
}

export const emptyRecord = (): CompositionRecord => ({ registered: new Set(), referenced: new Set(), protectedStores: [], resources: [] });

/**
 * Resolves once every resource of a composition is registered (its URN known): a reference to a
 * resource is read from the engine, which knows it only after its registration.
 */
export function registered(record: CompositionRecord): Promise<void> {
  const awaited = record.resources.filter((r) => !waitingForOld.has(r));
  return new Promise((resolve) => pulumi.all(awaited.map((r) => r.urn)).apply(() => resolve()));
}

/** Resources of the target whose inputs the old composition gives (they register once it is built). */
const waitingForOld = new WeakSet<pulumi.Resource>();

/**
 * Marks a target resource whose inputs come from the old composition (the box's leaf host):
 * `registered` does not wait for it, or cut-over (the target built first) would wait forever.
 * Nothing of the old tier refers to such a resource (none is shared).
 */
export function awaitsOldComposition(resource: pulumi.Resource): void {
  waitingForOld.add(resource);
}

/** The role of `tier`'s NATS in the stack's migration (undefined when it is not migrating, or at contract). */
export function natsLeafRoleNow(tier: TierName): NatsLeafRole | undefined {
  return natsLeafRole(tier, migrationPhase(pulumi.runtime.allConfig()));
}

interface LeafHostSlot {
  host: Promise<pulumi.Output<string>>;
  resolve: (host: pulumi.Output<string>) => void;
}
/** One slot per stack and program run: the publisher fills it, the reader takes it; whichever comes second removes it. */
const leafHosts = new Map<string, LeafHostSlot & { taken: boolean; filled: boolean }>();
function leafHostSlot(stack: string) {
  let slot = leafHosts.get(stack);
  if (!slot) {
    let resolve: (host: pulumi.Output<string>) => void = () => undefined;
    const host = new Promise<pulumi.Output<string>>((r) => (resolve = r));
    slot = { host, resolve, taken: false, filled: false };
    leafHosts.set(stack, slot);
  }
  return slot;
}

/** The old composition's NATS leaf host (e.g. the box's internal IP), for the target's leaf remote. */
export function publishNatsLeafHost(stack: string, host: pulumi.Output<string>): void {
  const slot = leafHostSlot(stack);
  slot.resolve(host);
  slot.filled = true;
  if (slot.taken) leafHosts.delete(stack);
}

/** The host `publishNatsLeafHost` gives (or will give, later in this run: the old tier is built after the target's at cut-over). */
export function natsLeafHost(stack: string): pulumi.Output<string> {
  const slot = leafHostSlot(stack);
  slot.taken = true;
  if (slot.filled) leafHosts.delete(stack);
  return pulumi.output(slot.host).apply((h) => h);
}
