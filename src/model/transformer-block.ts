/**
 * One transformer block as SASRec builds it (the reference system's block): q = LN1(x); a = MHA(query q, keys and
 * values x); x2 = q + a; y = LN2(x2); out = (y + Dropout(FFN2(Dropout(ReLU(FFN1(y)))))) · mask, the FFN
 * d → ffn → d, the residual sums, ReLU, dropouts and mask in the GEMMs' epilogues (ops.ts
 * MatmulEpilogue; the mask is their padding rows, written 0). The layer norms after attn_out and ffn2 run in
 * those GEMMs' epilogues too. The attention is causal for SASRec; BERT4Rec calls the same block
 * bidirectional, blind to padding keys, with a 4d FFN.
 *
 * Rows: the batch's sequences lie in the rows as ops.ts SequenceRows says (packed: padding positions
 * take no rows; rows no sequence owns have id 0). Every op but attention is row by row and is given the
 * ids (linear.ts LinearPadding, ops.ts PaddingRows): on a padding row either the result is masked later
 * (q, k, v, the attention's output projection, the layer norms, the FFN, the residual sums; their
 * gradients there are zero) or the operand row is zero, so padding costs (almost) nothing. SASRec's
 * attention sees padding keys as the reference's does: their key and value are the k and v projections'
 * biases (the input row is 0 there), handed to attention as vectors (ops.ts PaddingKeys), and their
 * gradients go straight into those biases' gradients. Backward reads the activations forward saved and
 * regenerates the dropout masks from their keys, but for the FFN's hidden one: the gate of its GEMM
 * reads the saved Dropout(ReLU(·)) instead (blockBackward).
 */
import type { AttentionMask, DropoutSpec, Forked, LayerNormCopies, MatmulLayerNorm, Ops, SequenceRows, Tensor, TensorGroup, TensorLookup } from '../backend/ops.js';
import { linearForward, linearInputGrad, linearParamGrads, type LinearPadding, type LinearParams } from './linear.js';
import { attentionSavedName, blockName } from './sasrec-specs.js';

/** LayerNorm epsilon of every norm (1e-8, as the reference system). */
export const LAYER_NORM_EPS = 1e-8;

/** The groups a block reads and writes. */
export interface BlockGroups {
  readonly params: TensorGroup;
  readonly grads: TensorGroup;
  readonly acts: TensorGroup;
  readonly scratch: TensorGroup;
  /**
   * The parameters' narrow mirror (sasrecNarrowParamSpecs), where the GEMMs read narrow operands
   * (Ops.narrowOperands): the linear layers then multiply its weights, and the layer norms write narrow
   * copies of x, ln1 and ln2 (acts `x_narrow`, `ln1_narrow`, `ln2_narrow`) that the GEMMs read in their
   * place. Absent: every GEMM reads the f32 tensors. @default none
   */
  readonly narrow?: TensorGroup;
}

/** Shape and regime of one pass. */
export interface BlockPass {
  /** Sequences in the batch. */
  readonly B: number;
  readonly L: number;
  /** Where the sequences lie in the rows (N = layout.rows rows). */
  readonly layout: SequenceRows;
  readonly d: number;
  readonly heads: number;
  /** Width of the FFN's hidden layer (d for SASRec, 4d for BERT4Rec). */
  readonly ffn: number;
  /** Row i sees keys j ≤ i only (SASRec); else every key (BERT4Rec). */
  readonly causal: boolean;
  /** Whether attention ignores padding keys (BERT4Rec) or sees them as the reference's SASRec does. */
  readonly keyPadding: boolean;
  /** Dropout of the attention probabilities, the FFN's ReLU output and the FFN's output. */
  readonly attnDrop: DropoutSpec;
  readonly ffn1Drop: DropoutSpec;
  readonly ffn2Drop: DropoutSpec;
}

/** Block b's attention workspace, by the names the backend declared. */
function attentionSaved(g: BlockGroups, b: number): TensorLookup {
  return { get: (name) => g.acts.get(attentionSavedName(b, name)) };
}

