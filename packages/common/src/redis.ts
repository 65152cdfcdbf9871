import { isIP } from "node:net";
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from "node:tls";
import { readCaFile, redactUrl, untrustedCertCodes } from "./db.js";

/**
 * Redis connections for the services (the gateway's session registry, the brain's send-rate
 * bucket), one way for both:
 *   REDIS_URL=redis://127.0.0.1:6379                       plaintext (a local Redis)
 *   REDIS_URL=rediss://:<auth string>@10.1.2.3:6378        TLS + AUTH (Memorystore with
 *   REDIS_CA_FILE=/etc/tierstack/ca/redis.pem               transitEncryptionMode SERVER_AUTHENTICATION)
 * With rediss:// the server's certificate must chain to the CA in REDIS_CA_FILE (only that CA
 * is trusted) and name the host. The kit has no ioredis dependency: the caller passes its
 * constructor, the kit builds the options, waits for the first PING and turns a failure into
 * one line.
 */
export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
  caFile?: string;
  /** The CA bundle read from caFile. */
  ca?: string;
}

export function parseRedisUrl(url: string, caFile?: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`REDIS_URL=${JSON.stringify(redactUrl(url))}: expected redis://host:port or rediss://:<auth>@host:port`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new Error(`REDIS_URL=${JSON.stringify(redactUrl(url))}: expected redis://host:port or rediss://:<auth>@host:port`);
  }
  const tls = u.protocol === "rediss:";
  if (tls && !caFile) throw new Error("REDIS_URL is rediss:// but REDIS_CA_FILE is not set: the server's certificate is checked against that CA");
  if (!tls && caFile) throw new Error("REDIS_CA_FILE is set but REDIS_URL is redis:// (plaintext): use rediss://");
  const dbText = u.pathname.replace(/^\//, "");
  if (dbText !== "" && !/^\d{1,2}$/.test(dbText)) throw new Error(`REDIS_URL database "${dbText}": expected a number`);
  const target: RedisTarget = { host: u.hostname.replace(/^\[(.+)\]$/, "$1"), port: Number(u.port || 6379), db: Number(dbText || 0), tls };
  if (u.username) target.username = decodeURIComponent(u.username);
  if (u.password) target.password = decodeURIComponent(u.password);
  if (tls && caFile) {
    target.caFile = caFile;
    target.ca = readCaFile(caFile, "REDIS_CA_FILE");
  }
  return target;
}

/**
 * The certificate names the host: Node's check (subjectAltName), or, for a certificate without
 * any subjectAltName, its subject CN (libpq's rule). Memorystore's server certificates carry the
 * instance IP in the CN (envoyproxy/ratelimit#409), and Node never reads the CN for an IP.
 */
export function certificateNamesHost(host: string, cert: PeerCertificate): Error | undefined {
  const err = checkServerIdentity(host, cert);
  if (!err) return undefined;
  if (!cert.subjectaltname && cert.subject?.CN === host) return undefined;
  return err;
}

/** What ioredis's constructor takes (a subset of RedisOptions, structurally). */
export interface RedisConnectOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: ConnectionOptions;
  lazyConnect: true;
}

export function redisConnectOptions(t: RedisTarget): RedisConnectOptions {
  const o: RedisConnectOptions = { host: t.host, port: t.port, db: t.db, lazyConnect: true };
  if (t.username) o.username = t.username;
  if (t.password) o.password = t.password;
  if (t.tls) {
    o.tls = {
      ca: t.ca,
      rejectUnauthorized: true,
      checkServerIdentity: certificateNamesHost,
      // SNI must not be an IP address (RFC 6066 section 3).
      ...(isIP(t.host) ? {} : { servername: t.host }),
    };
  }
  return o;
}

/** The parts of an ioredis client the kit uses. */
export interface RedisClientLike {
  connect(): Promise<unknown>;
  ping(): Promise<unknown>;
  disconnect(): void;
  on(event: "error", listener: (err: Error) => void): unknown;
  removeListener(event: "error", listener: (err: Error) => void): unknown;
}

/** A connection failure as one line: `Redis 10.1.2.3:6378: AUTH failed: WRONGPASS …`. */
export function describeRedisError(err: unknown, t: Pick<RedisTarget, "host" | "port" | "tls" | "caFile" | "password">): Error {
  const e = err as { code?: string; message?: string };
  const msg = (e.message ?? String(err)).replace(/\s*\n\s*/g, " ").trim();
  const code = e.code ?? "";
  let line = msg;
  if (untrustedCertCodes.has(code)) line = `TLS: the server's certificate is not signed by the CA in REDIS_CA_FILE=${t.caFile ?? "(none)"} (${msg})`;
  else if (code === "ERR_TLS_CERT_ALTNAME_INVALID") line = `TLS: the server's certificate does not name ${t.host} (${msg})`;
  else if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") line = `TLS: ${msg}`;
  else if (/^WRONGPASS|invalid password/i.test(msg)) line = `AUTH failed: ${msg} (the auth string in REDIS_URL is wrong)`;
  else if (/^NOAUTH/.test(msg)) line = `the server requires AUTH: put its auth string in REDIS_URL (rediss://:<auth>@host:port) (${msg})`;
  else if (!t.tls && (code === "ECONNRESET" || /Connection is closed|socket hang up/.test(msg))) {
    line = `the server closed the connection before answering (${msg}): a TLS-only server needs rediss:// and REDIS_CA_FILE`;
  } else if (t.tls && (code === "EPROTO" || code === "ECONNRESET" || /secure TLS connection|wrong version number|Connection is closed/.test(msg))) {
    line = `TLS handshake failed (${msg}): does the server speak TLS on this port?`;
  }
  const out = new Error(`Redis ${t.host}:${t.port}: ${line}`, { cause: err });
  if (code) (out as Error & { code?: string }).code = code;
  return out;
}

/**
 * Build a client from the URL (and CA file), connect, PING once: a bad URL, CA, certificate,
 * password or port fails here with one line instead of a stream of reconnect errors. After
 * that the client reconnects by itself as usual.
 */
export async function connectRedis<C extends RedisClientLike>(
  create: (options: RedisConnectOptions) => C,
  url: string,
  opts: { caFile?: string } = {},
): Promise<C> {
  const target = parseRedisUrl(url, opts.caFile);
  const client = create(redisConnectOptions(target));
  let first: Error | undefined;
  const onError = (err: Error) => {
    first ??= err;
  };
  client.on("error", onError);
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (err) {
    client.disconnect();
    throw describeRedisError(first ?? err, target);
  } finally {
    client.removeListener("error", onError);
  }
}
