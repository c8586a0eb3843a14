/**
 * Memory plans: tensors are declared by name once, in a table of specs; a group of
 * specs becomes ONE allocation with views carved in declaration order. The plan is pure arithmetic,
 * so the trainer can predict its peak bytes before it allocates anything (README, "GPU" →
 * Memory), and every backend carves identical offsets.
 */

/** Element types a tensor may hold. The CPU backend holds f32 and i32; bf16 is for device operands. */
export type DType = 'f32' | 'bf16' | 'i32';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, bf16: 2, i32: 4 };

/**
 * Alignment of every view inside a group, in bytes: 256 is what device loads want (and what
 * cuMemAlloc guarantees for a whole allocation), and costs nothing on the CPU.
 */
export const VIEW_ALIGN_BYTES = 256;

/** A tensor declared by name, shape and element type. */
export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /**
   * Alignment of this view's offset, in bytes: a multiple of VIEW_ALIGN_BYTES. A group of f32 specs at
   * 512 has a bf16 mirror (the same specs at bf16, default alignment) whose element offsets equal its
   * own (narrowMirrorSpecs), so one flat index addresses both. @default VIEW_ALIGN_BYTES
   */
  readonly align?: number;
}

/** Where one spec lives inside its group. */
export interface PlannedView {
  readonly spec: TensorSpec;
  /** Elements in the view (the product of its shape). */
  readonly size: number;
  /** Byte offset inside the group, a multiple of VIEW_ALIGN_BYTES. */
  readonly byteOffset: number;
}

/** A group's layout: the views in declaration order and the one allocation's size. */
export interface GroupPlan {
  readonly name: string;
  readonly views: readonly PlannedView[];
  /** Bytes of the group's single allocation (what the allocator accounts). */
  readonly bytes: number;
}

/**
 * The specs of a mirror of `specs` at `dtype` (half the bytes of theirs or equal): the same names and
 * shapes at the default alignment. Where every spec of `specs` is f32 with align 2 · VIEW_ALIGN_BYTES, the
 * mirror's views start at the same element offsets as theirs, and its flat tensor holds at least as many
 * elements (planGroup rounds each f32 offset to 512 bytes, each bf16 one to 256: the same elements).
 */
export function narrowMirrorSpecs(specs: readonly TensorSpec[], dtype: DType): TensorSpec[] {
  for (const s of specs) {
    if (s.dtype !== 'f32' || (dtype !== 'f32' && s.align !== 2 * VIEW_ALIGN_BYTES)) {
      throw new Error(`narrowMirrorSpecs: tensor "${s.name}" must be f32 aligned to ${2 * VIEW_ALIGN_BYTES} bytes to have a ${dtype} mirror`);
    }
  }
  return specs.map((s) => (dtype === 'f32' ? s : { name: s.name, shape: s.shape, dtype }));
}

/** Number of elements of a shape; throws on a negative or fractional extent. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new Error(`invalid tensor extent ${s} in shape [${shape.join(', ')}]`);
    n *= s;
  }
  return n;
}

/** Lays out a group of specs: aligned views in order; names must be unique within the group. */
export function planGroup(name: string, specs: readonly TensorSpec[]): GroupPlan {
  const seen = new Set<string>();
  const views: PlannedView[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (seen.has(spec.name)) throw new Error(`tensor group "${name}": duplicate tensor name "${spec.name}"`);
    seen.add(spec.name);
    const size = shapeSize(spec.shape);
    const align = spec.align ?? VIEW_ALIGN_BYTES;
    if (!Number.isInteger(align / VIEW_ALIGN_BYTES) || align <= 0) {
      throw new Error(`tensor group "${name}": tensor "${spec.name}" asks for an alignment of ${align} bytes, not a multiple of ${VIEW_ALIGN_BYTES}`);
    }
    offset = Math.ceil(offset / align) * align;
    views.push({ spec, size, byteOffset: offset });
    offset += Math.ceil((size * DTYPE_BYTES[spec.dtype]) / VIEW_ALIGN_BYTES) * VIEW_ALIGN_BYTES;
  }
  return { name, views, bytes: offset };
}

/** Formats bytes as MiB with one decimal, for plan reports. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
