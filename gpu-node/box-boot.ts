/**
 * The tier-50 GPU box's boot configuration (#cloud-config), rendered from typed data: the NVIDIA
 * driver step (gpu-node/boot-parts.ts, the same as the single box's), a oneshot unit that copies
 * each server's weights file from the weights bucket and checks its sha256 against the models
 * table before anything starts, and one systemd unit per inference server (one GPU each,
 * `CUDA_VISIBLE_DEVICES` from the rendered spec) that is active only once the server answers its
 * health check. No secret is involved: the bucket is read with the VM's own service account.
 */
import { stringify } from "yaml";
import { gpuDriverScript, gpuDriverScriptPath, gpuDriverUnit, gpuDriverUnitName, shellQuote, systemdArg } from "./boot-parts.js";
import type { RenderedServer } from "./types.js";

/** Host directory the weights are copied to; mounted read-only at `containerModelsDir` in every server. */
export const hostModelsDir = "/var/lib/tierstack/models";
export const containerModelsDir = "/models";
export const weightsScriptPath = "/usr/local/sbin/tierstack-fetch-weights";
export const weightsUnitName = "tierstack-weights.service";
const configDir = "/etc/tierstack";

export interface BoxWeights {
  /** Object name in the bucket: `<model key>/<file name>`. */
  object: string;
  /** File name under `hostModelsDir` (same relative path as the object). */
  path: string;
  /** Expected sha256 (64 lowercase hex) from the models table. */
  sha256: string;
  bytes: number;
}

export interface BoxServer {
  /** Unit name without prefix: tierstack-<name>.service. */
  name: string;
  description: string;
  rendered: RenderedServer;
  weights: BoxWeights;
}

export interface BoxBootSpec {
  /** Name of the weights bucket. */
  bucket: string;
  servers: readonly BoxServer[];
}

export function serverUnitName(server: Pick<BoxServer, "name">): string {
  return `tierstack-${server.name}.service`;
}

/**
 * Boot-time script: for each weights file, keep it when the file on disk already has the listed
 * sha256 (a reboot), else download the object from the bucket through the JSON API with the VM's
 * token and keep it only when its sha256 matches. A missing object (not uploaded yet) or a
 * mismatch is logged and retried every 60 s, so uploading after the box exists is enough; the
 * servers wait for this unit. `--once` checks a single time and exits non-zero on any problem.
 */
export function renderWeightsScript(spec: BoxBootSpec): string {
  const lines = [
    "#!/bin/bash",
    "# Copies each inference server's weights from the weights bucket and checks the sha256 listed in",
    "# gpu-node/models.ts before any server starts (tierstack-weights.service). Retries until all match.",
    "set -uo pipefail",
    `dir=${hostModelsDir}`,
    `bucket=${shellQuote(spec.bucket)}`,
    "md=http://metadata.google.internal/computeMetadata/v1",
    "fetch_one() {",
    '  local object=$1 dest="$dir/$2" want=$3 token enc got',
    '  if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d" " -f1)" = "$want" ]; then echo "$object: present, sha256 ok"; return 0; fi',
    '  mkdir -p "$(dirname "$dest")" || return 1',
    '  token=$(curl -fsS -H "Metadata-Flavor: Google" "$md/instance/service-accounts/default/token" | jq -r .access_token) || return 1',
    "  enc=$(jq -rn --arg o \"$object\" '$o|@uri') || return 1",
    '  if ! curl -fsS --retry 3 --retry-all-errors -H "Authorization: Bearer $token" -o "$dest.part" \\',
    '      "https://storage.googleapis.com/storage/v1/b/$bucket/o/$enc?alt=media"; then',
    '    echo "$object: not in gs://$bucket yet (upload it: see gpu-node/README.md)" >&2; rm -f "$dest.part"; return 1',
    "  fi",
    '  got=$(sha256sum "$dest.part" | cut -d" " -f1)',
    '  if [ "$got" != "$want" ]; then',
    '    echo "$object: sha256 $got is not the listed $want; not starting its server" >&2; rm -f "$dest.part"; return 1',
    "  fi",
    '  mv "$dest.part" "$dest" && echo "$object: copied, sha256 ok"',
    "}",
    "fetch_all() {",
    "  local ok=0",
  ];
  for (const s of spec.servers) {
    lines.push(`  fetch_one ${shellQuote(s.weights.object)} ${shellQuote(s.weights.path)} ${shellQuote(s.weights.sha256)} || ok=1`);
  }
  lines.push(
    "  return $ok",
    "}",
    '# --once: check (and copy) once, exit non-zero when a file is missing or does not match.',
    'if [ "${1:-}" = "--once" ]; then fetch_all; exit $?; fi',
    'until fetch_all; do echo "weights incomplete; retrying in 60 s" >&2; sleep 60; done',
    "",
  );
  return lines.join("\n");
}

