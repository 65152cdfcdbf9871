import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentTokens, openTokenStore } from "@tierstack/common";
import { buildApp, type TaskQueueApp } from "../src/app.js";
import { readConfig } from "../src/config.js";
import { impls } from "./helpers.js";

/*
 * Issue #10, requirement 4: generated hostile requests, sent over real HTTP/1.1 to the service on
 * both stores at once — the same bytes to each — never get a 5xx, never crash it, and get the
 * same answer from both stores. Hostile: nesting around the limit and far past it, NUL, the codec's
 * escape and lone surrogates anywhere in strings and member names, numbers JavaScript cannot hold,
 * unknown fields, wrong types, duplicate members, bytes that are not UTF-8, oversized bodies, and
 * missing, duplicate and malformed Authorization and Content-Type headers.
 *
 * "The same answer" is the same status and the same JSON once what legitimately differs is named
 * instead of compared: task ids (PostgreSQL's sequence skips on conflicts; an id becomes the
 * symbol of the task it names, by order of first appearance), lease tokens (random), and the
 * times the stores take from their clocks (a time within a day of now; the times a request set,
 * far from now, are compared exactly). Requests are sent one at a time and avoid what would make
 * the answer depend on timing: leases are ≥ 60 s, retries wait ≥ 30 min, long polls are 0 ms.
 */

// ---------------------------------------------------------------------------------------------
// The raw HTTP client: every header line as written (duplicates included), the body as bytes.

interface RawRequest {
  method: "GET" | "POST";
  path: string;
  headers: [string, string][];
  body?: Buffer;
}
interface RawAnswer {
  status: number;
  body: string;
}

function send(port: number, r: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const head = [`${r.method} ${r.path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...r.headers.map(([k, v]) => `${k}: ${v}`)];
    if (r.body) head.push(`Content-Length: ${r.body.length}`);
    const sock = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    sock.on("data", (d) => chunks.push(d));
    sock.on("error", reject);
    sock.on("close", () => {
      const raw = Buffer.concat(chunks);
      const end = raw.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(raw.toString("latin1").slice(0, 200))}`));
      const lines = raw.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(lines[0]?.split(" ")[1]);
      let body = raw.subarray(end + 4);
      if (lines.some((l) => /^transfer-encoding:\s*chunked/i.test(l))) {
        const parts: Buffer[] = [];
        for (let at = 0; ; ) {
          const eol = body.indexOf("\r\n", at);
          const size = parseInt(body.subarray(at, eol).toString("latin1"), 16);
          if (!size) break;
          parts.push(body.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
        }
        body = Buffer.concat(parts);
      }
      resolve({ status, body: body.toString("utf8") });
    });
    sock.write(Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "utf8"), r.body ?? Buffer.alloc(0)]));
  });
}

// ---------------------------------------------------------------------------------------------
// What a generated request is before it is resolved for one store.

/** Marks in generated values, replaced per store (ids, tokens) or in the JSON text (what JSON.stringify cannot write). */
const MARK = "⟦tq⟧";
const idRef = (k: number) => `${MARK}id:${k}${MARK}`;
const tokenRef = (k: number) => `${MARK}token:${k}${MARK}`;
const literal = (text: string) => `${MARK}lit:${text}${MARK}`;
const BAD_BYTES = `${MARK}bytes${MARK}`;
/** A string just over the 1 MB body limit, written in at the end (so a counterexample stays readable). */
const OVERSIZE = `${MARK}oversize${MARK}`;

type Auth = "valid" | "none" | "empty" | "basic" | "unknown" | "valid-then-unknown" | "unknown-then-valid" | "joined" | "lowercase";
type ContentType = "json" | "json-charset" | "JSON" | "text" | "form" | "none" | "json-then-text" | "text-then-json";
type Mutation = "none" | "unknown-field" | "wrong-type" | "deep" | "number" | "duplicate" | "bad-utf8" | "not-json" | "empty" | "oversize";

interface Command {
  route: string;
  method: "GET" | "POST";
  /** A path with marks (ids), query string included. */
  path: string;
  /** The body value (with marks); undefined: no body. */
  body?: unknown;
  /** The route validates its body against a closed schema. */
  closedBody: boolean;
  mutation: Mutation;
  /** For wrong-type and unknown-field: which field, and the value. */
  field?: string;
  value?: unknown;
  auth: Auth;
  contentType: ContentType;
}

