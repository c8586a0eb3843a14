/**
 * The model masks padding rows without a pass of its own (no ops.maskPadded): the embedding's dropout
 * and each block's last residual sum are given the padding rows and write 0 there, and backward never
 * reads the padding rows of the gradient that enters a block or the embedding. Checked on the CPU
 * backend in float64 on left-padded batches with first targets (a padding row whose label is an item,
 * so the final norm's gradient is not 0 there), SASRec and BERT4Rec alike:
 * - forward: every block's input and the final norm's input are exactly 0 on padding rows, training
 *   (dropout on) and evaluation (dropout off);
 * - backward: NaN written into those rows of the gradient after every norm backward that writes it
 *   changes no bit of any parameter gradient (and every gradient stays finite), so whatever the rows
 *   held before, the masks that zeroed them were redundant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { Ops, Tensor } from '../../src/backend/ops.js';
import { bert4recDims, maskTokenId } from '../../src/model/bert4rec.js';
import { blockName, sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { f64Data, lossFixture, PADDED_BATCH, SMALL_DIMS, type LossFixture } from '../helpers/model-fixture.js';

const SASREC = SMALL_DIMS;
const BERT4REC = bert4recDims(SASREC);
// Left-padded rows (row 1 full); rows 0 and 2 have a first target at their last padding position.
const { rows: B, ids: IDS, labels: LABELS, counts: COUNTS } = PADDED_BATCH;
const PADDING_ROWS = [...IDS.keys()].filter((r) => IDS[r] === 0);

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 1, precision: 'f64' });
});
afterAll(() => ops.close());

/**
 * The CPU backend, except that after every layerNormBackward into the model's scratch `dx` (the final
 * norm's, and each block's first norm's: the gradient entering a block or the embedding) the padding
 * rows of dx are set to NaN.
 */
function poisoning(inner: CpuOps, d: number): Ops {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'layerNormBackward') {
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return (dx: Tensor, ...rest: Parameters<Ops['layerNormBackward']> extends [Tensor, ...infer R] ? R : never): void => {
        target.layerNormBackward(dx, ...rest);
        if (dx.name !== 'dx') return;
        const data = f64Data(dx);
        for (const r of PADDING_ROWS) data.fill(Number.NaN, r * d, (r + 1) * d);
      };
    },
  });
}

function fixture(dims: SasrecDims, backend: Ops, train: boolean): LossFixture {
  const ids = dims.maskToken === true ? IDS.map((id, r) => (id !== 0 && r % 5 === 4 ? maskTokenId(dims) : id)) : IDS;
  return lossFixture(backend as CpuOps, {
    dims, rows: B, ids, labels: LABELS, counts: COUNTS, loss: { kind: 'ce', negatives: 5, sampling: 'uniform', seed: 3 },
    dropout: train ? 0.2 : 0, initSeed: 7, pass: { train, seed: 3, step: 12 },
  });
}

function rowsOf(t: Tensor, rows: readonly number[], d: number): number[] {
  const data = f64Data(t);
  return rows.flatMap((r) => Array.from(data.subarray(r * d, (r + 1) * d)));
}

describe.each([['SASRec', SASREC], ['BERT4Rec', BERT4REC]] as const)('padding rows without maskPadded (%s)', (_, dims) => {
  const d = dims.hidden;
  const zeros = new Array(PADDING_ROWS.length * d).fill(0);

  it.each([true, false])('every block input and the final norm input is 0 on padding rows (training: %s)', (train) => {
    const m = fixture(dims, ops, train);
    m.loss();
    const inputs = [...Array.from({ length: dims.blocks }, (_, b) => blockName(b, 'x')), 'final_in'];
    for (const name of inputs) expect(rowsOf(m.acts.get(name), PADDING_ROWS, d), name).toEqual(zeros);
    // The real rows are not all 0: the check above is not empty.
    expect(f64Data(m.acts.get('final_in')).some((v) => v !== 0)).toBe(true);
  });

  it('no gradient reads the padding rows of the gradient entering a block or the embedding', () => {
    const plain = fixture(dims, ops, true);
    plain.backward();
    const poisoned = fixture(dims, poisoning(ops, d), true);
    poisoned.backward();
    for (const spec of sasrecParamSpecs(dims)) {
      const want = Array.from(f64Data(plain.grads.get(spec.name)));
      expect(want.every(Number.isFinite), spec.name).toBe(true);
      expect(Array.from(f64Data(poisoned.grads.get(spec.name))), spec.name).toEqual(want);
    }
    // Row 0 of the item table (padding) gets nothing: the embedding's dropout wrote 0 on padding rows.
    expect(Array.from(f64Data(plain.grads.get('item_emb')).subarray(0, d))).toEqual(new Array(d).fill(0));
  });
});
