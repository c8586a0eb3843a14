/**
 * Launchers of kernels/layernorm.cu: layer normalisation over the last dimension, a warp per row for the
 * forward; the backward in one pass over dout (+ dout2) and x per chunk of rows (the input gradient, and
 * the chunk's column sums for the weight and bias gradients into the backend's reduction scratch), then
 * a fixed-order sum of the chunks, by the last CTA to finish where the partials are few, else by a
 * second kernel: deterministic without float atomics. The kernel file's header holds the contract.
 * Arguments as the ops methods: outputs, inputs, dimensions, after the stream.
 */
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { LayerNormBackwardOptions, LayerNormCopies, Tensor } from '../ops.js';
import { deviceTensor } from './cuda-tensor.js';
import { columnChunks, REDUCE_SCRATCH_FLOATS, reduceCounters, SUM_LANES, SUM_PHASES, tailSums, type ChunkPlan } from './elementwise-kernels.js';
import { bf16Flag, checkCount, kernelOf, NULL_PTR, strideGrid } from './launch.js';

const SIGNATURES = {
  forward: [
    'out:ptr', 'out_bf16:i32', 'mean:ptr', 'rstd:ptr', 'x:ptr', 'x_bf16:i32', 'weight:ptr', 'bias:ptr', 'rows:i32', 'cols:i32', 'eps:f32', 'ids:ptr',
    'out_copy:ptr', 'x_copy:ptr',
  ],
  backward: [
    'dx:ptr', 'd_weight:ptr', 'd_bias:ptr', 'partial:ptr', 'counters:ptr', 'dout:ptr', 'dout_bf16:i32', 'dout2:ptr', 'x:ptr', 'x_bf16:i32',
    'weight:ptr', 'mean:ptr', 'rstd:ptr', 'rows:i32', 'cols:i32', 'rows_per_chunk:i32', 'overwrite:i32', 'ids:ptr',
  ],
  backwardSum: ['d_weight:ptr', 'd_bias:ptr', 'partial:ptr', 'chunks:i32', 'cols:i32'],
} as const satisfies Record<string, KernelSignature>;

/** LN_ROW_WARPS of the .cu: rows (warps) per CTA of the forward. */
const ROW_WARPS = 8;
/** LN_BWD_ROWS and LN_BWD_MAX_WARPS: rows a layer_norm_backward warp handles at once, and the most warps per CTA. */
const BWD_ROWS = 2;
const BWD_MAX_WARPS = 8;
/** LN_NARROW_COLS: the widest rows layer_norm_backward_narrow holds in registers. */
const BWD_NARROW_COLS = 256;
/**
 * Row chunks layer_norm_backward_narrow aims for: two CTAs (its 128 registers' limit) on each of 128
 * SMs, one resident wave on an H100/H200 (132 SMs), each CTA with several rounds of loads rather than
 * ~1,000 CTAs of one or two (the CTA's setup and column-sum reduction then dominate); at ML-1M's norms
 * (17,152 × 64: 134 chunks) the partials are few enough for the one-launch tail.
 */
const NARROW_CHUNKS = 256;
/** Shared memory a backward CTA aims to stay within (its warps' column sums), so that ≥ 4 CTAs fit on an SM. */
const BWD_SHARED_TARGET = 48 * 1024;
/**
 * The most shared memory a backward CTA may take (one warp's column sums: 8·cols bytes): within the
 * opt-in limit of every GPU of compute capability 8.0 and newer (99 KiB on sm_86/sm_89).
 */
const BWD_SHARED_MAX = 96 * 1024;

function kernel<K extends keyof typeof SIGNATURES>(name: string, kind: K, sharedBytes = 0): KernelFunction<(typeof SIGNATURES)[K]> {
  return kernelOf('layernorm', name, SIGNATURES[kind], sharedBytes);
}

/** How layerNormBackward runs over rows ≥ 1 of cols: the kernel, warps per CTA, shared bytes per CTA and the row chunks. */
export interface LayerNormBackwardPlan extends ChunkPlan {
  /** layer_norm_backward_narrow (cols ≤ 256: rows in registers) or layer_norm_backward (any cols). */
  readonly kernel: 'layer_norm_backward_narrow' | 'layer_norm_backward';
  readonly warps: number;
  readonly sharedBytes: number;
  /** One launch: the last CTA adds the chunks' partials (chunks > 1 and chunks × 2·cols partials few: tailSums). */
  readonly tail: boolean;
}

/** Throws unless one warp's column sums (8·cols bytes) fit in BWD_SHARED_MAX. */
function checkBackwardCols(cols: number): void {
  if (8 * cols > BWD_SHARED_MAX) {
    throw new RangeError(`layerNormBackward: expected cols ≤ ${BWD_SHARED_MAX / 8} (its column sums live in shared memory), got ${cols}`);
  }
}

/**
 * layer_norm_backward_narrow's slots (teams of lanes, a row each) per CTA of BWD_MAX_WARPS warps, and the
 * rows a slot loads per round: V = 1 (4 columns a lane) up to 128 columns, else 2; teams of T lanes, the
 * least power of two with 4·V·T ≥ cols; R = 4 / V rows a round.
 */
