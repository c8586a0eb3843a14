/**
 * The materialised losses on CUDA: ce and bce (logits [N × (V+1)] by the GEMM, row kernels in between)
 * and ce- (negatives [N × n], logits [N × (n+1)], gather kernels, and a deterministic table gradient
 * over the entries sorted by item). kernels/materialised.cu holds the contract: shapes, what is saved,
 * what accumulates. The GEMM math is the backend's preset ('bf16': operands rounded to bf16 as the GEMM
 * stages them, logits stored in bf16 as autocast does; 'fp32': f32 logits); h and the table may each be
 * f32 or bf16, and ce- reads them in whatever dtype they have.
 * ce under 'bf16' math (d ≤ 256: ceThroughCce) computes neither its logits nor dH by GEMM: CCE's pass
 * (ce-through-cce.ts) gives the loss and dH, and the table's part of the backward writes G into the same
 * buffer, which the table GEMM reads as before.
 */
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { MaterialisedLossKind } from '../loss-kinds.js';
import { DTYPE_BYTES, type DType, type TensorSpec } from '../memory-plan.js';
import type { LossDims, LossParams, Tensor, TensorLookup } from '../ops.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { ceThroughCce, ceThroughCceForward, ceThroughCceHiddenGrad, ceThroughCceSpecs, ceThroughCceWriteGrad } from './ce-through-cce.js';
import { matmul, type GemmMath } from './gemm-kernels.js';
import { bf16Flag, checkCount, kernelOf, NULL_PTR, strideGrid } from './launch.js';

const SIGNATURES = {
  rows: ['logits:ptr', 'row_loss:ptr', 'targets:ptr', 'N:i32', 'W:i32', 'stride:i32', 'logits_bf16:i32'],
  tablePad: ['out:ptr', 'out_bf16:i32', 'table:ptr', 'table_bf16:i32', 'n_in:i64', 'n_out:i64'],
  tableGradAdd: ['dtable:ptr', 'dtable_bf16:i32', 'src:ptr', 'from:i64', 'to:i64'],
  sampledRows: [
    'logits:ptr', 'row_loss:ptr', 'targets:ptr', 'negatives:ptr', 'log_p:ptr', 'N:i32', 'n_neg:i32', 'logits_bf16:i32',
    'uniform_corr:f32', 'log_n:f32',
  ],
  sampledLogits: [
    'logits:ptr', 'negatives:ptr', 'h:ptr', 'table:ptr', 'targets:ptr', 'prob:ptr', 'alias:ptr', 'N:i32', 'V:i32', 'd:i32',
    'n_neg:i32', 'seed:u32', 'step:u32', 'counters:ptr', 'h_bf16:i32', 'table_bf16:i32', 'logits_bf16:i32',
  ],
  sampledHiddenGrad: [
    'dh:ptr', 'grad:ptr', 'table:ptr', 'targets:ptr', 'negatives:ptr', 'N:i32', 'd:i32', 'n_neg:i32', 'dh_bf16:i32',
    'grad_bf16:i32', 'table_bf16:i32', 'scale:f32',
  ],
  histogram: ['hist:ptr', 'src:ptr', 'targets:ptr', 'negatives:ptr', 'E:i32', 'n_neg:i32', 'shift:i32', 'tiles:i32'],
  scatter: ['dst:ptr', 'src:ptr', 'hist:ptr', 'targets:ptr', 'negatives:ptr', 'E:i32', 'n_neg:i32', 'shift:i32', 'tiles:i32'],
  scanTiles: ['tile_sums:ptr', 'data:ptr', 'n:i32'],
  scanSums: ['tile_sums:ptr', 'tiles:i32'],
  scanApply: ['data:ptr', 'tile_sums:ptr', 'n:i32'],
  sampledTableGrad: [
    'dtable:ptr', 'partials:ptr', 'entries:ptr', 'grad:ptr', 'h:ptr', 'targets:ptr', 'negatives:ptr', 'E:i32', 'n_neg:i32',
    'd:i32', 'chunk:i32', 'dtable_bf16:i32', 'grad_bf16:i32', 'h_bf16:i32', 'scale:f32',
  ],
  sampledTableGradSpans: [
    'dtable:ptr', 'partials:ptr', 'entries:ptr', 'targets:ptr', 'negatives:ptr', 'E:i32', 'n_neg:i32', 'd:i32', 'chunk:i32',
    'dtable_bf16:i32', 'scale:f32',
  ],
  lossReduce: ['loss:ptr', 'row_loss:ptr', 'N:i32', 'M:i32'],
} as const satisfies Record<string, KernelSignature>;

