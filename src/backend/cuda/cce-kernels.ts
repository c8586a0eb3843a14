/**
 * Launchers of kernels/cce.cu, the full-softmax Cut Cross-Entropy (the kernel file's header holds the
 * contract: shapes, what the forward saves, what accumulates). Arguments in the kernels' order:
 * outputs, inputs, dimensions. Tile shapes mirror CceShape / CceShapeWg of the .cu file; the sm_90a
 * module (Hopper) has the wgmma kernels, every GPU the mma.sync ones.
 */
import { currentContext } from '../../cuda/context.js';
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature, PointerArg } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import { kernelOf, NULL_PTR, strideGrid } from './launch.js';

/**
 * The gradient filter of the reference CCE for bf16 operands: bf16 epsilon / 32 = 2^-12. A tile whose
 * every |softmax − onehot| is at most the filter's epsilon contributes no gradient; 0 is exact.
 */
export const CCE_FILTER_BF16 = 2 ** -12;

const SIGNATURES = {
  forward: [
    'lse_out:ptr', 'row_loss:ptr', 'dh_raw:ptr', 'tile_max:ptr', 'min_lse:ptr', 'partial:ptr', 'h:ptr', 'table:ptr', 'targets:ptr',
    'N:i32', 'V:i32', 'd:i32', 'aligned:i32', 'tiles_per_split:i32', 'log2_eps:f32',
  ],
  forwardCombine: [
    'lse_out:ptr', 'row_loss:ptr', 'dh_raw:ptr', 'min_lse:ptr', 'partial:ptr', 'table:ptr', 'targets:ptr',
    'N:i32', 'd:i32', 'splits:i32', 'block_rows:i32',
  ],
  tableGrad: [
    'dtable_f32:ptr', 'dtable_bf16:ptr', 'partial:ptr', 'h:ptr', 'table:ptr', 'targets:ptr', 'lse:ptr', 'tile_max:ptr', 'min_lse:ptr',
    'N:i32', 'V:i32', 'd:i32', 'aligned:i32', 'per_split:i32', 'scale:f32', 'log2_eps:f32',
  ],
  tableGradReduce: ['dtable_f32:ptr', 'dtable_bf16:ptr', 'partial:ptr', 'splits:i32', 'V:i32', 'd:i32', 'scale:f32'],
  writeGrad: ['logits:ptr', 'P:i32', 'h:ptr', 'table:ptr', 'targets:ptr', 'lse:ptr', 'N:i32', 'V:i32', 'd:i32', 'aligned:i32', 'tiles_per_split:i32'],
  hiddenGrad: ['dh_f32:ptr', 'dh_bf16:ptr', 'dh_raw:ptr', 'n:i64', 'scale:f32'],
  lossReduce: ['loss:ptr', 'row_loss:ptr', 'N:i32', 'M:i32'],
} as const satisfies Record<string, KernelSignature>;

/** The instantiated widths: d ≤ D. */
const WIDTHS = [32, 64, 128, 256, 512] as const;

/** A CTA shape of kernels/cce.cu: warps of 16 own rows, stream tile rows, output columns per chunk. */
interface CtaShape {
  readonly warps: number;
  readonly streamRows: number;
  readonly chunkCols: number;
}

/** CceShape<D> (mma.sync). */
const MMA_SHAPES: Readonly<Record<number, CtaShape>> = {
  32: { warps: 8, streamRows: 64, chunkCols: 32 },
  64: { warps: 8, streamRows: 128, chunkCols: 64 },
  128: { warps: 8, streamRows: 64, chunkCols: 128 },
  256: { warps: 8, streamRows: 64, chunkCols: 256 },
  512: { warps: 4, streamRows: 64, chunkCols: 256 },
};

/** CceShapeWg<D> (wgmma, sm_90a module only, aligned rows only). */
const WG_SHAPES: Readonly<Record<number, CtaShape>> = {
  64: { warps: 4, streamRows: 128, chunkCols: 64 },
  128: { warps: 4, streamRows: 128, chunkCols: 128 },
  256: { warps: 4, streamRows: 64, chunkCols: 256 },
};

