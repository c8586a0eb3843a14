/**
 * sce on the GPU (kernels/sce.cu through cuda-losses.ts) against the float64 CPU reference. The buckets
 * are chosen by top-k of fp32 projections, which the two backends round differently, so the test checks
 * the selection on its own (directions against their definition, each bucket's kept rows and items
 * against the projections of the GPU's own directions) and then the loss and gradients over the GPU's
 * buckets (the reference given them: ReferenceLossInput.sceBuckets).
 */
import { describe, expect, it } from 'vitest';
import { allocCudaGroup } from '../../src/backend/cuda/cuda-tensor.js';
import { cudaLossBackward, cudaLossForward, cudaLossWorkspace } from '../../src/backend/cuda/cuda-losses.js';
import { clearGemmCounters } from '../../src/backend/cuda/gemm-kernels.js';
import { referenceLoss } from '../../src/backend/cpu/loss-reference.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { LossParams } from '../../src/backend/ops.js';
import { sceNormal, sceShape, type SceSettings } from '../../src/backend/sce.js';
import { fillWords, upload } from '../../src/cuda/memory.js';
import { Stream } from '../../src/cuda/stream.js';
import { get, put, relError } from './device-tensors.js';
import { announceSkip, noGpu, POISON_WORD, useContext } from './gpu.js';
import { lossIoSpecs } from './loss-io.js';

announceSkip('test/gpu/sce.test.ts');

interface Case {
  readonly N: number;
  readonly V: number;
  readonly d: number;
  readonly sce: SceSettings;
  /** Dtype of h and the table. @default "f32" */
  readonly operands?: DType;
  /** Output dtype of dH and dTable. @default "f32" */
  readonly out?: DType;
}

// Odd shapes, padding rows, d not a multiple of 8 or 32, buckets larger than the valid rows (empty
// slots), several projection tiles, both directions, bf16 operands and outputs.
const CASES: Case[] = [
  { N: 203, V: 1001, d: 45, sce: { buckets: 7, bucketRows: 37, bucketItems: 61, mix: true } },
  { N: 203, V: 1001, d: 45, sce: { buckets: 7, bucketRows: 37, bucketItems: 61, mix: false } },
  { N: 130, V: 70, d: 128, sce: { buckets: 19, bucketRows: 200, bucketItems: 100, mix: true } },
  { N: 517, V: 3001, d: 64, sce: { buckets: 33, bucketRows: 64, bucketItems: 128, mix: true }, operands: 'bf16', out: 'bf16' },
];

function gaussian(n: number, sigma: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sigma * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  return out;
}

function dot(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += a[ao + c]! * b[bo + c]!;
  return s;
}

