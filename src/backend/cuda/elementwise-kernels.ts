/**
 * Launchers of kernels/elementwise.cu: fill, copy, axpy, add, sliceRows, lastRows, maskPadded, dropout, ReLU and
 * bias, each with the name and argument order of its Ops method (outputs, inputs, dimensions) after
 * the stream. The kernel file's header holds the contract (dtypes, aliasing, what accumulates); the
 * CPU references are backend/cpu/elementwise.ts, dropout.ts and cpu-ops.ts.
 *
 * Floating operands are f32 or bf16 (the kernels take a dtype flag each); where an op says "same
 * dtype", the inputs must match the output. Every kernel moves packs of 8 elements per thread and step
 * (16-byte accesses): element ops run a grid-stride loop over the packs of n, row ops (sliceRows,
 * lastRows, maskPadded, biasAdd) give each row a team of up to 32 threads. biasBackward is a two-stage column
 * reduction over a scratch the backend owns (REDUCE_SCRATCH_FLOATS; layer-norm backward shares it),
 * its second stage done by the first stage's last CTA where the partials are few (tailSums), with
 * arrival counters the backend owns too (REDUCE_COUNTERS, clearReduceCounters).
 */
import type { LaunchConfig } from '../../cuda/kernel-function.js';
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import { bf16BitsOfWord } from '../bf16.js';
import type { PointerArg } from '../../cuda/kernel-signature.js';
import type { DropoutSpec, PaddingRows, SequenceRows, Tensor } from '../ops.js';
import { paddingRowCount } from '../padding-rows.js';
import { dropoutThreshold } from '../philox.js';
import { fillBytes } from '../../cuda/memory.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { bf16Flag, checkCount, kernelOf, multiprocessors, NULL_PTR, stepCounters } from './launch.js';

const SIGNATURES = {
  ew_fill_b32: ['out:ptr', 'bits:u32', 'n:i64'],
  ew_fill_b16: ['out:ptr', 'bits:u32', 'n:i64'],
  ew_copy: ['out:ptr', 'out_bf16:i32', 'x:ptr', 'x_bf16:i32', 'n:i64'],
  ew_axpy: ['y:ptr', 'x:ptr', 'alpha:f64', 'n:i64'],
  ew_add: ['out:ptr', 'a:ptr', 'b:ptr', 'bf16:i32', 'n:i64', 'ids:ptr', 'cols:i32'],
  ew_slice_rows: ['out:ptr', 'out_bf16:i32', 'x:ptr', 'x_bf16:i32', 'rows:i32', 'first:i32', 'stride:i32', 'cols:i32'],
  ew_last_rows: ['out:ptr', 'out_bf16:i32', 'x:ptr', 'x_bf16:i32', 'seqs:ptr', 'B:i32', 'rows:i32', 'cols:i32'],
  ew_mask_padded: ['out:ptr', 'x:ptr', 'ids:ptr', 'bf16:i32', 'rows:i32', 'cols:i32'],
  ew_dropout: ['out:ptr', 'x:ptr', 'bf16:i32', 'n:i64', 'threshold:u32', 'scale:f64', 'seed:u32', 'step:u32', 'site:u32', 'counters:ptr', 'ids:ptr', 'cols:i32'],
  ew_relu_forward: ['out:ptr', 'x:ptr', 'bf16:i32', 'n:i64'],
  ew_relu_backward: ['dx:ptr', 'dout:ptr', 'd_bf16:i32', 'out:ptr', 'out_bf16:i32', 'n:i64'],
  ew_bias_add: ['out:ptr', 'out_bf16:i32', 'bias:ptr', 'rows:i32', 'cols:i32', 'ids:ptr'],
  ew_bias_backward: ['dbias:ptr', 'partial:ptr', 'counters:ptr', 'dout:ptr', 'dout_bf16:i32', 'rows:i32', 'cols:i32', 'rows_per_chunk:i32', 'ids:ptr'],
  ew_bias_backward_sum: ['dbias:ptr', 'partial:ptr', 'chunks:i32', 'cols:i32'],
} as const satisfies Record<string, KernelSignature>;