function kernel<K extends keyof typeof SIGNATURES>(name: string, kind: K): KernelFunction<(typeof SIGNATURES)[K]> {
  return kernelOf('materialised', name, SIGNATURES[kind]);
}

/**
 * Which gradients a loss's backward computes: both, or one of them, so that the two may run on different
 * streams where the kind allows it (cuda-losses.ts separableGradients).
 */
export type LossGradients = 'both' | 'hidden' | 'table';

/** Threads of ce_rows, the fallback for rows wider than the register kernels hold (a CTA per row). */
const ROW_THREADS = 256;
/** Vectors a thread holds in the register kernels ce_rows_K (16 bytes each: 8 bf16 or 4 f32 logits). */
const ROW_VECTORS = [1, 2, 4, 8] as const;
/**
 * Threads per row of the register kernels while K ≤ 8 suffices. 128 keeps a CTA's registers small
 * (ce_rows_4: 48 a thread, 10 CTAs per SM), so that the other rows' loads hide one row's barriers;
 * wider rows add threads (up to 1024 for ce_rows_8) rather than registers.
 */
const ROW_BLOCK = 128;
/** The largest block of ce_rows_8 (its __launch_bounds__; ce_rows_1, _2 and _4 take at most ROW_BLOCK). */
const ROW_BLOCK_WIDE = 1024;
/** Rows per CTA when a row is one warp (blockDim.y): four warps, so that CTAs per SM do not cap occupancy. */
const WARP_ROWS = 4;
/** Vectors per thread of one chunk of bce_rows (BCE_VECS in the kernel) and its largest block. */
const BCE_VECS = 4;
const BCE_THREADS_MAX = 256;
/** Threads per CTA of the warp kernels (a warp per row or per chunk). */
const WARP_KERNEL_THREADS = 256;
/** The radix sort's tile (SORT_TILE: SORT_WARPS · SORT_STEPS · 32) and threads (32 · SORT_WARPS). */
const SORT_TILE = 2048;
const SORT_THREADS = 256;
/** Buckets of one radix pass (8-bit digits). */
const RADIX = 256;
/** Elements per tile of the exclusive scan (SCAN_TILE) and its threads. */
const SCAN_TILE = 4096;
const SCAN_THREADS = 1024;
/**
 * Sorted entries per warp of the ce- table gradient: every item wholly inside a chunk is summed there;
 * an item across chunks leaves a partial row of d floats (two slots per chunk: E·d/512 floats of workspace).
 */
const CHUNK = 1024;
/** Columns per pass of the warp kernels, in units of 32 (the instantiated P of ce_sampled_*_P). */
const COLUMN_PASSES = [1, 2, 4, 8, 16] as const;

/** The entry-point suffix of hidden size d: the smallest P with 32·P ≥ d (wider d loops in passes of 512). */
function columnsSuffix(d: number): number {
  return COLUMN_PASSES.find((p) => 32 * p >= d) ?? 16;
}

/** A row kernel of ce or bce, and its launch shape. */
interface RowLaunch {
  readonly name: string;
  readonly grid: number;
  readonly block: readonly [number, number];
}

/** A CTA of `threads` per row, or (threads = 32) a warp per row, WARP_ROWS rows per CTA. */
function rowShape(name: string, N: number, threads: number): RowLaunch {
  return threads === 32 ? { name, grid: Math.ceil(N / WARP_ROWS), block: [32, WARP_ROWS] } : { name, grid: N, block: [threads, 1] };
}

/**
 * The row kernel for rows of W logits of `dtype`. ce: the register kernel ce_rows_K with the smallest K
 * whose ROW_BLOCK threads hold the row's ⌈W / (16 / bytes)⌉ vectors (fewer threads, a multiple of 32, when
 * fewer suffice), else ce_rows_8 with up to 1024 threads, else the two-pass ce_rows. bce streams any W:
 * BCE_VECS vectors per thread a chunk, up to BCE_THREADS_MAX threads.
 */
