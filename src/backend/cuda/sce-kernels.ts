/**
 * Launchers of kernels/sce.cu, Scalable Cross-Entropy (backend/sce.ts defines it; the .cu header lists
 * each kernel's shape and contract). The forward draws the step's directions, projects the rows and the
 * items on them a chunk of buckets at a time (never [N × V]: at most SCE_SCORE_FLOATS scores held) and
 * keeps each bucket's best with the topk family, then scores every bucket slot and takes each row's max;
 * the backward recomputes the bucket logits for each row's best slot and adds the table gradient item by
 * item through a sorted CSR, so every sum has a fixed order.
 */
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import { fillBytes } from '../../cuda/memory.js';
import type { Stream } from '../../cuda/stream.js';
import type { TensorSpec } from '../memory-plan.js';
import type { LossDims, SceParams, Tensor, TensorLookup } from '../ops.js';
import { sceShape, type SceShape } from '../sce.js';
import { cceLossReduce } from './cce-kernels.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { bf16Flag, checkCount, kernelOf, NULL_PTR, strideGrid } from './launch.js';
import { topK, TOPK_MAX_K } from './topk-kernels.js';

const SIGNATURES = {
  directionsMix: ['omega:ptr', 'h:ptr', 'h_bf16:i32', 'targets:ptr', 'N:i32', 'd:i32', 'nb:i32', 'seed:u32', 'step:u32', 'counters:ptr'],
  directionsPlain: ['omega:ptr', 'd:i32', 'nb:i32', 'seed:u32', 'step:u32', 'counters:ptr'],
  project: ['scores:ptr', 'x:ptr', 'x_bf16:i32', 'x_row0:i32', 'mask:ptr', 'omega:ptr', 'b0:i32', 'G:i32', 'n:i32', 'd:i32'],
  slotForward: [
    'lse:ptr', 'slot_loss:ptr', 'rows:ptr', 'items:ptr', 'h:ptr', 'h_bf16:i32', 'table:ptr', 't_bf16:i32', 'targets:ptr',
    'nb:i32', 'kx:i32', 'ky:i32', 'd:i32',
  ],
  bestKeys: ['keys:ptr', 'slot_loss:ptr', 'rows:ptr', 'targets:ptr', 'slots:i32'],
  rowLoss: ['best:ptr', 'row_loss:ptr', 'keys:ptr', 'slot_loss:ptr', 'N:i32'],
  hiddenGrad: [
    'dh:ptr', 'dh_bf16:i32', 'pos_grad:ptr', 'best:ptr', 'lse:ptr', 'items:ptr', 'h:ptr', 'h_bf16:i32', 'table:ptr', 't_bf16:i32',
    'targets:ptr', 'N:i32', 'kx:i32', 'ky:i32', 'd:i32', 'scale:f32',
  ],
  itemGrad: [
    'item_grad:ptr', 'rows:ptr', 'items:ptr', 'best:ptr', 'lse:ptr', 'h:ptr', 'h_bf16:i32', 'table:ptr', 't_bf16:i32', 'targets:ptr',
    'nb:i32', 'kx:i32', 'ky:i32', 'd:i32', 'scale:f32',
  ],
  count: ['counts:ptr', 'items:ptr', 'best:ptr', 'targets:ptr', 'nby:i32', 'N:i32'],
  scanTiles: ['tile_sums:ptr', 'counts:ptr', 'n:i32'],
  scanSums: ['tile_sums:ptr', 'tiles:i32'],
  scanApply: ['offsets:ptr', 'cursor:ptr', 'counts:ptr', 'tile_sums:ptr', 'n:i32'],
  fill: ['entries:ptr', 'cursor:ptr', 'items:ptr', 'best:ptr', 'targets:ptr', 'nby:i32', 'N:i32'],
  sort: ['entries:ptr', 'offsets:ptr', 'V:i32'],
  tableGrad: ['dtable:ptr', 'dt_bf16:i32', 'entries:ptr', 'offsets:ptr', 'item_grad:ptr', 'pos_grad:ptr', 'nby:i32', 'V:i32', 'd:i32'],
} as const satisfies Record<string, KernelSignature>;

