/**
 * Reads and writes a stack's config in its Pulumi.<stack>.yaml, keeping the file's comments and
 * order (the yaml Document API): what `pulumi config set` would do, for the migration keys.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { isMap, isScalar, parseDocument } from "yaml";

export function readStackConfig(file: string): Record<string, string> {
  const doc = parseDocument(readFileSync(file, "utf8"));
  const config = doc.get("config", true);
  const out: Record<string, string> = {};
  if (!isMap(config)) return out;
  for (const pair of config.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const v = isScalar(pair.value) ? pair.value.value : undefined;
    if (v !== undefined && v !== null) out[key] = String(v);
  }
  return out;
}

/** Sets the given keys ("" deletes one) and writes the file back. */
export function writeStackConfig(file: string, changes: Record<string, string>): void {
  const doc = parseDocument(readFileSync(file, "utf8"));
  for (const [key, value] of Object.entries(changes)) {
    if (value === "") doc.deleteIn(["config", key]);
    else doc.setIn(["config", key], value);
  }
  writeFileSync(file, doc.toString({ lineWidth: 0 }));
}