function rowLaunch(kind: 'ce' | 'bce', N: number, W: number, dtype: DType): RowLaunch {
  const vectors = Math.ceil(W / (16 / DTYPE_BYTES[dtype]));
  const threadsFor = (perThread: number) => 32 * Math.ceil(vectors / (32 * perThread));
  if (kind === 'bce') return rowShape('bce_rows', N, Math.min(BCE_THREADS_MAX, threadsFor(BCE_VECS)));
  for (const k of ROW_VECTORS) {
    const threads = threadsFor(k);
    if (threads <= ROW_BLOCK || (k === 8 && threads <= ROW_BLOCK_WIDE)) return rowShape(`ce_rows_${k}`, N, threads);
  }
  return { name: 'ce_rows', grid: N, block: [ROW_THREADS, 1] };
}

/** Elements ce's and bce's logits rows are padded to a multiple of: 16 bytes of bf16, so every row starts aligned. */
const ROW_ALIGN = 8;

/**
 * The row stride of ce's and bce's logits, and the rows of the padded table: V + 1 rounded up to ROW_ALIGN.
 * The GEMMs stage an aligned row with 16-byte loads; an odd V + 1 left them element loads (ML-1M, V + 1 =
 * 3,707: the logits and dH GEMMs took ~245 µs each, BENCHMARKS.md).
 */
export function paddedWidth(V: number): number {
  return Math.ceil((V + 1) / ROW_ALIGN) * ROW_ALIGN;
}

/** Radix passes over item ids 0..V: ⌈bits(V) / 8⌉. */
function radixPasses(V: number): number {
  return Math.ceil((32 - Math.clz32(V)) / 8);
}

/** The sizes of ce-'s sort and table-gradient workspace for E = N·(n+1) entries. */
function sortPlan(E: number, d: number): { tiles: number; histogram: number; scanTiles: number; chunks: number; partials: number } {
  const tiles = Math.ceil(E / SORT_TILE);
  const histogram = RADIX * tiles;
  const chunks = Math.ceil(E / CHUNK);
  return { tiles, histogram, scanTiles: Math.ceil(histogram / SCAN_TILE), chunks, partials: chunks * 2 * d };
}

function negativeCount(params: Pick<LossParams, 'kind' | 'negatives'>): number {
  const n = params.negatives?.count;
  if (n === undefined || !Number.isInteger(n) || n < 1) throw new Error(`loss "${params.kind}" needs a count of negatives ≥ 1, got ${n}`);
  return n;
}

function checkDims(kind: MaterialisedLossKind, dims: LossDims, n: number): void {
  const { rows: N, items: V, hidden: d } = dims;
  if (!Number.isInteger(N) || N < 1 || !Number.isInteger(d) || d < 1) throw new RangeError(`Expected N ≥ 1 and d ≥ 1 for loss "${kind}", got N = ${N}, d = ${d}`);
  if (kind === 'ce-') {
    if (!Number.isInteger(V) || V < 2) throw new RangeError(`Expected a catalogue of at least 2 items for ce-, got ${V}`);
    if (N * (n + 1) >= 2 ** 31) throw new RangeError(`Expected N·(n+1) < 2^31 entries for ce-, got ${N} × ${n + 1}`);
  } else {
    checkCount(`loss "${kind}": V + 1 logits per row`, V + 1);
  }
}

/**
 * The workspace of a materialised loss for up to `dims.rows` rows; logits in `logitsDType(math)`. ce, bce:
 * logits [N × P] (P = V + 1 padded, paddedWidth), the padded table [P × d] in the logits' dtype, the table
 * GEMM's result [P × d] f32, row losses [N]; ce through CCE's pass (ceThroughCce) adds lse [N] and the
 * unscaled row gradient dh_raw [N × d] f32 (and cuda-losses.ts a bf16 copy of an f32 h).
 * ce-: negatives [N × n] i32, logits [N × (n+1)], row losses [N], the entries sorted by item and their
 * radix-sort scratch (2 × N·(n+1) + N·(n+1)/8 i32), and the table gradient's partials (N·(n+1)·d/512 f32).
 */
