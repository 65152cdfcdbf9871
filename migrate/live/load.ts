/**
 * The bounded load of the live migration test: agents enqueueing, claiming and completing tasks
 * over HTTP, and Meta delivering signed WhatsApp webhooks, both through `origin` (the tunnel: the
 * test points it at the new services at the switch). Each keeps a ledger of what the services
 * acknowledged, to compare with the stores afterwards.
 *
 * Like a real client, a request answered 503 is sent again after its Retry-After (1 s when
 * none), and one that found no listener or lost its connection is sent again after 100 ms: an
 * enqueue carries an idempotency key and a completion its lease token, so a retry is safe; a
 * webhook Meta did not see acknowledged is delivered again with the same message id.
 */
import { signPayload } from "../../services/brain/src/webhook.js";

export interface Origin {
  tq: string;
  brain: string;
}

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends until an answer other than 503 comes (or `deadlineMs` passes); counts the 503 refusals by their error. */
async function send(url: () => string, init: RequestInit, refusals: Map<string, number>, deadlineMs = 90_000): Promise<Answer> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (Date.now() > end) throw new Error(`no answer but 503 or a lost connection for ${deadlineMs} ms from ${url()}`);
    let r: Response;
    try {
      r = await fetch(url(), init);
    } catch {
      refusals.set("connection", (refusals.get("connection") ?? 0) + 1);
      await sleep(100);
      continue;
    }
    const text = await r.text();
    if (r.status === 503) {
      const error = (() => {
        try {
          return String(JSON.parse(text).error);
        } catch {
          return "503";
        }
      })();
      refusals.set(error, (refusals.get(error) ?? 0) + 1);
      await sleep(Number(r.headers.get("retry-after") ?? "1") * 1000);
      continue;
    }
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  }
}

export class AgentLoad {
  /** Idempotency key → task id, for every enqueue the service acknowledged. */
  readonly acked = new Map<string, number>();
  readonly completed = new Set<number>();
  /** Claims that handed out a task an agent had already completed. */
  readonly handedOutAgain: number[] = [];
  readonly stale: number[] = [];
  readonly problems: string[] = [];
  readonly refusals = new Map<string, number>();
  private running = false;
  private loops: Promise<void>[] = [];

  /** `prefix` keeps the idempotency keys of two loads apart. */
  constructor(private readonly origin: Origin, private readonly tokens: string[], private readonly queue: string, private readonly prefix = "agent") {}

  post(token: string, path: string, body: unknown): Promise<Answer> {
    return send(() => `${this.origin.tq}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) }, this.refusals);
  }

  start(): void {
    this.running = true;
    this.loops = this.tokens.map((token, i) => this.agent(token, i).catch((e: Error) => void this.problems.push(`agent ${i}: ${e.message}`)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async agent(token: string, i: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      const key = `${this.prefix}${i}-${n}`;
      const e = await this.post(token, "/v1/tasks", { queue: this.queue, payload: { key }, idempotencyKey: key });
      if (e.status === 200 || e.status === 201) {
        const seen = this.acked.get(key);
        if (seen !== undefined && seen !== e.body.task.id) this.problems.push(`${key} acknowledged as task ${seen} and ${e.body.task.id}`);
        this.acked.set(key, e.body.task.id);
      } else this.problems.push(`enqueue ${key}: ${e.status} ${JSON.stringify(e.body)}`);
      const c = await this.post(token, "/v1/claim", { queues: [this.queue], limit: 2, leaseSeconds: 30, waitMs: 100 });
      if (c.status !== 200) {
        this.problems.push(`claim: ${c.status} ${JSON.stringify(c.body)}`);
        continue;
      }
      for (const t of c.body.tasks as { id: number; leaseToken: string }[]) {
        if (this.completed.has(t.id)) this.handedOutAgain.push(t.id);
        await sleep(5 + (t.id % 20));
        const d = await this.post(token, `/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken, result: { agent: i } });
        if (d.status === 200) this.completed.add(t.id);
        else if (d.status === 409) this.stale.push(t.id);
        else this.problems.push(`complete ${t.id}: ${d.status} ${JSON.stringify(d.body)}`);
      }
    }
  }
}

export class WebhookLoad {
  /** Message id → text, for every delivery the brain answered 200. */
  readonly acked = new Map<string, string>();
  readonly problems: string[] = [];
  readonly refusals = new Map<string, number>();
  private running = false;
  private loops: Promise<void>[] = [];

  /** `prefix` keeps the message ids (and learners) of two loads apart. */
  constructor(private readonly origin: Origin, private readonly appSecret: string, private readonly phoneNumberId: string, private readonly senders: number, private readonly prefix = "live") {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.senders }, (_, i) => this.sender(i).catch((e: Error) => void this.problems.push(`sender ${i}: ${e.message}`)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async sender(i: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      const id = `wamid.${this.prefix}.${i}.${n}`;
      const text = `${this.prefix} ${i}.${n}`;
      // A few messages per learner (the free plan answers 30 a day).
      const from = `44770${this.prefix.length}${String(i).padStart(2, "0")}${String(n % 60).padStart(3, "0")}`;
      const raw = JSON.stringify({
        object: "whatsapp_business_account",
        entry: [{ id: "WABA_ID", changes: [{ field: "messages", value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550000000", phone_number_id: this.phoneNumberId },
          contacts: [{ profile: { name: "Learner" }, wa_id: from }],
          messages: [{ from, id, timestamp: String(Math.floor(Date.now() / 1000)), type: "text", text: { body: text } }],
        } }] }],
      });
      const headers = { "content-type": "application/json", "x-hub-signature-256": signPayload(raw, this.appSecret) };
      // Meta redelivers what was not answered 200: the same payload, the same message id.
      for (;;) {
        const r = await send(() => `${this.origin.brain}/webhooks/whatsapp`, { method: "POST", headers, body: raw }, this.refusals);
        if (r.status === 200) break;
        this.refusals.set(String(r.status), (this.refusals.get(String(r.status)) ?? 0) + 1);
        await sleep(100);
      }
      this.acked.set(id, text);
      await sleep(20);
    }
  }
}
