/**
 * CpuOps.matmul's epilogue (ops.ts MatmulEpilogue): ReLU, dropout, the gate, a residual sum and zeroed
 * padding rows after the product and bias, checked element by element against the definition (the
 * product without epilogue, max(0, ·), the dropout mask of `dropout` on out's m·n elements, the gate's
 * by > 0 ? fround(v · scale) : 0, the residual added last; the layer norm after all of them as
 * layerNormForward of out), on 1 and 2 threads; an epilogue that would accumulate is refused.
 */
import { describe, expect, it } from 'vitest';
import type { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import type { DropoutSpec, MatmulEpilogue, Tensor, TensorGroup, TensorSpec } from '../../../src/backend/ops.js';
import { randArray, rng } from '../../helpers/numeric.js';
import { useCpuOps } from '../../helpers/cpu-ops.js';

const one = useCpuOps(1);
const two = useCpuOps(2);

const M = 13;
const N = 24;
const K = 9;
const next = rng(20261129);
const f32 = (len: number): Float32Array => Float32Array.from(randArray(next, len));
const A = f32(M * K);
const B = f32(N * K);
const BIAS = f32(N);
const RESIDUAL = f32(M * N);
const IDS = Int32Array.from({ length: M }, (_, i) => (i < 3 || i === 7 ? 0 : i));
const DROP: DropoutSpec = { p: 0.4, key: { seed: 42, step: 3, site: 5 } };
// The gate's tensor: positive, zero, negative and -0 in turn.
const BY = Float32Array.from({ length: M * N }, (_, i) => [1.5, 0, -2, -0, 3e-30][i % 5]!);
const GATE_SCALE = 1 / (1 - 0.3);

type Spec = Omit<MatmulEpilogue, 'residual' | 'padding' | 'gate'> & { residual?: boolean; padding?: boolean; gate?: boolean };

/** A group of the product's tensors (out, a, b, bias, res, ids) and `extra`, the fixtures written into a, b, bias, res and ids. */
function operands(ops: CpuOps, name: string, extra: readonly TensorSpec[]): TensorGroup {
  const g = ops.allocGroup(name, [
    { name: 'out', shape: [M * N], dtype: 'f32' },
    { name: 'a', shape: [M * K], dtype: 'f32' },
    { name: 'b', shape: [N * K], dtype: 'f32' },
    { name: 'bias', shape: [N], dtype: 'f32' },
    { name: 'res', shape: [M * N], dtype: 'f32' },
    { name: 'ids', shape: [M], dtype: 'i32' },
    ...extra,
  ]);
  for (const [t, data] of [['a', A], ['b', B], ['bias', BIAS], ['res', RESIDUAL], ['ids', IDS]] as const) ops.write(g.get(t), data);
  return g;
}

/** out = a · bᵀ + bias with the epilogue `spec` (residual and padding from the fixtures). */
async function product(ops: CpuOps, spec: Spec | undefined): Promise<Float32Array> {
  const g = operands(ops, 't', [{ name: 'by', shape: [M * N], dtype: 'f32' }]);
  try {
    ops.write(g.get('by'), BY);
    ops.write(g.get('out'), new Float32Array(M * N).fill(Number.NaN));
    const epilogue: MatmulEpilogue | undefined = spec === undefined ? undefined : {
      ...(spec.relu === undefined ? {} : { relu: spec.relu }),
      ...(spec.dropout === undefined ? {} : { dropout: spec.dropout }),
      ...(spec.gate === true ? { gate: { by: g.get('by'), scale: GATE_SCALE } } : {}),
      ...(spec.residual === true ? { residual: g.get('res') } : {}),
      ...(spec.padding === true ? { padding: g.get('ids') } : {}),
    };
    ops.matmul(g.get('out'), g.get('a'), g.get('b'), M, N, K, { transB: true, bias: g.get('bias'), ...(epilogue === undefined ? {} : { epilogue }) });
    return await ops.readF32(g.get('out'));
  } finally {
    ops.freeGroup(g);
  }
}

/** The dropout mask of DROP on M·N elements: 1 where `dropout` keeps an element of a tensor of ones. */
async function keptMask(): Promise<boolean[]> {
  const g = one().allocGroup('m', [{ name: 'x', shape: [M * N], dtype: 'f32' }]);
  try {
    const x: Tensor = g.get('x');
    one().write(x, new Float32Array(M * N).fill(1));
    one().dropout(x, x, M * N, DROP);
    return [...(await one().readF32(x))].map((v) => v !== 0);
  } finally {
    one().freeGroup(g);
  }
}

describe('CpuOps.matmul with an epilogue', () => {
  it('applies ReLU, dropout, the residual and the padding rows in that order, exactly, on 1 and 2 threads', async () => {
    const plain = await product(one(), undefined);
    const kept = await keptMask();
    expect(kept.some((k) => !k) && kept.some((k) => k)).toBe(true);
    const scale = 1 / (1 - DROP.p);
    const full: Spec = { relu: true, dropout: DROP, residual: true, padding: true };
    const fused = await product(one(), full);
    for (let r = 0; r < M; r++) {
      for (let c = 0; c < N; c++) {
        const i = r * N + c;
        const relu = Math.max(0, plain[i]!);
        const dropped = kept[i] ? Math.fround(relu * scale) : 0;
        const want = IDS[r] === 0 ? 0 : Math.fround(RESIDUAL[i]! + dropped);
        expect(fused[i], `row ${r} col ${c}`).toBe(want);
      }
    }
    expect(await product(two(), full)).toEqual(fused);
  });

  it('each part alone: ReLU only, residual only, padding only (rows of 0, the rest untouched)', async () => {
    const plain = await product(one(), undefined);
    expect(await product(one(), { relu: true })).toEqual(plain.map((v) => Math.max(0, v)));
    expect(await product(two(), { residual: true })).toEqual(plain.map((v, i) => Math.fround(RESIDUAL[i]! + v)));
    const padded = await product(two(), { padding: true });
    expect(padded).toEqual(plain.map((v, i) => (IDS[Math.floor(i / N)] === 0 ? 0 : v)));
    expect(await product(one(), { dropout: { ...DROP, p: 0 } })).toEqual(plain);
  });

  it('the gate: kept where by > 0, times scale rounded once, else 0; after dropout, before the residual; padding rows 0', async () => {
    const plain = await product(one(), undefined);
    const gated = (v: number, i: number): number => (BY[i]! > 0 ? Math.fround(v * GATE_SCALE) : 0);
    const alone = await product(one(), { gate: true });
    expect(alone).toEqual(plain.map(gated));
    expect(await product(two(), { gate: true })).toEqual(alone);
    expect(await product(two(), { gate: true, padding: true })).toEqual(plain.map((v, i) => (IDS[Math.floor(i / N)] === 0 ? 0 : gated(v, i))));
    const kept = await keptMask();
    const scale = 1 / (1 - DROP.p);
    const full = await product(two(), { relu: true, dropout: DROP, gate: true, residual: true, padding: true });
    expect(full).toEqual(plain.map((v, i) => {
      const dropped = kept[i] ? Math.fround(Math.max(0, v) * scale) : 0;
      return IDS[Math.floor(i / N)] === 0 ? 0 : Math.fround(RESIDUAL[i]! + gated(dropped, i));
    }));
  });

  it('the layer norm: last, of out as written (out keeps it), exactly as layerNormForward with its ids, on 1 and 2 threads', async () => {
    for (const withIds of [true, false]) {
      const run = async (ops: CpuOps, fused: boolean): Promise<Float32Array[]> => {
        const g = operands(ops, 'ln', [
          { name: 'ln', shape: [M * N], dtype: 'f32' },
          { name: 'mean', shape: [M], dtype: 'f32' },
          { name: 'rstd', shape: [M], dtype: 'f32' },
          { name: 'w', shape: [N], dtype: 'f32' },
          { name: 'lb', shape: [N], dtype: 'f32' },
        ]);
        try {
          for (const [name, data] of [['w', BY.subarray(0, N).map((v) => v + 1)], ['lb', BIAS.map((v) => -v)]] as const) ops.write(g.get(name), data);
          for (const name of ['out', 'ln', 'mean', 'rstd']) ops.fill(g.get(name), Number.NaN, g.get(name).size);
          const layerNorm = {
            out: g.get('ln'), mean: g.get('mean'), rstd: g.get('rstd'), weight: g.get('w'), bias: g.get('lb'), eps: 1e-5,
            ...(withIds ? { ids: g.get('ids') } : {}),
          };
          const rest = { dropout: DROP, residual: g.get('res'), padding: g.get('ids') };
          ops.matmul(g.get('out'), g.get('a'), g.get('b'), M, N, K, { transB: true, bias: g.get('bias'), epilogue: fused ? { ...rest, layerNorm } : rest });
          if (!fused) ops.layerNormForward(layerNorm.out, layerNorm.mean, layerNorm.rstd, g.get('out'), layerNorm.weight, layerNorm.bias, M, N, 1e-5, layerNorm.ids);
          return await Promise.all(['out', 'ln', 'mean', 'rstd'].map((name) => ops.readF32(g.get(name))));
        } finally {
          ops.freeGroup(g);
        }
      };
      const want = await run(one(), false);
      expect(want.every((t) => t.every(Number.isFinite))).toBe(true);
      expect(await run(one(), true)).toEqual(want);
      expect(await run(two(), true)).toEqual(want);
      // Padding rows: out 0 (the epilogue's padding); with ids the norm is 0 there too, else the norm of a zero row.
      expect(want[1]![0]).toBe(withIds ? 0 : Math.fround(-BIAS[0]!));
    }
  });

  it('refuses an epilogue with accumulate, a gate of a scale that is not finite, and out as its own residual', () => {
    const g = one().allocGroup('acc', [{ name: 'x', shape: [4], dtype: 'f32' }]);
    try {
      const x = g.get('x');
      expect(() => one().matmul(x, x, x, 2, 2, 2, { accumulate: true, epilogue: { relu: true } })).toThrow(/epilogue.*accumulate/);
      expect(() => one().matmul(x, x, x, 2, 2, 2, { epilogue: { gate: { by: x, scale: Number.NaN } } })).toThrow(/gate.scale.*NaN/);
      expect(() => one().matmul(x, x, x, 2, 2, 2, { epilogue: { residual: x } })).toThrow(/residual.*must not be out/);
    } finally {
      one().freeGroup(g);
    }
  });
});
