/**
 * Stream moves on real nats-server processes (private, on free loopback ports, each in its own
 * JetStream domain, the new side joined to the old by a leaf node): the box's node to one new
 * node, and a single node to a three-node cluster with R3. Events published before the switch
 * (some while the source was catching up) are in the new stream exactly once, in order, with the
 * same sequence numbers when the old stream has no gaps; a re-sent event is a duplicate on the
 * new stream; the switch is refused before the catch-up, and a lost message is reported.
 * Only processes started here are signalled, by their own pid.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, inCI, waitFor, waitForPort } from "@tierstack/common/testing";
import { compareStreams, mirrorStream, readStream, retiredSubject, streamCatchUp, switchBack, switchStream, waitCaughtUp, type StreamMove } from "./nats.js";

const hasServer = spawnSync("nats-server", ["--version"]).status === 0;
const root = mkdtempSync(join(tmpdir(), "tierstack-nats-move-"));
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!hasServer && inCI) throw new Error("nats-server is not installed and CI=true: install it (see .ci/apt-packages)");
});
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
  }
  rmSync(root, { recursive: true, force: true });
});

interface NodeSpec {
  name: string;
  domain: string;
  leafListen?: number;
  leafRemote?: number;
  cluster?: { name: string; port: number; routes: number[] };
}

/** Starts one nats-server from a file written here; resolves with its client URL. */
async function startNode(s: NodeSpec): Promise<string> {
  const dir = join(root, s.name);
  mkdirSync(dir);
  const port = await freePort();
  const lines = [
    `server_name: ${s.name}`,
    `listen: "127.0.0.1:${port}"`,
    `jetstream { store_dir: "${join(dir, "store")}", domain: "${s.domain}" }`,
    ...(s.leafListen ? [`leafnodes { listen: "127.0.0.1:${s.leafListen}" }`] : []),
    ...(s.leafRemote ? [`leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${s.leafRemote}" } ] }`] : []),
    ...(s.cluster ? [`cluster { name: "${s.cluster.name}", listen: "127.0.0.1:${s.cluster.port}", no_advertise: true, routes: [${s.cluster.routes.map((p) => `"nats://127.0.0.1:${p}"`).join(", ")}] }`] : []),
  ];
  writeFileSync(join(dir, "nats.conf"), `${lines.join("\n")}\n`);
  const fd = openSync(join(dir, "nats.log"), "a");
  const child = spawn("nats-server", ["-c", join(dir, "nats.conf")], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  child.once("error", () => undefined);
  children.push(child);
  await waitForPort(port, { what: `nats-server ${s.name} on ${port}`, timeoutMs: 15_000 });
  return `nats://127.0.0.1:${port}`;
}

/** Waits until the new side can reach the old domain's JetStream API over the leaf node. */
async function waitForLeaf(servers: string, domain: string): Promise<void> {
  const nc = await connect({ servers: servers.split(","), timeout: 5000 });
  try {
    await waitFor(async () => {
      try {
        await (await jetstreamManager(nc, { domain, timeout: 1000 })).getAccountInfo();
        return true;
      } catch {
        return false;
      }
    }, { what: `JetStream domain ${domain} over the leaf node`, timeoutMs: 20_000, intervalMs: 100 });
  } finally {
    await nc.close();
  }
}

const event = (i: number) => JSON.stringify({ id: i, event: "completed", taskId: i });

/** Publishes events from..to with Nats-Msg-Id, in order, each acknowledged; returns the acks' duplicate flags. */
async function publish(servers: string, from: number, to: number): Promise<boolean[]> {
  const nc = await connect({ servers: servers.split(","), timeout: 5000 });
  try {
    const js = jetstream(nc, { timeout: 10_000 });
    const dups: boolean[] = [];
    for (let i = from; i <= to; i += 50) {
      const acks = await Promise.all(Array.from({ length: Math.min(50, to - i + 1) }, (_, k) => js.publish(`tasks.q${(i + k) % 3}.completed`, event(i + k), { msgID: String(i + k) })));
      dups.push(...acks.map((a) => a.duplicate));
    }
    return dups;
  } finally {
    await nc.close();
  }
}

async function createOldStream(servers: string): Promise<void> {
  const nc = await connect({ servers, timeout: 5000 });
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "TASKS", subjects: ["tasks.>"], duplicate_window: 120 * 1e9 });
  } finally {
    await nc.close();
  }
}