export function materialisedLossWorkspace(
  params: Pick<LossParams, 'kind' | 'negatives'> & { kind: MaterialisedLossKind }, dims: LossDims, math: GemmMath,
): TensorSpec[] {
  const { rows: N, items: V, hidden: d } = dims;
  const hDType = logitsDType(math);
  const rowLoss: TensorSpec = { name: 'row_loss', shape: [N], dtype: 'f32' };
  if (params.kind !== 'ce-') {
    checkDims(params.kind, dims, 0);
    const P = paddedWidth(V);
    return [
      { name: 'logits', shape: [N, P], dtype: hDType },
      rowLoss,
      { name: 'table_pad', shape: [P, d], dtype: hDType },
      { name: 'dtable_pad', shape: [P, d], dtype: 'f32' },
      ...(ceThroughCce(params.kind, math, d) ? ceThroughCceSpecs(N, d) : []),
    ];
  }
  const n = negativeCount(params);
  checkDims(params.kind, dims, n);
  const E = N * (n + 1);
  const plan = sortPlan(E, d);
  return [
    { name: 'negatives', shape: [N, n], dtype: 'i32' },
    { name: 'logits', shape: [N, n + 1], dtype: hDType },
    rowLoss,
    { name: 'entries', shape: [E], dtype: 'i32' },
    ...(radixPasses(V) > 1 ? [{ name: 'entries_alt', shape: [E], dtype: 'i32' } satisfies TensorSpec] : []),
    { name: 'radix_hist', shape: [plan.histogram], dtype: 'i32' },
    { name: 'scan_sums', shape: [plan.scanTiles], dtype: 'i32' },
    { name: 'partials', shape: [plan.partials], dtype: 'f32' },
  ];
}

/** The dtype of the logits a GEMM math materialises: bf16 logits under bf16 math (as autocast does), else f32. */
export function logitsDType(math: GemmMath): DType {
  return math === 'bf16' ? 'bf16' : 'f32';
}

/** Operands of a materialised loss, checked. */
interface Operands {
  readonly h: CudaTensor;
  readonly table: CudaTensor;
  readonly targets: CudaTensor;
}

function operands(h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, what: string): Operands {
  const { rows: N, items: V, hidden: d } = dims;
  return {
    h: deviceTensor(h, `${what}.h`, ['f32', 'bf16'], N * d),
    table: deviceTensor(table, `${what}.table`, ['f32', 'bf16'], (V + 1) * d),
    targets: deviceTensor(targets, `${what}.targets`, ['i32'], N),
  };
}

/** Popularity tables as kernel arguments (null pointers: uniform). */
function samplerArgs(params: LossParams, V: number) {
  const neg = params.negatives;
  if (neg === undefined) throw new Error(`loss "${params.kind}" needs negatives`);
  const n = negativeCount(params);
  const counters = neg.counters === undefined ? NULL_PTR : deviceTensor(neg.counters, 'negatives.counters', ['i32'], 2);
  const uniform = { prob: NULL_PTR, alias: NULL_PTR, logP: NULL_PTR, uniformCorr: Math.log(V - 1) - Math.log(n), logN: Math.log(n), counters };
  if (neg.sampling === 'uniform') return { n, seed: neg.seed >>> 0, step: neg.step >>> 0, ...uniform };
  const t = neg.popularity;
  if (t === undefined) throw new Error(`loss "${params.kind}": popularity sampling needs its tables`);
  return {
    ...uniform,
    n, seed: neg.seed >>> 0, step: neg.step >>> 0,
    prob: deviceTensor(t.prob, 'popularity.prob', ['i32'], V),
    alias: deviceTensor(t.alias, 'popularity.alias', ['i32'], V),
    logP: deviceTensor(t.logProb, 'popularity.logProb', ['f32'], V + 1),
  };
}

function f32(ws: TensorLookup, name: string, size: number): CudaTensor {
  return deviceTensor(ws.get(name), `workspace.${name}`, ['f32'], size);
}

function i32(ws: TensorLookup, name: string, size: number): CudaTensor {
  return deviceTensor(ws.get(name), `workspace.${name}`, ['i32'], size);
}

function floats(ws: TensorLookup, name: string, size: number): CudaTensor {
  return deviceTensor(ws.get(name), `workspace.${name}`, ['f32', 'bf16'], size);
}

/** Warps of 32 threads, a CTA of WARP_KERNEL_THREADS: the grid for `warps` warps. */
function warpGrid(warps: number): number {
  return Math.ceil((warps * 32) / WARP_KERNEL_THREADS);
}

/**
 * loss[0] = the loss of `params` (ce, bce or ce-; a mean over the params.validRows valid rows), from
 * h [N × d], the table [(V+1) × d] (bf16 in 'bf16' math for ce and bce) and targets [N]; leaves the
 * unscaled logit gradient in the workspace's logits (and ce-'s negatives) for the backward, except ce
 * through CCE's pass (ceThroughCce: h bf16), which leaves lse and its unscaled dH in dh_raw (the
 * backward's table part writes G).
 */