/** How one (N, V, d) runs: kernel suffix, shape, grid splits of the forward and the table gradient, shared memory. */
export interface CcePlan {
  /** Kernel name suffix: "256" (mma.sync) or "wg256" (wgmma). */
  readonly suffix: string;
  readonly aligned: boolean;
  readonly threads: number;
  /** Own rows per CTA. */
  readonly ownRows: number;
  /** Rows of a stream tile: the items of a forward item tile, the h rows of a backward tile. */
  readonly streamRows: number;
  /** Output column chunks (grid y). */
  readonly chunks: number;
  /** Shares of N of the table gradient (grid z); > 1 adds `partialElements` of workspace. */
  readonly splits: number;
  readonly rowsPerSplit: number;
  readonly sharedBytes: number;
  readonly partialElements: number;
  /** Row blocks of the forward (⌈N / ownRows⌉): the length of min_lse. */
  readonly rowBlocks: number;
  /**
   * Shares of the catalogue of the forward (grid z), each `forwardTilesPerSplit` item tiles (the last
   * may have fewer, never none); > 1 adds `forwardPartialElements` of workspace and the combine kernel.
   */
  readonly forwardSplits: number;
  readonly forwardTilesPerSplit: number;
  /** f32 partials of a split forward, S·N·(d + 2) + N (kernels/cce.cu, cce_forward_combine); 0 unsplit. */
  readonly forwardPartialElements: number;
  /** bf16 bounds of the filter's tile skip, one per (row block, item tile): ⌈V / streamRows⌉ · rowBlocks. */
  readonly tileMaxElements: number;
}

/** Backward h tiles listed at a time by the tile skip (CCE_LIVE_WINDOW of kernels/cce.cu), a bit each. */
const LIVE_WINDOW = 2048;

/** CTAs the table gradient and the split forward aim for: two per multiprocessor. */
const TARGET_CTAS_PER_SM = 2;

/**
 * Fewest item tiles a forward split streams: below it the split's fixed costs (its own tile of h, the
 * pipeline's fill, its share of the partials) outweigh the tiles it saves.
 */
const MIN_FORWARD_SPLIT_TILES = 4;

/**
 * The forward's split in two for its last wave: where the row blocks take more than one wave of CTAs (row
 * blocks × chunks over TARGET_CTAS_PER_SM per SM) and fewer than FORWARD_TAIL_MAX_WAVES, a packed batch's
 * real row blocks (fewer than the planned ones) leave the last wave partly idle, and two shares fill it
 * better: ML-20M's step (432 planned blocks, ~335 real: 1.6 waves) 4.91 → 4.69-4.72 ms on an H200
 * (BENCHMARKS.md), for 2·N·(d + 2) floats of partials. Past 4 waves the tail is a small part of the pass;
 * at d = 64 (ML-1M: a 69 µs forward) no gain beyond the noise was measured, and the partials would count
 * against its memory.
 */
const FORWARD_TAIL_MAX_WAVES = 4;
const FORWARD_TAIL_MIN_WIDTH = 128;

/** What the plan needs to know of the device. */
export interface CceDevice {
  readonly multiprocessorCount: number;
  /** Whether the loaded cce module has the wgmma kernels (the sm_90a variant, Hopper). */
  readonly wgmma: boolean;
}

/** The current context's device, as the plans need it. */
function currentCceDevice(): CceDevice {
  const context = currentContext();
  return { multiprocessorCount: context.device.multiprocessorCount, wgmma: context.modules.variantOf('cce') === 'sm90a' };
}

/** The launch plan on the current context's device. */
export function ccePlan(N: number, V: number, d: number): CcePlan {
  return ccePlanFor(N, V, d, currentCceDevice());
}

