/**
 * ce through CCE's pass: under 'bf16' math the materialised ce never materialises its logits. CCE's
 * forward (kernels/cce.cu cce_forward_grad) gives lse, the row losses and the unscaled row gradient
 * dh_raw from fp32 scores of bf16 operands; dH = scale · dh_raw. The table's part of the backward then
 * writes G = softmax − onehot (bf16, unscaled; cce_write_grad) into ce's logits buffer [N × P], which the
 * table GEMM reads as before: the step runs that part beside the model's backward (side stream), so
 * only the forward stays on the step's path. This replaces
 * the logits GEMM, ce_rows and the dH GEMM (materialised-losses.ts keeps them for 'fp32' math and wider d).
 * Numerics: p = exp(s − lse) of fp32 scores, as cce's, not a softmax of logits rounded to bf16.
 */
import type { Stream } from '../../cuda/stream.js';
import type { MaterialisedLossKind } from '../loss-kinds.js';
import type { TensorSpec } from '../memory-plan.js';
import type { Tensor, TensorLookup } from '../ops.js';
import { CCE_WRITE_GRAD_MAX_WIDTH, cceForward, cceHiddenGrad, cceWriteGrad } from './cce-kernels.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import type { GemmMath } from './gemm-kernels.js';
import { NULL_PTR } from './launch.js';

/**
 * The widest d whose ce runs through CCE's pass. The pass trades the logits' traffic (ce_rows' read and
 * write, the dH GEMM's read: ~3 × N·P·2 bytes) for a second product over the catalogue (cce_write_grad
 * recomputes the scores: 2·N·P·d flops); the trade is best at small d (ML-1M, d = 64: 127 MB against 8
 * GFLOP), closest to even at d = 256 (ML-20M: 852 MB against 218 GFLOP). Every instantiated width for now
 * (CCE_WRITE_GRAD_MAX_WIDTH).
 */
const CE_THROUGH_CCE_MAX_WIDTH = CCE_WRITE_GRAD_MAX_WIDTH;

/**
 * Whether ce runs through CCE's pass instead of the logits GEMM, ce_rows and the dH GEMM: under 'bf16'
 * math, for d ≤ CE_THROUGH_CCE_MAX_WIDTH. 'fp32' math (f32 logits through the GEMMs) and wider d keep
 * the GEMM path.
 */
export function ceThroughCce(kind: MaterialisedLossKind, math: GemmMath, d: number): boolean {
  return kind === 'ce' && math === 'bf16' && d <= CE_THROUGH_CCE_MAX_WIDTH;
}

/**
 * What the pass adds to ce's workspace for up to N rows: lse [N] and the unscaled row gradient dh_raw
 * [N × d], f32 (cuda-losses.ts adds h's bf16 copy where h is f32). No forward partials: the pass runs the
 * forward unsplit, so no row count can ask for more than was planned.
 */
export function ceThroughCceSpecs(N: number, d: number): TensorSpec[] {
  return [
    { name: 'lse', shape: [N], dtype: 'f32' },
    { name: 'dh_raw', shape: [N, d], dtype: 'f32' },
  ];
}

function f32(ws: TensorLookup, name: string, size: number): CudaTensor {
  return deviceTensor(ws.get(name), `workspace.${name}`, ['f32'], size);
}

/** Throws unless h is bf16 (cuda-losses.ts makes the copy) and the padded table is bf16 of at least V + 1 rows. */
function checkOperands(h: CudaTensor, tablePad: CudaTensor, V: number, d: number): void {
  if (h.dtype !== 'bf16') throw new TypeError(`ce through CCE's pass reads a bf16 h (cuda-losses.ts makes the copy), got ${h.dtype}`);
  deviceTensor(tablePad, 'workspace.table_pad', ['bf16'], (V + 1) * d);
}

/**
 * rowLoss [N] (f32) and the workspace's lse and dh_raw from h [N × d] (bf16), the padded table [P × d]
 * (bf16; its rows 0..V are the table's) and targets [N].
 */
export function ceThroughCceForward(
  stream: Stream, rowLoss: CudaTensor, workspace: TensorLookup,
  h: CudaTensor, tablePad: CudaTensor, targets: CudaTensor, N: number, V: number, d: number,
): void {
  checkOperands(h, tablePad, V, d);
  // Unsplit (null partial; none planned), no bounds (ce's backward runs no cce_table_grad).
  cceForward(stream, f32(workspace, 'lse', N), rowLoss, f32(workspace, 'dh_raw', N * d), { minLse: NULL_PTR, tileMax: null }, NULL_PTR, h, tablePad, targets, N, V, d);
}

/**
 * After ceThroughCceForward with the same operands: G = softmax − onehot (bf16, unscaled) into `logits`
 * [N × P] (P a multiple of 8, 16-byte aligned) from the workspace's lse.
 */
export function ceThroughCceWriteGrad(
  stream: Stream, logits: CudaTensor, workspace: TensorLookup,
  h: CudaTensor, tablePad: CudaTensor, targets: CudaTensor, N: number, V: number, d: number, P: number,
): void {
  checkOperands(h, tablePad, V, d);
  deviceTensor(logits, 'workspace.logits', ['bf16'], N * P);
  // cce_write_grad stores 16-byte vectors: every row of the logits (P % 8 == 0) starts aligned.
  if (logits.ptr % 16n !== 0n) throw new RangeError('workspace.logits: expected a 16-byte aligned view for cce_write_grad');
  cceWriteGrad(stream, logits, P, h, tablePad, targets, f32(workspace, 'lse', N), N, V, d);
}

/** dH [N × d] (overwrite, f32 or bf16) = scale · the forward's dh_raw. */
export function ceThroughCceHiddenGrad(stream: Stream, dH: Tensor, workspace: TensorLookup, N: number, d: number, scale: number): void {
  const gradH = deviceTensor(dH, 'lossBackward.dH', ['f32', 'bf16'], N * d);
  cceHiddenGrad(stream, gradH, gradH.dtype === 'bf16', f32(workspace, 'dh_raw', N * d), N * d, scale);
}
