#!/usr/bin/env node
// Which stacks the workflows act on, read from stacks/Pulumi.<stack>.yaml and .github/live-stacks
// without dependencies (the jobs that call it run before npm ci). Prints JSON on stdout for a
// job matrix; every stack it leaves out gets one line on stderr saying why.
//   node .github/scripts/stacks.mjs preview        every stack: ["single-box", ...]
//   node .github/scripts/stacks.mjs deploy         live stacks not mid-migration: [{"stack","tier"}]
//   node .github/scripts/stacks.mjs images         stacks with an Artifact Registry × services:
//                                                  [{"stack","service","imageKey","image"}]
//   node .github/scripts/stacks.mjs check <stack>  exit 1 when the stack is mid-migration
// An optional last argument --root DIR reads another checkout (the tests use fixtures).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The services' images (catalog/services.ts imageKey; a test keeps the two equal). */
export const services = [
  { service: "task-queue", imageKey: "taskQueueImage" },
  { service: "mcp-gateway", imageKey: "mcpGatewayImage" },
  { service: "brain", imageKey: "brainImage" },
];
/** Tiers whose program declares the ImageRegistry (stacks/tier-50.ts, stacks/tier-100.ts). */
export const registryTiers = ["tier-50", "tier-100"];

/** The scalar `key: value` lines directly under `config:` (lists and maps are skipped). */
export function readConfig(text) {
  const out = {};
  let inConfig = false;
  for (const line of text.split(/\r?\n/)) {
    if (/^config:\s*(#.*)?$/.test(line)) { inConfig = true; continue; }
    if (/^\S/.test(line)) { inConfig = false; continue; }
    const m = inConfig ? /^ {2}([A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+):(?:\s+(.*))?$/.exec(line) : null;
    if (!m) continue;
    let value = (m[2] ?? "").replace(/\s+#.*$/, "").trim();
    if (/^"(.*)"$/.test(value)) value = JSON.parse(value);
    else if (/^'(.*)'$/.test(value)) value = value.slice(1, -1).replace(/''/g, "'");
    out[m[1]] = value;
  }
  return out;
}

export function stackNames(root) {
  return readdirSync(join(root, "stacks")).map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter(Boolean).sort();
}

function stackConfig(root, stack) {
  const file = join(root, "stacks", `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) throw new Error(`no stacks/Pulumi.${stack}.yaml`);
  return readConfig(readFileSync(file, "utf8"));
}

/** Stacks listed in .github/live-stacks (one a line, # comments). */
export function liveStacks(root) {
  const file = join(root, ".github", "live-stacks");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").map((l) => l.replace(/#.*$/, "").trim()).filter(Boolean);
}

export function migrationStage(root, stack) {
  return stackConfig(root, stack)["tierstack:migrationStage"] ?? "";
}

export function deployTargets(root, log) {
  const known = stackNames(root);
  const out = [];
  for (const stack of liveStacks(root)) {
    if (!known.includes(stack)) throw new Error(`.github/live-stacks names ${stack}, which has no stacks/Pulumi.${stack}.yaml`);
    const stage = migrationStage(root, stack);
    if (stage !== "") {
      log(`${stack}: skipped, mid-migration (tierstack:migrationStage=${stage}); pulumi up runs again once tierstack migrate finishes or rolls back`);
      continue;
    }
    out.push({ stack, tier: stackConfig(root, stack)["tierstack:tier"] ?? "" });
  }
  for (const stack of known.filter((s) => !liveStacks(root).includes(s))) log(`${stack}: not live (not in .github/live-stacks), no pulumi up`);
  return out;
}

export function imageTargets(root, log) {
  const out = [];
  for (const stack of stackNames(root)) {
    const cfg = stackConfig(root, stack);
    const tier = cfg["tierstack:tier"] ?? "";
    if (!registryTiers.includes(tier)) {
      log(`${stack}: tier ${tier} has no Artifact Registry, no image push`);
      continue;
    }
    const project = cfg["gcp:project"];
    const region = cfg["tierstack:region"] || "us-central1";
    if (!project) throw new Error(`${stack}: gcp:project is not set`);
    const repository = `tierstack-${stack}`.slice(0, 63).replace(/-+$/, "");
    for (const s of services) out.push({ stack, ...s, image: `${region}-docker.pkg.dev/${project}/${repository}/${s.service}` });
  }
  return out;
}

function main(argv) {
  const rootAt = argv.indexOf("--root");
  const root = rootAt >= 0 ? argv[rootAt + 1] : process.cwd();
  const args = rootAt >= 0 ? argv.slice(0, rootAt) : argv;
  const log = (line) => process.stderr.write(`${line}\n`);
  switch (args[0]) {
    case "preview":
      return console.log(JSON.stringify(stackNames(root)));
    case "deploy":
      return console.log(JSON.stringify(deployTargets(root, log)));
    case "images":
      return console.log(JSON.stringify(imageTargets(root, log)));
    case "check": {
      const stage = migrationStage(root, args[1] ?? "");
      if (stage !== "") {
        log(`${args[1]} is mid-migration (tierstack:migrationStage=${stage}): refusing pulumi up`);
        process.exitCode = 1;
      }
      return undefined;
    }
    default:
      log("usage: stacks.mjs preview|deploy|images|check <stack> [--root DIR]");
      process.exitCode = 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`stacks.mjs: ${e.message}\n`);
    process.exitCode = 1;
  }
}
