/**
 * A kernel of a loaded module, with its declared signature: attributes, the dynamic shared memory
 * limit, and typed launches.
 *
 * A launch packs the arguments into a native parameter buffer owned by the function (C layout, see
 * kernel-signature.ts) and hands it to cuLaunchKernel through its `extra` array
 * (CU_LAUNCH_PARAM_BUFFER_POINTER / _SIZE), one FFI call per launch. The driver copies the buffer
 * during the call, so the next launch may overwrite it at once.
 */
import { CUDA_ERROR_INVALID_VALUE, CUDA_SUCCESS, KernelSignatureMismatch } from './cuda-error.js';
import { check, cudaError, driver } from './driver.js';
import { FunctionAttribute, LaunchParam, type DriverApi, type Handle } from './driver-api.js';
import {
  argumentPacker,
  layoutOf,
  type ArgumentPacker,
  type KernelArgs,
  type KernelSignature,
  type ParamLayout,
} from './kernel-signature.js';
import { koffi } from './native-library.js';
import type { Stream } from './stream.js';

/** A grid or block size: x, or [x, y?, z?] (missing sizes are 1). */
export type Dim3 = number | readonly [number, number?, number?];

/** How to launch a kernel. */
export interface LaunchConfig {
  readonly grid: Dim3;
  readonly block: Dim3;
  /** Dynamic shared memory per block, in bytes. @default 0 */
  readonly sharedBytes?: number;
  /** @default null (legacy default stream) */
  readonly stream?: Stream | null;
}

/** What the driver reports of a compiled kernel. */
export interface FunctionAttributes {
  /** The largest block this kernel can be launched with (register use can make it < 1024). */
  readonly maxThreadsPerBlock: number;
  readonly registersPerThread: number;
  /** Local memory per thread: non-zero means spills or arrays the compiler could not keep in registers. */
  readonly localBytesPerThread: number;
  readonly staticSharedBytes: number;
  readonly constBytes: number;
  /** Current limit of dynamic shared memory per block. */
  readonly maxDynamicSharedBytes: number;
  /** PTX and binary architecture, e.g. 80 and 90 (sm_80 PTX JIT-compiled for sm_90). */
  readonly ptxVersion: number;
  readonly binaryVersion: number;
}

/** Bytes before the parameters in the native block: the `extra` array (5 pointers) and the size. */
const EXTRA_BYTES = 5 * 8;
const HEADER_BYTES = EXTRA_BYTES + 8;

/** A launchable kernel with a declared signature `S`. */
export class KernelFunction<S extends KernelSignature> {
  /** The kernel's name in its module. */
  readonly name: string;
  readonly layout: ParamLayout;
  readonly #api: DriverApi;
  readonly #handle: Handle;
  readonly #pack: ArgumentPacker;
  /** Native memory: extra[5] | size | parameters. Freed with the module. */
  #native: Handle | undefined;
  readonly #params: DataView;
  readonly #extra: Handle | null;

  /** @internal Made by CudaModule.getFunction, which checks the signature first. */
  constructor(handle: Handle, name: string, signature: S) {
    this.#api = driver();
    this.#handle = handle;
    this.name = name;
    this.layout = layoutOf(signature);
    this.#pack = argumentPacker(name, this.layout);
    const k = koffi();
    const native = k.alloc('uint8_t', HEADER_BYTES + Math.max(this.layout.bytes, 8)) as Handle;
    this.#native = native;
    const header = new DataView(k.view(native, HEADER_BYTES));
    const paramsAt = native + BigInt(HEADER_BYTES);
    const sizeAt = native + BigInt(EXTRA_BYTES);
    header.setBigUint64(0, LaunchParam.BUFFER_POINTER, true);
    header.setBigUint64(8, paramsAt, true);
    header.setBigUint64(16, LaunchParam.BUFFER_SIZE, true);
    header.setBigUint64(24, sizeAt, true);
    header.setBigUint64(32, LaunchParam.END, true);
    header.setBigUint64(EXTRA_BYTES, BigInt(this.layout.bytes), true);
    this.#params = new DataView(k.view(paramsAt, Math.max(this.layout.bytes, 8)));
    this.#extra = this.layout.bytes === 0 ? null : native;
  }

