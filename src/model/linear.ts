/**
 * A linear layer over the ops interface, PyTorch's convention: y = x · Wᵀ + b with W [out × in].
 * Forward overwrites y; backward accumulates dW and db (+=) and writes or accumulates dx.
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
 * How a layer may skip the batch's padding rows (ids [N], 0 = padding). Its GEMM rows always may: there
 * either x (forward) and dy (backward) are zero, or the results do not matter. `bias` says whether the
 * padding rows' outputs are still needed ('keep': their value is the bias, as for attention's keys and
 * values, which SASRec's attention sees) or not ('skip': then the bias gradient skips them; forward still
 * writes the bias there, which is harmless, see linearForward).
 */
export interface LinearPadding {
  readonly ids: Tensor;
  readonly bias: 'keep' | 'skip';
}

/**
 * y [N × out] = x [N × in] · Wᵀ + b, padding rows as `padding` says, then `epilogue` (ops.ts
 * MatmulEpilogue: ReLU, dropout, a residual sum, padding rows zeroed) in the same GEMM. The bias is added
 * in the GEMM's epilogue (one kernel, not two), so without epilogue.padding a padding row holds b, not 0,
 * in both modes. For 'skip' that is harmless, because in transformer-block.ts no such row reaches the
 * output or a weight gradient:
 * - q: attention computes no padding query row (out 0, dq 0), so those q rows only ever meet P = 0;
 * - attn_out, ffn1 and ffn2: their epilogues write 0 on padding rows.
 * A zero id after a sequence's start (never in built batches) is computed by attention, and its row is
 * zeroed by the same epilogues. Backward still leaves padding rows out of db: their dy is 0 there, so the
 * sum is the same.
 */
export function linearForward(
  ops: Ops, y: Tensor, x: Tensor, p: LinearParams, N: number, inF: number, outF: number, padding?: LinearPadding, epilogue?: MatmulEpilogue,
): void {
  ops.matmul(y, x, p.weight, N, outF, inF, { transB: true, bias: p.bias, ...rowIds(padding), ...(epilogue === undefined ? {} : { epilogue }) });
}

/**
 * dW (+=) dyᵀ · x, db (+=) Σ dy, dx (= or += with `accumulateDx`) dy · W, padding rows as `padding` says;
 * `dxEpilogue` (ops.ts MatmulEpilogue; not with accumulateDx) applies to dx in its GEMM, so that the
 * backward of what precedes the layer (a dropout and ReLU: the gate) costs no op of its own.
 */
export function linearBackward(
  ops: Ops, dx: Tensor, p: LinearParams, dy: Tensor, x: Tensor, N: number, inF: number, outF: number, accumulateDx: boolean,
  padding?: LinearPadding, dxEpilogue?: MatmulEpilogue,
): void {
  ops.matmul(p.dWeight, dy, x, outF, inF, N, { transA: true, accumulate: true, ...rowIds(padding) });
  ops.biasBackward(p.dBias, dy, N, outF, biasIds(padding));
  ops.matmul(dx, dy, p.weight, N, inF, outF, {
    accumulate: accumulateDx, ...rowIds(padding), ...(dxEpilogue === undefined ? {} : { epilogue: dxEpilogue }),
  });
}

function rowIds(padding: LinearPadding | undefined): { rowIds?: Tensor } {
  return padding === undefined ? {} : { rowIds: padding.ids };
}

function biasIds(padding: LinearPadding | undefined): Tensor | undefined {
  return padding?.bias === 'skip' ? padding.ids : undefined;
}