/** The launch plan on a device described by `device`. */
export function ccePlanFor(N: number, V: number, d: number, device: CceDevice): CcePlan {
  const D = WIDTHS.find((w) => d >= 1 && d <= w);
  if (D === undefined || !Number.isInteger(d)) throw new RangeError(`Expected a hidden size d in 1..512 for CCE, got ${d}`);
  if (!Number.isInteger(N) || N < 1 || !Number.isInteger(V) || V < 1) throw new RangeError(`Expected N ≥ 1 and V ≥ 1 for CCE, got N = ${N}, V = ${V}`);
  const aligned = d % 8 === 0;
  const wg = aligned && D in WG_SHAPES && device.wgmma;
  const shape = (wg ? WG_SHAPES[D] : MMA_SHAPES[D]) as CtaShape;
  const ownRows = 16 * shape.warps;
  const chunks = D / shape.chunkCols;
  const tiles = Math.ceil(V / ownRows) * chunks;
  const target = TARGET_CTAS_PER_SM * device.multiprocessorCount;
  let splits = Math.max(1, Math.min(Math.ceil(target / tiles), Math.ceil(N / shape.streamRows)));
  const rowsPerSplit = Math.ceil(Math.ceil(N / splits) / shape.streamRows) * shape.streamRows;
  splits = Math.ceil(N / rowsPerSplit);
  const rowBlocks = Math.ceil(N / ownRows);
  // The forward splits the catalogue when its row blocks fill at most half the CTAs aimed for (at
  // ⌈N/R⌉·chunks ≤ SMs); then S row-block grids fit in one wave of two CTAs per multiprocessor. It also
  // splits in two when they take more than one wave and fewer than FORWARD_TAIL_MAX_WAVES, at d ≥
  // FORWARD_TAIL_MIN_WIDTH.
  const itemTiles = Math.ceil(V / shape.streamRows);
  const waves = (rowBlocks * chunks) / target;
  const tail = D >= FORWARD_TAIL_MIN_WIDTH && waves > 1 && waves < FORWARD_TAIL_MAX_WAVES;
  const fill = tail ? 2 : Math.floor(1 / waves);
  const wanted = Math.max(1, Math.min(fill, Math.floor(itemTiles / MIN_FORWARD_SPLIT_TILES)));
  const forwardTilesPerSplit = Math.ceil(itemTiles / wanted);
  const forwardSplits = Math.ceil(itemTiles / forwardTilesPerSplit);
  return {
    suffix: wg ? `wg${D}` : `${D}`,
    aligned,
    threads: 32 * shape.warps,
    ownRows,
    streamRows: shape.streamRows,
    chunks,
    splits,
    rowsPerSplit,
    // Own tile, two stream tiles, two tiles of side data, the live bits, 1 KB to align to the swizzle atom.
    sharedBytes: (ownRows + 2 * shape.streamRows) * D * 2 + 2 * shape.streamRows * 8 + LIVE_WINDOW / 8 + 1024,
    partialElements: splits > 1 ? splits * V * d : 0,
    rowBlocks,
    tileMaxElements: itemTiles * rowBlocks,
    forwardSplits,
    forwardTilesPerSplit,
    forwardPartialElements: forwardSplits > 1 ? forwardSplits * N * (d + 2) + N : 0,
  };
}

function kernel<K extends keyof typeof SIGNATURES>(name: string, kind: K, sharedBytes = 0): KernelFunction<(typeof SIGNATURES)[K]> {
  return kernelOf('cce', name, SIGNATURES[kind], sharedBytes);
}

function log2Eps(filterEps: number): number {
  if (!(filterEps >= 0 && filterEps < 1)) throw new RangeError(`Expected a CCE gradient filter in [0, 1), got ${filterEps}`);
  return filterEps === 0 ? -Infinity : Math.log2(filterEps);
}

const NULL = NULL_PTR;

/** What the forward records per row block for the backward's tile skip. */
export interface CceBlockBounds {
  /** f32 [`rowBlocks`]: the smallest lse of each row block's valid rows (+inf: padding only, skipped). */
  readonly minLse: PointerArg;
  /** bf16 [`tileMaxElements`] with a filter, else null: per (item tile, row block), the largest score of the block's rows (log2 units). */
  readonly tileMax: PointerArg | null;
}

/** Threads of cce_forward_combine (CCE_COMBINE_WARPS warps of kernels/cce.cu). */
const COMBINE_THREADS = 1024;

/**
 * lse[N], rowLoss[N] and the unscaled row gradient dhRaw[N × d] (f32) from h [N × d] and the item table
 * [(V+1) × d] (bf16) and targets [N] (i32, 0 = padding), and `bounds` for cceTableGrad's tile skip
 * (sized by ccePlan; `bounds.minLse` may be null where no cceTableGrad follows). Row blocks of padding
 * only stream nothing. When the plan splits the catalogue (`forwardSplits` > 1) and `partial` is not
 * null, `partial` holds `ccePlan(N, V, d).forwardPartialElements` floats of scratch and a combine kernel
 * writes the outputs from them; a null `partial` runs the forward unsplit whatever the plan says (ce's
 * way: its workspace plans no partials).
 * @param filterEps skip Σp·E over tiles whose every p ≤ filterEps (0: exact). @default 0
 */