const weightsUnit = [
  "[Unit]",
  "Description=tierstack: copy the model weights from the weights bucket and verify their sha256",
  "Wants=network-online.target",
  "After=network-online.target",
  "",
  "[Service]",
  "Type=oneshot",
  "RemainAfterExit=yes",
  "TimeoutStartSec=0",
  `ExecStart=${weightsScriptPath}`,
  "",
  "[Install]",
  "WantedBy=multi-user.target",
  "",
].join("\n");

export const waitHealthyPath = "/usr/local/sbin/tierstack-wait-healthy";

/** `tierstack-wait-healthy <url> <status>`: polls the URL every 5 s until it answers the status. */
export const waitHealthyScript = [
  "#!/bin/bash",
  "set -u",
  'until [ "$(curl -s -o /dev/null -w "%{http_code}" "$1")" = "$2" ]; do sleep 5; done',
  "",
].join("\n");

export function renderServerUnit(server: BoxServer): string {
  const container = `tierstack-${server.name}`;
  const r = server.rendered;
  const run = [
    "/usr/bin/docker", "run", "--rm", "--name", container, "--network", "host",
    "--env-file", `${configDir}/${server.name}.env`,
    "-v", `${hostModelsDir}:${containerModelsDir}:ro`,
    // The container sees every GPU; CUDA_VISIBLE_DEVICES (env file) pins the server to its own.
    "--gpus", "all",
    r.image,
    ...r.args,
  ];
  const health = `http://127.0.0.1:${r.port}${r.health.path}`;
  const deps = ["docker.service", gpuDriverUnitName, weightsUnitName];
  return [
    "[Unit]",
    `Description=tierstack ${server.name}: ${server.description}`,
    `After=${deps.join(" ")}`,
    `Requires=docker.service ${weightsUnitName}`,
    `Wants=${gpuDriverUnitName}`,
    "",
    "[Service]",
    "Restart=always",
    "RestartSec=5",
    "TimeoutStartSec=0",
    `ExecStartPre=-/usr/bin/docker rm -f ${container}`,
    "ExecStartPre=/usr/bin/nvidia-smi",
    `ExecStart=${run.map(systemdArg).join(" ")}`,
    // Active only once the server answers its health check with the ready status (llama-server: 503 while loading).
    `ExecStartPost=${[waitHealthyPath, health, String(r.health.readyStatus)].map(systemdArg).join(" ")}`,
    `ExecStop=/usr/bin/docker stop ${container}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

function envFile(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join("");
}

/** Throws one line when two servers share a unit name, a GPU, a port or a weights path. */
function checkSpec(spec: BoxBootSpec): void {
  const seen = (what: string, values: readonly string[]) => {
    const dup = values.find((v, i) => values.indexOf(v) !== i);
    if (dup !== undefined) throw new Error(`box boot: two servers share the ${what} ${dup}`);
  };
  seen("unit name", spec.servers.map((s) => s.name));
  seen("GPU (CUDA_VISIBLE_DEVICES)", spec.servers.map((s) => s.rendered.env.CUDA_VISIBLE_DEVICES ?? "unset"));
  seen("port", spec.servers.map((s) => String(s.rendered.port)));
  for (const s of spec.servers) {
    if (!/^[a-f0-9]{64}$/.test(s.weights.sha256)) throw new Error(`box boot: ${s.name}: sha256 "${s.weights.sha256}" is not 64 lowercase hex`);
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(s.name)) throw new Error(`box boot: unit name "${s.name}" is not valid`);
  }
}

export function renderBoxCloudInit(spec: BoxBootSpec): string {
  checkSpec(spec);
  const root = "root:root";
  const files = [
    { path: gpuDriverScriptPath, content: gpuDriverScript, permissions: "0700", owner: root },
    { path: `/etc/systemd/system/${gpuDriverUnitName}`, content: gpuDriverUnit, permissions: "0644", owner: root },
    { path: weightsScriptPath, content: renderWeightsScript(spec), permissions: "0700", owner: root },
    { path: `/etc/systemd/system/${weightsUnitName}`, content: weightsUnit, permissions: "0644", owner: root },
    { path: waitHealthyPath, content: waitHealthyScript, permissions: "0755", owner: root },
  ];
  for (const s of spec.servers) {
    files.push(
      { path: `${configDir}/${s.name}.env`, content: envFile(s.rendered.env), permissions: "0644", owner: root },
      { path: `/etc/systemd/system/${serverUnitName(s)}`, content: renderServerUnit(s), permissions: "0644", owner: root },
    );
  }
  const doc = {
    package_update: true,
    packages: ["docker.io", "jq", "curl"],
    write_files: files,
    runcmd: [
      ["mkdir", "-p", hostModelsDir],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "docker.service"],
      ["systemctl", "enable", "--now", "--no-block", gpuDriverUnitName, weightsUnitName, ...spec.servers.map(serverUnitName)],
    ],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}