type KernelName = keyof typeof SIGNATURES;

/** Threads per CTA of the element and row kernels. */
const THREADS = 256;

/** Elements a thread moves per step (PACK of the .cu). */
const PACK = 8;

/**
 * CTAs per multiprocessor of the grid-stride kernels: 4 × 256 threads fit beside each other at up to 64
 * registers a thread (every kernel here uses fewer), so the grid is one resident wave with no tail,
 * and 1,024 threads × 16–64 bytes per step keep tens of KiB per SM in flight, what the H200's
 * ~4 TB/s needs at its memory latency.
 */
const CTAS_PER_SM = 4;

/** BIAS_THREADS and BIAS_UNROLL of the .cu: threads per CTA of the first stage, rows each loads at once. */
const BIAS_THREADS = 256;
const BIAS_UNROLL = 4;
/** COLSUM_LANES × COLSUM_PHASES of kernels/column_sums.cuh: columns and chunk phases of a second-stage CTA. */
export const SUM_LANES = 32;
export const SUM_PHASES = 32;

/**
 * f32 elements of the scratch that biasBackward and layerNormBackward take (4 MiB): the partial column
 * sums of their row chunks, chunks × cols floats (× 2 for layer norm's weight and bias). The backend
 * owns it; ops on one stream may share it (and the GEMM's, which is larger) since each op has used its
 * partials before the next op starts.
 */
export const REDUCE_SCRATCH_FLOATS = 1 << 20;

/**
 * u32 arrival counters of the one-launch column reductions (biasBackward: one per strip of columns;
 * layerNormBackward: the first). They live in a view of their own (the partials' scratch is shared
 * with the GEMM, whose partials would overwrite them), must be 0 before the first reduction
 * (clearReduceCounters), and every reduction leaves them 0, so CUDA graph replays find them so too.
 */
export const REDUCE_COUNTERS = 256;

/**
 * The most partials (f32) one CTA adds itself as the second stage of a column reduction (256 KiB). The
 * last CTA of the first stage reads them from L2 alone, 16 KiB in flight (256 threads × 16 loads) per
 * ~0.14 µs round trip, ~1 µs per 128 KiB, which beats a second launch (~1–1.5 µs between the kernels of
 * a graph, plus the kernel's own ~1 µs) up to about this size; beyond it the second kernel's many CTAs
 * win. At the shapes we train: ML-1M's biases (200 chunks × 64 = 50 KiB) and B32 × L32's biases (32 KiB)
 * and norms (64 chunks × 512 = 128 KiB) take one launch; ML-1M's norms (800 chunks × 128 = 400 KiB) and
 * every ML-20M reduction (1 MiB and more) keep two.
 */
export const TAIL_SUM_MAX_FLOATS = 1 << 16;

/**
 * Whether a column reduction whose second stage reads `floatsPerTail` partials in each of its last
 * CTAs, with `counters` counters, takes one launch (the last CTA sums) rather than two.
 */
export function tailSums(floatsPerTail: number, counters: number): boolean {
  return floatsPerTail <= TAIL_SUM_MAX_FLOATS && counters <= REDUCE_COUNTERS;
}

/**
 * Zeroes the reduction counters (i32 ≥ REDUCE_COUNTERS elements, read as u32), ordered on `stream`: once
 * after allocating them, and after anything that wrote over them (a test's poisoning).
 * @param stream @default null (the legacy default stream)
 */
export function clearReduceCounters(counters: Tensor, stream: Stream | null = null): void {
  const c = deviceTensor(counters, 'clearReduceCounters.counters', ['i32'], REDUCE_COUNTERS);
  fillBytes({ ptr: c.ptr, bytes: REDUCE_COUNTERS * 4 }, 0, stream);
}

/** The reduction counters as a kernel argument, checked. */
export function reduceCounters(counters: Tensor, what: string): CudaTensor {
  return deviceTensor(counters, `${what}.counters`, ['i32'], REDUCE_COUNTERS);
}

/**
 * Row chunks a two-stage column reduction aims for: about 8 CTAs on each SM of an H100/H200 (132 SMs),
 * while the second stage reads at most 1,024 partials per column (32 per thread).
 */
