/**
 * General matrix multiply on the CPU: out[m × n] (= or +=) alpha · op(a)[m × k] · op(b)[k × n] (+ bias),
 * row major with leading dimensions, so a caller (or a worker) can hand over any row range of `out`.
 *
 * Blocked the classic way: panels of op(b) ([NC × KC]) and op(a) ([MC × KC]) are packed contiguous
 * and zero-padded, then a register-blocked micro-kernel runs over them. Packing turns every transpose
 * case into the same unit-stride inner loop, and the panels stay in L1/L2.
 * - float32 (what tensors hold): the WebAssembly SIMD kernel of wasm-gemm.ts, 4 × 8 tiles, float32
 *   accumulation (as the GPU and PyTorch's CPU matmul accumulate);
 * - float64 (gradient checks, oracles) or no WebAssembly SIMD: a 4 × 4 JavaScript kernel that
 *   accumulates in doubles.
 */
import type { FloatArray } from './arrays.js';
import { span } from './partition.js';
import { createWasmGemm, type WasmGemm } from './wasm-gemm.js';

/** Depth of a packed panel: 256 floats per row, 4 rows of a and 4 of b fit in L1. */
const KC = 256;
/** Rows of op(a) per packed panel (a multiple of 4). */
const MC = 64;
/** Columns of op(b) per packed panel (a multiple of 8: the WebAssembly kernel's tile width). */
const NC = 256;

/** Leading dimensions and flags of one gemm call. */
export interface GemmLayout {
  /** a is stored [k × m] (lda ≥ m) instead of [m × k] (lda ≥ k). */
  readonly transA: boolean;
  /** b is stored [n × k] (ldb ≥ k) instead of [k × n] (ldb ≥ n). */
  readonly transB: boolean;
  readonly lda: number;
  readonly ldb: number;
  readonly ldc: number;
}

/** The dense layout of op(a), op(b) and out with the given transposes. */
export function denseLayout(m: number, n: number, k: number, transA: boolean, transB: boolean): GemmLayout {
  return { transA, transB, lda: transA ? m : k, ldb: transB ? k : n, ldc: n };
}

const packA32 = new Float32Array(MC * KC);
const packB32 = new Float32Array(NC * KC);
const packA64 = new Float64Array(MC * KC);
const packB64 = new Float64Array(NC * KC);

function scratch(like: FloatArray): [FloatArray, FloatArray] {
  return like instanceof Float64Array ? [packA64, packB64] : [packA32, packB32];
}

/** Packs rows [i0, i0+mb) × depth [p0, p0+kb) of op(a) into ap (row-major [mbp × kb], zero rows past mb). */
function packA(ap: FloatArray, a: FloatArray, lay: GemmLayout, i0: number, mb: number, p0: number, kb: number): void {
  const mbp = (mb + 3) & ~3;
  if (lay.transA) {
    for (let p = 0; p < kb; p++) {
      const src = (p0 + p) * lay.lda + i0;
      for (let i = 0; i < mb; i++) ap[i * kb + p] = a[src + i]!;
    }
  } else {
    for (let i = 0; i < mb; i++) {
      const src = (i0 + i) * lay.lda + p0;
      const dst = i * kb;
      for (let p = 0; p < kb; p++) ap[dst + p] = a[src + p]!;
    }
  }
  ap.fill(0, mb * kb, mbp * kb);
}

/** Packs columns [j0, j0+nb) × depth [p0, p0+kb) of op(b) into bp (row j holds column j; zero rows past nb). */
function packB(bp: FloatArray, b: FloatArray, lay: GemmLayout, j0: number, nb: number, p0: number, kb: number): void {
  const nbp = (nb + 3) & ~3;
  if (lay.transB) {
    for (let j = 0; j < nb; j++) {
      const src = (j0 + j) * lay.ldb + p0;
      const dst = j * kb;
      for (let p = 0; p < kb; p++) bp[dst + p] = b[src + p]!;
    }
  } else {
    for (let p = 0; p < kb; p++) {
      const src = (p0 + p) * lay.ldb + j0;
      for (let j = 0; j < nb; j++) bp[j * kb + p] = b[src + j]!;
    }
  }
  bp.fill(0, nb * kb, nbp * kb);
}

/**
 * out (+=) alpha · ap · bpᵀ for one packed block: ap [mbp × kb], bp [nbp × kb]; writes only the
 * mb × nb valid corner at out[c0 + i·ldc + j].
 */
