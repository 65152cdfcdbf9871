import { Client, type Dispatcher } from "undici";

export type PostOutcome =
  | { ok: true; status: number; retryAfter: string | string[] | undefined; text: string }
  | { ok: false; timedOut: boolean; error: unknown };

/** A response body larger than this is refused (an LLM answer or a Cloud API reply is a few KB). */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Idle keep-alive connections kept per origin; a connection finishing beyond that is closed. */
const MAX_IDLE = 4096;
/** Distinct URLs remembered (each a parsed origin and path); past it the memo starts again. */
const MAX_TARGETS = 1024;
const TIMEOUTS: ReadonlySet<string> = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/**
 * One origin's connections: an undici Client each (one request at a time, no pipelining: one slow
 * completion must not hold up another), taken from and given back to a free list. undici's Pool
 * looks for a free connection by walking all of them, which with thousands of completions in
 * flight cost more per request than the rest of its dispatch (profiled in bench/brain). A Client
 * whose socket idled out reconnects on its next request.
 */
class Connections {
  private readonly idle: Client[] = [];
  constructor(private readonly origin: string) {}
  take(): Client {
    for (;;) {
      const c = this.idle.pop();
      if (!c) return new Client(this.origin);
      if (!c.closed && !c.destroyed) return c;
    }
  }
  give(c: Client): void {
    if (c.closed || c.destroyed) return;
    if (this.idle.length < MAX_IDLE) this.idle.push(c);
    else void c.close().catch(() => undefined);
  }
}

const origins = new Map<string, Connections>();
const targets = new Map<string, { conns: Connections; path: string }>();

function target(url: string): { conns: Connections; path: string } {
  let t = targets.get(url);
  if (!t) {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new TypeError(`not an http(s) URL: ${url}`);
    let conns = origins.get(u.origin);
    if (!conns) origins.set(u.origin, (conns = new Connections(u.origin)));
    if (targets.size >= MAX_TARGETS) targets.clear();
    targets.set(url, (t = { conns, path: `${u.pathname}${u.search}` }));
  }
  return t;
}

const codeOf = (e: unknown): string => String((e as { code?: unknown } | undefined)?.code ?? "");

/**
 * One POST attempt for the LLM and Cloud API clients, on a kept-alive connection to the URL's
 * origin, through undici's dispatch API: no response stream, no AbortController and no timer of
 * our own per call (fetch(), and request() with an AbortSignal, cost several times more CPU per
 * call; profiled in bench/brain). The timeout is undici's: the response headers must come within
 * `timeoutMs` of the request being written, and the body may pause no longer than that. undici
 * checks both on a coarse clock, so a timeout fires up to about a second late; a connection that
 * cannot be made fails after undici's connect timeout (10 s). Never throws: a
 * network error or timeout comes back as `{ ok: false }` with the error, so each caller decides
 * what may be retried.
 */
export function postOnce(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostOutcome> {
  let t: { conns: Connections; path: string };
  try {
    t = target(url);
  } catch (error) {
    return Promise.resolve({ ok: false, timedOut: false, error });
  }
  return new Promise((resolve) => {
    const client = t.conns.take();
    let status = 0;
    let retryAfter: string | string[] | undefined;
    let chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (o: PostOutcome) => {
      if (settled) return;
      settled = true;
      t.conns.give(client);
      resolve(o);
    };
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(_c, statusCode, h) {
        status = statusCode;
        retryAfter = h["retry-after"];
        chunks = [];
        size = 0;
      },
      onResponseData(c, chunk) {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) c.abort(new RangeError(`response body over ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(chunk);
      },
      onResponseEnd() {
        finish({ ok: true, status, retryAfter, text: Buffer.concat(chunks).toString("utf8") });
      },
      onResponseError(_c, error) {
        finish({ ok: false, timedOut: TIMEOUTS.has(codeOf(error)), error });
      },
    };
    client.dispatch({ path: t.path, method: "POST", headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, handler);
  });
}
