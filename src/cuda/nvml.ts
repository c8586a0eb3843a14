/**
 * NVML (libnvidia-ml.so.1) for the orchestrator: which GPUs there are, their memory, and which
 * processes compute on them, without creating a CUDA context (NVML talks to the kernel driver, not to
 * libcuda). Where the library or the driver is absent, the GPU list is empty and `nvmlStatus()` says
 * why.
 *
 * NVML numbers GPUs in PCI bus order, which is not CUDA's default order; select a GPU for a child
 * process by UUID (`CUDA_VISIBLE_DEVICES=GPU-…`), never by NVML index.
 */
import { bindFunction, cString, openLibrary, type NativeLibrary } from './native-library.js';

/** The NVML shared library's soname. */
export const NVML_LIBRARY = 'libnvidia-ml.so.1';

/** One GPU as NVML sees it. */
export interface GpuInfo {
  /** NVML index (PCI bus order). */
  readonly index: number;
  /** Marketing name, e.g. "NVIDIA H100 80GB HBM3". */
  readonly name: string;
  /** "GPU-xxxxxxxx-…": stable, and accepted by CUDA_VISIBLE_DEVICES. */
  readonly uuid: string;
  /** PCI bus id, "00000000:1A:00.0". */
  readonly pciBusId: string;
  readonly memoryTotalBytes: number;
  readonly memoryUsedBytes: number;
  readonly memoryFreeBytes: number;
}

/** A process holding a compute context on a GPU. */
export interface GpuProcess {
  readonly pid: number;
  /** Device memory the process holds, or null where NVML may not say (containers, permissions). */
  readonly usedMemoryBytes: number | null;
}

/** Whether NVML can be used here, and if not, why. */
export type NvmlStatus =
  | {
      readonly available: true;
      /** The kernel driver's version, e.g. "580.159.04". */
      readonly driverVersion: string;
      /** The CUDA version the driver supports, as 1000 × major + 10 × minor (13000 = CUDA 13.0); 0 if unknown. */
      readonly cudaDriverVersion: number;
    }
  | { readonly available: false; readonly reason: string };

/** A failed NVML call on a machine where NVML itself is available. */
export class NvmlError extends Error {
  override readonly name = 'NvmlError';
  /** The NVML function that failed. */
  readonly call: string;
  /** Its nvmlReturn_t code. */
  readonly code: number;

  constructor(call: string, code: number, description: string) {
    super(`${call} failed: ${description} (NVML error ${code})`);
    this.call = call;
    this.code = code;
  }
}

/** GPU discovery through one NVML library. */
export interface Nvml {
  /** Opens and initialises NVML on first use; never throws. */
  status(): NvmlStatus;
  /** Every GPU, in NVML index order; [] where NVML is unavailable. */
  listGpus(): GpuInfo[];
  /** Processes with a compute context on the GPU of this NVML index; [] where NVML is unavailable. */
  listComputeProcesses(index: number): GpuProcess[];
}

const NVML_SUCCESS = 0;
const NVML_ERROR_INSUFFICIENT_SIZE = 7;
/** usedGpuMemory when NVML may not report it (NVML_VALUE_NOT_AVAILABLE). */
const VALUE_NOT_AVAILABLE = 0xffff_ffff_ffff_ffffn;
/** Buffer sizes from nvml.h (NVML_DEVICE_NAME_V2_BUFFER_SIZE, NVML_DEVICE_UUID_V2_BUFFER_SIZE, …). */
const STRING_BUFFER_BYTES = 96;
/** sizeof(nvmlMemory_t): total, free, used, each unsigned long long. */
const MEMORY_STRUCT_BYTES = 24;
/** sizeof(nvmlPciInfo_t) and the offset of its `busId` field. */
const PCI_STRUCT_BYTES = 68;
const PCI_BUS_ID_OFFSET = 36;
/** sizeof(nvmlProcessInfo_t) (v2): pid, padding, usedGpuMemory, gpuInstanceId, computeInstanceId. */
const PROCESS_STRUCT_BYTES = 24;

type Handle = bigint;
type Ret = number;