export function materialisedLossForward(
  stream: Stream, loss: Tensor, workspace: TensorLookup, scratch: Tensor,
  h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, params: LossParams & { kind: MaterialisedLossKind }, math: GemmMath,
): void {
  const { rows: N, items: V, hidden: d } = dims;
  const x = operands(h, table, targets, dims, 'lossForward');
  const out = deviceTensor(loss, 'lossForward.loss', ['f32'], 1);
  const rowLoss = f32(workspace, 'row_loss', N);
  if (params.kind === 'ce-') {
    const s = samplerArgs(params, V);
    checkDims(params.kind, dims, s.n);
    const negatives = i32(workspace, 'negatives', N * s.n);
    const logits = floats(workspace, 'logits', N * (s.n + 1));
    kernel(`ce_sampled_logits_${columnsSuffix(d)}`, 'sampledLogits').launch(
      { grid: warpGrid(N), block: WARP_KERNEL_THREADS, stream },
      logits, negatives, x.h, x.table, x.targets, s.prob, s.alias, N, V, d, s.n, s.seed, s.step, s.counters, bf16Flag(x.h), bf16Flag(x.table), bf16Flag(logits),
    );
    // A CTA per row of n + 1 logits: no more warps than the row has columns.
    const threads = Math.min(ROW_THREADS, 32 * Math.ceil((s.n + 1) / 32));
    kernel('ce_sampled_rows', 'sampledRows').launch(
      { grid: N, block: threads, stream },
      logits, rowLoss, x.targets, negatives, s.logP, N, s.n, bf16Flag(logits), s.uniformCorr, s.logN,
    );
  } else {
    checkDims(params.kind, dims, 0);
    const P = paddedWidth(V);
    const tablePad = floats(workspace, 'table_pad', P * d);
    kernel('ce_table_pad', 'tablePad').launch(
      { grid: strideGrid(P * d), block: 256, stream }, tablePad, bf16Flag(tablePad), x.table, bf16Flag(x.table), (V + 1) * d, P * d,
    );
    if (ceThroughCce(params.kind, math, d)) {
      ceThroughCceForward(stream, rowLoss, workspace, x.h, tablePad, x.targets, N, V, d);
    } else {
      const logits = floats(workspace, 'logits', N * P);
      matmul(stream, logits, x.h, tablePad, N, P, d, { transB: true }, math, scratch);
      const rows = rowLaunch(params.kind, N, V + 1, logits.dtype);
      kernel(rows.name, 'rows').launch({ grid: rows.grid, block: rows.block, stream }, logits, rowLoss, x.targets, N, V + 1, P, bf16Flag(logits));
    }
  }
  kernel('cce_loss_reduce', 'lossReduce').launch({ grid: 1, block: 1024, stream }, out, rowLoss, N, params.validRows);
}

/**
 * After materialisedLossForward with the same arguments: dH (overwrite) and dTable (+=, rows 1..V; row 0
 * unchanged, bit for bit) of dLoss · loss, or only the one `part` names; dH and dTable are f32 or bf16.
 */
