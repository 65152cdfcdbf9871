/**
 * No firewall rule lets the whole internet (0.0.0.0/0 or ::/0) reach SSH or a database port.
 * A rule without source ranges, tags or service accounts applies to every source
 * (https://cloud.google.com/firewall/docs/firewalls#sources-for-rules), so it counts as open.
 */
import { inputAt } from "../resource.js";
import type { ResourceRule } from "./types.js";

/** Ports that must never be open to the internet: SSH and the data stores the platform (or anyone) runs. */
export const guardedPorts: readonly { port: number; what: string }[] = [
  { port: 22, what: "SSH" },
  { port: 3389, what: "RDP" },
  { port: 5432, what: "PostgreSQL" },
  { port: 3306, what: "MySQL" },
  { port: 1433, what: "SQL Server" },
  { port: 6379, what: "Redis" },
  { port: 6378, what: "Redis over TLS (Memorystore)" },
  { port: 27017, what: "MongoDB" },
  { port: 4222, what: "NATS" },
];

const anywhere = new Set(["0.0.0.0/0", "::/0"]);

function covers(spec: string, port: number): boolean {
  const m = /^(\d+)(?:-(\d+))?$/.exec(spec.trim());
  if (!m) return false;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return port >= lo && port <= hi;
}

export const noOpenIngress: ResourceRule = {
  kind: "resource",
  name: "no-open-ssh-or-database-ingress",
  description: "No firewall rule admits 0.0.0.0/0 (or ::/0) to SSH or a database port.",
  enforcementLevel: "mandatory",
  group: "security",
  check(r) {
    if (r.type !== "gcp:compute/firewall:Firewall") return [];
    if (inputAt(r, "disabled") === true) return [];
    if ((inputAt(r, "direction") ?? "INGRESS") !== "INGRESS") return [];
    const ranges = [...(Array.isArray(inputAt(r, "sourceRanges")) ? (inputAt(r, "sourceRanges") as unknown[]) : [])].map(String);
    const scoped = ranges.length > 0 || Array.isArray(inputAt(r, "sourceTags")) || Array.isArray(inputAt(r, "sourceServiceAccounts"));
    const open = ranges.filter((x) => anywhere.has(x));
    if (scoped && open.length === 0) return [];
    const from = open.length > 0 ? open.join(", ") : "every source (no source ranges, tags or service accounts)";
    const allows = Array.isArray(inputAt(r, "allows")) ? (inputAt(r, "allows") as Record<string, unknown>[]) : [];
    const hits = new Set<string>();
    for (const a of allows) {
      const protocol = String(a.protocol ?? "").toLowerCase();
      if (!["tcp", "6", "all"].includes(protocol)) continue;
      const ports = Array.isArray(a.ports) ? a.ports.map(String) : [];
      for (const g of guardedPorts) if (ports.length === 0 || ports.some((p) => covers(p, g.port))) hits.add(`${g.port} (${g.what})`);
    }
    return hits.size > 0 ? [`ingress from ${from} to ${[...hits].join(", ")}`] : [];
  },
};
