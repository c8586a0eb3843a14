import { describe, expect, it } from 'vitest';
import type { CudaTensor, CudaTensorGroup } from '../../src/backend/cuda/cuda-tensor.js';
import * as ew from '../../src/backend/cuda/elementwise-kernels.js';
import { biasBackwardLaunch, biasBackwardPlan, REDUCE_SCRATCH_FLOATS } from '../../src/backend/cuda/elementwise-kernels.js';
import type { DType, TensorSpec } from '../../src/backend/memory-plan.js';
import type { Tensor, TensorGroup } from '../../src/backend/ops.js';
import { packedLayout, paddedLayout, sequenceLengths } from '../helpers/sequence-rows.js';
import { columnSumInOrder, deviceGroup, get, onStream, poison, put, relError, representable, useOracleAndScratch } from './device-tensors.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/elementwise.test.ts');

const FLOATS: readonly DType[] = ['f32', 'bf16'];
const PAIRS: readonly (readonly [DType, DType])[] = [['f32', 'f32'], ['f32', 'bf16'], ['bf16', 'f32'], ['bf16', 'bf16']];

/** Indices where got and want differ (NaN never equals; +0 equals -0), for exact checks. */
function mismatches(got: ArrayLike<number>, want: ArrayLike<number>): number[] {
  const bad: number[] = [];
  for (let i = 0; i < want.length; i++) if (!(got[i] === want[i])) bad.push(i);
  return bad;
}

/** Expects got to equal want element for element, naming the first difference. */
function expectExact(got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  const bad = mismatches(got, want);
  const i = bad[0];
  expect(bad.length, i === undefined ? label : `${label}: ${bad.length} differ, first [${i}] got ${got[i]} want ${want[i]}`).toBe(0);
}

/** Random values with exact zeros and negatives mixed in (ReLU masks, padding). */
function withZeros(n: number): Float32Array {
  return randomFloats(n).map((v) => (v < -0.5 ? 0 : v));
}

