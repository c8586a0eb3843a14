/**
 * Modules loaded from PTX text. The driver JIT-compiles the PTX for the current device; its error
 * and info logs are captured, so a PTX that does not compile fails with the JIT's own message.
 */
import { CUDA_SUCCESS, KernelSignatureMismatch } from './cuda-error.js';
import { check, cudaError, driver, driverVersion, formatDriverVersion } from './driver.js';
import { JitOption, type Handle } from './driver-api.js';
import { KernelFunction } from './kernel-function.js';
import type { KernelSignature } from './kernel-signature.js';
import { koffi } from './native-library.js';

/** Bytes of each JIT log buffer; longer logs are cut. */
const JIT_LOG_BYTES = 64 * 1024;

/** A loaded module and the kernels taken from it. */
export class CudaModule {
  /** The name it was loaded under (for messages), e.g. "basic.sm80". */
  readonly name: string;
  /** The JIT's info log (register use per kernel and the like); empty when it had nothing to say. */
  readonly infoLog: string;
  #handle: Handle | undefined;
  readonly #functions = new Map<string, { readonly signature: string; readonly fn: KernelFunction<KernelSignature> }>();

  private constructor(handle: Handle, name: string, infoLog: string) {
    this.#handle = handle;
    this.name = name;
    this.infoLog = infoLog;
  }

  /** JIT-compiles PTX text for the current context's device (cuModuleLoadDataEx). */
  static fromPtx(ptx: string, name: string): CudaModule {
    const api = driver();
    const k = koffi();
    const image = Buffer.from(`${ptx}\0`, 'utf8');
    const infoLog = k.alloc('char', JIT_LOG_BYTES) as Handle;
    const errorLog = k.alloc('char', JIT_LOG_BYTES) as Handle;
    // Zeroed, so that a log the JIT leaves empty reads as empty.
    new Uint8Array(k.view(infoLog, JIT_LOG_BYTES)).fill(0);
    new Uint8Array(k.view(errorLog, JIT_LOG_BYTES)).fill(0);
    try {
      const options = new Int32Array([
        JitOption.INFO_LOG_BUFFER,
        JitOption.INFO_LOG_BUFFER_SIZE_BYTES,
        JitOption.ERROR_LOG_BUFFER,
        JitOption.ERROR_LOG_BUFFER_SIZE_BYTES,
        JitOption.LOG_VERBOSE,
      ]);
      // Pointers and sizes travel as pointer-sized values. The JIT is told one byte less than there
      // is, so the last zero byte ends even a log it cut.
      const size = BigInt(JIT_LOG_BYTES - 1);
      const values = new BigUint64Array([infoLog, size, errorLog, size, 1n]);
      const out = new BigUint64Array(1);
      const code = api.cuModuleLoadDataEx(out, image, options.length, options, values);
      const info = k.decode.string(infoLog).trim();
      if (code !== CUDA_SUCCESS) {
        const error = k.decode.string(errorLog).trim();
        throw cudaError(api, 'cuModuleLoadDataEx', code, describeFailure(name, ptx, error));
      }
      return new CudaModule(out[0] ?? 0n, name, info);
    } finally {
      k.free(infoLog);
      k.free(errorLog);
    }
  }

  /**
   * The kernel `kernelName`, launchable with arguments of `signature`; its parameter layout is
   * checked against the compiled kernel's once. Asking again with the same signature returns the same
   * function.
   */
  getFunction<S extends KernelSignature>(kernelName: string, signature: S): KernelFunction<S> {
    const key = signature.join(',');
    const known = this.#functions.get(kernelName);
    if (known !== undefined) {
      if (known.signature !== key) {
        throw new KernelSignatureMismatch(
          `kernel ${kernelName} of module ${this.name} was already declared as (${known.signature}), now as (${key})`,
        );
      }
      return known.fn as unknown as KernelFunction<S>;
    }
    const out = new BigUint64Array(1);
    check('cuModuleGetFunction', driver().cuModuleGetFunction(out, this.#live(), kernelName), `kernel ${kernelName} of module ${this.name}`);
    const fn = new KernelFunction(out[0] ?? 0n, kernelName, signature);
    try {
      fn.verifySignature();
    } catch (error) {
      fn.dispose();
      throw error;
    }
    this.#functions.set(kernelName, { signature: key, fn: fn as unknown as KernelFunction<KernelSignature> });
    return fn;
  }

  /** Unloads the module; its functions can no longer be launched. */
  unload(): void {
    const handle = this.#live();
    this.#handle = undefined;
    for (const { fn } of this.#functions.values()) fn.dispose();
    this.#functions.clear();
    check('cuModuleUnload', driver().cuModuleUnload(handle));
  }

  #live(): Handle {
    if (this.#handle === undefined) throw new Error(`module ${this.name} used after unload`);
    return this.#handle;
  }
}

/** The message detail of a failed load: the PTX's version and target, the driver's, and the JIT log. */
function describeFailure(name: string, ptx: string, jitLog: string): string {
  const version = /^\s*\.version\s+(\S+)/m.exec(ptx)?.[1] ?? 'unknown';
  const target = /^\s*\.target\s+(\S+)/m.exec(ptx)?.[1] ?? 'unknown';
  return (
    `module ${name}: PTX ISA ${version} for ${target}; this driver supports CUDA ${formatDriverVersion(driverVersion())}` +
    (jitLog ? `\nJIT log:\n${jitLog}` : '\nJIT log: (empty)')
  );
}
