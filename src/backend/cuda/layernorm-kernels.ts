/**
 * Launchers of kernels/layernorm.cu: layer normalisation over the last dimension, a warp per row for the
 * forward and the input gradient, a CTA per strip of 8 columns for the weight and bias gradients (a fixed
 * summation order: deterministic without atomics or workspace). The kernel file's header holds the
 * contract. Arguments as the ops methods: outputs, inputs, dimensions, after the stream.
 */
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { Tensor } from '../ops.js';
import { deviceTensor } from './cuda-tensor.js';
import { bf16Flag, checkCount, kernelOf, strideGrid } from './launch.js';

const SIGNATURES = {
  forward: [
    'out:ptr', 'out_bf16:i32', 'mean:ptr', 'rstd:ptr', 'x:ptr', 'x_bf16:i32', 'weight:ptr', 'bias:ptr', 'rows:i32', 'cols:i32', 'eps:f32',
  ],
  backwardDx: [
    'dx:ptr', 'dout:ptr', 'dout_bf16:i32', 'x:ptr', 'x_bf16:i32', 'weight:ptr', 'mean:ptr', 'rstd:ptr', 'rows:i32', 'cols:i32',
  ],
  backwardParams: [
    'd_weight:ptr', 'd_bias:ptr', 'dout:ptr', 'dout_bf16:i32', 'x:ptr', 'x_bf16:i32', 'mean:ptr', 'rstd:ptr', 'rows:i32', 'cols:i32',
  ],
} as const satisfies Record<string, KernelSignature>;

/** LN_ROW_WARPS of the .cu: rows (warps) per CTA of the row kernels. */
const ROW_WARPS = 8;
/** LN_STRIP and LN_PARAM_THREADS: columns and threads per CTA of the parameter gradients. */
const STRIP = 8;
const PARAM_THREADS = 1024;

function kernel<K extends keyof typeof SIGNATURES>(name: string, kind: K): KernelFunction<(typeof SIGNATURES)[K]> {
  return kernelOf('layernorm', name, SIGNATURES[kind]);
}

function checkShape(what: string, rows: number, cols: number): void {
  checkCount(`${what}: rows`, rows);
  if (!Number.isInteger(cols) || cols < 1) throw new RangeError(`${what}: expected cols ≥ 1, got ${cols}`);
  checkCount(`${what}: rows·cols`, rows * cols);
}

/**
 * out = (x - mean) · rstd · weight + bias per row (overwrite; out must not alias x), with mean and the
 * biased variance over the row and rstd = 1 / sqrt(var + eps); writes mean[rows] and rstd[rows] for
 * backward. x and out f32 or bf16 (any pair); mean, rstd, weight, bias f32.
 */
export function layerNormForward(
  stream: Stream, out: Tensor, mean: Tensor, rstd: Tensor, x: Tensor, weight: Tensor, bias: Tensor,
  rows: number, cols: number, eps: number,
): void {
  checkShape('layerNormForward', rows, cols);
  const n = rows * cols;
  const o = deviceTensor(out, 'layerNormForward.out', ['f32', 'bf16'], n);
  const mu = deviceTensor(mean, 'layerNormForward.mean', ['f32'], rows);
  const rs = deviceTensor(rstd, 'layerNormForward.rstd', ['f32'], rows);
  const xs = deviceTensor(x, 'layerNormForward.x', ['f32', 'bf16'], n);
  const w = deviceTensor(weight, 'layerNormForward.weight', ['f32'], cols);
  const b = deviceTensor(bias, 'layerNormForward.bias', ['f32'], cols);
  if (rows === 0) return;
  kernel('layer_norm_forward', 'forward').launch(
    { grid: strideGrid(rows, ROW_WARPS), block: 32 * ROW_WARPS, stream }, o, bf16Flag(o), mu, rs, xs, bf16Flag(xs), w, b, rows, cols, eps,
  );
}

/**
 * dx (+=) the input gradient, dWeight (+=) Σ_r dout · x̂, dBias (+=) Σ_r dout, with x̂ = (x - mean) · rstd
 * from the forward's mean and rstd. dx, dWeight, dBias f32; dout and x f32 or bf16; weight, mean, rstd
 * f32. Deterministic: every sum has a fixed order.
 */
export function layerNormBackward(
  stream: Stream, dx: Tensor, dWeight: Tensor, dBias: Tensor, dout: Tensor, x: Tensor,
  weight: Tensor, mean: Tensor, rstd: Tensor, rows: number, cols: number,
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
  if (rows === 0) return;
  kernel('layer_norm_backward_dx', 'backwardDx').launch(
    { grid: strideGrid(rows, ROW_WARPS), block: 32 * ROW_WARPS, stream }, gx, g, bf16Flag(g), xs, bf16Flag(xs), w, mu, rs, rows, cols,
  );
  kernel('layer_norm_backward_params', 'backwardParams').launch(
    { grid: Math.ceil(cols / STRIP), block: PARAM_THREADS, stream }, gw, gb, g, bf16Flag(g), xs, bf16Flag(xs), mu, rs, rows, cols,
  );
}
