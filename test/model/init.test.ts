import { describe, expect, it } from 'vitest';
import { initTensor, sasrecInitRule, tensorKey } from '../../src/model/init.js';
import { sasrecParamSpecs } from '../../src/model/sasrec-specs.js';

function initial(blocks: number, name: string, seed = 42): Float32Array {
  const dims = { items: 20, hidden: 8, blocks, heads: 2, maxLen: 6 };
  const spec = sasrecParamSpecs(dims).find((s) => s.name === name)!;
  const out = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
  initTensor(out, sasrecInitRule(spec, dims), seed, spec.name);
  return out;
}

describe('parameter initialisation keyed by name', () => {
  it('gives a tensor the same values whatever else the table holds', () => {
    // A third block shifts the position of final_ln and of nothing in block 0; by name nothing moves.
    expect(initial(3, 'block0.attn_q.weight')).toEqual(initial(2, 'block0.attn_q.weight'));
    expect(initial(3, 'item_emb')).toEqual(initial(1, 'item_emb'));
  });

  it('gives different tensors and different seeds different values', () => {
    expect(initial(2, 'block0.attn_q.weight')).not.toEqual(initial(2, 'block0.attn_k.weight'));
    expect(initial(2, 'item_emb', 1)).not.toEqual(initial(2, 'item_emb', 2));
    expect(tensorKey('block0.ffn1.weight')).not.toBe(tensorKey('block1.ffn1.weight'));
  });
});
