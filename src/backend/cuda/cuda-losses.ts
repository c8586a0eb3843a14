/**
 * The CUDA backend's loss entries (ops.ts, "losses"), dispatched by backend/loss-kinds.ts: the streamed
 * cce (kernels/cce.cu), cce- and bce+ (kernels/cce_sampled.cu), sce (kernels/sce.cu: sce-kernels.ts
 * lists its workspace), and the materialised ce, ce- and bce (materialised-losses.ts:
 * kernels/materialised.cu and the GEMM).
 *
 * Operands: h f32 or bf16 (the activation dtype), the table f32 (the master) or bf16, targets i32, loss
 * f32 [1]. The streamed kernels read bf16 operands: where h or the table is f32, lossForward writes a
 * bf16 copy into the workspace ('h_bf16', 'table_bf16') and lossBackward reuses it (same step, same
 * tensors); the materialised losses' GEMMs round f32 operands themselves under 'bf16' math, except ce's h
 * there (ceThroughCce: CCE's forward reads bf16, from the same 'h_bf16' copy). ce- reads either dtype as it is. dH f32 or bf16;
 * dTable f32 or bf16, except f32 for cce- and bce+ (their items accumulate atomically).
 * The workspace is where the memory goes beyond inputs and gradients:
 * - cce: lse and row losses [N], the unscaled row gradient [N × d] (the forward computes it on the
 *   tiles it already holds, so the backward makes one pass over the catalogue, not two), and, when V
 *   is small against the GPU, split-N partials of the table gradient (at most 2·SMs·128·d floats);
 *   when N is small against the GPU, the split forward's partials (S·N·(d + 2) + N floats with
 *   S·⌈N/R⌉ ≤ 2·SMs: at most 2·SMs·128·(d + 2) + N; 16.9 MB at N = 1024, V = 15,405, d = 256);
 *   one f32 per row block of the forward (its smallest lse: +inf marks padding the backward skips), and
 *   with a gradient filter the bounds of the backward's tile skip: one bf16 per (row block, item
 *   tile) of the forward, N·V·2/(R·BS) bytes (N·V/2048 with 64 × 64 tiles: 27 MB at N = 32768,
 *   V = 1.66 M). The workspace must be planned with the filter it runs with.
 * - cce-, bce+: the same [N] and [N × d], and the CSR of the draws: counts/offsets/cursor [V + 2] and
 *   row indices [N · (n + 1)] (int32; no logits of either shape).
 * - ce, bce, ce-: their logits (materialised-losses.ts lists the rest; ce under 'bf16' math also cce's
 *   lse [N] and unscaled row gradient [N × d], and h's bf16 copy when h is f32).
 * - the bf16 copies of the streamed kinds: table [(V+1) × d] always (the table may be the f32 master),
 *   h [N × d] when h is f32.
 */
import { gbceBeta } from '../gbce.js';
import { isMaterialised, type LossKind } from '../loss-kinds.js';
import type { DType, TensorSpec } from '../memory-plan.js';
import type { LossDims, LossParams, SceParams, Tensor, TensorGroup } from '../ops.js';
import { cceForward, cceHiddenGrad, cceLossReduce, ccePlan, cceTableGrad, type CceBlockBounds } from './cce-kernels.js';
import {
  sampledForward, sampledHiddenGrad, sampledLossReduce, sampledTableGrad, scanTiles, type SampledLoss, type SamplerArgs,
} from './cce-sampled-kernels.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { copy } from './elementwise-kernels.js';
import { NULL_PTR } from './launch.js';
import type { GemmMath } from './gemm-kernels.js';
import { ceThroughCce } from './ce-through-cce.js';
import { materialisedLossBackward, materialisedLossForward, materialisedLossWorkspace, type LossGradients } from './materialised-losses.js';
import { sceBackward, sceForward, sceWorkspace } from './sce-kernels.js';
import type { Stream } from '../../cuda/stream.js';

/**
 * Which operands a kind reads as bf16 whatever dtype they arrive in: the streamed kernels both; the
 * materialised ones neither (their GEMMs round f32 operands to bf16 as they stage them under 'bf16'
 * math, and ce-'s gather reads either dtype), except h for ce through CCE's pass (ceThroughCce: its
 * table is the bf16 padded copy the loss makes itself); sce neither (its kernels read either dtype).
 */
function bf16Operands(kind: LossKind, math: GemmMath, d: number): { readonly h: boolean; readonly table: boolean } {
  if (isMaterialised(kind)) return { h: ceThroughCce(kind, math, d), table: false };
  return kind === 'sce' ? { h: false, table: false } : { h: true, table: true };
}

