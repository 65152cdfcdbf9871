/**
 * GCE machine types the platform accepts and the GPUs they carry. G2/A2/A3 machine types carry
 * their GPU (no `guestAccelerators`); N1 + attached T4/V100 is not supported
 * (https://cloud.google.com/compute/docs/gpus).
 */
export interface GpuInfo {
  model: "nvidia-l4" | "nvidia-a100-40gb" | "nvidia-h100-80gb";
  count: number;
}

export interface MachineInfo {
  name: string;
  family: string;
  gpu?: GpuInfo;
}

/** L4 count per g2-standard size (cloud.google.com/compute/docs/accelerator-optimized-machines#g2-vms). */
const g2Gpus: Record<number, number> = { 4: 1, 8: 1, 12: 1, 16: 1, 24: 2, 32: 1, 48: 4, 96: 8 };

const cpuOnly = /^(e2|n2|n2d|n4|c3|c3d|c4)-(standard|highmem|highcpu)-(\d+)$/;

export const acceptedMachineTypes =
  "e2|n2|n2d|n4|c3|c3d|c4-(standard|highmem|highcpu)-N (no GPU), g2-standard-4|8|12|16|24|32|48|96 (L4), a2-highgpu-1g (A100), a3-highgpu-1g (H100)";

/** The machine type's family and GPU, or undefined when the platform does not accept it. */
export function machineInfo(name: string): MachineInfo | undefined {
  const cpu = cpuOnly.exec(name);
  if (cpu) return { name, family: cpu[1] ?? "" };
  const g2 = /^g2-standard-(\d+)$/.exec(name);
  if (g2) {
    const count = g2Gpus[Number(g2[1])];
    return count === undefined ? undefined : { name, family: "g2", gpu: { model: "nvidia-l4", count } };
  }
  if (name === "a2-highgpu-1g") return { name, family: "a2", gpu: { model: "nvidia-a100-40gb", count: 1 } };
  if (name === "a3-highgpu-1g") return { name, family: "a3", gpu: { model: "nvidia-h100-80gb", count: 1 } };
  return undefined;
}
