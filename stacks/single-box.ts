/**
 * The single-box tier: network, runtime service account, Cloudflare tunnel and Access, secrets,
 * the data disk and the VM with its rendered boot configuration. Tier-50 and tier-100 get
 * their own composition (GKE, Cloud SQL, Redis) reusing the network, secrets and edge parts.
 */
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config/config.js";
import { edgeRoutes } from "../catalog/edge.js";
import { stackBudget } from "./budget.js";
import type { SecretName } from "../catalog/secrets.js";
import { singleBoxBoot, sqlitePaths, type BootSpec } from "./single-box/units.js";
import { AccessGate } from "../components/access.js";
import { renderCloudInit } from "./single-box/cloud-init.js";
import { DataDisk } from "../components/data-disk.js";
import { PlatformNetwork } from "../components/network.js";
import { PlatformSecrets } from "../components/secrets.js";
import { RuntimeServiceAccount } from "../components/service-account.js";
import { CloudflareTunnel } from "../components/tunnel.js";
import { PlatformVm } from "../components/vm.js";
import { natsLeafRoleNow, publishNatsLeafHost } from "./migration.js";
import { addressRanges } from "./tier-50/shape.js";

export interface SingleBoxArgs {
  config: StackConfig;
  /** Config secrets by config key (pulumi.Config.requireSecret). */
  configSecrets: Record<string, pulumi.Output<string>>;
}

export class SingleBox extends pulumi.ComponentResource {
  readonly boot: BootSpec;
  /** The rendered #cloud-config (plain: secret ids only). */
  readonly userData: string;
  readonly publicHostnames: string[];
  readonly privateHostnames: string[];
  readonly vmName: pulumi.Output<string>;
  readonly dataDiskName: pulumi.Output<string>;
  readonly tunnelId: pulumi.Output<string>;
  readonly network: PlatformNetwork;
  readonly dataDisk: DataDisk;
  readonly vm: PlatformVm;
  readonly secrets: PlatformSecrets;

  constructor(name: string, args: SingleBoxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tierstack:tier:SingleBox", name, {}, opts);
    const cfg = args.config;
    const parent = { parent: this };
    const labels = { platform: "tierstack", stack: cfg.stack, tier: cfg.tier.name };
    const networkTag = `tierstack-${cfg.stack}`;

    // Moving to tier-50 (expand to cut-over), the box's NATS is the old side of the leaf node connection.
    const natsRole = natsLeafRoleNow("single-box");
    const natsLeaf = natsRole?.side === "old" ? natsRole : undefined;
    // During the migration a VPC rule lets tier-50's pods (its pod range, in this network) reach the
    // leaf port; it exists only then, and contract removes it with the box.
    this.network = new PlatformNetwork(`${name}-net`, {
      region: cfg.region,
      subnetCidr: cfg.subnetCidr,
      targetTag: networkTag,
      ...(natsLeaf ? { natsLeafFrom: { sourceRanges: [addressRanges.pods.ipCidrRange], port: natsLeaf.port } } : {}),
    }, parent);

    const runtime = new RuntimeServiceAccount(`${name}-runtime`, {
      project: cfg.project,
      accountId: `ts-${cfg.stack}`.slice(0, 30).replace(/-+$/, ""),
      displayName: `tierstack ${cfg.stack} box`,
    }, parent);

    const routes = edgeRoutes(cfg.domain);
    const tunnel = new CloudflareTunnel(`${name}-edge`, {
      accountId: cfg.cloudflareAccountId,
      zoneId: cfg.cloudflareZoneId,
      tunnelName: `tierstack-${cfg.stack}`,
      ingresses: routes.map((r) => ({ hostname: r.hostname, path: r.path, service: r.origin })),
    }, parent);
    this.privateHostnames = [...new Set(routes.filter((r) => r.access).map((r) => r.hostname))];
    this.publicHostnames = [...new Set(routes.filter((r) => !r.access).map((r) => r.hostname))];
    const hostsWhere = (pick: (r: (typeof routes)[number]) => boolean) => [...new Set(routes.filter(pick).map((r) => r.hostname))];
    const access = new AccessGate(`${name}-access`, {
      accountId: cfg.cloudflareAccountId,
      appName: `tierstack ${cfg.stack}`,
      agentHostnames: hostsWhere((r) => r.access && r.serviceToken),
      operatorHostnames: hostsWhere((r) => r.access && !r.serviceToken),
      emails: cfg.accessEmails,
    }, parent);
    if (!access.clientId || !access.clientSecret) throw new Error("SingleBox: no agent hostnames, so no Access service token");

    const secret = (key: string): pulumi.Output<string> => {
      const v = args.configSecrets[key];
      if (!v) throw new Error(`SingleBox: config secret ${key} missing`);
      return v;
    };
    const values: Partial<Record<SecretName, pulumi.Input<string>>> = {
      "task-queue-database-url": pulumi.secret(`sqlite:${sqlitePaths["task-queue"]}`),
      "brain-database-url": pulumi.secret(`sqlite:${sqlitePaths.brain}`),
      "whatsapp-app-secret": secret("whatsappAppSecret"),
      "whatsapp-access-token": secret("whatsappAccessToken"),
      "stripe-secret-key": secret("stripeSecretKey"),
      "stripe-webhook-secret": secret("stripeWebhookSecret"),
      "openrouter-api-key": secret("openrouterApiKey"),
      "cloudflared-tunnel-token": tunnel.token,
      "agents-access-client-id": access.clientId,
      "agents-access-client-secret": access.clientSecret,
    };
    this.secrets = new PlatformSecrets(`${name}-secrets`, { stack: cfg.stack, values, accessorMember: runtime.member }, parent);

    this.dataDisk = new DataDisk(`${name}-data`, {
      zone: cfg.zone,
      region: cfg.region,
      sizeGb: cfg.sizes.dataDiskGb,
      type: cfg.dataDiskType,
      snapshotStartTime: cfg.snapshotStartTime,
      retentionDays: cfg.sizes.snapshotRetentionDays,
      labels,
    }, parent);

    this.boot = singleBoxBoot(cfg, natsLeaf);
    this.userData = renderCloudInit(this.boot);
    this.vm = new PlatformVm(`${name}-platform`, {
      zone: cfg.zone,
      machineType: cfg.machineType,
      gpu: cfg.gpu,
      bootDiskGb: cfg.sizes.bootDiskGb,
      subnet: this.network.subnet.id,
      networkTag,
      serviceAccountEmail: runtime.email,
      dataDisk: this.dataDisk.disk.id,
      dataDeviceName: this.boot.dataDeviceName,
      userData: this.userData,
      labels,
    }, { parent: this, dependsOn: [this.secrets] });

    // The runtime cost guard: the billing account's admins hear of spend at the budget.
    stackBudget(name, cfg, parent);

    if (natsLeaf) publishNatsLeafHost(cfg.stack, this.vm.instance.networkInterfaces.apply((n) => n[0]?.networkIp ?? ""));
    this.vmName = this.vm.instance.name;
    this.dataDiskName = this.dataDisk.disk.name;
    this.tunnelId = tunnel.tunnelId;
    this.registerOutputs({ vmName: this.vmName, dataDisk: this.dataDiskName, tunnelId: this.tunnelId });
  }
}
