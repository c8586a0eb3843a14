/**
 * Declarative kernel signatures: the parameter list of an `extern "C" __global__` function, written
 * once as `['out:ptr', 'value:f32', 'n:u64']`, gives the argument types of its launcher (checked by
 * tsc), the byte layout of its parameter buffer (C layout: each parameter at its natural alignment),
 * and a packer that checks every value at run time and writes it into that buffer.
 */
import type { DevicePointer } from './driver-api.js';

/** Scalar and pointer parameter types: `ptr` is any device pointer (`T*`), the rest are C scalars. */
export type ParamType = 'ptr' | 'i32' | 'u32' | 'f32' | 'i64' | 'u64' | 'f64';

/** A parameter: its type, optionally named for error messages (`"n:u64"`). */
export type ParamSpec = ParamType | `${string}:${ParamType}`;

/** A kernel's parameters, in order. */
export type KernelSignature = readonly ParamSpec[];

/** Anything that stands for a device address: a buffer, a view into one. */
export interface DeviceAddressable {
  /** The device address; throws where the memory was freed. */
  readonly ptr: DevicePointer;
}

/** What a `ptr` parameter accepts. */
export type PointerArg = DevicePointer | DeviceAddressable;

type TypeOf<P> = P extends `${string}:${infer T}` ? T : P;
type ArgOf<T> = T extends 'ptr' ? PointerArg : T extends 'i64' | 'u64' ? number | bigint : number;

/** The launch arguments a signature calls for, as a tuple. */
export type KernelArgs<S extends KernelSignature> = { -readonly [K in keyof S]: ArgOf<TypeOf<S[K]>> };

/** A wrong launch argument: the kernel, the parameter and the value are named. */
export class KernelArgumentError extends TypeError {
  override readonly name = 'KernelArgumentError';
}

/** One parameter's place in the buffer. */
export interface ParamSlot {
  readonly name: string;
  readonly type: ParamType;
  readonly offset: number;
  readonly size: number;
}

/** The parameter buffer's layout. */
export interface ParamLayout {
  readonly slots: readonly ParamSlot[];
  /** Buffer size: the end of the last parameter (the driver copies exactly this many bytes). */
  readonly bytes: number;
}

const SIZE: Readonly<Record<ParamType, number>> = { ptr: 8, i32: 4, u32: 4, f32: 4, i64: 8, u64: 8, f64: 8 };

/** Splits `"name:type"` (or a bare type) and checks the type. */
export function parseParam(spec: string, index: number): { name: string; type: ParamType } {
  const colon = spec.lastIndexOf(':');
  const name = colon < 0 ? `#${index}` : spec.slice(0, colon);
  const type = colon < 0 ? spec : spec.slice(colon + 1);
  if (!(type in SIZE)) {
    throw new KernelArgumentError(
      `parameter ${index}: expected a type among ${Object.keys(SIZE).join(', ')}, got "${spec}"`,
    );
  }
  return { name, type: type as ParamType };
}

/** The C layout of a parameter list: each parameter aligned to its own size. */
export function layoutOf(signature: KernelSignature): ParamLayout {
  let offset = 0;
  const slots = signature.map((spec, index) => {
    const { name, type } = parseParam(spec, index);
    const size = SIZE[type];
    offset = Math.ceil(offset / size) * size;
    const slot = { name, type, offset, size };
    offset += size;
    return slot;
  });
  return { slots, bytes: offset };
}

type Writer = (view: DataView, value: unknown) => void;

const U32_MAX = 0xffff_ffff;
const I32_MIN = -0x8000_0000;
const I32_MAX = 0x7fff_ffff;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function writerFor(kernel: string, slot: ParamSlot): Writer {
  const { offset } = slot;
  const fail = (expected: string, value: unknown): never => {
    const shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'object' ? 'an object' : String(value);
    throw new KernelArgumentError(`${kernel}: parameter ${slot.name} (${slot.type}): expected ${expected}, got ${shown}`);
  };
  const big = (value: unknown, min: bigint, max: bigint, expected: string): bigint => {
    if (typeof value === 'number' && Number.isSafeInteger(value)) value = BigInt(value);
    if (typeof value !== 'bigint' || value < min || value > max) return fail(expected, value);
    return value;
  };
  switch (slot.type) {
    case 'ptr':
      return (view, value) => {
        const ptr = typeof value === 'bigint' ? value : (value as DeviceAddressable | null)?.ptr;
        if (typeof ptr !== 'bigint' || ptr < 0n || ptr > U64_MAX) fail('a device pointer', value);
        view.setBigUint64(offset, ptr as bigint, true);
      };
    case 'i32':
      return (view, value) => {
        if (!Number.isInteger(value) || (value as number) < I32_MIN || (value as number) > I32_MAX) {
          fail('an integer in the int32 range', value);
        }
        view.setInt32(offset, value as number, true);
      };
    case 'u32':
      return (view, value) => {
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > U32_MAX) {
          fail('an integer in [0, 2^32)', value);
        }
        view.setUint32(offset, value as number, true);
      };
    case 'f32':
      // Any number, NaN included: kernels are poisoned and filled with NaN on purpose.
      return (view, value) => {
        if (typeof value !== 'number') fail('a number', value);
        view.setFloat32(offset, value as number, true);
      };
    case 'f64':
      return (view, value) => {
        if (typeof value !== 'number') fail('a number', value);
        view.setFloat64(offset, value as number, true);
      };
    case 'u64':
      return (view, value) => view.setBigUint64(offset, big(value, 0n, U64_MAX, 'an integer in [0, 2^64)'), true);
    case 'i64':
      return (view, value) => view.setBigInt64(offset, big(value, I64_MIN, I64_MAX, 'an integer in the int64 range'), true);
  }
}

/** Writes launch arguments into a parameter buffer, checking each; built once per kernel. */
export type ArgumentPacker = (view: DataView, args: readonly unknown[]) => void;

/** Builds the packer of a kernel's signature; its errors name the kernel and the parameter. */
export function argumentPacker(kernel: string, layout: ParamLayout): ArgumentPacker {
  const writers = layout.slots.map((slot) => writerFor(kernel, slot));
  const count = writers.length;
  return (view, args) => {
    if (args.length !== count) {
      throw new KernelArgumentError(`${kernel}: expected ${count} arguments, got ${args.length}`);
    }
    for (let i = 0; i < count; i++) (writers[i] as Writer)(view, args[i]);
  };
}
