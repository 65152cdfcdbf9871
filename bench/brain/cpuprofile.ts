/**
 * Top self-time frames of a V8 .cpuprofile (written by `node --cpu-prof`), for `--profile`.
 */
import { readFileSync } from "node:fs";

export function topFunctions(file: string, n = 20): string {
  type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number };
  const prof = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[] };
  const total = prof.nodes.reduce((s, x) => s + (x.hitCount ?? 0), 0);
  const by = new Map<string, number>();
  for (const x of prof.nodes) {
    const u = x.callFrame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(services|packages)\//, "$1/");
    const k = `${x.callFrame.functionName || "(anonymous)"} ${u}:${x.callFrame.lineNumber + 1}`;
    by.set(k, (by.get(k) ?? 0) + (x.hitCount ?? 0));
  }
  return [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`).join("\n");
}
