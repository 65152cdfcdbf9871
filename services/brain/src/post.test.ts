import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { freePort } from "@tierstack/common/testing";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_RESPONSE_BYTES, postOnce } from "./post.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

/** A loopback server; counts the TCP connections it accepted and the requests it answered. */
async function serve(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const seen = { connections: 0, requests: 0, sockets: new Set<Socket>() };
  const s = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      seen.requests++;
      handle(req, Buffer.concat(parts).toString("utf8"), res);
    });
  });
  s.on("connection", (sock: Socket) => {
    seen.connections++;
    seen.sockets.add(sock);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen };
}

const json = { "content-type": "application/json" };

describe("postOnce", () => {
  it("POSTs the body with the headers to the URL's path and query, and returns status, Retry-After and the text", async () => {
    const got: { method?: string; url?: string; auth?: string; body?: string }[] = [];
    const p = await serve((req, body, res) => {
      got.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      res.writeHead(429, { "retry-after": "3", "content-type": "application/json" });
      res.write('{"error":"sl');
      setTimeout(() => res.end('ow down ✓"}'), 5);
    });
    const r = await postOnce(`${p.url}/v1/chat/completions?x=1`, { ...json, authorization: "Bearer k" }, '{"q":"é"}', 5000);
    expect(r).toEqual({ ok: true, status: 429, retryAfter: "3", text: '{"error":"slow down ✓"}' });
    expect(got).toEqual([{ method: "POST", url: "/v1/chat/completions?x=1", auth: "Bearer k", body: '{"q":"é"}' }]);
  });

  it("reuses one kept-alive connection for calls one after another", async () => {
    const p = await serve((_req, body, res) => res.end(body));
    for (let i = 0; i < 5; i++) expect(await postOnce(`${p.url}/a`, json, `{"i":${i}}`, 5000)).toMatchObject({ ok: true, text: `{"i":${i}}` });
    expect(p.seen).toMatchObject({ connections: 1, requests: 5 });
  });

  it("calls in flight together each get their own connection (no request waits behind a slow one), reused afterwards", async () => {
    const p = await serve((_req, body, res) => setTimeout(() => res.end(body), body === '"slow"' ? 300 : 20));
    const slow = postOnce(`${p.url}/a`, json, '"slow"', 5000);
    const fast = await Promise.all(Array.from({ length: 9 }, (_, i) => postOnce(`${p.url}/a`, json, String(i), 5000)));
    expect(fast.map((r) => r.ok && r.text)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
    // The nine answered while the slow one still waited: it holds a connection of its own.
    expect(p.seen.requests).toBe(10);
    expect(await slow).toMatchObject({ ok: true, text: '"slow"' });
    expect(p.seen.connections).toBe(10);
    await Promise.all(Array.from({ length: 10 }, (_, i) => postOnce(`${p.url}/a`, json, String(i), 5000)));
    expect(p.seen.connections).toBe(10);
  });

  it("times out when the response headers do not come within the timeout, and the next call works", async () => {
    let hang = true;
    const p = await serve((_req, _body, res) => {
      if (!hang) res.end("ok");
    });
    const started = performance.now();
    const r = await postOnce(`${p.url}/a`, json, "{}", 150);
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.timedOut).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    hang = false;
    expect(await postOnce(`${p.url}/a`, json, "{}", 5000)).toMatchObject({ ok: true, text: "ok" });
  });

  it("times out when the body stops for longer than the timeout", async () => {
    const p = await serve((_req, _body, res) => {
      res.writeHead(200);
      res.write("partial");
    });
    const r = await postOnce(`${p.url}/a`, json, "{}", 150);
    expect(r).toMatchObject({ ok: false, timedOut: true });
  });

  it("a refused connection is an error carrying ECONNREFUSED, not a timeout", async () => {
    const port = await freePort();
    const r = await postOnce(`http://127.0.0.1:${port}/a`, json, "{}", 5000);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.timedOut).toBe(false);
    const codes: unknown[] = [];
    for (let e = r.error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) codes.push(e.code);
    expect(codes).toContain("ECONNREFUSED");
  });

  it("refuses a response body over MAX_RESPONSE_BYTES, and the next call works", async () => {
    const p = await serve((_req, body, res) => res.end(body === "big" ? Buffer.alloc(MAX_RESPONSE_BYTES + 1, 97) : "small"));
    const r = await postOnce(`${p.url}/a`, json, "big", 5000);
    expect(r.ok).toBe(false);
    expect(r.ok === false && String((r.error as Error).message)).toMatch(/over 4194304 bytes/);
    expect(await postOnce(`${p.url}/a`, json, "next", 5000)).toMatchObject({ ok: true, text: "small" });
  });

  it("a connection the server closed while idle is replaced on the next call", async () => {
    const p = await serve((_req, _body, res) => res.end("ok"));
    expect(await postOnce(`${p.url}/a`, json, "{}", 5000)).toMatchObject({ ok: true });
    for (const s of p.seen.sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await postOnce(`${p.url}/a`, json, "{}", 5000)).toMatchObject({ ok: true, text: "ok" });
    expect(p.seen.connections).toBe(2);
  });

  it("a URL that is not http(s) is an error, never a throw", async () => {
    expect(await postOnce("ftp://127.0.0.1/a", json, "{}", 5000)).toMatchObject({ ok: false, timedOut: false });
    expect(await postOnce("not a url", json, "{}", 5000)).toMatchObject({ ok: false, timedOut: false });
  });
});
