#!/usr/bin/env node
// Writes the images the images workflow pushed into the stack files: every file <stack>.<service>
// in DIR holds one reference `<registry>/<service>:<git sha>@sha256:<digest>`, which becomes
// tierstack:<imageKey> in stacks/Pulumi.<stack>.yaml (comments and order kept: yaml's Document).
// The files come from another job's artifact: each reference is checked before it is written.
//   node .github/scripts/record-digests.mjs DIR [--root REPO]
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseDocument } from "yaml";
import { services } from "./stacks.mjs";

const refPattern = /^[a-z0-9-]+-docker\.pkg\.dev\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/[a-z][a-z0-9-]{0,62}\/([a-z0-9-]+):[0-9a-f]{40}@sha256:[0-9a-f]{64}$/;

/** Sets each pushed reference in its stack file; returns "stack key=ref" lines. */
export function recordDigests(dir, root) {
  const done = [];
  for (const name of readdirSync(dir).sort()) {
    const m = /^([a-z0-9-]+)\.([a-z0-9-]+)$/.exec(name);
    const svc = m ? services.find((s) => s.service === m[2]) : undefined;
    if (!m || !svc) throw new Error(`${name}: expected <stack>.<service> with a service of ${services.map((s) => s.service).join(", ")}`);
    const ref = readFileSync(join(dir, name), "utf8").trim();
    const r = refPattern.exec(ref);
    if (!r || r[1] !== svc.service) throw new Error(`${name}: ${JSON.stringify(ref.slice(0, 200))} is not <region>-docker.pkg.dev/<project>/<repository>/${svc.service}:<git sha>@sha256:<digest>`);
    const file = join(root, "stacks", `Pulumi.${m[1]}.yaml`);
    const doc = parseDocument(readFileSync(file, "utf8"));
    doc.setIn(["config", `tierstack:${svc.imageKey}`], ref);
    writeFileSync(file, doc.toString());
    done.push(`${m[1]} tierstack:${svc.imageKey}=${ref}`);
  }
  return done;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const argv = process.argv.slice(2);
  const rootAt = argv.indexOf("--root");
  try {
    if (!argv[0] || argv[0] === "--root") throw new Error("usage: record-digests.mjs DIR [--root REPO]");
    for (const line of recordDigests(argv[0], rootAt >= 0 ? argv[rootAt + 1] : process.cwd())) console.log(line);
  } catch (e) {
    process.stderr.write(`record-digests.mjs: ${e.message}\n`);
    process.exitCode = 1;
  }
}