/** Any UTF-16 code unit, lone surrogates included, with the codec's own characters made likely. */
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("\u0000", "\u0010", "0", "d", "8", "\ud800", "\udbff", "\udc00", "\udfff", "\ufffd", "\ud83d\ude00", '"', "\\", "/", "~") },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 1 }) },
);
const hostileString = fc.string({ unit, maxLength: 12 });
const hostileJson = fc.jsonValue({ maxDepth: 3, stringUnit: unit });
const queueName = fc.oneof({ weight: 8, arbitrary: fc.constantFrom("pa", "pb") }, { weight: 1, arbitrary: fc.oneof(hostileString, fc.constantFrom("", "a b", "x".repeat(65), "ä")) });
/** Values for numeric fields that are never a short lease or a real long poll, valid or not. */
const numberValue = fc.constantFrom(-1, 0, 1.5, 2, 7, 1000, 3600, -1000, 1001, 1_000_000, 2 ** 31, 2 ** 53, -(2 ** 53));
/** Number literals written into the JSON text as they are. */
const numberLiteral = fc.constantFrom("1e400", "-1e400", "1e-400", "12345678901234567890", "-9007199254740993", "-0", "1e308", "5e-324", "0.5e1", "1E2", "-0.0", "100");
const wrongValue = fc.oneof(hostileString, fc.boolean(), fc.constant(null), numberValue, fc.array(fc.integer({ min: -3, max: 3 }), { maxLength: 2 }), fc.dictionary(hostileString, fc.integer(), { maxKeys: 2 }), hostileJson);
const runAt = fc.oneof(
  fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("2010-01-01T00:00:00Z"), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ min: new Date("2200-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    "2001-01-01T00:00:00+14:00", "2001-01-01t00:00:00z", "2001-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2016-12-31T23:59:60Z", "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2001-01-01T00:00:00.1234Z", "2001-01-01", "2001-01-01T00:00:00", "2001-13-01T00:00:00Z", "yesterday",
  ),
);
const idPath = fc.oneof({ weight: 6, arbitrary: fc.nat(40).map(idRef) }, { weight: 1, arbitrary: fc.constantFrom("999999999999", "0", "-1", "0x10", "1e3", "abc", "%00", "%ED%A0%80", "9007199254740993", "1.0", "%20", "%", "01") });
const leaseToken = fc.oneof({ weight: 6, arbitrary: fc.nat(40).map(tokenRef) }, { weight: 1, arbitrary: fc.oneof(hostileString, fc.constant("x".repeat(65))) });

const task = fc.record(
  { queue: queueName, payload: hostileJson, priority: fc.integer({ min: -3, max: 3 }), runAt, maxAttempts: fc.integer({ min: 1, max: 3 }), idempotencyKey: hostileString.filter((s) => s.length > 0) },
  { requiredKeys: ["queue"] },
);
const claim = (waitMs: number) => fc.record({ queues: fc.array(queueName, { minLength: 1, maxLength: 3 }), limit: fc.integer({ min: 1, max: 3 }), leaseSeconds: fc.constantFrom(60, 3600), waitMs: fc.constant(waitMs) }, { requiredKeys: ["queues"] });
const query = (keys: Record<string, fc.Arbitrary<string>>) =>
  fc.record(keys, { requiredKeys: [] }).map((q) => {
    const s = Object.entries(q).map(([k, v]) => `${k}=${v}`).join("&");
    return s ? `?${s}` : "";
  });
const queryValue = fc.oneof(fc.constantFrom("pa", "pb", "ready", "running", "dead", "completed", "cancelled", "0", "5", "500", "501", "1e400", "0x10", "-1", "%00", "%ED%A0%80", "%ZZ", "a&after=1", ""), fc.nat(40).map(idRef));

