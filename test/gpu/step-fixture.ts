/**
 * Shared by the whole-step GPU tests (train-step, gemm-wg-step): a random batch, and one training step of
 * SASRec (or BERT4Rec, by its dims) set up on any backend as the trainer sets it up: the batch packed (or
 * padded), the model's groups allocated (activations zeroed) and initialised, the training loss bound.
 */
import type { LossKind, Ops, Tensor, TensorGroup } from '../../src/backend/ops.js';
import { packBatch } from '../../src/data/packing.js';
import { TrainingLoss } from '../../src/losses/training-loss.js';
import { Sasrec } from '../../src/model/sasrec.js';
import { modelLayout, sasrecActivationSpecs, sasrecBackwardSpecs, sasrecNarrowParamSpecs, sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { zeroViews } from '../../src/trainer/train-loop.js';
import { paddedSeqs } from '../helpers/model-fixture.js';

/** B left-padded sequences of dims.maxLen ([B × L]): input ids and labels (0 where nothing is scored). */
export interface StepBatch {
  readonly ids: Int32Array;
  readonly labels: Int32Array;
}

/** A left-padded batch of B sequences with fresh random items, labelled with the next items; the last row is all padding. */
export function randomBatch(dims: SasrecDims, B: number): StepBatch {
  const L = dims.maxLen;
  const ids = new Int32Array(B * L);
  const labels = new Int32Array(B * L);
  for (let b = 0; b < B - 1; b++) {
    const len = 1 + Math.floor(Math.random() * L);
    const seq = Array.from({ length: len + 1 }, () => 1 + Math.floor(Math.random() * dims.items));
    for (let k = 0; k < len; k++) {
      ids[b * L + L - len + k] = seq[k]!;
      labels[b * L + L - len + k] = seq[k + 1]!;
    }
  }
  return { ids, labels };
}

/** How prepareStep sets a step up. */
export interface StepOptions {
  /** The items' training counts, by id (the loss's popularity sampling, which cce- uses). */
  readonly counts: Float64Array;
  /** Pack the batch (data/packing.ts) into the rows it needs plus 3 spare ones, as the trainer runs batches; else the padded layout. @default true */
  readonly packed?: boolean;
  /** The model reads narrow operand copies (transformer-block.ts BlockGroups.narrow) as if Ops.narrowOperands asked; else it plans none. @default false */
  readonly narrow?: boolean;
}

/** A step prepareStep set up: run it, read what it wrote, free it. */
export interface PreparedStep {
  /** The model's parameters, initialised from the seed. */
  readonly params: TensorGroup;
  /** Their gradients: zeroed, then run's. */
  readonly grads: TensorGroup;
  /** The loss's value after run ([1], f32). */
  readonly loss: Tensor;
  /** One forward and backward: the model, the loss, the loss's backward, the model's (training pass, step 17). */
  readonly run: () => void;
  /** Frees every group prepareStep allocated. */
  readonly free: () => void;
}

/** The dropout of every step set up here. */
const DROPOUT = 0.1;

/** The step's counter (the dropout masks' and the negatives' key). */
const STEP = 17;

/**
 * One training step of `dims` on `ops` over `batch` (B sequences) with a `kind` loss (9 negatives: uniform
 * sampling, popularity for cce-), the model initialised and the negatives drawn from `seed`.
 */
export function prepareStep(ops: Ops, dims: SasrecDims, B: number, kind: LossKind, batch: StepBatch, seed: number, options: StepOptions): PreparedStep {
  const L = dims.maxLen;
  const narrow = options.narrow ?? false;
  const needed = batch.ids.filter((id) => id !== 0).length + batch.labels.filter((t, r) => t !== 0 && batch.ids[r] === 0).length;
  const part = (options.packed ?? true) ? packBatch(batch.ids, batch.labels, B, L, needed + 3, B)[0]! : { ids: batch.ids, labels: batch.labels, seqs: paddedSeqs(batch.ids, B, L) };
  const R = part.ids.length;
  const layout = { ...modelLayout(ops, dims, B, R), copies: narrow };
  const params = ops.allocGroup('params', sasrecParamSpecs(dims));
  const mirror = narrow ? ops.allocGroup('params_narrow', sasrecNarrowParamSpecs(dims, layout)) : null;
  const grads = ops.allocGroup('grads', sasrecParamSpecs(dims));
  const acts = ops.allocGroup('acts', sasrecActivationSpecs(dims, R, layout));
  const scratch = ops.allocGroup('scratch', sasrecBackwardSpecs(dims, R, layout));
  // As the trainer: every activation starts at 0 (rows that no op writes must hold finite numbers).
  for (const g of [acts, scratch]) zeroViews(ops, g);
  const io = ops.allocGroup('io', [
    { name: 'ids', shape: [R], dtype: 'i32' }, { name: 'labels', shape: [R], dtype: 'i32' }, { name: 'seqs', shape: [B, 2], dtype: 'i32' },
    { name: 'loss', shape: [1], dtype: 'f32' },
  ]);
  const model = new Sasrec(ops, dims, DROPOUT, { params, grads, acts, scratch, ...(mirror !== null ? { narrow: mirror } : {}) });
  model.initialise(seed);
  const sampling = kind === 'cce-' ? 'popularity' : 'uniform';
  const loss = new TrainingLoss(ops, { kind, negatives: 9, sampling, seed }, { rows: R, items: dims.items, hidden: dims.hidden });
  const ws = ops.allocGroup('ws', loss.workspaceSpecs());
  const tables = ops.allocGroup('tables', loss.tableSpecs());
  loss.bind(ws, loss.tableSpecs().length > 0 ? tables : null, options.counts);
  ops.fill(grads.flat(), 0, grads.flat().size);
  ops.write(io.get('ids'), part.ids);
  ops.write(io.get('labels'), part.labels!);
  ops.write(io.get('seqs'), part.seqs);
  const rows = { ids: io.get('ids'), layout: { seqs: io.get('seqs'), rows: R }, B };
  const valid = batch.labels.filter((t) => t !== 0).length;
  const ctx = { train: true, seed, step: STEP };
  return {
    params,
    grads,
    loss: io.get('loss'),
    run: () => {
      model.forward(rows, ctx);
      loss.forward(io.get('loss'), model.hidden, model.outputTable, io.get('labels'), R, valid, STEP);
      loss.backward(model.hiddenGrad, model.outputTableGrad, model.hidden, model.outputTable, io.get('labels'), R, valid, STEP);
      model.backward(rows, ctx);
    },
    free: () => {
      for (const g of [params, grads, acts, scratch, io, ws, tables]) ops.freeGroup(g);
      if (mirror !== null) ops.freeGroup(mirror);
    },
  };
}
