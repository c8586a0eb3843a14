import { describe, expect, it } from 'vitest';
import { CCE_FILTER_BF16, ccePlan } from '../../src/backend/cuda/cce-kernels.js';
import { allocCudaGroup, type CudaTensorGroup } from '../../src/backend/cuda/cuda-tensor.js';
import { cudaLossBackward, cudaLossForward, cudaLossWorkspace } from '../../src/backend/cuda/cuda-losses.js';
import { cceBlockShape, cceForwardPart } from '../../src/backend/cpu/loss-cce.js';
import { referenceLoss } from '../../src/backend/cpu/loss-reference.js';
import type { LossParams } from '../../src/backend/ops.js';
import { download, fillBytes, fillWords, upload } from '../../src/cuda/memory.js';
import { Stream } from '../../src/cuda/stream.js';
import { fromBf16, relError, toBf16 } from './device-tensors.js';
import { announceSkip, noGpu, POISON_WORD, useContext } from './gpu.js';
import { lossIoSpecs } from './loss-io.js';

announceSkip('test/gpu/cce-split.test.ts');

// The CCE forward split over the catalogue (issue 10): shapes whose few row blocks make the plan split
// (S > 1 on an H200, asserted), checked against the float64 CPU reference output by output, the
// workspace's min_lse and tile_max included, and bit-identical from run to run.

function gaussian(n: number, sigma: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sigma * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  return out;
}

interface Case {
  readonly N: number;
  readonly V: number;
  readonly d: number;
  readonly filter?: boolean;
  /** Logit scale (std of h·E). @default 1 */
  readonly sigma?: number;
  /** Rows 64..255 padding (whole row blocks of 64 and of 128) besides the scattered 10 %. */
  readonly paddedRuns?: boolean;
}

const CASES: Case[] = [
  // One row block against 15,405 items (wgmma d = 256): 49 shares of 5 tiles.
  { N: 37, V: 15405, d: 256 },
  // Batch 32 × L 32 rows at d = 64 (wgmma, 128-item tiles), whole padding blocks inside.
  { N: 1024, V: 3001, d: 64, paddedRuns: true },
  // Unaligned d (element loads, mma.sync 64): the last row block, rows 128..199, is all padding.
  { N: 200, V: 15405, d: 45, paddedRuns: true },
  // The filter with the tile skip's bounds (wgmma d = 128), peaked logits, padding blocks (the last partial).
  { N: 200, V: 5003, d: 128, filter: true, sigma: 4, paddedRuns: true },
  // Two column chunks (mma.sync 512): the chunk-1 CTAs write O, chunk 0 the statistics.
  { N: 37, V: 3001, d: 512, filter: true, sigma: 4 },
];

/** The workspace views the forward writes, as host arrays (tile_max as bf16 bits, or empty). */
function readForward(ws: CudaTensorGroup, N: number, d: number, rowBlocks: number, tileMax: number) {
  const lse = new Float32Array(N);
  const rowLoss = new Float32Array(N);
  const dhRaw = new Float32Array(N * d);
  const minLse = new Float32Array(rowBlocks);
  const bounds = new Uint16Array(tileMax);
  download(lse, ws.get('lse'));
  download(rowLoss, ws.get('row_loss'));
  download(dhRaw, ws.get('dh_raw'));
  download(minLse, ws.get('min_lse'));
  if (tileMax > 0) download(bounds, ws.get('tile_max'));
  return { lse, rowLoss, dhRaw, minLse, bounds };
}