function microBlock(
  out: FloatArray, c0: number, ldc: number,
  ap: FloatArray, bp: FloatArray, mb: number, nb: number, kb: number, alpha: number,
): void {
  for (let i = 0; i < mb; i += 4) {
    const a0 = i * kb, a1 = a0 + kb, a2 = a1 + kb, a3 = a2 + kb;
    const rows = Math.min(4, mb - i);
    for (let j = 0; j < nb; j += 4) {
      const b0 = j * kb, b1 = b0 + kb, b2 = b1 + kb, b3 = b2 + kb;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let p = 0; p < kb; p++) {
        const x0 = ap[a0 + p]!, x1 = ap[a1 + p]!, x2 = ap[a2 + p]!, x3 = ap[a3 + p]!;
        const y0 = bp[b0 + p]!, y1 = bp[b1 + p]!, y2 = bp[b2 + p]!, y3 = bp[b3 + p]!;
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
        s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
      }
      const cols = Math.min(4, nb - j);
      const o = c0 + i * ldc + j;
      if (rows === 4 && cols === 4) {
        out[o] = out[o]! + alpha * s00; out[o + 1] = out[o + 1]! + alpha * s01; out[o + 2] = out[o + 2]! + alpha * s02; out[o + 3] = out[o + 3]! + alpha * s03;
        const o1 = o + ldc, o2 = o1 + ldc, o3 = o2 + ldc;
        out[o1] = out[o1]! + alpha * s10; out[o1 + 1] = out[o1 + 1]! + alpha * s11; out[o1 + 2] = out[o1 + 2]! + alpha * s12; out[o1 + 3] = out[o1 + 3]! + alpha * s13;
        out[o2] = out[o2]! + alpha * s20; out[o2 + 1] = out[o2 + 1]! + alpha * s21; out[o2 + 2] = out[o2 + 2]! + alpha * s22; out[o2 + 3] = out[o2 + 3]! + alpha * s23;
        out[o3] = out[o3]! + alpha * s30; out[o3 + 1] = out[o3 + 1]! + alpha * s31; out[o3 + 2] = out[o3 + 2]! + alpha * s32; out[o3 + 3] = out[o3 + 3]! + alpha * s33;
      } else {
        const s = [s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33];
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) out[o + r * ldc + c] = out[o + r * ldc + c]! + alpha * s[r * 4 + c]!;
        }
      }
    }
  }
}

/** This thread's WebAssembly kernel (null where SIMD is unavailable); built on first use. */
let wasm: WasmGemm | null | undefined;

/** Packs op(a) rows [i0, i0+mb) × depth [p0, p0+kb) as [mbp/4][kb][4] (zero rows past mb). */
function packA4(ap: Float32Array, a: Float32Array, lay: GemmLayout, i0: number, mb: number, p0: number, kb: number): void {
  const mbp = (mb + 3) & ~3;
  if (lay.transA) {
    for (let p = 0; p < kb; p++) {
      const src = (p0 + p) * lay.lda + i0;
      for (let i = 0; i < mb; i++) ap[(i >> 2) * kb * 4 + p * 4 + (i & 3)] = a[src + i]!;
    }
  } else {
    for (let i = 0; i < mb; i++) {
      const src = (i0 + i) * lay.lda + p0;
      const dst = (i >> 2) * kb * 4 + (i & 3);
      for (let p = 0; p < kb; p++) ap[dst + p * 4] = a[src + p]!;
    }
  }
  for (let i = mb; i < mbp; i++) {
    const dst = (i >> 2) * kb * 4 + (i & 3);
    for (let p = 0; p < kb; p++) ap[dst + p * 4] = 0;
  }
}

/** Packs op(b) columns [j0, j0+nb) × depth [p0, p0+kb) as [nbp/8][kb][8] (zero columns past nb). */
function packB8(bp: Float32Array, b: Float32Array, lay: GemmLayout, j0: number, nb: number, p0: number, kb: number): void {
  const nbp = (nb + 7) & ~7;
  if (lay.transB) {
    for (let j = 0; j < nb; j++) {
      const src = (j0 + j) * lay.ldb + p0;
      const dst = (j >> 3) * kb * 8 + (j & 7);
      for (let p = 0; p < kb; p++) bp[dst + p * 8] = b[src + p]!;
    }
  } else {
    for (let p = 0; p < kb; p++) {
      const src = (p0 + p) * lay.ldb + j0;
      for (let j = 0; j < nb; j++) bp[(j >> 3) * kb * 8 + p * 8 + (j & 7)] = b[src + j]!;
    }
  }
  for (let j = nb; j < nbp; j++) {
    const dst = (j >> 3) * kb * 8 + (j & 7);
    for (let p = 0; p < kb; p++) bp[dst + p * 8] = 0;
  }
}

