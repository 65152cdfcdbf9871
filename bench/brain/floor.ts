/**
 * The floor peer: the least a webhook receiver can do durably. A minimal Fastify handler that
 * checks X-Hub-Signature-256 over the raw bytes and does one durable INSERT per message (SQLite
 * WAL with synchronous=FULL, or PostgreSQL), then answers 200. No batching, no workers.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import Fastify from "fastify";
import { openPgPool, openSqlite, parseDatabaseUrl } from "@tierstack/common";

async function main(): Promise<void> {
const url = process.env.DATABASE_URL ?? "";
const secret = process.env.WHATSAPP_APP_SECRET ?? "";
const port = Number(process.env.PORT ?? 0);
const target = parseDatabaseUrl(url);

let insert: (id: string, body: string) => Promise<void>;
if (target.kind === "sqlite") {
  const db = openSqlite(target.path);
  db.exec("CREATE TABLE IF NOT EXISTS floor_inbox (id INTEGER PRIMARY KEY, wa_id TEXT UNIQUE, body TEXT)");
  const stmt = db.prepare("INSERT INTO floor_inbox (wa_id, body) VALUES (?, ?) ON CONFLICT (wa_id) DO NOTHING");
  insert = async (id, body) => void stmt.run(id, body);
} else {
  const pool = openPgPool(target, { max: 20 });
  if (target.schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${target.schema}`);
  await pool.query("CREATE TABLE IF NOT EXISTS floor_inbox (id bigserial PRIMARY KEY, wa_id text UNIQUE, body text)");
  insert = async (id, body) => void (await pool.query("INSERT INTO floor_inbox (wa_id, body) VALUES ($1, $2) ON CONFLICT (wa_id) DO NOTHING", [id, body]));
}

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
app.post("/webhooks/whatsapp", async (req, reply) => {
  const raw = req.body as Buffer;
  const h = String(req.headers["x-hub-signature-256"] ?? "");
  const given = Buffer.from(h.replace(/^sha256=/, ""), "hex");
  const expected = createHmac("sha256", secret).update(raw).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply.code(401).send();
  const doc = JSON.parse(raw.toString("utf8"));
  const m = doc.entry[0].changes[0].value.messages[0];
  await insert(m.id, m.text.body);
  return reply.code(200).send({ ok: true });
});
app.get("/readyz", async () => ({ status: "ready" }));
await app.listen({ port, host: "127.0.0.1" });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
