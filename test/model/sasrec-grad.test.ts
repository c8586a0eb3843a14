/**
 * Whole-model gradient check: SASRec (2 blocks, 2 heads, dropout on) + each loss, through the real
 * ops interface on the CPU backend in float64 storage. Every parameter's analytic gradient must equal
 * the central difference of the loss, padding rows and the tied item table included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuTensor } from '../../src/backend/cpu/cpu-memory.js';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { LossKind, TensorGroup } from '../../src/backend/ops.js';
import { TrainingLoss } from '../../src/losses/training-loss.js';
import { Sasrec, type PassContext } from '../../src/model/sasrec.js';
import { modelLayout, sasrecActivationSpecs, sasrecBackwardSpecs, sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { expectClose, numericGrad } from '../helpers/numeric.js';

const dims: SasrecDims = { items: 13, hidden: 6, blocks: 2, heads: 2, maxLen: 5 };
const B = 3;
const N = B * dims.maxLen;
// Left-padded rows; labels are the next items, 0 on padding.
const IDS = Int32Array.from([0, 0, 3, 7, 1, 2, 5, 5, 9, 13, 0, 0, 0, 0, 4]);
const LABELS = Int32Array.from([0, 0, 7, 1, 2, 5, 5, 9, 13, 6, 0, 0, 0, 0, 11]);
const COUNTS = Float64Array.from([0, 4, 2, 9, 1, 1, 3, 2, 8, 1, 1, 5, 2, 6]);

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 1, precision: 'f64' });
});
afterAll(() => ops.close());

function data(t: unknown): Float64Array {
  return (t as CpuTensor).data as Float64Array;
}

function setup(kind: LossKind, sampling: 'uniform' | 'popularity'): { loss: () => number; grads: TensorGroup; params: TensorGroup; backward: () => void } {
  const params = ops.allocGroup('params', sasrecParamSpecs(dims));
  const grads = ops.allocGroup('grads', sasrecParamSpecs(dims));
  const acts = ops.allocGroup('acts', sasrecActivationSpecs(dims, B, modelLayout(ops, dims, B)));
  const scratch = ops.allocGroup('scratch', sasrecBackwardSpecs(dims, B, modelLayout(ops, dims, B)));
  const batch = ops.allocGroup('batch', [
    { name: 'ids', shape: [N], dtype: 'i32' }, { name: 'labels', shape: [N], dtype: 'i32' }, { name: 'loss', shape: [1], dtype: 'f32' },
  ]);
  ops.write(batch.get('ids'), IDS);
  ops.write(batch.get('labels'), LABELS);
  const model = new Sasrec(ops, dims, 0.2, { params, grads, acts, scratch });
  model.initialise(7);
  const tl = new TrainingLoss(ops, { kind, negatives: 5, sampling, seed: 3 }, { rows: N, items: dims.items, hidden: dims.hidden });
  const tables = tl.tableSpecs().length > 0 ? ops.allocGroup('tables', tl.tableSpecs()) : null;
  tl.bind(ops.allocGroup('ws', tl.workspaceSpecs()), tables, COUNTS);
  const ctx: PassContext = { train: true, seed: 3, step: 12 };
  const valid = LABELS.filter((t) => t !== 0).length;
  const forward = (): number => {
    model.forward(batch.get('ids'), B, ctx);
    tl.forward(batch.get('loss'), model.hidden, model.itemTable, batch.get('labels'), N, valid, ctx.step);
    return data(batch.get('loss'))[0]!;
  };
  const backward = (): void => {
    ops.fill(grads.flat(), 0, grads.flat().size);
    forward();
    tl.backward(model.hiddenGrad, model.itemTableGrad, model.hidden, model.itemTable, batch.get('labels'), N, valid, ctx.step);
    model.backward(batch.get('ids'), B, ctx);
  };
  return { loss: forward, grads, params, backward };
}

describe('SASRec gradients (float64, dropout 0.2)', () => {
  const cases: [LossKind, 'uniform' | 'popularity'][] = [['ce', 'uniform'], ['cce-', 'popularity'], ['bce+', 'uniform'], ['bce', 'uniform']];
  for (const [kind, sampling] of cases) {
    it(`every parameter's gradient matches finite differences (${kind}, ${sampling})`, () => {
      const m = setup(kind, sampling);
      m.backward();
      let checked = 0;
      for (const spec of sasrecParamSpecs(dims)) {
        const p = data(m.params.get(spec.name));
        const g = data(m.grads.get(spec.name));
        expectClose(g, numericGrad(m.loss, p, 1e-6), 2e-6, spec.name);
        checked++;
      }
      expect(checked).toBe(sasrecParamSpecs(dims).length);
      // Row 0 of the item table is padding: never scored, masked on input.
      expect(Array.from(data(m.grads.get('item_emb')).subarray(0, dims.hidden))).toEqual(new Array(dims.hidden).fill(0));
    });
  }
});
