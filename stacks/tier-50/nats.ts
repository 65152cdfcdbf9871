/**
 * tier-50's NATS node during a migration (catalog/nats.ts natsLeafRole). Outside one the node
 * runs from flags (stacks/tier-50.ts); during expand, copy and cut-over it reads a configuration
 * rendered by components/nats/server-config.ts instead. The text reaches the pod in the
 * environment (`NATS_CONFIG`, written to an emptyDir before nats-server starts), not in a
 * ConfigMap: the migration then adds no Kubernetes object that contract would have to remove,
 * only the node's pod template changes (the configuration holds no secret):
 * - single-box → tier-50, the target: domain "tier50" and a leaf node remote to the box's NATS
 *   (the box's internal IP, handed over by the single-box composition: stacks/migration.ts);
 * - tier-50 → tier-100, the old side: domain "tier50" and a leaf node listener, which tier-100's
 *   cluster connects to through this node's Service (`tier50NatsLeafUrl`).
 * Either way the node is the same as with the flags otherwise: one standalone server, clients on
 * 4222, monitoring on 8222, the store on its volume.
 */
import * as pulumi from "@pulumi/pulumi";
import { workloadPorts } from "../../catalog/flows.js";
import type { NatsLeafRole } from "../../catalog/nats.js";
import { leafUrl, renderNatsServerConfig, type NatsServerConfig } from "../../components/nats/server-config.js";
import { namespaceName, natsVolume } from "./shape.js";

/** The emptyDir the configuration is written to (the root filesystem is read-only). */
export const natsConfigDir = "/run/nats-config";
export const natsConfigFile = "nats.conf";
export const natsConfigEnv = "NATS_CONFIG";

/** The address tier-100's cluster reaches this node's leaf node listener at (its Service in the shared cluster). */
export function tier50NatsLeafUrl(port: number): string {
  return leafUrl(`nats.${namespaceName}.svc.cluster.local`, port);
}

/** The node's configuration; `oldHost` is the old side's leaf host when this node is the target. */
export function tier50NatsServerConfig(role: NatsLeafRole, oldHost?: string): NatsServerConfig {
  if (role.side === "target" && !oldHost) throw new Error("tier-50 NATS: the target of a migration needs the old side's leaf host");
  return {
    serverName: "tier50-nats",
    clusterName: "tier50",
    standalone: true,
    host: "0.0.0.0",
    clientPort: workloadPorts.nats.serve as number,
    clusterPort: workloadPorts.nats.peer as number,
    monitorPort: workloadPorts.nats.health as number,
    routes: [],
    jetStream: { storeDir: "/data", maxMemoryStoreBytes: 256 * 1024 * 1024, maxFileStoreBytes: Math.floor(natsVolume.sizeGi * 0.9 * 1024 * 1024 * 1024), domain: role.domain },
    lameDuck: { durationSeconds: 30, gracePeriodSeconds: 10 },
    leafNodes: role.side === "old" ? { listen: { host: "0.0.0.0", port: role.port } } : { remotes: [{ urls: [leafUrl(oldHost as string, role.port)] }] },
  };
}

/** What the node's ServiceDeployment gets during a migration: the command, the configuration's text, its directory and (old side) the leaf port. */
export function tier50NatsMigrationArgs(role: NatsLeafRole, oldHost: pulumi.Input<string> | undefined) {
  const text = role.side === "target"
    ? pulumi.output(oldHost).apply((h) => renderNatsServerConfig(tier50NatsServerConfig(role, h)))
    : renderNatsServerConfig(tier50NatsServerConfig(role));
  const file = `${natsConfigDir}/${natsConfigFile}`;
  return {
    command: ["/bin/sh", "-c", `printf '%s' "$${natsConfigEnv}" > ${file} && exec nats-server --config ${file}`],
    env: { [natsConfigEnv]: text },
    writablePaths: [natsConfigDir],
    extraPorts: role.side === "old" ? [{ name: "leafnodes", port: role.port }] : [],
  };
}
