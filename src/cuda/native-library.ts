/**
 * Lazy access to koffi and to the shared libraries of the NVIDIA driver. Nothing here runs at import
 * time: the orchestrator imports NVML code and must start fast, and a machine without the driver must
 * still load every module.
 */
import { createRequire } from 'node:module';
import type * as KoffiTypes from 'koffi';

/** The koffi module (FFI over native shared libraries). */
export type Koffi = typeof KoffiTypes;

/** A loaded shared library whose functions koffi can bind. */
export type NativeLibrary = KoffiTypes.LibraryHandle;


let koffiModule: Koffi | undefined;

/** Loads koffi on first use (its native addon costs a few milliseconds to load). */
export function koffi(): Koffi {
  koffiModule ??= createRequire(import.meta.url)('koffi') as Koffi;
  return koffiModule;
}

/** Outcome of trying to open a shared library: the handle, or why it could not be opened. */
export type LibraryResult =
  | { readonly ok: true; readonly library: NativeLibrary }
  | { readonly ok: false; readonly reason: string };

/** Opens a shared library by soname or path; a missing library is a result, not an exception. */
export function openLibrary(path: string): LibraryResult {
  try {
    return { ok: true, library: koffi().load(path) };
  } catch (error) {
    return { ok: false, reason: `cannot load ${path}: ${(error as Error).message}` };
  }
}

/**
 * Binds one function of a library from its C prototype, typed as `T`. koffi types bound functions as
 * taking and returning `any`; the caller states the real signature once, here.
 */
export function bindFunction<T extends (...args: never[]) => unknown>(library: NativeLibrary, prototype: string): T {
  return library.func(prototype) as unknown as T;
}

/** Reads a NUL-terminated string from the start of a byte buffer. */
export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? bytes.length : end).toString('utf8');
}
