import { describe, expect, it } from 'vitest';
import { narrowMirrorSpecs, planGroup, VIEW_ALIGN_BYTES, type TensorSpec } from '../../src/backend/memory-plan.js';

/** f32 specs of random sizes (some below one alignment unit, some not a multiple of anything), aligned for a mirror. */
function randomSpecs(count: number): TensorSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `t${i}`, shape: [1 + Math.floor(Math.random() * 700), 1 + Math.floor(Math.random() * 3)], dtype: 'f32' as const, align: 2 * VIEW_ALIGN_BYTES,
  }));
}

describe('planGroup alignment and narrow mirrors', () => {
  it('places a view at its own alignment', () => {
    const plan = planGroup('g', [
      { name: 'a', shape: [3], dtype: 'f32' },
      { name: 'b', shape: [5], dtype: 'f32', align: 1024 },
      { name: 'c', shape: [5], dtype: 'f32' },
    ]);
    expect(plan.views.map((v) => v.byteOffset)).toEqual([0, 1024, 1280]);
    expect(plan.bytes).toBe(1536);
  });

  it('rejects an alignment that is not a multiple of VIEW_ALIGN_BYTES', () => {
    expect(() => planGroup('g', [{ name: 'a', shape: [3], dtype: 'f32', align: 384 }])).toThrow(/"a" asks for an alignment of 384 bytes/);
  });

  it('gives a bf16 mirror the element offsets of the f32 group, and room for its flat size', () => {
    for (let trial = 0; trial < 20; trial++) {
      const specs = randomSpecs(1 + Math.floor(Math.random() * 12));
      const wide = planGroup('params', specs);
      const narrow = planGroup('params_narrow', narrowMirrorSpecs(specs, 'bf16'));
      expect(narrow.views.map((v) => v.byteOffset / 2)).toEqual(wide.views.map((v) => v.byteOffset / 4));
      expect(narrow.views.map((v) => [v.spec.name, v.spec.dtype, v.size])).toEqual(wide.views.map((v) => [v.spec.name, 'bf16', v.size]));
      expect(narrow.bytes / 2).toBeGreaterThanOrEqual(wide.bytes / 4);
    }
  });

  it('keeps an f32 mirror identical, and refuses specs that cannot be mirrored', () => {
    const specs = randomSpecs(4);
    expect(planGroup('m', narrowMirrorSpecs(specs, 'f32'))).toEqual({ ...planGroup('m', specs) });
    expect(() => narrowMirrorSpecs([{ name: 'w', shape: [4], dtype: 'f32' }], 'bf16')).toThrow(/"w" must be f32 aligned to 512 bytes/);
    expect(() => narrowMirrorSpecs([{ name: 'i', shape: [4], dtype: 'i32', align: 512 }], 'bf16')).toThrow(/"i" must be f32/);
  });
});
