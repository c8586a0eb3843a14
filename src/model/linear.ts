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

/** y [N × out] = x [N × in] · Wᵀ + b. */
export function linearForward(ops: Ops, y: Tensor, x: Tensor, p: LinearParams, N: number, inF: number, outF: number): void {
  ops.matmul(y, x, p.weight, N, outF, inF, { transB: true });
  ops.biasAdd(y, p.bias, N, outF);
}

/** dW (+=) dyᵀ · x, db (+=) Σ dy, dx (= or += with `accumulateDx`) dy · W. */
export function linearBackward(
  ops: Ops, dx: Tensor, p: LinearParams, dy: Tensor, x: Tensor, N: number, inF: number, outF: number, accumulateDx: boolean,
): void {
  ops.matmul(p.dWeight, dy, x, outF, inF, N, { transA: true, accumulate: true });
  ops.biasBackward(p.dBias, dy, N, outF);
  ops.matmul(dx, dy, p.weight, N, inF, outF, { accumulate: accumulateDx });
}
