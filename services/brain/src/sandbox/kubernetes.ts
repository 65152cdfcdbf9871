/**
 * The kubernetes SandboxRuntime (tier-100): a learner's sandbox is a SandboxClaim
 * (kubernetes-sigs/agent-sandbox v1beta1, extensions.agents.x-k8s.io) on the learner runtime's
 * SandboxWarmPool, created through @kubernetes/client-node's CustomObjectsApi. The claim is
 * named after the learner (so a second brain replica adopts it instead of claiming twice) and
 * carries a shutdownTime backstop so the controller reaps a claim a dead brain left. The brain
 * waits until the claim is Ready with a pod address (status.sandbox.podIPs), connects to the
 * learner runtime's port there (the template's NetworkPolicy admits the brain), and speaks the
 * same JSON-lines channel as on gvisor.
 *
 * Warm pods are fresh: the learner's files live with the brain between sandboxes (ADR 0037). On
 * claim they are pushed into the pod ("restore"); on release they are taken back ("snapshot")
 * into the FileVault before the claim is deleted.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { learnerSlug } from "./gvisor.js";
import { Channel, ChannelRuntime, SandboxGone, type Started } from "./runtime.js";

export const claimGroup = "extensions.agents.x-k8s.io";
export const claimVersion = "v1beta1";
export const claimPlural = "sandboxclaims";
export const learnerLabel = "tierstack.dev/learner";

/** Where the learner's files are kept while they have no sandbox. */
export interface FileVault {
  load(learnerId: string): Promise<Record<string, string> | undefined>;
  save(learnerId: string, files: Record<string, string>): Promise<void>;
}

/** A FileVault in a directory: one JSON file per learner, replaced atomically. */
export function directoryVault(dir: string): FileVault {
  mkdirSync(dir, { recursive: true });
  const file = (id: string) => join(dir, `${learnerSlug(id)}.json`);
  return {
    async load(id) {
      try {
        return JSON.parse(readFileSync(file(id), "utf8")) as Record<string, string>;
      } catch {
        return undefined;
      }
    },
    async save(id, files) {
      writeFileSync(`${file(id)}.tmp`, JSON.stringify(files));
      renameSync(`${file(id)}.tmp`, file(id));
    },
  };
}

export interface KubernetesOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The SandboxWarmPool of the learner runtime's SandboxTemplate. */
  warmPool: string;
  vault: FileVault;
  /** The learner runtime's TCP port in the pod (its --listen). */
  port?: number;
  /** Claim, bind and connect within this (default 60 s). */
  readyTimeoutMs?: number;
  pollMs?: number;
  /** The controller deletes a claim this long after it was made, whatever the brain does (default 24 h). */
  maxLifetimeMs?: number;
}

