/**
 * Device slots: where trials run. One slot per GPU that the lister reports (more with `--parallel`,
 * shared round-robin), or CPU slots where there is no GPU (or `--cpu`). A child sees only its GPU,
 * through CUDA_VISIBLE_DEVICES, and addresses it as ordinal 0.
 */
import { availableParallelism } from 'node:os';
import { listGpus, nvmlStatus, type GpuInfo } from '../cuda/nvml.js';
import { CPU_THREADS_ENV, VISIBLE_DEVICES_ENV, type TrialDevice } from '../trainer/protocol.js';

/** What placing slots needs to know of a GPU. */
export type SlotGpu = Pick<GpuInfo, 'index' | 'name' | 'uuid' | 'memoryTotalBytes'>;

/** Lists the machine's GPUs without creating a CUDA context; an empty list where there is no driver. */
export type GpuLister = () => readonly SlotGpu[] | Promise<readonly SlotGpu[]>;

/** A place one trial runs at a time. */
export interface Slot {
  /** 0-based, for progress lines. */
  readonly id: number;
  /** What the child is told in its trial file. */
  readonly device: TrialDevice;
  /** Extra environment of the child. */
  readonly env: Readonly<Record<string, string>>;
  /** For people: "cpu", "gpu0 NVIDIA H100 80GB HBM3". */
  readonly label: string;
  /** The GPU's UUID, where the slot has one. */
  readonly gpu?: string;
  /** The GPU's memory, where the slot has one: a trial planning a larger peak cannot run there. */
  readonly memoryBytes?: number;
}

/** Options of `planSlots`. */
export interface SlotOptions {
  /** Trials at once. @default the number of GPUs, or 1 on the CPU */
  readonly parallel?: number;
  /** Use CPU slots even where GPUs are present. @default false */
  readonly cpu?: boolean;
  /** Cores shared by CPU slots. @default os.availableParallelism() */
  readonly cores?: number;
}

/** The slots of this machine for the given GPUs and options. */
export function planSlots(gpus: readonly SlotGpu[], options: SlotOptions = {}): Slot[] {
  if (options.cpu === true || gpus.length === 0) {
    const parallel = options.parallel ?? 1;
    // The cores are shared among the slots, so that parallel trials do not oversubscribe them
    // (GRID_CPU_THREADS is what the CPU backend reads: backend/cpu/pool.ts); the user's own setting wins.
    const threads = process.env[CPU_THREADS_ENV] ?? String(Math.max(1, Math.floor((options.cores ?? availableParallelism()) / parallel)));
    return Array.from({ length: parallel }, (_, id) => ({
      id,
      device: { backend: 'cpu', ordinal: 0 },
      // A CPU trial must not grab a GPU through some library's default device.
      env: { [VISIBLE_DEVICES_ENV]: '', [CPU_THREADS_ENV]: threads },
      label: 'cpu',
    }));
  }
  return Array.from({ length: options.parallel ?? gpus.length }, (_, id) => {
    const gpu = gpus[id % gpus.length] as SlotGpu;
    return {
      id,
      device: { backend: 'cuda', ordinal: 0 },
      // The UUID, not the index: NVML and CUDA may number devices differently.
      env: { [VISIBLE_DEVICES_ENV]: gpu.uuid !== '' ? gpu.uuid : String(gpu.index) },
      label: `gpu${gpu.index} ${gpu.name}`,
      gpu: gpu.uuid,
      memoryBytes: gpu.memoryTotalBytes,
    };
  });
}

/**
 * The GPUs of `gpus` that `ids` names (NVML indices as nvidia-smi prints them, or UUIDs), in the order
 * given, and the ids that match none.
 */
export function selectGpus<G extends SlotGpu>(gpus: readonly G[], ids: readonly string[]): { selected: G[]; unknown: string[] } {
  const selected: G[] = [];
  const unknown: string[] = [];
  for (const id of ids) {
    const gpu = gpus.find((g) => g.uuid === id || String(g.index) === id);
    if (gpu === undefined) unknown.push(id);
    else if (!selected.includes(gpu)) selected.push(gpu);
  }
  return { selected, unknown };
}

/** The machine's GPUs through NVML (cuda/nvml.ts: no CUDA context); none where there is no driver. */
export const discoverGpus: GpuLister = () => listGpus();


/** Why this machine shows no GPU, in words (for the line that says trials run on the CPU). */
export function noGpuReason(): string {
  const status = nvmlStatus();
  return status.available ? 'NVML lists no GPU' : status.reason;
}
