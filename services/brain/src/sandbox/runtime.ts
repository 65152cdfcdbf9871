/**
 * The SandboxRuntime interface (one learner ⇒ at most one live sandbox) and what both
 * implementations share: the JSON-lines channel to the learner runtime (learner/runtime.mjs)
 * and the bookkeeping of live sandboxes. An implementation only says how a sandbox is started
 * and reached (gvisor.ts: `runsc run` on the host, its stdio; kubernetes.ts: a SandboxClaim,
 * its pod's address) and how it is stopped.
 *
 * The sandbox has no network: its LLM call comes back over the channel and the brain makes it
 * with its own LlmClient, held to the models and the learner of the request it forwarded.
 */
import { StringDecoder } from "node:string_decoder";
import type { Readable, Writable } from "node:stream";
import type { ChatMessage, LlmClient, LlmResult } from "../llm.js";

export interface AskRequest {
  model: string;
  fallbackModel?: string;
  messages: ChatMessage[];
  user?: string;
}

export interface SandboxInfo {
  learnerId: string;
  /** The sandbox itself: the runsc container id, or the Sandbox bound to the learner's claim (status.sandbox.name). */
  name: string;
  startedAt: number;
  /** Journal entries the learner runtime found at start: the learner's files it resumed with. */
  resumedEntries: number;
}

export interface SandboxRuntime {
  readonly kind: "gvisor" | "kubernetes";
  /** The learner's live sandbox, or a new one (started, or claimed from the warm pool). */
  claim(learnerId: string): Promise<SandboxInfo>;
  /** Forward one request to the learner's sandbox (claiming it if needed); its LLM call is made with `llm`. */
  ask(learnerId: string, req: AskRequest, llm: LlmClient): Promise<LlmResult>;
  /** Stop the learner's sandbox; their files stay (ADR 0037). No-op when there is none. */
  release(learnerId: string): Promise<void>;
  list(): SandboxInfo[];
  status(learnerId: string): SandboxInfo | undefined;
  /** Release every sandbox. */
  close(): Promise<void>;
}

/** The sandbox went away (crashed, killed, deleted) before it answered. */
export class SandboxGone extends Error {
  override readonly name = "SandboxGone";
}

/** A sandbox's LLM calls per forwarded request: the learner runtime makes one; a few leave room, not a loop. */
const MAX_LLM_CALLS = 4;
const MAX_LINE = 4 * 1024 * 1024;

type Msg = { used?: LlmResult[]; t: string; id?: number; ok?: boolean; res?: unknown; error?: string; req?: AskRequest; entries?: number; files?: Record<string, string> };
type Waiter = { resolve: (m: Msg) => void; reject: (e: Error) => void };

/** One JSON-lines channel to a learner runtime. Closes (rejecting everything pending) when its input ends. */
export class Channel {
  private nextId = 0;
  private readonly asks = new Map<number, Waiter & { req: AskRequest; llm: LlmClient; calls: number; used: LlmResult[] }>();
  private readonly replies: { t: string; w: Waiter }[] = [];
  private closedWith: Error | undefined;
  private failReady!: (e: Error) => void;
  /** Resolves to the journal entries the runtime found when it says it is ready; rejects if the channel closes first. */
  readonly ready: Promise<number>;

  constructor(input: Readable, private readonly output: Writable, private readonly what: string) {
    let onReady!: (n: number) => void;
    this.ready = new Promise((res, rej) => {
      onReady = res;
      this.failReady = rej;
    });
    this.ready.catch(() => undefined);
    readLines(input, MAX_LINE, (line) => {
      let m: Msg;
      try {
        m = JSON.parse(line) as Msg;
      } catch {
        return; // runsc or node may print diagnostics; only JSON lines are the protocol
      }
      if (m.t === "ready") onReady(m.entries ?? 0);
      else if (m.t === "llm") this.relay(m);
      else if (m.t === "answer") this.answer(m);
      else {
        const i = this.replies.findIndex((r) => r.t === m.t);
        if (i >= 0) this.replies.splice(i, 1)[0]!.w.resolve(m);
      }
    }, (why) => this.fail(new SandboxGone(`${what}: ${why}`)));
    output.on("error", (err: Error) => this.fail(new SandboxGone(`${what}: ${err.message}`)));
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  ask(req: AskRequest, llm: LlmClient): Promise<LlmResult> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = ++this.nextId;
    return new Promise<Msg>((resolve, reject) => {
      this.asks.set(id, { resolve, reject, req, llm, calls: 0, used: [] });
      this.send({ t: "ask", id, req });
    }).then((m) => {
      if (!m.ok) throw new Error(`${this.what}: ${String(m.error ?? "failed").slice(0, 300)}`);
      return this.result(req, m);
    });
  }