describe.skipIf(noGpu)('CCE forward split over the catalogue against the float64 CPU reference', () => {
  const context = useContext();

  for (const c of CASES) {
    it(`N=${c.N} V=${c.V} d=${c.d}${c.filter ? ' filter' : ''}${c.paddedRuns ? ' padded runs' : ''}`, () => {
      const { N, V, d } = c;
      const plan = ccePlan(N, V, d);
      expect(plan.forwardSplits, 'the plan splits this shape').toBeGreaterThan(1);
      const h = toBf16(gaussian(N * d, 1));
      const table = toBf16(gaussian((V + 1) * d, (c.sigma ?? 1) / Math.sqrt(d)));
      const hv = Float64Array.from(h.values);
      const tv = Float64Array.from(table.values);
      const targets = new Int32Array(N);
      for (let r = 0; r < N; r++) targets[r] = Math.random() < 0.1 ? 0 : 1 + Math.floor(Math.random() * V);
      if (c.paddedRuns) targets.fill(0, 64, 256);
      targets[1] = V;
      targets[2] = 1;
      const M = targets.filter((t) => t !== 0).length;
      const dLoss = 0.7;

      const dims = { rows: N, items: V, hidden: d };
      const io = allocCudaGroup(context().allocator, 'io', lossIoSpecs(dims, 'bf16', 'f32'));
      upload(io.get('h'), h.bits);
      upload(io.get('table'), table.bits);
      upload(io.get('targets'), targets);
      const base = gaussian((V + 1) * d, 0.01);
      upload(io.get('dTable'), base);
      fillWords(io.get('loss'), POISON_WORD);
      fillWords(io.get('dH'), POISON_WORD);
      const params: LossParams = { kind: 'cce', validRows: M, ...(c.filter ? { gradientFilter: CCE_FILTER_BF16 } : {}) };
      const ws = allocCudaGroup(context().allocator, 'ws', cudaLossWorkspace(params, dims, 'bf16', 'bf16'));
      expect(ws.plan.views.some((v) => v.spec.name === 'forward_partial'), 'the partials are planned').toBe(true);
      const poisonWorkspace = (): void => {
        for (const v of ws.plan.views) {
          if (v.spec.dtype === 'bf16') fillBytes(ws.get(v.spec.name), 0xff);
          else fillWords(ws.get(v.spec.name), POISON_WORD);
        }
      };
      const tileMaxElements = c.filter ? plan.tileMaxElements : 0;
      const forward = () => {
        poisonWorkspace();
        const stream = Stream.create();
        cudaLossForward(stream, io.get('loss'), ws, io.get('scratch'), io.get('h'), io.get('table'), io.get('targets'), dims, params, 'bf16');
        stream.synchronize();
        stream.destroy();
        return readForward(ws, N, d, plan.rowBlocks, tileMaxElements);
      };
      const first = forward();
      const again = forward();
      // Deterministic: the fixed-order combine gives the same bits every run.
      expect(Buffer.from(again.lse.buffer).equals(Buffer.from(first.lse.buffer)), 'lse bit-identical run to run').toBe(true);
      expect(Buffer.from(again.rowLoss.buffer).equals(Buffer.from(first.rowLoss.buffer)), 'row_loss bit-identical').toBe(true);
      expect(Buffer.from(again.dhRaw.buffer).equals(Buffer.from(first.dhRaw.buffer)), 'dh_raw bit-identical').toBe(true);
      expect(Buffer.from(again.bounds.buffer).equals(Buffer.from(first.bounds.buffer)), 'tile_max bit-identical').toBe(true);

      const stream = Stream.create();
      cudaLossBackward(stream, io.get('dH'), io.get('dTable'), ws, io.get('scratch'), io.get('h'), io.get('table'), io.get('targets'), dims, params, dLoss, 'bf16');
      stream.synchronize();
      stream.destroy();
      const loss = new Float32Array(1);
      const dH = new Float32Array(N * d);
      const dTable = new Float32Array((V + 1) * d);
      download(loss, io.get('loss'));
      download(dH, io.get('dH'));
      download(dTable, io.get('dTable'));
      ws.free();
      io.free();

      // lse and row losses, row by row: fp32 scores of exact bf16 products and fp32 sums of ex2.approx
      // terms (the split adds S rescaled partial sums): ≤ 1e-5 relative to max(1, |lse|).
      const [RB, VB] = cceBlockShape(N, V);
      const lseRef = new Float64Array(N);
      cceForwardPart(lseRef, new Float64Array(RB * VB), hv, tv, targets, N, V, d, 0, 1);
      const { lse, rowLoss, minLse, bounds } = first;
      for (let r = 0; r < N; r++) {
        const t = targets[r]!;
        if (t === 0) {
          expect([lse[r], rowLoss[r]], `padding row ${r}`).toEqual([Infinity, 0]);
          continue;
        }
        let st = 0;
        for (let k = 0; k < d; k++) st += hv[r * d + k]! * tv[t * d + k]!;
        const tol = 1e-5 * Math.max(1, Math.abs(lseRef[r]!));
        expect(Math.abs(lse[r]! - lseRef[r]!), `lse of row ${r}`).toBeLessThanOrEqual(tol);
        expect(Math.abs(rowLoss[r]! - (lseRef[r]! - st)), `row_loss of row ${r}`).toBeLessThanOrEqual(tol);
      }
      // min_lse: exactly the smallest device lse of each row block's valid rows (+inf: none).
      for (let rb = 0; rb < plan.rowBlocks; rb++) {
        let want = Infinity;
        for (let r = rb * plan.ownRows; r < Math.min(N, (rb + 1) * plan.ownRows); r++) if (targets[r] !== 0) want = Math.min(want, lse[r]!);
        expect(minLse[rb], `min_lse of row block ${rb}`).toBe(want);
      }
      // tile_max: per (item tile, row block), +inf where a valid row has its target in the tile, -inf in
      // blocks of padding only, else an upper bound of the valid rows' scores in log2 units, rounded up
      // to bf16 from fp32 scores: within [max - 1e-4, max + 2^-7·|max| + 1e-4] (fp32 against float64
      // scores, then at most one bf16 ulp up).
      if (c.filter) {
        const tiles = Math.ceil(V / plan.streamRows);
        const tm = fromBf16(bounds);
        const cell = new Float64Array(tiles * plan.rowBlocks).fill(-Infinity);
        for (let r = 0; r < N; r++) {
          const t = targets[r]!;
          if (t === 0) continue;
          const rb = Math.floor(r / plan.ownRows);
          for (let i = 0; i < V; i++) {
            let s = 0;
            for (let k = 0; k < d; k++) s += hv[r * d + k]! * tv[(i + 1) * d + k]!;
            const at = Math.floor(i / plan.streamRows) * plan.rowBlocks + rb;
            cell[at] = i + 1 === t ? Infinity : Math.max(cell[at]!, s * Math.LOG2E);
          }
        }
        for (let k = 0; k < cell.length; k++) {
          const want = cell[k]!;
          const label = `tile_max of item tile ${Math.floor(k / plan.rowBlocks)}, row block ${k % plan.rowBlocks}`;
          if (!Number.isFinite(want)) expect(tm[k], label).toBe(want);
          else {
            expect(tm[k]!, label).toBeGreaterThanOrEqual(want - 1e-4);
            expect(tm[k]!, label).toBeLessThanOrEqual(want + 2 ** -7 * Math.abs(want) + 1e-4);
          }
        }
      }

      // Loss and gradients against referenceLoss, as in cce.test.ts: loss 1e-5; gradients through one
      // bf16 rounding of P or G: 3e-3 exact, 1e-2 with the filter.
      const ref = referenceLoss({ kind: 'cce', h: hv, table: tv, targets, N, V, d });
      const gradTol = c.filter ? 1e-2 : 3e-3;
      expect(Math.abs(loss[0]! - ref.loss) / Math.abs(ref.loss), 'loss').toBeLessThanOrEqual(1e-5);
      expect(dH.every(Number.isFinite), 'dH fully written').toBe(true);
      expect(relError(dH, Float64Array.from(ref.dH, (v) => dLoss * v)), 'dH').toBeLessThanOrEqual(gradTol);
      for (let r = 0; r < N; r++) {
        if (targets[r] === 0) expect(dH.subarray(r * d, (r + 1) * d).every((v) => v === 0), `padding row ${r} of dH`).toBe(true);
      }
      expect(dTable.subarray(0, d).every((v, i) => Object.is(v, base[i])), 'row 0 of dTable untouched').toBe(true);
      const grown = Float64Array.from(dTable.subarray(d), (v, i) => v - base[d + i]!);
      expect(relError(grown, Float64Array.from(ref.dTable.subarray(d), (v) => dLoss * v)), 'dTable (+=)').toBeLessThanOrEqual(gradTol);
    });
  }
});
