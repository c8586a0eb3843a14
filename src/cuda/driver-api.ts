/**
 * The CUDA driver API functions gridrec uses, bound over koffi, with the exported (versioned) symbol
 * names that cuda.h maps the plain names to (cuMemAlloc → cuMemAlloc_v2, …).
 *
 * Conventions: every function returns its CUresult; output parameters are typed arrays of one
 * element (handles and sizes in a BigUint64Array, ints in an Int32Array); handles (CUcontext,
 * CUmodule, CUfunction, CUstream, CUevent, CUgraph, CUgraphExec) are bigints, null for the default
 * stream; device addresses (CUdeviceptr) are bigints.
 */
import { bindFunction, type NativeLibrary } from './native-library.js';

/** The driver library's soname. */
export const CUDA_LIBRARY = 'libcuda.so.1';

/** A device address (CUdeviceptr). */
export type DevicePointer = bigint;
/** An opaque driver handle (CUcontext, CUmodule, CUfunction, CUstream, CUevent, CUgraph…). */
export type Handle = bigint;
/** A stream handle: null is the legacy default stream. */
export type StreamHandle = Handle | null;
/** Host memory the driver reads or writes: a typed array (koffi passes its data pointer). */
export type HostMemory = ArrayBufferView;

type R = number;

/** The bound driver functions. */
export interface DriverApi {
  cuInit(flags: number): R;
  cuDriverGetVersion(version: Int32Array): R;
  cuGetErrorName(code: number, name: BigUint64Array): R;
  cuGetErrorString(code: number, text: BigUint64Array): R;

  cuDeviceGetCount(count: Int32Array): R;
  cuDeviceGet(device: Int32Array, ordinal: number): R;
  cuDeviceGetName(name: Uint8Array, length: number, device: number): R;
  cuDeviceGetAttribute(value: Int32Array, attribute: number, device: number): R;
  cuDeviceTotalMem_v2(bytes: BigUint64Array, device: number): R;
  cuDeviceGetUuid_v2(uuid: Uint8Array, device: number): R;

  cuDevicePrimaryCtxRetain(context: BigUint64Array, device: number): R;
  cuDevicePrimaryCtxRelease_v2(device: number): R;
  cuCtxSetCurrent(context: Handle | null): R;
  cuCtxGetDevice(device: Int32Array): R;
  cuCtxSynchronize(): R;

  cuMemGetInfo_v2(free: BigUint64Array, total: BigUint64Array): R;
  cuMemAlloc_v2(pointer: BigUint64Array, bytes: number): R;
  cuMemFree_v2(pointer: DevicePointer): R;
  cuMemHostAlloc(pointer: BigUint64Array, bytes: number, flags: number): R;
  cuMemFreeHost(pointer: Handle): R;
  cuMemcpyHtoDAsync_v2(dst: DevicePointer, src: HostMemory, bytes: number, stream: StreamHandle): R;
  cuMemcpyDtoHAsync_v2(dst: HostMemory, src: DevicePointer, bytes: number, stream: StreamHandle): R;
  cuMemcpyDtoDAsync_v2(dst: DevicePointer, src: DevicePointer, bytes: number, stream: StreamHandle): R;
  cuMemsetD8Async(dst: DevicePointer, value: number, count: number, stream: StreamHandle): R;
  cuMemsetD32Async(dst: DevicePointer, value: number, count: number, stream: StreamHandle): R;

  cuStreamCreate(stream: BigUint64Array, flags: number): R;
  cuStreamDestroy_v2(stream: Handle): R;
  cuStreamSynchronize(stream: StreamHandle): R;
  cuStreamWaitEvent(stream: StreamHandle, event: Handle, flags: number): R;
  cuEventCreate(event: BigUint64Array, flags: number): R;
  cuEventRecord(event: Handle, stream: StreamHandle): R;
  cuEventSynchronize(event: Handle): R;
  cuEventElapsedTime_v2(milliseconds: Float32Array, start: Handle, end: Handle): R;
  cuEventDestroy_v2(event: Handle): R;

