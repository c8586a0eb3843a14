/**
 * Whole-model gradient check: SASRec (2 blocks, 2 heads, dropout on) + each loss, through the real
 * ops interface on the CPU backend in float64 storage. Every parameter's analytic gradient must equal
 * the central difference of the loss, padding rows and the tied item table included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { LossKind } from '../../src/backend/ops.js';
import { sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { f64Data, lossFixture, PADDED_BATCH, SMALL_DIMS, type LossFixture } from '../helpers/model-fixture.js';
import { expectClose, numericGrad } from '../helpers/numeric.js';

const DIMS = SMALL_DIMS;
const UNTIED: SasrecDims = { ...DIMS, tieOutput: false };
const { rows: B, ids: IDS, labels: LABELS, counts: COUNTS } = PADDED_BATCH;
/** The positions whose input is padding and whose label is an item: the first targets. */
const FIRST_TARGETS = [1, 13];

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 1, precision: 'f64' });
});
afterAll(() => ops.close());

function setup(kind: LossKind, sampling: 'uniform' | 'popularity', labels = LABELS, dims = DIMS): LossFixture {
  const sce = { buckets: 3, bucketRows: 5, bucketItems: 6, mix: true };
  return lossFixture(ops, {
    dims, rows: B, ids: IDS, labels, counts: COUNTS, loss: { kind, negatives: 5, sampling, seed: 3, gbceT: 0.75, sce },
    dropout: 0.2, initSeed: 7, pass: { train: true, seed: 3, step: 12 },
  });
}

describe('SASRec gradients (float64, dropout 0.2)', () => {
  const cases: [LossKind, 'uniform' | 'popularity'][] = [
    ['ce', 'uniform'], ['cce-', 'popularity'], ['bce+', 'uniform'], ['bce', 'uniform'], ['gbce', 'uniform'], ['sce', 'uniform'],
  ];
  for (const [kind, sampling] of cases) {
    it(`every parameter's gradient matches finite differences (${kind}, ${sampling})`, () => {
      const m = setup(kind, sampling);
      m.backward();
      let checked = 0;
      for (const spec of sasrecParamSpecs(DIMS)) {
        const p = f64Data(m.params.get(spec.name));
        const g = f64Data(m.grads.get(spec.name));
        expectClose(g, numericGrad(m.loss, p, 1e-6), 2e-6, spec.name);
        checked++;
      }
      expect(checked).toBe(sasrecParamSpecs(DIMS).length);
      // Row 0 of the item table is padding: never scored, masked on input.
      expect(Array.from(f64Data(m.grads.get('item_emb')).subarray(0, DIMS.hidden))).toEqual(new Array(DIMS.hidden).fill(0));
    });
  }

  for (const kind of ['ce', 'bce+'] as const) {
    it(`with an untied output table, both tables' gradients match finite differences (${kind})`, () => {
      const m = setup(kind, 'uniform', LABELS, UNTIED);
      m.backward();
      expect(sasrecParamSpecs(UNTIED).map((s) => s.name)).toContain('out_emb');
      for (const spec of sasrecParamSpecs(UNTIED)) {
        expectClose(f64Data(m.grads.get(spec.name)), numericGrad(m.loss, f64Data(m.params.get(spec.name)), 1e-6), 2e-6, spec.name);
      }
      // The item table now only embeds inputs: items that never occur as an input get no gradient,
      // while the output table's gradient reaches the items the loss scores.
      const d = UNTIED.hidden;
      const inputs = new Set(IDS);
      const itemGrad = f64Data(m.grads.get('item_emb'));
      for (let i = 1; i <= UNTIED.items; i++) {
        const row = Array.from(itemGrad.subarray(i * d, (i + 1) * d));
        if (!inputs.has(i)) expect(row).toEqual(new Array(d).fill(0));
      }
      expect(f64Data(m.grads.get('out_emb')).subarray(d).some((v) => v !== 0)).toBe(true);
      // The two tables start apart: each draws its own values from its own name.
      expect(Array.from(f64Data(m.params.get('out_emb')))).not.toEqual(Array.from(f64Data(m.params.get('item_emb'))));
    });
  }

  it('a first target gets the same hidden state for every row (LN of the masked zero: the final bias) and counts in the loss', () => {
    expect(FIRST_TARGETS.every((p) => IDS[p] === 0 && LABELS[p] !== 0)).toBe(true);
    const m = setup('ce', 'uniform');
    const full = m.loss();
    const h = f64Data(m.acts.get('h'));
    const bias = Array.from(f64Data(m.params.get('final_ln.bias')));
    for (const p of FIRST_TARGETS) expect(Array.from(h.subarray(p * DIMS.hidden, (p + 1) * DIMS.hidden))).toEqual(bias);
    // Without the first targets the mean is over 2 fewer rows and lacks their terms: a different loss.
    const without = LABELS.map((t, p) => (FIRST_TARGETS.includes(p) ? 0 : t));
    expect(setup('ce', 'uniform', without).loss()).not.toBeCloseTo(full, 6);
    // Their gradient reaches the model through the final layer norm's bias.
    m.backward();
    expect(f64Data(m.grads.get('final_ln.bias')).some((v) => v !== 0)).toBe(true);
  });
});
