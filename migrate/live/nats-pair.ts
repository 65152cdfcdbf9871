/**
 * Two private nats-servers for the live migration test: the box's node (JetStream domain "box")
 * connected as a leaf node to the cluster's node (domain "hub"), the way the tier-50 runbook moves
 * the TASKS stream (`tierstack migrate stream mirror|switch|compare`, migrate/nats.ts): the hub's
 * stream sources the box's through the box's domain API and takes its subjects at the switch.
 * Only processes started here are ever signalled, by their own pid.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "@tierstack/common";

export interface NatsNode {
  url: string;
  stop(): Promise<void>;
}

export interface NatsPair {
  box: NatsNode;
  hub: NatsNode;
  destroy(): Promise<void>;
}

const waitPort = (port: number, what: string) => waitForPort(port, { what });

function node(dir: string, name: string, conf: string): { child: ChildProcess; stop: () => Promise<void> } {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  const child = spawn("nats-server", ["-c", file], { stdio: "ignore" });
  child.once("error", () => undefined);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  return { child, stop };
}

export async function startNatsPair(): Promise<NatsPair> {
  const dir = mkdtempSync(join(tmpdir(), "tierstack-nats-pair-"));
  const [hubPort, leafPort, boxPort] = [await freePort(), await freePort(), await freePort()];
  const hub = node(dir, "hub", `listen: "127.0.0.1:${hubPort}"\njetstream { store_dir: "${join(dir, "hub")}", domain: hub }\nleafnodes { listen: "127.0.0.1:${leafPort}" }\n`);
  await waitPort(hubPort, "the hub nats-server");
  const box = node(dir, "box", `listen: "127.0.0.1:${boxPort}"\njetstream { store_dir: "${join(dir, "box")}", domain: box }\nleafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafPort}" } ] }\n`);
  await waitPort(boxPort, "the box nats-server");
  return {
    box: { url: `nats://127.0.0.1:${boxPort}`, stop: box.stop },
    hub: { url: `nats://127.0.0.1:${hubPort}`, stop: hub.stop },
    destroy: async () => {
      await box.stop();
      await hub.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