const TARGET_CHUNKS = 1024;

/** How a two-stage column reduction splits its rows: `chunks` chunks of `rowsPerChunk` (the last may be shorter). */
export interface ChunkPlan {
  readonly chunks: number;
  readonly rowsPerChunk: number;
}

/**
 * The row chunks of a column reduction over rows ≥ 1: about TARGET_CHUNKS, none shorter than `minRows`,
 * a multiple of `granule` rows each (the CTA's row step), and chunks × floatsPerChunk ≤
 * REDUCE_SCRATCH_FLOATS (one chunk, the single-stage case, when even two do not fit). It depends on its
 * arguments only, never on the device: the summation order, hence every bit of the result, is the same
 * on every GPU.
 */
export function columnChunks(rows: number, minRows: number, granule: number, floatsPerChunk: number): ChunkPlan {
  const fit = Math.floor(REDUCE_SCRATCH_FLOATS / floatsPerChunk);
  const wanted = Math.max(1, Math.min(TARGET_CHUNKS, Math.ceil(rows / minRows), fit));
  const rowsPerChunk = Math.min(rows, Math.ceil(Math.ceil(rows / wanted) / granule) * granule);
  return { chunks: Math.ceil(rows / rowsPerChunk), rowsPerChunk };
}

/** team_width of the .cu: threads per row of a row op or across the columns of a bias-backward CTA. */
function teamWidth(units: number): number {
  return units >= 32 ? 32 : units <= 1 ? 1 : 2 ** Math.ceil(Math.log2(units));
}

/** Column units of a row: packs of 8 columns when cols is a multiple of 8, else single columns. */
function rowUnits(cols: number): number {
  return cols % PACK === 0 ? cols / PACK : cols;
}

/** The row chunks of biasBackward over rows ≥ 1 of cols ≥ 1: each thread of a chunk loads ≥ BIAS_UNROLL rows. */
export function biasBackwardPlan(rows: number, cols: number): ChunkPlan {
  const rowsPerStep = BIAS_THREADS / teamWidth(rowUnits(cols));
  return columnChunks(rows, rowsPerStep * BIAS_UNROLL, rowsPerStep, cols);
}

const FLOAT = ['f32', 'bf16'] as const;

function kernel<K extends KernelName>(name: K) {
  return kernelOf('elementwise', name, SIGNATURES[name]);
}

/** Blocks for `threads` threads' worth of work, at most one resident wave (CTAS_PER_SM per SM). */
function blocksFor(threads: number): number {
  return Math.max(1, Math.min(Math.ceil(threads / THREADS), CTAS_PER_SM * multiprocessors()));
}

/** An element-op launch over n elements: a thread per pack of 8, grid-stride. */
function over(stream: Stream, n: number): LaunchConfig {
  return { grid: blocksFor(Math.ceil(n / PACK)), block: THREADS, stream };
}

/** A row-op launch: a team of teamWidth(units) threads per row, grid-stride over the rows. */
function overRows(stream: Stream, rows: number, cols: number): LaunchConfig {
  return { grid: blocksFor(rows * teamWidth(rowUnits(cols))), block: THREADS, stream };
}

const f32Word = new Float32Array(1);
const f32Bits = new Uint32Array(f32Word.buffer);

/** The bits of `value` rounded to f32. */
function floatBits(value: number): number {
  f32Word[0] = value;
  return f32Bits[0]!;
}

/** The bits of `value` rounded to f32, then to bf16 (nearest even), as a device store rounds it. */
function bf16Bits(value: number): number {
  return bf16BitsOfWord(floatBits(value));
}

/**
 * out[0..n) = value: f32 and bf16 round the value (to bf16 through f32, nearest even); i32 takes an
 * integer in the int32 range.
 */
