/**
 * The layer norms in the GEMMs' epilogues (ops.ts MatmulEpilogue.layerNorm; transformer-block.ts
 * BlockNorms): Sasrec.forward, whose attn_out GEMM writes LN2 and whose ffn2 GEMM writes the next block's
 * LN1 (the last block's: the final norm), leaves every activation bit for bit as the op sequence before
 * the fusion did (each norm an op of its own after the GEMM that writes its input), on the CPU backend,
 * training (dropout on) and evaluating, over a left-padded batch with an all-padding row, for SASRec and
 * BERT4Rec with 1 to 3 blocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { DropoutSpec, Ops, Tensor, TensorGroup } from '../../src/backend/ops.js';
import { bert4recDims } from '../../src/model/bert4rec.js';
import { linearForward, type LinearParams } from '../../src/model/linear.js';
import { Sasrec, type BatchRows, type PassContext } from '../../src/model/sasrec.js';
import { attentionSavedName, blockName, ffnWidth, sasrecActivationSpecs, modelLayout, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { LAYER_NORM_EPS, type BlockGroups } from '../../src/model/transformer-block.js';
import { batchRows, modelGroups } from '../helpers/model-fixture.js';

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 2 });
});
afterAll(() => ops.close());

const B = 4;
const P = 0.3;

/** Left-padded ids: a full sequence, two padded ones and one of padding only. */
function batch(dims: SasrecDims): Int32Array {
  const L = dims.maxLen;
  const ids = new Int32Array(B * L);
  [L, 3, 1, 0].forEach((n, b) => {
    for (let i = L - n; i < L; i++) ids[b * L + i] = 1 + ((b * 7 + i * 5) % dims.items);
  });
  return ids;
}

/**
 * The forward as it ran before the fusion, op by op, into `acts` (sasrecActivationSpecs' names) from the
 * model's parameters: embedding, dropout; per block LN1, q, k, v, attention, attn_out (+ ln1, padding),
 * LN2, ffn1 (ReLU, dropout, padding), ffn2 (dropout, + ln2, padding); the final norm over every row.
 */
function unfusedForward(o: Ops, dims: SasrecDims, params: TensorGroup, acts: TensorGroup, rows: BatchRows, ctx: PassContext): void {
  const { hidden: d, maxLen: L, heads, blocks } = dims;
  const { ids, layout } = rows;
  const N = layout.rows;
  const drop = (site: number): DropoutSpec => ({ p: ctx.train ? P : 0, key: { seed: ctx.seed, step: ctx.step, site } });
  const causal = dims.bidirectional !== true;
  const x0 = acts.get(blockName(0, 'x'));
  o.embedForward(x0, ids, params.get('item_emb'), params.get('pos_emb'), Math.sqrt(d), layout, B, L, d);
  o.dropout(x0, x0, N * d, drop(0), { ids, cols: d });
  for (let b = 0; b < blocks; b++) {
    const act = (name: string): Tensor => acts.get(blockName(b, name));
    const par = (name: string): Tensor => params.get(blockName(b, name));
    // Gradients are not touched by a forward: the weights stand in for them.
    const lin = (name: string): LinearParams => ({
      weight: par(`${name}.weight`), bias: par(`${name}.bias`), dWeight: par(`${name}.weight`), dBias: par(`${name}.bias`),
    });
    const skip = { ids };
    const padKeys = causal ? { padKeys: { k: par('attn_k.bias'), v: par('attn_v.bias') } } : {};
    const mask = { layout, causal, keyPadding: !causal, ...padKeys };
    const out = b + 1 < blocks ? acts.get(blockName(b + 1, 'x')) : acts.get('final_in');
    o.layerNormForward(act('ln1'), act('ln1_mean'), act('ln1_rstd'), act('x'), par('ln1.weight'), par('ln1.bias'), N, d, LAYER_NORM_EPS, ids);
    linearForward(o, act('q'), act('ln1'), lin('attn_q'), N, d, d, skip);
    linearForward(o, act('k'), act('x'), lin('attn_k'), N, d, d, skip);
    linearForward(o, act('v'), act('x'), lin('attn_v'), N, d, d, skip);
    const saved = { get: (name: string) => acts.get(attentionSavedName(b, name)) };
    o.attentionForward(act('att'), saved, act('q'), act('k'), act('v'), B, L, heads, d / heads, mask, drop(1 + 3 * b));
    linearForward(o, act('x2'), act('att'), lin('attn_out'), N, d, d, skip, { residual: act('ln1'), padding: ids });
    o.layerNormForward(act('ln2'), act('ln2_mean'), act('ln2_rstd'), act('x2'), par('ln2.weight'), par('ln2.bias'), N, d, LAYER_NORM_EPS, ids);
    linearForward(o, act('ffn_drop'), act('ln2'), lin('ffn1'), N, d, ffnWidth(dims), skip, { relu: true, dropout: drop(2 + 3 * b), padding: ids });
    linearForward(o, out, act('ffn_drop'), lin('ffn2'), N, ffnWidth(dims), d, skip, { dropout: drop(3 + 3 * b), residual: act('ln2'), padding: ids });
  }
  o.layerNormForward(
    acts.get('h'), acts.get('final_mean'), acts.get('final_rstd'), acts.get('final_in'),
    params.get('final_ln.weight'), params.get('final_ln.bias'), N, d, LAYER_NORM_EPS,
  );
}