/** The float32 path over the WebAssembly kernel (same blocking; accumulation into out after each block). */
function gemmWasm(
  w: WasmGemm, out: Float32Array, a: Float32Array, b: Float32Array,
  m: number, n: number, k: number, lay: GemmLayout, alpha: number,
): void {
  for (let jc = 0; jc < n; jc += NC) {
    const nb = Math.min(NC, n - jc);
    const nbp = (nb + 7) & ~7;
    for (let pc = 0; pc < k; pc += KC) {
      const kb = Math.min(KC, k - pc);
      packB8(w.b, b, lay, jc, nb, pc, kb);
      for (let ic = 0; ic < m; ic += MC) {
        const mb = Math.min(MC, m - ic);
        packA4(w.a, a, lay, ic, mb, pc, kb);
        w.block((mb + 3) >> 2, nbp >> 3, kb, nbp);
        const c = w.c;
        for (let i = 0; i < mb; i++) {
          const o = (ic + i) * lay.ldc + jc;
          const ci = i * nbp;
          for (let j = 0; j < nb; j++) out[o + j] = out[o + j]! + alpha * c[ci + j]!;
        }
      }
    }
  }
}

/**
 * out[m × n] (= or += with `accumulate`) alpha · op(a) · op(b) + bias, with the layout's leading
 * dimensions; `bias` ([n], or null for none) is added to each row after the whole product, as a separate
 * bias op would add it. Rows of out outside [0, m) and columns outside [0, n) are untouched.
 */
export function gemm(
  out: FloatArray, a: FloatArray, b: FloatArray,
  m: number, n: number, k: number,
  lay: GemmLayout, alpha: number, accumulate: boolean, bias: FloatArray | null = null,
): void {
  if (!accumulate) {
    for (let i = 0; i < m; i++) out.fill(0, i * lay.ldc, i * lay.ldc + n);
  }
  if (m !== 0 && n !== 0 && k !== 0) product(out, a, b, m, n, k, lay, alpha);
  if (bias === null) return;
  for (let i = 0; i < m; i++) {
    const o = i * lay.ldc;
    for (let j = 0; j < n; j++) out[o + j] = out[o + j]! + bias[j]!;
  }
}

/** out (+=) alpha · op(a) · op(b) for m, n, k ≥ 1. */
function product(out: FloatArray, a: FloatArray, b: FloatArray, m: number, n: number, k: number, lay: GemmLayout, alpha: number): void {
  if (out instanceof Float32Array && a instanceof Float32Array && b instanceof Float32Array) {
    wasm ??= createWasmGemm(MC, KC, NC);
    if (wasm !== null) {
      gemmWasm(wasm, out, a, b, m, n, k, lay, alpha);
      return;
    }
  }
  const [ap, bp] = scratch(out);
  for (let jc = 0; jc < n; jc += NC) {
    const nb = Math.min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kb = Math.min(KC, k - pc);
      packB(bp, b, lay, jc, nb, pc, kb);
      for (let ic = 0; ic < m; ic += MC) {
        const mb = Math.min(MC, m - ic);
        packA(ap, a, lay, ic, mb, pc, kb);
        microBlock(out, ic * lay.ldc + jc, lay.ldc, ap, bp, mb, nb, kb, alpha);
      }
    }
  }
}

/**
 * Part `part` of `parts` of the same gemm: a contiguous range of out's rows (or of its columns when
 * out has fewer rows than columns). The parts together equal one `gemm` call, bit for bit.
 */
export function gemmPart(
  out: FloatArray, a: FloatArray, b: FloatArray,
  m: number, n: number, k: number,
  lay: GemmLayout, alpha: number, accumulate: boolean, bias: FloatArray | null,
  part: number, parts: number,
): void {
  if (m >= n) {
    const [lo, hi] = span(m, part, parts, 4);
    if (hi <= lo) return;
    gemm(out.subarray(lo * lay.ldc), lay.transA ? a.subarray(lo) : a.subarray(lo * lay.lda), b, hi - lo, n, k, lay, alpha, accumulate, bias);
  } else {
    const [lo, hi] = span(n, part, parts, 4);
    if (hi <= lo) return;
    gemm(
      out.subarray(lo), a, lay.transB ? b.subarray(lo * lay.ldb) : b.subarray(lo), m, hi - lo, k, lay, alpha, accumulate,
      bias === null ? null : bias.subarray(lo),
    );
  }
}
