/**
 * Isolation probe (tests only): tries to read each path given and to connect to one TCP
 * address, and prints what happened as one JSON line. Run inside a learner's sandbox every
 * attempt must fail; run on the host the same attempts succeed, so the test can fail.
 *   node probe.mjs --connect 127.0.0.1:PORT PATH...
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";

const args = process.argv.slice(2);
const c = args.indexOf("--connect");
const target = c >= 0 ? args.splice(c, 2)[1] : undefined;
const out = { read: {}, connect: undefined };
for (const p of args) {
  try {
    out.read[p] = statSync(p).isDirectory() ? `ok: ${readdirSync(p).join(",")}` : `ok: ${readFileSync(p, "utf8").slice(0, 80)}`;
  } catch (err) {
    out.read[p] = `fail: ${err.code ?? err.message}`;
  }
}
if (target) {
  const [host, port] = target.split(/:(?=\d+$)/);
  out.connect = await new Promise((resolve) => {
    const s = connect({ host, port: Number(port), timeout: 2000 });
    s.on("connect", () => {
      s.destroy();
      resolve("ok");
    });
    s.on("timeout", () => {
      s.destroy();
      resolve("fail: timeout");
    });
    s.on("error", (err) => resolve(`fail: ${err.code ?? err.message}`));
  });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
