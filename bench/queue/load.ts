/**
 * Load generator for the HTTP end-to-end phase, run as its own process so the service's CPU is
 * not shared with the load in one event loop:
 *   node --import tsx bench/queue/load.ts <url> <token> <agents> <seconds> [queue] [pair|chain]
 * pair: each agent loops claim → complete (two requests per cycle);
 * chain: complete carries `next`, so the completion and the next claim are one request.
 * Latency is that of the request that hands out the task. Prints one JSON line.
 */
import http from "node:http";
import { parseCommandArgs } from "../../cli/args.js";

const [url, token, agentsArg, secondsArg, queue = "bench", mode = "pair"] = parseCommandArgs("bench/queue/load", "load.ts <url> <token> <agents> <seconds> [queue] [pair|next]", process.argv.slice(2), {}).positionals;
if (!url || !token) throw new Error("usage: load.ts <url> <token> <agents> <seconds> [queue]");
const agents = Number(agentsArg ?? 10);
const seconds = Number(secondsArg ?? 10);
const base = new URL(url);
// noDelay: a request is two small writes; without it Nagle + delayed ACK add ~40 ms per call.
const agent = new http.Agent({ keepAlive: true, maxSockets: agents, noDelay: true } as http.AgentOptions);

type Lease = { id: number; leaseToken: string };
function post(path: string, body: unknown): Promise<{ status: number; json: { tasks?: Lease[]; next?: Lease[] } }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: base.hostname, port: base.port, path, method: "POST", agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(data) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || "{}") }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

const latencies: number[] = [];
let cycles = 0;
let errors = 0;
let exhausted = false;
const start = performance.now();
const end = start + seconds * 1000;
async function loop(i: number) {
  let held: Lease | undefined;
  while (!exhausted && performance.now() < end) {
    let t = held;
    if (!t) {
      const t0 = performance.now();
      const c = await post("/v1/claim", { queues: [queue], limit: 1, leaseSeconds: 120 });
      latencies.push(performance.now() - t0);
      t = c.json.tasks?.[0];
      if (!t) {
        if (c.status === 200) exhausted = true;
        else errors++;
        continue;
      }
    }
    const t0 = performance.now();
    const d = await post(`/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken, result: { by: i }, ...(mode === "chain" ? { next: { queues: [queue], leaseSeconds: 120 } } : {}) });
    if (d.status === 200) cycles++;
    else errors++;
    held = undefined;
    if (mode === "chain") {
      latencies.push(performance.now() - t0);
      held = d.json.next?.[0];
      if (d.status === 200 && !held) exhausted = true;
    }
  }
}
await Promise.all(Array.from({ length: agents }, (_, i) => loop(i)));
const elapsed = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
process.stdout.write(`${JSON.stringify({ cycles, seconds: elapsed, errors, exhausted, p50: q(0.5), p99: q(0.99) })}\n`);
agent.destroy();
