/**
 * Launcher of kernels/topk.cu, the evaluation top-K with each row's history excluded (the kernel
 * file's header holds the contract, which is backend/cpu/topk.ts's: item 0 never selected, ties to the
 * lower id, NaN as -Infinity, rows padded with 0). One CTA per score row.
 */
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { Tensor } from '../ops.js';
import { deviceTensor } from './cuda-tensor.js';
import { checkCount, kernelOf, NULL_PTR } from './launch.js';

const SIGNATURES = {
  select: [
    'out_items:ptr', 'scores:ptr', 'history_offsets:ptr', 'history_items:ptr', 'row_start:i32', 'V:i32', 'K:i32', 'row_start_at:ptr', 'users:i32',
  ],
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
 * topK overwrite `scores`; this one only reads them. Deterministic. `rowStart` may be an i32 [1] device
 * tensor, read by the kernel: then rows past the users (outItems' rows, the offsets' less one) are skipped.
 */
export function topK(
  stream: Stream, outItems: Tensor, scores: Tensor, historyOffsets: Tensor, historyItems: Tensor,
  rowStart: number | Tensor, B: number, V: number, K: number,
): void {
  checkCount('topK.B', B);
  checkCount('topK.V', V);
  // The kernel's int ids run to V + TILE - 1 in the last tile.
  checkCount('topK.V + tile', V + TILE);
  if (!(Number.isInteger(K) && K >= 1 && K <= TOPK_MAX_K)) throw new RangeError(`topK: expected K in 1..${TOPK_MAX_K}, got ${K}`);
  // A row start on the device is checked there (rows past the users are skipped): here only the sizes.
  const first = typeof rowStart === 'number' ? rowStart : 0;
  checkCount('topK.rowStart', first);
  checkCount('topK.users × K', (first + B) * K);
  const at = typeof rowStart === 'number' ? NULL_PTR : deviceTensor(rowStart, 'topK.rowStart', ['i32'], 1);
  const out = deviceTensor(outItems, 'topK.outItems', ['i32'], (first + B) * K);
  const s = deviceTensor(scores, 'topK.scores', ['f32'], B * (V + 1));
  const offsets = deviceTensor(historyOffsets, 'topK.historyOffsets', ['i32'], first + B + 1);
  // The history's length is in the offsets, on the device: only its dtype can be checked here.
  const items = deviceTensor(historyItems, 'topK.historyItems', ['i32'], 0);
  const users = Math.min(Math.floor(out.size / K), offsets.size - 1);
  if (B === 0) return;
  kernelOf('topk', 'topk_select', SIGNATURES.select).launch(
    { grid: B, block: THREADS, stream }, out, s, offsets, items, first, V, K, at, users,
  );
}
