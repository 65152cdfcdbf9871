/**
 * Load generator (its own process): POSTs WhatsApp webhook notifications signed like the Cloud
 * API (X-Hub-Signature-256 over the raw bytes) to one URL, open-loop at a rate for a duration.
 * Each message comes from one of N learners (seeded choice) and carries its intended send time
 * and its id in the text (`t=<ms> id=<runId>.<n>`), so the reply's arrival at the Cloud API
 * peer gives the reply latency and duplicates are counted per inbound message. Acknowledgement
 * latency is measured from the intended send time (no coordinated omission), and only for
 * messages intended after the first `warmMs` (the warm-up is not counted); an ack still awaited
 * when the offer ends is waited for up to `ackWaitMs`, then counted as unacked with its wait so
 * far in the latency figures (a lower bound). Prints a first line
 * `{"started", "measureFrom"}` (epoch ms), a progress line each second (`{"progress":…}`: sent,
 * acked so far) and one result line at the end.
 */
import { createHmac } from "node:crypto";
import http from "node:http";
import { parseCommandArgs } from "../../cli/args.js";
import { seeded } from "@tierstack/common/testing";
import { ackSeconds, quantile } from "./latency.js";

interface Args { url: string; secret: string; rate: number; durationMs: number; warmMs: number; ackWaitMs: number; learners: number; runId: string; seed: number; slowSecondMs: number }
const args = JSON.parse(parseCommandArgs("bench/brain/load", "load.ts <json args>", process.argv.slice(2), {}).positionals[0] ?? "{}") as Args;
const target = new URL(args.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const wallNow = () => performance.timeOrigin + performance.now();
const pick = seeded(args.seed);

let seq = 0;
function payload(intended: number): Buffer {
  const n = ++seq;
  const learner = Math.floor(pick() * args.learners);
  const phone = `4470${String(learner).padStart(8, "0")}`;
  return Buffer.from(JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "WABA", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp", metadata: { display_phone_number: "15550000000", phone_number_id: "1098765432" },
      contacts: [{ profile: { name: "Learner" }, wa_id: phone }],
      messages: [{ from: phone, id: `wamid.${args.runId}.${n}`, timestamp: String(Math.floor(intended / 1000)), type: "text", text: { body: `t=${intended.toFixed(1)} id=${args.runId}.${n}` } }],
    } }] }],
  }));
}

let measureFrom = Infinity;
/** [intended time, latency] of each measured ack. */
const acks: [number, number][] = [];
const lag: number[] = [];
/** Intended times of measured messages still awaiting their ack (counted at the end as lower bounds). */
const pending = new Set<number>();
let sent = 0, sentInWindow = 0, acked = 0, ackedInWindow = 0, non200 = 0, errors = 0, inFlight = 0;

function post(intended: number): void {
  const body = payload(intended);
  const sig = `sha256=${createHmac("sha256", args.secret).update(body).digest("hex")}`;
  const measured = intended >= measureFrom;
  sent++;
  inFlight++;
  if (measured) {
    pending.add(intended);
    sentInWindow++;
    lag.push(wallNow() - intended);
  }
  const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": body.length, "x-hub-signature-256": sig } }, (res) => {
    res.resume();
    res.on("end", () => {
      inFlight--;
      pending.delete(intended);
      if (res.statusCode === 200) {
        acked++;
        if (measured) {
          ackedInWindow++;
          acks.push([intended, wallNow() - intended]);
        }
      } else non200++;
    });
  });
  req.on("error", () => {
    inFlight--;
    pending.delete(intended);
    errors++;
  });
  req.end(body);
}


async function main(): Promise<void> {
  const start = wallNow();
  const end = start + args.durationMs;
  measureFrom = start + args.warmMs;
  process.stdout.write(JSON.stringify({ started: start, measureFrom }) + "\n");
  const progress = setInterval(() => process.stdout.write(JSON.stringify({ progress: true, t: wallNow(), sent, acked, inFlight }) + "\n"), 1000);
  const interval = 1000 / args.rate;
  let next = start;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = wallNow();
      while (next <= now && next < end) {
        post(next);
        next += interval;
      }
      if (next >= end) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  const stopAt = wallNow();
  while (inFlight > 0 && wallNow() - stopAt < args.ackWaitMs) await new Promise((r) => setTimeout(r, 10));
  clearInterval(progress);
  const unacked = pending.size;
  for (const t of pending) acks.push([t, wallNow() - t]);
  const perSecond = ackSeconds(acks, measureFrom, args.slowSecondMs);
  const lat = acks.map(([, l]) => l).sort((a, b) => a - b);
  lag.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({
    start, end: stopAt, measureFrom, sent, sentInWindow, acked, ackedInWindow, non200, errors, unacked,
    ackP50: quantile(lat, 0.5), ackP99: quantile(lat, 0.99), ackMax: lat.at(-1) ?? NaN, lagP99: quantile(lag, 0.99),
    ackSeconds: perSecond.seconds, ackSlowSeconds: perSecond.slow, ackWorstSecondP99: perSecond.worstP99,
  }) + "\n");
  agent.destroy();
}

void main();