/** [route, method, path, body, closed body schema] before mutation. */
const shapes: fc.Arbitrary<[string, "GET" | "POST", string, unknown, boolean]> = fc.oneof(
  { weight: 4, arbitrary: task.map((t) => ["enqueue", "POST", "/v1/tasks", t, true] as [string, "POST", string, unknown, boolean]) },
  { weight: 1, arbitrary: fc.array(task, { minLength: 1, maxLength: 3 }).map((tasks) => ["batch", "POST", "/v1/tasks/batch", { tasks }, true] as [string, "POST", string, unknown, boolean]) },
  { weight: 4, arbitrary: claim(0).map((c) => ["claim", "POST", "/v1/claim", c, true] as [string, "POST", string, unknown, boolean]) },
  { weight: 1, arbitrary: fc.tuple(idPath, leaseToken, fc.option(fc.constantFrom(60, 3600), { nil: undefined })).map(([id, t, s]) => ["heartbeat", "POST", `/v1/tasks/${id}/heartbeat`, { leaseToken: t, ...(s ? { leaseSeconds: s } : {}) }, true] as [string, "POST", string, unknown, boolean]) },
  {
    weight: 3,
    arbitrary: fc.tuple(idPath, leaseToken, fc.option(hostileJson, { nil: undefined }), fc.option(claim(0), { nil: undefined })).map(([id, t, result, next]) => [
      "complete", "POST", `/v1/tasks/${id}/complete`, { leaseToken: t, ...(result === undefined ? {} : { result }), ...(next ? { next } : {}) }, true,
    ] as [string, "POST", string, unknown, boolean]),
  },
  { weight: 2, arbitrary: fc.tuple(idPath, leaseToken, hostileString, fc.option(fc.boolean(), { nil: undefined })).map(([id, t, error, retry]) => ["fail", "POST", `/v1/tasks/${id}/fail`, { leaseToken: t, error, ...(retry === undefined ? {} : { retry }) }, true] as [string, "POST", string, unknown, boolean]) },
  { weight: 1, arbitrary: idPath.map((id) => ["cancel", "POST", `/v1/tasks/${id}/cancel`, undefined, false] as [string, "POST", string, unknown, boolean]) },
  { weight: 1, arbitrary: idPath.map((id) => ["requeue", "POST", `/v1/dead/${id}/requeue`, undefined, false] as [string, "POST", string, unknown, boolean]) },
  { weight: 1, arbitrary: idPath.map((id) => ["get", "GET", `/v1/tasks/${id}`, undefined, false] as [string, "GET", string, unknown, boolean]) },
  { weight: 1, arbitrary: idPath.map((id) => ["dead-get", "GET", `/v1/dead/${id}`, undefined, false] as [string, "GET", string, unknown, boolean]) },
  { weight: 2, arbitrary: query({ queue: queryValue, state: queryValue, after: queryValue, limit: queryValue, lmit: queryValue }).map((q) => ["list", "GET", `/v1/tasks${q}`, undefined, false] as [string, "GET", string, unknown, boolean]) },
  { weight: 1, arbitrary: query({ queue: queryValue, after: queryValue, limit: queryValue }).map((q) => ["dead-list", "GET", `/v1/dead${q}`, undefined, false] as [string, "GET", string, unknown, boolean]) },
);