export function fill(stream: Stream, out: Tensor, value: number, n: number): void {
  checkCount('fill n', n);
  const o = deviceTensor(out, 'fill.out', ['f32', 'bf16', 'i32'], n);
  if (o.dtype === 'bf16') {
    kernel('ew_fill_b16').launch(over(stream, n), o, bf16Bits(value), n);
    return;
  }
  if (o.dtype === 'i32' && !(Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31)) {
    throw new RangeError(`fill: expected an int32 value for i32 tensor "${o.name}", got ${value}`);
  }
  kernel('ew_fill_b32').launch(over(stream, n), o, o.dtype === 'i32' ? value >>> 0 : floatBits(value), n);
}

/** out[0..n) = x[0..n), converting between f32 and bf16 as the two dtypes say (nearest even). */
export function copy(stream: Stream, out: Tensor, x: Tensor, n: number): void {
  checkCount('copy n', n);
  const o = deviceTensor(out, 'copy.out', FLOAT, n);
  const xx = deviceTensor(x, 'copy.x', FLOAT, n);
  kernel('ew_copy').launch(over(stream, n), o, bf16Flag(o), xx, bf16Flag(xx), n);
}

/** y[0..n) (+=) alpha · x[0..n), f32, computed in doubles and rounded once (the CPU's result exactly). */
export function axpy(stream: Stream, y: Tensor, x: Tensor, alpha: number, n: number): void {
  checkCount('axpy n', n);
  const yy = deviceTensor(y, 'axpy.y', ['f32'], n);
  const xx = deviceTensor(x, 'axpy.x', ['f32'], n);
  kernel('ew_axpy').launch(over(stream, n), yy, xx, alpha, n);
}

/** The kernels' (ids, cols) of an element op's padding rows (null and 1 without), checked against n. */
function paddingArgs(what: string, padding: PaddingRows | undefined, n: number): [PointerArg, number] {
  if (padding === undefined) return [NULL_PTR, 1];
  return [deviceTensor(padding.ids, `${what}.padding.ids`, ['i32'], paddingRowCount(what, padding, n)), padding.cols];
}

/** The ids of a row op's padding rows, or null. */
function rowIds(what: string, ids: Tensor | undefined, rows: number): PointerArg {
  return ids === undefined ? NULL_PTR : deviceTensor(ids, `${what}.ids`, ['i32'], rows);
}

/** out = a + b over n elements, all one dtype (f32 or bf16); out may alias a or b; 0 on `padding` rows. */
export function add(stream: Stream, out: Tensor, a: Tensor, b: Tensor, n: number, padding?: PaddingRows): void {
  checkCount('add n', n);
  const o = deviceTensor(out, 'add.out', FLOAT, n);
  const aa = deviceTensor(a, 'add.a', [o.dtype], n);
  const bb = deviceTensor(b, 'add.b', [o.dtype], n);
  const [ids, cols] = paddingArgs('add', padding, n);
  kernel('ew_add').launch(over(stream, n), o, aa, bb, bf16Flag(o), n, ids, cols);
}

/** out[r, :] = x[first + r·stride, :] for r < rows, rows of `cols` elements; any f32/bf16 pair. */
export function sliceRows(stream: Stream, out: Tensor, x: Tensor, rows: number, first: number, stride: number, cols: number): void {
  for (const [what, v] of [['rows', rows], ['first', first], ['stride', stride], ['cols', cols]] as const) checkCount(`sliceRows ${what}`, v);
  const o = deviceTensor(out, 'sliceRows.out', FLOAT, rows * cols);
  const xx = deviceTensor(x, 'sliceRows.x', FLOAT, rows === 0 ? 0 : (first + (rows - 1) * stride + 1) * cols);
  kernel('ew_slice_rows').launch(overRows(stream, rows, cols), o, bf16Flag(o), xx, bf16Flag(xx), rows, first, stride, cols);
}

/**
 * out[b, :] = x[first_b + len_b − 1, :] for b < B (`layout`: each sequence's last position), rows of
 * `cols` elements; zeros for an empty sequence, NaN for a malformed one (its last row outside x's
 * layout.rows rows); any f32/bf16 pair. out [B × cols], x [layout.rows × cols], layout.seqs i32 [B × 2].
 */
