/**
 * Boot parts every GPU host of the platform shares: the NVIDIA driver + container toolkit step
 * (a script and its oneshot unit) and the quoting rules for shell words and systemd ExecStart
 * arguments. The single box's cloud-init (stacks/single-box/cloud-init.ts) and the tier-50
 * InferenceBox's (gpu-node/box-boot.ts) both render them, so the driver is installed the same
 * way on every box.
 */

/** A word for bash: bare when it is safe, else single-quoted. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** systemd quoting for ExecStart arguments (double quotes, escaped; % doubled). */
export function systemdArg(s: string): string {
  const escaped = s.replace(/%/g, "%%");
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(escaped) ? escaped : `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export const gpuDriverScriptPath = "/usr/local/sbin/tierstack-install-gpu-driver";
export const gpuDriverUnitName = "tierstack-gpu-driver.service";

/**
 * NVIDIA driver + container toolkit. Ubuntu's signed precompiled modules keep Secure Boot on
 * (ubuntu.com/server/docs/nvidia-drivers-installation); the toolkit repository and
 * `nvidia-ctk runtime configure` follow docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html.
 */
export const gpuDriverScript = [
  "#!/bin/bash",
  "set -euo pipefail",
  "if nvidia-smi >/dev/null 2>&1 && command -v nvidia-ctk >/dev/null; then exit 0; fi",
  "export DEBIAN_FRONTEND=noninteractive",
  "apt-get update",
  "apt-get install -y ubuntu-drivers-common curl gpg",
  "ubuntu-drivers install --gpgpu nvidia:550-server",
  "apt-get install -y nvidia-utils-550-server",
  "curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | gpg --dearmor --yes -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg",
  "curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \\",
  "  | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \\",
  "  > /etc/apt/sources.list.d/nvidia-container-toolkit.list",
  "apt-get update",
  "apt-get install -y nvidia-container-toolkit",
  "nvidia-ctk runtime configure --runtime=docker",
  "systemctl restart docker",
  "modprobe nvidia",
  "",
].join("\n");

export const gpuDriverUnit = [
  "[Unit]",
  "Description=tierstack: install the NVIDIA driver and container toolkit (no-op once installed)",
  "Wants=network-online.target",
  "After=network-online.target docker.service",
  "",
  "[Service]",
  "Type=oneshot",
  "RemainAfterExit=yes",
  "TimeoutStartSec=1800",
  `ExecStart=${gpuDriverScriptPath}`,
  "",
  "[Install]",
  "WantedBy=multi-user.target",
  "",
].join("\n");
