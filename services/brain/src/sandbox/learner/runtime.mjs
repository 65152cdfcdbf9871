/**
 * The learner runtime: the one program inside a learner's sandbox (gVisor on the host, an
 * agent-sandbox pod on tier-100). Dependency-free on purpose: it runs from a read-only view of
 * the host's node and this directory, with nothing else installed.
 *
 * It keeps the learner's files in its private writable directory (LEARNER_DIR, default
 * /learner): journal.jsonl, one line per answered exchange. It has no network; it answers the
 * brain over one channel of JSON lines: its stdin/stdout (`runsc run`), or a TCP listener when
 * started with --listen HOST:PORT (the pod; the newest brain connection wins). The LLM call goes
 * back over the same channel: the brain makes it with its own client and relays the result.
 *
 *   sandbox → brain  {"t":"ready","entries":N}                     once, at start (N journal lines found)
 *   brain → sandbox  {"t":"ask","id":1,"req":{model,fallbackModel,messages,user}}
 *   sandbox → brain  {"t":"llm","id":1,"req":{...}}                  the LLM call, made by the brain
 *   brain → sandbox  {"t":"llm-result","id":1,"ok":true,"res":{...}} | {"ok":false,"error":"..."}
 *   sandbox → brain  {"t":"answer","id":1,"ok":true,"res":{...}}     | {"ok":false,"error":"..."}
 *   brain → sandbox  {"t":"snapshot"}  ⇒ {"t":"files","files":{name: base64}}
 *   brain → sandbox  {"t":"restore","files":{...}} ⇒ {"t":"restored","entries":N}
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";

const dir = process.env.LEARNER_DIR ?? "/learner";
const journal = join(dir, "journal.jsonl");
/** The journal keeps the most recent exchanges within this many bytes. */
const MAX_JOURNAL = 256 * 1024;
mkdirSync(dir, { recursive: true });

function entries() {
  try {
    return readFileSync(journal, "utf8").split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

function record(req, res) {
  const last = req.messages.filter((m) => m.role === "user").at(-1);
  appendFileSync(journal, `${JSON.stringify({ at: Date.now(), user: last?.content ?? "", assistant: res.text, model: res.model })}\n`);
  if (statSync(journal).size > MAX_JOURNAL) {
    const lines = readFileSync(journal, "utf8").split("\n").filter(Boolean);
    while (lines.length > 1 && Buffer.byteLength(lines.join("\n")) > MAX_JOURNAL / 2) lines.shift();
    writeFileSync(journal, `${lines.join("\n")}\n`);
  }
}

function snapshot() {
  const files = {};
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isFile()) files[name] = readFileSync(p).toString("base64");
  }
  return files;
}

function restore(files) {
  for (const [name, b64] of Object.entries(files ?? {})) {
    if (name !== basename(name) || name.startsWith(".")) continue;
    writeFileSync(join(dir, name), Buffer.from(b64, "base64"));
  }
}

/** One channel to the brain: lines in, lines out. */
function serve(input, write) {
  const llmWaiting = new Map();
  const send = (msg) => write(`${JSON.stringify(msg)}\n`);
  const askLlm = (id, req) => new Promise((resolve, reject) => {
    llmWaiting.set(id, { resolve, reject });
    send({ t: "llm", id, req });
  });
  async function ask(id, req) {
    try {
      const res = await askLlm(id, { model: req.model, fallbackModel: req.fallbackModel, messages: req.messages, user: req.user });
      record(req, res);
      send({ t: "answer", id, ok: true, res });
    } catch (err) {
      send({ t: "answer", id, ok: false, error: String(err?.message ?? err) });
    }
  }
  send({ t: "ready", entries: entries() });
  const lines = createInterface({ input, crlfDelay: Infinity });
  lines.on("error", () => lines.close()); // a reset connection: readline re-emits it; the brain reconnects
  lines.on("line", (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return send({ t: "error", error: "unreadable line" });
    }
    if (msg.t === "ask") void ask(msg.id, msg.req);
    else if (msg.t === "llm-result") {
      const w = llmWaiting.get(msg.id);
      llmWaiting.delete(msg.id);
      if (msg.ok) w?.resolve(msg.res);
      else w?.reject(new Error(msg.error));
    } else if (msg.t === "snapshot") send({ t: "files", files: snapshot() });
    else if (msg.t === "restore") {
      restore(msg.files);
      send({ t: "restored", entries: entries() });
    } else send({ t: "error", error: `unknown message ${String(msg.t)}` });
  });
  return lines;
}

const at = process.argv.indexOf("--listen");
if (at >= 0) {
  // One brain connection at a time: a newer one (another replica adopting the claim) replaces it.
  const [host, port] = process.argv[at + 1].split(/:(?=\d+$)/);
  let current;
  const server = createServer((sock) => {
    current?.destroy();
    current = sock;
    sock.on("error", () => sock.destroy());
    serve(sock, (s) => sock.write(s));
  });
  server.listen(Number(port), host, () => process.stdout.write(`${JSON.stringify({ t: "listening", host, port: Number(port) })}\n`));
  process.on("SIGTERM", () => {
    current?.destroy();
    server.close(() => process.exit(0));
  });
} else {
  serve(process.stdin, (s) => process.stdout.write(s)).on("close", () => process.exit(0));
}
