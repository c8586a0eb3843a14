/**
 * Launcher of kernels/topk.cu, the evaluation top-K with each row's history excluded (the kernel
 * file's header holds the contract, which is backend/cpu/topk.ts's: item 0 never selected, ties to the
 * lower id, NaN as -Infinity, rows padded with 0). One CTA per score row.
 */
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { Tensor } from '../ops.js';
import { deviceTensor } from './cuda-tensor.js';
import { checkCount, kernelOf } from './launch.js';

const SIGNATURES = {
  select: ['out_items:ptr', 'scores:ptr', 'history_offsets:ptr', 'history_items:ptr', 'row_start:i32', 'V:i32', 'K:i32'],
} as const satisfies Record<string, KernelSignature>;

/** Threads of a CTA (TOPK_THREADS of the .cu file). */
const THREADS = 256;
/** Items a CTA reads per tile (TOPK_TILE): the last tile's indices reach V + TILE - 1. */
const TILE = THREADS * 8;

/** The largest K the kernel takes (TOPK_MAX_K: its candidate buffer less one tile). */
export const TOPK_MAX_K = 4096 - TILE;

/**
 * Writes rows rowStart..rowStart+B-1 of `outItems` [users × K] with the K best items of each score row,
 * best first; row b of `scores` [B × (V+1)] skips the items of history row rowStart + b of the CSR pair
 * `historyOffsets` [users + 1] / `historyItems` (i32, ids in 1..V). Ties go to the lower id; NaN
 * ranks as -Infinity; rows with fewer than K eligible items are padded with 0. The ops contract lets
 * topK overwrite `scores`; this one only reads them. Deterministic.
 */
export function topK(
  stream: Stream, outItems: Tensor, scores: Tensor, historyOffsets: Tensor, historyItems: Tensor,
  rowStart: number, B: number, V: number, K: number,
): void {
  checkCount('topK.rowStart', rowStart);
  checkCount('topK.B', B);
  checkCount('topK.V', V);
  // The kernel's int ids run to V + TILE - 1 in the last tile.
  checkCount('topK.V + tile', V + TILE);
  if (!(Number.isInteger(K) && K >= 1 && K <= TOPK_MAX_K)) throw new RangeError(`topK: expected K in 1..${TOPK_MAX_K}, got ${K}`);
  checkCount('topK.users × K', (rowStart + B) * K);
  const out = deviceTensor(outItems, 'topK.outItems', ['i32'], (rowStart + B) * K);
  const s = deviceTensor(scores, 'topK.scores', ['f32'], B * (V + 1));
  const offsets = deviceTensor(historyOffsets, 'topK.historyOffsets', ['i32'], rowStart + B + 1);
  // The history's length is in the offsets, on the device: only its dtype can be checked here.
  const items = deviceTensor(historyItems, 'topK.historyItems', ['i32'], 0);
  if (B === 0) return;
  kernelOf('topk', 'topk_select', SIGNATURES.select).launch(
    { grid: B, block: THREADS, stream }, out, s, offsets, items, rowStart, V, K,
  );
}
