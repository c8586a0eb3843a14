/**
 * BERT4Rec's bidirectional attention ignores padding keys: a sequence left-padded to L = 5 gives, at its
 * real positions, the hidden states the same model gives it unpadded at L = 3 (the positions' rows
 * copied so both see the same position embeddings). Attending to the padding keys would mix their
 * values (the biases of k and v) into every real position.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { TensorGroup } from '../../src/backend/ops.js';
import { bert4recDims, maskTokenId } from '../../src/model/bert4rec.js';
import { Sasrec } from '../../src/model/sasrec.js';
import type { SasrecDims } from '../../src/model/sasrec-specs.js';
import { batchRows, f64Data, modelGroups } from '../helpers/model-fixture.js';

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 1, precision: 'f64' });
});
afterAll(() => ops.close());

/** A BERT4Rec of max length L over 9 items, initialised from seed 4, that runs one row of ids. */
function model(L: number): { params: TensorGroup; dims: SasrecDims; run: (ids: number[]) => Float64Array } {
  const dims = bert4recDims({ items: 9, hidden: 6, blocks: 2, heads: 2, maxLen: L });
  const groups = modelGroups(ops, dims, 1);
  const { params } = groups;
  const m = new Sasrec(ops, dims, 0, groups);
  m.initialise(4);
  return {
    params, dims,
    run: (row) => {
      m.forward(batchRows(ops, Int32Array.from(row), 1, L), { train: false, seed: 0, step: 0 });
      return f64Data(m.hidden).slice();
    },
  };
}

describe('BERT4Rec attention and padding', () => {
  it('gives a padded sequence the hidden states of the same sequence unpadded', () => {
    const d = 6;
    const short = model(3);
    const long = model(5);
    // Same names and shapes give the same initial values; the positions differ in shape: long's last
    // three rows take short's, so that both see the same sequence at the same position embeddings.
    f64Data(long.params.get('pos_emb')).set(f64Data(short.params.get('pos_emb')), 2 * d);
    const M = maskTokenId(short.dims);
    const a = short.run([4, M, 7]);
    const b = long.run([0, 0, 4, M, 7]);
    for (let k = 0; k < 3 * d; k++) expect(b[2 * d + k]).toBeCloseTo(a[k]!, 12);
  });
});