const command: fc.Arbitrary<Command> = fc
  .record({
    shape: shapes,
    mutation: fc.oneof(
      { weight: 10, arbitrary: fc.constant<Mutation>("none") },
      { weight: 6, arbitrary: fc.constantFrom<Mutation>("unknown-field", "wrong-type", "deep", "number", "duplicate", "bad-utf8", "not-json", "empty") },
      { weight: 1, arbitrary: fc.constant<Mutation>("oversize") },
    ),
    field: fc.constantFrom("queue", "payload", "priority", "runAt", "maxAttempts", "idempotencyKey", "queues", "limit", "leaseSeconds", "waitMs", "leaseToken", "result", "error", "retry", "next", "tasks", "runat", "reslt", "__proto__", "constructor", "\u0000", "\ud800"),
    /** Names no request schema has: misspellings, case, spaces, NUL, a lone surrogate, a long one. */
    unknown: fc.constantFrom("runat", "reslt", "leaseSecond", "queus", "priorty", "payLoad", "Queue", "leaseToken ", "\u0000", "\ud800", "constructor", "x".repeat(100)),
    value: wrongValue,
    depth: fc.constantFrom(63, 64, 65, 1000, 20_000),
    literal: numberLiteral,
    auth: fc.oneof({ weight: 12, arbitrary: fc.constant<Auth>("valid") }, { weight: 1, arbitrary: fc.constantFrom<Auth>("none", "empty", "basic", "unknown", "valid-then-unknown", "unknown-then-valid", "joined", "lowercase") }),
    contentType: fc.oneof({ weight: 12, arbitrary: fc.constant<ContentType>("json") }, { weight: 1, arbitrary: fc.constantFrom<ContentType>("json-charset", "JSON", "text", "form", "none", "json-then-text", "text-then-json") }),
  })
  .map(({ shape: [route, method, path, body, closedBody], mutation, field, unknown, value, depth, literal: lit, auth, contentType }) => {
    const c: Command = { route, method, path, body, closedBody, mutation, auth, contentType };
    if (method === "GET") return { ...c, mutation: "none" as const, contentType: "none" as const };
    const obj = (typeof body === "object" && body !== null ? { ...(body as Record<string, unknown>) } : {}) as Record<string, unknown>;
    // waitMs stays 0 or invalid (no long polls): it is only ever replaced by a value over its maximum or of another type.
    // A member named __proto__ cannot be assigned (it sets the prototype); such mutations go to payload.
    const target = field === "__proto__" ? "payload" : field;
    const safe = (f: string, v: unknown) => (f === "waitMs" && typeof v === "number" && v >= 0 && v <= 30_000 ? 30_001 : f === "leaseSeconds" && typeof v === "number" && v > 0 && v < 60 ? 0 : v);
    switch (mutation) {
      case "unknown-field":
        return { ...c, body: Object.assign(obj, { [unknown]: value }), field: unknown, value };
      case "wrong-type":
        return { ...c, body: Object.assign(obj, { [target]: safe(target, value) }), field: target, value };
      case "deep":
        return { ...c, body: Object.assign(obj, { [target === "queue" ? "payload" : target]: literal("[".repeat(depth) + "]".repeat(depth)) }), field: String(depth) };
      case "number":
        return { ...c, body: Object.assign(obj, { [target === "waitMs" ? "priority" : target]: literal(lit) }), field: lit };
      case "duplicate":
        return { ...c, body: Object.assign({ [`${MARK}dup${MARK}`]: value }, obj), field };
      case "bad-utf8":
        return { ...c, body: Object.assign(obj, { [target]: BAD_BYTES }) };
      case "oversize":
        return { ...c, body: Object.assign(obj, { payload: OVERSIZE }) };
      default:
        return { ...c, body: body === undefined && mutation !== "none" ? {} : body };
    }
  });

// ---------------------------------------------------------------------------------------------
// One store's side: its service, its token, and the symbols of what it answered.

interface Side {
  name: string;
  svc: TaskQueueApp;
  port: number;
  token: string;
  /** id → symbol and back, by order of first appearance in answers. */
  symbolOf: Map<number, number>;
  idOf: number[];
  /** symbol → the last lease token this side handed out for it. */
  tokens: Map<number, string>;
  close: () => Promise<void>;
}