  cuModuleLoadDataEx(
    module: BigUint64Array,
    image: Uint8Array,
    optionCount: number,
    options: Int32Array,
    optionValues: BigUint64Array,
  ): R;
  cuModuleUnload(module: Handle): R;
  cuModuleGetFunction(fn: BigUint64Array, module: Handle, name: string): R;
  cuFuncGetAttribute(value: Int32Array, attribute: number, fn: Handle): R;
  cuFuncSetAttribute(fn: Handle, attribute: number, value: number): R;
  cuFuncGetParamInfo(fn: Handle, index: number, offset: BigUint64Array, size: BigUint64Array): R;
  cuLaunchKernel(
    fn: Handle,
    gridX: number,
    gridY: number,
    gridZ: number,
    blockX: number,
    blockY: number,
    blockZ: number,
    sharedBytes: number,
    stream: StreamHandle,
    params: null,
    extra: Handle | null,
  ): R;

  cuStreamBeginCapture_v2(stream: Handle, mode: number): R;
  cuStreamEndCapture(stream: Handle, graph: BigUint64Array): R;
  cuGraphInstantiateWithFlags(exec: BigUint64Array, graph: Handle, flags: number): R;
  cuGraphLaunch(exec: Handle, stream: StreamHandle): R;
  cuGraphExecDestroy(exec: Handle): R;
  cuGraphDestroy(graph: Handle): R;
}

/** C prototypes, in the form koffi parses; pointer parameters are `void *` throughout. */
const PROTOTYPES: Readonly<Record<keyof DriverApi, string>> = {
  cuInit: 'int cuInit(uint32_t flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(void *version)',
  cuGetErrorName: 'int cuGetErrorName(int error, void *name)',
  cuGetErrorString: 'int cuGetErrorString(int error, void *text)',

  cuDeviceGetCount: 'int cuDeviceGetCount(void *count)',
  cuDeviceGet: 'int cuDeviceGet(void *device, int ordinal)',
  cuDeviceGetName: 'int cuDeviceGetName(void *name, int length, int device)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(void *value, int attribute, int device)',
  cuDeviceTotalMem_v2: 'int cuDeviceTotalMem_v2(void *bytes, int device)',
  cuDeviceGetUuid_v2: 'int cuDeviceGetUuid_v2(void *uuid, int device)',

  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(void *context, int device)',
  cuDevicePrimaryCtxRelease_v2: 'int cuDevicePrimaryCtxRelease_v2(int device)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(void *context)',
  cuCtxGetDevice: 'int cuCtxGetDevice(void *device)',
  cuCtxSynchronize: 'int cuCtxSynchronize(void)',

  cuMemGetInfo_v2: 'int cuMemGetInfo_v2(void *free, void *total)',
  cuMemAlloc_v2: 'int cuMemAlloc_v2(void *pointer, size_t bytes)',
  cuMemFree_v2: 'int cuMemFree_v2(uint64_t pointer)',
  cuMemHostAlloc: 'int cuMemHostAlloc(void *pointer, size_t bytes, uint32_t flags)',
  cuMemFreeHost: 'int cuMemFreeHost(void *pointer)',
  cuMemcpyHtoDAsync_v2: 'int cuMemcpyHtoDAsync_v2(uint64_t dst, void *src, size_t bytes, void *stream)',
  cuMemcpyDtoHAsync_v2: 'int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *stream)',
  cuMemcpyDtoDAsync_v2: 'int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream)',
  cuMemsetD8Async: 'int cuMemsetD8Async(uint64_t dst, uint8_t value, size_t count, void *stream)',
  cuMemsetD32Async: 'int cuMemsetD32Async(uint64_t dst, uint32_t value, size_t count, void *stream)',

  cuStreamCreate: 'int cuStreamCreate(void *stream, uint32_t flags)',
  cuStreamDestroy_v2: 'int cuStreamDestroy_v2(void *stream)',
  cuStreamSynchronize: 'int cuStreamSynchronize(void *stream)',
  cuStreamWaitEvent: 'int cuStreamWaitEvent(void *stream, void *event, uint32_t flags)',
  cuEventCreate: 'int cuEventCreate(void *event, uint32_t flags)',
  cuEventRecord: 'int cuEventRecord(void *event, void *stream)',
  cuEventSynchronize: 'int cuEventSynchronize(void *event)',
  cuEventElapsedTime_v2: 'int cuEventElapsedTime_v2(void *milliseconds, void *start, void *end)',
  cuEventDestroy_v2: 'int cuEventDestroy_v2(void *event)',

  cuModuleLoadDataEx:
    'int cuModuleLoadDataEx(void *module, void *image, uint32_t optionCount, void *options, void *optionValues)',
  cuModuleUnload: 'int cuModuleUnload(void *module)',
  cuModuleGetFunction: 'int cuModuleGetFunction(void *fn, void *module, const char *name)',
  cuFuncGetAttribute: 'int cuFuncGetAttribute(void *value, int attribute, void *fn)',
  cuFuncSetAttribute: 'int cuFuncSetAttribute(void *fn, int attribute, int value)',
  cuFuncGetParamInfo: 'int cuFuncGetParamInfo(void *fn, size_t index, void *offset, void *size)',
  cuLaunchKernel:
    'int cuLaunchKernel(void *fn, uint32_t gridX, uint32_t gridY, uint32_t gridZ, uint32_t blockX, uint32_t blockY, uint32_t blockZ, uint32_t sharedBytes, void *stream, void *params, void *extra)',

  cuStreamBeginCapture_v2: 'int cuStreamBeginCapture_v2(void *stream, int mode)',
  cuStreamEndCapture: 'int cuStreamEndCapture(void *stream, void *graph)',
  cuGraphInstantiateWithFlags: 'int cuGraphInstantiateWithFlags(void *exec, void *graph, uint64_t flags)',
  cuGraphLaunch: 'int cuGraphLaunch(void *exec, void *stream)',
  cuGraphExecDestroy: 'int cuGraphExecDestroy(void *exec)',
  cuGraphDestroy: 'int cuGraphDestroy(void *graph)',
};