  /** Registers, local and shared memory and limits, as compiled for this device. */
  attributes(): FunctionAttributes {
    const get = (attribute: number): number => {
      const out = new Int32Array(1);
      check('cuFuncGetAttribute', this.#api.cuFuncGetAttribute(out, attribute, this.#handle));
      return out[0] ?? 0;
    };
    return {
      maxThreadsPerBlock: get(FunctionAttribute.MAX_THREADS_PER_BLOCK),
      registersPerThread: get(FunctionAttribute.NUM_REGS),
      localBytesPerThread: get(FunctionAttribute.LOCAL_SIZE_BYTES),
      staticSharedBytes: get(FunctionAttribute.SHARED_SIZE_BYTES),
      constBytes: get(FunctionAttribute.CONST_SIZE_BYTES),
      maxDynamicSharedBytes: get(FunctionAttribute.MAX_DYNAMIC_SHARED_SIZE_BYTES),
      ptxVersion: get(FunctionAttribute.PTX_VERSION),
      binaryVersion: get(FunctionAttribute.BINARY_VERSION),
    };
  }

  /**
   * Allows launches with up to `bytes` of dynamic shared memory per block (above 48 KiB a kernel
   * must opt in; the device's limit is DeviceInfo.maxSharedMemoryPerBlockOptinBytes minus the
   * kernel's static shared memory).
   */
  setMaxDynamicSharedBytes(bytes: number): void {
    check(
      'cuFuncSetAttribute',
      this.#api.cuFuncSetAttribute(this.#handle, FunctionAttribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
      `kernel ${this.name}: max dynamic shared memory ${bytes} bytes`,
    );
  }

  /** Queues the kernel on `config.stream`; arguments are checked against the signature first. */
  launch(config: LaunchConfig, ...args: KernelArgs<S>): void {
    if (this.#native === undefined) throw new Error(`kernel ${this.name} launched after its module was unloaded`);
    this.#pack(this.#params, args);
    const grid = config.grid;
    const block = config.block;
    const [gx, gy, gz] = typeof grid === 'number' ? [grid, 1, 1] : [grid[0], grid[1] ?? 1, grid[2] ?? 1];
    const [bx, by, bz] = typeof block === 'number' ? [block, 1, 1] : [block[0], block[1] ?? 1, block[2] ?? 1];
    const shared = config.sharedBytes ?? 0;
    if (!isDim(gx) || !isDim(gy) || !isDim(gz) || !isDim(bx) || !isDim(by) || !isDim(bz) || !isCount(shared)) {
      throw new RangeError(
        `${this.name}: grid, block and shared memory must be whole numbers (sizes >= 1), got grid ` +
          `${JSON.stringify(grid)}, block ${JSON.stringify(block)}, shared ${shared}`,
      );
    }
    const code = this.#api.cuLaunchKernel(
      this.#handle, gx, gy, gz, bx, by, bz, shared, config.stream?.handle ?? null, null, this.#extra,
    );
    if (code !== CUDA_SUCCESS) {
      throw cudaError(
        this.#api,
        'cuLaunchKernel',
        code,
        `kernel ${this.name}: grid [${gx}, ${gy}, ${gz}], block [${bx}, ${by}, ${bz}], dynamic shared ${shared} bytes`,
      );
    }
  }

  /**
   * Checks the declared layout against the compiled kernel's (cuFuncGetParamInfo): the count, and
   * each parameter's offset and size. Types of equal size (f32 and i32, ptr and u64) look alike to it.
   */
  verifySignature(): void {
    const offset = new BigUint64Array(1);
    const size = new BigUint64Array(1);
    const slots = this.layout.slots;
    for (let index = 0; ; index++) {
      const code = this.#api.cuFuncGetParamInfo(this.#handle, index, offset, size);
      const slot = slots[index];
      if (code === CUDA_ERROR_INVALID_VALUE && slot === undefined) return;
      if (code === CUDA_ERROR_INVALID_VALUE) {
        throw new KernelSignatureMismatch(
          `kernel ${this.name}: the signature declares ${slots.length} parameters, the compiled kernel has ${index}`,
        );
      }
      check('cuFuncGetParamInfo', code);
      if (slot === undefined) {
        throw new KernelSignatureMismatch(
          `kernel ${this.name}: the signature declares ${slots.length} parameters, the compiled kernel has more`,
        );
      }
      if (Number(offset[0]) !== slot.offset || Number(size[0]) !== slot.size) {
        throw new KernelSignatureMismatch(
          `kernel ${this.name}: parameter ${slot.name} (${slot.type}) is declared at offset ${slot.offset}, ` +
            `${slot.size} bytes; the compiled kernel has it at offset ${offset[0]}, ${size[0]} bytes`,
        );
      }
    }
  }

  /** @internal Frees the native parameter memory; the module is being unloaded. */
  dispose(): void {
    if (this.#native !== undefined) koffi().free(this.#native);
    this.#native = undefined;
  }
}

const isDim = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 0xffff_ffff;
const isCount = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