describe.skipIf(!hasServer)("moving a stream between NATS servers", () => {
  it("the box's node to a new node: every event before the switch once, in order, same sequences; publishing goes on after it", async () => {
    const leaf = await freePort();
    const box = await startNode({ name: "box", domain: "box", leafListen: leaf });
    const node = await startNode({ name: "t50", domain: "t50", leafRemote: leaf });
    await waitForLeaf(node, "box");
    await createOldStream(box);
    await publish(box, 1, 400);
    const spec: StreamMove = { from: { servers: box, stream: "TASKS", domain: "box" }, to: { servers: node, stream: "TASKS" } };

    await mirrorStream(spec);
    // Idempotent: a second call keeps the stream it made.
    await mirrorStream(spec);
    // Publishers keep going on the box while the new stream catches up.
    await publish(box, 401, 1000);
    const caught = await waitCaughtUp(spec, { timeoutMs: 30_000 });
    expect(caught).toMatchObject({ sourceLastSeq: 1000, sourceMessages: 1000, targetMessages: 1000, lastSourcedSeq: 1000, caughtUp: true });

    expect(await switchStream(spec)).toEqual(["tasks.>"]);
    // After the switch: the relay re-sends the last event it is unsure of (a duplicate), then new ones.
    expect(await publish(node, 1000, 1000)).toEqual([true]);
    expect((await publish(node, 1001, 1200)).every((d) => !d)).toBe(true);
    // The box's stream no longer captures the platform's subjects.
    const boxNc = await connect({ servers: box });
    const oldInfo = await (await jetstreamManager(boxNc)).streams.info("TASKS");
    await boxNc.close();
    expect(oldInfo.config.subjects).toEqual([retiredSubject("TASKS")]);
    expect(oldInfo.state.messages).toBe(1000);

    const cmp = await compareStreams(spec);
    expect(cmp).toEqual({ problems: [], sourced: 1000, direct: 200, sameSequences: true });
    const moved = await readStream(node, "TASKS");
    expect(moved.map((m) => JSON.parse(m.data).id)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    expect(moved.map((m) => m.seq)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
  }, 60_000);

  it("switching back after the switch: what the new stream took since goes back, in order, and the old stream takes the subjects again", async () => {
    const leaf = await freePort();
    const box = await startNode({ name: "box2", domain: "box2", leafListen: leaf });
    const node = await startNode({ name: "t50x", domain: "t50x", leafRemote: leaf });
    await waitForLeaf(node, "box2");
    await createOldStream(box);
    await publish(box, 1, 300);
    const spec: StreamMove = { from: { servers: box, stream: "TASKS", domain: "box2" }, to: { servers: node, stream: "TASKS", domain: "t50x" } };
    await mirrorStream(spec);
    await waitCaughtUp(spec, { timeoutMs: 30_000 });
    await switchStream(spec);
    await publish(node, 301, 420);
    expect(await switchBack(spec, { timeoutMs: 30_000 })).toBe(120);
    // Publishing goes on on the box; a re-sent event from after the switch is a duplicate there.
    expect(await publish(box, 420, 420)).toEqual([true]);
    expect((await publish(box, 421, 450)).every((d) => !d)).toBe(true);
    const back = await readStream(box, "TASKS");
    expect(back.map((m) => JSON.parse(m.data).id)).toEqual(Array.from({ length: 450 }, (_, i) => i + 1));
    const nc = await connect({ servers: node });
    const moved = await (await jetstreamManager(nc)).streams.info("TASKS");
    await nc.close();
    expect(moved.config.subjects).toEqual([retiredSubject("TASKS")]);
  }, 60_000);

  it("refuses to switch before the new stream has caught up, and says where both stand", async () => {
    const box = await startNode({ name: "lonely", domain: "lonely" });
    const node = await startNode({ name: "unjoined", domain: "unjoined" });
    await createOldStream(box);
    await publish(box, 1, 10);
    // No leaf node between the two: the source can never deliver.
    const spec: StreamMove = { from: { servers: box, stream: "TASKS", domain: "lonely" }, to: { servers: node, stream: "TASKS" } };
    await mirrorStream(spec);
    expect((await streamCatchUp(spec)).caughtUp).toBe(false);
    await expect(waitCaughtUp(spec, { timeoutMs: 600, intervalMs: 100 })).rejects.toThrow("stream TASKS has not caught up with TASKS: source at sequence 10 with 10 messages, target has 0 messages, the last sourced from sequence 0");
    await expect(switchStream(spec)).rejects.toThrow(/not switching before it has caught up/);
    // A stream of that name that sources something else is not taken over.
    await expect(mirrorStream({ ...spec, from: { ...spec.from, domain: "elsewhere" } })).rejects.toThrow(/already exists .* does not source TASKS from domain elsewhere/);
  }, 30_000);

  it("one node to a three-node cluster with R3: a gap in the old stream keeps the order, a lost message is reported", async () => {
    const leaf = await freePort();
    const single = await startNode({ name: "single", domain: "t50b", leafListen: leaf });
    const routes = [await freePort(), await freePort(), await freePort()];
    const cluster = (await Promise.all(routes.map((port, i) => startNode({ name: `c${i}`, domain: "t100", leafRemote: leaf, cluster: { name: "t100", port, routes } })))).join(",");
    await waitForLeaf(cluster, "t50b");
    await createOldStream(single);
    await publish(single, 1, 300);
    // A message removed from the old stream (a gap): the new stream numbers on without it.
    const nc = await connect({ servers: single });
    await (await jetstreamManager(nc)).streams.deleteMessage("TASKS", 100, false);
    await nc.close();
    const spec: StreamMove = { from: { servers: single, stream: "TASKS", domain: "t50b" }, to: { servers: cluster, stream: "TASKS", replicas: 3 } };
    // The cluster's JetStream needs a meta leader before it takes a stream.
    await waitFor(async () => mirrorStream(spec).then(() => true, () => false), { what: "the cluster taking the stream", timeoutMs: 20_000, intervalMs: 250 });
    await publish(single, 301, 600);
    expect(await waitCaughtUp(spec, { timeoutMs: 30_000 })).toMatchObject({ sourceLastSeq: 600, sourceMessages: 599, targetMessages: 599, lastSourcedSeq: 600 });
    await switchStream(spec);
    await publish(cluster, 601, 650);

    const cnc = await connect({ servers: cluster.split(",") });
    const jsm = await jetstreamManager(cnc);
    const info = await jsm.streams.info("TASKS");
    expect(info.config.num_replicas).toBe(3);
    expect(info.config.sources ?? []).toEqual([]);
    expect(await compareStreams(spec)).toEqual({ problems: [], sourced: 599, direct: 50, sameSequences: false });
    const moved = (await readStream(cluster, "TASKS", "TASKS")).filter((m) => m.sourcedSeq !== undefined);
    expect(moved.map((m) => m.sourcedSeq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1).filter((s) => s !== 100));

    // A message lost on the new side is reported by its old sequence.
    await jsm.streams.deleteMessage("TASKS", 250, false);
    await cnc.close();
    const lost = moved.find((m) => m.seq === 250)?.sourcedSeq;
    expect((await compareStreams(spec)).problems).toEqual([`TASKS: old sequence ${lost} (tasks.q${(lost as number) % 3}.completed) is missing`]);
  }, 90_000);
});
