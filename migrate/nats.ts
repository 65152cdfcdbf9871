/**
 * JetStream stream moves between NATS servers (single-box → tier-50: the box's node to the
 * cluster's node; tier-50 → tier-100: one node to a three-node cluster). The old and the new
 * servers each run JetStream in their own domain and are joined by a leaf node connection
 * (https://docs.nats.io/running-a-nats-service/configuration/leafnodes/jetstream_leafnodes): the
 * old domain's API is then reachable from the new side as `$JS.<domain>.API`, which is what a
 * stream source's `external.api` (or its `domain` shorthand) names.
 *
 * The order, for each stream:
 *   1. `mirrorStream(spec)` creates the final stream on the new servers, without subjects and
 *      with one source: the old stream across the leaf node. It is a sourced stream, not a
 *      `mirror`, because a mirror cannot be turned into a normal stream on the servers here
 *      (nats-server 2.9 and 2.11: a mirror's configuration cannot be updated), while a source
 *      can be removed by a stream update. Sourced messages keep their headers (Nats-Msg-Id
 *      included, so the new stream's duplicate window knows them) and carry
 *      `Nats-Stream-Source: <stream>:<hash> <original sequence>`.
 *   2. Publishers keep publishing to the old stream; `waitCaughtUp(spec)` returns once the new
 *      stream holds as many messages as the old one and its last message is the old stream's
 *      last sequence (sequence numbers and message counts), or throws after the timeout.
 *   3. Publishers stop (the task queue's relay leaves events in its outbox), `waitCaughtUp`
 *      again, then `switchStream(spec)`: the old stream's subjects are retired (so a publish
 *      over the leaf node is not captured twice), the source is removed from the new stream and
 *      the new stream takes the old stream's subjects. Publishers then publish to the new
 *      servers; an event re-sent with the same Nats-Msg-Id is acknowledged as a duplicate.
 *   4. `compareStreams(spec)` checks every message of the old stream is in the new one exactly
 *      once, in order, with the same subject, data and Nats-Msg-Id; with no gaps in the old
 *      stream the new sequence numbers equal the old ones.
 *
 * Rolling back after the switch: `switchBack(spec)` (publishers stopped again) sources the
 * messages published to the new stream since the switch into the old stream, waits for them,
 * then gives the old stream its subjects back and retires the new stream's.
 *
 * Every function opens its own connections and closes them.
 */
import { jetstream, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

type Connection = Awaited<ReturnType<typeof connect>>;

export interface StreamRef {
  /** Comma-separated nats:// URLs of the servers holding the stream. */
  servers: string;
  stream: string;
}

export interface StreamMove {
  /** The old stream, and the JetStream domain its server runs in (reached over the leaf node). */
  from: StreamRef & { domain: string };
  /** The new stream and its replicas (the new cluster's, up to 3); its domain is needed only to switch back. */
  to: StreamRef & { replicas?: number; domain?: string };
}

export interface CatchUp {
  sourceLastSeq: number;
  sourceMessages: number;
  targetLastSeq: number;
  targetMessages: number;
  /** The old stream's sequence of the new stream's last sourced message (0 when none). */
  lastSourcedSeq: number;
  caughtUp: boolean;
}

/** The header a sourced message carries: `<stream>[:<hash>] <sequence> …`. */
export const sourceHeader = "Nats-Stream-Source";

/** The subject the old stream is moved to at the switch: nothing publishes there. */
export const retiredSubject = (stream: string) => `tierstack.moved.${stream}`;

async function withJsm<T>(servers: string, f: (jsm: JetStreamManager, nc: Connection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: servers.split(",").map((s) => s.trim()), timeout: 5000 });
  try {
    return await f(await jetstreamManager(nc, { timeout: 5000 }), nc);
  } finally {
    await nc.close();
  }
}