  /**
   * The answer as the brain records it: the sandbox's text, and the usage of the LLM calls the
   * brain itself made for this request (a sandbox cannot report its own tokens or cost, so a
   * dedicated learner's quota counts what was really spent).
   */
  private result(req: AskRequest, m: Msg): LlmResult {
    const text = (m.res as { text?: unknown } | undefined)?.text;
    if (typeof text !== "string") throw new Error(`${this.what}: an answer without text`);
    const used = m.used ?? [];
    const last = used[used.length - 1];
    return {
      text,
      model: last?.model ?? req.model,
      promptTokens: used.reduce((n, r) => n + r.promptTokens, 0),
      completionTokens: used.reduce((n, r) => n + r.completionTokens, 0),
      costUsd: used.reduce((n, r) => n + r.costUsd, 0),
      ...(last?.fellBack ? { fellBack: true } : {}),
      ...(used.some((r) => r.usageEstimated) ? { usageEstimated: true } : {}),
      attempts: used.reduce((n, r) => n + (r.attempts ?? 1), 0),
    };
  }

  /** Send `msg` and wait for the reply of type `t` (snapshot ⇒ files, restore ⇒ restored). */
  request(msg: Msg, t: string): Promise<Msg> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.replies.push({ t, w: { resolve, reject } });
      this.send(msg);
    });
  }

  private send(msg: unknown): void {
    if (!this.closedWith) this.output.write(`${JSON.stringify(msg)}\n`);
  }

  /** The sandbox's LLM call, made here: only the forwarded request's models and learner, a bounded number of times. */
  private relay(m: Msg): void {
    const a = m.id === undefined ? undefined : this.asks.get(m.id);
    if (!a || !m.req) return;
    if (++a.calls > MAX_LLM_CALLS) return this.send({ t: "llm-result", id: m.id, ok: false, error: "too many LLM calls for one request" });
    const models = new Set([a.req.model, a.req.fallbackModel].filter(Boolean));
    if (!models.has(m.req.model) || (m.req.fallbackModel && !models.has(m.req.fallbackModel)) || !Array.isArray(m.req.messages)) {
      return this.send({ t: "llm-result", id: m.id, ok: false, error: "the request's models only" });
    }
    a.llm.complete({ model: m.req.model, fallbackModel: m.req.fallbackModel, messages: m.req.messages, user: a.req.user }).then(
      (res) => {
        a.used.push(res);
        this.send({ t: "llm-result", id: m.id, ok: true, res });
      },
      (err: unknown) => this.send({ t: "llm-result", id: m.id, ok: false, error: String((err as Error).message ?? err) }),
    );
  }

  private answer(m: Msg): void {
    const a = m.id === undefined ? undefined : this.asks.get(m.id);
    if (!a) return;
    this.asks.delete(m.id!);
    a.resolve({ ...m, used: a.used });
  }

  /** Close the channel: everything pending rejects with `err` (a SandboxGone). */
  fail(err: SandboxGone): void {
    if (this.closedWith) return;
    this.closedWith = err;
    this.failReady(err);
    for (const a of this.asks.values()) a.reject(err);
    this.asks.clear();
    for (const r of this.replies.splice(0)) r.w.reject(err);
  }
}

/**
 * JSON lines from a sandbox, each at most `max` characters: a sandbox that never sends a newline
 * ends the channel instead of growing the brain's buffer (readline would hold the whole line).
 * `end` is called once, when the input ends, errs (a reset connection) or overflows.
 */