/** The widest hidden size the kernels take (SCE_MAX_D: each lane holds d/32 columns). */
export const SCE_MAX_D = 512;
/** Warps per CTA of the warp-per-slot, -row and -item kernels (SCE_WARPS). */
const WARPS = 8;
/** Elements per scan tile (SCE_SCAN_TILE) and threads of the scan kernels. */
const SCAN_TILE = 4096;
const SCAN_THREADS = 1024;
/**
 * The most projection scores held at once (128 MiB of f32): the forward projects a chunk of buckets
 * whose scores over max(N, V) candidates fit, so the memory stays bounded at any catalogue size.
 */
export const SCE_SCORE_FLOATS = 2 ** 25;

function kernel<K extends keyof typeof SIGNATURES>(name: string, kind: K) {
  return kernelOf('sce', name, SIGNATURES[kind]);
}

/** Buckets per projection chunk for N rows and V items: as many as SCE_SCORE_FLOATS allows, at least 1. */
function chunkBuckets(shape: SceShape, N: number, V: number): number {
  return Math.max(1, Math.min(shape.buckets, Math.floor(SCE_SCORE_FLOATS / (Math.max(N, V) + 1))));
}

function scanTiles(V: number): number {
  return Math.ceil((V + 2) / SCAN_TILE);
}

/** Checks the shapes the kernels take; throws a RangeError naming the limit. */
function checkShapes(shape: SceShape, dims: LossDims): void {
  const { rows: N, items: V, hidden: d } = dims;
  if (!(d >= 1 && d <= SCE_MAX_D)) throw new RangeError(`sce on the GPU: expected a hidden size d in 1..${SCE_MAX_D}, got ${d}`);
  if (shape.rows > TOPK_MAX_K || shape.items > TOPK_MAX_K) {
    throw new RangeError(`sce on the GPU: expected at most ${TOPK_MAX_K} rows and items per bucket, got ${shape.rows} and ${shape.items}`);
  }
  checkCount('sce: buckets × rows', shape.buckets * shape.rows);
  checkCount('sce: buckets × items + N', shape.buckets * shape.items + N);
  checkCount('sce: (buckets × items + N) × d', (shape.buckets * shape.items + N) * d);
  checkCount('sce: (V + 1) × d', (V + 1) * d);
}

/**
 * The workspace of sce on the GPU for N rows, V items and width d: directions [n_b × d], a chunk of
 * projection scores, the buckets, each slot's lse and loss, each row's key, best slot and loss, and the
 * backward's gradient vectors and their CSR by item. Throws where the shapes exceed the kernels' limits.
 */
export function sceWorkspace(params: SceParams, dims: LossDims): TensorSpec[] {
  const { rows: N, items: V, hidden: d } = dims;
  const shape = sceShape(params, N, V);
  checkShapes(shape, dims);
  const { buckets: nb, rows: kx, items: ky } = shape;
  const G = chunkBuckets(shape, N, V);
  return [
    { name: 'sce_omega', shape: [nb, d], dtype: 'f32' },
    { name: 'sce_scores', shape: [G, Math.max(N, V) + 1], dtype: 'f32' },
    { name: 'sce_no_history', shape: [nb + 1], dtype: 'i32' },
    { name: 'sce_rows', shape: [nb, kx], dtype: 'i32' },
    { name: 'sce_items', shape: [nb, ky], dtype: 'i32' },
    { name: 'sce_lse', shape: [nb, kx], dtype: 'f32' },
    { name: 'sce_slot_loss', shape: [nb, kx], dtype: 'f32' },
    // One u64 per row (the kernel's atomicMax keys), as pairs of i32.
    { name: 'sce_keys', shape: [N, 2], dtype: 'i32' },
    { name: 'sce_best', shape: [N], dtype: 'i32' },
    { name: 'sce_row_loss', shape: [N], dtype: 'f32' },
    { name: 'sce_item_grad', shape: [nb * ky, d], dtype: 'f32' },
    { name: 'sce_pos_grad', shape: [N, d], dtype: 'f32' },
    { name: 'sce_counts', shape: [V + 1], dtype: 'i32' },
    { name: 'sce_offsets', shape: [V + 2], dtype: 'i32' },
    { name: 'sce_cursor', shape: [V + 1], dtype: 'i32' },
    { name: 'sce_tile_sums', shape: [scanTiles(V)], dtype: 'i32' },
    { name: 'sce_entries', shape: [nb * ky + N], dtype: 'i32' },
  ];
}

