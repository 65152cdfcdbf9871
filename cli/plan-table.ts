/**
 * The readable plan: one row per resource (type, name, the inputs that matter), then the
 * stack outputs. Which inputs matter is per resource type; anything else shows in --json.
 */
import type { PlanResult } from "./plan.js";

type Picker = (inputs: Record<string, unknown>) => Record<string, unknown>;

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const pick = (...paths: string[]): Picker => (inputs) => Object.fromEntries(paths.map((p) => [p, get(inputs, p)]));

const pickers: Record<string, Picker> = {
  "gcp:compute/network:Network": pick("autoCreateSubnetworks", "routingMode"),
  "gcp:compute/subnetwork:Subnetwork": pick("region", "ipCidrRange", "privateIpGoogleAccess"),
  "gcp:compute/firewall:Firewall": (i) => ({ direction: i.direction, allow: JSON.stringify(i.allows), sourceRanges: i.sourceRanges, targetTags: i.targetTags }),
  "gcp:compute/router:Router": pick("region"),
  "gcp:compute/routerNat:RouterNat": pick("region", "natIpAllocateOption", "sourceSubnetworkIpRangesToNat"),
  "gcp:serviceaccount/account:Account": pick("accountId", "displayName"),
  "gcp:projects/iAMMember:IAMMember": pick("role", "member"),
  "gcp:secretmanager/secret:Secret": pick("secretId"),
  "gcp:secretmanager/secretVersion:SecretVersion": pick("secret", "secretData"),
  "gcp:secretmanager/secretIamMember:SecretIamMember": pick("secretId", "role", "member"),
  "gcp:compute/disk:Disk": pick("zone", "size", "type"),
  "gcp:compute/resourcePolicy:ResourcePolicy": (i) => ({
    daily: get(i, "snapshotSchedulePolicy.schedule.dailySchedule.startTime"),
    retentionDays: get(i, "snapshotSchedulePolicy.retentionPolicy.maxRetentionDays"),
  }),
  "gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment": pick("disk", "name", "zone"),
  "gcp:compute/instance:Instance": (i) => {
    const nics = (i.networkInterfaces as Record<string, unknown>[] | undefined) ?? [];
    const metadata = (i.metadata as Record<string, unknown> | undefined) ?? {};
    const userData = typeof metadata["user-data"] === "string" ? metadata["user-data"] : "";
    return {
      machineType: i.machineType,
      zone: i.zone,
      externalIp: nics.some((n) => Array.isArray(n.accessConfigs) && n.accessConfigs.length > 0) ? "yes" : "none",
      onHostMaintenance: get(i, "scheduling.onHostMaintenance"),
      shielded: get(i, "shieldedInstanceConfig.enableSecureBoot"),
      osLogin: metadata["enable-oslogin"],
      serviceAccount: get(i, "serviceAccount.email"),
      userData: `${userData.split("\n").length} lines #cloud-config`,
    };
  },
  "random:index/randomPassword:RandomPassword": pick("length", "special"),
  "random:index/randomBytes:RandomBytes": pick("length"),
  "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": pick("name", "configSrc", "tunnelSecret"),
  "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig": (i) => {
    const ingresses = (get(i, "config.ingresses") as Record<string, unknown>[] | undefined) ?? [];
    return { ingresses: ingresses.map((r) => `${String(r.hostname ?? "*")}${r.path ? ` ${String(r.path)}` : ""} -> ${String(r.service)}`).join(" | ") };
  },
  "cloudflare:index/dnsRecord:DnsRecord": pick("name", "type", "content", "proxied", "ttl"),
  "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication": (i) => ({
    type: i.type,
    destinations: ((i.destinations as Record<string, unknown>[] | undefined) ?? []).map((d) => d.uri),
    policies: ((i.policies as Record<string, unknown>[] | undefined) ?? []).map((p) => `${String(p.id)}@${String(p.precedence)}`),
  }),
  "cloudflare:index/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken": pick("name", "duration"),
  "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy": (i) => ({
    decision: i.decision,
    include: ((i.includes as Record<string, unknown>[] | undefined) ?? []).map((x) => JSON.stringify(x)),
  }),
};

function show(v: unknown): string {
  if (v === undefined) return "-";
  if (Array.isArray(v)) return v.map(show).join(",");
  if (v !== null && typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function summarizeInputs(type: string, inputs: Record<string, unknown>): string {
  const picked = (pickers[type] ?? (() => ({})))(inputs);
  return Object.entries(picked)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join("  ");
}

/** "gcp:compute/instance:Instance" → "gcp:compute:Instance"; "cloudflare:index/x:X" → "cloudflare:X". */
export function shortType(token: string): string {
  const m = /^([^:]+):([^/:]+)(?:\/[^:]*)?:(.+)$/.exec(token);
  if (!m) return token;
  return m[2] === "index" ? `${m[1]}:${m[3]}` : `${m[1]}:${m[2]}:${m[3]}`;
}

export function renderTable(plan: PlanResult): string {
  // Components first, then by type and name: a stable order whatever the registration order.
  const sorted = [...plan.resources].sort((a, b) => {
    const ca = a.type.startsWith("tierstack:") ? 0 : 1;
    const cb = b.type.startsWith("tierstack:") ? 0 : 1;
    return ca - cb || a.type.localeCompare(b.type) || a.name.localeCompare(b.name);
  });
  const rows = sorted.map((r) => [shortType(r.type), r.name, summarizeInputs(r.type, r.inputs)] as const);
  const w0 = Math.max(4, ...rows.map((r) => r[0].length));
  const w1 = Math.max(4, ...rows.map((r) => r[1].length));
  const line = (a: string, b: string, c: string) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`.trimEnd();
  const out = [
    `stack ${plan.stack} (tier ${plan.tier}): ${plan.resources.length} resources`,
    "",
    line("TYPE", "NAME", "INPUTS THAT MATTER"),
    ...rows.map((r) => line(r[0], r[1], r[2])),
    "",
    "outputs:",
    ...Object.entries(plan.outputs).map(([k, v]) => `  ${k}: ${show(v)}`),
    "",
  ];
  return out.join("\n");
}