export function cceForward(
  stream: Stream, lse: PointerArg, rowLoss: PointerArg, dhRaw: PointerArg, bounds: CceBlockBounds, partial: PointerArg,
  h: PointerArg, table: PointerArg, targets: PointerArg,
  N: number, V: number, d: number, filterEps = 0,
): void {
  const p = ccePlan(N, V, d);
  const split = p.forwardSplits > 1 && partial !== NULL;
  kernel(`cce_forward_grad_${p.suffix}`, 'forward', p.sharedBytes).launch(
    { grid: [p.rowBlocks, p.chunks, split ? p.forwardSplits : 1], block: p.threads, sharedBytes: p.sharedBytes, stream },
    lse, rowLoss, dhRaw, bounds.tileMax ?? NULL, bounds.minLse, split ? partial : NULL, h, table, targets,
    N, V, d, p.aligned ? 1 : 0, split ? p.forwardTilesPerSplit : Math.ceil(V / p.streamRows), log2Eps(filterEps),
  );
  if (split) {
    kernel('cce_forward_combine', 'forwardCombine').launch(
      { grid: [p.rowBlocks, Math.ceil(d / 32), 1], block: COMBINE_THREADS, stream },
      lse, rowLoss, dhRaw, bounds.minLse, partial, table, targets, N, d, p.forwardSplits, p.ownRows,
    );
  }
}

/**
 * dTable[1..V] (+=) scale · Gᵀ·h, recomputing G from the forward's lse; `partial` holds
 * `ccePlan(N, V, d).partialElements` floats (unused when 0). dTable is f32 or bf16 (`dTableBf16`).
 * h tiles of padding rows (the forward's `bounds`), and with a filter those whose every |G| is
 * provably ≤ filterEps, are neither loaded nor multiplied.
 * @param filterEps skip tiles whose every |G| ≤ filterEps (0: exact). @default 0
 */
export function cceTableGrad(
  stream: Stream, dTable: PointerArg, dTableBf16: boolean, partial: PointerArg,
  h: PointerArg, table: PointerArg, targets: PointerArg, lse: PointerArg, bounds: CceBlockBounds,
  N: number, V: number, d: number, scale: number, filterEps = 0,
): void {
  const p = ccePlan(N, V, d);
  const f32 = dTableBf16 ? NULL : dTable;
  const bf16 = dTableBf16 ? dTable : NULL;
  const split = p.splits > 1;
  kernel(`cce_table_grad_${p.suffix}`, 'tableGrad', p.sharedBytes).launch(
    { grid: [Math.ceil(V / p.ownRows), p.chunks, p.splits], block: p.threads, sharedBytes: p.sharedBytes, stream },
    f32, bf16, split ? partial : NULL, h, table, targets, lse, bounds.tileMax ?? NULL, bounds.minLse,
    N, V, d, p.aligned ? 1 : 0, p.rowsPerSplit, scale, log2Eps(filterEps),
  );
  if (split) {
    kernel('cce_table_grad_reduce', 'tableGradReduce').launch({ grid: strideGrid(V * d), block: 256, stream }, f32, bf16, partial, p.splits, V, d, scale);
  }
}

/** The widest hidden size cce_write_grad is instantiated for (kernels/cce.cu CCE_WRITE_GRAD_ENTRY). */
export const CCE_WRITE_GRAD_MAX_WIDTH = 256;

/**
 * CTAs cce_write_grad aims for per multiprocessor, over the whole grid: its row blocks alone (ML-1M:
 * 268 of 64 rows) fill under one wave of the 3-5 CTAs an SM holds, so the columns are split until the
 * grid is several waves of short CTAs, which also evens out the last wave.
 */
const WRITE_GRAD_CTAS_PER_SM = 8;

/** Fewest column tiles a cce_write_grad CTA writes: below it the own tile's load and the pipeline's fill dominate. */
const MIN_WRITE_GRAD_TILES = 4;

