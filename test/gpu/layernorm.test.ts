import { describe, expect, it } from 'vitest';
import { REDUCE_SCRATCH_FLOATS } from '../../src/backend/cuda/elementwise-kernels.js';
import { layerNormBackward, layerNormBackwardPlan, layerNormForward } from '../../src/backend/cuda/layernorm-kernels.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { Stream } from '../../src/cuda/stream.js';
import { columnSumInOrder, deviceGroup, get, onStream, poison, put, relError, toBf16, useOracleAndScratch } from './device-tensors.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/layernorm.test.ts');

interface Case {
  readonly rows: number;
  readonly cols: number;
  readonly x: DType;
  readonly out: DType;
  readonly dout: DType;
  /** Rows r with r % 5 < 2 are padding (ids 0): forward writes 0, backward leaves them out. @default false */
  readonly padded?: boolean;
  /** A second incoming gradient (f32), summed with dout inside the backward. @default false */
  readonly dout2?: boolean;
  /** dx (=) instead of (+=). @default false */
  readonly overwrite?: boolean;
}

// Odd rows (none a multiple of the 8 rows per forward CTA nor of the backward's row chunk), cols 6 / 33 /
// 64 / 128 / 130 / 200 / 256 / 257 / 512 / 1500 / 12,288, every pairing of x and out dtypes, and both dout
// dtypes. Rows of ≤ 256 columns take layer_norm_backward_narrow (layerNormBackwardPlan): teams of 2 lanes
// a row at 6 columns, 16 at 33 and 64 (4 columns a lane; 33 leaves most of the last lane's columns past
// the row), 32 at 128, 32 lanes of 8 columns at 130, 200 (the last lanes past the row) and 256; 6, 33 and
// 130 are not multiples of 4 and take its element-by-element accesses, the others its 16- and 8-byte
// ones. Wider rows take layer_norm_backward's two-read path (257 its narrowest). The backward's chunks: 37
// × 33, 5 × 64 and 333 × 6 one (the first stage adds into the outputs); 4099 × 64 65 of 64 rows (the last
// 3), 1001 × 256 63 of 16 (the last 9), 1024 × 256 (the B32 shape) 64, 3001 × 128 94 of 32 (the last
// 25), 997 × 200 63 of 16 (the last 5), 517 × 130 33 of 16 (the last 5), 25,600 × 64 (the ML-1M shape)
// 200 of 128, 4099 × 256 129 of 32 (the last 3); 203 × 257 13 (the last 11), 131 × 512 nine; 77 × 1500
// ten of 8 rows, 4 warps a CTA; 200 × 12,288 one warp a CTA whose column sums take 96 KiB of shared
// memory (past the 48 KiB default), 34 chunks of 6 rows. The chunks' partials are summed by the last CTA
// (one launch) up to TAIL_SUM_MAX_FLOATS of them, else by layer_norm_backward_sum: 4099 × 256 (129 ×
// 512) and 200 × 12,288 (34 × 24,576) take two launches, every other split case one. dout2 and overwrite
// on both kernels, with and without padding rows.
const CASES: Case[] = [
  { rows: 37, cols: 33, x: 'f32', out: 'f32', dout: 'f32' },
  { rows: 4099, cols: 64, x: 'f32', out: 'bf16', dout: 'bf16' },
  { rows: 1001, cols: 256, x: 'bf16', out: 'bf16', dout: 'f32' },
  { rows: 131, cols: 512, x: 'bf16', out: 'f32', dout: 'bf16' },
  { rows: 5, cols: 64, x: 'bf16', out: 'bf16', dout: 'bf16' },
  { rows: 77, cols: 1500, x: 'f32', out: 'f32', dout: 'bf16' },
  { rows: 200, cols: 12_288, x: 'bf16', out: 'bf16', dout: 'bf16' },
  { rows: 37, cols: 33, x: 'f32', out: 'f32', dout: 'f32', padded: true },
  { rows: 1001, cols: 256, x: 'bf16', out: 'bf16', dout: 'f32', padded: true },
  { rows: 1024, cols: 256, x: 'f32', out: 'bf16', dout: 'bf16', padded: true },
  { rows: 203, cols: 257, x: 'f32', out: 'f32', dout: 'f32', padded: true },
  { rows: 25_600, cols: 64, x: 'bf16', out: 'bf16', dout: 'bf16', padded: true, dout2: true, overwrite: true },
  { rows: 25_600, cols: 64, x: 'f32', out: 'f32', dout: 'f32', dout2: true },
  { rows: 4099, cols: 64, x: 'f32', out: 'bf16', dout: 'bf16', padded: true, dout2: true },
  { rows: 1024, cols: 256, x: 'bf16', out: 'bf16', dout: 'bf16', padded: true, dout2: true, overwrite: true },
  { rows: 203, cols: 257, x: 'f32', out: 'f32', dout: 'bf16', padded: true, dout2: true, overwrite: true },
  { rows: 200, cols: 12_288, x: 'bf16', out: 'bf16', dout: 'bf16', dout2: true },
  { rows: 37, cols: 33, x: 'f32', out: 'f32', dout: 'f32', overwrite: true },
  { rows: 4099, cols: 256, x: 'bf16', out: 'bf16', dout: 'f32', padded: true, dout2: true },
  { rows: 3001, cols: 128, x: 'f32', out: 'bf16', dout: 'bf16' },
  { rows: 997, cols: 200, x: 'bf16', out: 'bf16', dout: 'bf16', padded: true, dout2: true, overwrite: true },
  { rows: 517, cols: 130, x: 'f32', out: 'f32', dout: 'f32', dout2: true },
  { rows: 333, cols: 6, x: 'bf16', out: 'f32', dout: 'f32', padded: true, overwrite: true },
];

