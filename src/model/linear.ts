/**
 * A linear layer over the ops interface, PyTorch's convention: y = x · Wᵀ + b with W [out × in].
 * Forward overwrites y; backward accumulates dW and db (+=) and writes or accumulates dx.
 */
import type { Ops, Tensor } from '../backend/ops.js';

/** A linear layer's parameters and their gradients. */
export interface LinearParams {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly dWeight: Tensor;
  readonly dBias: Tensor;
}

/**
 * y [N × out] = x [N × in] · Wᵀ + b. With `ids` (the batch's, [N]), rows whose id is 0 may be computed as
 * if x's row were zero (y = b): pass them where those rows are padding whose results do not matter.
 */
export function linearForward(ops: Ops, y: Tensor, x: Tensor, p: LinearParams, N: number, inF: number, outF: number, ids?: Tensor): void {
  ops.matmul(y, x, p.weight, N, outF, inF, { transB: true, ...rowIds(ids) });
  ops.biasAdd(y, p.bias, N, outF);
}

/**
 * dW (+=) dyᵀ · x, db (+=) Σ dy, dx (= or += with `accumulateDx`) dy · W. With `ids`, rows whose id is 0
 * may be taken as zero rows of dy in dW and dx (never in db): pass them where dy or x is zero on those
 * rows, or their dx does not matter.
 */
export function linearBackward(
  ops: Ops, dx: Tensor, p: LinearParams, dy: Tensor, x: Tensor, N: number, inF: number, outF: number, accumulateDx: boolean, ids?: Tensor,
): void {
  ops.matmul(p.dWeight, dy, x, outF, inF, N, { transA: true, accumulate: true, ...rowIds(ids) });
  ops.biasBackward(p.dBias, dy, N, outF);
  ops.matmul(dx, dy, p.weight, N, inF, outF, { accumulate: accumulateDx, ...rowIds(ids) });
}

function rowIds(ids: Tensor | undefined): { rowIds?: Tensor } {
  return ids === undefined ? {} : { rowIds: ids };
}