/** How cce_write_grad runs for one (N, V, d, P). */
export interface CceWriteGradPlan {
  /** Kernel name suffix, the forward's (ccePlan): the same shape, tensor-core path and product order. */
  readonly suffix: string;
  readonly aligned: boolean;
  readonly threads: number;
  /** Row blocks (grid x): ⌈N / ownRows⌉. */
  readonly rowBlocks: number;
  /** Shares of the ⌈P / streamRows⌉ column tiles (grid y), each `tilesPerSplit` (the last may have fewer, never none). */
  readonly splits: number;
  readonly tilesPerSplit: number;
  /** Own tile, two stream tiles and 1 KB to align them to the swizzle atom. */
  readonly sharedBytes: number;
}

/** cce_write_grad's plan on a device described by `device`; P is the logits' row stride (a multiple of 8, ≥ V + 1). */
export function cceWriteGradPlanFor(N: number, V: number, d: number, P: number, device: CceDevice): CceWriteGradPlan {
  const p = ccePlanFor(N, V, d, device);
  if (d > CCE_WRITE_GRAD_MAX_WIDTH) throw new RangeError(`Expected a hidden size d ≤ ${CCE_WRITE_GRAD_MAX_WIDTH} for cce_write_grad, got ${d}`);
  if (!Number.isInteger(P) || P % 8 !== 0 || P < V + 1) throw new RangeError(`Expected a logits stride P ≥ V + 1 = ${V + 1} and a multiple of 8, got ${P}`);
  const D = WIDTHS.find((w) => d <= w) as number;
  const tiles = Math.ceil(P / p.streamRows);
  const wanted = Math.max(1, Math.min(Math.ceil((WRITE_GRAD_CTAS_PER_SM * device.multiprocessorCount) / p.rowBlocks), Math.floor(tiles / MIN_WRITE_GRAD_TILES)));
  const tilesPerSplit = Math.ceil(tiles / wanted);
  return {
    suffix: p.suffix,
    aligned: p.aligned,
    threads: p.threads,
    rowBlocks: p.rowBlocks,
    splits: Math.ceil(tiles / tilesPerSplit),
    tilesPerSplit,
    sharedBytes: (p.ownRows + 2 * p.streamRows) * D * 2 + 1024,
  };
}

/**
 * ce's logit gradient from cceForward's lse: logits[r·P + c] (bf16) = softmax(s_r)_c − [c = t_r] for items
 * c = 1..V, +0 in column 0 and columns V+1..P-1, a row of +0 for padding rows (UNSCALED; rounded to
 * nearest even), the scores s = h·tableᵀ recomputed as the forward computed them (p = 2^(s·log2e −
 * lse·log2e) from fp32 scores of bf16 operands, not from bf16-rounded logits). h [N × d] and the table
 * [(V+1) × d] bf16 (the table may have zero rows past V: they are not read), targets [N] i32, lse [N] f32;
 * logits [N × P] bf16, 16-byte aligned, P a multiple of 8 and ≥ V + 1; d ≤ CCE_WRITE_GRAD_MAX_WIDTH.
 * Overwrites every element of the N × P logits.
 */
export function cceWriteGrad(
  stream: Stream, logits: PointerArg, P: number, h: PointerArg, table: PointerArg, targets: PointerArg, lse: PointerArg,
  N: number, V: number, d: number,
): void {
  const p = cceWriteGradPlanFor(N, V, d, P, currentCceDevice());
  kernel(`cce_write_grad_${p.suffix}`, 'writeGrad', p.sharedBytes).launch(
    { grid: [p.rowBlocks, p.splits, 1], block: p.threads, sharedBytes: p.sharedBytes, stream },
    logits, P, h, table, targets, lse, N, V, d, p.aligned ? 1 : 0, p.tilesPerSplit,
  );
}

/** dH = scale · dhRaw over n elements; dH is f32 or bf16 (`dHBf16`); f32 may alias dhRaw. */
export function cceHiddenGrad(stream: Stream, dH: PointerArg, dHBf16: boolean, dhRaw: PointerArg, n: number, scale: number): void {
  kernel('cce_hidden_grad', 'hiddenGrad').launch({ grid: strideGrid(n), block: 256, stream }, dHBf16 ? NULL : dH, dHBf16 ? dH : NULL, dhRaw, n, scale);
}

/** loss[0] = Σ rowLoss[0..N) / M (0 when M = 0), in fp64, deterministic. */
export function cceLossReduce(stream: Stream, loss: PointerArg, rowLoss: PointerArg, N: number, M: number): void {
  kernel('cce_loss_reduce', 'lossReduce').launch({ grid: 1, block: 1024, stream }, loss, rowLoss, N, M);
}
