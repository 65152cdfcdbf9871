/**
 * The single-box stack under Pulumi's mocks: what it declares, the network and VM invariants,
 * secrets handling (sentinels), the data disk and the edge. One program render for the file.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runPlan, SECRET, type PlanRun } from "../cli/plan.js";
import { iapRange } from "../components/network.js";
import { catchAll } from "../components/tunnel.js";
import { platformSecrets } from "../catalog/secrets.js";
import { services, serviceNames } from "../catalog/services.js";
import { allSecretMarkers, builtAs, configSecretValues, one, ofType, plainStrings, reveal, secretStrings, SENTINEL } from "./helpers.js";

let run: PlanRun;

beforeAll(async () => {
  run = await runPlan("single-box", { generatedValue: SENTINEL, overrides: configSecretValues });
});

function containsSecret(s: string): boolean {
  return allSecretMarkers.some((m) => s.includes(m));
}

describe("single-box inventory", () => {
  it("declares the expected resources, by type", () => {
    const count = (suffix: string) => ofType(run, suffix).length;
    expect(count(":Instance")).toBe(1);
    expect(count(":Network")).toBe(1);
    expect(count(":Subnetwork")).toBe(1);
    expect(count(":Firewall")).toBe(1);
    expect(count(":Router")).toBe(1);
    expect(count(":RouterNat")).toBe(1);
    expect(count(":Disk")).toBe(1);
    expect(count(":ResourcePolicy")).toBe(1);
    expect(count(":DiskResourcePolicyAttachment")).toBe(1);
    expect(count("serviceaccount/account:Account")).toBe(1);
    expect(count(":IAMMember")).toBe(2);
    expect(count("secretmanager/secret:Secret")).toBe(platformSecrets.length);
    expect(count(":SecretVersion")).toBe(platformSecrets.length);
    expect(count(":SecretIamMember")).toBe(platformSecrets.filter((s) => s.readByBox !== false).length);
    expect(count(":ZeroTrustTunnelCloudflared")).toBe(1);
    expect(count(":ZeroTrustTunnelCloudflaredConfig")).toBe(1);
    expect(count(":ZeroTrustAccessApplication")).toBe(2);
    expect(count(":ZeroTrustAccessPolicy")).toBe(2);
    expect(count(":ZeroTrustAccessServiceToken")).toBe(1);
    expect(count(":DnsRecord")).toBe(4);
    expect(count(":RandomPassword")).toBe(platformSecrets.filter((s) => s.source.kind === "generated").length);
    expect(count(":RandomBytes")).toBe(1);
  });

  it("exports hostnames, VM name, data disk and tunnel id", () => {
    expect(run.outputs.vmName).toBe("single-box-platform-vm");
    expect(run.outputs.dataDisk).toBe("single-box-data-disk");
    expect(run.outputs.tunnelId).toBe("single-box-edge-tunnel-id");
    expect(run.outputs.publicHostnames).toEqual(["brain.example.com"]);
    expect(run.outputs.privateHostnames).toEqual(["task-queue.example.com", "mcp-gateway.example.com", "brain-admin.example.com"]);
  });
});

describe("network and VM invariants", () => {
  it("allows ingress only for SSH from the IAP range, never from 0.0.0.0/0", () => {
    for (const fw of ofType(run, ":Firewall")) {
      expect(fw.inputs.direction).toBe("INGRESS");
      expect(fw.inputs.sourceRanges).toEqual([iapRange]);
      expect(fw.inputs.allows).toEqual([{ protocol: "tcp", ports: ["22"] }]);
    }
    const everyRange = ofType(run, ":Firewall").flatMap((fw) => (fw.inputs.sourceRanges as string[]) ?? []);
    expect(everyRange).not.toContain("0.0.0.0/0");
  });

  it("gives the VM no external IP and sends egress through Cloud NAT on its subnet", () => {
    const vm = one(run, ":Instance");
    const nics = vm.inputs.networkInterfaces as Record<string, unknown>[];
    expect(nics).toHaveLength(1);
    expect(nics[0]?.accessConfigs ?? []).toEqual([]);
    expect(nics[0]?.ipv6AccessConfigs ?? []).toEqual([]);
    const nat = one(run, ":RouterNat");
    expect(nat.inputs.sourceSubnetworkIpRangesToNat).toBe("LIST_OF_SUBNETWORKS");
    expect((nat.inputs.subnetworks as { name: string }[])[0]?.name).toBe(nics[0]?.subnetwork);
  });

  it("runs the VM shielded, with OS Login, as its own service account", () => {
    const vm = one(run, ":Instance");
    expect(vm.inputs.shieldedInstanceConfig).toEqual({ enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true });
    const metadata = vm.inputs.metadata as Record<string, string>;
    expect(metadata["enable-oslogin"]).toBe("TRUE");
    const sa = one(run, "serviceaccount/account:Account");
    const email = (vm.inputs.serviceAccount as { email: string }).email;
    expect(email).toBe(`${String(sa.inputs.accountId)}@tierstack-example.iam.gserviceaccount.com`);
    expect(email).not.toMatch(/compute@developer/);
    expect((vm.inputs.scheduling as { onHostMaintenance: string }).onHostMaintenance).toBe("MIGRATE");
  });

  it("grants the service account log and metric writing at project level, and Secret Manager access only per platform secret", () => {
    expect(ofType(run, ":IAMMember").map((m) => m.inputs.role).sort()).toEqual(["roles/logging.logWriter", "roles/monitoring.metricWriter"]);
    const secretIds = new Set(ofType(run, "secretmanager/secret:Secret").map((s) => `${s.name}-id`));
    const bindings = ofType(run, ":SecretIamMember");
    for (const b of bindings) {
      expect(b.inputs.role).toBe("roles/secretmanager.secretAccessor");
      expect(secretIds.has(String(b.inputs.secretId))).toBe(true);
      expect(b.inputs.member).toBe(`serviceAccount:${(one(run, ":Instance").inputs.serviceAccount as { email: string }).email}`);
    }
    const boxReads = platformSecrets.filter((s) => s.readByBox !== false).map((s) => `single-box-secrets-${s.name}-id`);
    expect(bindings.map((b) => b.inputs.secretId).sort()).toEqual(boxReads.sort());
    // The agents' Access credentials are for machines elsewhere: the box cannot read them.
    for (const b of bindings) expect(String(b.inputs.secretId)).not.toMatch(/agents-access/);
  });
});

describe("secrets never leak", () => {
  it("the sentinel and config secrets reach Secret Manager, secret-marked", () => {
    const versions = ofType(run, ":SecretVersion");
    const stored = versions.flatMap((v) => secretStrings(v.inputs.secretData));
    expect(stored).toContain(`sk-${SENTINEL}`);
    expect(stored).toContain(SENTINEL);
    for (const v of Object.values(configSecretValues)) expect(stored).toContain(v);
    // The tunnel token is derived from the (sentinel) tunnel secret and stored base64-encoded.
    const token = stored.find((s) => {
      try {
        return (JSON.parse(Buffer.from(s, "base64").toString()) as { s?: string }).s === SENTINEL;
      } catch {
        return false;
      }
    });
    expect(token).toBeDefined();
  });

  it("no resource input carries a secret outside a secret marker", () => {
    const leaks = run.raw.flatMap((r) => plainStrings(r.inputs, `${r.type}::${r.name}`)).filter((s) => containsSecret(s.value));
    expect(leaks).toEqual([]);
    expect(run.leaks).toEqual([]);
  });

  it("no value that is secret anywhere (derived ones included) appears in plain inputs or outputs", () => {
    const secrets = [...new Set(run.raw.flatMap((r) => secretStrings(r.inputs)))].filter((s) => s.length >= 8);
    // Distinct values: 2 database URLs, the sentinel and sk-<sentinel> (all generated ones and the
    // Access client secret share the sentinel), 5 config secrets, the derived tunnel token and the
    // Access client id.
    expect(secrets).toContain("single-box-access-agents-token.access");
    expect(secrets.length).toBe(2 + 2 + Object.keys(configSecretValues).length + 1 + 1);
    const plain = [
      ...run.raw.flatMap((r) => plainStrings(r.inputs, `${r.type}::${r.name}`)),
      ...plainStrings(run.outputs, "outputs"),
    ];
    const leaks = plain.filter((p) => secrets.some((s) => p.value.includes(s))).map((p) => p.path);
    expect(leaks).toEqual([]);
  });

  it("no plain stack output and no plan JSON contains a secret", () => {
    const json = JSON.stringify({ resources: run.resources, outputs: run.outputs });
    expect(containsSecret(json)).toBe(false);
    expect(json).toContain(SECRET);
    expect(containsSecret(JSON.stringify(run.outputs))).toBe(false);
  });

  it("the boot configuration is plain, in metadata, and holds secret ids only", () => {
    const metadata = one(run, ":Instance").inputs.metadata as Record<string, unknown>;
    const userData = metadata["user-data"];
    expect(typeof userData).toBe("string");
    expect(containsSecret(userData as string)).toBe(false);
    expect(userData).toBe(builtAs(run, "single-box").root.userData);
    for (const s of platformSecrets) {
      if (s.readByBox === false) expect(userData).not.toContain(`tierstack-single-box-${s.name}`);
      else expect(userData).toContain(`tierstack-single-box-${s.name}`);
    }
    for (const [key, value] of Object.entries(metadata)) {
      expect(containsSecret(String(reveal(value))), key).toBe(false);
    }
  });
});

describe("data disk", () => {
  it("is its own disk, attached by device name, protected", () => {
    const disk = one(run, ":Disk");
    expect(disk.inputs.size).toBe(100);
    const vm = one(run, ":Instance");
    const attached = vm.inputs.attachedDisks as { source: string; deviceName: string }[];
    expect(attached).toEqual([{ source: `${disk.name}-id`, deviceName: "tierstack-data", mode: "READ_WRITE" }]);
    expect((vm.inputs.bootDisk as { autoDelete: boolean }).autoDelete).toBe(true);
    const diskResource = builtAs(run, "single-box").root.dataDisk.disk as unknown as { __protect?: boolean };
    expect(diskResource.__protect).toBe(true);
    const vmResource = builtAs(run, "single-box").root.vm.instance as unknown as { __protect?: boolean };
    expect(vmResource.__protect).toBeFalsy();
  });

  it("has a daily snapshot schedule with the configured retention, attached to it", () => {
    const policy = one(run, ":ResourcePolicy");
    const snap = policy.inputs.snapshotSchedulePolicy as {
      schedule: { dailySchedule: { daysInCycle: number; startTime: string } };
      retentionPolicy: { maxRetentionDays: number; onSourceDiskDelete: string };
    };
    expect(snap.schedule.dailySchedule).toEqual({ daysInCycle: 1, startTime: "03:00" });
    expect(snap.retentionPolicy.maxRetentionDays).toBe(14);
    expect(snap.retentionPolicy.onSourceDiskDelete).toBe("KEEP_AUTO_SNAPSHOTS");
    const attachment = one(run, ":DiskResourcePolicyAttachment");
    expect(attachment.inputs.disk).toBe(one(run, ":Disk").name);
    expect(attachment.inputs.name).toBe(policy.name);
  });
});

describe("Cloudflare edge", () => {
  it("routes public hostnames only on the brain's public paths and ends in a 404", () => {
    const config = one(run, ":ZeroTrustTunnelCloudflaredConfig").inputs.config as { ingresses: { hostname?: string; path?: string; service: string }[] };
    const ingresses = config.ingresses;
    expect(ingresses[ingresses.length - 1]).toEqual({ service: catchAll });
    const accessHosts = new Set(ofType(run, ":ZeroTrustAccessApplication").flatMap((a) => (a.inputs.destinations as { uri: string }[]).map((d) => d.uri)));
    const publicIngresses = ingresses.filter((i) => i.hostname && !accessHosts.has(i.hostname));
    expect(publicIngresses.length).toBe(services.brain.publicPaths.length);
    for (const i of publicIngresses) {
      expect(i.path).toBeDefined();
      const re = new RegExp(i.path as string);
      expect(services.brain.publicPaths.some((p) => re.test(p))).toBe(true);
      expect(re.test("/admin/learners")).toBe(false);
    }
    for (const name of serviceNames) {
      expect(ingresses.some((i) => i.service === `http://127.0.0.1:${services[name].port}` && i.hostname && accessHosts.has(i.hostname))).toBe(true);
    }
  });

  it("puts every non-public hostname behind Access: admin hostnames for operator e-mails only", () => {
    const operators = ofType(run, ":ZeroTrustAccessPolicy").find((p) => p.inputs.decision === "allow");
    expect(operators?.inputs.includes).toEqual([{ email: { email: "ops@example.com" } }]);
    const admin = ofType(run, ":ZeroTrustAccessApplication").find((a) => a.name.endsWith("-admin-app"));
    expect(admin?.inputs.type).toBe("self_hosted");
    expect((admin?.inputs.destinations as { uri: string }[]).map((d) => d.uri)).toEqual(["brain-admin.example.com"]);
    expect(admin?.inputs.policies).toEqual([{ id: `${operators?.name}-id`, precedence: 1 }]);
    const everyProtected = ofType(run, ":ZeroTrustAccessApplication").flatMap((a) => (a.inputs.destinations as { uri: string }[]).map((d) => d.uri));
    expect(everyProtected.sort()).toEqual([...(run.outputs.privateHostnames as string[])].sort());
  });

  it("admits the agents on task-queue and mcp-gateway with a service token (non_identity), stored only in Secret Manager", () => {
    const token = one(run, ":ZeroTrustAccessServiceToken");
    expect(token.inputs.accountId).toBe("0123456789abcdef0123456789abcdef");
    const agents = ofType(run, ":ZeroTrustAccessPolicy").find((p) => p.name.endsWith("-allow-agents"));
    const operators = ofType(run, ":ZeroTrustAccessPolicy").find((p) => p.name.endsWith("-allow-operators"));
    // Cloudflare API enum: allow | deny | non_identity | bypass.
    expect(agents?.inputs.decision).toBe("non_identity");
    expect(agents?.inputs.includes).toEqual([{ serviceToken: { tokenId: `${token.name}-id` } }]);
    const app = ofType(run, ":ZeroTrustAccessApplication").find((a) => a.name.endsWith("-agents-app"));
    expect((app?.inputs.destinations as { uri: string }[]).map((d) => d.uri).sort()).toEqual(["mcp-gateway.example.com", "task-queue.example.com"]);
    expect(app?.inputs.policies).toEqual([
      { id: `${operators?.name}-id`, precedence: 1 },
      { id: `${agents?.name}-id`, precedence: 2 },
    ]);
    // The mocks return the sentinel as the client secret: it reaches Secret Manager secret-marked.
    const version = (suffix: string) => ofType(run, ":SecretVersion").find((v) => v.name.endsWith(suffix));
    expect(secretStrings(version("agents-access-client-secret")?.inputs.secretData)).toEqual([SENTINEL]);
    expect(secretStrings(version("agents-access-client-id")?.inputs.secretData)).toEqual([`${token.name}.access`]);
    expect(JSON.stringify(run.outputs)).not.toContain(`${token.name}.access`);
  });

  it("has one proxied CNAME with automatic TTL per hostname", () => {
    const records = ofType(run, ":DnsRecord");
    const hostnames = [...(run.outputs.publicHostnames as string[]), ...(run.outputs.privateHostnames as string[])];
    expect(records.map((r) => r.inputs.name).sort()).toEqual([...hostnames].sort());
    for (const r of records) {
      expect(r.inputs).toMatchObject({ type: "CNAME", ttl: 1, proxied: true, content: "single-box-edge-tunnel-id.cfargotunnel.com" });
    }
  });
});
