/**
 * The trainer's memory plan (README, "GPU" → Memory): every device tensor of a
 * trial, by group, declared once. All groups live for the whole fit, so the planned peak is their sum
 * (plus what the backend holds for itself) and is known before anything is allocated (hello's
 * planned_peak_bytes).
 */
import { mib, planGroup, type TensorSpec } from '../backend/memory-plan.js';
import type { Ops, TensorGroup } from '../backend/ops.js';
import type { EvalSet } from '../data/types.js';
import type { TrainingLoss } from '../losses/training-loss.js';
import { sasrecActivationSpecs, sasrecBackwardSpecs, sasrecNarrowParamSpecs, sasrecParamSpecs, type ModelLayout, type SasrecDims } from '../model/sasrec-specs.js';

/** What the plan is sized for. */
export interface PlanInput {
  readonly dims: SasrecDims;
  /** Training batch sequences B (every step runs B sequences: the short last batch has empty ones). */
  readonly trainRows: number;
  /** Rows of the packed batch every step runs (data/packing.ts plannedRows): the activations' rows. */
  readonly rows: number;
  /** Evaluation batch sequences (at most trainRows: evaluation reuses the activations). */
  readonly evalRows: number;
  /** Widest top-K list. */
  readonly kMax: number;
  readonly validation: EvalSet;
  readonly test: EvalSet;
  readonly loss: TrainingLoss;
  /** The backend's layout of the model's tensors (modelLayout). */
  readonly layout: ModelLayout;
}

/** Group names, in allocation order. */
export const GROUPS = [
  'params', 'params_narrow', 'grads', 'adam_m', 'adam_v', 'best', 'activations', 'backward', 'batch', 'loss_workspace', 'popularity', 'eval', 'histories',
] as const;
export type GroupName = (typeof GROUPS)[number];

/** The specs of every group. */
export function planSpecs(p: PlanInput): Record<GroupName, readonly TensorSpec[]> {
  const { dims, trainRows: B, rows: R, evalRows: E } = p;
  const { hidden: d, items: V } = dims;
  const params = sasrecParamSpecs(dims);
  const i32 = (name: string, ...shape: number[]): TensorSpec => ({ name, shape, dtype: 'i32' });
  const f32 = (name: string, ...shape: number[]): TensorSpec => ({ name, shape, dtype: 'f32' });
  const evalUsers = Math.max(p.validation.targets.length, p.test.targets.length);
  return {
    params,
    // The GEMMs' narrow weights, where they read narrow operands (ModelLayout.copies): Adam rewrites them.
    params_narrow: sasrecNarrowParamSpecs(dims, p.layout),
    grads: params,
    adam_m: params,
    adam_v: params,
    // The best epoch's parameters, kept by a device copy (restored for the test).
    best: params,
    activations: sasrecActivationSpecs(dims, R, p.layout),
    backward: sasrecBackwardSpecs(dims, R, p.layout),
    // ids, labels: the packed batch's rows; seqs: each sequence's (first row, length) (ops.ts SequenceRows);
    // counters: {global step, valid targets}, written with each batch (a recorded step reads them);
    // loss: this step's loss summed over its valid targets; loss_sum: the epoch's, read once per epoch.
    batch: [i32('ids', R), i32('labels', R), i32('seqs', B, 2), i32('counters', 2), f32('loss', 1), f32('loss_sum', 1)],
    loss_workspace: p.loss.workspaceSpecs(),
    popularity: p.loss.tableSpecs(),
    // top holds a whole evaluation's lists, read once at its end.
    // row_start: the batch's first user, read on the device by a replayed evaluation batch (evaluate.ts).
    eval: [f32('hidden', E, d), f32('scores', E, V + 1), i32('top', evalUsers, p.kMax), i32('row_start', 1)],
    histories: [
      i32('validation_offsets', p.validation.inputs.offsets.length), i32('validation_items', p.validation.inputs.items.length),
      i32('test_offsets', p.test.inputs.offsets.length), i32('test_items', p.test.inputs.items.length),
    ],
  };
}

/** Bytes of the plan's groups: every group is live for the whole fit. */
export function plannedBytes(specs: Record<GroupName, readonly TensorSpec[]>): number {
  return GROUPS.reduce((sum, g) => sum + planGroup(g, specs[g]).bytes, 0);
}

/**
 * One line per group with its MiB, plus what the backend holds itself, for the trial's log; its head
 * says how many rows a step runs (`batchRows`) against the padded batch's (`paddedRows`).
 */
export function planReport(specs: Record<GroupName, readonly TensorSpec[]>, backendBytes: number, batchRows: number, paddedRows: number): string {
  const rows = GROUPS.map((g) => `  ${g.padEnd(15)} ${mib(planGroup(g, specs[g]).bytes).padStart(12)}`);
  const backend = `  ${'backend'.padEnd(15)} ${mib(backendBytes).padStart(12)}`;
  const head = `memory plan (packed batches of ${batchRows.toLocaleString('en-US')} rows; padded: ${paddedRows.toLocaleString('en-US')}):`;
  return `${head}\n${rows.join('\n')}\n${backend}\n  ${'total'.padEnd(15)} ${mib(backendBytes + plannedBytes(specs)).padStart(12)}`;
}

/** Allocates every group of the plan. */
export function allocatePlan(ops: Ops, specs: Record<GroupName, readonly TensorSpec[]>): Record<GroupName, TensorGroup> {
  const out: Partial<Record<GroupName, TensorGroup>> = {};
  for (const g of GROUPS) out[g] = ops.allocGroup(g, specs[g]);
  return out as Record<GroupName, TensorGroup>;
}
