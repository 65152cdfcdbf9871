/**
 * No image by a moving tag: every container image a stack runs, in a Kubernetes workload or in
 * a VM's boot configuration (`docker run …`), is pinned by a version tag or a digest. A tag moves
 * when it is absent (Docker pulls :latest), one of the rolling names, names no version at all,
 * or names only a major version.
 */
import { parseImageRef } from "../../catalog/images.js";
import type { ResourceRule } from "./types.js";
import { containersOf, instanceMetadata, scriptKeys } from "./workloads.js";

const movingTags = new Set(["latest", "main", "master", "stable", "edge", "nightly", "dev", "develop", "rolling", "current", "lts", "release"]);

/** Why a reference moves, or undefined when it is pinned. */
export function movingTagProblem(ref: string): string | undefined {
  const parsed = parseImageRef(ref);
  if (!parsed) return "is not an image reference";
  if (parsed.digest) return undefined;
  const tag = parsed.tag;
  if (tag === undefined) return "has no tag (Docker pulls :latest)";
  if (movingTags.has(tag.toLowerCase())) return `uses the moving tag ${tag}`;
  if (!/\d/.test(tag)) return `uses the tag ${tag}, which names no version`;
  if (/^v?\d+(-[a-z]+)?$/i.test(tag)) return `uses the tag ${tag}, a major version only`;
  return undefined;
}

/** docker run options that take a value as the next word. */
const valueOptions = /^(--name|--network|--net|--env-file|--env|-e|--volume|-v|--mount|--publish|-p|--user|-u|--workdir|-w|--entrypoint|--gpus|--label|-l|--log-driver|--log-opt|--restart|--memory|-m|--cpus|--device|--add-host|--hostname|-h|--cap-add|--cap-drop|--security-opt|--ulimit|--tmpfs|--shm-size|--pid|--ipc|--runtime|--platform|--pull|--stop-signal|--stop-timeout|--health-cmd)$/;

/** The image of each `docker run` (or `podman run`) command in a script. */
export function dockerRunImages(script: string): string[] {
  const out: string[] = [];
  for (const m of script.matchAll(/\b(?:docker|podman)\s+run\s+([^\n]*)/g)) {
    const words = (m[1] ?? "").split(/\s+/).filter((w) => w !== "");
    for (let i = 0; i < words.length; i++) {
      const w = words[i] ?? "";
      if (w.startsWith("-")) {
        if (!w.includes("=") && valueOptions.test(w)) i++;
        continue;
      }
      out.push(w);
      break;
    }
  }
  return out;
}

export const noMovingImageTags: ResourceRule = {
  kind: "resource",
  name: "no-moving-image-tags",
  description: "Every container image is pinned by a version tag or a digest, never by a moving tag.",
  enforcementLevel: "mandatory",
  group: "security",
  check(r) {
    const out: string[] = [];
    for (const c of containersOf(r)) {
      const problem = typeof c.container.image === "string" ? movingTagProblem(c.container.image) : "has no image";
      if (problem) out.push(`container ${c.name} image ${String(c.container.image)} ${problem}`);
    }
    for (const [key, script] of instanceMetadata(r)) {
      if (!scriptKeys.has(key)) continue;
      for (const image of dockerRunImages(script)) {
        const problem = movingTagProblem(image);
        if (problem) out.push(`instance metadata ${key}: docker run image ${image} ${problem}`);
      }
    }
    return out;
  },
};
