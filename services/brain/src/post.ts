import { request } from "undici";

export type PostOutcome =
  | { ok: true; status: number; retryAfter: string | string[] | undefined; text: string }
  | { ok: false; timedOut: boolean; error: unknown };

/**
 * One POST attempt for the LLM and Cloud API clients: undici's request() on its keep-alive pool
 * with one timer per attempt — fetch() and AbortSignal.timeout() cost several times more CPU per
 * call (profiled in bench/brain). Never throws: a network error or timeout comes back as
 * `{ ok: false }` with the error, so each caller decides what may be retried.
 */
export async function postOnce(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostOutcome> {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  try {
    const res = await request(url, { method: "POST", headers, body, signal: ac.signal });
    return { ok: true, status: res.statusCode, retryAfter: res.headers["retry-after"], text: await res.body.text() };
  } catch (error) {
    return { ok: false, timedOut, error };
  } finally {
    clearTimeout(timer);
  }
}