/** The workspace's tensors, checked against the shapes. */
function views(ws: TensorLookup, shape: SceShape, dims: LossDims) {
  const { rows: N, items: V, hidden: d } = dims;
  const { buckets: nb, rows: kx, items: ky } = shape;
  const f = (name: string, size: number): CudaTensor => deviceTensor(ws.get(name), `workspace.${name}`, ['f32'], size);
  const i = (name: string, size: number): CudaTensor => deviceTensor(ws.get(name), `workspace.${name}`, ['i32'], size);
  return {
    omega: f('sce_omega', nb * d),
    scores: f('sce_scores', chunkBuckets(shape, N, V) * (Math.max(N, V) + 1)),
    noHistory: i('sce_no_history', nb + 1),
    rows: i('sce_rows', nb * kx),
    items: i('sce_items', nb * ky),
    lse: f('sce_lse', nb * kx),
    slotLoss: f('sce_slot_loss', nb * kx),
    keys: i('sce_keys', 2 * N),
    best: i('sce_best', N),
    rowLoss: f('sce_row_loss', N),
    itemGrad: f('sce_item_grad', nb * ky * d),
    posGrad: f('sce_pos_grad', N * d),
    counts: i('sce_counts', V + 1),
    offsets: i('sce_offsets', V + 2),
    cursor: i('sce_cursor', V + 1),
    tileSums: i('sce_tile_sums', scanTiles(V)),
    entries: i('sce_entries', nb * ky + N),
  };
}

/** The operands every sce launch reads: h [N × d] and the table [(V+1) × d] (f32 or bf16), targets [N] i32. */
function operands(h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, what: string) {
  const { rows: N, items: V, hidden: d } = dims;
  return {
    h: deviceTensor(h, `${what}.h`, ['f32', 'bf16'], N * d),
    table: deviceTensor(table, `${what}.table`, ['f32', 'bf16'], (V + 1) * d),
    targets: deviceTensor(targets, `${what}.targets`, ['i32'], N),
  };
}

/**
 * What sceForward and sceBackward both start from, in this order: the step's bucket shape checked
 * against the kernels' limits, the workspace's views and the operands (`what` names the caller in errors).
 */
function launchInputs(
  workspace: TensorLookup, h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, params: SceParams, what: string,
) {
  const shape = sceShape(params, dims.rows, dims.items);
  checkShapes(shape, dims);
  return { shape, w: views(workspace, shape, dims), x: operands(h, table, targets, dims, what) };
}

/**
 * loss[0] = sce's loss (Σ over rows of each row's largest bucket loss / validRows; 0 when validRows is
 * 0); fills the workspace (sceWorkspace) for sceBackward. The step's directions come from (seed, step),
 * or from counters[0] where `params.counters` is given (a replayed step).
 */
export function sceForward(
  stream: Stream, loss: Tensor, workspace: TensorLookup, h: Tensor, table: Tensor, targets: Tensor,
  dims: LossDims, params: SceParams, validRows: number,
): void {
  const { rows: N, items: V, hidden: d } = dims;
  const { shape, w, x } = launchInputs(workspace, h, table, targets, dims, params, 'sceForward');
  const { buckets: nb, rows: kx, items: ky } = shape;
  const out = deviceTensor(loss, 'sceForward.loss', ['f32'], 1);
  const counters = params.counters === undefined ? NULL_PTR : deviceTensor(params.counters, 'sce.counters', ['i32'], 2);
  const seed = params.seed >>> 0;
  const step = params.step >>> 0;
  if (params.mix) {
    kernel('sce_directions_mix', 'directionsMix').launch(
      { grid: [nb, Math.ceil(d / 32)], block: 256, stream }, w.omega, x.h, bf16Flag(x.h), x.targets, N, d, nb, seed, step, counters,
    );
  } else {
    kernel('sce_directions_plain', 'directionsPlain').launch({ grid: strideGrid(nb * d), block: 256, stream }, w.omega, d, nb, seed, step, counters);
  }
  // Every bucket's history is empty: topK then ranks all N rows (padding at -Infinity) and all V items.
  fillBytes(w.noHistory, 0, stream);
  const G = chunkBuckets(shape, N, V);
  const project = kernel('sce_project', 'project');
  for (let b0 = 0; b0 < nb; b0 += G) {
    const g = Math.min(G, nb - b0);
    project.launch({ grid: [Math.ceil(N / 64), Math.ceil(g / 16)], block: 256, stream }, w.scores, x.h, bf16Flag(x.h), 0, x.targets, w.omega, b0, g, N, d);
    topK(stream, w.rows, w.scores, w.noHistory, w.noHistory, b0, g, N, kx);
    project.launch({ grid: [Math.ceil(V / 64), Math.ceil(g / 16)], block: 256, stream }, w.scores, x.table, bf16Flag(x.table), 1, NULL_PTR, w.omega, b0, g, V, d);
    topK(stream, w.items, w.scores, w.noHistory, w.noHistory, b0, g, V, ky);
  }
  kernel('sce_slot_forward', 'slotForward').launch(
    { grid: Math.ceil((nb * kx) / WARPS), block: 32 * WARPS, stream },
    w.lse, w.slotLoss, w.rows, w.items, x.h, bf16Flag(x.h), x.table, bf16Flag(x.table), x.targets, nb, kx, ky, d,
  );
  fillBytes(w.keys, 0, stream);
  kernel('sce_best_keys', 'bestKeys').launch({ grid: strideGrid(nb * kx), block: 256, stream }, w.keys, w.slotLoss, w.rows, x.targets, nb * kx);
  kernel('sce_row_loss', 'rowLoss').launch({ grid: strideGrid(N), block: 256, stream }, w.best, w.rowLoss, w.keys, w.slotLoss, N);
  cceLossReduce(stream, out, w.rowLoss, N, validRows);
}