const SASREC: SasrecDims = { items: 19, hidden: 12, blocks: 2, heads: 3, maxLen: 6 };
const CASES: readonly { readonly name: string; readonly dims: SasrecDims }[] = [
  { name: 'SASRec, 2 blocks', dims: SASREC },
  { name: 'SASRec, 1 block', dims: { ...SASREC, blocks: 1 } },
  { name: 'SASRec, 3 blocks, odd width', dims: { ...SASREC, hidden: 9, heads: 1, blocks: 3, maxLen: 7 } },
  { name: 'BERT4Rec, 2 blocks', dims: bert4recDims(SASREC) },
];

describe('Sasrec.forward with the layer norms in the GEMM epilogues', () => {
  for (const { name, dims } of CASES) {
    for (const train of [true, false]) {
      it(`writes every activation exactly as the separate norms did: ${name}, ${train ? 'training' : 'evaluation'}`, async () => {
        const groups: BlockGroups = modelGroups(ops, dims, B);
        const model = new Sasrec(ops, dims, P, groups);
        model.initialise(11);
        const N = B * dims.maxLen;
        const specs = sasrecActivationSpecs(dims, N, modelLayout(ops, dims, B, N));
        const reference = ops.allocGroup('reference', specs);
        const rows = batchRows(ops, batch(dims), B, dims.maxLen);
        try {
          // A different poison in each group first: an element that either forward leaves unwritten cannot compare equal.
          for (const [g, poison] of [[groups.acts, Number.NaN], [reference, -12345]] as const) {
            for (const s of specs) ops.fill(g.get(s.name), poison, g.get(s.name).size);
          }
          const ctx: PassContext = { train, seed: 5, step: 3 };
          model.forward(rows, ctx);
          unfusedForward(ops, dims, groups.params, reference, rows, ctx);
          // Neither forward writes the attention's output at padding positions (attention computes no query there).
          for (let b = 0; b < dims.blocks; b++) {
            for (const g of [groups.acts, reference]) ops.maskPadded(g.get(blockName(b, 'att')), g.get(blockName(b, 'att')), rows.ids, N, dims.hidden);
          }
          for (const s of specs) {
            const [got, want] = [await ops.readF32(groups.acts.get(s.name)), await ops.readF32(reference.get(s.name))];
            expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), s.name).toBe(true);
          }
          const h = await ops.readF32(model.hidden);
          // Not vacuous: every hidden state is a number, and they differ between real positions.
          expect(h.every(Number.isFinite)).toBe(true);
          expect(h[(B * dims.maxLen - 1) * dims.hidden]).not.toBe(h[(dims.maxLen - 1) * dims.hidden]);
        } finally {
          for (const g of [reference, groups.params, groups.grads, groups.acts, groups.scratch]) ops.freeGroup(g);
        }
      });
    }
  }
});
