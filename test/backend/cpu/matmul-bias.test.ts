/**
 * CpuOps.matmul with a bias (ops.ts MatmulOptions.bias): the product, then the bias on every row, exactly
 * as matmul followed by biasAdd computed it before the bias moved into the GEMM; with accumulate, k = 0,
 * zero rows named by rowIds, and split over two threads (rows, or columns when m < n).
 */
import { describe, expect, it } from 'vitest';
import type { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import type { MatmulOptions } from '../../../src/backend/ops.js';
import { expectClose, randArray, rng } from '../../helpers/numeric.js';
import { useCpuOps } from '../../helpers/cpu-ops.js';

const one = useCpuOps(1);
const two = useCpuOps(2);

/** Inputs of one product: a, b, bias, the initial out, and ids whose zeros mark zero rows of a. */
interface Case {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly bias: Float32Array;
  readonly out0: Float32Array;
}

function makeCase(m: number, n: number, k: number, seed: number): Case {
  const next = rng(seed);
  const f32 = (len: number): Float32Array => Float32Array.from(randArray(next, len));
  return { m, n, k, a: f32(m * k), b: f32(k * n), bias: f32(n), out0: f32(m * n) };
}

/**
 * out after `matmul(options)` on `ops`; with `biasAdd` the bias goes through a separate biasAdd instead of
 * the option (the way linear layers added it before).
 */
async function run(ops: CpuOps, c: Case, options: MatmulOptions & { withBias: boolean; biasAdd?: boolean; ids?: Int32Array }): Promise<Float32Array> {
  const g = ops.allocGroup('t', [
    { name: 'out', shape: [c.m * c.n], dtype: 'f32' },
    { name: 'a', shape: [Math.max(1, c.m * c.k)], dtype: 'f32' },
    { name: 'b', shape: [Math.max(1, c.k * c.n)], dtype: 'f32' },
    { name: 'bias', shape: [c.n], dtype: 'f32' },
    { name: 'ids', shape: [c.m], dtype: 'i32' },
  ]);
  try {
    ops.write(g.get('out'), c.out0);
    ops.write(g.get('a'), c.a);
    ops.write(g.get('b'), c.b);
    ops.write(g.get('bias'), c.bias);
    if (options.ids !== undefined) ops.write(g.get('ids'), options.ids);
    const { withBias, biasAdd, ids, ...rest } = options;
    ops.matmul(g.get('out'), g.get('a'), g.get('b'), c.m, c.n, c.k, {
      ...rest,
      ...(withBias && biasAdd !== true ? { bias: g.get('bias') } : {}),
      ...(ids === undefined ? {} : { rowIds: g.get('ids') }),
    });
    if (withBias && biasAdd === true) ops.biasAdd(g.get('out'), g.get('bias'), c.m, c.n);
    return await ops.readF32(g.get('out'));
  } finally {
    ops.freeGroup(g);
  }
}

/** alpha · op(a) · op(b) + bias (+ out0), in float64. */
function naive(c: Case, transA: boolean, transB: boolean, alpha: number, accumulate: boolean): Float64Array {
  const { m, n, k, a, b } = c;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (transA ? a[p * m + i]! : a[i * k + p]!) * (transB ? b[j * k + p]! : b[p * n + j]!);
      out[i * n + j] = alpha * s + c.bias[j]! + (accumulate ? c.out0[i * n + j]! : 0);
    }
  }
  return out;
}

describe('CpuOps.matmul with bias', () => {
  // m ≥ n splits rows over the threads, m < n columns (gemmPart): the bias must follow both.
  const shapes: [number, number, number][] = [[37, 9, 70], [6, 91, 13], [1, 1, 1], [65, 64, 300]];
  for (const [m, n, k] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${m}×${n}×${k} transA=${transA} transB=${transB}: = and += equal matmul then biasAdd, bit for bit, on 1 and 2 threads`, async () => {
          const c = makeCase(m, n, k, m * 7919 + n * 31 + k + (transA ? 1 : 0) + (transB ? 2 : 0));
          for (const [alpha, accumulate] of [[1, false], [-0.75, true]] as const) {
            const opts = { transA, transB, alpha, accumulate, withBias: true };
            const fused = await run(one(), c, opts);
            // float32 product of ≤ 300 terms of size ≤ 1, then one bias add: well within 1e-5 of the scale.
            expectClose(fused, naive(c, transA, transB, alpha, accumulate), 1e-5, `accumulate=${accumulate}`);
            expect(fused).toEqual(await run(one(), c, { ...opts, biasAdd: true }));
            expect(await run(two(), c, opts)).toEqual(fused);
          }
        });
      }
    }
  }

  it('k = 0 gives the bias (=) or adds it (+=)', async () => {
    const c = makeCase(5, 7, 0, 3);
    const bias = (i: number): number => c.bias[i % c.n]!;
    expect(await run(one(), c, { withBias: true })).toEqual(Float32Array.from({ length: 35 }, (_, i) => bias(i)));
    expect(await run(one(), c, { withBias: true, accumulate: true })).toEqual(c.out0.map((v, i) => v + bias(i)));
  });

  it('rows named zero by rowIds, whose operand rows are zero, hold exactly the bias', async () => {
    const c = makeCase(9, 11, 5, 4);
    const ids = Int32Array.from({ length: 9 }, (_, i) => (i < 4 || i === 6 ? 0 : i));
    for (const [i, id] of ids.entries()) if (id === 0) c.a.fill(0, i * c.k, (i + 1) * c.k);
    const out = await run(two(), c, { transB: false, withBias: true, ids });
    for (const [i, id] of ids.entries()) {
      if (id === 0) expect(out.subarray(i * c.n, (i + 1) * c.n)).toEqual(c.bias);
    }
    expect(out).toEqual(await run(two(), c, { withBias: true }));
  });

  it('rejects a bias shorter than n, naming it', async () => {
    const g = one().allocGroup('short', [
      { name: 'x', shape: [6], dtype: 'f32' },
      { name: 'bias', shape: [2], dtype: 'f32' },
    ]);
    try {
      expect(() => one().matmul(g.get('x'), g.get('x'), g.get('x'), 2, 3, 2, { bias: g.get('bias') })).toThrow(/matmul\.bias/);
    } finally {
      one().freeGroup(g);
    }
  });
});
