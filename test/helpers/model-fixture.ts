/**
 * A SASRec or BERT4Rec (the same model class, BERT4Rec by its dims) on the CPU backend with its tensor
 * groups allocated, and, for gradient checks, a training loss over one fixed batch whose loss and
 * backward pass can be run again and again (finite differences perturb the parameters in place).
 */
import { CpuTensor } from '../../src/backend/cpu/cpu-memory.js';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { Ops, Tensor, TensorGroup } from '../../src/backend/ops.js';
import { packBatch } from '../../src/data/packing.js';
import { TrainingLoss, type LossSettings } from '../../src/losses/training-loss.js';
import { Sasrec, type BatchRows, type PassContext } from '../../src/model/sasrec.js';
import { modelLayout, sasrecActivationSpecs, sasrecBackwardSpecs, sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import type { BlockGroups } from '../../src/model/transformer-block.js';

/** The small model the whole-model tests share: 2 blocks of width 6 with 2 heads, L 5, 13 items. */
export const SMALL_DIMS: SasrecDims = { items: 13, hidden: 6, blocks: 2, heads: 2, maxLen: 5 };

/**
 * A padded batch for SMALL_DIMS: 3 left-padded rows (row 1 full); labels are the next items, 0 on
 * padding, and (the reference's first target) a short row's first item at the padded position before
 * it: rows 0 and 2 have one. counts: the items' training counts (popularity sampling), by id.
 */
export const PADDED_BATCH = {
  rows: 3,
  ids: Int32Array.from([0, 0, 3, 7, 1, 2, 5, 5, 9, 13, 0, 0, 0, 0, 4]),
  labels: Int32Array.from([0, 3, 7, 1, 2, 5, 5, 9, 13, 6, 0, 0, 0, 4, 11]),
  counts: Float64Array.from([0, 4, 2, 9, 1, 1, 3, 2, 8, 1, 1, 5, 2, 6]),
} as const;

/** The storage of a CPU tensor of ops created with precision f64, written and read in place. */
export function f64Data(t: Tensor): Float64Array {
  return (t as CpuTensor).data as Float64Array;
}

/** The model's four groups (params, grads, acts, scratch) for B sequences of dims.maxLen in `rows` rows (default B·L, padded). */
export function modelGroups(ops: Ops, dims: SasrecDims, B: number, rows = B * dims.maxLen): BlockGroups {
  const layout = modelLayout(ops, dims, B, rows);
  return {
    params: ops.allocGroup('params', sasrecParamSpecs(dims)),
    grads: ops.allocGroup('grads', sasrecParamSpecs(dims)),
    acts: ops.allocGroup('acts', sasrecActivationSpecs(dims, rows, layout)),
    scratch: ops.allocGroup('scratch', sasrecBackwardSpecs(dims, rows, layout)),
  };
}

/** The padded layout of a left-padded [B × L] batch: sequence b's items stay at rows b·L + start_b .. (b+1)·L − 1. */
export function paddedSeqs(ids: Int32Array, B: number, L: number): Int32Array {
  const seqs = new Int32Array(2 * B);
  for (let b = 0; b < B; b++) {
    let start = 0;
    while (start < L && ids[b * L + start] === 0) start++;
    seqs[2 * b] = b * L + start;
    seqs[2 * b + 1] = L - start;
  }
  return seqs;
}

/**
 * B left-padded sequences of L ids ([B × L]) on `ops` in the padded layout (rows b·L .. b·L + L − 1,
 * paddedSeqs), or packed (packBatch, into `rows` rows) with `packed`.
 */
export function batchRows(ops: Ops, ids: Int32Array, B: number, L: number, packed?: { rows: number }): BatchRows {
  const part = packed === undefined ? { ids, seqs: paddedSeqs(ids, B, L) } : onePart(ids, null, B, L, packed.rows);
  const group = ops.allocGroup('batch_rows', [{ name: 'ids', shape: [part.ids.length], dtype: 'i32' }, { name: 'seqs', shape: [B, 2], dtype: 'i32' }]);
  ops.write(group.get('ids'), part.ids);
  ops.write(group.get('seqs'), part.seqs);
  return { ids: group.get('ids'), layout: { seqs: group.get('seqs'), rows: part.ids.length }, B };
}

/** The one part packBatch makes of a batch that fits `rows` rows (throws where it does not). */
function onePart(ids: Int32Array, labels: Int32Array | null, B: number, L: number, rows: number): { ids: Int32Array; labels: Int32Array | null; seqs: Int32Array } {
  const parts = packBatch(ids, labels, B, L, rows, B);
  if (parts.length !== 1) throw new Error(`the batch does not fit ${rows} rows`);
  return parts[0]!;
}

/** What `lossFixture` builds: the model and a loss over one batch. */
export interface LossFixture {
  /** The forward pass of model and loss: the loss. */
  loss: () => number;
  /** Zeroes the gradients, then runs forward and backward: the gradients of `loss`. */
  backward: () => void;
  params: TensorGroup;
  grads: TensorGroup;
  acts: TensorGroup;
}

/** One batch, the model and its loss for `lossFixture`. */
export interface LossFixtureOptions {
  readonly dims: SasrecDims;
  /** Sequences in the batch (B). */
  readonly rows: number;
  /** B × dims.maxLen input ids. */
  readonly ids: Int32Array;
  /** B × dims.maxLen labels, 0 where nothing is scored. */
  readonly labels: Int32Array;
  /** Item counts for popularity sampling (index 0: padding). */
  readonly counts: Float64Array;
  readonly loss: LossSettings;
  readonly dropout: number;
  /** Seed of the parameters' initial values. */
  readonly initSeed: number;
  /** The training pass every forward runs (its step also draws the loss's negatives). */
  readonly pass: PassContext;
  /** Pack the batch into this many rows (data/packing.ts) instead of the padded layout. @default padded */
  readonly packedRows?: number;
}

/** The model initialised from `initSeed` and its training loss over one batch. */
export function lossFixture(ops: CpuOps, o: LossFixtureOptions): LossFixture {
  const { dims, rows: B, pass } = o;
  const L = dims.maxLen;
  const part = o.packedRows === undefined ? { ids: o.ids, labels: o.labels, seqs: paddedSeqs(o.ids, B, L) } : onePart(o.ids, o.labels, B, L, o.packedRows);
  const N = part.ids.length;
  const groups = modelGroups(ops, dims, B, N);
  const { params, grads, acts } = groups;
  const batch = ops.allocGroup('batch', [
    { name: 'ids', shape: [N], dtype: 'i32' }, { name: 'labels', shape: [N], dtype: 'i32' }, { name: 'seqs', shape: [B, 2], dtype: 'i32' },
    { name: 'loss', shape: [1], dtype: 'f32' },
  ]);
  ops.write(batch.get('ids'), part.ids);
  ops.write(batch.get('labels'), part.labels!);
  ops.write(batch.get('seqs'), part.seqs);
  const rowsOf: BatchRows = { ids: batch.get('ids'), layout: { seqs: batch.get('seqs'), rows: N }, B };
  const model = new Sasrec(ops, dims, o.dropout, groups);
  model.initialise(o.initSeed);
  const tl = new TrainingLoss(ops, o.loss, { rows: N, items: dims.items, hidden: dims.hidden });
  const tables = tl.tableSpecs().length > 0 ? ops.allocGroup('tables', tl.tableSpecs()) : null;
  tl.bind(ops.allocGroup('ws', tl.workspaceSpecs()), tables, o.counts);
  const valid = o.labels.filter((t) => t !== 0).length;
  const forward = (): number => {
    model.forward(rowsOf, pass);
    tl.forward(batch.get('loss'), model.hidden, model.outputTable, batch.get('labels'), N, valid, pass.step);
    return f64Data(batch.get('loss'))[0]!;
  };
  const backward = (): void => {
    ops.fill(grads.flat(), 0, grads.flat().size);
    forward();
    tl.backward(model.hiddenGrad, model.outputTableGrad, model.hidden, model.outputTable, batch.get('labels'), N, valid, pass.step);
    model.backward(rowsOf, pass);
  };
  return { loss: forward, backward, params, grads, acts };
}
