/**
 * BERT4Rec through the real ops on the CPU backend in float64: every parameter's gradient (the mask
 * token's row, the 4d FFN and, untied, the output table included) against central differences, for
 * every loss kind, on odd shapes; and the mask token (id V + 1, the table's last row) never scored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { LossKind } from '../../src/backend/ops.js';
import { negativeAt, popularitySampler, uniformSampler } from '../../src/backend/negatives.js';
import { TrainingLoss } from '../../src/losses/training-loss.js';
import { bert4recDims, maskTokenId } from '../../src/model/bert4rec.js';
import { sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { f64Data, lossFixture, type LossFixture } from '../helpers/model-fixture.js';
import { expectClose, numericGrad } from '../helpers/numeric.js';

// Odd shapes: V = 11 items (mask token 12), d = 6 in 2 heads of 3, FFN 24, L = 5, B = 3.
const TIED = bert4recDims({ items: 11, hidden: 6, blocks: 2, heads: 2, maxLen: 5 });
const UNTIED: SasrecDims = { ...TIED, tieOutput: false };
const M = maskTokenId(TIED);
const B = 3;
const N = B * TIED.maxLen;
// Left-padded rows with masked positions; labels are the original items there and 0 elsewhere.
// Row 2 is one item, masked (the validation input's shape: the mask token after the history).
const IDS = Int32Array.from([0, 3, M, 7, M, M, 2, 5, M, 11, 0, 0, 0, 0, M]);
const LABELS = Int32Array.from([0, 0, 9, 0, 1, 4, 0, 0, 6, 0, 0, 0, 0, 0, 10]);
const COUNTS = Float64Array.from([0, 4, 2, 9, 1, 1, 3, 2, 8, 1, 1, 5]);
const KINDS: readonly LossKind[] = ['ce', 'cce', 'ce-', 'cce-', 'bce', 'bce+', 'gbce'];

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 1, precision: 'f64' });
});
afterAll(() => ops.close());

function setup(kind: LossKind, dims: SasrecDims, sampling: 'uniform' | 'popularity' = 'uniform'): LossFixture {
  return lossFixture(ops, {
    dims, rows: B, ids: IDS, labels: LABELS, counts: COUNTS, loss: { kind, negatives: 4, sampling, seed: 3, gbceT: 0.75 },
    dropout: 0.2, initSeed: 5, pass: { train: true, seed: 3, step: 4 },
  });
}

function checkEveryGradient(m: LossFixture, dims: SasrecDims): void {
  m.backward();
  for (const spec of sasrecParamSpecs(dims)) {
    expectClose(f64Data(m.grads.get(spec.name)), numericGrad(m.loss, f64Data(m.params.get(spec.name)), 1e-6), 2e-6, spec.name);
  }
}

describe('BERT4Rec gradients (float64, dropout 0.2)', () => {
  it('has the mask token’s row in its item table and a 4d FFN', () => {
    const specs = new Map(sasrecParamSpecs(TIED).map((s) => [s.name, s.shape]));
    expect(specs.get('item_emb')).toEqual([TIED.items + 2, 6]);
    expect(specs.get('block1.ffn1.weight')).toEqual([24, 6]);
    expect(specs.get('block1.ffn2.weight')).toEqual([6, 24]);
    expect(sasrecParamSpecs(UNTIED).find((s) => s.name === 'out_emb')?.shape).toEqual([TIED.items + 1, 6]);
  });

  for (const kind of KINDS) {
    it(`every parameter's gradient matches finite differences (${kind}, tied)`, () => {
      checkEveryGradient(setup(kind, TIED), TIED);
    });
  }

  for (const [kind, sampling] of [['ce', 'uniform'], ['bce+', 'popularity']] as const) {
    it(`every parameter's gradient matches finite differences (${kind}, ${sampling}, untied)`, () => {
      const m = setup(kind, UNTIED, sampling);
      checkEveryGradient(m, UNTIED);
      // The mask token's row learns as an input: it gets a gradient though no loss scores it.
      const d = UNTIED.hidden;
      expect(f64Data(m.grads.get('item_emb')).subarray(M * d, (M + 1) * d).some((v) => v !== 0)).toBe(true);
    });
  }
});

describe('the mask token is never a candidate', () => {
  const V = TIED.items;
  const d = TIED.hidden;

  /** A table of V + 2 rows whose mask row scores far above every item for every row of h. */
  function tables(h: Float64Array, rows: number): Float64Array {
    const table = new Float64Array((V + 2) * d);
    for (let i = 1; i <= V; i++) for (let c = 0; c < d; c++) table[i * d + c] = Math.sin(3 * i + c) * 0.5;
    for (let r = 0; r < rows; r++) for (let c = 0; c < d; c++) table[M * d + c] = table[M * d + c]! + 100 * h[r * d + c]!;
    return table;
  }

  for (const kind of KINDS) {
    it(`${kind}: neither the loss nor its gradient reads the mask row`, () => {
      const h = Float64Array.from({ length: N * d }, (_, k) => Math.cos(k));
      const g = ops.allocGroup('g', [
        { name: 'h', shape: [N, d], dtype: 'f32' }, { name: 'dh', shape: [N, d], dtype: 'f32' },
        { name: 'table', shape: [V + 2, d], dtype: 'f32' }, { name: 'dtable', shape: [V + 2, d], dtype: 'f32' },
        { name: 'targets', shape: [N], dtype: 'i32' }, { name: 'loss', shape: [1], dtype: 'f32' },
      ]);
      const tl = new TrainingLoss(ops, { kind, negatives: 9, sampling: 'uniform', seed: 1, gbceT: 0.5 }, { rows: N, items: V, hidden: d });
      tl.bind(ops.allocGroup('ws', tl.workspaceSpecs()), null, COUNTS);
      const table = tables(h, N);
      const lossWith = (mask: number): number => {
        f64Data(g.get('table')).set(table);
        f64Data(g.get('table')).fill(mask, M * d, (M + 1) * d);
        ops.write(g.get('h'), Float32Array.from(h));
        ops.write(g.get('targets'), LABELS);
        tl.forward(g.get('loss'), g.get('h'), g.get('table'), g.get('targets'), N, 6, 0);
        return f64Data(g.get('loss'))[0]!;
      };
      // The mask row's values, from zero to huge, change nothing.
      expect(lossWith(1e3)).toBe(lossWith(0));
      f64Data(g.get('table')).set(table);
      ops.fill(g.get('dtable'), 0, (V + 2) * d);
      tl.forward(g.get('loss'), g.get('h'), g.get('table'), g.get('targets'), N, 6, 0);
      tl.backward(g.get('dh'), g.get('dtable'), g.get('h'), g.get('table'), g.get('targets'), N, 6, 0);
      expect(Array.from(f64Data(g.get('dtable')).subarray(M * d))).toEqual(new Array(d).fill(0));
      expect(f64Data(g.get('dtable')).subarray(d, M * d).some((v) => v !== 0)).toBe(true);
    });
  }

  it('negatives are drawn from items 1..V, uniform and by popularity', () => {
    for (const sampler of [uniformSampler(V), popularitySampler(COUNTS)]) {
      let max = 0;
      for (let r = 0; r < 400; r++) for (let j = 0; j < 16; j++) max = Math.max(max, negativeAt(sampler, 9, r % 7, r, j));
      expect(max).toBe(V);
    }
  });

  it('scoring and top-K cover items 1..V: the mask row, best by far, is never listed', async () => {
    const rows = 4;
    const K = V;
    const h = Float64Array.from({ length: rows * d }, (_, k) => Math.cos(2 * k));
    const g = ops.allocGroup('e', [
      { name: 'h', shape: [rows, d], dtype: 'f32' }, { name: 'table', shape: [V + 2, d], dtype: 'f32' },
      { name: 'scores', shape: [rows, V + 1], dtype: 'f32' }, { name: 'top', shape: [rows, K], dtype: 'i32' },
      { name: 'offsets', shape: [rows + 1], dtype: 'i32' }, { name: 'items', shape: [1], dtype: 'i32' },
    ]);
    ops.write(g.get('h'), Float32Array.from(h));
    f64Data(g.get('table')).set(tables(h, rows));
    ops.write(g.get('offsets'), new Int32Array(rows + 1));
    ops.scoreItems(g.get('scores'), g.get('h'), g.get('table'), rows, V, d);
    ops.topK(g.get('top'), g.get('scores'), g.get('offsets'), g.get('items'), 0, rows, V, K);
    const top = await ops.readI32(g.get('top'));
    // Every row lists all V items (K = V), each once, and nothing else.
    for (let r = 0; r < rows; r++) expect([...top.subarray(r * K, (r + 1) * K)].sort((a, b) => a - b)).toEqual(Array.from({ length: V }, (_, i) => i + 1));
  });
});
