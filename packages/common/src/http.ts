import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifySchemaValidationError, type FastifyServerOptions } from "fastify";
import { Registry, collectDefaultMetrics, Histogram } from "prom-client";
import { JSON_MAX_DEPTH, parseJsonBounded, pointerSegment } from "./json-body.js";
import { loggerOptions } from "./logger.js";

export interface ServiceAppOptions {
  service: string;
  logLevel: string;
  /** Largest accepted request body; larger ⇒ 413. */
  bodyLimit?: number;
  /** Returns a reason when the service cannot take traffic (a dependency is down); undefined when ready. */
  readiness?: () => Promise<string | undefined> | string | undefined;
  /**
   * Parse every application/json body with the kit's bounded parse (parseJsonBounded: size,
   * UTF-8, depth, member names, numbers) instead of Fastify's. A service whose scopes install
   * their own application/json parser leaves this unset (Fastify refuses a second parser for a
   * type) and calls parseJsonBounded from that parser.
   */
  json?: { maxDepth?: number };
  /** Extra Fastify options (trustProxy, routerOptions…). */
  fastify?: FastifyServerOptions;
}

export interface ServiceApp {
  app: FastifyInstance;
  metrics: Registry;
  /** Flip /readyz to 503 (graceful shutdown: load balancers stop sending traffic first). */
  markDraining(): void;
  draining(): boolean;
}

/**
 * A Fastify instance with what every tierstack service shares: pino logs with redaction,
 * /healthz, /readyz and /metrics, request-duration metrics, and an error handler that maps
 * client mistakes to a clear 4xx and never turns them into a 5xx.
 *
 * One input contract for the schemas routes declare (Fastify's Ajv defaults would drop unknown
 * fields and coerce types): a field a schema does not name is refused, never removed
 * ("body/runat is not a known field (expected …)"); JSON types are taken as written, nothing is
 * coerced — except that a path or query-string value a schema declares `integer` is read as a
 * decimal integer, and only when it is one (`0`, `-12`, `16`: no sign `+`, leading zero, exponent,
 * hex, fraction or spaces; within ±(2^53−1)); anything else stays a string and fails the schema.
 * A query-string field given twice is an array and fails it too.
 */
export function createServiceApp(opts: ServiceAppOptions): ServiceApp {
  const bodyLimit = opts.bodyLimit ?? 1024 * 1024;
  const app = Fastify({
    logger: loggerOptions(opts.logLevel, opts.service),
    bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false, verbose: true } },
    schemaErrorFormatter,
    ...opts.fastify,
  });
  if (opts.json) {
    const maxDepth = opts.json.maxDepth ?? JSON_MAX_DEPTH;
    app.removeContentTypeParser("application/json");
    app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body: Buffer, done) => {
      let value: unknown;
      try {
        value = parseJsonBounded(body, { maxBytes: bodyLimit, maxDepth });
      } catch (err) {
        done(err as Error, undefined);
        return;
      }
      done(null, value);
    });
  }
  app.addHook("preValidation", async (req) => {
    const schema = req.routeOptions.schema;
    if (!schema) return;
    decimalIntegers(schema.params, req.params, "params");
    decimalIntegers(schema.querystring, req.query, "querystring");
  });
  const metrics = new Registry();
  metrics.setDefaultLabels({ service: opts.service });
  collectDefaultMetrics({ register: metrics });
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration by route and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
    registers: [metrics],
  });
  let isDraining = false;

  app.addHook("onResponse", async (req, reply) => {
    duration.observe(
      { method: req.method, route: req.routeOptions.url ?? "unmatched", status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = clientStatus(err);
    if (status) {
      return reply.code(status).send({ error: errorName(status), message: err.message });
    }
    req.log.error({ err }, "request failed");
    return reply.code(500).send({ error: "internal", message: "internal error" });
  });
  const notFound = (req: FastifyRequest, reply: FastifyReply) => reply.code(404).send({ error: "not_found", message: `no route ${req.method} ${req.url.split("?")[0]}` });
  app.setNotFoundHandler(notFound);
  // An unknown route is a 404 whatever its body: answered before the body is read, so that neither
  // its content type (an empty Content-Type was a 415) nor its size decides the answer.
  app.addHook("onRequest", async (req, reply) => {
    if (req.is404) return notFound(req, reply);
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    if (isDraining) return reply.code(503).send({ status: "draining" });
    const reason = await opts.readiness?.();
    if (reason) return reply.code(503).send({ status: "not_ready", reason });
    return { status: "ready" };
  });
  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", metrics.contentType);
    return metrics.metrics();
  });

  return {
    app,
    metrics,
    markDraining: () => {
      isDraining = true;
    },
    draining: () => isDraining,
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const DECIMAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

/** Path and query-string values the schema declares `integer`, read when they are decimal integers (see createServiceApp). */
function decimalIntegers(schema: unknown, data: unknown, part: string): void {
  if (!isRecord(schema) || !isRecord(schema.properties) || !isRecord(data)) return;
  for (const [key, prop] of Object.entries(schema.properties)) {
    if (!isRecord(prop) || prop.type !== "integer" || !Object.hasOwn(data, key)) continue;
    const v = data[key];
    if (typeof v !== "string" || !DECIMAL_INTEGER.test(v)) continue;
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new HttpError(400, `${part}/${pointerSegment(key)} must be an integer within ±(2^53-1)`);
    data[key] = n;
  }
}

const fieldName = (k: string) => (/^[\w$-]{1,64}$/.test(k) ? k : JSON.stringify(pointerSegment(k)));

/**
 * Fastify's message for a failed schema ("body/priority must be integer"), except that an unknown
 * field is named with the fields the schema expects ("body/runat is not a known field (expected
 * queue, payload, …)").
 */
function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const parts = errors.map((e) => {
    const at = dataVar + (e.instancePath || "");
    if (e.keyword === "additionalProperties") {
      const extra = String((e.params as { additionalProperty?: unknown }).additionalProperty);
      const props = (e as { parentSchema?: { properties?: Record<string, unknown> } }).parentSchema?.properties;
      const expected = props ? ` (expected ${Object.keys(props).join(", ") || "none"})` : "";
      return `${at}/${fieldName(extra)} is not a known field${expected}`;
    }
    return `${at} ${e.message ?? "is invalid"}`;
  });
  return new Error(parts.join(", "));
}

/** The status for an error caused by the client, or undefined for a server fault. */
function clientStatus(err: FastifyError): number | undefined {
  if (err.validation) return 400;
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return 413;
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return 415;
  if (err.code === "FST_ERR_CTP_EMPTY_JSON_BODY" || err.code === "FST_ERR_CTP_INVALID_JSON_BODY") return 400;
  if (err instanceof SyntaxError) return 400;
  const s = err.statusCode;
  if (typeof s === "number" && s >= 400 && s < 500) return s;
  return undefined;
}

function errorName(status: number): string {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 429: return "too_many_requests";
    default: return "client_error";
  }
}

/** A readiness check from a ping: undefined while it answers, "<what>: <error>" when it does not. */
export function pingReadiness(what: string, ping: () => Promise<unknown>): () => Promise<string | undefined> {
  return async () => {
    try {
      await ping();
      return undefined;
    } catch (err) {
      return `${what}: ${(err as Error).message}`;
    }
  };
}

/** An error that the error handler answers with its status and message. */
export class HttpError extends Error {
  constructor(public readonly statusCode: number, message: string) {
    super(message);
    this.name = "HttpError";
  }
}
