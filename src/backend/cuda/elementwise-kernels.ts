/**
 * Launchers of kernels/elementwise.cu: fill, copy, axpy, add, sliceRows, maskPadded, dropout, ReLU and
 * bias, each with the name and argument order of its Ops method (outputs, inputs, dimensions) after
 * the stream. The kernel file's header holds the contract (dtypes, aliasing, what accumulates); the
 * CPU references are backend/cpu/elementwise.ts, dropout.ts and cpu-ops.ts.
 *
 * Floating operands are f32 or bf16 (the kernels take a dtype flag each); where an op says "same
 * dtype", the inputs must match the output. Element-by-element ops run a grid-stride loop over n;
 * row ops (sliceRows, maskPadded, biasAdd) give each warp whole rows.
 */
import type { LaunchConfig } from '../../cuda/kernel-function.js';
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { DropoutSpec, Tensor } from '../ops.js';
import { dropoutThreshold } from '../philox.js';
import { deviceTensor } from './cuda-tensor.js';
import { bf16Flag, checkCount, kernelOf, stepCounters, strideGrid } from './launch.js';

const SIGNATURES = {
  ew_fill_b32: ['out:ptr', 'bits:u32', 'n:i64'],
  ew_fill_b16: ['out:ptr', 'bits:u32', 'n:i64'],
  ew_copy: ['out:ptr', 'out_bf16:i32', 'x:ptr', 'x_bf16:i32', 'n:i64'],
  ew_axpy: ['y:ptr', 'x:ptr', 'alpha:f64', 'n:i64'],
  ew_add: ['out:ptr', 'a:ptr', 'b:ptr', 'bf16:i32', 'n:i64'],
  ew_slice_rows: ['out:ptr', 'out_bf16:i32', 'x:ptr', 'x_bf16:i32', 'rows:i32', 'first:i32', 'stride:i32', 'cols:i32'],
  ew_mask_padded: ['out:ptr', 'x:ptr', 'ids:ptr', 'bf16:i32', 'rows:i32', 'cols:i32'],
  ew_dropout: ['out:ptr', 'x:ptr', 'bf16:i32', 'n:i64', 'threshold:u32', 'scale:f64', 'seed:u32', 'step:u32', 'site:u32', 'counters:ptr'],
  ew_relu_forward: ['out:ptr', 'x:ptr', 'bf16:i32', 'n:i64'],
  ew_relu_backward: ['dx:ptr', 'dout:ptr', 'd_bf16:i32', 'out:ptr', 'out_bf16:i32', 'n:i64'],
  ew_bias_add: ['out:ptr', 'out_bf16:i32', 'bias:ptr', 'rows:i32', 'cols:i32'],
  ew_bias_backward: ['dbias:ptr', 'dout:ptr', 'dout_bf16:i32', 'rows:i32', 'cols:i32'],
} as const satisfies Record<string, KernelSignature>;

type KernelName = keyof typeof SIGNATURES;

/** Threads per CTA of the grid-stride and row kernels (8 warps: 8 rows at a time). */
const THREADS = 256;

/** BIAS_THREADS and BIAS_STRIP_BYTES of kernels/elementwise.cu: a CTA per 16 bytes of columns. */
const BIAS_THREADS = 1024;
const BIAS_STRIP_BYTES = 16;

const FLOAT = ['f32', 'bf16'] as const;

function kernel<K extends KernelName>(name: K) {
  return kernelOf('elementwise', name, SIGNATURES[name]);
}

/** A grid-stride launch over `items` work items. */
function over(stream: Stream, items: number): LaunchConfig {
  return { grid: strideGrid(items, THREADS), block: THREADS, stream };
}