function linear(g: BlockGroups, b: number, name: string): LinearParams {
  return {
    weight: (g.narrow ?? g.params).get(blockName(b, `${name}.weight`)),
    bias: g.params.get(blockName(b, `${name}.bias`)),
    dWeight: g.grads.get(blockName(b, `${name}.weight`)),
    dBias: g.grads.get(blockName(b, `${name}.bias`)),
  };
}

/**
 * The attention's mask; where it sees padding keys (SASRec), they hold the k and v biases and their
 * gradients go to those biases' gradients (`grads`: training's backward).
 */
function attentionMask(g: BlockGroups, b: number, p: BlockPass, grads: boolean): AttentionMask {
  if (p.keyPadding) return { layout: p.layout, causal: p.causal, keyPadding: true };
  const k = linear(g, b, 'attn_k');
  const v = linear(g, b, 'attn_v');
  const padKeys = grads ? { k: k.bias, v: v.bias, dk: k.dBias, dv: v.dBias } : { k: k.bias, v: v.bias };
  return { layout: p.layout, causal: p.causal, keyPadding: false, padKeys };
}

/** The activation a GEMM reads for x, ln1 or ln2 of block b: its narrow copy where the groups have them (BlockGroups.narrow). */
function operand(g: Pick<BlockGroups, 'acts' | 'narrow'>, b: number, name: 'x' | 'ln1' | 'ln2'): Tensor {
  return g.acts.get(blockName(b, g.narrow === undefined ? name : `${name}_narrow`));
}

/** The narrow copies a norm of block b writes (of its output `out`, and of its input if `x`): none without them. */
function normCopies(g: Pick<BlockGroups, 'acts' | 'narrow'>, b: number, out: 'ln1' | 'ln2', x?: 'x'): { copies?: LayerNormCopies } {
  if (g.narrow === undefined) return {};
  return { copies: { out: operand(g, b, out), ...(x === undefined ? {} : { x: operand(g, b, x) }) } };
}

/** Padding rows skipped (their results masked later or never read, their gradients zero). */
function skip(ids: Tensor): LinearPadding {
  return { ids };
}

/**
 * How a block's forward meets the layer norms on either side of it: each norm runs in the epilogue of
 * the GEMM that writes its input (ops.ts MatmulEpilogue.layerNorm), so the norm after a block (the next
 * block's LN1, or the model's final norm) is computed by this block's last GEMM, and its own LN1 by the
 * block before (the first block's, over the embedding, runs as an op of its own).
 */
export interface BlockNorms {
  /** LN1 of x (acts ln1, ln1_mean, ln1_rstd) is already written: by the previous block's last GEMM. @default false */
  readonly ln1Ready?: boolean;
  /** The layer norm of `out` that the block's last GEMM writes as well (blockLn1 of the next block, or the final norm). @default none */
  readonly next?: MatmulLayerNorm;
}

/** Block b's LN1 of its x as a matmul epilogue's layer norm (the previous block's last GEMM computes it); padding rows 0. */
export function blockLn1(g: Pick<BlockGroups, 'params' | 'acts' | 'narrow'>, b: number, ids: Tensor): MatmulLayerNorm {
  return {
    out: g.acts.get(blockName(b, 'ln1')), mean: g.acts.get(blockName(b, 'ln1_mean')), rstd: g.acts.get(blockName(b, 'ln1_rstd')),
    weight: g.params.get(blockName(b, 'ln1.weight')), bias: g.params.get(blockName(b, 'ln1.bias')), eps: LAYER_NORM_EPS, ids,
    ...normCopies(g, b, 'ln1', 'x'),
  };
}

/**
 * Forward of block b from acts `block{b}.x` into `out` [N × d] (may be the next block's x); `norms` says
 * whether LN1 is already done and which norm of `out` to write with it (BlockNorms).
 */