/**
 * The workspace specs of a loss, with h in `hDType` and the GEMMs (of the materialised losses) in
 * `math`, on the current context's device.
 */
export function cudaLossWorkspace(
  params: Pick<LossParams, 'kind' | 'negatives' | 'gradientFilter' | 'sce'>, dims: LossDims, hDType: DType, math: GemmMath,
): TensorSpec[] {
  const { rows: N, items: V, hidden: d } = dims;
  const bf16 = bf16Operands(params.kind, math, d);
  const copies: TensorSpec[] = [
    ...(bf16.table ? [{ name: 'table_bf16', shape: [V + 1, d], dtype: 'bf16' } satisfies TensorSpec] : []),
    ...(bf16.h && hDType !== 'bf16' ? [{ name: 'h_bf16', shape: [N, d], dtype: 'bf16' } satisfies TensorSpec] : []),
  ];
  const kind = params.kind;
  if (kind === 'sce') return sceWorkspace(sceOf(params), dims);
  if (isMaterialised(kind)) return [...materialisedLossWorkspace({ ...params, kind }, dims, math), ...copies];
  const common: TensorSpec[] = [
    { name: 'lse', shape: [N], dtype: 'f32' },
    { name: 'row_loss', shape: [N], dtype: 'f32' },
    { name: 'dh_raw', shape: [N, d], dtype: 'f32' },
    ...copies,
  ];
  if (kind === 'cce') {
    const plan = ccePlan(N, V, d);
    const specs = [...common];
    if (plan.partialElements > 0) specs.push({ name: 'partial', shape: [plan.partialElements], dtype: 'f32' });
    if (plan.forwardPartialElements > 0) specs.push({ name: 'forward_partial', shape: [plan.forwardPartialElements], dtype: 'f32' });
    specs.push({ name: 'min_lse', shape: [plan.rowBlocks], dtype: 'f32' });
    if (filtered(params)) specs.push({ name: 'tile_max', shape: [plan.tileMaxElements], dtype: 'bf16' });
    return specs;
  }
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

function sceOf(params: Pick<LossParams, 'kind' | 'sce'>): SceParams {
  if (params.sce === undefined) throw new Error(`loss "${params.kind}" needs its buckets (params.sce)`);
  return params.sce;
}

/** The sampled kernel's mode of a streamed sampled kind: gbce is bce+ with its positive term weighted by β. */
function sampledKernelKind(kind: 'cce-' | 'bce+' | 'gbce'): SampledLoss {
  return kind === 'gbce' ? 'bce+' : kind;
}

/** The weight of the positive's term: gSASRec's β for gbce (backend/gbce.ts), 1 otherwise. */
function positiveWeight(params: LossParams, V: number): number {
  if (params.kind !== 'gbce') return 1;
  if (params.gbceT === undefined) throw new Error('loss gbce needs its calibration gbceT');
  return gbceBeta(params.gbceT, negativeCount(params), V);
}

function filtered(params: Pick<LossParams, 'gradientFilter'>): boolean {
  return (params.gradientFilter ?? 0) > 0;
}

/** The row blocks' bounds in the workspace: min_lse always, the tile skip's tile_max with a filter. */
function blockBounds(workspace: TensorGroup, params: LossParams, N: number, V: number, d: number): CceBlockBounds {
  const plan = ccePlan(N, V, d);
  const minLse = deviceTensor(workspace.get('min_lse'), 'workspace.min_lse', ['f32'], plan.rowBlocks);
  if (!filtered(params)) return { minLse, tileMax: null };
  if (!workspace.plan.views.some((v) => v.spec.name === 'tile_max')) {
    throw new Error('cce with a gradientFilter needs its workspace planned with the filter: cudaLossWorkspace({ kind, gradientFilter }, dims)');
  }
  return { minLse, tileMax: deviceTensor(workspace.get('tile_max'), 'workspace.tile_max', ['bf16'], plan.tileMaxElements) };
}

function negativeCount(params: Pick<LossParams, 'kind' | 'negatives'>): number {
  const n = params.negatives?.count;
  if (n === undefined) throw new Error(`loss "${params.kind}" needs negatives`);
  return n;
}

/** The step's counters of a negatives draw, checked, or null. */
function countersOf(neg: NonNullable<LossParams['negatives']>): CudaTensor | null {
  return neg.counters === undefined ? null : deviceTensor(neg.counters, 'negatives.counters', ['i32'], 2);
}

function samplerOf(params: LossParams, V: number): SamplerArgs {
  const neg = params.negatives;
  if (neg === undefined) throw new Error(`loss "${params.kind}" needs negatives`);
  if (neg.sampling === 'popularity') {
    const t = neg.popularity;
    if (t === undefined) throw new Error(`loss "${params.kind}": popularity sampling needs its tables`);
    return {
      count: neg.count, seed: neg.seed, step: neg.step, counters: countersOf(neg),
      prob: deviceTensor(t.prob, 'popularity.prob', ['i32'], V),
      alias: deviceTensor(t.alias, 'popularity.alias', ['i32'], V),
      logProb: deviceTensor(t.logProb, 'popularity.logProb', ['f32'], V + 1),
    };
  }
  return { count: neg.count, seed: neg.seed, step: neg.step, counters: countersOf(neg), prob: null, alias: null, logProb: null };
}

/**
 * The operands the kind's kernels read: h and the table as they are, or their bf16 copies in the
 * workspace, written here when `fill` (forward) and reused as they are otherwise (backward).
 */
function operands(
  stream: Stream, workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor,
  dims: LossDims, kind: LossKind, math: GemmMath, what: string, fill: boolean,
): { readonly h: CudaTensor; readonly table: CudaTensor; readonly targets: CudaTensor } {
  const { rows: N, items: V, hidden: d } = dims;
  const hIn = deviceTensor(h, `${what}.h`, ['f32', 'bf16'], N * d);
  const tableIn = deviceTensor(table, `${what}.table`, ['f32', 'bf16'], (V + 1) * d);
  const bf16 = bf16Operands(kind, math, d);
  const asBf16 = (t: CudaTensor, name: 'h_bf16' | 'table_bf16', n: number): CudaTensor => {
    if (t.dtype === 'bf16') return t;
    if (!workspace.plan.views.some((v) => v.spec.name === name)) {
      throw new Error(`loss "${kind}" with an f32 ${name.slice(0, -5)} needs "${name}" in its workspace: plan it with cudaLossWorkspace(params, dims, h.dtype)`);
    }
    const c = deviceTensor(workspace.get(name), `workspace.${name}`, ['bf16'], n);
    if (fill) copy(stream, c, t, n);
    return c;
  };
  return {
    h: bf16.h ? asBf16(hIn, 'h_bf16', N * d) : hIn,
    table: bf16.table ? asBf16(tableIn, 'table_bf16', (V + 1) * d) : tableIn,
    targets: deviceTensor(targets, `${what}.targets`, ['i32'], N),
  };
}

/**
 * loss[0] = the loss of `params` (mean over valid rows); fills the workspace for lossBackward, bf16
 * operand copies included. `scratch` is the GEMM's (f32, GEMM_SCRATCH_FLOATS; ce and bce use it).
 */
export function cudaLossForward(
  stream: Stream, loss: Tensor, workspace: TensorGroup, scratch: Tensor, h: Tensor, table: Tensor, targets: Tensor,
  dims: LossDims, params: LossParams, math: GemmMath,
): void {
  const { rows: N, items: V, hidden: d } = dims;
  const kind = params.kind;
  const x = operands(stream, workspace, h, table, targets, dims, kind, math, 'lossForward', true);
  if (isMaterialised(kind)) {
    materialisedLossForward(stream, loss, workspace, scratch, x.h, x.table, x.targets, dims, { ...params, kind }, math);
    return;
  }
  if (kind === 'sce') {
    sceForward(stream, loss, workspace, x.h, x.table, x.targets, dims, sceOf(params), params.validRows);
    return;
  }
  const out = deviceTensor(loss, 'lossForward.loss', ['f32'], 1);
  const lse = deviceTensor(workspace.get('lse'), 'workspace.lse', ['f32'], N);
  const rowLoss = deviceTensor(workspace.get('row_loss'), 'workspace.row_loss', ['f32'], N);
  const dhRaw = deviceTensor(workspace.get('dh_raw'), 'workspace.dh_raw', ['f32'], N * d);
  if (kind === 'cce') {
    const plan = ccePlan(N, V, d);
    const partial = plan.forwardPartialElements > 0
      ? deviceTensor(workspace.get('forward_partial'), 'workspace.forward_partial', ['f32'], plan.forwardPartialElements)
      : NULL_PTR;
    cceForward(stream, lse, rowLoss, dhRaw, blockBounds(workspace, params, N, V, d), partial, x.h, x.table, x.targets, N, V, d, params.gradientFilter ?? 0);
    cceLossReduce(stream, out, rowLoss, N, params.validRows);
  } else {
    sampledForward(stream, sampledKernelKind(kind), lse, rowLoss, dhRaw, x.h, x.table, x.targets, N, V, d, samplerOf(params, V), positiveWeight(params, V));
    sampledLossReduce(stream, out, rowLoss, N, params.validRows);
  }
}


/**
 * Whether a kind's dH and dTable read only the forward's workspace and the operands, never what the
 * other writes: all but sce, whose table gradient adds the target's share that its hidden-gradient kernel
 * leaves in the workspace.
 */
export function separableGradients(kind: LossKind): boolean {
  return kind !== 'sce';
}

/**
 * After cudaLossForward with the same arguments (and workspace, whose bf16 copies it reuses): dH
 * (overwrite) and dTable (+=) of dLoss · loss, or the one `part` names.
 */
export function cudaLossBackward(
  stream: Stream, dH: Tensor, dTable: Tensor, workspace: TensorGroup, scratch: Tensor, h: Tensor, table: Tensor, targets: Tensor,
  dims: LossDims, params: LossParams, dLoss: number, math: GemmMath, part: LossGradients = 'both',
): void {
  const { rows: N, items: V, hidden: d } = dims;
  const kind = params.kind;
  const x = operands(stream, workspace, h, table, targets, dims, kind, math, 'lossBackward', false);
  if (isMaterialised(kind)) {
    materialisedLossBackward(stream, dH, dTable, workspace, scratch, x.h, x.table, x.targets, dims, { ...params, kind }, dLoss, math, part);
    return;
  }
  // The scale of the mean, in fp32, applied to fp32 accumulators at the end of each kernel.
  const scale = params.validRows > 0 ? dLoss / params.validRows : 0;
  if (kind === 'sce') {
    if (part !== 'both') throw new Error(`lossBackward: sce computes dH and dTable together, not "${part}" alone`);
    sceBackward(stream, dH, dTable, workspace, x.h, x.table, x.targets, dims, sceOf(params), scale);
    return;
  }
  const lse = deviceTensor(workspace.get('lse'), 'workspace.lse', ['f32'], N);
  const dhRaw = deviceTensor(workspace.get('dh_raw'), 'workspace.dh_raw', ['f32'], N * d);
  const gradH = deviceTensor(dH, 'lossBackward.dH', ['f32', 'bf16'], N * d);
  const wantTable = part !== 'hidden';
  const wantHidden = part !== 'table';
  if (kind === 'cce') {
    const gradTable = deviceTensor(dTable, 'lossBackward.dTable', ['f32', 'bf16'], (V + 1) * d);
    const plan = ccePlan(N, V, d);
    const partial = plan.partialElements > 0 ? deviceTensor(workspace.get('partial'), 'workspace.partial', ['f32'], plan.partialElements) : 0n;
    const bounds = blockBounds(workspace, params, N, V, d);
    if (wantTable) cceTableGrad(stream, gradTable, gradTable.dtype === 'bf16', partial, x.h, x.table, x.targets, lse, bounds, N, V, d, scale, params.gradientFilter ?? 0);
    if (wantHidden) cceHiddenGrad(stream, gradH, gradH.dtype === 'bf16', dhRaw, N * d, scale);
  } else {
    const gradTable = deviceTensor(dTable, 'lossBackward.dTable', ['f32'], (V + 1) * d);
    const n = negativeCount(params);
    const csr = {
      counts: deviceTensor(workspace.get('counts'), 'workspace.counts', ['i32'], V + 1),
      offsets: deviceTensor(workspace.get('offsets'), 'workspace.offsets', ['i32'], V + 2),
      cursor: deviceTensor(workspace.get('cursor'), 'workspace.cursor', ['i32'], V + 1),
      tileSums: deviceTensor(workspace.get('tile_sums'), 'workspace.tile_sums', ['i32'], scanTiles(V)),
      entries: deviceTensor(workspace.get('entries'), 'workspace.entries', ['i32'], N * (n + 1)),
    };
    if (wantTable) sampledTableGrad(stream, sampledKernelKind(kind), gradTable, csr, x.h, x.table, x.targets, lse, N, V, d, samplerOf(params, V), scale, positiveWeight(params, V));
    if (wantHidden) sampledHiddenGrad(stream, gradH, gradH.dtype === 'bf16', dhRaw, N * d, scale);
  }
}
