/**
 * A linear layer over the ops interface, PyTorch's convention: y = x · Wᵀ + b with W [out × in].
 * Forward overwrites y; backward accumulates dW and db (+=) (linearParamGrads) and writes or accumulates
 * dx (linearInputGrad).
 */
import type { MatmulEpilogue, Ops, Tensor } from '../backend/ops.js';

/** A linear layer's parameters and their gradients. */
export interface LinearParams {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly dWeight: Tensor;
  readonly dBias: Tensor;
}

/**
 * How a layer may skip the batch's padding rows (ids [N], 0 = padding): its GEMM rows and its bias
 * gradient skip them. There either x (forward) and dy (backward) are zero, or the results do not matter.
 */
export interface LinearPadding {
  readonly ids: Tensor;
}

/**
 * y [N × out] = x [N × in] · Wᵀ + b, padding rows as `padding` says, then `epilogue` (ops.ts
 * MatmulEpilogue: ReLU, dropout, a residual sum, padding rows zeroed, a layer norm) in the same GEMM. The
 * bias is added in the GEMM's epilogue (one kernel, not two), so without epilogue.padding a padding row
 * holds b, not 0. That is harmless, because in transformer-block.ts no such row reaches the output or a
 * weight gradient:
 * - q, k and v: attention reads no padding row (padding queries are not computed, SASRec's padding keys
 *   are the biases themselves, handed to it as vectors);
 * - attn_out, ffn1 and ffn2: their epilogues write 0 on padding rows.
 * Backward leaves padding rows out of db: their dy is 0 there or not the layer's gradient at all.
 */
export function linearForward(
  ops: Ops, y: Tensor, x: Tensor, p: LinearParams, N: number, inF: number, outF: number, padding?: LinearPadding, epilogue?: MatmulEpilogue,
): void {
  ops.matmul(y, x, p.weight, N, outF, inF, { transB: true, bias: p.bias, ...rowIds(padding), ...(epilogue === undefined ? {} : { epilogue }) });
}

/**
 * dW (+=) dyᵀ · x and db (+=) Σ dy, padding rows as `padding` says: the parameter gradients, which
 * nothing reads before the optimiser step, so callers may fork them (Ops.fork) beside the rest of the
 * backward.
 */
export function linearParamGrads(
  ops: Ops, p: LinearParams, dy: Tensor, x: Tensor, N: number, inF: number, outF: number, padding?: LinearPadding,
): void {
  ops.matmul(p.dWeight, dy, x, outF, inF, N, { transA: true, accumulate: true, ...rowIds(padding) });
  ops.biasBackward(p.dBias, dy, N, outF, padding?.ids);
}

/**
 * dx (= or += with `accumulateDx`) dy · W, padding rows as `padding` says; `dxEpilogue` (ops.ts
 * MatmulEpilogue; not with accumulateDx) applies to dx in its GEMM, so that the backward of what
 * precedes the layer (a dropout and ReLU: the gate) costs no op of its own.
 */
export function linearInputGrad(
  ops: Ops, dx: Tensor, p: LinearParams, dy: Tensor, N: number, inF: number, outF: number, accumulateDx: boolean,
  padding?: LinearPadding, dxEpilogue?: MatmulEpilogue,
): void {
  ops.matmul(dx, dy, p.weight, N, inF, outF, {
    accumulate: accumulateDx, ...rowIds(padding), ...(dxEpilogue === undefined ? {} : { epilogue: dxEpilogue }),
  });
}

function rowIds(padding: LinearPadding | undefined): { rowIds?: Tensor } {
  return padding === undefined ? {} : { rowIds: padding.ids };
}
