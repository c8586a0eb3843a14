/**
 * CPU tensors and their allocator: each group is one SharedArrayBuffer (so pool workers can write it)
 * carved into typed-array views by the shared memory plan; live and peak bytes are accounted per group,
 * exactly as the device allocator does.
 */
import { planGroup, type GroupPlan, type TensorSpec } from '../memory-plan.js';
import type { MemoryStats, Tensor, TensorGroup } from '../ops.js';
import type { FloatArray } from './arrays.js';

/**
 * How f32 tensors are stored: 'f32' as declared; 'f64' in Float64Array at twice the bytes (offsets
 * scaled by 2), for whole-model gradient checks and float64 oracles. Accounting reports the plan's
 * bytes either way.
 */
export type CpuPrecision = 'f32' | 'f64';

/** A CPU tensor: a view of its group's buffer. */
export class CpuTensor implements Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'f32' | 'i32';
  readonly size: number;
  readonly data: FloatArray | Int32Array;
  readonly group: CpuGroup;

  constructor(spec: TensorSpec, size: number, data: FloatArray | Int32Array, group: CpuGroup) {
    if (spec.dtype === 'bf16') throw new Error(`tensor "${spec.name}": the CPU backend holds f32 and i32 only, got bf16`);
    this.name = spec.name;
    this.shape = spec.shape;
    this.dtype = spec.dtype;
    this.size = size;
    this.data = data;
    this.group = group;
  }
}

/** One allocation and its views by name. */
export class CpuGroup implements TensorGroup {
  readonly plan: GroupPlan;
  readonly buffer: SharedArrayBuffer;
  readonly #views = new Map<string, CpuTensor>();
  #flat: CpuTensor | null = null;
  freed = false;

  readonly #precision: CpuPrecision;

  constructor(plan: GroupPlan, precision: CpuPrecision) {
    this.plan = plan;
    this.#precision = precision;
    const scale = precision === 'f64' ? 2 : 1;
    this.buffer = new SharedArrayBuffer(plan.bytes * scale);
    for (const v of plan.views) {
      const at = v.byteOffset * scale;
      const data = v.spec.dtype === 'i32'
        ? new Int32Array(this.buffer, at, v.size)
        : precision === 'f64' ? new Float64Array(this.buffer, at, v.size) : new Float32Array(this.buffer, at, v.size);
      this.#views.set(v.spec.name, new CpuTensor(v.spec, v.size, data, this));
    }
  }

  /** The view named `name`. */
  get(name: string): CpuTensor {
    const t = this.#views.get(name);
    if (t === undefined) throw new Error(`tensor group "${this.plan.name}" has no tensor "${name}"`);
    return t;
  }

  /** The whole group as one f32 tensor (every view must be f32). */
  flat(): CpuTensor {
    if (this.#flat === null) {
      const bad = this.plan.views.find((v) => v.spec.dtype !== 'f32');
      if (bad !== undefined) throw new Error(`tensor group "${this.plan.name}": flat() needs f32 views, "${bad.spec.name}" is ${bad.spec.dtype}`);
      const size = this.plan.bytes / 4;
      const data = this.#precision === 'f64' ? new Float64Array(this.buffer) : new Float32Array(this.buffer);
      this.#flat = new CpuTensor({ name: `${this.plan.name}.flat`, shape: [size], dtype: 'f32' }, size, data, this);
    }
    return this.#flat;
  }
}

/** Live and peak bytes of the CPU backend's groups. */
export class CpuMemory {
  readonly precision: CpuPrecision;
  #live = 0;
  #peak = 0;

  constructor(precision: CpuPrecision) {
    this.precision = precision;
  }

  /** Allocates a group laid out by planGroup (contents zero, though callers must not rely on it). */
  alloc(name: string, specs: readonly TensorSpec[]): CpuGroup {
    const group = new CpuGroup(planGroup(name, specs), this.precision);
    this.#live += group.plan.bytes;
    this.#peak = Math.max(this.#peak, this.#live);
    return group;
  }

  /** Releases a group's bytes from the accounting; its views must not be used again. */
  free(group: CpuGroup): void {
    if (group.freed) throw new Error(`tensor group "${group.plan.name}" freed twice`);
    group.freed = true;
    this.#live -= group.plan.bytes;
  }

  /** Live and peak bytes. */
  stats(): MemoryStats {
    return { liveBytes: this.#live, peakBytes: this.#peak };
  }

  /** Restarts peak tracking from the live bytes. */
  resetPeak(): void {
    this.#peak = this.#live;
  }
}