interface NvmlFunctions {
  readonly init: () => Ret;
  readonly errorString: (code: number) => string;
  readonly systemGetDriverVersion: (out: Uint8Array, length: number) => Ret;
  readonly systemGetCudaDriverVersion: (out: Int32Array) => Ret;
  readonly deviceGetCount: (out: Uint32Array) => Ret;
  readonly deviceGetHandleByIndex: (index: number, out: BigUint64Array) => Ret;
  readonly deviceGetName: (device: Handle, out: Uint8Array, length: number) => Ret;
  readonly deviceGetUuid: (device: Handle, out: Uint8Array, length: number) => Ret;
  readonly deviceGetPciInfo: (device: Handle, out: Uint8Array) => Ret;
  readonly deviceGetMemoryInfo: (device: Handle, out: Uint8Array) => Ret;
  readonly deviceGetComputeRunningProcesses: (device: Handle, count: Uint32Array, out: Uint8Array | null) => Ret;
}

function bindNvml(lib: NativeLibrary): NvmlFunctions {
  return {
    init: bindFunction(lib, 'int nvmlInit_v2(void)'),
    errorString: bindFunction(lib, 'const char *nvmlErrorString(int result)'),
    systemGetDriverVersion: bindFunction(lib, 'int nvmlSystemGetDriverVersion(void *version, uint32_t length)'),
    systemGetCudaDriverVersion: bindFunction(lib, 'int nvmlSystemGetCudaDriverVersion_v2(void *version)'),
    deviceGetCount: bindFunction(lib, 'int nvmlDeviceGetCount_v2(void *count)'),
    deviceGetHandleByIndex: bindFunction(lib, 'int nvmlDeviceGetHandleByIndex_v2(uint32_t index, void *device)'),
    deviceGetName: bindFunction(lib, 'int nvmlDeviceGetName(void *device, void *name, uint32_t length)'),
    deviceGetUuid: bindFunction(lib, 'int nvmlDeviceGetUUID(void *device, void *uuid, uint32_t length)'),
    deviceGetPciInfo: bindFunction(lib, 'int nvmlDeviceGetPciInfo_v3(void *device, void *pci)'),
    deviceGetMemoryInfo: bindFunction(lib, 'int nvmlDeviceGetMemoryInfo(void *device, void *memory)'),
    deviceGetComputeRunningProcesses: bindFunction(
      lib,
      'int nvmlDeviceGetComputeRunningProcesses_v3(void *device, void *infoCount, void *infos)',
    ),
  };
}