/** The model's epsilon. */
const EPS = 1e-8;

/** Rows with their own offset (-2..2) and spread (0.05..3): the mean matters and the variance varies. */
function rowsOfX(rows: number, cols: number): Float32Array {
  const x = randomFloats(rows * cols);
  for (let r = 0; r < rows; r++) {
    const offset = 4 * Math.random() - 2;
    const spread = 0.05 + 2.95 * Math.random();
    for (let c = 0; c < cols; c++) x[r * cols + c] = offset + spread * x[r * cols + c]!;
  }
  return x;
}

describe.skipIf(noGpu)('layer-norm kernels against the float64 CPU backend', () => {
  useContext();
  const { oracle, scratch: reduceScratch, counters } = useOracleAndScratch(REDUCE_SCRATCH_FLOATS);

  for (const c of CASES) {
    const { rows, cols } = c;
    const n = rows * cols;
    const plan = layerNormBackwardPlan(rows, cols);
    const stage2 = plan.chunks === 1 ? 'one chunk' : plan.tail ? 'the last CTA sums' : 'a second kernel sums';
    const options = `${c.dout2 ? ', + dout2' : ''}${c.padded ? ', padding rows' : ''}`;
    it(`rows=${rows} cols=${cols} x ${c.x}, out ${c.out}, dout ${c.dout}${options}: forward, then backward (${c.overwrite ? '=' : '+='}) onto random content, twice (${stage2})`, async () => {
      const ids = c.padded ? Int32Array.from({ length: rows }, (_, r) => (r % 5 < 2 ? 0 : 1 + r)) : null;
      const dev = deviceGroup('ln', [
        { name: 'out', shape: [rows, cols], dtype: c.out },
        { name: 'mean', shape: [rows], dtype: 'f32' },
        { name: 'rstd', shape: [rows], dtype: 'f32' },
        { name: 'x', shape: [rows, cols], dtype: c.x },
        { name: 'weight', shape: [cols], dtype: 'f32' },
        { name: 'bias', shape: [cols], dtype: 'f32' },
        { name: 'dx', shape: [rows, cols], dtype: 'f32' },
        { name: 'dWeight', shape: [cols], dtype: 'f32' },
        { name: 'dBias', shape: [cols], dtype: 'f32' },
        { name: 'dout', shape: [rows, cols], dtype: c.dout },
        { name: 'dout2', shape: [rows, cols], dtype: 'f32' },
        { name: 'ids', shape: [rows], dtype: 'i32' },
      ]);
      if (ids !== null) put(dev.get('ids'), ids);
      const devIds = ids !== null ? dev.get('ids') : undefined;
      const x = put(dev.get('x'), rowsOfX(rows, cols));
      const weight = put(dev.get('weight'), randomFloats(cols).map((v) => 1 + 0.5 * v));
      const bias = put(dev.get('bias'), randomFloats(cols));
      const dout = put(dev.get('dout'), randomFloats(n));
      const dout2 = c.dout2 === true ? put(dev.get('dout2'), randomFloats(n)) : null;
      const baseDx = put(dev.get('dx'), randomFloats(n));
      const baseDWeight = put(dev.get('dWeight'), randomFloats(cols));
      const baseDBias = put(dev.get('dBias'), randomFloats(cols));
      const t = (name: string) => dev.get(name);
      const backward = (stream: Stream, only?: 'input' | 'params'): void => {
        layerNormBackward(
          stream, t('dx'), t('dWeight'), t('dBias'), t('dout'), t('x'), t('weight'), t('mean'), t('rstd'), rows, cols, reduceScratch(), counters(), devIds,
          { ...(dout2 !== null ? { dout2: t('dout2') } : {}), overwrite: c.overwrite === true, ...(only === undefined ? {} : { only }) },
        );
      };
      onStream((stream) => {
        layerNormForward(stream, t('out'), t('mean'), t('rstd'), t('x'), t('weight'), t('bias'), rows, cols, EPS, devIds);
        backward(stream);
      });
      const got = {
        out: get(t('out')), mean: get(t('mean')), rstd: get(t('rstd')),
        dx: get(t('dx')), dWeight: get(t('dWeight')), dBias: get(t('dBias')),
      };
      // The backward again from the same content, the scratch re-poisoned: every output bit-identical.
      put(t('dx'), baseDx);
      put(t('dWeight'), baseDWeight);
      put(t('dBias'), baseDBias);
      poison(reduceScratch());
      onStream(backward);
      const again = { dx: get(t('dx')), dWeight: get(t('dWeight')), dBias: get(t('dBias')) };
      const partials = get(reduceScratch(), plan.chunks * 2 * cols);
      // Each part alone (options.only) from the same content: what it leaves alone is untouched, what it
      // computes has the bits of both parts together.
      const reset = (): void => {
        put(t('dx'), baseDx);
        put(t('dWeight'), baseDWeight);
        put(t('dBias'), baseDBias);
      };
      for (const only of ['input', 'params'] as const) {
        reset();
        onStream((stream) => backward(stream, only));
        const part = { dx: get(t('dx')), dWeight: get(t('dWeight')), dBias: get(t('dBias')) };
        const want = only === 'input' ? { dx: got.dx, dWeight: baseDWeight, dBias: baseDBias } : { dx: baseDx, dWeight: got.dWeight, dBias: got.dBias };
        for (const name of ['dx', 'dWeight', 'dBias'] as const) {
          expect(part[name].every((v, i) => Object.is(v, want[name][i])), `only ${only}: ${name}`).toBe(true);
        }
      }
      dev.free();
      for (const name of ['dx', 'dWeight', 'dBias'] as const) {
        const same = again[name].every((v, i) => Object.is(v, got[name][i]));
        expect(same, `${name}: the second run is bit-identical`).toBe(true);
      }
      expect(get(counters()).every((v) => v === 0), 'the counters are back at 0').toBe(true);
      if (plan.chunks > 1) {
        // Whichever kernel sums the chunks, the order is column_sums.cuh's: the same bits as the host's
        // f32 sums of the partials the first stage left in the scratch, in that order.
        const inOrder = (base: Float32Array, first: number) =>
          Float32Array.from(base, (v, i) => v + columnSumInOrder(partials, plan.chunks, 2 * cols, first + i));
        const [wantW, wantB] = [inOrder(baseDWeight, 0), inOrder(baseDBias, cols)];
        expect(again.dWeight.every((v, i) => Object.is(v, wantW[i])), 'dWeight: the partials summed in order').toBe(true);
        expect(again.dBias.every((v, i) => Object.is(v, wantB[i])), 'dBias: the partials summed in order').toBe(true);
      }

      const cpuOps = oracle();
      const ref = cpuOps.allocGroup('ln', [
        { name: 'out', shape: [rows, cols], dtype: 'f32' },
        { name: 'mean', shape: [rows], dtype: 'f32' },
        { name: 'rstd', shape: [rows], dtype: 'f32' },
        { name: 'x', shape: [rows, cols], dtype: 'f32' },
        { name: 'weight', shape: [cols], dtype: 'f32' },
        { name: 'bias', shape: [cols], dtype: 'f32' },
        { name: 'dx', shape: [rows, cols], dtype: 'f32' },
        { name: 'dWeight', shape: [cols], dtype: 'f32' },
        { name: 'dBias', shape: [cols], dtype: 'f32' },
        { name: 'dout', shape: [rows, cols], dtype: 'f32' },
        { name: 'dout2', shape: [rows, cols], dtype: 'f32' },
        { name: 'ids', shape: [rows], dtype: 'i32' },
      ]);
      const r = (name: string) => ref.get(name);
      if (ids !== null) cpuOps.write(r('ids'), ids);
      const refIds = ids !== null ? r('ids') : undefined;
      cpuOps.write(r('x'), x);
      cpuOps.write(r('weight'), weight);
      cpuOps.write(r('bias'), bias);
      cpuOps.layerNormForward(r('out'), r('mean'), r('rstd'), r('x'), r('weight'), r('bias'), rows, cols, EPS, refIds);
      const want = { out: await cpuOps.readF32(r('out')), mean: await cpuOps.readF32(r('mean')), rstd: await cpuOps.readF32(r('rstd')) };
      // The backward from the statistics the device saved (what its backward read), onto zeros.
      cpuOps.write(r('mean'), got.mean);
      cpuOps.write(r('rstd'), got.rstd);
      cpuOps.write(r('dout'), dout);
      if (dout2 !== null) cpuOps.write(r('dout2'), dout2);
      cpuOps.write(r('dx'), new Float32Array(n));
      cpuOps.write(r('dWeight'), new Float32Array(cols));
      cpuOps.write(r('dBias'), new Float32Array(cols));
      cpuOps.layerNormBackward(
        r('dx'), r('dWeight'), r('dBias'), r('dout'), r('x'), r('weight'), r('mean'), r('rstd'), rows, cols, refIds,
        dout2 !== null ? { dout2: r('dout2') } : {},
      );
      const wantDx = await cpuOps.readF32(r('dx'));
      const wantDWeight = await cpuOps.readF32(r('dWeight'));
      const wantDBias = await cpuOps.readF32(r('dBias'));
      cpuOps.freeGroup(ref);

      // Statistics: fp32 sums over ≤ 512 exact operands (x as the device holds it): ~1e-7; bound 1e-5.
      expect(relError(got.mean, want.mean), 'mean').toBeLessThanOrEqual(1e-5);
      expect(relError(got.rstd, want.rstd), 'rstd').toBeLessThanOrEqual(1e-5);
      // out: fp32 throughout, 1e-5; a bf16 out adds one rounding (≤ 2^-9 relative): 4e-3.
      expect(relError(got.out, want.out), 'out').toBeLessThanOrEqual(c.out === 'bf16' ? 4e-3 : 1e-5);
      // Gradients: fp32 sums of exact operands (dout, x as held; the saved statistics; dout + dout2 one
      // more fp32 rounding, where the oracle adds in float64), the parameter gradients over up to 25,600
      // rows (in-order sums of ≤ 8 rows per slot or warp, then of ≤ 128 slots or 8 warps, then of ≤ 200
      // chunks in 32 phases and a tree), plus the rounding of the (+=) onto content of magnitude ≤ 1: ~1e-6 relative; bound
      // 1e-5. dx (=) is compared whole (its padding rows 0), dx (+=) by its increment.
      const grown = (after: Float32Array, before: Float32Array) => Float64Array.from(after, (v, i) => v - before[i]!);
      if (c.overwrite === true) expect(relError(got.dx, wantDx), 'dx (=)').toBeLessThanOrEqual(1e-5);
      else expect(relError(grown(got.dx, baseDx), wantDx), 'dx (+=)').toBeLessThanOrEqual(1e-5);
      expect(relError(grown(got.dWeight, baseDWeight), wantDWeight), 'dWeight (+=)').toBeLessThanOrEqual(1e-5);
      expect(relError(grown(got.dBias, baseDBias), wantDBias), 'dBias (+=)').toBeLessThanOrEqual(1e-5);
    });
  }

  // The narrow copies (ops.ts LayerNormCopies) are out and x rounded to bf16, bit for bit, 0 on padding rows;
  // the norm's own outputs are those of the same launch without them.
  for (const [rows, cols, x] of [[2053, 256, 'f32'], [301, 72, 'bf16']] as const) {
    it(`rows=${rows} cols=${cols} x ${x}: the narrow copies of out and x, padding rows 0`, () => {
      const ids = Int32Array.from({ length: rows }, (_, r) => (r % 7 === 3 ? 0 : 1 + r));
      const dev = deviceGroup('ln-copies', [
        { name: 'out', shape: [rows, cols], dtype: 'f32' }, { name: 'out2', shape: [rows, cols], dtype: 'f32' },
        { name: 'mean', shape: [rows], dtype: 'f32' }, { name: 'rstd', shape: [rows], dtype: 'f32' },
        { name: 'x', shape: [rows, cols], dtype: x }, { name: 'weight', shape: [cols], dtype: 'f32' }, { name: 'bias', shape: [cols], dtype: 'f32' },
        { name: 'ids', shape: [rows], dtype: 'i32' },
        { name: 'out_copy', shape: [rows, cols], dtype: 'bf16' }, { name: 'x_copy', shape: [rows, cols], dtype: 'bf16' },
      ]);
      const t = (name: string) => dev.get(name);
      put(t('ids'), ids);
      const xs = put(t('x'), rowsOfX(rows, cols));
      put(t('weight'), randomFloats(cols).map((v) => 1 + 0.5 * v));
      put(t('bias'), randomFloats(cols));
      onStream((stream) => {
        layerNormForward(stream, t('out2'), t('mean'), t('rstd'), t('x'), t('weight'), t('bias'), rows, cols, EPS, t('ids'));
        layerNormForward(stream, t('out'), t('mean'), t('rstd'), t('x'), t('weight'), t('bias'), rows, cols, EPS, t('ids'), { out: t('out_copy'), x: t('x_copy') });
      });
      const out = get(t('out'));
      expect(out).toEqual(get(t('out2')));
      const wantX = toBf16(xs).values;
      for (let r = 0; r < rows; r++) if (ids[r] === 0) wantX.fill(0, r * cols, (r + 1) * cols);
      expect(get(t('out_copy'))).toEqual(toBf16(out).values);
      expect(get(t('x_copy'))).toEqual(wantX);
    });
  }
});
