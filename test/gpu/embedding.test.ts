import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { embedGroupRows, embeddingWorkspace, embedForward, embedItemSums, embedPositionSums } from '../../src/backend/cuda/embedding-kernels.js';
import type { DType } from '../../src/backend/memory-plan.js';
import { type HostLayout, packedLayout, paddedLayout, sequenceLengths } from '../helpers/sequence-rows.js';
import { cpuOracle, deviceGroup, get, onStream, put, relError } from './device-tensors.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/embedding.test.ts');

type LayoutKind = 'padded' | 'packed';

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
// both activation dtypes; ids with repeats, padding rows (id 0, which the backward skips: its dout is
// random here, so a padding row summed anywhere shows) and the max id V. `exact` puts ids right at the
// backward's thresholds: 32 / 33 rows (ranked by counting / by a CTA's bitmap), 64 / 65 / 128 / 129 (one
// chunk of 64 rows / several chunks summed through the partials). The padded B·L = 131,075 rows cross
// the bitmap's window of 131,072 rows; V = 20 and V = 40 make every id repeat; V = 4095 puts the total of
// the id offsets (offsets[V+1]) alone in a scan tile of 4096. The position sums: B = 3, 5, 7 leave some of
// their 8 sequence phases empty, B = 17 and 37 give a phase several sequences, B = 129 more than one
// round of 8 × 8 (phases × sequences loaded together) and a last round in part; L·d = 78,645 makes their
// CTAs stride. The chunk sums' combine spreads d over 32 to 512 columns: d = 3 (32 phases), 33 and 64
// (16), 256 (4), 300 (2), each case with ids of several chunks. Every case runs on the padded layout and
// on a packed one (sequences shuffled, gaps, spare rows at the end); sequence 0 is full and sequence 1
// empty, the others from 40% of L to full.
const CASES: Case[] = [
  { B: 3, L: 7, V: 50, d: 33, dtype: 'f32' },
  { B: 17, L: 31, V: 20, d: 256, dtype: 'f32', exact: [65, 130] },
  { B: 37, L: 129, V: 4095, d: 64, dtype: 'f32', exact: [32, 33, 64, 65, 128, 129, 500] },
  { B: 37, L: 129, V: 3001, d: 33, dtype: 'bf16', exact: [31, 33, 63, 65, 200] },
  { B: 5, L: 26215, V: 40, d: 3, dtype: 'f32' },
  { B: 7, L: 50, V: 30, d: 300, dtype: 'bf16', exact: [64, 65] },
  { B: 129, L: 20, V: 300, d: 50, dtype: 'bf16', exact: [65] },
];
const LAYOUTS: readonly LayoutKind[] = ['padded', 'packed'];

const label = (c: Case, kind: LayoutKind): string =>
  `${kind} B=${c.B} L=${c.L} V=${c.V} d=${c.d} ${c.dtype}${c.exact ? ` exact ${c.exact.join('/')}` : ''}`;

/** The case's layout: fresh random lengths (40% of L to full; sequence 0 full, 1 empty) and, packed, a fresh order. */
function makeLayout(c: Case, kind: LayoutKind): HostLayout {
  const lengths = sequenceLengths(c.B, c.L, 0.4);
  return kind === 'padded' ? paddedLayout(lengths, c.L) : packedLayout(lengths, c.L);
}

/**
 * The ids of a layout's rows: 0 on rows no sequence owns, random items on the others; then items 1..k
 * get exactly `exact[i]` of the item rows (random ones, the other items drawn from k+1..V), and one
 * more item row gets V.
 */
function makeIds(layout: HostLayout, V: number, exact: readonly number[]): Int32Array {
  const k = exact.length;
  const ids = new Int32Array(layout.rows);
  const free: number[] = [];
  layout.positions.forEach((t, r) => {
    if (t < 0) return;
    ids[r] = 1 + k + Math.floor(Math.random() * (V - k));
    free.push(r);
  });
  for (let i = free.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [free[i], free[j]] = [free[j]!, free[i]!];
  }
  const need = exact.reduce((a, n) => a + n, 1);
  if (free.length < need) throw new Error(`test case too small: ${free.length} item rows for ${need}`);
  let next = 0;
  exact.forEach((n, i) => {
    for (let m = 0; m < n; m++) ids[free[next++]!] = i + 1;
  });
  ids[free[next]!] = V;
  return ids;
}

