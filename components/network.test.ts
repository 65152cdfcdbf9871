/**
 * The platform network under Pulumi's runtime mocks: the NATS leaf node rule a migration from the
 * single box adds (the GKE pod range to the box's leaf port, nothing else), and no such rule
 * otherwise.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";

const raw: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      raw.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
      return { id: `${args.name}-id`, state: args.inputs as Record<string, unknown> };
    },
    call: (args) => args.inputs as Record<string, unknown>,
  },
  "tierstack",
  "single-box",
  false,
);

let PlatformNetwork: typeof import("./network.js").PlatformNetwork;
beforeAll(async () => {
  ({ PlatformNetwork } = await import("./network.js"));
});

async function declare(name: string, extra: Partial<import("./network.js").PlatformNetworkArgs> = {}) {
  const net = new PlatformNetwork(name, { region: "europe-west1", subnetCidr: "10.10.0.0/24", targetTag: "tierstack-x", ...extra });
  await new Promise<void>((r) => pulumi.all([net.network.id, net.nat.id]).apply(() => r()));
  await new Promise((r) => setImmediate(r));
  return raw.filter((r) => r.type === "gcp:compute/firewall:Firewall" && r.name.startsWith(`${name}-`));
}

describe("PlatformNetwork firewall rules", () => {
  it("with natsLeafFrom: ingress from exactly those ranges to the target tag on the leaf port", async () => {
    const rules = await declare("leaf", { natsLeafFrom: { sourceRanges: ["10.32.0.0/17"], port: 7422 } });
    expect(rules.map((r) => r.name).sort()).toEqual(["leaf-nats-leaf", "leaf-ssh-from-iap"]);
    expect(rules.find((r) => r.name === "leaf-nats-leaf")?.inputs).toMatchObject({
      direction: "INGRESS",
      allows: [{ protocol: "tcp", ports: ["7422"] }],
      sourceRanges: ["10.32.0.0/17"],
      targetTags: ["tierstack-x"],
    });
  });

  it("without it: the SSH rule only", async () => {
    expect((await declare("plain")).map((r) => r.name)).toEqual(["plain-ssh-from-iap"]);
  });

  it("refuses a leaf rule without a source range", () => {
    expect(() => new PlatformNetwork("empty", { region: "r", subnetCidr: "10.0.0.0/24", targetTag: "t", natsLeafFrom: { sourceRanges: [], port: 7422 } })).toThrow(/natsLeafFrom needs a source range/);
  });
});