describe.skipIf(noGpu)('elementwise kernels against the float64 CPU backend', () => {
  useContext();
  const { oracle, scratch: reduceScratch, counters } = useOracleAndScratch(REDUCE_SCRATCH_FLOATS);

  /** The same named tensors on the device (at their dtypes, poisoned) and in the oracle (bf16 held as f32). */
  class Pair {
    readonly dev: CudaTensorGroup;
    readonly ref: TensorGroup;
    constructor(specs: readonly TensorSpec[]) {
      this.dev = deviceGroup('dev', specs);
      this.ref = oracle().allocGroup('ref', specs.map((s) => ({ ...s, dtype: s.dtype === 'bf16' ? 'f32' : s.dtype })));
    }

    d(name: string): CudaTensor {
      return this.dev.get(name);
    }

    r(name: string): Tensor {
      return this.ref.get(name);
    }

    /** Writes values to both; the oracle gets what the device holds (bf16-rounded). */
    set(name: string, values: ArrayLike<number>): Float32Array {
      const held = put(this.d(name), values);
      oracle().write(this.r(name), this.d(name).dtype === 'i32' ? Int32Array.from(held) : held);
      return held;
    }

    /** The oracle's result as the device tensor `name` would hold it (bf16: rounded to nearest even). */
    async want(name: string): Promise<Float32Array> {
      return representable(this.d(name), await oracle().readF32(this.r(name)));
    }

    free(): void {
      this.dev.free();
      oracle().freeGroup(this.ref);
    }
  }

  // Exact: the kernel and the CPU round the same real result once to f32 (then, for bf16, once more).
  it.each(['f32', 'bf16', 'i32'] as const)('fill %s writes n elements and no more', async (dtype) => {
    const n = 4099;
    const value = dtype === 'i32' ? -1_234_567 : Math.random() * 200 - 100;
    const io = new Pair([{ name: 'out', shape: [n + 5], dtype }]);
    onStream((s) => ew.fill(s, io.d('out'), value, n));
    oracle().fill(io.r('out'), value, n);
    const got = get(io.d('out'));
    const want = dtype === 'i32' ? Float32Array.from(await oracle().readI32(io.r('out'))) : await io.want('out');
    expectExact(got.subarray(0, n), want.subarray(0, n), 'filled');
    // Past n the poison stays: NaN for floats, -1 (0xff bytes) for i32.
    expect(Array.from(got.subarray(n)).every((v) => (dtype === 'i32' ? v === -1 : Number.isNaN(v))), 'untouched past n').toBe(true);
    io.free();
  });

  // Exact: a copy, rounding once to bf16 where the output is bf16 (copy is the identity; the oracle is its definition).
  it.each(PAIRS)('copy %s ← %s', (outType, xType) => {
    const n = 100_003;
    const io = new Pair([{ name: 'out', shape: [n], dtype: outType }, { name: 'x', shape: [n], dtype: xType }]);
    const x = io.set('x', randomFloats(n));
    onStream((s) => ew.copy(s, io.d('out'), io.d('x'), n));
    expectExact(get(io.d('out')), representable(io.d('out'), x), 'copy');
    io.free();
  });

  // Exact: the kernel forms the CPU's y + alpha·x in doubles (no fused multiply-add) and rounds once to f32.
  it.each([1, 100_003])('axpy f32 (+=) over n = %i', (n) => {
    const alpha = Math.random() * 4 - 2;
    const io = new Pair([{ name: 'y', shape: [n], dtype: 'f32' }, { name: 'x', shape: [n], dtype: 'f32' }]);
    const y = io.set('y', randomFloats(n));
    const x = io.set('x', randomFloats(n));
    onStream((s) => ew.axpy(s, io.d('y'), io.d('x'), alpha, n));
    expectExact(get(io.d('y')), Float32Array.from(y, (v, i) => v + alpha * x[i]!), 'y');
    io.free();
  });

  // Exact: a + b of f32 or bf16 values rounded once to f32 (then to bf16) on both sides.
  for (const dtype of FLOATS) {
    for (const alias of ['none', 'out = a', 'out = b'] as const) {
      it(`add ${dtype}, ${alias}`, async () => {
        const n = 100_003;
        const io = new Pair(['out', 'a', 'b'].map((name) => ({ name, shape: [n], dtype })));
        io.set('a', randomFloats(n));
        io.set('b', randomFloats(n));
        const out = alias === 'out = a' ? 'a' : alias === 'out = b' ? 'b' : 'out';
        onStream((s) => ew.add(s, io.d(out), io.d('a'), io.d('b'), n));
        oracle().add(io.r('out'), io.r('a'), io.r('b'), n);
        expectExact(get(io.d(out)), await io.want('out'), 'out');
        io.free();
      });
    }
  }

  // Exact: copies. Each sequence's last position (the evaluation slice), and a stride of 0 (one row repeated).
  for (const [outType, xType] of PAIRS) {
    for (const c of [{ rows: 7, first: 12, stride: 13, cols: 37 }, { rows: 5, first: 3, stride: 0, cols: 70 }]) {
      it(`sliceRows ${outType} ← ${xType}, rows ${c.rows} first ${c.first} stride ${c.stride} cols ${c.cols}`, async () => {
        const srcRows = c.first + (c.rows - 1) * c.stride + 2;
        const io = new Pair([{ name: 'out', shape: [c.rows, c.cols], dtype: outType }, { name: 'x', shape: [srcRows, c.cols], dtype: xType }]);
        io.set('x', randomFloats(srcRows * c.cols));
        onStream((s) => ew.sliceRows(s, io.d('out'), io.d('x'), c.rows, c.first, c.stride, c.cols));
        oracle().sliceRows(io.r('out'), io.r('x'), c.rows, c.first, c.stride, c.cols);
        expectExact(get(io.d('out')), await io.want('out'), 'out');
        io.free();
      });
    }
  }

  // Exact: copies (zeros for an empty sequence). Each sequence's last row on the padded layout and on a
  // packed one (shuffled, gaps, spare rows), B odd and past one CTA's rows, cols in packs (64) and not (37).
  for (const [outType, xType] of PAIRS) {
    for (const c of [{ kind: 'padded', B: 13, L: 9, cols: 37 }, { kind: 'packed', B: 301, L: 17, cols: 64 }, { kind: 'packed', B: 6, L: 5, cols: 37 }] as const) {
      it(`lastRows ${outType} ← ${xType}, ${c.kind} B ${c.B} L ${c.L} cols ${c.cols}`, async () => {
        const lengths = sequenceLengths(c.B, c.L, 0);
        const layout = c.kind === 'padded' ? paddedLayout(lengths, c.L) : packedLayout(lengths, c.L);
        const io = new Pair([
          { name: 'out', shape: [c.B, c.cols], dtype: outType },
          { name: 'x', shape: [layout.rows, c.cols], dtype: xType },
          { name: 'seqs', shape: [c.B, 2], dtype: 'i32' },
        ]);
        io.set('x', randomFloats(layout.rows * c.cols));
        io.set('seqs', layout.seqs);
        onStream((s) => ew.lastRows(s, io.d('out'), io.d('x'), { seqs: io.d('seqs'), rows: layout.rows }, c.B, c.cols));
        oracle().lastRows(io.r('out'), io.r('x'), { seqs: io.r('seqs'), rows: layout.rows }, c.B, c.cols);
        expectExact(get(io.d('out')), await io.want('out'), 'out');
        io.free();
      });
    }
  }

  // Exact: rows copied or zeroed.
  for (const dtype of FLOATS) {
    for (const alias of [false, true]) {
      it(`maskPadded ${dtype}${alias ? ', out = x' : ''}`, async () => {
        const rows = 203;
        const cols = 67;
        const io = new Pair([
          { name: 'out', shape: [rows, cols], dtype }, { name: 'x', shape: [rows, cols], dtype }, { name: 'ids', shape: [rows], dtype: 'i32' },
        ]);
        io.set('x', randomFloats(rows * cols));
        io.set('ids', Int32Array.from({ length: rows }, (_, r) => (r === 0 || Math.random() < 0.3 ? 0 : 1 + r)));
        const out = alias ? 'x' : 'out';
        onStream((s) => ew.maskPadded(s, io.d(out), io.d('x'), io.d('ids'), rows, cols));
        oracle().maskPadded(io.r('out'), io.r('x'), io.r('ids'), rows, cols);
        expectExact(get(io.d(out)), await io.want('out'), 'out');
        io.free();
      });
    }
  }

  // Exact, mask and values: the mask is an integer comparison of the same Philox words, and a kept value is
  // x · (1 / (1 - p)) formed in doubles and rounded once to f32 on both sides (then once more to bf16).
  const DROPOUTS = [
    { dtype: 'f32', n: 100_003, p: 0.1, alias: false },
    { dtype: 'f32', n: 4099, p: 0.5, alias: true },
    { dtype: 'bf16', n: 100_001, p: 0.3, alias: false },
    { dtype: 'bf16', n: 7, p: 0.9, alias: true },
    { dtype: 'f32', n: 1001, p: 0, alias: false },
    { dtype: 'bf16', n: 1001, p: 0, alias: true },
  ] as const;
  for (const c of DROPOUTS) {
    it(`dropout ${c.dtype} n ${c.n} p ${c.p}${c.alias ? ', out = x' : ''}`, async () => {
      // A seed and a step past 2^31: the key words are uint32 on both sides.
      const drop = { p: c.p, key: { seed: Math.floor(Math.random() * 2 ** 32), step: 3_000_000_000 + Math.floor(Math.random() * 1000), site: 1 + Math.floor(Math.random() * 20) } };
      const io = new Pair([{ name: 'out', shape: [c.n], dtype: c.dtype }, { name: 'x', shape: [c.n], dtype: c.dtype }]);
      io.set('x', randomFloats(c.n).map((v) => v || 0.5));
      const out = c.alias ? 'x' : 'out';
      onStream((s) => ew.dropout(s, io.d(out), io.d('x'), c.n, drop));
      oracle().dropout(io.r('out'), io.r('x'), c.n, drop);
      const got = get(io.d(out));
      const want = await io.want('out');
      expectExact(Array.from(got, (v) => (v === 0 ? 0 : 1)), Array.from(want, (v) => (v === 0 ? 0 : 1)), 'mask (zeros where the CPU has zeros)');
      expectExact(got, want, 'values');
      io.free();
    });
  }

  // Exact: a comparison and a select.
  for (const dtype of FLOATS) {
    for (const alias of [false, true]) {
      it(`reluForward ${dtype}${alias ? ', out = x' : ''}`, async () => {
        const n = 100_003;
        const io = new Pair([{ name: 'out', shape: [n], dtype }, { name: 'x', shape: [n], dtype }]);
        io.set('x', randomFloats(n));
        const out = alias ? 'x' : 'out';
        onStream((s) => ew.reluForward(s, io.d(out), io.d('x'), n));
        oracle().reluForward(io.r('out'), io.r('x'), n);
        expectExact(get(io.d(out)), await io.want('out'), 'out');
        io.free();
      });
    }
  }

  for (const [dType, outType] of PAIRS) {
    it(`reluBackward d ${dType}, out ${outType}${dType === outType ? ', dx = dout' : ''}`, async () => {
      const n = 100_003;
      const io = new Pair([
        { name: 'dx', shape: [n], dtype: dType }, { name: 'dout', shape: [n], dtype: dType }, { name: 'out', shape: [n], dtype: outType },
      ]);
      io.set('dout', randomFloats(n));
      io.set('out', withZeros(n).map((v) => Math.max(v, 0)));
      const dx = dType === outType ? 'dout' : 'dx';
      onStream((s) => ew.reluBackward(s, io.d(dx), io.d('dout'), io.d('out'), n));
      oracle().reluBackward(io.r('dx'), io.r('dout'), io.r('out'), n);
      expectExact(get(io.d(dx)), await io.want('dx'), 'dx');
      io.free();
    });
  }

  // Exact: out + bias rounded once to f32 (then to bf16) on both sides.
  for (const dtype of FLOATS) {
    for (const [rows, cols] of [[203, 67], [1, 1000], [1000, 1]] as const) {
      it(`biasAdd ${dtype} ${rows} × ${cols}`, async () => {
        const io = new Pair([{ name: 'out', shape: [rows, cols], dtype }, { name: 'bias', shape: [cols], dtype: 'f32' }]);
        io.set('out', randomFloats(rows * cols));
        io.set('bias', randomFloats(cols));
        onStream((s) => ew.biasAdd(s, io.d('out'), io.d('bias'), rows, cols));
        oracle().biasAdd(io.r('out'), io.r('bias'), rows, cols);
        expectExact(get(io.d('out')), await io.want('out'), 'out');
        io.free();
      });
    }
  }

  // Column sums in two stages: per chunk of rows (biasBackwardPlan) each thread sums its rows in order,
  // the CTA halves its row phases in a tree, then the chunks' partials go 32 phases of in-order sums and
  // a 5-level tree (kernels/column_sums.cuh), by each strip's last CTA (one launch) where a strip's
  // partials are ≤ TAIL_SUM_MAX_FLOATS, else by ew_bias_backward_sum. Every partial sum is of values in
  // [-1, 1): the rounding errors are a random walk of ~2^-24 · |partial| each, ~1e-6 of the sum: bound
  // 1e-5 on the increment (bf16 dout values are exact in fp32 and fed to the oracle as such, so the same
  // bound). Shapes: one chunk (1 × 1), chunks of 8-column packs (25,600 × 64, the ML-1M shape, 200 whole
  // chunks; 100,003 × 40, a short last chunk), single columns (1001 × 67: three column strips and a 9-row
  // last chunk; 131,072 × 3) and 7,990 × 1,032 (five strips, the last of 8 columns; 250 chunks, the last
  // of 22 rows: 250 × 256 partials a strip), all with one launch; 12,000 × 256 (375 chunks × 256 columns:
  // two launches); and a row too wide for two chunks' partials in the scratch (single stage). Run twice, the
  // scratch re-poisoned: bit-identical, the counters back at 0, and dBias the host's f32 sums of the
  // partials left in the scratch in column_sums.cuh's order.
  const BIAS_SHAPES = [
    { rows: 25_600, cols: 64, dtypes: FLOATS },
    { rows: 100_003, cols: 40, dtypes: FLOATS },
    { rows: 1001, cols: 67, dtypes: FLOATS },
    { rows: 131_072, cols: 3, dtypes: FLOATS },
    { rows: 1, cols: 1, dtypes: FLOATS },
    { rows: 12_000, cols: 256, dtypes: FLOATS },
    { rows: 7990, cols: 1032, dtypes: ['f32'] },
    { rows: 33, cols: REDUCE_SCRATCH_FLOATS / 2 + 8, dtypes: ['bf16'] },
  ] as const;
  for (const { rows, cols, dtypes } of BIAS_SHAPES) {
    for (const dtype of dtypes) {
      const launch = biasBackwardLaunch(rows, cols);
      const stage2 = launch.chunks === 1 ? 'one chunk' : launch.tail ? 'the last CTA sums' : 'a second kernel sums';
      it(`biasBackward (+=) ${dtype} ${rows} × ${cols}, deterministic (${stage2})`, async () => {
        const plan = biasBackwardPlan(rows, cols);
        if (rows === 100_003 || rows === 1001 || rows === 7990) expect(rows % plan.rowsPerChunk, 'a short last chunk').not.toBe(0);
        if (cols > REDUCE_SCRATCH_FLOATS / 2) expect(plan.chunks, 'one chunk: two do not fit the scratch').toBe(1);
        const io = new Pair([{ name: 'dBias', shape: [cols], dtype: 'f32' }, { name: 'dout', shape: [rows, cols], dtype }]);
        const base = io.set('dBias', randomFloats(cols));
        io.set('dout', randomFloats(rows * cols));
        onStream((s) => ew.biasBackward(s, io.d('dBias'), io.d('dout'), rows, cols, reduceScratch(), counters()));
        const first = get(io.d('dBias'));
        put(io.d('dBias'), base);
        poison(reduceScratch());
        onStream((s) => ew.biasBackward(s, io.d('dBias'), io.d('dout'), rows, cols, reduceScratch(), counters()));
        const second = get(io.d('dBias'));
        expect(get(counters()).every((v) => v === 0), 'the counters are back at 0').toBe(true);
        if (plan.chunks > 1) {
          const partials = get(reduceScratch(), plan.chunks * cols);
          const inOrder = Float32Array.from(base, (v, c) => v + columnSumInOrder(partials, plan.chunks, cols, c));
          expect(second.every((v, c) => Object.is(v, inOrder[c])), 'the partials summed in order').toBe(true);
        }
        oracle().biasBackward(io.r('dBias'), io.r('dout'), rows, cols);
        const want = await oracle().readF32(io.r('dBias'));
        const grown = Float64Array.from(first, (v, i) => v - base[i]!);
        expect(relError(grown, Float64Array.from(want, (v, i) => v - base[i]!)), 'increment').toBeLessThanOrEqual(1e-5);
        expectExact(second, first, 'second run');
        io.free();
      });
    }
  }

  // Padding rows (ids 0): add and dropout write 0 there without reading, biasAdd leaves them, biasBackward
  // leaves them out; the other rows as without ids. Exact (the CPU backend defines the same), except
  // biasBackward's sums (the bound above). cols 67: packs straddle rows; cols 64: one row per pack.
  for (const dtype of FLOATS) {
    for (const cols of [64, 67]) {
      it(`padding rows: add, dropout, biasAdd, biasBackward ${dtype}, cols ${cols}`, async () => {
        const rows = 1001;
        const n = rows * cols;
        const io = new Pair([
          { name: 'out', shape: [rows, cols], dtype }, { name: 'a', shape: [rows, cols], dtype }, { name: 'b', shape: [rows, cols], dtype },
          { name: 'bias', shape: [cols], dtype: 'f32' }, { name: 'dBias', shape: [cols], dtype: 'f32' }, { name: 'ids', shape: [rows], dtype: 'i32' },
        ]);
        io.set('a', randomFloats(n));
        io.set('b', randomFloats(n));
        io.set('bias', randomFloats(cols));
        const base = io.set('dBias', randomFloats(cols));
        // Runs of padding as left-padded sequences give (whole packs and tiles), and single rows.
        const ids = io.set('ids', Int32Array.from({ length: rows }, (_, r) => (r % 200 < 120 || r % 37 === 0 ? 0 : 1 + r)));
        const onDevice = { ids: io.d('ids'), cols };
        const inOracle = { ids: io.r('ids'), cols };
        onStream((s) => ew.add(s, io.d('out'), io.d('a'), io.d('b'), n, onDevice));
        oracle().add(io.r('out'), io.r('a'), io.r('b'), n, inOracle);
        const added = get(io.d('out'));
        expectExact(added, await io.want('out'), 'add');
        expect(ids.every((id, r) => id !== 0 || added.subarray(r * cols, (r + 1) * cols).every((v) => v === 0)), 'add: padding rows 0').toBe(true);

        const drop = { p: 0.3, key: { seed: Math.floor(Math.random() * 2 ** 32), step: Math.floor(Math.random() * 1000), site: 2 } };
        onStream((s) => ew.dropout(s, io.d('out'), io.d('a'), n, drop, onDevice));
        oracle().dropout(io.r('out'), io.r('a'), n, drop, inOracle);
        expectExact(get(io.d('out')), await io.want('out'), 'dropout');
        onStream((s) => ew.dropout(s, io.d('out'), io.d('a'), n, { ...drop, p: 0 }, onDevice));
        oracle().dropout(io.r('out'), io.r('a'), n, { ...drop, p: 0 }, inOracle);
        expectExact(get(io.d('out')), await io.want('out'), 'dropout p 0');

        onStream((s) => ew.biasAdd(s, io.d('b'), io.d('bias'), rows, cols, io.d('ids')));
        oracle().biasAdd(io.r('b'), io.r('bias'), rows, cols, io.r('ids'));
        expectExact(get(io.d('b')), await io.want('b'), 'biasAdd');

        onStream((s) => ew.biasBackward(s, io.d('dBias'), io.d('a'), rows, cols, reduceScratch(), counters(), io.d('ids')));
        oracle().biasBackward(io.r('dBias'), io.r('a'), rows, cols, io.r('ids'));
        const want = await oracle().readF32(io.r('dBias'));
        const got = get(io.d('dBias'));
        expect(relError(Float64Array.from(got, (v, i) => v - base[i]!), Float64Array.from(want, (v, i) => v - base[i]!)), 'biasBackward increment').toBeLessThanOrEqual(1e-5);
        io.free();
      });
    }
  }
});
