import { describe, expect, it } from 'vitest';
import { denseLayout, gemm, gemmPart } from '../../../src/backend/cpu/gemm.js';
import { createWasmGemm } from '../../../src/backend/cpu/wasm-gemm.js';
import { expectClose, randArray, rng } from '../../helpers/numeric.js';

/** out = alpha · op(a) · op(b) (+ out0), the naive triple loop in float64. */
function naive(a: Float64Array, b: Float64Array, m: number, n: number, k: number, ta: boolean, tb: boolean, alpha: number, out0?: Float64Array): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i]! : a[i * k + p]!) * (tb ? b[j * k + p]! : b[p * n + j]!);
      out[i * n + j] = alpha * s + (out0 ? out0[i * n + j]! : 0);
    }
  }
  return out;
}

describe('gemm', () => {
  // Odd sizes cross every edge: partial 4 × 4 tiles, several KC/MC/NC panels (k = 300 > KC = 256).
  const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [67, 13, 300], [5, 261, 9], [130, 70, 33]];
  for (const [m, n, k] of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`matches the naive product for ${m}×${n}×${k}, transA=${ta}, transB=${tb}`, () => {
          const next = rng(m * 1000 + n * 10 + k);
          const a = randArray(next, m * k);
          const b = randArray(next, k * n);
          const out0 = randArray(next, m * n);
          const acc = Float64Array.from(out0);
          gemm(acc, a, b, m, n, k, denseLayout(m, n, k, ta, tb), 0.5, true);
          expectClose(acc, naive(a, b, m, n, k, ta, tb, 0.5, out0), 1e-12, 'accumulate');
          const over = randArray(next, m * n);
          gemm(over, a, b, m, n, k, denseLayout(m, n, k, ta, tb), 1, false);
          expectClose(over, naive(a, b, m, n, k, ta, tb, 1), 1e-12, 'overwrite');
        });
      }
    }
  }

  it('float32 (the WebAssembly SIMD kernel) matches the float64 product on odd shapes and every transpose', () => {
    expect(createWasmGemm(64, 256, 256)).not.toBeNull(); // Node 20 has WebAssembly SIMD: the fast path must be taken
    for (const [m, n, k] of [[1, 1, 1], [7, 9, 5], [67, 13, 300], [5, 261, 9], [130, 70, 33]] as const) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const next = rng(m + n + k);
          const a = Float32Array.from(randArray(next, m * k));
          const b = Float32Array.from(randArray(next, k * n));
          const out0 = Float32Array.from(randArray(next, m * n));
          const out = Float32Array.from(out0);
          gemm(out, a, b, m, n, k, denseLayout(m, n, k, ta, tb), -1.5, true);
          // float32 accumulation over k terms of size ≤ 1: error well below 1e-5 of the result's scale
          expectClose(out, naive(Float64Array.from(a), Float64Array.from(b), m, n, k, ta, tb, -1.5, Float64Array.from(out0)), 2e-6 * Math.sqrt(k), `${m}×${n}×${k} ${ta} ${tb}`);
        }
      }
    }
  });

  it('leaves elements outside the m × n window of a strided output untouched', () => {
    const next = rng(7);
    const a = randArray(next, 6 * 4);
    const b = randArray(next, 4 * 5);
    const out = new Float64Array(6 * 8).fill(42);
    gemm(out, a, b, 6, 5, 4, { ...denseLayout(6, 5, 4, false, false), ldc: 8 }, 1, false);
    const want = naive(a, b, 6, 5, 4, false, false, 1);
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 8; j++) expect(out[i * 8 + j]).toBe(j < 5 ? want[i * 5 + j] : 42);
    }
  });

  it('split into parts (rows or columns) is bit-identical to one call, in float32, with and without bias', () => {
    const next = rng(11);
    for (const [m, n, k, ta, tb] of [[37, 9, 70, false, true], [6, 91, 13, true, false]] as const) {
      const a = Float32Array.from(randArray(next, m * k));
      const b = Float32Array.from(randArray(next, k * n));
      for (const bias of [null, Float32Array.from(randArray(next, n))]) {
        const whole = new Float32Array(m * n);
        gemm(whole, a, b, m, n, k, denseLayout(m, n, k, ta, tb), 1, false, bias);
        for (const parts of [2, 3]) {
          const split = new Float32Array(m * n).fill(Number.NaN);
          for (let p = 0; p < parts; p++) gemmPart(split, a, b, m, n, k, denseLayout(m, n, k, ta, tb), 1, false, bias, p, parts);
          expect(split).toEqual(whole);
        }
      }
    }
  });

  it('adds the bias to every row after the product (= and +=), and k = 0 gives the bias alone', () => {
    const next = rng(13);
    for (const [m, n, k] of [[67, 13, 300], [5, 261, 9], [3, 5, 0]] as const) {
      const a = randArray(next, m * k);
      const b = randArray(next, k * n);
      const bias = randArray(next, n);
      const out0 = randArray(next, m * n);
      const withBias = (x: Float64Array): Float64Array => x.map((v, i) => v + bias[i % n]!);
      const over = randArray(next, m * n);
      gemm(over, a, b, m, n, k, denseLayout(m, n, k, true, false), 0.5, false, bias);
      expectClose(over, withBias(naive(a, b, m, n, k, true, false, 0.5)), 1e-12, `overwrite ${m}×${n}×${k}`);
      const acc = Float64Array.from(out0);
      gemm(acc, a, b, m, n, k, denseLayout(m, n, k, false, true), -2, true, bias);
      expectClose(acc, withBias(naive(a, b, m, n, k, false, true, -2, out0)), 1e-12, `accumulate ${m}×${n}×${k}`);
    }
  });
});