type Claim = { metadata?: { name?: string; deletionTimestamp?: string }; status?: { conditions?: { type: string; status: string }[]; sandbox?: { name?: string; podIPs?: string[] } } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const codeOf = (err: unknown): number | undefined => (err as { code?: number }).code;

export class KubernetesRuntime extends ChannelRuntime {
  readonly kind = "kubernetes" as const;
  private readonly api: CustomObjectsApi;
  private readonly port: number;

  constructor(private readonly opts: KubernetesOptions) {
    super();
    this.api = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.port = opts.port ?? 8888;
  }

  /** The claim name of a learner: DNS-1123, stable across replicas and restarts. */
  claimName(learnerId: string): string {
    return `learner-${learnerSlug(learnerId)}`.slice(0, 63).replace(/-+$/, "");
  }

  private ref() {
    return { group: claimGroup, version: claimVersion, namespace: this.opts.namespace, plural: claimPlural };
  }

  /** The learner claims in the namespace (the ones this brain's runtime made or adopted, and any other replica's). */
  async claims(): Promise<string[]> {
    const list = (await this.api.listNamespacedCustomObject({ ...this.ref(), labelSelector: learnerLabel })) as { items: Claim[] };
    return list.items.filter((c) => !c.metadata?.deletionTimestamp).map((c) => c.metadata!.name!);
  }

  protected async start(learnerId: string): Promise<Started> {
    const name = this.claimName(learnerId);
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 60_000);
    await this.create(learnerId, name, deadline);
    let sock: Socket | undefined;
    try {
      const { ip, sandbox } = await this.bound(name, deadline);
      sock = await this.dial(ip, deadline);
      const channel = new Channel(sock, sock, `sandbox ${name}`);
      sock.on("error", (err) => channel.fail(new SandboxGone(`sandbox ${name}: ${err.message}`)));
      let entries = await channel.ready;
      const files = await this.opts.vault.load(learnerId);
      if (files && Object.keys(files).length) entries = (await channel.request({ t: "restore", files }, "restored")).entries ?? 0;
      const s = sock;
      return { name: sandbox, channel, entries, stop: async () => {
        s.destroy();
        await this.remove(name);
      } };
    } catch (err) {
      sock?.destroy();
      await this.remove(name).catch(() => undefined);
      throw err;
    }
  }

  /** Take the learner's files back before the claim goes. */
  protected override async beforeStop(learnerId: string, started: Started): Promise<void> {
    const m = await started.channel.request({ t: "snapshot" }, "files");
    await this.opts.vault.save(learnerId, m.files ?? {});
  }

  /** Create the learner's claim; one that already exists (another replica's) is adopted, one being deleted waited out. */
  private async create(learnerId: string, name: string, deadline: number): Promise<void> {
    const body = {
      apiVersion: `${claimGroup}/${claimVersion}`,
      kind: "SandboxClaim",
      metadata: { name, namespace: this.opts.namespace, labels: { [learnerLabel]: learnerSlug(learnerId).slice(0, 63) } },
      spec: {
        warmPoolRef: { name: this.opts.warmPool },
        lifecycle: { shutdownTime: new Date(Date.now() + (this.opts.maxLifetimeMs ?? 24 * 3_600_000)).toISOString(), shutdownPolicy: "Delete" },
      },
    };
    for (;;) {
      try {
        await this.api.createNamespacedCustomObject({ ...this.ref(), body });
        return;
      } catch (err) {
        if (codeOf(err) !== 409) throw new Error(`SandboxClaim ${name}: create failed: ${describe(err)}`);
        const cur = await this.get(name);
        if (cur && !cur.metadata?.deletionTimestamp) return;
        if (Date.now() > deadline) throw new Error(`SandboxClaim ${name}: still being deleted`);
        await sleep(this.opts.pollMs ?? 200);
      }
    }
  }

  private async get(name: string): Promise<Claim | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({ ...this.ref(), name })) as Claim;
    } catch (err) {
      if (codeOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Wait for the controller: the claim Ready with its sandbox's name and pod address. */
  private async bound(name: string, deadline: number): Promise<{ ip: string; sandbox: string }> {
    for (;;) {
      const c = await this.get(name);
      if (!c) throw new SandboxGone(`SandboxClaim ${name} disappeared before it was ready`);
      const ready = c.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True");
      const ip = c.status?.sandbox?.podIPs?.[0];
      const sandbox = c.status?.sandbox?.name;
      if (ready && ip && sandbox) return { ip, sandbox };
      if (Date.now() > deadline) throw new Error(`SandboxClaim ${name} not ready in time`);
      await sleep(this.opts.pollMs ?? 200);
    }
  }

  private async dial(ip: string, deadline: number): Promise<Socket> {
    for (;;) {
      try {
        return await new Promise<Socket>((resolve, reject) => {
          const s = connect({ host: ip, port: this.port });
          s.once("connect", () => {
            s.off("error", reject);
            resolve(s);
          });
          s.once("error", reject);
        });
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`sandbox at ${ip}:${this.port} unreachable: ${(err as Error).message}`);
        await sleep(this.opts.pollMs ?? 200);
      }
    }
  }

  private async remove(name: string): Promise<void> {
    try {
      await this.api.deleteNamespacedCustomObject({ ...this.ref(), name });
    } catch (err) {
      if (codeOf(err) !== 404) throw err;
    }
  }
}

function describe(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body ?? "");
  return `${e.code ?? ""} ${(body || e.message || String(err)).slice(0, 500)}`.trim();
}
