/** The tensors a GPU loss test hands the loss ops (cce.test.ts, sce.test.ts): host-side specs only. */
import { GEMM_SCRATCH_FLOATS } from '../../src/backend/cuda/gemm-kernels.js';
import type { DType, TensorSpec } from '../../src/backend/memory-plan.js';
import type { LossDims } from '../../src/backend/ops.js';

/**
 * The specs of a loss test's `io` group: h [N × d] and the table [(V+1) × d] in `operands`, targets [N],
 * the loss [1], dH and dTable in `out`, then `extra` (a test's own inputs), then the GEMM scratch (whose
 * counters the test clears: clearGemmCounters).
 */
export function lossIoSpecs(dims: LossDims, operands: DType, out: DType, extra: readonly TensorSpec[] = []): TensorSpec[] {
  const { rows: N, items: V, hidden: d } = dims;
  return [
    { name: 'h', shape: [N, d], dtype: operands },
    { name: 'table', shape: [V + 1, d], dtype: operands },
    { name: 'targets', shape: [N], dtype: 'i32' },
    { name: 'loss', shape: [1], dtype: 'f32' },
    { name: 'dH', shape: [N, d], dtype: out },
    { name: 'dTable', shape: [V + 1, d], dtype: out },
    ...extra,
    { name: 'scratch', shape: [GEMM_SCRATCH_FLOATS], dtype: 'f32' },
  ];
}