function narrowSlots(cols: number): { readonly slots: number; readonly rowsPerRound: number } {
  const v = cols <= 128 ? 1 : 2;
  let team = 1;
  while (4 * v * team < cols) team *= 2;
  return { slots: (BWD_MAX_WARPS * 32) / team, rowsPerRound: 4 / v };
}

/**
 * The backward's plan. Rows of ≤ 256 columns: layer_norm_backward_narrow, 8 warps per CTA, chunks of
 * whole rounds of the CTA (slots × rows per round), at most NARROW_CHUNKS of them; its slots' column
 * sums take slots × 8·cols bytes (≤ 16 KiB). Wider rows: layer_norm_backward, up to 8 warps per CTA
 * (fewer where their column sums, 8·cols bytes a warp, pass 48 KiB), chunks of whole row steps of a CTA,
 * about 1,024 of them (columnChunks). From rows and cols alone, so the summation order is too.
 */
export function layerNormBackwardPlan(rows: number, cols: number): LayerNormBackwardPlan {
  checkBackwardCols(cols);
  const tail = (plan: ChunkPlan) => plan.chunks > 1 && tailSums(plan.chunks * 2 * cols, 1);
  if (cols <= BWD_NARROW_COLS) {
    const { slots, rowsPerRound } = narrowSlots(cols);
    const round = slots * rowsPerRound;
    const chunks = columnChunks(rows, Math.max(round, Math.ceil(rows / NARROW_CHUNKS)), round, 2 * cols);
    return { kernel: 'layer_norm_backward_narrow', warps: BWD_MAX_WARPS, sharedBytes: slots * 8 * cols, ...chunks, tail: tail(chunks) };
  }
  const perWarp = 2 * cols * 4;
  const warps = Math.max(1, Math.min(BWD_MAX_WARPS, Math.floor(BWD_SHARED_TARGET / perWarp)));
  const step = warps * BWD_ROWS;
  const chunks = columnChunks(rows, step, step, 2 * cols);
  return { kernel: 'layer_norm_backward', warps, sharedBytes: warps * perWarp, ...chunks, tail: tail(chunks) };
}

/**
 * The chunks of layerNormBackward's input gradient alone (options.only 'input'): the plan's kernel and
 * warps, one row step of the CTA per chunk (the narrow kernel's round, the wide one's warps × rows), as
 * many chunks as that takes (dx's bits do not depend on the chunks).
 */
function layerNormInputPlan(rows: number, cols: number, plan: LayerNormBackwardPlan): { readonly chunks: number; readonly rowsPerChunk: number } {
  let rowsPerChunk = plan.warps * BWD_ROWS;
  if (plan.kernel === 'layer_norm_backward_narrow') {
    const { slots, rowsPerRound } = narrowSlots(cols);
    rowsPerChunk = slots * rowsPerRound;
  }
  return { chunks: Math.ceil(rows / rowsPerChunk), rowsPerChunk };
}

function checkShape(what: string, rows: number, cols: number): void {
  checkCount(`${what}: rows`, rows);
  if (!Number.isInteger(cols) || cols < 1) throw new RangeError(`${what}: expected cols ≥ 1, got ${cols}`);
  checkCount(`${what}: rows·cols`, rows * cols);
}

/**
 * out = (x - mean) · rstd · weight + bias per row (overwrite; out must not alias x), with mean and the
 * biased variance over the row and rstd = 1 / sqrt(var + eps); writes mean[rows] and rstd[rows] for
 * backward. x and out f32 or bf16 (any pair); mean, rstd, weight, bias f32. With `ids` [rows] (i32),
 * padding rows (id 0) get out = 0 and mean = rstd = 0. `copies` (bf16 [rows × cols] each): out and x
 * rounded, written in the same pass (0 on padding rows).
 */
export function layerNormForward(
  stream: Stream, out: Tensor, mean: Tensor, rstd: Tensor, x: Tensor, weight: Tensor, bias: Tensor,
  rows: number, cols: number, eps: number, ids?: Tensor, copies: LayerNormCopies = {},
): void {
  checkShape('layerNormForward', rows, cols);
  const n = rows * cols;
  const o = deviceTensor(out, 'layerNormForward.out', ['f32', 'bf16'], n);
  const mu = deviceTensor(mean, 'layerNormForward.mean', ['f32'], rows);
  const rs = deviceTensor(rstd, 'layerNormForward.rstd', ['f32'], rows);
  const xs = deviceTensor(x, 'layerNormForward.x', ['f32', 'bf16'], n);
  const w = deviceTensor(weight, 'layerNormForward.weight', ['f32'], cols);
  const b = deviceTensor(bias, 'layerNormForward.bias', ['f32'], cols);
  const pad = ids === undefined ? NULL_PTR : deviceTensor(ids, 'layerNormForward.ids', ['i32'], rows);
  const outCopy = copies.out === undefined ? NULL_PTR : deviceTensor(copies.out, 'layerNormForward.copies.out', ['bf16'], n);
  const xCopy = copies.x === undefined ? NULL_PTR : deviceTensor(copies.x, 'layerNormForward.copies.x', ['bf16'], n);
  if (rows === 0) return;
  kernel('layer_norm_forward', 'forward').launch(
    { grid: strideGrid(rows, ROW_WARPS), block: 32 * ROW_WARPS, stream }, o, bf16Flag(o), mu, rs, xs, bf16Flag(xs), w, b, rows, cols, eps, pad,
    outCopy, xCopy,
  );
}

