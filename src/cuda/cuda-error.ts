/**
 * Errors of the CUDA layer. Every failed driver call becomes a `CudaError` naming the call, the CUDA
 * error name and, where we know one, a hint at the cause. Running out of device memory in the
 * allocator is a `DeviceOutOfMemoryError`, which a trainer reports as protocol error kind `oom`.
 * This module imports nothing native, so code that only classifies errors loads no driver.
 */

/** CUresult values this layer acts on (cuda.h, `cudaError_enum`). */
export const CUDA_SUCCESS = 0;
export const CUDA_ERROR_INVALID_VALUE = 1;
export const CUDA_ERROR_OUT_OF_MEMORY = 2;

/** The driver version the committed PTX needs (PTX ISA 9.0, from nvcc 13.0), for messages. */
export const REQUIRED_DRIVER = 'an NVIDIA driver supporting CUDA 13.0 (r580 or newer)';

/** Hints by CUDA error name, and by "call:name" where the cause depends on the call. */
const HINTS: Readonly<Record<string, string>> = {
  CUDA_ERROR_UNSUPPORTED_PTX_VERSION: `the PTX needs ${REQUIRED_DRIVER}; update the NVIDIA driver`,
  CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER: `gridrec needs ${REQUIRED_DRIVER}; update the NVIDIA driver`,
  CUDA_ERROR_INVALID_PTX: 'the PTX did not compile for this GPU; the JIT log above says where',
  CUDA_ERROR_NO_BINARY_FOR_GPU: "the module has no code for this GPU's compute capability",
  CUDA_ERROR_JIT_COMPILER_NOT_FOUND: "the driver's PTX JIT (libnvidia-ptxjitcompiler.so) is missing; reinstall the NVIDIA driver",
  CUDA_ERROR_NO_DEVICE: 'no CUDA GPU is visible to this process; check nvidia-smi and CUDA_VISIBLE_DEVICES',
  CUDA_ERROR_INVALID_DEVICE: 'no device of that ordinal; CUDA_VISIBLE_DEVICES narrows and renumbers the devices',
  CUDA_ERROR_DEVICE_UNAVAILABLE: 'the GPU is busy in exclusive-process mode or unavailable',
  CUDA_ERROR_STUB_LIBRARY: 'libcuda.so.1 is the CUDA toolkit\'s stub, not the driver; install the NVIDIA driver or fix LD_LIBRARY_PATH',
  CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: 'libcuda.so.1 and the loaded kernel module differ in version; reboot or reinstall the NVIDIA driver',
  CUDA_ERROR_NOT_INITIALIZED: 'the driver is not initialised; go through the functions of src/cuda, which call cuInit',
  CUDA_ERROR_INVALID_CONTEXT: 'no CUDA context is current on this thread; open a CudaContext first',
  CUDA_ERROR_OUT_OF_MEMORY: 'the GPU has no room left; use a smaller batch or sequence length, or free memory held elsewhere',
  CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES:
    'the launch needs more registers or shared memory per block than the GPU has; use fewer threads per block',
  CUDA_ERROR_ILLEGAL_ADDRESS: 'a kernel accessed memory out of bounds; the context is lost and the process must exit (compute-sanitizer finds the access)',
  CUDA_ERROR_MISALIGNED_ADDRESS: 'a kernel used a misaligned address; the context is lost and the process must exit',
  CUDA_ERROR_ILLEGAL_INSTRUCTION: 'a kernel executed an illegal instruction; the context is lost and the process must exit',
  CUDA_ERROR_LAUNCH_FAILED: 'a kernel failed; the context is lost and the process must exit',
  CUDA_ERROR_ASSERT: 'a device-side assert fired; the context is lost and the process must exit',
  CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED:
    'an operation that cannot be captured (a synchronous copy, a synchronize, a new allocation) ran during graph capture',
  CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: 'an earlier operation broke this graph capture; nothing was captured',
  'cuModuleGetFunction:CUDA_ERROR_NOT_FOUND':
    'no kernel of that name in the module: declare it extern "C" __global__ and rebuild the PTX (npm run build-kernels)',
  'cuLaunchKernel:CUDA_ERROR_INVALID_VALUE':
    'the grid or block is out of range (at most 1024 threads a block, grid y and z at most 65535), or the dynamic shared memory exceeds the function\'s limit (raise it with setMaxDynamicSharedBytes)',
  'cuFuncSetAttribute:CUDA_ERROR_INVALID_VALUE':
    'the value exceeds what the device allows (dynamic shared memory: at most the opt-in limit minus the static shared memory)',
};

/** The hint for a failed call, if we know one. */
export function hintFor(call: string, errorName: string): string | undefined {
  return HINTS[`${call}:${errorName}`] ?? HINTS[errorName];
}

/** A failed CUDA driver call. */
export class CudaError extends Error {
  override name = 'CudaError';
  /** The driver function that failed, e.g. "cuMemAlloc_v2". */
  readonly call: string;
  /** Its CUresult. */
  readonly code: number;
  /** The CUresult's name, e.g. "CUDA_ERROR_OUT_OF_MEMORY". */
  readonly errorName: string;
  readonly hint: string | undefined;

  constructor(call: string, code: number, errorName: string, description: string, detail?: string) {
    const hint = hintFor(call, errorName);
    super(
      `${call} failed: ${errorName} (${code}): ${description}` +
        (detail ? `\n${detail}` : '') +
        (hint ? `\nhint: ${hint}` : ''),
    );
    this.call = call;
    this.code = code;
    this.errorName = errorName;
    this.hint = hint;
  }
}

/** What the allocator knew when an allocation did not fit. */
export interface OutOfMemoryReport {
  readonly requestedBytes: number;
  /** Free device memory by cuMemGetInfo after the allocator emptied its cache. */
  readonly freeBytes: number;
  readonly totalBytes: number;
  /** Bytes held by this process's live buffers. */
  readonly allocatedBytes: number;
}

/** An allocation that does not fit on the device, even after the allocator returned its cache. */
export class DeviceOutOfMemoryError extends CudaError {
  override name = 'DeviceOutOfMemoryError';
  readonly requestedBytes: number;
  readonly freeBytes: number;
  readonly totalBytes: number;
  readonly allocatedBytes: number;

  constructor(call: string, report: OutOfMemoryReport, description = 'out of memory') {
    super(
      call,
      CUDA_ERROR_OUT_OF_MEMORY,
      'CUDA_ERROR_OUT_OF_MEMORY',
      description,
      `cannot allocate ${formatBytes(report.requestedBytes)}: ${formatBytes(report.freeBytes)} free of ` +
        `${formatBytes(report.totalBytes)}, ${formatBytes(report.allocatedBytes)} held by this process's live buffers`,
    );
    this.requestedBytes = report.requestedBytes;
    this.freeBytes = report.freeBytes;
    this.totalBytes = report.totalBytes;
    this.allocatedBytes = report.allocatedBytes;
  }
}

/** True for any out-of-memory failure of the device: the trainer maps these to error kind `oom`. */
export function isOutOfMemory(error: unknown): boolean {
  return error instanceof CudaError && error.code === CUDA_ERROR_OUT_OF_MEMORY;
}

/** A kernel's declared signature does not match the compiled kernel's parameters. */
export class KernelSignatureMismatch extends Error {
  override readonly name = 'KernelSignatureMismatch';
}

/** CUDA cannot be used in this process: no driver library, no GPU, or a driver too old. */
export class CudaUnavailableError extends Error {
  override readonly name = 'CudaUnavailableError';
}

/** Formats a byte count for messages: "1.50 GiB", "512 B". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(2)} ${units[unit]}`;
}
