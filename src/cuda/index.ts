/**
 * node-cuda, the driver side: contexts, device memory with peak accounting, PTX modules and typed
 * launches, streams, events and graphs, over libcuda.so.1 through koffi. For the backend and the
 * trainer; the orchestrator imports only ./nvml.js, which creates no CUDA context.
 */
export { DeviceAllocator, DeviceBuffer, DeviceView, blockBytes, BLOCK_GRANULARITY } from './allocator.js';
export type { AllocatorStats, DeviceMemory } from './allocator.js';
export { CudaContext, currentContext } from './context.js';
export type { MemoryReport } from './context.js';
export {
  CudaError,
  CudaUnavailableError,
  DeviceOutOfMemoryError,
  KernelSignatureMismatch,
  formatBytes,
  isOutOfMemory,
} from './cuda-error.js';
export { CudaModule } from './cuda-module.js';
export { deviceCount, deviceInfo } from './device.js';
export type { ComputeCapability, DeviceInfo } from './device.js';
export { driverVersion } from './driver.js';
export type { DevicePointer } from './driver-api.js';
export { CudaGraph } from './graph.js';
export { KernelFunction } from './kernel-function.js';
export type { Dim3, FunctionAttributes, LaunchConfig } from './kernel-function.js';
export { KernelModules, kernelsDirectory } from './kernel-modules.js';
export { KernelArgumentError, layoutOf } from './kernel-signature.js';
export type { DeviceAddressable, KernelArgs, KernelSignature, ParamType, PointerArg } from './kernel-signature.js';
export { copyDevice, deviceMemoryInfo, download, fillBytes, fillWords, PinnedHostBuffer, upload } from './memory.js';
export type { DeviceRegion } from './memory.js';
export { probeCuda } from './probe.js';
export type { CudaProbe } from './probe.js';
export { CudaEvent, Stream, synchronizeDevice } from './stream.js';