/** A launch with a warp per row. */
function overRows(stream: Stream, rows: number): LaunchConfig {
  return over(stream, rows * 32);
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
  if (Number.isNaN(value)) return 0x7fc0;
  const b = floatBits(value);
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
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

/** out = a + b over n elements, all one dtype (f32 or bf16); out may alias a or b. */
export function add(stream: Stream, out: Tensor, a: Tensor, b: Tensor, n: number): void {
  checkCount('add n', n);
  const o = deviceTensor(out, 'add.out', FLOAT, n);
  const aa = deviceTensor(a, 'add.a', [o.dtype], n);
  const bb = deviceTensor(b, 'add.b', [o.dtype], n);
  kernel('ew_add').launch(over(stream, n), o, aa, bb, bf16Flag(o), n);
}

/** out[r, :] = x[first + r·stride, :] for r < rows, rows of `cols` elements; any f32/bf16 pair. */
export function sliceRows(stream: Stream, out: Tensor, x: Tensor, rows: number, first: number, stride: number, cols: number): void {
  for (const [what, v] of [['rows', rows], ['first', first], ['stride', stride], ['cols', cols]] as const) checkCount(`sliceRows ${what}`, v);
  const o = deviceTensor(out, 'sliceRows.out', FLOAT, rows * cols);
  const xx = deviceTensor(x, 'sliceRows.x', FLOAT, rows === 0 ? 0 : (first + (rows - 1) * stride + 1) * cols);
  kernel('ew_slice_rows').launch(overRows(stream, rows), o, bf16Flag(o), xx, bf16Flag(xx), rows, first, stride, cols);
}

/** out[r, :] = ids[r] ≠ 0 ? x[r, :] : 0 over rows of `cols`; out and x one dtype; out may alias x. */
export function maskPadded(stream: Stream, out: Tensor, x: Tensor, ids: Tensor, rows: number, cols: number): void {
  checkCount('maskPadded rows', rows);
  checkCount('maskPadded cols', cols);
  const o = deviceTensor(out, 'maskPadded.out', FLOAT, rows * cols);
  const xx = deviceTensor(x, 'maskPadded.x', [o.dtype], rows * cols);
  const id = deviceTensor(ids, 'maskPadded.ids', ['i32'], rows);
  kernel('ew_mask_padded').launch(overRows(stream, rows), o, xx, id, bf16Flag(o), rows, cols);
}

/**
 * out = x · keep / (1 - p) over n elements, the mask of backend/philox.ts's DROP stream for `drop.key`
 * (bit for bit the CPU's; kept values are the double product rounded once, as the CPU's). Backward is
 * the same call on gradients. out and x one dtype; out may alias x; p = 0 copies.
 */
export function dropout(stream: Stream, out: Tensor, x: Tensor, n: number, drop: DropoutSpec): void {
  checkCount('dropout n', n);
  const o = deviceTensor(out, 'dropout.out', FLOAT, n);
  const xx = deviceTensor(x, 'dropout.x', [o.dtype], n);
  if (drop.p === 0) {
    if (o.ptr !== xx.ptr) kernel('ew_copy').launch(over(stream, n), o, bf16Flag(o), xx, bf16Flag(xx), n);
    return;
  }
  const { seed, step, site } = drop.key;
  // Key and counter words as uint32 bits, as the CPU's philox4x32 reads them (step reduced mod 2^32).
  kernel('ew_dropout').launch(
    over(stream, Math.ceil(n / 4)), o, xx, bf16Flag(o), n, dropoutThreshold(drop.p), 1 / (1 - drop.p), seed >>> 0, step >>> 0, site >>> 0, stepCounters(drop),
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

/** out[r, :] += bias (in place) over rows of `cols`; out f32 or bf16, bias f32. */
export function biasAdd(stream: Stream, out: Tensor, bias: Tensor, rows: number, cols: number): void {
  checkCount('biasAdd rows', rows);
  checkCount('biasAdd cols', cols);
  const o = deviceTensor(out, 'biasAdd.out', FLOAT, rows * cols);
  const b = deviceTensor(bias, 'biasAdd.bias', ['f32'], cols);
  kernel('ew_bias_add').launch(overRows(stream, rows), o, bf16Flag(o), b, rows, cols);
}

/**
 * dBias (+=) Σ_r dout[r, :] (dBias f32, dout f32 or bf16), deterministic: a CTA per 16-byte strip of
 * columns (4 f32 or 8 bf16 columns) sums its rows in a fixed order, so there are ⌈cols / strip⌉ CTAs
 * (16 at cols = 64 in f32, 8 in bf16), each with 32 warps × 8 loads of 128 bytes in flight: by
 * Little's law a few hundred GB/s at 25,600 × 64 (tens of µs), short of the full bandwidth, which
 * would need a split over rows and a workspace.
 */
export function biasBackward(stream: Stream, dBias: Tensor, dout: Tensor, rows: number, cols: number): void {
  checkCount('biasBackward rows', rows);
  checkCount('biasBackward cols', cols);
  const db = deviceTensor(dBias, 'biasBackward.dBias', ['f32'], cols);
  const dy = deviceTensor(dout, 'biasBackward.dout', FLOAT, rows * cols);
  const strip = BIAS_STRIP_BYTES / (dy.dtype === 'bf16' ? 2 : 4);
  kernel('ew_bias_backward').launch(
    { grid: Math.max(1, Math.ceil(cols / strip)), block: BIAS_THREADS, stream }, db, dy, bf16Flag(dy), rows, cols,
  );
}
