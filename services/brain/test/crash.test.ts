import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, it } from "vitest";
import { available, freePort, PG_URL } from "@tierstack/common/testing";
import { signPayload } from "../src/webhook.js";
import { APP_SECRET, brainEnv, processGone, testDatabase, textNotification, until, workersPid, type Db } from "./harness.js";
import { startCloudApiPeer } from "./peers/cloudapi.js";
import { startLlmPeer } from "./peers/llm.js";
import { startStripePeer } from "./peers/stripe.js";

/**
 * Crash between the 200 and the reply: the LLM peer holds the completion request while the test
 * SIGKILLs the brain process; after a restart on the same database the message is answered, once.
 */
const dbs: Db[] = ["sqlite"];
if (await available("postgres", PG_URL)) dbs.push("postgres");

function startBrain(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "services/brain/src/server.ts"], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (d: Buffer) => process.stderr.write(`[brain ${child.pid}] ${d.toString()}`));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
}

// Concurrent: both stores' scenarios wait mostly on the LLM hold, the kill and the restart.
describe.concurrent.each(dbs)("crash recovery on %s", (db) => {
  let peers: { cloud: Awaited<ReturnType<typeof startCloudApiPeer>>; llm: Awaited<ReturnType<typeof startLlmPeer>>; stripe: Awaited<ReturnType<typeof startStripePeer>> };
  let database: Awaited<ReturnType<typeof testDatabase>>;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    peers = { cloud: await startCloudApiPeer(), llm: await startLlmPeer({ hold: true }), stripe: await startStripePeer() };
    database = await testDatabase(db);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGKILL");
      await exited(c);
    }
    peers.llm.release();
    await Promise.all([peers.cloud.close(), peers.llm.close(), peers.stripe.close()]);
    await database.drop();
  });

  it("SIGKILL while the LLM holds the request: after restart the reply goes out exactly once", async ({ expect }) => {
    const port = await freePort();
    const env = brainEnv(
      { databaseUrl: database.url, cloudUrl: peers.cloud.url, accessToken: peers.cloud.accessToken, llmUrl: peers.llm.url, stripeHost: peers.stripe.host, stripePort: peers.stripe.port },
      { PORT: String(port), LLM_TIMEOUT_MS: "1000", LLM_RETRIES: "0", BRAIN_LEASE_MS: "2500", BRAIN_WORKERS: "2" },
    );
    const base = `http://127.0.0.1:${port}`;
    const ready = async () => {
      try {
        return (await fetch(`${base}/readyz`)).status === 200;
      } catch {
        return false;
      }
    };

    const first = startBrain(env);
    children.push(first);
    await until(ready, "brain ready", 30_000);
    const phone = "447700955501";
    const raw = JSON.stringify(textNotification([{ from: phone, body: "survive the crash" }]));
    const res = await fetch(`${base}/webhooks/whatsapp`, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": signPayload(raw, APP_SECRET) }, body: raw });
    expect(res.status).toBe(200);
    await until(() => peers.llm.held === 1, "LLM request held");
    const workerPid = await workersPid(base);
    expect(workerPid).toBeTypeOf("number");

    first.kill("SIGKILL");
    await exited(first);
    expect(first.signalCode).toBe("SIGKILL");
    // The worker process (holding the LLM request) exits when its HTTP process goes; only then
    // is the held request answered, so the answer finds no one (else the orphan could still send).
    await until(() => processGone(workerPid!), "worker process gone with its HTTP process", 10_000);
    peers.llm.release(); // answers go to a dead socket; later requests are answered at once
    expect(peers.cloud.sent).toHaveLength(0);
    // One request at least (the held one); more if the first worker timed it out and asked again
    // before it went (LLM_TIMEOUT_MS 1 s): the restarted brain asks exactly once more.
    const asked = () => peers.llm.requests.filter((r) => r.messages.at(-1).content === "survive the crash").length;
    const askedBeforeRestart = asked();
    expect(askedBeforeRestart).toBeGreaterThanOrEqual(1);

    const second = startBrain(env);
    children.push(second);
    await until(ready, "brain ready again", 30_000);
    await until(() => peers.cloud.sent.length >= 1, "reply after restart", 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const replies = peers.cloud.sent.filter((s) => s.to === phone);
    expect(replies).toHaveLength(1);
    expect(replies[0].text.body).toBe("echo: survive the crash");
    expect(asked()).toBe(askedBeforeRestart + 1);

    // graceful stop: SIGTERM ⇒ exit 0
    second.kill("SIGTERM");
    await exited(second);
    expect(second.exitCode).toBe(0);
  });
});