/** Older symbols with the same signature, bound where a driver lacks the newer one. */
const FALLBACKS: Partial<Record<keyof DriverApi, string>> = {
  cuEventElapsedTime_v2: 'cuEventElapsedTime',
};

/** Binds every function; throws naming the first symbol the library lacks. */
export function bindDriverApi(library: NativeLibrary): DriverApi {
  const api: Partial<Record<keyof DriverApi, unknown>> = {};
  for (const [name, prototype] of Object.entries(PROTOTYPES) as [keyof DriverApi, string][]) {
    try {
      api[name] = bindFunction(library, prototype);
    } catch (error) {
      const fallback = FALLBACKS[name];
      if (fallback === undefined) throw new Error(`${CUDA_LIBRARY} has no ${name}: ${(error as Error).message}`);
      api[name] = bindFunction(library, prototype.replace(`${name}(`, `${fallback}(`));
    }
  }
  return api as DriverApi;
}

/** Device attributes (CUdevice_attribute). */
export const DeviceAttribute = {
  MAX_THREADS_PER_BLOCK: 1,
  MAX_SHARED_MEMORY_PER_BLOCK: 8,
  WARP_SIZE: 10,
  MULTIPROCESSOR_COUNT: 16,
  L2_CACHE_SIZE: 38,
  COMPUTE_CAPABILITY_MAJOR: 75,
  COMPUTE_CAPABILITY_MINOR: 76,
  MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: 81,
  MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: 97,
} as const;

/** Function attributes (CUfunction_attribute). */
export const FunctionAttribute = {
  MAX_THREADS_PER_BLOCK: 0,
  SHARED_SIZE_BYTES: 1,
  CONST_SIZE_BYTES: 2,
  LOCAL_SIZE_BYTES: 3,
  NUM_REGS: 4,
  PTX_VERSION: 5,
  BINARY_VERSION: 6,
  MAX_DYNAMIC_SHARED_SIZE_BYTES: 8,
} as const;

/** JIT options (CUjit_option). */
export const JitOption = {
  INFO_LOG_BUFFER: 3,
  INFO_LOG_BUFFER_SIZE_BYTES: 4,
  ERROR_LOG_BUFFER: 5,
  ERROR_LOG_BUFFER_SIZE_BYTES: 6,
  LOG_VERBOSE: 12,
} as const;

/** Markers of cuLaunchKernel's `extra` array (CU_LAUNCH_PARAM_*). */
export const LaunchParam = { END: 0n, BUFFER_POINTER: 1n, BUFFER_SIZE: 2n } as const;

export const CU_STREAM_NON_BLOCKING = 0x1;
export const CU_EVENT_DEFAULT = 0x0;
export const CU_EVENT_DISABLE_TIMING = 0x2;
export const CU_STREAM_CAPTURE_MODE_RELAXED = 2;