function readLines(input: Readable, max: number, line: (l: string) => void, end: (why: string) => void): void {
  const decoder = new StringDecoder("utf8");
  let partial = "";
  let ended = false;
  const finish = (why: string): void => {
    if (ended) return;
    ended = true;
    end(why);
  };
  const overflow = (): void => {
    partial = "";
    finish(`line over ${max} bytes`);
    input.destroy();
  };
  input.on("data", (chunk: Buffer | string) => {
    if (ended) return;
    const parts = (partial + (typeof chunk === "string" ? chunk : decoder.write(chunk))).split("\n");
    partial = parts.pop() ?? "";
    for (const p of parts) {
      if (p.length > max) return overflow();
      line(p.endsWith("\r") ? p.slice(0, -1) : p);
      if (ended) return;
    }
    if (partial.length > max) overflow();
  });
  input.on("end", () => finish("channel closed"));
  input.on("close", () => finish("channel closed"));
  input.on("error", (err: Error) => finish(err.message));
}

/** A started sandbox as an implementation hands it over: its name, its channel, how to stop it. */
export interface Started {
  name: string;
  channel: Channel;
  /** Journal entries the runtime reported once ready (after any restore). */
  entries: number;
  /** Stop and remove the sandbox (kill, delete); resolves once it is gone. */
  stop(): Promise<void>;
}

/** claim/ask/release/list over an implementation's start(); one start in flight per learner. */
export abstract class ChannelRuntime implements SandboxRuntime {
  abstract readonly kind: "gvisor" | "kubernetes";
  private readonly live = new Map<string, { info: SandboxInfo; started: Started }>();
  private readonly starting = new Map<string, Promise<SandboxInfo>>();
  private closing = false;

  /** Start (or claim) a sandbox for the learner; resolves once its runtime is ready (and stops it itself on failure). */
  protected abstract start(learnerId: string): Promise<Started>;
  /** Before the sandbox is stopped on release (kubernetes: take the learner's files). */
  protected beforeStop(_learnerId: string, _started: Started): Promise<void> {
    return Promise.resolve();
  }

  async claim(learnerId: string): Promise<SandboxInfo> {
    if (this.closing) throw new Error("sandbox runtime is closed");
    const cur = this.live.get(learnerId);
    if (cur && !cur.started.channel.closed) return cur.info;
    if (cur) await this.drop(learnerId, cur.started); // it died: remove what is left before replacing it
    let p = this.starting.get(learnerId);
    if (!p) {
      p = (async () => {
        const started = await this.start(learnerId);
        const info: SandboxInfo = { learnerId, name: started.name, startedAt: Date.now(), resumedEntries: started.entries };
        if (this.closing) {
          await started.stop();
          throw new Error("sandbox runtime is closed");
        }
        this.live.set(learnerId, { info, started });
        return info;
      })().finally(() => this.starting.delete(learnerId));
      this.starting.set(learnerId, p);
    }
    return p;
  }

  async ask(learnerId: string, req: AskRequest, llm: LlmClient): Promise<LlmResult> {
    await this.claim(learnerId);
    const cur = this.live.get(learnerId);
    if (!cur) throw new SandboxGone(`learner ${learnerId}: no sandbox`);
    return cur.started.channel.ask(req, llm);
  }

  async release(learnerId: string): Promise<void> {
    await this.starting.get(learnerId)?.catch(() => undefined);
    const cur = this.live.get(learnerId);
    if (!cur) return;
    if (!cur.started.channel.closed) await this.beforeStop(learnerId, cur.started);
    await this.drop(learnerId, cur.started);
  }

  private async drop(learnerId: string, started: Started): Promise<void> {
    if (this.live.get(learnerId)?.started === started) this.live.delete(learnerId);
    started.channel.fail(new SandboxGone(`${started.name}: released`));
    await started.stop();
  }

  list(): SandboxInfo[] {
    return [...this.live.values()].filter((s) => !s.started.channel.closed).map((s) => s.info);
  }

  status(learnerId: string): SandboxInfo | undefined {
    const s = this.live.get(learnerId);
    return s && !s.started.channel.closed ? s.info : undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.starting.values()]);
    await Promise.allSettled([...this.live.keys()].map((id) => this.release(id)));
  }
}
