/**
 * A whole SASRec training step (forward, loss, backward, Adam) on synthetic ids, for the CPU benchmarks
 * (bench-cpu.ts, bench-cpu-threads.ts) to time: 2 blocks, 1 head, dropout 0.1, every position valid, ids
 * spread over the catalogue, 256 uniform negatives for the losses that sample. A module, not a script.
 */
import type { LossKind, Ops } from '../src/backend/ops.js';
import { TrainingLoss } from '../src/losses/training-loss.js';
import { Sasrec } from '../src/model/sasrec.js';
import { modelLayout, sasrecActivationSpecs, sasrecBackwardSpecs, sasrecParamSpecs, type SasrecDims } from '../src/model/sasrec-specs.js';

/** The size of the model and batch, and the loss. */
export interface TrainStepShape {
  /** Items in the catalogue (V). */
  readonly items: number;
  /** Hidden size (d). */
  readonly hidden: number;
  /** Sequences per batch (B). */
  readonly batch: number;
  /** Sequence length (L). */
  readonly len: number;
  readonly loss: LossKind;
}

/** A step ready to be run again and again, each run the next step of training. */
export interface TrainStep {
  /** Tokens per step: B · L, every position a target. */
  readonly tokens: number;
  step(): void;
  /** Frees every group the step allocated. */
  free(): void;
}

/** Allocates and initialises the model, its Adam moments, the batch and the loss on `ops`. */
export function syntheticTrainStep(ops: Ops, shape: TrainStepShape): TrainStep {
  const { items: V, hidden: d, batch: B, len: L } = shape;
  const dims: SasrecDims = { items: V, hidden: d, blocks: 2, heads: 1, maxLen: L };
  const N = B * L;
  const layout = modelLayout(ops, dims, B, N);
  const groups = {
    params: ops.allocGroup('params', sasrecParamSpecs(dims)),
    grads: ops.allocGroup('grads', sasrecParamSpecs(dims)),
    m: ops.allocGroup('m', sasrecParamSpecs(dims)),
    v: ops.allocGroup('v', sasrecParamSpecs(dims)),
    acts: ops.allocGroup('acts', sasrecActivationSpecs(dims, N, layout)),
    scratch: ops.allocGroup('scratch', sasrecBackwardSpecs(dims, N, layout)),
    batch: ops.allocGroup('batch', [
      { name: 'ids', shape: [N], dtype: 'i32' }, { name: 'labels', shape: [N], dtype: 'i32' }, { name: 'seqs', shape: [B, 2], dtype: 'i32' },
      { name: 'loss', shape: [1], dtype: 'f32' },
    ]),
  };
  const model = new Sasrec(ops, dims, 0.1, { params: groups.params, grads: groups.grads, acts: groups.acts, scratch: groups.scratch });
  model.initialise(1);
  for (const g of [groups.m, groups.v]) ops.fill(g.flat(), 0, g.flat().size);
  ops.write(groups.batch.get('ids'), Int32Array.from({ length: N }, (_, i) => 1 + ((i * 7919) % V)));
  ops.write(groups.batch.get('labels'), Int32Array.from({ length: N }, (_, i) => 1 + ((i * 7919 + 13) % V)));
  const loss = new TrainingLoss(ops, { kind: shape.loss, negatives: 256, sampling: 'uniform', seed: 1 }, { rows: N, items: V, hidden: d });
  const ws = ops.allocGroup('ws', loss.workspaceSpecs());
  loss.bind(ws, null, new Float64Array(V + 1).fill(1));
  // Every sequence full: the padded and packed layouts coincide.
  ops.write(groups.batch.get('seqs'), Int32Array.from({ length: 2 * B }, (_, i) => (i % 2 === 0 ? (i / 2) * L : L)));
  const batch = { ids: groups.batch.get('ids'), layout: { seqs: groups.batch.get('seqs'), rows: N }, B };
  const labels = groups.batch.get('labels');
  let step = 0;
  return {
    tokens: N,
    step() {
      const ctx = { train: true, seed: 1, step };
      ops.fill(groups.grads.flat(), 0, groups.grads.flat().size);
      model.forward(batch, ctx);
      loss.forward(groups.batch.get('loss'), model.hidden, model.outputTable, labels, N, N, step);
      loss.backward(model.hiddenGrad, model.outputTableGrad, model.hidden, model.outputTable, labels, N, N, step);
      model.backward(batch, ctx);
      step++;
      ops.adamStep(groups.params.flat(), groups.m.flat(), groups.v.flat(), groups.grads.flat(), groups.params.flat().size, { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-8, step });
    },
    free() {
      for (const g of [...Object.values(groups), ws]) ops.freeGroup(g);
    },
  };
}
