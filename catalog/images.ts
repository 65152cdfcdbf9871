/**
 * Container images the platform runs, by stack config key. Defaults are tags: no digest below
 * comes from a cited source, so none is written (never an invented sha256); `plan` warns for
 * every image pinned by tag only. Set `tierstack:<key>` to `repo:tag@sha256:<digest>` taken
 * from the registry (e.g. `docker buildx imagetools inspect <repo:tag>`) to silence it.
 */
import { services, serviceNames } from "./services.js";

export interface ImageSpec {
  key: string;
  /** What runs it (a catalogue service or a platform unit). */
  runs: string;
  default: string;
  /** Where the default tag comes from. */
  source: string;
}

const platformImages: ImageSpec[] = [
  {
    key: "natsImage",
    runs: "nats",
    default: "nats:2.11.6-alpine",
    source: "Docker Hub official image `nats` (hub.docker.com/_/nats), 2.11 release line",
  },
  {
    key: "litellmImage",
    runs: "litellm",
    default: "ghcr.io/berriai/litellm:main-v1.63.2",
    source:
      "github.com/BerriAI/litellm/pkgs/container/litellm; predates the compromised 1.82.7-1.82.8 PyPI releases (https://github.com/BerriAI/litellm/issues/24518): pin by digest",
  },
  {
    key: "llamaServerImage",
    runs: "llama-server",
    default: "ghcr.io/ggml-org/llama.cpp:server-cuda-b5517",
    source: "github.com/ggml-org/llama.cpp/pkgs/container/llama.cpp, build-numbered server-cuda tags",
  },
  {
    key: "cloudflaredImage",
    runs: "cloudflared",
    default: "cloudflare/cloudflared:2025.8.1",
    source: "Docker Hub `cloudflare/cloudflared` (hub.docker.com/r/cloudflare/cloudflared), dated release tags",
  },
];

const serviceImages: ImageSpec[] = serviceNames.map((name) => ({
  key: services[name].imageKey,
  runs: name,
  default: `ghcr.io/tierstack/${name}:0.1.0`,
  source: `built from services/${name}/Dockerfile and pushed by the release job`,
}));

export const images: ImageSpec[] = [...serviceImages, ...platformImages];

export interface ImageRef {
  /** The reference exactly as `docker pull` takes it. */
  ref: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const imagePattern = /^([a-z0-9][a-z0-9._\-/:]*?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/;

/** Parses `repo[:tag][@sha256:<64 hex>]`; undefined when it is not a reference. */
export function parseImageRef(ref: string): ImageRef | undefined {
  const m = imagePattern.exec(ref);
  if (!m || !m[1]) return undefined;
  if (m[1].includes("@")) return undefined;
  const out: ImageRef = { ref, repository: m[1] };
  if (m[2] !== undefined) out.tag = m[2];
  if (m[3] !== undefined) out.digest = m[3];
  return out;
}
