/**
 * Load generator (its own process): POSTs WhatsApp webhook notifications signed like the Cloud
 * API (X-Hub-Signature-256 over the raw bytes) to one URL, open-loop at a rate or closed-loop at
 * a concurrency, for a duration. Each message comes from one of N learners and carries its
 * intended send time in the body, so the reply's arrival at the Cloud API peer gives the reply
 * latency. Acknowledgement latency is measured from the intended send time (no coordinated
 * omission). Prints one JSON line with the result.
 */
import { createHmac } from "node:crypto";
import http from "node:http";
import { parseCommandArgs } from "../../cli/args.js";

interface Args { url: string; secret: string; mode: "open" | "closed"; rate: number; concurrency: number; durationMs: number; learners: number; runId: string }
const args = JSON.parse(parseCommandArgs("bench/brain/load", "load.ts <json args>", process.argv.slice(2), {}).positionals[0] ?? "{}") as Args;
const target = new URL(args.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const wallNow = () => performance.timeOrigin + performance.now();

let seq = 0;
function payload(intended: number): Buffer {
  const n = ++seq;
  const learner = Math.floor(Math.random() * args.learners);
  const phone = `4470${String(learner).padStart(8, "0")}`;
  return Buffer.from(JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "WABA", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp", metadata: { display_phone_number: "15550000000", phone_number_id: "1098765432" },
      contacts: [{ profile: { name: "Learner" }, wa_id: phone }],
      messages: [{ from: phone, id: `wamid.${args.runId}.${n}`, timestamp: String(Math.floor(intended / 1000)), type: "text", text: { body: `t=${intended.toFixed(1)}` } }],
    } }] }],
  }));
}

const lat: number[] = [];
let sent = 0, acked = 0, non200 = 0, errors = 0, inFlight = 0;

function post(intended: number): Promise<void> {
  const body = payload(intended);
  const sig = `sha256=${createHmac("sha256", args.secret).update(body).digest("hex")}`;
  sent++;
  inFlight++;
  return new Promise((resolve) => {
    const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": body.length, "x-hub-signature-256": sig } }, (res) => {
      res.resume();
      res.on("end", () => {
        inFlight--;
        if (res.statusCode === 200) {
          acked++;
          lat.push(wallNow() - intended);
        } else non200++;
        resolve();
      });
    });
    req.on("error", () => {
      inFlight--;
      errors++;
      resolve();
    });
    req.end(body);
  });
}

async function main(): Promise<void> {
  const start = wallNow();
  const end = start + args.durationMs;
  if (args.mode === "open") {
    const interval = 1000 / args.rate;
    let next = start;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = wallNow();
        while (next <= now && next < end) {
          void post(next);
          next += interval;
        }
        if (next >= end) return resolve();
        setTimeout(tick, 1);
      };
      tick();
    });
  } else {
    const worker = async () => {
      while (wallNow() < end) await post(wallNow());
    };
    await Promise.all(Array.from({ length: args.concurrency }, worker));
  }
  const stopAt = wallNow();
  while (inFlight > 0 && wallNow() - stopAt < 10_000) await new Promise((r) => setTimeout(r, 10));
  lat.sort((a, b) => a - b);
  const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : NaN);
  process.stdout.write(JSON.stringify({ start, end: stopAt, sent, acked, non200, errors, ackP50: q(0.5), ackP99: q(0.99), ackMax: lat.at(-1) ?? NaN }) + "\n");
  agent.destroy();
}

void main();