class NvmlLibrary implements Nvml {
  readonly #path: string;
  #state: { readonly fns: NvmlFunctions | undefined; readonly status: NvmlStatus } | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  status(): NvmlStatus {
    return this.#open().status;
  }

  listGpus(): GpuInfo[] {
    const fns = this.#open().fns;
    if (fns === undefined) return [];
    const count = new Uint32Array(1);
    this.#check(fns, 'nvmlDeviceGetCount_v2', fns.deviceGetCount(count));
    const gpus: GpuInfo[] = [];
    for (let index = 0; index < (count[0] ?? 0); index++) gpus.push(this.#gpu(fns, index));
    return gpus;
  }

  listComputeProcesses(index: number): GpuProcess[] {
    const fns = this.#open().fns;
    if (fns === undefined) return [];
    const device = this.#handle(fns, index);
    // Ask for the count first; processes may start between the two calls, so leave room for more.
    const count = new Uint32Array(1);
    const first = fns.deviceGetComputeRunningProcesses(device, count, null);
    if (first === NVML_SUCCESS) return [];
    if (first !== NVML_ERROR_INSUFFICIENT_SIZE) this.#check(fns, 'nvmlDeviceGetComputeRunningProcesses_v3', first);
    const capacity = (count[0] ?? 0) + 8;
    const infos = new Uint8Array(capacity * PROCESS_STRUCT_BYTES);
    count[0] = capacity;
    this.#check(fns, 'nvmlDeviceGetComputeRunningProcesses_v3', fns.deviceGetComputeRunningProcesses(device, count, infos));
    const view = new DataView(infos.buffer);
    const processes: GpuProcess[] = [];
    for (let i = 0; i < (count[0] ?? 0); i++) {
      const used = view.getBigUint64(i * PROCESS_STRUCT_BYTES + 8, true);
      processes.push({
        pid: view.getUint32(i * PROCESS_STRUCT_BYTES, true),
        usedMemoryBytes: used === VALUE_NOT_AVAILABLE ? null : Number(used),
      });
    }
    return processes;
  }

  #open(): { fns: NvmlFunctions | undefined; status: NvmlStatus } {
    if (this.#state !== undefined) return this.#state;
    const opened = openLibrary(this.#path);
    if (!opened.ok) {
      this.#state = { fns: undefined, status: { available: false, reason: `no NVIDIA driver: ${opened.reason}` } };
      return this.#state;
    }
    let fns: NvmlFunctions;
    try {
      fns = bindNvml(opened.library);
    } catch (error) {
      const reason = `${this.#path} lacks a function gridrec needs (driver too old?): ${(error as Error).message}`;
      this.#state = { fns: undefined, status: { available: false, reason } };
      return this.#state;
    }
    const code = fns.init();
    if (code !== NVML_SUCCESS) {
      const reason = `nvmlInit_v2 failed: ${fns.errorString(code)} (NVML error ${code})`;
      this.#state = { fns: undefined, status: { available: false, reason } };
      return this.#state;
    }
    // Versions are informative: a failure to read them leaves NVML usable.
    const version = new Uint8Array(STRING_BUFFER_BYTES);
    const versionOk = fns.systemGetDriverVersion(version, version.length) === NVML_SUCCESS;
    const cuda = new Int32Array(1);
    const cudaOk = fns.systemGetCudaDriverVersion(cuda) === NVML_SUCCESS;
    this.#state = {
      fns,
      status: {
        available: true,
        driverVersion: versionOk ? cString(version) : 'unknown',
        cudaDriverVersion: cudaOk ? (cuda[0] ?? 0) : 0,
      },
    };
    return this.#state;
  }

  #gpu(fns: NvmlFunctions, index: number): GpuInfo {
    const device = this.#handle(fns, index);
    const name = new Uint8Array(STRING_BUFFER_BYTES);
    this.#check(fns, 'nvmlDeviceGetName', fns.deviceGetName(device, name, name.length));
    const uuid = new Uint8Array(STRING_BUFFER_BYTES);
    this.#check(fns, 'nvmlDeviceGetUUID', fns.deviceGetUuid(device, uuid, uuid.length));
    const pci = new Uint8Array(PCI_STRUCT_BYTES);
    this.#check(fns, 'nvmlDeviceGetPciInfo_v3', fns.deviceGetPciInfo(device, pci));
    const memory = new Uint8Array(MEMORY_STRUCT_BYTES);
    this.#check(fns, 'nvmlDeviceGetMemoryInfo', fns.deviceGetMemoryInfo(device, memory));
    const view = new DataView(memory.buffer);
    return {
      index,
      name: cString(name),
      uuid: cString(uuid),
      pciBusId: cString(pci.subarray(PCI_BUS_ID_OFFSET)),
      memoryTotalBytes: Number(view.getBigUint64(0, true)),
      memoryFreeBytes: Number(view.getBigUint64(8, true)),
      memoryUsedBytes: Number(view.getBigUint64(16, true)),
    };
  }

  #handle(fns: NvmlFunctions, index: number): Handle {
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`Expected a GPU index >= 0, got ${index}`);
    const out = new BigUint64Array(1);
    this.#check(fns, 'nvmlDeviceGetHandleByIndex_v2', fns.deviceGetHandleByIndex(index, out));
    return out[0] ?? 0n;
  }

  #check(fns: NvmlFunctions, call: string, code: number): void {
    if (code !== NVML_SUCCESS) throw new NvmlError(call, code, fns.errorString(code));
  }
}

/**
 * Opens NVML from a given library; nothing is loaded until the first query.
 * @param libraryPath soname or path of the NVML library. @default "libnvidia-ml.so.1"
 */
export function openNvml(libraryPath: string = NVML_LIBRARY): Nvml {
  return new NvmlLibrary(libraryPath);
}

let systemNvml: Nvml | undefined;

function system(): Nvml {
  systemNvml ??= openNvml();
  return systemNvml;
}

/** Whether the system's NVML is usable, with the driver version, or the reason it is not. */
export function nvmlStatus(): NvmlStatus {
  return system().status();
}

/** The system's GPUs in NVML index order; [] where there is no NVIDIA driver. Creates no CUDA context. */
export function listGpus(): GpuInfo[] {
  return system().listGpus();
}

/** Processes with a compute context on the GPU of this NVML index; [] where there is no driver. */
export function listComputeProcesses(index: number): GpuProcess[] {
  return system().listComputeProcesses(index);
}
