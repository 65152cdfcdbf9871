#!/usr/bin/env node
// `tierstack` launcher: runs cli/main.ts through tsx from the repository root.
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const result = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "cli", "main.ts"), ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
if (result.error) {
  process.stderr.write(`tierstack: ${result.error.message}\n`);
  process.exit(1);
}
process.exit(result.status ?? 1);