function resolve(side: Side, c: Command): RawRequest {
  const sub = (text: string) =>
    text.replace(new RegExp(`${MARK}(id|token):(\\d+)${MARK}`, "g"), (_m, kind: string, k: string) => {
      const n = side.idOf.length;
      if (kind === "id") return n ? String(side.idOf[Number(k) % n]) : "999999999999";
      const token = n ? side.tokens.get(Number(k) % n) : undefined;
      return token ?? "no-lease";
    });
  const headers: [string, string][] = [];
  const other = "Bearer tsa_0000000000000000_" + "A".repeat(43);
  const auths: Record<Auth, string[]> = {
    valid: [`Bearer ${side.token}`], none: [], empty: ["Bearer "], basic: ["Basic dXNlcjpwYXNz"], unknown: [other],
    "valid-then-unknown": [`Bearer ${side.token}`, other], "unknown-then-valid": [other, `Bearer ${side.token}`],
    joined: [`Bearer ${side.token}, ${other}`], lowercase: [`bearer ${side.token}`],
  };
  for (const a of auths[c.auth]) headers.push(["Authorization", a]);
  const types: Record<ContentType, string[]> = {
    json: ["application/json"], "json-charset": ["application/json; charset=utf-8"], JSON: ["APPLICATION/JSON"], text: ["text/plain"],
    form: ["application/x-www-form-urlencoded"], none: [], "json-then-text": ["application/json", "text/plain"], "text-then-json": ["text/plain", "application/json"],
  };
  let body: Buffer | undefined;
  if (c.body !== undefined || c.mutation === "empty" || c.mutation === "not-json") {
    for (const t of types[c.contentType]) headers.push(["Content-Type", t]);
    if (c.mutation === "empty") body = Buffer.alloc(0);
    else if (c.mutation === "not-json") body = Buffer.from(`${JSON.stringify(c.body ?? {}).slice(0, -1)},`);
    else {
      // JSON.stringify escapes every mark's neighbours but not the marks: replace them in the text.
      const text = sub(JSON.stringify(c.body))
        .replace(new RegExp(`"${MARK}lit:([^⟦]*)${MARK}"`, "g"), (_m, lit: string) => lit)
        .replace(new RegExp(`"${MARK}dup${MARK}"`, "g"), JSON.stringify(c.field === "\u0000" ? "queue" : c.field ?? "queue"))
        .replace(`"${OVERSIZE}"`, JSON.stringify("x".repeat(1024 * 1024 + 10)));
      const [before, ...after] = text.split(`"${BAD_BYTES}"`);
      body = Buffer.concat([Buffer.from(before ?? "", "utf8"), ...after.flatMap((a) => [Buffer.from([0x22, 0x63, 0x61, 0x66, 0xe9, 0xff, 0x22]), Buffer.from(a, "utf8")])]);
    }
  }
  return { method: c.method, path: sub(c.path), headers, body };
}

const TIME_KEYS = new Set(["createdAt", "updatedAt", "finishedAt", "leaseExpiresAt", "runAt"]);

/** An answer with ids as symbols, tokens and clock times named (see the top of the file); records new symbols and tokens. */
function normalise(side: Side, a: RawAnswer): unknown {
  let v: unknown;
  try {
    v = JSON.parse(a.body);
  } catch {
    return { status: a.status, text: a.body };
  }
  const sym = (id: number) => {
    let s = side.symbolOf.get(id);
    if (s === undefined) {
      s = side.idOf.length;
      side.symbolOf.set(id, s);
      side.idOf.push(id);
    }
    return s;
  };
  const now = Date.now();
  const walk = (x: unknown, key?: string): unknown => {
    if (Array.isArray(x)) return x.map((e) => walk(e));
    if (x !== null && typeof x === "object") {
      const o = x as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const isTask = typeof o.id === "number" && typeof o.state === "string";
      if (isTask && typeof o.leaseToken === "string") side.tokens.set(sym(o.id as number), o.leaseToken);
      for (const [k, e] of Object.entries(o)) {
        if (isTask && k === "id") out[k] = `#${sym(e as number)}`;
        else if (isTask && k === "leaseToken") out[k] = "<token>";
        else if (TIME_KEYS.has(k) && typeof e === "string") out[k] = Math.abs(Date.parse(e) - now) < 86_400_000 ? "<now>" : e;
        else out[k] = walk(e, k);
      }
      return out;
    }
    if (key === "next" && typeof x === "number") return `#${sym(x)}`;
    if (key === "message" && typeof x === "string") return x.replace(/\btask (\d+)/g, (m, d: string) => (side.symbolOf.has(Number(d)) ? `task #${side.symbolOf.get(Number(d))}` : m));
    return x;
  };
  return { status: a.status, body: walk(v) };
}

/**
 * The status the contract prescribes whatever the store, where it prescribes one: nothing unknown,
 * unparseable or oversized is accepted, nothing unauthenticated gets further than a 401.
 */
