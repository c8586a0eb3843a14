/**
 * Column sums over rows (biasBackward, layerNormBackward's dWeight and dBias) split by fixed chunks of
 * rows: the same bits at 1, 2, 3 and 5 threads, and the float64 sums of the inputs up to the final
 * float32 rounding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SUM_CHUNKS, MIN_CHUNK_ROWS, sumChunks } from '../../../src/backend/cpu/column-sums.js';
import { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import { MIN_WORK_PER_PART } from '../../../src/backend/cpu/pool.js';
import { expectClose, randArray, rng } from '../../helpers/numeric.js';

// Odd rows and columns: 64 chunks of 65 rows, the last of 4.
const rows = 4099;
const cols = 67;
const n = rows * cols;
const THREADS = [1, 2, 3, 5] as const;

describe('sumChunks', () => {
  it('covers the rows in at most MAX_SUM_CHUNKS chunks of at least MIN_CHUNK_ROWS rows', () => {
    expect(sumChunks(0).chunks).toBe(0);
    expect(sumChunks(rows)).toEqual({ chunkRows: 65, chunks: 64 });
    for (const r of [1, 31, 32, 33, 2047, 2048, 2049, rows, 25_600, 1_000_003]) {
      const { chunkRows, chunks } = sumChunks(r);
      expect(chunkRows, `rows ${r}`).toBeGreaterThanOrEqual(MIN_CHUNK_ROWS);
      expect(chunks, `rows ${r}`).toBeLessThanOrEqual(MAX_SUM_CHUNKS);
      expect(chunks * chunkRows, `rows ${r}`).toBeGreaterThanOrEqual(r);
      expect((chunks - 1) * chunkRows, `rows ${r}`).toBeLessThan(r);
    }
  });
});

const pools = new Map<number, CpuOps>();
beforeAll(async () => {
  for (const t of THREADS) pools.set(t, await CpuOps.create({ threads: t }));
});
afterAll(() => {
  for (const ops of pools.values()) ops.close();
});

const next = rng(23);
const inputs = {
  x: Float32Array.from(randArray(next, n, 2)),
  dout: Float32Array.from(randArray(next, n)),
  weight: Float32Array.from(randArray(next, cols)),
  bias: Float32Array.from(randArray(next, cols)),
  dx: Float32Array.from(randArray(next, n)),
  dWeight: Float32Array.from(randArray(next, cols)),
  dBias: Float32Array.from(randArray(next, cols)),
  dBias2: Float32Array.from(randArray(next, cols)),
};

type Outputs = Record<'mean' | 'rstd' | 'dx' | 'dWeight' | 'dBias' | 'dBias2', Float32Array>;

/** layerNorm forward and backward, then biasBackward twice into dBias2 (the scratch reused), on `ops`. */
async function run(ops: CpuOps): Promise<Outputs> {
  const shapes: Record<string, number> = { x: n, dout: n, out: n, dx: n, mean: rows, rstd: rows, weight: cols, bias: cols, dWeight: cols, dBias: cols, dBias2: cols };
  const g = ops.allocGroup('sums', Object.entries(shapes).map(([name, size]) => ({ name, shape: [size], dtype: 'f32' as const })));
  for (const [name, data] of Object.entries(inputs)) ops.write(g.get(name), data);
  ops.layerNormForward(g.get('out'), g.get('mean'), g.get('rstd'), g.get('x'), g.get('weight'), g.get('bias'), rows, cols, 1e-5);
  ops.layerNormBackward(g.get('dx'), g.get('dWeight'), g.get('dBias'), g.get('dout'), g.get('x'), g.get('weight'), g.get('mean'), g.get('rstd'), rows, cols);
  ops.biasBackward(g.get('dBias2'), g.get('dout'), rows, cols);
  ops.biasBackward(g.get('dBias2'), g.get('dout'), rows, cols);
  const out = {} as Outputs;
  for (const name of ['mean', 'rstd', 'dx', 'dWeight', 'dBias', 'dBias2'] as const) out[name] = await ops.readF32(g.get(name));
  ops.freeGroup(g);
  return out;
}

/** The float64 sums, in plain row order, from the float32 inputs and saved statistics. */
function reference(mean: Float32Array, rstd: Float32Array): { dx: Float64Array; dWeight: Float64Array; dBias: Float64Array; dBias2: Float64Array } {
  const { x, dout, weight } = inputs;
  const dx = Float64Array.from(inputs.dx);
  const dWeight = Float64Array.from(inputs.dWeight);
  const dBias = Float64Array.from(inputs.dBias);
  const colSum = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < cols; c++) {
      const xh = (x[o + c]! - mean[r]!) * rstd[r]!;
      sumG += dout[o + c]! * weight[c]!;
      sumGX += dout[o + c]! * weight[c]! * xh;
      dWeight[c] = dWeight[c]! + dout[o + c]! * xh;
      colSum[c] = colSum[c]! + dout[o + c]!;
    }
    for (let c = 0; c < cols; c++) {
      const xh = (x[o + c]! - mean[r]!) * rstd[r]!;
      dx[o + c] = dx[o + c]! + rstd[r]! * (dout[o + c]! * weight[c]! - sumG / cols - xh * (sumGX / cols));
    }
  }
  for (let c = 0; c < cols; c++) dBias[c] = dBias[c]! + colSum[c]!;
  const dBias2 = Float64Array.from(inputs.dBias2, (v, c) => v + 2 * colSum[c]!);
  return { dx, dWeight, dBias, dBias2 };
}

describe('column sums split by rows', () => {
  it('are large enough here for five parts', () => {
    expect(n).toBeGreaterThanOrEqual(5 * MIN_WORK_PER_PART);
    expect(sumChunks(rows).chunks).toBeGreaterThanOrEqual(5);
  });

  it('give the same bits at 1, 2, 3 and 5 threads, and the float64 sums up to float32 rounding', async () => {
    const one = await run(pools.get(1)!);
    const ref = reference(one.mean, one.rstd);
    expectClose(one.dx, ref.dx, 1e-6, 'dx');
    expectClose(one.dWeight, ref.dWeight, 1e-6, 'dWeight');
    expectClose(one.dBias, ref.dBias, 1e-6, 'dBias');
    expectClose(one.dBias2, ref.dBias2, 1e-6, 'dBias2');
    for (const t of THREADS.slice(1)) {
      const got = await run(pools.get(t)!);
      for (const key of Object.keys(one) as (keyof Outputs)[]) {
        expect(Buffer.from(got[key].buffer).equals(Buffer.from(one[key].buffer)), `${key} at ${t} threads`).toBe(true);
      }
    }
  });
});
