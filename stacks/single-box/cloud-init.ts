/**
 * Renders the box's boot configuration (#cloud-config) from the typed BootSpec: format and
 * mount the data disk by its device name, a boot-time unit that fetches the secrets from
 * Secret Manager into root-only env files under /run (tmpfs), the GPU driver step when the
 * box has a GPU (the same step as the tier-50 GPU box's: gpu-node/boot-parts.ts), and one
 * systemd unit per process with Restart=always. It holds secret ids, never secret values.
 */
import { stringify } from "yaml";
import { gpuDriverScript, gpuDriverUnit, shellQuote, systemdArg } from "../../gpu-node/boot-parts.js";
import type { BootSpec, UnitSpec } from "./units.js";

const secretsDir = "/run/tierstack";
const configDir = "/etc/tierstack";

export function unitFileName(unit: Pick<UnitSpec, "name">): string {
  return `tierstack-${unit.name}.service`;
}

export function renderUnit(unit: UnitSpec, boot: BootSpec): string {
  const container = `tierstack-${unit.name}`;
  const deps = ["docker.service", "tierstack-secrets.service", ...unit.after.map((a) => unitFileName({ name: a }))];
  if (unit.requiresGpu) deps.push("tierstack-gpu-driver.service");
  const run = [
    "/usr/bin/docker", "run", "--rm", "--name", container, "--network", "host",
    "--env-file", `${configDir}/${unit.name}.env`,
    "--env-file", `${secretsDir}/${unit.name}.secrets.env`,
    ...Object.entries(unit.volumes).flatMap(([host, inside]) => ["-v", `${host}:${inside}`]),
    ...unit.dockerFlags,
    unit.image,
    ...unit.args,
  ];
  const lines = [
    "[Unit]",
    `Description=tierstack ${unit.name}: ${unit.description}`,
    `After=${deps.join(" ")}`,
    `Wants=${deps.filter((d) => d !== "docker.service").join(" ")}`,
    "Requires=docker.service",
    `RequiresMountsFor=${boot.dataMount}`,
    "",
    "[Service]",
    "Restart=always",
    "RestartSec=5",
    "TimeoutStartSec=0",
    `ExecStartPre=-/usr/bin/docker rm -f ${container}`,
    ...(unit.requiresGpu ? ["ExecStartPre=/usr/bin/nvidia-smi"] : []),
    `ExecStart=${run.map(systemdArg).join(" ")}`,
    `ExecStop=/usr/bin/docker stop ${container}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

function envFile(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join("");
}

/** Boot-time script: Secret Manager → /run/tierstack/<unit>.secrets.env (0600, root). */
export function renderFetchSecrets(boot: BootSpec): string {
  const lines = [
    "#!/bin/bash",
    "# Fetches the platform's secrets from Secret Manager with the VM's service account",
    "# into root-only env files on tmpfs. Runs at every boot (tierstack-secrets.service).",
    "set -euo pipefail",
    "umask 077",
    `mkdir -p ${secretsDir}`,
    "md=http://metadata.google.internal/computeMetadata/v1",
    'project=$(curl -fsS -H "Metadata-Flavor: Google" "$md/project/project-id")',
    'token=$(curl -fsS -H "Metadata-Flavor: Google" "$md/instance/service-accounts/default/token" | jq -r .access_token)',
    "fetch() {",
    '  local value',
    '  value=$(curl -fsS --retry 5 --retry-all-errors -H "Authorization: Bearer $token" \\',
    '    "https://secretmanager.googleapis.com/v1/projects/$project/secrets/$1/versions/latest:access" | jq -r .payload.data | base64 -d)',
    '  case "$value" in *$\'\\n\'*) echo "secret $1 spans lines; refusing" >&2; exit 1;; esac',
    '  printf "%s" "$value"',
    "}",
  ];
  for (const unit of boot.units) {
    const file = `${secretsDir}/${unit.name}.secrets.env`;
    lines.push(`tmp=$(mktemp ${secretsDir}/.${unit.name}.XXXXXX)`);
    for (const [env, id] of Object.entries(unit.secretEnv)) {
      lines.push(`v=$(fetch ${shellQuote(id)})`, `printf '%s=%s\\n' ${shellQuote(env)} "$v" >> "$tmp"`);
    }
    lines.push(`mv "$tmp" ${file}`);
  }
  lines.push("");
  return lines.join("\n");
}

const secretsUnit = [
  "[Unit]",
  "Description=tierstack: fetch secrets from Secret Manager into /run/tierstack",
  "Wants=network-online.target",
  "After=network-online.target",
  "",
  "[Service]",
  "Type=oneshot",
  "RemainAfterExit=yes",
  "Restart=on-failure",
  "RestartSec=10",
  "ExecStart=/usr/local/sbin/tierstack-fetch-secrets",
  "",
  "[Install]",
  "WantedBy=multi-user.target",
  "",
].join("\n");

interface WriteFile {
  path: string;
  content: string;
  permissions: string;
  owner: string;
}

export function renderCloudInit(boot: BootSpec): string {
  const dev = `/dev/disk/by-id/google-${boot.dataDeviceName}`;
  const files: WriteFile[] = [
    { path: "/usr/local/sbin/tierstack-fetch-secrets", content: renderFetchSecrets(boot), permissions: "0700", owner: "root:root" },
    { path: "/etc/systemd/system/tierstack-secrets.service", content: secretsUnit, permissions: "0644", owner: "root:root" },
  ];
  if (boot.gpu) {
    files.push(
      { path: "/usr/local/sbin/tierstack-install-gpu-driver", content: gpuDriverScript, permissions: "0700", owner: "root:root" },
      { path: "/etc/systemd/system/tierstack-gpu-driver.service", content: gpuDriverUnit, permissions: "0644", owner: "root:root" },
    );
  }
  for (const f of boot.files) files.push({ ...f, owner: "root:root" });
  for (const unit of boot.units) {
    files.push(
      { path: `${configDir}/${unit.name}.env`, content: envFile(unit.env), permissions: "0644", owner: "root:root" },
      { path: `/etc/systemd/system/${unitFileName(unit)}`, content: renderUnit(unit, boot), permissions: "0644", owner: "root:root" },
    );
  }
  const enabled = ["tierstack-secrets.service", ...(boot.gpu ? ["tierstack-gpu-driver.service"] : []), ...boot.units.map(unitFileName)];
  const doc = {
    package_update: true,
    packages: ["docker.io", "jq", "curl"],
    fs_setup: [{ label: boot.dataDeviceName, filesystem: "ext4", device: dev, partition: "none", overwrite: false }],
    mounts: [[dev, boot.dataMount, "ext4", "defaults,nofail,discard", "0", "2"]],
    write_files: files,
    runcmd: [
      ["mkdir", "-p", ...boot.dataDirs],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "docker.service"],
      ["systemctl", "enable", "--now", "--no-block", ...enabled],
    ],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}