export function blockForward(ops: Ops, g: BlockGroups, b: number, ids: Tensor, out: Tensor, p: BlockPass, norms: BlockNorms = {}): void {
  const { B, L, d, heads } = p;
  const N = p.layout.rows;
  const act = (name: string): Tensor => g.acts.get(blockName(b, name));
  const par = (name: string): Tensor => g.params.get(blockName(b, name));
  const x = act('x');
  const ln1 = act('ln1');
  if (norms.ln1Ready !== true) {
    ops.layerNormForward(ln1, act('ln1_mean'), act('ln1_rstd'), x, par('ln1.weight'), par('ln1.bias'), N, d, LAYER_NORM_EPS, ids, normCopies(g, b, 'ln1', 'x').copies);
  }
  // The keys and values read x alone: forked (Ops.fork) beside the query's projection, none of the three
  // GEMMs filling the GPU at small batches.
  const kv = ops.fork(() => {
    linearForward(ops, act('k'), operand(g, b, 'x'), linear(g, b, 'attn_k'), N, d, d, skip(ids));
    linearForward(ops, act('v'), operand(g, b, 'x'), linear(g, b, 'attn_v'), N, d, d, skip(ids));
  });
  linearForward(ops, act('q'), operand(g, b, 'ln1'), linear(g, b, 'attn_q'), N, d, d, skip(ids));
  ops.join(kv);
  ops.attentionForward(act('att'), attentionSaved(g, b), act('q'), act('k'), act('v'), B, L, heads, d / heads, attentionMask(g, b, p, false), p.attnDrop);
  // The residual sums, ReLU, dropouts, the padding mask and the norms that follow run in the GEMMs'
  // epilogues: x2 = ln1 + attn_out(att) and ln2 = LN2(x2), ffn_drop = Dropout(ReLU(FFN1(ln2))),
  // out = ln2 + Dropout(FFN2(ffn_drop)) and the norm `norms.next` of it, each 0 on padding rows.
  const x2 = act('x2');
  const ln2 = act('ln2');
  const ln2Norm: MatmulLayerNorm = {
    out: ln2, mean: act('ln2_mean'), rstd: act('ln2_rstd'), weight: par('ln2.weight'), bias: par('ln2.bias'), eps: LAYER_NORM_EPS, ids,
    ...normCopies(g, b, 'ln2'),
  };
  linearForward(ops, x2, act('att'), linear(g, b, 'attn_out'), N, d, d, skip(ids), { residual: ln1, padding: ids, layerNorm: ln2Norm });
  const ffnDrop = act('ffn_drop');
  linearForward(ops, ffnDrop, operand(g, b, 'ln2'), linear(g, b, 'ffn1'), N, d, p.ffn, skip(ids), { relu: true, dropout: p.ffn1Drop, padding: ids });
  linearForward(ops, out, ffnDrop, linear(g, b, 'ffn2'), N, p.ffn, d, skip(ids), {
    dropout: p.ffn2Drop, residual: ln2, padding: ids, ...(norms.next === undefined ? {} : { layerNorm: norms.next }),
  });
}

/**
 * Evaluation's forward of the LAST block for each sequence's last position only (the row evaluation
 * scores), from acts `block{b}.x` [N × d] into rows 0..B-1 of `out` [B × d]: keys and values of every
 * position (as blockForward), the query side (LN1, q, the attention row, its output projection, the
 * residuals, LN2, the FFN) for the row of each sequence's position L − 1 only. Row b of `out` equals that
 * row of blockForward's out without dropout (p must be 0): every op but attention is row by row, and
 * attentionLastForward is attentionForward's last row. The one-per-sequence rows live in the first B
 * rows of the block's own activations (overwritten; x and the first blocks' are only read). An empty
 * sequence gets finite values that nothing scores.
 */
