import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { embedBackward, embeddingWorkspace, embedForward } from '../../src/backend/cuda/embedding-kernels.js';
import type { DType } from '../../src/backend/memory-plan.js';
import { cpuOracle, deviceGroup, get, onStream, put, relError } from './device-tensors.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/embedding.test.ts');

interface Case {
  readonly B: number;
  readonly L: number;
  readonly V: number;
  readonly d: number;
  /** dtype of out (forward) and dout (backward). */
  readonly dtype: DType;
  /** Exact row counts given to items 1, 2, …: around the kernels' thresholds. @default [] */
  readonly exact?: readonly number[];
}

// Odd B, L and d (33, 64, 256, 300: two passes of the item sums' 256 columns, and 3 for the widest case);
// both activation dtypes; ids with repeats, left padding (id 0, which the backward skips: its dout is
// random here, so a padding row summed anywhere shows) and the max id V. `exact` puts ids right at the
// backward's thresholds: 32 / 33 rows (ranked by counting / by a CTA's bitmap), 64 / 65 / 128 / 129 (one
// chunk of 64 rows / several chunks summed through the partials). B·L = 131,075 crosses the bitmap's
// window of 131,072 rows; V = 20 and V = 40 make every id repeat; V = 4095 puts the total of the id
// offsets (offsets[V+1]) alone in a scan tile of 4096. The position sums: B = 3, 5, 7 leave some of their
// 8 row phases empty, B = 17 and 37 give a phase several rows; L·d = 78,645 makes their CTAs stride.
// The chunk sums' combine spreads d over 32 to 512 columns: d = 3 (32 phases), 33 and 64 (16), 256 (4),
// 300 (2), each case with ids of several chunks.
const CASES: Case[] = [
  { B: 3, L: 7, V: 50, d: 33, dtype: 'f32' },
  { B: 17, L: 31, V: 20, d: 256, dtype: 'f32', exact: [65, 130] },
  { B: 37, L: 129, V: 4095, d: 64, dtype: 'f32', exact: [32, 33, 64, 65, 128, 129, 500] },
  { B: 37, L: 129, V: 3001, d: 33, dtype: 'bf16', exact: [31, 33, 63, 65, 200] },
  { B: 5, L: 26215, V: 40, d: 3, dtype: 'f32' },
  { B: 7, L: 50, V: 30, d: 300, dtype: 'bf16', exact: [64, 65] },
];

const label = (c: Case): string => `B=${c.B} L=${c.L} V=${c.V} d=${c.d} ${c.dtype}${c.exact ? ` exact ${c.exact.join('/')}` : ''}`;

/**
 * B sequences of L ids: each left-padded with 0 to a random length (up to 60% of L), the rest random
 * items; then items 1..k get exactly `exact[i]` of the item positions (random ones, the other items
 * drawn from k+1..V), and the last item position gets V.
 */
function makeIds(B: number, L: number, V: number, exact: readonly number[]): Int32Array {
  const k = exact.length;
  const ids = new Int32Array(B * L);
  const free: number[] = [];
  for (let b = 0; b < B; b++) {
    const pad = Math.floor(Math.random() * 0.6 * L);
    for (let t = pad; t < L; t++) {
      ids[b * L + t] = 1 + k + Math.floor(Math.random() * (V - k));
      free.push(b * L + t);
    }
  }
  for (let i = free.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [free[i], free[j]] = [free[j]!, free[i]!];
  }
  const need = exact.reduce((a, n) => a + n, 1);
  if (free.length < need) throw new Error(`test case too small: ${free.length} item positions for ${need}`);
  let next = 0;
  exact.forEach((n, i) => {
    for (let m = 0; m < n; m++) ids[free[next++]!] = i + 1;
  });
  ids[free[next]!] = V;
  return ids;
}

