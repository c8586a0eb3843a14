/**
 * The process's one handle on the CUDA driver: loads libcuda.so.1 on first use, calls cuInit, and
 * checks every driver call through `check`, which turns a CUresult into a `CudaError` naming the
 * call, the error and a hint.
 */
import { CUDA_SUCCESS, CudaError, CudaUnavailableError, REQUIRED_DRIVER } from './cuda-error.js';
import { bindDriverApi, CUDA_LIBRARY, type DriverApi } from './driver-api.js';
import { koffi, openLibrary } from './native-library.js';

/** The oldest driver (CUDA version × 1000 + minor × 10) whose JIT accepts the committed PTX. */
export const MIN_DRIVER_VERSION = 13000;

let loaded: { readonly api: DriverApi } | { readonly failure: string } | undefined;

/** Loads and initialises the driver; the reason it cannot be used, as a string, on failure. */
function load(): { readonly api: DriverApi } | { readonly failure: string } {
  if (loaded !== undefined) return loaded;
  const opened = openLibrary(CUDA_LIBRARY);
  if (!opened.ok) {
    loaded = { failure: `no NVIDIA driver: ${opened.reason}` };
    return loaded;
  }
  let api: DriverApi;
  try {
    api = bindDriverApi(opened.library);
  } catch (error) {
    loaded = { failure: `the NVIDIA driver is too old; gridrec needs ${REQUIRED_DRIVER}: ${(error as Error).message}` };
    return loaded;
  }
  try {
    checkWith(api, 'cuInit', api.cuInit(0));
  } catch (error) {
    loaded = { failure: (error as Error).message };
    return loaded;
  }
  loaded = { api };
  return loaded;
}

/** The bound driver, initialised; throws `CudaUnavailableError` saying why where it cannot be used. */
export function driver(): DriverApi {
  const state = load();
  if ('failure' in state) throw new CudaUnavailableError(state.failure);
  return state.api;
}

/** Why the driver cannot be used here, or undefined where it can. Never throws. */
export function driverUnavailableReason(): string | undefined {
  const state = load();
  return 'failure' in state ? state.failure : undefined;
}

/**
 * Throws a `CudaError` for a failed driver call; returns at once on success.
 * @param detail extra lines for the message, such as a JIT log.
 */
export function check(call: string, code: number, detail?: string): void {
  if (code !== CUDA_SUCCESS) throw cudaError(driver(), call, code, detail);
}

function checkWith(api: DriverApi, call: string, code: number): void {
  if (code !== CUDA_SUCCESS) throw cudaError(api, call, code);
}

/** Builds the error for a failed call, with the driver's own name and description of the code. */
export function cudaError(api: DriverApi, call: string, code: number, detail?: string): CudaError {
  const out = new BigUint64Array(1);
  const name = api.cuGetErrorName(code, out) === CUDA_SUCCESS ? koffi().decode.string(out[0]) : `CUresult ${code}`;
  const text = api.cuGetErrorString(code, out) === CUDA_SUCCESS ? koffi().decode.string(out[0]) : 'unknown error';
  return new CudaError(call, code, name, text, detail);
}

/** The CUDA version the driver supports, as 1000 × major + 10 × minor (13000 = CUDA 13.0). */
export function driverVersion(): number {
  const out = new Int32Array(1);
  check('cuDriverGetVersion', driver().cuDriverGetVersion(out));
  return out[0] ?? 0;
}

/** Formats a driver version number as "13.0". */
export function formatDriverVersion(version: number): string {
  return `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`;
}