function contractStatus(c: Command): number | undefined {
  // A malformed URL (a bad %-escape) is refused while routing, before any of this.
  if (c.path.includes("%")) return undefined;
  // Node keeps the first of two Authorization headers; the scheme's name is case-insensitive (RFC 9110 §11.1).
  if (c.auth !== "valid" && c.auth !== "valid-then-unknown" && c.auth !== "lowercase") return 401;
  const json = c.contentType === "json" || c.contentType === "json-charset" || c.contentType === "JSON" || c.contentType === "json-then-text";
  if (c.method !== "POST" || !json) return undefined;
  const dupKey = c.field === "\u0000" ? "queue" : c.field ?? "queue";
  switch (c.mutation) {
    case "oversize":
      return 413;
    case "deep":
      return Number(c.field) + 1 > 64 ? 400 : undefined; // the body is level 1
    case "duplicate":
      return Object.hasOwn((c.body ?? {}) as object, dupKey) ? 400 : undefined;
    case "bad-utf8":
    case "not-json":
    case "empty":
      return 400;
    case "number":
      return ["1e400", "-1e400", "1e-400", "12345678901234567890", "-9007199254740993"].includes(c.field ?? "") ? 400 : undefined;
    case "unknown-field":
      return c.closedBody ? 400 : undefined;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

/** About 12 s on both stores (≈ 30 ms a run of up to 8 requests); issue #10 allows ~60 s for every API's. */
const NUM_RUNS = 400;

describe.skipIf(impls.some((i) => i.skip))("task-queue HTTP API under generated hostile requests, SQLite and PostgreSQL side by side", () => {
  const sides: Side[] = [];
  beforeAll(async () => {
    for (const impl of impls) {
      const opened = await impl.open();
      const ts = await openTokenStore(opened.url);
      const tokens = new AgentTokens(ts.store, { cacheMs: 60_000 });
      const { token } = await tokens.issue("agent-prop");
      const config = readConfig({ DATABASE_URL: opened.url, LOG_LEVEL: "silent", PAYLOAD_MAX_BYTES: "1024", BACKOFF_BASE_MS: "3600000", BACKOFF_MAX_MS: "3600000" });
      const svc = buildApp(config, { store: opened.store, tokens });
      await svc.app.listen({ host: "127.0.0.1", port: 0 });
      const addr = svc.app.server.address();
      if (!addr || typeof addr === "string") throw new Error("no port");
      sides.push({
        name: impl.name, svc, port: addr.port, token, symbolOf: new Map(), idOf: [], tokens: new Map(),
        close: async () => {
          await svc.app.close();
          await ts.close();
          await opened.close();
        },
      });
    }
  });
  afterAll(async () => {
    for (const s of sides) await s.close();
  });

  it(`${NUM_RUNS} generated request sequences: no 5xx, the same answers from both stores, refusals where the contract says`, async () => {
    const statuses = new Map<number, number>();
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 8 }), async (commands) => {
        for (const c of commands) {
          const answers = [];
          for (const side of sides) {
            const a = await send(side.port, resolve(side, c));
            expect(a.status, `${side.name}: ${c.method} ${c.path} (${c.mutation}) answered ${a.status} ${a.body}`).toBeLessThan(500);
            answers.push(normalise(side, a));
          }
          const [sqlite, postgres] = answers;
          expect(postgres, `${c.method} ${c.path} (${c.mutation}, ${c.auth}, ${c.contentType})`).toEqual(sqlite);
          const status = (sqlite as { status: number }).status;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          const want = contractStatus(c);
          if (want !== undefined) expect(status, `${c.method} ${c.path} (${c.mutation} ${JSON.stringify(c.field)}, ${c.auth}, ${c.contentType}): ${JSON.stringify(sqlite)}`).toBe(want);
        }
      }),
      { numRuns: NUM_RUNS, endOnFailure: true },
    );
    // Both services are alive and still agree on everything they hold.
    const lists = [];
    for (const side of sides) {
      expect((await send(side.port, { method: "GET", path: "/healthz", headers: [] })).status).toBe(200);
      lists.push(normalise(side, await send(side.port, { method: "GET", path: "/v1/tasks?limit=500", headers: [["Authorization", `Bearer ${side.token}`]] })));
    }
    expect(lists[1]).toEqual(lists[0]);
    // Enough of the generated traffic got past the gate for the comparison to mean something (about
    // one success and two refusals a run are usual; these bounds are a third of that).
    expect((statuses.get(200) ?? 0) + (statuses.get(201) ?? 0)).toBeGreaterThan(NUM_RUNS / 3);
    expect(statuses.get(400) ?? 0).toBeGreaterThan((2 * NUM_RUNS) / 3);
    console.log(`hostile property: ${NUM_RUNS} runs in ${Date.now() - started} ms; answers by status ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  });
});