export function blockForwardLast(ops: Ops, g: BlockGroups, b: number, ids: Tensor, out: Tensor, p: BlockPass): void {
  const { B, L, d, heads } = p;
  if (p.attnDrop.p !== 0 || p.ffn1Drop.p !== 0 || p.ffn2Drop.p !== 0) throw new Error('blockForwardLast: evaluation only, dropout must be 0');
  const N = p.layout.rows;
  const act = (name: string): Tensor => g.acts.get(blockName(b, name));
  const par = (name: string): Tensor => g.params.get(blockName(b, name));
  const x = act('x');
  // Every row's keys and values beside the last rows' query (as blockForward). No norm reads all of this
  // block's x here (its LN1 runs on the last rows): where the GEMMs read narrow copies, x's is made first.
  const kv = ops.fork(() => {
    const xs = operand(g, b, 'x');
    if (xs !== x) ops.copy(xs, x, N * d);
    linearForward(ops, act('k'), xs, linear(g, b, 'attn_k'), N, d, d, skip(ids));
    linearForward(ops, act('v'), xs, linear(g, b, 'attn_v'), N, d, d, skip(ids));
  });
  // The last rows' x, held in x2 until the attention's output projection overwrites it.
  const x2 = act('x2');
  ops.lastRows(x2, x, p.layout, B, d);
  const ln1 = act('ln1');
  ops.layerNormForward(ln1, act('ln1_mean'), act('ln1_rstd'), x2, par('ln1.weight'), par('ln1.bias'), B, d, LAYER_NORM_EPS);
  linearForward(ops, act('q'), ln1, linear(g, b, 'attn_q'), B, d, d);
  ops.join(kv);
  ops.attentionLastForward(act('att'), act('q'), act('k'), act('v'), B, L, heads, d / heads, attentionMask(g, b, p, false));
  linearForward(ops, x2, act('att'), linear(g, b, 'attn_out'), B, d, d, undefined, { residual: ln1 });
  const ln2 = act('ln2');
  ops.layerNormForward(ln2, act('ln2_mean'), act('ln2_rstd'), x2, par('ln2.weight'), par('ln2.bias'), B, d, LAYER_NORM_EPS);
  // Dropout at p = 0 is the identity: the FFN is ReLU(FFN1) then FFN2 + ln2, as blockForward's epilogues.
  const hidden = act('ffn_drop');
  linearForward(ops, hidden, ln2, linear(g, b, 'ffn1'), B, d, p.ffn, undefined, { relu: true });
  linearForward(ops, out, hidden, linear(g, b, 'ffn2'), B, p.ffn, d, undefined, { residual: ln2 });
}

/**
 * The parameter-gradient work of a block's backward still running beside it (Ops.fork) when
 * blockBackward returns; the next block's backward joins each before it overwrites what that work reads.
 */
export interface BlockForks {
  /** attn_out's dW and db: they read g1, which the next block's first dropout overwrites. */
  readonly attnOut: Forked;
  /** LN1's weight and bias gradients: they read g1 and g3, which the next block's first ops overwrite. */
  readonly ln1: Forked;
  /** q's, k's and v's dW and db: they read dq, dk and dv, which the next block's attention backward overwrites. */
  readonly qkv: Forked;
}

/**
 * Backward of block b: on entry scratch `dx` holds the gradient of the block's output, on return the
 * gradient of its input x. Parameter gradients accumulate (+=): each linear's dW and db, and each layer
 * norm's, are forked (Ops.fork) beside the input gradients, which alone carry the backward on, and joined
 * before the scratch they read is written again; `above` holds the forks the block above left running, and the
 * forks this block leaves running come back (the caller joins the last block's). The output's mask
 * needs no pass of its own: dx is read only by `dropout` and `layerNormBackward` given the padding
 * rows, which read nothing there, so its padding rows may hold anything (the final norm's gradient at
 * first targets, the keys' and values' gradient from the block above); on return they hold the keys'
 * and values' gradient, which the caller's next reader ignores in the same way.
 */