describe.skipIf(noGpu)('embedding kernels against the float64 CPU backend', () => {
  useContext();
  let cpu: CpuOps | undefined;
  beforeAll(async () => {
    cpu = await cpuOracle();
  });
  afterAll(() => cpu?.close());
  const oracle = (): CpuOps => {
    if (cpu === undefined) throw new Error('the oracle starts in beforeAll');
    return cpu;
  };

  for (const c of CASES) {
    const { B, L, V, d, dtype } = c;
    const N = B * L;
    const scale = Math.sqrt(d);

    it(`embedForward ${label(c)}`, async () => {
      const ids = makeIds(B, L, V, c.exact ?? []);
      const dev = deviceGroup('embed', [
        { name: 'out', shape: [N, d], dtype },
        { name: 'ids', shape: [N], dtype: 'i32' },
        { name: 'items', shape: [V + 1, d], dtype: 'f32' },
        { name: 'positions', shape: [L, d], dtype: 'f32' },
      ]);
      put(dev.get('ids'), ids);
      const items = put(dev.get('items'), randomFloats((V + 1) * d));
      const positions = put(dev.get('positions'), randomFloats(L * d));
      onStream((stream) => embedForward(stream, dev.get('out'), dev.get('ids'), dev.get('items'), dev.get('positions'), scale, B, L, d));
      const got = get(dev.get('out'));
      dev.free();

      const ref = oracle().allocGroup('embed', [
        { name: 'out', shape: [N, d], dtype: 'f32' },
        { name: 'ids', shape: [N], dtype: 'i32' },
        { name: 'items', shape: [V + 1, d], dtype: 'f32' },
        { name: 'positions', shape: [L, d], dtype: 'f32' },
      ]);
      oracle().write(ref.get('ids'), ids);
      oracle().write(ref.get('items'), items);
      oracle().write(ref.get('positions'), positions);
      oracle().embedForward(ref.get('out'), ref.get('ids'), ref.get('items'), ref.get('positions'), scale, B, L, d);
      const want = await oracle().readF32(ref.get('out'));
      oracle().freeGroup(ref);

      // One fp32 fma per element: ~1e-7; a bf16 output adds one rounding (≤ 2^-9 relative): 4e-3.
      expect(relError(got, want), 'out').toBeLessThanOrEqual(dtype === 'bf16' ? 4e-3 : 1e-6);
    });

    it(`embedBackward ${label(c)}: (+=) onto random content, deterministic`, async () => {
      const ids = makeIds(B, L, V, c.exact ?? []);
      const dev = deviceGroup('embed', [
        { name: 'dItems', shape: [V + 1, d], dtype: 'f32' },
        { name: 'dPositions', shape: [L, d], dtype: 'f32' },
        { name: 'dout', shape: [N, d], dtype },
        { name: 'ids', shape: [N], dtype: 'i32' },
      ]);
      const workspace = deviceGroup('embed_workspace', embeddingWorkspace(B, L, V));
      put(dev.get('ids'), ids);
      const dout = put(dev.get('dout'), randomFloats(N * d));
      const baseItems = randomFloats((V + 1) * d);
      const basePositions = randomFloats(L * d);
      /** One backward onto the base content: dItems and dPositions after it. */
      const run = (): [Float32Array, Float32Array] => {
        put(dev.get('dItems'), baseItems);
        put(dev.get('dPositions'), basePositions);
        onStream((stream) =>
          embedBackward(stream, dev.get('dItems'), dev.get('dPositions'), workspace, dev.get('dout'), dev.get('ids'), scale, B, L, V, d),
        );
        return [get(dev.get('dItems')), get(dev.get('dPositions'))];
      };
      const [gotItems, gotPositions] = run();
      const [againItems, againPositions] = run();
      workspace.free();
      dev.free();

      const ref = oracle().allocGroup('embed', [
        { name: 'dItems', shape: [V + 1, d], dtype: 'f32' },
        { name: 'dPositions', shape: [L, d], dtype: 'f32' },
        { name: 'dout', shape: [N, d], dtype: 'f32' },
        { name: 'ids', shape: [N], dtype: 'i32' },
      ]);
      oracle().write(ref.get('dItems'), new Float32Array((V + 1) * d));
      oracle().write(ref.get('dPositions'), new Float32Array(L * d));
      oracle().write(ref.get('dout'), dout);
      oracle().write(ref.get('ids'), ids);
      oracle().embedBackward(ref.get('dItems'), ref.get('dPositions'), ref, ref.get('dout'), ref.get('ids'), scale, B, L, V, d);
      const wantItems = await oracle().readF32(ref.get('dItems'));
      const wantPositions = await oracle().readF32(ref.get('dPositions'));
      oracle().freeGroup(ref);

      // Bit-identical run to run (no float atomics; every sum in a fixed order).
      expect(Buffer.from(againItems.buffer).equals(Buffer.from(gotItems.buffer)), 'dItems bitwise equal across runs').toBe(true);
      expect(Buffer.from(againPositions.buffer).equals(Buffer.from(gotPositions.buffer)), 'dPositions bitwise equal across runs').toBe(true);
      // Items no row names keep their content bit for bit, and so does row 0: padding rows add nothing.
      const named = new Set(ids);
      named.delete(0);
      for (let item = 0; item <= V; item++) {
        if (named.has(item)) continue;
        for (let col = 0; col < d; col++) {
          const i = item * d + col;
          if (!Object.is(gotItems[i], baseItems[i])) expect.fail(`dItems[${item}, ${col}] changed without a row: ${baseItems[i]} → ${gotItems[i]}`);
        }
      }
      // The increments: fp32 sums of exact operands (dout bf16-rounded as the device holds it), plus the
      // rounding of the (+=) onto content of magnitude ≤ 1: ~1e-6 relative; bound 1e-5.
      const grownItems = Float64Array.from(gotItems, (v, i) => v - baseItems[i]!);
      const grownPositions = Float64Array.from(gotPositions, (v, i) => v - basePositions[i]!);
      expect(relError(grownItems, wantItems), 'dItems (+=)').toBeLessThanOrEqual(1e-5);
      expect(relError(grownPositions, wantPositions), 'dPositions (+=)').toBeLessThanOrEqual(1e-5);
    });
  }
});
