/**
 * Data store rules: Cloud SQL without a public IP, Memorystore with AUTH and in-transit
 * encryption, and deletion protection on every store of durable state from tier-50 up.
 *
 * Stores of durable state: Cloud SQL instances, persistent disks, and the volumes of stateful
 * workloads (NATS JetStream). Memorystore is not one: it holds only coordination state the
 * services rebuild (sessions, send-rate buckets), and a Basic instance loses it on any restart by
 * design (https://cloud.google.com/memorystore/docs/redis/redis-tiers). The single box's data
 * disk is protected anyway (components/data-disk.ts); the rule starts at tier-50 as the issue asks.
 */
import { tierNames } from "../../catalog/tiers.js";
import { inputAt } from "../resource.js";
import type { ResourceRule } from "./types.js";

export const cloudSqlNoPublicIp: ResourceRule = {
  kind: "resource",
  name: "cloud-sql-no-public-ip",
  description: "Cloud SQL instances have no public IPv4 address (settings.ipConfiguration.ipv4Enabled = false).",
  enforcementLevel: "mandatory",
  group: "security",
  check(r) {
    if (r.type !== "gcp:sql/databaseInstance:DatabaseInstance") return [];
    return inputAt(r, "settings.ipConfiguration.ipv4Enabled") === false ? [] : ["public IPv4 is on: set settings.ipConfiguration.ipv4Enabled = false (the provider's default is true)"];
  },
};

export const redisAuthAndTls: ResourceRule = {
  kind: "resource",
  name: "redis-auth-and-tls",
  description: "Memorystore for Redis requires AUTH (authEnabled) and TLS with server authentication (transitEncryptionMode = SERVER_AUTHENTICATION).",
  enforcementLevel: "mandatory",
  group: "security",
  check(r) {
    if (r.type !== "gcp:redis/instance:Instance") return [];
    const out: string[] = [];
    if (inputAt(r, "authEnabled") !== true) out.push("AUTH is off: set authEnabled = true");
    if (inputAt(r, "transitEncryptionMode") !== "SERVER_AUTHENTICATION") out.push(`in-transit encryption is ${String(inputAt(r, "transitEncryptionMode") ?? "DISABLED")}: set transitEncryptionMode = SERVER_AUTHENTICATION`);
    return out;
  },
};

export const dataStoreDeletionProtection: ResourceRule = {
  kind: "resource",
  name: "data-store-deletion-protection",
  description: "From tier-50 up, every store of durable state is protected from deletion: Cloud SQL by deletionProtection and settings.deletionProtectionEnabled, disks by protect, stateful volumes retained.",
  enforcementLevel: "mandatory",
  group: "security",
  check(r, ctx) {
    if (tierNames.indexOf(ctx.config.tier.name) < tierNames.indexOf("tier-50")) return [];
    switch (r.type) {
      case "gcp:sql/databaseInstance:DatabaseInstance": {
        const out: string[] = [];
        if (inputAt(r, "deletionProtection") === false && !r.options.protect) out.push("deletionProtection = false: Pulumi may delete the instance");
        if (inputAt(r, "settings.deletionProtectionEnabled") !== true && !r.options.protect) out.push("settings.deletionProtectionEnabled is not true: the API may delete the instance");
        return out;
      }
      case "gcp:compute/disk:Disk":
        return r.options.protect ? [] : ["the disk is not protected: add the protect resource option"];
      case "kubernetes:apps/v1:StatefulSet": {
        const claims = inputAt(r, "spec.volumeClaimTemplates");
        if (!Array.isArray(claims) || claims.length === 0) return [];
        return inputAt(r, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted") === "Delete" && !r.options.protect
          ? ["its volumes are deleted with it (persistentVolumeClaimRetentionPolicy.whenDeleted = Delete): use Retain"]
          : [];
      }
      default:
        return [];
    }
  },
};
