/**
 * GCE machine types the platform accepts and the GPUs they carry. G2/A2/A3 machine types carry
 * their GPU (no `guestAccelerators`); N1 + attached T4/V100 is not supported
 * (https://cloud.google.com/compute/docs/gpus).
 */
export interface GpuInfo {
  model: "nvidia-l4" | "nvidia-a100-40gb" | "nvidia-a100-80gb" | "nvidia-h100-80gb";
  count: number;
}

export interface MachineInfo {
  name: string;
  family: string;
  gpu?: GpuInfo;
}

/** L4 count per g2-standard size (https://cloud.google.com/compute/docs/accelerator-optimized-machines#g2-vms). */
const g2Gpus: Record<number, number> = { 4: 1, 8: 1, 12: 1, 16: 1, 24: 2, 32: 1, 48: 4, 96: 8 };

/**
 * vCPU sizes per general-purpose and compute-optimized series and shape, as Compute Engine lists
 * them (https://cloud.google.com/compute/docs/general-purpose-machines,
 * https://cloud.google.com/compute/docs/compute-optimized-machines). A size not listed here
 * (e2-standard-3) does not exist and is refused by the config parser instead of by the API.
 */
const cpuSizes: Record<string, Record<"standard" | "highmem" | "highcpu", readonly number[]>> = {
  e2: { standard: [2, 4, 8, 16, 32], highmem: [2, 4, 8, 16], highcpu: [2, 4, 8, 16, 32] },
  n2: { standard: [2, 4, 8, 16, 32, 48, 64, 80, 96, 128], highmem: [2, 4, 8, 16, 32, 48, 64, 80, 96, 128], highcpu: [2, 4, 8, 16, 32, 48, 64, 80, 96] },
  n2d: { standard: [2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224], highmem: [2, 4, 8, 16, 32, 48, 64, 80, 96], highcpu: [2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224] },
  n4: { standard: [2, 4, 8, 16, 32, 48, 64, 80], highmem: [2, 4, 8, 16, 32, 48, 64, 80], highcpu: [2, 4, 8, 16, 32, 48, 64, 80] },
  c3: { standard: [4, 8, 22, 44, 88, 176], highmem: [4, 8, 22, 44, 88, 176], highcpu: [4, 8, 22, 44, 88, 176] },
  c3d: { standard: [4, 8, 16, 30, 60, 90, 180, 360], highmem: [4, 8, 16, 30, 60, 90, 180, 360], highcpu: [4, 8, 16, 30, 60, 90, 180, 360] },
  c4: { standard: [2, 4, 8, 16, 32, 48, 96, 192], highmem: [2, 4, 8, 16, 32, 48, 96, 192], highcpu: [2, 4, 8, 16, 32, 48, 96, 192] },
};

/** A2/A3 machine types and the GPUs they carry (https://cloud.google.com/compute/docs/gpus). */
const acceleratorTypes: Record<string, GpuInfo> = {
  "a2-highgpu-1g": { model: "nvidia-a100-40gb", count: 1 },
  "a2-highgpu-2g": { model: "nvidia-a100-40gb", count: 2 },
  "a2-highgpu-4g": { model: "nvidia-a100-40gb", count: 4 },
  "a2-highgpu-8g": { model: "nvidia-a100-40gb", count: 8 },
  "a2-ultragpu-1g": { model: "nvidia-a100-80gb", count: 1 },
  "a2-ultragpu-2g": { model: "nvidia-a100-80gb", count: 2 },
  "a2-ultragpu-4g": { model: "nvidia-a100-80gb", count: 4 },
  "a2-ultragpu-8g": { model: "nvidia-a100-80gb", count: 8 },
  "a3-highgpu-1g": { model: "nvidia-h100-80gb", count: 1 },
  "a3-highgpu-2g": { model: "nvidia-h100-80gb", count: 2 },
  "a3-highgpu-4g": { model: "nvidia-h100-80gb", count: 4 },
  "a3-highgpu-8g": { model: "nvidia-h100-80gb", count: 8 },
};

export const acceptedMachineTypes =
  "e2|n2|n2d|n4|c3|c3d|c4-(standard|highmem|highcpu)-N at the sizes Compute Engine offers (e.g. e2-standard-4), g2-standard-4|8|12|16|24|32|48|96 (L4), a2-highgpu-1|2|4|8g (A100 40GB), a2-ultragpu-1|2|4|8g (A100 80GB), a3-highgpu-1|2|4|8g (H100)";

/** The machine type's family and GPU, or undefined when the platform does not accept it. */
export function machineInfo(name: string): MachineInfo | undefined {
  const cpu = /^([a-z0-9]+)-(standard|highmem|highcpu)-(\d+)$/.exec(name);
  const sizes = cpu ? cpuSizes[cpu[1] ?? ""]?.[cpu[2] as "standard" | "highmem" | "highcpu"] : undefined;
  if (cpu && sizes) return sizes.includes(Number(cpu[3])) ? { name, family: cpu[1] ?? "" } : undefined;
  const g2 = /^g2-standard-(\d+)$/.exec(name);
  if (g2) {
    const count = g2Gpus[Number(g2[1])];
    return count === undefined ? undefined : { name, family: "g2", gpu: { model: "nvidia-l4", count } };
  }
  const accel = acceleratorTypes[name];
  return accel ? { name, family: name.slice(0, 2), gpu: { ...accel } } : undefined;
}
