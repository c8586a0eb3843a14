/**
 * The CUDA backend's loss entries (ops.ts, "losses") for the streamed losses: cce (kernels/cce.cu),
 * cce- and bce+ (kernels/cce_sampled.cu). The materialised ce, ce- and bce come with the GPU trainer.
 *
 * Operands: h and the table in bf16 (what the tensor cores take), targets i32, loss f32 [1]. dH f32 or
 * bf16; dTable f32 or bf16 for cce, f32 for the sampled losses (their items accumulate atomically).
 * The workspace is where the memory goes beyond inputs and gradients:
 * - cce: lse and row losses [N], the unscaled row gradient [N × d] (the forward computes it on the
 *   tiles it already holds, so the backward makes one pass over the catalogue, not two), and, when V
 *   is small against the GPU, split-N partials of the table gradient (at most 2·SMs·128·d floats);
 *   with a gradient filter, the bounds of the backward's tile skip: one bf16 per (row block, item
 *   tile) of the forward, N·V·2/(R·BS) bytes (N·V/2048 with 64 × 64 tiles: 27 MB at N = 32768,
 *   V = 1.66 M), and one f32 per row block. The workspace must be planned with the filter it runs with.
 * - cce-, bce+: the same [N] and [N × d], and the CSR of the draws: counts/offsets/cursor [V + 2] and
 *   row indices [N · (n + 1)] (int32; no logits of either shape).
 */
import type { TensorSpec } from '../memory-plan.js';
import type { LossDims, LossParams, Tensor, TensorGroup } from '../ops.js';
import { cceForward, cceHiddenGrad, cceLossReduce, ccePlan, cceTableGrad, type CceTileBounds } from './cce-kernels.js';
import {
  sampledForward, sampledHiddenGrad, sampledLossReduce, sampledTableGrad, scanTiles,
  type SampledLoss, type SamplerArgs,
} from './cce-sampled-kernels.js';
import { deviceTensor } from './cuda-tensor.js';
import type { Stream } from '../../cuda/stream.js';

function unsupported(kind: string): never {
  throw new Error(`loss "${kind}" has no CUDA kernels yet (cce, cce- and bce+ do; the materialised ce, ce-, bce come with the GPU trainer)`);
}

function sampledKind(kind: LossParams['kind']): SampledLoss | null {
  return kind === 'cce-' || kind === 'bce+' ? kind : null;
}

/** The workspace specs of a loss on the current context's device. */
export function cudaLossWorkspace(params: Pick<LossParams, 'kind' | 'negatives' | 'gradientFilter'>, dims: LossDims): TensorSpec[] {
  const { rows: N, items: V, hidden: d } = dims;
  const common: TensorSpec[] = [
    { name: 'lse', shape: [N], dtype: 'f32' },
    { name: 'row_loss', shape: [N], dtype: 'f32' },
    { name: 'dh_raw', shape: [N, d], dtype: 'f32' },
  ];
  if (params.kind === 'cce') {
    const plan = ccePlan(N, V, d);
    const specs = [...common];
    if (plan.partialElements > 0) specs.push({ name: 'partial', shape: [plan.partialElements], dtype: 'f32' });
    if (filtered(params)) {
      specs.push({ name: 'tile_max', shape: [plan.tileMaxElements], dtype: 'bf16' }, { name: 'min_lse', shape: [plan.rowBlocks], dtype: 'f32' });
    }
    return specs;
  }
  if (sampledKind(params.kind) === null) unsupported(params.kind);
  const n = negativeCount(params);
  return [
    ...common,
    { name: 'counts', shape: [V + 1], dtype: 'i32' },
    { name: 'offsets', shape: [V + 2], dtype: 'i32' },
    { name: 'cursor', shape: [V + 1], dtype: 'i32' },
    { name: 'tile_sums', shape: [scanTiles(V)], dtype: 'i32' },
    { name: 'entries', shape: [N * (n + 1)], dtype: 'i32' },
  ];
}

function filtered(params: Pick<LossParams, 'gradientFilter'>): boolean {
  return (params.gradientFilter ?? 0) > 0;
}

/** The tile skip's bounds in the workspace (cce with a filter), else null. */
function tileBounds(workspace: TensorGroup, params: LossParams, N: number, V: number, d: number): CceTileBounds | null {
  if (!filtered(params)) return null;
  if (!workspace.plan.views.some((v) => v.spec.name === 'tile_max')) {
    throw new Error('cce with a gradientFilter needs its workspace planned with the filter: cudaLossWorkspace({ kind, gradientFilter }, dims)');
  }
  const plan = ccePlan(N, V, d);
  return {
    tileMax: deviceTensor(workspace.get('tile_max'), 'workspace.tile_max', ['bf16'], plan.tileMaxElements),
    minLse: deviceTensor(workspace.get('min_lse'), 'workspace.min_lse', ['f32'], plan.rowBlocks),
  };
}

function negativeCount(params: Pick<LossParams, 'kind' | 'negatives'>): number {
  const n = params.negatives?.count;
  if (n === undefined) throw new Error(`loss "${params.kind}" needs negatives`);
  return n;
}