describe.skipIf(noGpu)('CUDA sce against the float64 CPU reference', () => {
  const context = useContext();

  for (const c of CASES) {
    const { N, V, d, sce } = c;
    const operands = c.operands ?? 'f32';
    const out = c.out ?? 'f32';
    it(`N=${N} V=${V} d=${d} buckets ${sce.buckets}×(${sce.bucketRows} rows, ${sce.bucketItems} items) mix ${sce.mix} ${operands} in, ${out} out`, () => {
      const targets = new Int32Array(N);
      for (let r = 0; r < N; r++) targets[r] = Math.random() < 0.2 ? 0 : 1 + Math.floor(Math.random() * V);
      targets[1] = V;
      const M = targets.filter((t) => t !== 0).length;
      const seed = 1 + Math.floor(Math.random() * 1000);
      const step = Math.floor(Math.random() * 1000);
      const dLoss = 0.7;
      const dims = { rows: N, items: V, hidden: d };
      const io = allocCudaGroup(context().allocator, 'io', lossIoSpecs(dims, operands, out));
      clearGemmCounters(io.get('scratch'));
      const h = put(io.get('h'), gaussian(N * d, 1));
      const table = put(io.get('table'), gaussian((V + 1) * d, 1 / Math.sqrt(d)));
      upload(io.get('targets'), targets);
      // f32 gradients accumulate onto random content; bf16 onto zeros (a bf16 sum would round them away).
      const base = put(io.get('dTable'), out === 'f32' ? gaussian((V + 1) * d, 0.01) : new Float32Array((V + 1) * d));
      fillWords(io.get('loss'), POISON_WORD);
      fillWords(io.get('dH'), out === 'f32' ? POISON_WORD : 0x7fc07fc0);
      const params: LossParams = { kind: 'sce', validRows: M, sce: { ...sce, seed, step } };
      const ws = allocCudaGroup(context().allocator, 'ws', cudaLossWorkspace(params, dims, operands, 'fp32'));
      for (const v of ws.plan.views) fillWords(ws.get(v.spec.name), POISON_WORD);
      const run = (): { loss: number; dH: Float32Array; dTable: Float32Array } => {
        put(io.get('dTable'), base);
        const stream = Stream.create();
        cudaLossForward(stream, io.get('loss'), ws, io.get('scratch'), io.get('h'), io.get('table'), io.get('targets'), dims, params, 'fp32');
        cudaLossBackward(stream, io.get('dH'), io.get('dTable'), ws, io.get('scratch'), io.get('h'), io.get('table'), io.get('targets'), dims, params, dLoss, 'fp32');
        stream.synchronize();
        stream.destroy();
        return { loss: get(io.get('loss'))[0]!, dH: get(io.get('dH')), dTable: get(io.get('dTable')) };
      };
      const first = run();
      const shape = sceShape(sce, N, V);
      const { buckets: nb, rows: kx, items: ky } = shape;
      const omega = get(ws.get('sce_omega'), nb * d);
      const rowIds = get(ws.get('sce_rows'), nb * kx);
      const items = Int32Array.from(get(ws.get('sce_items'), nb * ky));
      // Run to run: bit-identical (every sum in a fixed order).
      const second = run();
      ws.free();
      io.free();
      expect(second.loss).toBe(first.loss);
      expect(Array.from(second.dH)).toEqual(Array.from(first.dH));
      expect(Array.from(second.dTable)).toEqual(Array.from(first.dTable));

      // Directions: the plain ones are the random matrix itself, bit for bit; mixed ones are fp32 sums
      // of N exact products (relative error ~ sqrt(N)·2^-24 ≤ 1e-5).
      const want = new Float64Array(nb * d);
      for (let b = 0; b < nb; b++) {
        for (let col = 0; col < d; col++) {
          if (!sce.mix) want[b * d + col] = sceNormal(seed, step, col * nb + b);
          else for (let r = 0; r < N; r++) if (targets[r] !== 0) want[b * d + col] = want[b * d + col]! + sceNormal(seed, step, r * nb + b) * h[r * d + col]!;
        }
      }
      if (sce.mix) expect(relError(omega, want)).toBeLessThan(1e-5);
      else expect(Array.from(omega)).toEqual(Array.from(want, Math.fround));

      // Selection: each bucket keeps distinct rows and items whose projections on its direction (in
      // float64 from the GPU's omega) are at least every other's, up to fp32 rounding of the dot (1e-4
      // of the score scale); the rows are the min(kx, M) valid ones, then padding or empty slots.
      const rows = Int32Array.from(rowIds, (id) => (id > 0 && targets[id - 1] !== 0 ? id - 1 : -1));
      for (let b = 0; b < nb; b++) {
        const kept = Array.from(rows.subarray(b * kx, (b + 1) * kx)).filter((r) => r >= 0);
        expect(kept.length).toBe(Math.min(kx, M));
        expect(new Set(kept).size).toBe(kept.length);
        const score = (x: Float32Array, row: number): number => dot(x, row * d, omega, b * d, d);
        const rowScale = Math.max(1e-30, ...kept.map((r) => Math.abs(score(h, r))));
        const worstKept = Math.min(...kept.map((r) => score(h, r)));
        for (let r = 0; r < N; r++) {
          if (targets[r] !== 0 && !kept.includes(r)) expect(score(h, r)).toBeLessThanOrEqual(worstKept + 1e-4 * rowScale);
        }
        const its = Array.from(items.subarray(b * ky, (b + 1) * ky));
        expect(new Set(its).size).toBe(ky);
        expect(its.every((i) => i >= 1 && i <= V)).toBe(true);
        const itemScale = Math.max(1e-30, ...its.map((i) => Math.abs(score(table, i))));
        const worstItem = Math.min(...its.map((i) => score(table, i)));
        for (let i = 1; i <= V; i++) if (!its.includes(i)) expect(score(table, i)).toBeLessThanOrEqual(worstItem + 1e-4 * itemScale);
      }

      // Loss and gradients over the GPU's buckets. Bounds: fp32 operands with fp32 sums, 1e-5 for the
      // loss and 1e-4 for the gradients (sums of up to b_y + 1 terms of exps); bf16 operands are exact
      // inputs of the reference, so the same; bf16 outputs add one rounding per element (2^-9): 8e-3.
      const ref = referenceLoss({
        kind: 'sce', h: Float64Array.from(h), table: Float64Array.from(table), targets, N, V, d,
        sce: { ...sce, seed, step }, sceBuckets: { rows, items },
      });
      const gradBound = out === 'bf16' ? 8e-3 : 1e-4;
      expect(Math.abs(first.loss - ref.loss) / Math.max(1, Math.abs(ref.loss))).toBeLessThan(1e-5);
      expect(relError(first.dH, ref.dH.map((v) => dLoss * v))).toBeLessThan(gradBound);
      const increment = first.dTable.map((v, i) => v - base[i]!);
      expect(relError(increment, ref.dTable.map((v) => dLoss * v))).toBeLessThan(gradBound);
      // Row 0 of the table is never touched; rows in no bucket and padding rows get dH = 0.
      for (let col = 0; col < d; col++) expect(first.dTable[col]).toBe(base[col]);
      for (let r = 0; r < N; r++) {
        if (ref.sce!.best[r]! >= 0) continue;
        for (let col = 0; col < d; col++) expect(first.dH[r * d + col]).toBe(0);
      }
    });
  }
});