export function lastRows(stream: Stream, out: Tensor, x: Tensor, layout: SequenceRows, B: number, cols: number): void {
  for (const [what, v] of [['B', B], ['layout.rows', layout.rows], ['cols', cols]] as const) checkCount(`lastRows ${what}`, v);
  const o = deviceTensor(out, 'lastRows.out', FLOAT, B * cols);
  const xx = deviceTensor(x, 'lastRows.x', FLOAT, layout.rows * cols);
  const seqs = deviceTensor(layout.seqs, 'lastRows.layout.seqs', ['i32'], 2 * B);
  kernel('ew_last_rows').launch(overRows(stream, B, cols), o, bf16Flag(o), xx, bf16Flag(xx), seqs, B, layout.rows, cols);
}

/** out[r, :] = ids[r] ≠ 0 ? x[r, :] : 0 over rows of `cols`; out and x one dtype; out may alias x. */
export function maskPadded(stream: Stream, out: Tensor, x: Tensor, ids: Tensor, rows: number, cols: number): void {
  checkCount('maskPadded rows', rows);
  checkCount('maskPadded cols', cols);
  const o = deviceTensor(out, 'maskPadded.out', FLOAT, rows * cols);
  const xx = deviceTensor(x, 'maskPadded.x', [o.dtype], rows * cols);
  const id = deviceTensor(ids, 'maskPadded.ids', ['i32'], rows);
  kernel('ew_mask_padded').launch(overRows(stream, rows, cols), o, xx, id, bf16Flag(o), rows, cols);
}

/**
 * out = x · keep / (1 - p) over n elements, the mask of backend/philox.ts's DROP stream for `drop.key`
 * (bit for bit the CPU's; kept values are the double product rounded once, as the CPU's). Backward is
 * the same call on gradients. out and x one dtype; out may alias x; p = 0 copies. `padding` rows get 0.
 */
export function dropout(stream: Stream, out: Tensor, x: Tensor, n: number, drop: DropoutSpec, padding?: PaddingRows): void {
  checkCount('dropout n', n);
  const o = deviceTensor(out, 'dropout.out', FLOAT, n);
  const xx = deviceTensor(x, 'dropout.x', [o.dtype], n);
  const [ids, cols] = paddingArgs('dropout', padding, n);
  if (drop.p === 0) {
    if (o.ptr !== xx.ptr) kernel('ew_copy').launch(over(stream, n), o, bf16Flag(o), xx, bf16Flag(xx), n);
    // The copy's padding rows to 0: the mask writes only those rows in place.
    if (padding !== undefined) kernel('ew_mask_padded').launch(overRows(stream, n / cols, cols), o, o, ids, bf16Flag(o), n / cols, cols);
    return;
  }
  const { seed, step, site } = drop.key;
  // Key and counter words as uint32 bits, as the CPU's philox4x32 reads them (step reduced mod 2^32).
  kernel('ew_dropout').launch(
    over(stream, n), o, xx, bf16Flag(o), n, dropoutThreshold(drop.p), 1 / (1 - drop.p), seed >>> 0, step >>> 0, site >>> 0, stepCounters(drop), ids, cols,
  );
}

/** out = max(x, 0) (NaN gives 0, as the CPU's x > 0 ? x : 0); one dtype; out may alias x. */
export function reluForward(stream: Stream, out: Tensor, x: Tensor, n: number): void {
  checkCount('reluForward n', n);
  const o = deviceTensor(out, 'reluForward.out', FLOAT, n);
  const xx = deviceTensor(x, 'reluForward.x', [o.dtype], n);
  kernel('ew_relu_forward').launch(over(stream, n), o, xx, bf16Flag(o), n);
}

/** dx = dout · (out > 0), `out` the forward output (f32 or bf16); dx and dout one dtype; dx may alias dout. */
export function reluBackward(stream: Stream, dx: Tensor, dout: Tensor, out: Tensor, n: number): void {
  checkCount('reluBackward n', n);
  const d = deviceTensor(dx, 'reluBackward.dx', FLOAT, n);
  const dy = deviceTensor(dout, 'reluBackward.dout', [d.dtype], n);
  const o = deviceTensor(out, 'reluBackward.out', FLOAT, n);
  kernel('ew_relu_backward').launch(over(stream, n), d, dy, bf16Flag(d), o, bf16Flag(o), n);
}

