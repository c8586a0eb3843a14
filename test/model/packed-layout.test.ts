/**
 * The packed batch layout (data/packing.ts; ops.ts SequenceRows) trains the same model as the padded
 * one: on the CPU backend in float64, without dropout (the element-wise dropouts draw by row, so their
 * masks depend on the layout), the loss and every parameter gradient of one batch agree between the
 * padded layout and the packed one with spare rows, for SASRec (padding keys seen: their key and
 * value are the biases, their gradients go to the biases) and BERT4Rec, over a batch with first
 * targets (a padding position's label keeps a row of its own).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { bert4recDims, maskTokenId } from '../../src/model/bert4rec.js';
import { sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { f64Data, lossFixture, PADDED_BATCH, SMALL_DIMS } from '../helpers/model-fixture.js';

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 1, precision: 'f64' });
});
afterAll(() => ops.close());

const { rows: B, ids: IDS, labels: LABELS, counts: COUNTS } = PADDED_BATCH;
/** Rows the packed batch needs: its items plus its first targets' rows. */
const NEEDED = IDS.filter((id) => id !== 0).length + LABELS.filter((t, r) => t !== 0 && IDS[r] === 0).length;

/** Loss and gradients of one batch, padded or packed into NEEDED + 4 rows. */
function run(dims: SasrecDims, packed: boolean): { loss: number; grads: Map<string, Float64Array> } {
  const ids = dims.maskToken === true ? IDS.map((id, r) => (id !== 0 && r % 5 === 4 ? maskTokenId(dims) : id)) : IDS;
  const f = lossFixture(ops, {
    dims, rows: B, ids, labels: LABELS, counts: COUNTS, loss: { kind: 'ce', negatives: 5, sampling: 'uniform', seed: 3 },
    dropout: 0, initSeed: 7, pass: { train: true, seed: 3, step: 12 }, ...(packed ? { packedRows: NEEDED + 4 } : {}),
  });
  f.backward();
  const grads = new Map<string, Float64Array>();
  for (const spec of sasrecParamSpecs(dims)) grads.set(spec.name, f64Data(f.grads.get(spec.name)).slice());
  return { loss: f.loss(), grads };
}

describe.each([['SASRec', SMALL_DIMS], ['BERT4Rec', bert4recDims(SMALL_DIMS)]] as const)('the packed layout (%s)', (_, dims) => {
  it('gives the padded layout\'s loss and gradients', () => {
    const padded = run(dims, false);
    const packed = run(dims, true);
    // The same arithmetic per row; only the order of the sums over rows (weight and bias gradients) differs.
    expect(Math.abs(packed.loss - padded.loss)).toBeLessThan(1e-12 * Math.abs(padded.loss));
    for (const [name, want] of padded.grads) {
      const got = packed.grads.get(name)!;
      const scale = Math.max(1e-6, ...Array.from(want, Math.abs));
      const worst = Math.max(...Array.from(want, (w, i) => Math.abs(got[i]! - w)));
      expect(worst, name).toBeLessThan(1e-11 * scale);
    }
    // Not vacuous: gradients flow (the value bias gets every query's, padding keys' included).
    expect(padded.grads.get('block0.attn_v.bias')!.some((g) => g !== 0)).toBe(true);
  });
});
