/**
 * The readable plan: one row per resource (type, name, the inputs that matter), then the
 * stack outputs, each resource's monthly cost with the totals, and the policy results. Which
 * inputs matter is per resource type; anything else shows in --json.
 */
import { costCategories, formatUsd } from "@tierstack/cost";
import type { CostReport, PolicyReport } from "../policy/report.js";
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
    ...(plan.cost ? renderCost(plan.cost) : []),
    ...(plan.policy ? renderPolicy(plan.policy) : []),
  ];
  return out.join("\n");
}

const range = (min: number, max: number) => (Math.abs(max - min) < 0.005 ? formatUsd(max) : `${formatUsd(min)} - ${formatUsd(max)}`);
const tokens = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n.toLocaleString("en-US"));

/** Each priced resource's month, the free ones counted, the totals, the LLM projection beside them. */
export function renderCost(c: CostReport): string[] {
  const priced = c.infra.resources.filter((r) => r.category !== "free").sort((a, b) => b.maxUsd - a.maxUsd || a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
  const rows = priced.map((r) => [shortType(r.type), r.name, range(r.minUsd, r.maxUsd), `${r.basis}${r.unverified ? " [unverified]" : ""}`] as const);
  const w0 = Math.max(4, ...rows.map((r) => r[0].length));
  const w1 = Math.max(4, ...rows.map((r) => r[1].length));
  const w2 = Math.max(9, ...rows.map((r) => r[2].length));
  // Indented, so the inventory's rows stay the only lines that start with a type.
  const line = (a: string, b: string, c2: string, d: string) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c2.padEnd(w2)}  ${d}`.trimEnd();
  const free = c.infra.resources.filter((r) => r.category === "free");
  const usage = c.infra.resources.filter((r) => r.usage);
  const share = (n: number) => `${(n * 100).toFixed(0)}%`;
  return [
    `cost (USD a month, ${c.region}, 730 h; a range where nodes autoscale or a billing-account allowance may apply):`,
    line("TYPE", "NAME", "USD/MONTH", "BASIS"),
    ...rows.map((r) => line(r[0], r[1], r[2], r[3])),
    `free on purpose: ${free.length} resources (${[...new Set(free.map((r) => shortType(r.type)))].length} types: IAM, networks, firewall rules, Kubernetes objects, generated values, components; --json gives each reason)`,
    `not priced: ${c.infra.unpriced.length === 0 ? "none" : c.infra.unpriced.map((u) => `${shortType(u.type)} ${u.name} (${u.reason})`).join("; ")}`,
    `usage the program does not declare (not in the figures): ${usage.length === 0 ? "none" : [...new Set(usage.map((r) => `${shortType(r.type)}: ${r.usage ?? ""}`))].join("; ")}`,
    `infrastructure: ${range(c.infra.minUsd, c.infra.maxUsd)} (${costCategories.filter((k) => c.infra.byCategory[k].maxUsd > 0).map((k) => `${k} ${range(c.infra.byCategory[k].minUsd, c.infra.byCategory[k].maxUsd)}`).join(", ")}); budget ${formatUsd(c.budget.usdPerMonth)} (${c.budget.from === "config" ? "tierstack:budgetUsdPerMonth" : `${c.tier}'s default, catalog/budgets.ts`})`,
    `LLM: ${formatUsd(c.llm.usdPerMonth)} (agents ${tokens(c.llm.agentsTokensPerDay)} tokens a day, learners ${tokens(c.llm.learnerTokensPerDay)}; ${c.gpus.max} GPU(s) declared)`,
    ...c.llm.lines.map((l) => `  ${l.label}: ${tokens(l.tokensPerDay)} tokens a day on ${l.model} = ${formatUsd(l.usdPerMonth)}${l.unverified ? " [unverified]" : ""}`),
    `total: ${range(c.totalMinUsd, c.totalMaxUsd)}; infrastructure ${share(c.infraShare)} of it (advisory above ${share(c.infraShareMax)}, tierstack:infraShareMax)`,
    "[unverified]: a price from a secondary source (--json lists every source and date)",
    "",
  ];
}

/** Every rule with PASS or its violations, mandatory first. */
export function renderPolicy(p: PolicyReport): string[] {
  const order = (l: string) => (l === "mandatory" ? 0 : 1);
  const out = [`policies: ${p.mandatoryViolations} mandatory and ${p.advisoryViolations} advisory violations (policy/, also run by pulumi preview --policy-pack policy)`];
  for (const r of [...p.rules].sort((a, b) => order(a.enforcementLevel) - order(b.enforcementLevel))) {
    const vs = p.violations.filter((v) => v.policy === r.name);
    const tag = r.passed ? "PASS" : r.enforcementLevel === "mandatory" ? "FAIL" : "WARN";
    out.push(`  ${tag}  ${r.name} (${r.enforcementLevel}, ${r.group})`);
    for (const v of vs) out.push(`          ${v.urn ? `${v.urn.split("::").pop() ?? ""}: ` : ""}${v.message}`);
  }
  out.push("");
  return out;
}
