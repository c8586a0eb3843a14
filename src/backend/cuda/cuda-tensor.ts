/**
 * Device tensors of the CUDA backend: ops.ts Tensor handles that are also device regions. A group is
 * ONE allocation from the context's allocator, its views carved by the shared memory plan
 * (memory-plan.ts), so every backend lays a group out alike and the peak counts one block per group.
 */
import type { DeviceAllocator, DeviceBuffer, DeviceView } from '../../cuda/allocator.js';
import type { DevicePointer } from '../../cuda/driver-api.js';
import { DTYPE_BYTES, planGroup, type DType, type GroupPlan, type TensorSpec } from '../memory-plan.js';
import type { Tensor, TensorGroup } from '../ops.js';

/** A named, typed, shaped view into a device group. */
export class CudaTensor implements Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  readonly #view: DeviceView;

  /** @internal Made by CudaTensorGroup. */
  constructor(spec: TensorSpec, size: number, view: DeviceView) {
    this.name = spec.name;
    this.shape = spec.shape;
    this.dtype = spec.dtype;
    this.size = size;
    this.#view = view;
  }

  /** The device address; throws once the group is freed. */
  get ptr(): DevicePointer {
    return this.#view.ptr;
  }

  /** Bytes of the view (size × element bytes). */
  get bytes(): number {
    return this.#view.bytes;
  }
}

/** One device allocation holding the named views of a plan. */
export class CudaTensorGroup implements TensorGroup {
  readonly plan: GroupPlan;
  readonly #buffer: DeviceBuffer;
  readonly #views = new Map<string, CudaTensor>();

  /** @internal Made by allocCudaGroup. */
  constructor(plan: GroupPlan, buffer: DeviceBuffer) {
    this.plan = plan;
    this.#buffer = buffer;
    for (const v of plan.views) {
      this.#views.set(v.spec.name, new CudaTensor(v.spec, v.size, buffer.view(v.byteOffset, v.size * DTYPE_BYTES[v.spec.dtype])));
    }
  }

  get(name: string): CudaTensor {
    const t = this.#views.get(name);
    if (t === undefined) {
      throw new Error(`tensor group "${this.plan.name}" has no tensor "${name}"; it has ${[...this.#views.keys()].join(', ') || 'none'}`);
    }
    return t;
  }

  flat(): CudaTensor {
    // One float dtype throughout (an f32 group, or a bf16 mirror: memory-plan.ts narrowMirrorSpecs).
    const dtype = this.plan.views[0]?.spec.dtype === 'bf16' ? 'bf16' : 'f32';
    const other = this.plan.views.find((v) => v.spec.dtype !== dtype);
    if (other !== undefined) throw new Error(`tensor group "${this.plan.name}": flat() needs views of one float dtype, "${other.spec.name}" is ${other.spec.dtype}, not ${dtype}`);
    const size = this.plan.bytes / DTYPE_BYTES[dtype];
    return new CudaTensor({ name: `${this.plan.name}.flat`, shape: [size], dtype }, size, this.#buffer.view(0, this.plan.bytes));
  }

  /** Returns the allocation to the allocator; the views must not be used again. */
  free(): void {
    this.#buffer.free();
  }
}

/** Allocates a group of specs as one device buffer (contents undefined). */
export function allocCudaGroup(allocator: DeviceAllocator, name: string, specs: readonly TensorSpec[]): CudaTensorGroup {
  const plan = planGroup(name, specs);
  return new CudaTensorGroup(plan, allocator.alloc(Math.max(plan.bytes, 1), name));
}

/** `t` as a device tensor of one of the dtypes in `dtypes` with at least `size` elements, else a clear error. */
export function deviceTensor(t: Tensor, what: string, dtypes: readonly DType[], size: number): CudaTensor {
  if (!(t instanceof CudaTensor)) throw new TypeError(`${what}: expected a CUDA tensor, got "${t.name}" of another backend`);
  if (!dtypes.includes(t.dtype)) throw new TypeError(`${what}: expected ${dtypes.join(' or ')}, got ${t.dtype} tensor "${t.name}"`);
  if (t.size < size) throw new RangeError(`${what}: expected at least ${size} elements, "${t.name}" has ${t.size}`);
  return t;
}