/**
 * dx (+=, or = with options.overwrite) the input gradient of dy = dout (+ options.dout2, f32: their fp32
 * sum), dWeight (+=) Σ_r dy · x̂, dBias (+=) Σ_r dy, with x̂ = (x - mean) · rstd from the forward's mean
 * and rstd. dx, dWeight, dBias f32; dout and x f32 or bf16; weight, mean, rstd f32; scratch f32 of ≥
 * REDUCE_SCRATCH_FLOATS elements (the backend's, shared with biasBackward) for the chunks' partial sums;
 * counters i32 of ≥ REDUCE_COUNTERS (the backend's, 0 before and left 0: clearReduceCounters), the first
 * counted on by the CTAs when the last of them sums the partials (layerNormBackwardPlan's tail). cols ≤
 * 12,288. Deterministic: every sum has a fixed order that depends on rows and cols only. With `ids` [rows]
 * (i32), padding rows (id 0) read neither gradient, leave dx as it is (0 with overwrite) and add nothing.
 * options.only runs one part: 'input' (dx; scratch and counters unused), 'params' (dWeight, dBias).
 */
export function layerNormBackward(
  stream: Stream, dx: Tensor, dWeight: Tensor, dBias: Tensor, dout: Tensor, x: Tensor,
  weight: Tensor, mean: Tensor, rstd: Tensor, rows: number, cols: number, scratch: Tensor, counters: Tensor, ids?: Tensor,
  options: LayerNormBackwardOptions = {},
): void {
  checkShape('layerNormBackward', rows, cols);
  const n = rows * cols;
  const gx = deviceTensor(dx, 'layerNormBackward.dx', ['f32'], n);
  const gw = deviceTensor(dWeight, 'layerNormBackward.dWeight', ['f32'], cols);
  const gb = deviceTensor(dBias, 'layerNormBackward.dBias', ['f32'], cols);
  const g = deviceTensor(dout, 'layerNormBackward.dout', ['f32', 'bf16'], n);
  const xs = deviceTensor(x, 'layerNormBackward.x', ['f32', 'bf16'], n);
  const w = deviceTensor(weight, 'layerNormBackward.weight', ['f32'], cols);
  const mu = deviceTensor(mean, 'layerNormBackward.mean', ['f32'], rows);
  const rs = deviceTensor(rstd, 'layerNormBackward.rstd', ['f32'], rows);
  const s = deviceTensor(scratch, 'layerNormBackward.scratch', ['f32'], REDUCE_SCRATCH_FLOATS);
  const counts = reduceCounters(counters, 'layerNormBackward');
  const pad = ids === undefined ? NULL_PTR : deviceTensor(ids, 'layerNormBackward.ids', ['i32'], rows);
  const g2 = options.dout2 === undefined ? NULL_PTR : deviceTensor(options.dout2, 'layerNormBackward.dout2', ['f32'], n);
  checkBackwardCols(cols);
  if (rows === 0) return;
  const overwrite = options.overwrite === true ? 1 : 0;
  const plan = layerNormBackwardPlan(rows, cols);
  if (options.only === 'input') {
    // dx alone: no column sums, so the chunks need not be few: one round of the CTA each, for parallelism.
    const dxPlan = layerNormInputPlan(rows, cols, plan);
    kernel(plan.kernel, 'backward').launch(
      { grid: dxPlan.chunks, block: 32 * plan.warps, stream },
      gx, NULL_PTR, NULL_PTR, NULL_PTR, NULL_PTR, g, bf16Flag(g), g2, xs, bf16Flag(xs), w, mu, rs, rows, cols, dxPlan.rowsPerChunk, overwrite, pad,
    );
    return;
  }
  const split = plan.chunks > 1;
  kernel(plan.kernel, 'backward', plan.sharedBytes).launch(
    { grid: plan.chunks, block: 32 * plan.warps, sharedBytes: plan.sharedBytes, stream },
    options.only === 'params' ? NULL_PTR : gx, gw, gb, split ? s : NULL_PTR, plan.tail ? counts : NULL_PTR, g, bf16Flag(g), g2, xs, bf16Flag(xs),
    w, mu, rs, rows, cols, plan.rowsPerChunk, overwrite, pad,
  );
  if (split && !plan.tail) {
    kernel('layer_norm_backward_sum', 'backwardSum').launch(
      { grid: [Math.ceil(cols / SUM_LANES), 2, 1], block: SUM_LANES * SUM_PHASES, stream }, gw, gb, s, plan.chunks, cols,
    );
  }
}