/** got's and want's rows that a sequence owns (rows of d), one after another, for a relative error over them. */
function ownedRows(layout: HostLayout, d: number, got: Float32Array, want: Float32Array): [Float32Array, Float32Array] {
  const owned = layout.positions.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
  const g = new Float32Array(owned * d);
  const w = new Float32Array(owned * d);
  let k = 0;
  layout.positions.forEach((t, r) => {
    if (t < 0) return;
    g.set(got.subarray(r * d, (r + 1) * d), k * d);
    w.set(want.subarray(r * d, (r + 1) * d), k * d);
    k++;
  });
  return [g, w];
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
    for (const kind of LAYOUTS) {
      const { B, L, V, d, dtype } = c;
      const scale = Math.sqrt(d);

      it(`embedForward ${label(c, kind)}: the sequences' rows, the others' poison kept`, async () => {
        const layout = makeLayout(c, kind);
        const { rows } = layout;
        const ids = makeIds(layout, V, c.exact ?? []);
        const dev = deviceGroup('embed', [
          { name: 'out', shape: [rows, d], dtype },
          { name: 'ids', shape: [rows], dtype: 'i32' },
          { name: 'items', shape: [V + 1, d], dtype: 'f32' },
          { name: 'positions', shape: [L, d], dtype: 'f32' },
          { name: 'seqs', shape: [B, 2], dtype: 'i32' },
        ]);
        put(dev.get('ids'), ids);
        put(dev.get('seqs'), layout.seqs);
        const items = put(dev.get('items'), randomFloats((V + 1) * d));
        const positions = put(dev.get('positions'), randomFloats(L * d));
        onStream((stream) =>
          embedForward(
            stream, dev.get('out'), dev.get('ids'), dev.get('items'), dev.get('positions'), scale, { seqs: dev.get('seqs'), rows }, B, L, d,
          ),
        );
        const got = get(dev.get('out'));
        dev.free();

        const ref = oracle().allocGroup('embed', [
          { name: 'out', shape: [rows, d], dtype: 'f32' },
          { name: 'ids', shape: [rows], dtype: 'i32' },
          { name: 'items', shape: [V + 1, d], dtype: 'f32' },
          { name: 'positions', shape: [L, d], dtype: 'f32' },
          { name: 'seqs', shape: [B, 2], dtype: 'i32' },
        ]);
        oracle().write(ref.get('ids'), ids);
        oracle().write(ref.get('items'), items);
        oracle().write(ref.get('positions'), positions);
        oracle().write(ref.get('seqs'), layout.seqs);
        oracle().embedForward(ref.get('out'), ref.get('ids'), ref.get('items'), ref.get('positions'), scale, { seqs: ref.get('seqs'), rows }, B, L, d);
        const want = await oracle().readF32(ref.get('out'));
        oracle().freeGroup(ref);

        // Rows no sequence owns are not written: the poison (NaN) survives there.
        layout.positions.forEach((t, r) => {
          if (t >= 0) return;
          for (let col = 0; col < d; col++) {
            if (!Number.isNaN(got[r * d + col])) expect.fail(`out[${r}, ${col}] written on a row no sequence owns: ${got[r * d + col]}`);
          }
        });
        // One fp32 fma per element: ~1e-7; a bf16 output adds one rounding (≤ 2^-9 relative): 4e-3.
        const [gotOwned, wantOwned] = ownedRows(layout, d, got, want);
        expect(relError(gotOwned, wantOwned), 'out').toBeLessThanOrEqual(dtype === 'bf16' ? 4e-3 : 1e-6);
      });

      it(`embedItemSums and embedPositionSums (Ops.embedBackward) ${label(c, kind)}: (+=) onto random content, deterministic`, async () => {
        const layout = makeLayout(c, kind);
        const { rows } = layout;
        const ids = makeIds(layout, V, c.exact ?? []);
        const dev = deviceGroup('embed', [
          { name: 'dItems', shape: [V + 1, d], dtype: 'f32' },
          { name: 'dPositions', shape: [L, d], dtype: 'f32' },
          { name: 'dout', shape: [rows, d], dtype },
          { name: 'ids', shape: [rows], dtype: 'i32' },
          { name: 'seqs', shape: [B, 2], dtype: 'i32' },
        ]);
        const workspace = deviceGroup('embed_workspace', embeddingWorkspace(rows, V));
        put(dev.get('ids'), ids);
        put(dev.get('seqs'), layout.seqs);
        // dout is random on every row, those no sequence owns too: summing one of them anywhere shows.
        const dout = put(dev.get('dout'), randomFloats(rows * d));
        const baseItems = randomFloats((V + 1) * d);
        const basePositions = randomFloats(L * d);
        /** One backward onto the base content (its rows grouped by embedGroupRows first, or by itself): dItems and dPositions after it. */
        const run = (grouped: boolean): [Float32Array, Float32Array] => {
          put(dev.get('dItems'), baseItems);
          put(dev.get('dPositions'), basePositions);
          onStream((stream) => {
            if (grouped) embedGroupRows(stream, workspace, dev.get('ids'), rows, V);
            embedItemSums(stream, dev.get('dItems'), workspace, dev.get('dout'), dev.get('ids'), scale, rows, V, d, { grouped });
            embedPositionSums(stream, dev.get('dPositions'), dev.get('dout'), { seqs: dev.get('seqs'), rows }, B, L, d);
          });
          return [get(dev.get('dItems')), get(dev.get('dPositions'))];
        };
        const [gotItems, gotPositions] = run(false);
        // A second run, its rows grouped beforehand (what a training step does beside the forward).
        const [againItems, againPositions] = run(true);
        workspace.free();
        dev.free();

        const ref = oracle().allocGroup('embed', [
          { name: 'dItems', shape: [V + 1, d], dtype: 'f32' },
          { name: 'dPositions', shape: [L, d], dtype: 'f32' },
          { name: 'dout', shape: [rows, d], dtype: 'f32' },
          { name: 'ids', shape: [rows], dtype: 'i32' },
          { name: 'seqs', shape: [B, 2], dtype: 'i32' },
        ]);
        oracle().write(ref.get('dItems'), new Float32Array((V + 1) * d));
        oracle().write(ref.get('dPositions'), new Float32Array(L * d));
        oracle().write(ref.get('dout'), dout);
        oracle().write(ref.get('ids'), ids);
        oracle().write(ref.get('seqs'), layout.seqs);
        oracle().embedBackward(
          ref.get('dItems'), ref.get('dPositions'), ref, ref.get('dout'), ref.get('ids'), scale, { seqs: ref.get('seqs'), rows }, B, L, V, d,
        );
        const wantItems = await oracle().readF32(ref.get('dItems'));
        const wantPositions = await oracle().readF32(ref.get('dPositions'));
        oracle().freeGroup(ref);

        // Bit-identical run to run, grouped beforehand or not (no float atomics; every sum in a fixed order), positions included.
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
  }
});