export function materialisedLossBackward(
  stream: Stream, dH: Tensor, dTable: Tensor, workspace: TensorLookup, scratch: Tensor,
  h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, params: LossParams & { kind: MaterialisedLossKind }, dLoss: number, math: GemmMath,
  part: LossGradients = 'both',
): void {
  const { rows: N, items: V, hidden: d } = dims;
  const x = operands(h, table, targets, dims, 'lossBackward');
  const gradH = deviceTensor(dH, 'lossBackward.dH', ['f32', 'bf16'], N * d);
  const gradTable = deviceTensor(dTable, 'lossBackward.dTable', ['f32', 'bf16'], (V + 1) * d);
  // The mean's scale, applied in fp32 to fp32 accumulators (G stays unscaled in the workspace).
  const scale = params.validRows > 0 ? dLoss / params.validRows : 0;
  if (params.kind !== 'ce-') {
    checkDims(params.kind, dims, 0);
    const P = paddedWidth(V);
    const grad = floats(workspace, 'logits', N * P);
    const tablePad = floats(workspace, 'table_pad', P * d);
    if (part !== 'table') {
      // Through CCE's pass the forward left dH unscaled; else G's columns V+1..P-1 are +0 and so are the
      // padded table's rows there: they add nothing.
      if (ceThroughCce(params.kind, math, d)) ceThroughCceHiddenGrad(stream, gradH, workspace, N, d, scale);
      else matmul(stream, gradH, grad, tablePad, N, d, P, { alpha: scale }, math, scratch);
    }
    if (part === 'hidden') return;
    if (ceThroughCce(params.kind, math, d)) ceThroughCceWriteGrad(stream, grad, workspace, x.h, tablePad, x.targets, N, V, d, P);
    // The product over the padded rows goes to the workspace; rows 1..V are added to dTable (row 0, the
    // padding item's, keeps its bytes: G's column 0 is +0, but adding it could turn -0 into +0).
    const dTablePad = f32(workspace, 'dtable_pad', P * d);
    matmul(stream, dTablePad, grad, x.h, P, d, N, { transA: true, alpha: scale }, math, scratch);
    kernel('ce_table_grad_add', 'tableGradAdd').launch(
      { grid: strideGrid(V * d), block: 256, stream }, gradTable, bf16Flag(gradTable), dTablePad, d, (V + 1) * d,
    );
    return;
  }
  const n = negativeCount(params);
  checkDims(params.kind, dims, n);
  const E = N * (n + 1);
  const plan = sortPlan(E, d);
  const negatives = i32(workspace, 'negatives', N * n);
  const grad = floats(workspace, 'logits', E);
  const suffix = columnsSuffix(d);
  if (part !== 'table') {
    kernel(`ce_sampled_hidden_grad_${suffix}`, 'sampledHiddenGrad').launch(
      { grid: warpGrid(N), block: WARP_KERNEL_THREADS, stream },
      gradH, grad, x.table, x.targets, negatives, N, d, n, bf16Flag(gradH), bf16Flag(grad), bf16Flag(x.table), scale,
    );
  }
  if (part === 'hidden') return;
  const entries = sortEntries(stream, workspace, x.targets, negatives, E, n, V, plan);
  const partials = f32(workspace, 'partials', plan.partials);
  const grid = warpGrid(plan.chunks);
  kernel(`ce_sampled_table_grad_${suffix}`, 'sampledTableGrad').launch(
    { grid, block: WARP_KERNEL_THREADS, stream },
    gradTable, partials, entries, grad, x.h, x.targets, negatives, E, n, d, CHUNK, bf16Flag(gradTable), bf16Flag(grad), bf16Flag(x.h), scale,
  );
  kernel('ce_sampled_table_grad_spans', 'sampledTableGradSpans').launch(
    { grid, block: WARP_KERNEL_THREADS, stream },
    gradTable, partials, entries, x.targets, negatives, E, n, d, CHUNK, bf16Flag(gradTable), scale,
  );
}

/**
 * Sorts the entry indices 0..E-1 (e = r·(n+1) + j) by item, stably (LSD radix, 8 bits a pass), into the
 * workspace's `entries`; returns it. Passes alternate between `entries` and `entries_alt` so that the
 * last one lands in `entries`.
 */
function sortEntries(
  stream: Stream, workspace: TensorLookup, targets: CudaTensor, negatives: CudaTensor,
  E: number, n: number, V: number, plan: ReturnType<typeof sortPlan>,
): CudaTensor {
  const passes = radixPasses(V);
  const buffers = [i32(workspace, 'entries', E), ...(passes > 1 ? [i32(workspace, 'entries_alt', E)] : [])];
  const hist = i32(workspace, 'radix_hist', plan.histogram);
  const sums = i32(workspace, 'scan_sums', plan.scanTiles);
  for (let p = 0; p < passes; p++) {
    const dst = buffers[(passes - 1 - p) % 2]!;
    const src = p === 0 ? NULL_PTR : buffers[(passes - p) % 2]!;
    const shift = 8 * p;
    kernel('entries_histogram', 'histogram').launch(
      { grid: plan.tiles, block: SORT_THREADS, stream },
      hist, src, targets, negatives, E, n, shift, plan.tiles,
    );
    kernel('scan_tiles', 'scanTiles').launch({ grid: plan.scanTiles, block: SCAN_THREADS, stream }, sums, hist, plan.histogram);
    kernel('scan_sums', 'scanSums').launch({ grid: 1, block: SCAN_THREADS, stream }, sums, plan.scanTiles);
    kernel('scan_apply', 'scanApply').launch({ grid: plan.scanTiles, block: SCAN_THREADS, stream }, hist, sums, plan.histogram);
    kernel('entries_scatter', 'scatter').launch(
      { grid: plan.tiles, block: SORT_THREADS, stream },
      dst, src, hist, targets, negatives, E, n, shift, plan.tiles,
    );
  }
  return buffers[0]!;
}