async function infoOrUndefined(jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(stream);
  } catch (err) {
    if (/stream not found/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

/** A stream's position (last sequence, messages). */
export async function streamState(servers: string, stream: string): Promise<{ lastSeq: number; messages: number }> {
  return withJsm(servers, async (jsm) => {
    const info = await jsm.streams.info(stream);
    return { lastSeq: info.state.last_seq, messages: info.state.messages };
  });
}

/** The original sequence a sourced message's header names, or undefined. */
export function sourcedSeq(header: string | undefined, stream: string): number | undefined {
  if (!header) return undefined;
  const [origin, seq] = header.trim().split(/\s+/);
  if (origin === undefined || (origin !== stream && !origin.startsWith(`${stream}:`))) return undefined;
  const n = Number(seq);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Creates the new stream, sourcing the old one across the leaf node (idempotent: an existing
 * new stream with that one source is kept). The new stream copies the old one's limits,
 * retention, storage and duplicate window; it has no subjects until the switch.
 */
export async function mirrorStream(spec: StreamMove): Promise<StreamInfo> {
  const old = await withJsm(spec.from.servers, (jsm) => jsm.streams.info(spec.from.stream));
  return withJsm(spec.to.servers, async (jsm) => {
    const existing = await infoOrUndefined(jsm, spec.to.stream);
    if (existing) {
      const sources = existing.config.sources ?? [];
      const ours = sources.length === 1 && sources[0]?.name === spec.from.stream && sources[0]?.external?.api === `$JS.${spec.from.domain}.API`;
      if (!ours) throw new Error(`stream ${spec.to.stream} already exists on ${spec.to.servers} and does not source ${spec.from.stream} from domain ${spec.from.domain}: delete it or pick another name`);
      return existing;
    }
    const c = old.config;
    const config: Partial<StreamConfig> & { name: string } = {
      name: spec.to.stream,
      subjects: [],
      sources: [{ name: spec.from.stream, external: { api: `$JS.${spec.from.domain}.API`, deliver: "" } }],
      retention: c.retention,
      storage: c.storage,
      discard: c.discard,
      max_msgs: c.max_msgs,
      max_bytes: c.max_bytes,
      max_age: c.max_age,
      max_msg_size: c.max_msg_size,
      max_msgs_per_subject: c.max_msgs_per_subject,
      duplicate_window: c.duplicate_window,
      num_replicas: spec.to.replicas ?? c.num_replicas,
    };
    return jsm.streams.add(config);
  });
}

/** Where the new stream stands against the old one (one look, no waiting). */
export async function streamCatchUp(spec: StreamMove): Promise<CatchUp> {
  const src = await withJsm(spec.from.servers, (jsm) => jsm.streams.info(spec.from.stream));
  return withJsm(spec.to.servers, async (jsm) => {
    const dst = await jsm.streams.info(spec.to.stream);
    let lastSourcedSeq = 0;
    if (dst.state.messages > 0) {
      const last = await jsm.streams.getMessage(spec.to.stream, { seq: dst.state.last_seq });
      lastSourcedSeq = sourcedSeq(last?.header.get(sourceHeader), spec.from.stream) ?? 0;
    }
    const s = src.state;
    const caughtUp = dst.state.messages === s.messages && (s.messages === 0 || lastSourcedSeq === s.last_seq);
    return { sourceLastSeq: s.last_seq, sourceMessages: s.messages, targetLastSeq: dst.state.last_seq, targetMessages: dst.state.messages, lastSourcedSeq, caughtUp };
  });
}

/** Waits until the new stream has caught up with the old one; throws, saying where both stand, after `timeoutMs`. */
export async function waitCaughtUp(spec: StreamMove, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<CatchUp> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const c = await streamCatchUp(spec);
    if (c.caughtUp) return c;
    if (Date.now() >= deadline) {
      throw new Error(`stream ${spec.to.stream} has not caught up with ${spec.from.stream}: source at sequence ${c.sourceLastSeq} with ${c.sourceMessages} messages, target has ${c.targetMessages} messages, the last sourced from sequence ${c.lastSourcedSeq}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

/**
 * The switch, once publishers have stopped and the new stream has caught up (checked again
 * here): the old stream's subjects are retired, the new stream drops its source and takes the
 * old stream's subjects. Returns the subjects the new stream now captures.
 */
export async function switchStream(spec: StreamMove): Promise<string[]> {
  const caught = await streamCatchUp(spec);
  if (!caught.caughtUp) throw new Error(`stream ${spec.to.stream}: not switching before it has caught up (source at ${caught.sourceLastSeq} with ${caught.sourceMessages} messages, target ${caught.targetMessages} messages up to source sequence ${caught.lastSourcedSeq})`);
  const subjects = await withJsm(spec.from.servers, async (jsm) => {
    const old = await jsm.streams.info(spec.from.stream);
    const subs = old.config.subjects ?? [];
    if (!(subs.length === 1 && subs[0] === retiredSubject(spec.from.stream))) await jsm.streams.update(spec.from.stream, { subjects: [retiredSubject(spec.from.stream)] });
    return subs;
  });
  return withJsm(spec.to.servers, async (jsm) => {
    const info = await jsm.streams.info(spec.to.stream);
    // Re-run after a switch that already happened: the old stream's subjects are retired, keep the new ones.
    const taking = subjects.length === 1 && subjects[0] === retiredSubject(spec.from.stream) ? (info.config.subjects ?? []) : subjects;
    await jsm.streams.update(spec.to.stream, { sources: [], subjects: taking });
    return taking;
  });
}

export interface StoredMessage {
  seq: number;
  subject: string;
  data: string;
  msgId?: string;
  /** For a sourced message, the sequence it had in the stream it came from. */
  sourcedSeq?: number;
}

/** Every message of a stream, in order (an ordered consumer from the first sequence). */
export async function readStream(servers: string, stream: string, sourceName?: string): Promise<StoredMessage[]> {
  const nc = await connect({ servers: servers.split(",").map((s) => s.trim()), timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const { state } = await jsm.streams.info(stream);
    const out: StoredMessage[] = [];
    if (state.messages === 0) return out;
    const consumer = await jetstream(nc).consumers.get(stream);
    while (out.length < state.messages && (out.at(-1)?.seq ?? 0) < state.last_seq) {
      // Asking for no more than remain, so the fetch ends as soon as they are in.
      const batch = await consumer.fetch({ max_messages: Math.min(1000, state.messages - out.length), expires: 5000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        const msgId = m.headers?.get("Nats-Msg-Id") || undefined;
        const from = sourceName ? sourcedSeq(m.headers?.get(sourceHeader), sourceName) : undefined;
        out.push({ seq: m.seq, subject: m.subject, data: m.string(), ...(msgId ? { msgId } : {}), ...(from ? { sourcedSeq: from } : {}) });
      }
      if (got === 0) throw new Error(`stream ${stream}: read ${out.length} of ${state.messages} messages, then nothing more arrived`);
    }
    return out;
  } finally {
    await nc.close();
  }
}

export interface StreamComparison {
  /** One line per difference (empty when every old message is in the new stream once, in order). */
  problems: string[];
  /** Messages of the new stream that came from the old one. */
  sourced: number;
  /** Messages of the new stream published to it directly (after the switch). */
  direct: number;
  /** Every sourced message kept its sequence number (true when the old stream had no gaps). */
  sameSequences: boolean;
}

/** Every message of the old stream against the new stream: exactly once, in order, same subject, data and Nats-Msg-Id. */
export async function compareStreams(spec: StreamMove, limit = 20): Promise<StreamComparison> {
  const old = await readStream(spec.from.servers, spec.from.stream);
  const moved = await readStream(spec.to.servers, spec.to.stream, spec.from.stream);
  const problems: string[] = [];
  const say = (s: string) => problems.length < limit && problems.push(s);
  const sourced = moved.filter((m) => m.sourcedSeq !== undefined);
  const firstDirect = moved.findIndex((m) => m.sourcedSeq === undefined);
  if (firstDirect >= 0 && moved.slice(firstDirect).some((m) => m.sourcedSeq !== undefined)) say(`${spec.to.stream}: a sourced message follows one published directly (new sequence ${moved[firstDirect]?.seq}): the switch happened before the stream had caught up`);
  const seen = new Map<number, number>();
  for (const m of sourced) seen.set(m.sourcedSeq as number, (seen.get(m.sourcedSeq as number) ?? 0) + 1);
  for (const [seq, n] of seen) if (n > 1) say(`${spec.to.stream}: old sequence ${seq} is there ${n} times`);
  let i = 0;
  for (const o of old) {
    const m = sourced[i];
    if (!m || m.sourcedSeq !== o.seq) {
      if (!seen.has(o.seq)) say(`${spec.to.stream}: old sequence ${o.seq} (${o.subject}) is missing`);
      else say(`${spec.to.stream}: old sequence ${o.seq} is out of order (expected at position ${i + 1})`);
      continue;
    }
    if (m.subject !== o.subject) say(`${spec.to.stream}: old sequence ${o.seq}: subject ${o.subject} became ${m.subject}`);
    if (m.data !== o.data) say(`${spec.to.stream}: old sequence ${o.seq}: the data differs`);
    if (m.msgId !== o.msgId) say(`${spec.to.stream}: old sequence ${o.seq}: Nats-Msg-Id ${o.msgId ?? "(none)"} became ${m.msgId ?? "(none)"}`);
    i++;
  }
  if (sourced.length > old.length) say(`${spec.to.stream}: ${sourced.length - old.length} sourced messages more than the old stream holds`);
  return { problems, sourced: sourced.length, direct: moved.length - sourced.length, sameSequences: sourced.every((m) => m.seq === m.sourcedSeq) };
}

/**
 * The rollback after `switchStream`, with publishers stopped: what the new stream took directly
 * since the switch is sourced back into the old stream (from the first sequence after the sourced
 * ones), then the old stream takes its subjects again and the new stream's are retired. Returns
 * how many messages went back. Needs `spec.to.domain`.
 */
export async function switchBack(spec: StreamMove, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<number> {
  const domain = spec.to.domain;
  if (!domain) throw new Error(`stream ${spec.to.stream}: switching back needs the new side's JetStream domain (spec.to.domain)`);
  const old = await withJsm(spec.from.servers, (jsm) => jsm.streams.info(spec.from.stream));
  const moved = await withJsm(spec.to.servers, (jsm) => jsm.streams.info(spec.to.stream));
  const subjects = moved.config.subjects ?? [];
  if (subjects.length === 1 && subjects[0] === retiredSubject(spec.to.stream)) throw new Error(`stream ${spec.to.stream} is already switched back`);
  // At the switch the new stream held exactly the old one's messages: what follows came directly.
  const firstDirect = old.state.messages + 1;
  const direct = Math.max(0, moved.state.last_seq - firstDirect + 1);
  await withJsm(spec.from.servers, (jsm) => jsm.streams.update(spec.from.stream, { sources: direct > 0 ? [{ name: spec.to.stream, opt_start_seq: firstDirect, external: { api: `$JS.${domain}.API`, deliver: "" } }] : [] }));
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const now = await withJsm(spec.from.servers, (jsm) => jsm.streams.info(spec.from.stream));
    if (now.state.messages === old.state.messages + direct) break;
    if (Date.now() >= deadline) throw new Error(`stream ${spec.from.stream}: ${now.state.messages - old.state.messages} of the ${direct} messages published since the switch came back`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
  await withJsm(spec.to.servers, (jsm) => jsm.streams.update(spec.to.stream, { subjects: [retiredSubject(spec.to.stream)] }));
  await withJsm(spec.from.servers, (jsm) => jsm.streams.update(spec.from.stream, { sources: [], subjects }));
  return direct;
}