/** out[r, :] += bias (in place) over rows of `cols`, padding rows (`ids`) left as they are; out f32 or bf16, bias f32. */
export function biasAdd(stream: Stream, out: Tensor, bias: Tensor, rows: number, cols: number, ids?: Tensor): void {
  checkCount('biasAdd rows', rows);
  checkCount('biasAdd cols', cols);
  const o = deviceTensor(out, 'biasAdd.out', FLOAT, rows * cols);
  const b = deviceTensor(bias, 'biasAdd.bias', ['f32'], cols);
  kernel('ew_bias_add').launch(overRows(stream, rows, cols), o, bf16Flag(o), b, rows, cols, rowIds('biasAdd', ids, rows));
}

/** How biasBackward runs: its row chunks, strips of columns, and whether the last CTA of a strip sums its chunks. */
export interface BiasBackwardLaunch extends ChunkPlan {
  readonly strips: number;
  /** Columns of a strip (the last may be narrower). */
  readonly stripCols: number;
  /** One launch: each strip's last CTA adds the chunks' partials (chunks > 1 and few partials: tailSums). */
  readonly tail: boolean;
}

/** biasBackward's launch over rows ≥ 1 of cols ≥ 1, from rows and cols alone. */
export function biasBackwardLaunch(rows: number, cols: number): BiasBackwardLaunch {
  const units = rowUnits(cols);
  const team = teamWidth(units);
  const stripCols = team * (cols / units);
  const strips = Math.ceil(units / team);
  const plan = biasBackwardPlan(rows, cols);
  return { ...plan, strips, stripCols, tail: plan.chunks > 1 && tailSums(plan.chunks * stripCols, strips) };
}

/**
 * dBias (+=) Σ_r dout[r, :] (dBias f32, dout f32 or bf16), deterministic without float atomics, in two
 * stages: a CTA per (strip of columns, chunk of rows: biasBackwardPlan) writes the chunk's column sums to
 * `scratch` (f32, ≥ REDUCE_SCRATCH_FLOATS elements, owned by the backend), then the chunks' sums are
 * added per column in a fixed order (kernels/column_sums.cuh): by each strip's last CTA to finish, which
 * counts itself on `counters` (i32 ≥ REDUCE_COUNTERS, 0 before and left 0: clearReduceCounters), when
 * the partials are few (biasBackwardLaunch), else by a second kernel; the same bits either way. One
 * chunk (few rows, or cols > REDUCE_SCRATCH_FLOATS / 2) adds straight into dBias. The result depends on
 * rows, cols and the values only: bit-identical run to run and on every GPU. Padding rows (`ids`) count
 * as zeros.
 */
export function biasBackward(
  stream: Stream, dBias: Tensor, dout: Tensor, rows: number, cols: number, scratch: Tensor, counters: Tensor, ids?: Tensor,
): void {
  checkCount('biasBackward rows', rows);
  checkCount('biasBackward cols', cols);
  const db = deviceTensor(dBias, 'biasBackward.dBias', ['f32'], cols);
  const dy = deviceTensor(dout, 'biasBackward.dout', FLOAT, rows * cols);
  const s = deviceTensor(scratch, 'biasBackward.scratch', ['f32'], REDUCE_SCRATCH_FLOATS);
  const counts = reduceCounters(counters, 'biasBackward');
  const pad = rowIds('biasBackward', ids, rows);
  if (rows === 0 || cols === 0) return;
  const { chunks, rowsPerChunk, strips, tail } = biasBackwardLaunch(rows, cols);
  const split = chunks > 1;
  kernel('ew_bias_backward').launch(
    { grid: [strips, chunks, 1], block: BIAS_THREADS, stream },
    db, split ? s : NULL_PTR, tail ? counts : NULL_PTR, dy, bf16Flag(dy), rows, cols, rowsPerChunk, pad,
  );
  if (split && !tail) {
    kernel('ew_bias_backward_sum').launch({ grid: Math.ceil(cols / SUM_LANES), block: SUM_LANES * SUM_PHASES, stream }, db, s, chunks, cols);
  }
}