/**
 * After sceForward with the same arguments: dH (overwrite; f32 or bf16) and dTable (+=; f32 or bf16) of
 * scale · the loss's sum, scale = dLoss / validRows.
 */
export function sceBackward(
  stream: Stream, dH: Tensor, dTable: Tensor, workspace: TensorLookup, h: Tensor, table: Tensor, targets: Tensor,
  dims: LossDims, params: SceParams, scale: number,
): void {
  const { rows: N, items: V, hidden: d } = dims;
  const { shape, w, x } = launchInputs(workspace, h, table, targets, dims, params, 'sceBackward');
  const { buckets: nb, rows: kx, items: ky } = shape;
  const gradH = deviceTensor(dH, 'sceBackward.dH', ['f32', 'bf16'], N * d);
  const gradTable = deviceTensor(dTable, 'sceBackward.dTable', ['f32', 'bf16'], (V + 1) * d);
  const nby = nb * ky;
  kernel('sce_hidden_grad', 'hiddenGrad').launch(
    { grid: Math.ceil(N / WARPS), block: 32 * WARPS, stream },
    gradH, bf16Flag(gradH), w.posGrad, w.best, w.lse, w.items, x.h, bf16Flag(x.h), x.table, bf16Flag(x.table), x.targets, N, kx, ky, d, scale,
  );
  kernel('sce_item_grad', 'itemGrad').launch(
    { grid: Math.ceil(nby / WARPS), block: 32 * WARPS, stream },
    w.itemGrad, w.rows, w.items, w.best, w.lse, x.h, bf16Flag(x.h), x.table, bf16Flag(x.table), x.targets, nb, kx, ky, d, scale,
  );
  fillBytes(w.counts, 0, stream);
  const vectors = strideGrid(nby + N);
  kernel('sce_count', 'count').launch({ grid: vectors, block: 256, stream }, w.counts, w.items, w.best, x.targets, nby, N);
  const tiles = scanTiles(V);
  kernel('sce_scan_tiles', 'scanTiles').launch({ grid: tiles, block: SCAN_THREADS, stream }, w.tileSums, w.counts, V + 1);
  kernel('sce_scan_sums', 'scanSums').launch({ grid: 1, block: SCAN_THREADS, stream }, w.tileSums, tiles);
  kernel('sce_scan_apply', 'scanApply').launch({ grid: tiles, block: SCAN_THREADS, stream }, w.offsets, w.cursor, w.counts, w.tileSums, V + 1);
  kernel('sce_fill', 'fill').launch({ grid: vectors, block: 256, stream }, w.entries, w.cursor, w.items, w.best, x.targets, nby, N);
  kernel('sce_sort', 'sort').launch({ grid: strideGrid(V), block: 256, stream }, w.entries, w.offsets, V);
  kernel('sce_table_grad', 'tableGrad').launch(
    { grid: Math.ceil(V / WARPS), block: 32 * WARPS, stream },
    gradTable, bf16Flag(gradTable), w.entries, w.offsets, w.itemGrad, w.posGrad, nby, V, d,
  );
}