function samplerOf(params: LossParams, V: number): SamplerArgs {
  const neg = params.negatives;
  if (neg === undefined) throw new Error(`loss "${params.kind}" needs negatives`);
  if (neg.sampling === 'popularity') {
    const t = neg.popularity;
    if (t === undefined) throw new Error(`loss "${params.kind}": popularity sampling needs its tables`);
    return {
      count: neg.count, seed: neg.seed, step: neg.step,
      prob: deviceTensor(t.prob, 'popularity.prob', ['i32'], V),
      alias: deviceTensor(t.alias, 'popularity.alias', ['i32'], V),
      logProb: deviceTensor(t.logProb, 'popularity.logProb', ['f32'], V + 1),
    };
  }
  return { count: neg.count, seed: neg.seed, step: neg.step, prob: null, alias: null, logProb: null };
}

function operands(h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, what: string) {
  const { rows: N, items: V, hidden: d } = dims;
  return {
    h: deviceTensor(h, `${what}.h`, ['bf16'], N * d),
    table: deviceTensor(table, `${what}.table`, ['bf16'], (V + 1) * d),
    targets: deviceTensor(targets, `${what}.targets`, ['i32'], N),
  };
}

/** loss[0] = the loss of `params` (mean over valid rows); fills the workspace for lossBackward. */
export function cudaLossForward(stream: Stream, loss: Tensor, workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, params: LossParams): void {
  const { rows: N, items: V, hidden: d } = dims;
  const x = operands(h, table, targets, dims, 'lossForward');
  const out = deviceTensor(loss, 'lossForward.loss', ['f32'], 1);
  const lse = deviceTensor(workspace.get('lse'), 'workspace.lse', ['f32'], N);
  const rowLoss = deviceTensor(workspace.get('row_loss'), 'workspace.row_loss', ['f32'], N);
  const dhRaw = deviceTensor(workspace.get('dh_raw'), 'workspace.dh_raw', ['f32'], N * d);
  const sampled = sampledKind(params.kind);
  if (params.kind === 'cce') {
    cceForward(stream, lse, rowLoss, dhRaw, tileBounds(workspace, params, N, V, d), x.h, x.table, x.targets, N, V, d, params.gradientFilter ?? 0);
    cceLossReduce(stream, out, rowLoss, N, params.validRows);
  } else if (sampled !== null) {
    sampledForward(stream, sampled, lse, rowLoss, dhRaw, x.h, x.table, x.targets, N, V, d, samplerOf(params, V));
    sampledLossReduce(stream, out, rowLoss, N, params.validRows);
  } else {
    unsupported(params.kind);
  }
}

/** After cudaLossForward with the same arguments: dH (overwrite) and dTable (+=) of dLoss · loss. */
export function cudaLossBackward(
  stream: Stream, dH: Tensor, dTable: Tensor, workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor,
  dims: LossDims, params: LossParams, dLoss: number,
): void {
  const { rows: N, items: V, hidden: d } = dims;
  const x = operands(h, table, targets, dims, 'lossBackward');
  const lse = deviceTensor(workspace.get('lse'), 'workspace.lse', ['f32'], N);
  const dhRaw = deviceTensor(workspace.get('dh_raw'), 'workspace.dh_raw', ['f32'], N * d);
  const gradH = deviceTensor(dH, 'lossBackward.dH', ['f32', 'bf16'], N * d);
  // The scale of the mean, in fp32, applied to fp32 accumulators at the end of each kernel.
  const scale = params.validRows > 0 ? dLoss / params.validRows : 0;
  const sampled = sampledKind(params.kind);
  if (params.kind === 'cce') {
    const gradTable = deviceTensor(dTable, 'lossBackward.dTable', ['f32', 'bf16'], (V + 1) * d);
    const plan = ccePlan(N, V, d);
    const partial = plan.partialElements > 0 ? deviceTensor(workspace.get('partial'), 'workspace.partial', ['f32'], plan.partialElements) : 0n;
    const bounds = tileBounds(workspace, params, N, V, d);
    cceTableGrad(stream, gradTable, gradTable.dtype === 'bf16', partial, x.h, x.table, x.targets, lse, bounds, N, V, d, scale, params.gradientFilter ?? 0);
    cceHiddenGrad(stream, gradH, gradH.dtype === 'bf16', dhRaw, N * d, scale);
  } else if (sampled !== null) {
    const gradTable = deviceTensor(dTable, 'lossBackward.dTable', ['f32'], (V + 1) * d);
    const n = negativeCount(params);
    const csr = {
      counts: deviceTensor(workspace.get('counts'), 'workspace.counts', ['i32'], V + 1),
      offsets: deviceTensor(workspace.get('offsets'), 'workspace.offsets', ['i32'], V + 2),
      cursor: deviceTensor(workspace.get('cursor'), 'workspace.cursor', ['i32'], V + 1),
      tileSums: deviceTensor(workspace.get('tile_sums'), 'workspace.tile_sums', ['i32'], scanTiles(V)),
      entries: deviceTensor(workspace.get('entries'), 'workspace.entries', ['i32'], N * (n + 1)),
    };
    sampledTableGrad(stream, sampled, gradTable, csr, x.h, x.table, x.targets, lse, N, V, d, samplerOf(params, V), scale);
    sampledHiddenGrad(stream, gradH, gradH.dtype === 'bf16', dhRaw, N * d, scale);
  } else {
    unsupported(params.kind);
  }
}