export function blockBackward(ops: Ops, g: BlockGroups, b: number, ids: Tensor, p: BlockPass, above?: BlockForks): BlockForks {
  const { B, L, d, heads } = p;
  const N = p.layout.rows;
  const n = N * d;
  const act = (name: string): Tensor => g.acts.get(blockName(b, name));
  const par = (name: string): Tensor => g.params.get(blockName(b, name));
  const grad = (name: string): Tensor => g.grads.get(blockName(b, name));
  const s = (name: string): Tensor => g.scratch.get(name);
  const dx = s('dx');
  const [g1, g2, g3] = [s('g1'), s('g2'), s('g3')];
  const rows = { ids, cols: d };
  const params = (name: string, dy: Tensor, x: Tensor, inF: number, outF: number): void =>
    linearParamGrads(ops, linear(g, b, name), dy, x, N, inF, outF, skip(ids));
  // FFN: dx is the gradient of y + f2 (the residual sum)
  if (above !== undefined) {
    ops.join(above.attnOut);
    ops.join(above.ln1);
  }
  ops.dropout(g1, dx, n, p.ffn2Drop, rows);
  // g2 holds the FFN's hidden gradient [N × ffn] here, [N × d] below. The backward of Dropout(ReLU(·))
  // is the gate of its GEMM: the saved ffn_drop is positive exactly where the ReLU's output was and the
  // dropout kept it (and 0 on padding rows, which forward's epilogue zeroed), so g1 · W2 is kept there,
  // times 1 / (1 - p) as the dropout scales, and 0 elsewhere: the dropout's backward then the ReLU's,
  // bit for bit, without regenerating the mask.
  const ffnDrop = act('ffn_drop');
  const gate = { by: ffnDrop, scale: 1 / (1 - p.ffn1Drop.p) };
  const ffn2 = ops.fork(() => params('ffn2', g1, ffnDrop, p.ffn, d));
  linearInputGrad(ops, g2, linear(g, b, 'ffn2'), g1, N, p.ffn, d, false, skip(ids), { gate });
  const ffn1 = ops.fork(() => params('ffn1', g2, operand(g, b, 'ln2'), d, p.ffn));
  linearInputGrad(ops, g3, linear(g, b, 'ffn1'), g2, N, d, p.ffn, false, skip(ids));
  // LN2's input gradient is that of FFN1's input plus the residual's (dx), summed inside the norm's
  // backward; g1 (=), its padding rows 0. Its weight and bias gradients read g3 and dx (joined before
  // q's and k's input gradients write them).
  const ln2Args = [g3, act('x2'), par('ln2.weight'), act('ln2_mean'), act('ln2_rstd'), N, d, ids] as const;
  const ln2 = ops.fork(() => ops.layerNormBackward(g1, grad('ln2.weight'), grad('ln2.bias'), ...ln2Args, { dout2: dx, only: 'params' }));
  ops.join(ffn2);
  ops.layerNormBackward(g1, grad('ln2.weight'), grad('ln2.bias'), ...ln2Args, { dout2: dx, overwrite: true, only: 'input' });
  // Attention: g1 is the gradient of x2 = ln1 + attn_out(att)
  const attnOut = ops.fork(() => params('attn_out', g1, act('att'), d, d));
  ops.join(ffn1);
  linearInputGrad(ops, g2, linear(g, b, 'attn_out'), g1, N, d, d, false, skip(ids));
  const [dq, dk, dv] = [s('dq'), s('dk'), s('dv')];
  // SASRec: the padding keys' gradients go into the k and v biases' gradients here; their rows of dk and
  // dv do not exist (packed) or are not written (padded), and the linears' backward skips them.
  if (above !== undefined) ops.join(above.qkv);
  ops.attentionBackward(dq, dk, dv, g2, act('q'), act('k'), act('v'), act('att'), attentionSaved(g, b), B, L, heads, d / heads, attentionMask(g, b, p, true), p.attnDrop);
  ops.join(ln2);
  linearInputGrad(ops, g3, linear(g, b, 'attn_q'), dq, N, d, d, false, skip(ids));
  // LN1's input gradient: q's (g3) plus the residual's (g1), summed inside the norm's backward; dx (+=)
  // onto the keys' and values' gradient. Its weight and bias gradients read g3 (ready once q's input
  // gradient is), g1 and x: forked first, ahead of the q, k, v weight gradients, since the next block
  // overwrites g1 and g3 before it needs dq, dk and dv again.
  const ln1Args = [g3, act('x'), par('ln1.weight'), act('ln1_mean'), act('ln1_rstd'), N, d, ids] as const;
  const ln1 = ops.fork(() => ops.layerNormBackward(dx, grad('ln1.weight'), grad('ln1.bias'), ...ln1Args, { dout2: g1, only: 'params' }));
  const qkv = ops.fork(() => {
    params('attn_q', dq, operand(g, b, 'ln1'), d, d);
    params('attn_k', dk, operand(g, b, 'x'), d, d);
    params('attn_v', dv, operand(g, b, 'x'), d, d);
  });
  linearInputGrad(ops, dx, linear(g, b, 'attn_k'), dk, N, d, d, false, skip(ids));
  linearInputGrad(ops, dx, linear(g, b, 'attn_v'), dv, N, d, d, true, skip(ids));
  ops.layerNormBackward(dx, grad('ln1.weight'), grad('ln1.bias'), ...ln1Args, { dout2: g1, only: 'input' });
  return { attnOut, ln1, qkv };
}
