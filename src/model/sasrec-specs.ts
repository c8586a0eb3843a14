/**
 * SASRec's tensors, declared by name once (never by position): parameters (the same table names the
 * gradients and both Adam moments), the activations forward saves for backward, and backward's
 * scratch. Shapes follow the reference system: item table [(V+1) × d] (row 0 padding, tied with the output
 * unless `tieOutput` is false: then a separate `out_emb` of the same shape),
 * learned positions [L × d], per block LayerNorm → causal MHA (separate q, k, v projections with
 * bias) → residual → LayerNorm → FFN d → d → d with ReLU, and a final LayerNorm.
 *
 * Widths: the activations that feed only GEMMs and attention take the backend's narrow dtype
 * (Ops.activationDType: bf16 under CUDA's default preset); the residual stream and layer norms stay f32.
 */
import { narrowMirrorSpecs, VIEW_ALIGN_BYTES } from '../backend/memory-plan.js';
import type { DType, Ops, TensorSpec } from '../backend/ops.js';

/** The sizes a SASRec instance is built for. */
export interface SasrecDims {
  /** Catalogue size V (ids 1..V, 0 = padding). */
  readonly items: number;
  /** Hidden size d. */
  readonly hidden: number;
  readonly blocks: number;
  readonly heads: number;
  /** Max sequence length L. */
  readonly maxLen: number;
  /**
   * Whether scores read the item table (tied) or a separate output table `out_emb` [(V+1) × d].
   * @default true
   */
  readonly tieOutput?: boolean;
  /** Width of each block's FFN hidden layer (BERT4Rec: 4d). @default hidden */
  readonly ffnHidden?: number;
  /**
   * Attention over every non-padding position (BERT4Rec) instead of the causal past (SASRec).
   * @default false
   */
  readonly bidirectional?: boolean;
  /**
   * BERT4Rec's mask token: id V + 1, one more row of the item table that only ever enters as an input
   * (scores, losses, negatives and top-K cover ids 1..V only). @default false
   */
  readonly maskToken?: boolean;
}

/** The name of the table scores read: the item table when tied, else `out_emb`. */
export function outputTableName(dims: SasrecDims): string {
  return dims.tieOutput === false ? 'out_emb' : 'item_emb';
}

/** The largest input id: V, or V + 1 with the mask token (the item table has this many rows plus padding). */
export function inputVocabulary(dims: SasrecDims): number {
  return dims.items + (dims.maskToken === true ? 1 : 0);
}

/** The FFN's hidden width. */
export function ffnWidth(dims: SasrecDims): number {
  return dims.ffnHidden ?? dims.hidden;
}

/** What the backend decides about the model's tensors: the narrow dtype and the workspaces of its ops. */
export interface ModelLayout {
  /** Dtype of q, k, v, the attention output and the FFN's hidden layer. */
  readonly narrow: DType;
  /** What one block's attention saves for backward (Ops.attentionWorkspace). */
  readonly attention: readonly TensorSpec[];
  /** embedBackward's scratch (Ops.embeddingWorkspace). */
  readonly embedding: readonly TensorSpec[];
  /**
   * Whether the GEMMs read narrow copies of their f32 operands (Ops.narrowOperands): the narrow mirror of
   * the parameters (sasrecNarrowParamSpecs) and each block's x, ln1 and ln2 copies are then planned.
   */
  readonly copies: boolean;
}

/** The layout of a SASRec on `ops` for batches of up to `sequences` sequences in `rows` rows (ops.ts SequenceRows). */
export function modelLayout(
  ops: Pick<Ops, 'activationDType' | 'attentionWorkspace' | 'embeddingWorkspace' | 'narrowOperands'>, dims: SasrecDims, sequences: number, rows: number,
): ModelLayout {
  const { maxLen: L, heads: H, hidden: d } = dims;
  return {
    narrow: ops.activationDType,
    attention: ops.attentionWorkspace(sequences, L, H, d / H),
    embedding: ops.embeddingWorkspace(rows, inputVocabulary(dims)),
    copies: ops.narrowOperands(rows, d),
  };
}

/** The linear layers of one block, by name. */
export const BLOCK_LINEARS = ['attn_q', 'attn_k', 'attn_v', 'attn_out', 'ffn1', 'ffn2'] as const;

/** The layer norms of one block, by name. */
export const BLOCK_NORMS = ['ln1', 'ln2'] as const;

/** Prefix of block b's tensor names. */
export function blockName(b: number, name: string): string {
  return `block${b}.${name}`;
}

/** Name of a tensor that block b's attention saved (an entry of ModelLayout.attention). */
export function attentionSavedName(b: number, name: string): string {
  return blockName(b, `attn.${name}`);
}

/** Name of an entry of embedBackward's workspace in the backward group. */
export function embeddingScratchName(name: string): string {
  return `emb.${name}`;
}

const spec = (name: string, dtype: DType, ...shape: number[]): TensorSpec => ({ name, shape, dtype });
const f32 = (name: string, ...shape: number[]): TensorSpec => spec(name, 'f32', ...shape);

/**
 * Parameter specs (also the gradient and Adam-moment specs), each aligned to 2 · VIEW_ALIGN_BYTES so
 * that a narrow mirror (sasrecNarrowParamSpecs) shares their flat indices: Adam writes both in one pass.
 */
export function sasrecParamSpecs(dims: SasrecDims): TensorSpec[] {
  return sasrecParamShapes(dims).map((s) => ({ ...s, align: 2 * VIEW_ALIGN_BYTES }));
}

/** The parameters' narrow mirror (memory-plan.ts narrowMirrorSpecs) where `layout.copies`, else none. */
export function sasrecNarrowParamSpecs(dims: SasrecDims, layout: Pick<ModelLayout, 'copies' | 'narrow'>): TensorSpec[] {
  return layout.copies ? narrowMirrorSpecs(sasrecParamSpecs(dims), layout.narrow) : [];
}

function sasrecParamShapes(dims: SasrecDims): TensorSpec[] {
  const { items: V, hidden: d, maxLen: L } = dims;
  const f = ffnWidth(dims);
  // Linear layers are [out × in]: only the FFN's differ from d × d.
  const shape: Record<(typeof BLOCK_LINEARS)[number], [number, number]> = {
    attn_q: [d, d], attn_k: [d, d], attn_v: [d, d], attn_out: [d, d], ffn1: [f, d], ffn2: [d, f],
  };
  const specs = [f32('item_emb', inputVocabulary(dims) + 1, d), f32('pos_emb', L, d)];
  for (let b = 0; b < dims.blocks; b++) {
    for (const ln of BLOCK_NORMS) specs.push(f32(blockName(b, `${ln}.weight`), d), f32(blockName(b, `${ln}.bias`), d));
    for (const lin of BLOCK_LINEARS) {
      const [out, inF] = shape[lin];
      specs.push(f32(blockName(b, `${lin}.weight`), out, inF), f32(blockName(b, `${lin}.bias`), out));
    }
  }
  specs.push(f32('final_ln.weight', d), f32('final_ln.bias', d));
  // The untied output table: rows 1..V are scored, row 0 (padding) only keeps the layout of the item table.
  if (outputTableName(dims) !== 'item_emb') specs.push(f32(outputTableName(dims), V + 1, d));
  return specs;
}

/** The activations of one block that forward saves: the residual stream and norms (f32) and the narrow ones. */
const BLOCK_WIDE = ['x', 'ln1', 'x2', 'ln2'] as const;
const BLOCK_NARROW = ['q', 'k', 'v', 'att'] as const;
/** The FFN's hidden layer after ReLU and dropout, [N × ffnWidth] in the narrow dtype (also ReLU's mask in backward). */
const BLOCK_FFN = ['ffn_drop'] as const;
/** Narrow copies of the wide activations that GEMMs read, where ModelLayout.copies (transformer-block.ts BlockGroups.narrow). */
const BLOCK_COPIES = ['x_narrow', 'ln1_narrow', 'ln2_narrow'] as const;

/** Activation specs for batches of up to N = `rows` rows (ops.ts SequenceRows). */
export function sasrecActivationSpecs(dims: SasrecDims, rows: number, layout: ModelLayout): TensorSpec[] {
  const { hidden: d } = dims;
  const N = rows;
  const specs: TensorSpec[] = [];
  for (let b = 0; b < dims.blocks; b++) {
    for (const a of BLOCK_WIDE) specs.push(f32(blockName(b, a), N, d));
    for (const a of BLOCK_NARROW) specs.push(spec(blockName(b, a), layout.narrow, N, d));
    for (const a of BLOCK_FFN) specs.push(spec(blockName(b, a), layout.narrow, N, ffnWidth(dims)));
    if (layout.copies) for (const a of BLOCK_COPIES) specs.push(spec(blockName(b, a), layout.narrow, N, d));
    for (const s of layout.attention) specs.push({ ...s, name: attentionSavedName(b, s.name) });
    for (const ln of BLOCK_NORMS) specs.push(f32(blockName(b, `${ln}_mean`), N), f32(blockName(b, `${ln}_rstd`), N));
  }
  specs.push(f32('final_in', N, d), f32('h', N, d), f32('final_mean', N), f32('final_rstd', N));
  return specs;
}

/**
 * Backward's gradients, f32 each: dx (flows down the blocks), the rest per-block scratch; all [N × d] but
 * g2, which also carries the FFN's hidden gradient: [N × max(d, ffnWidth)]. g1 is also where the loss
 * writes dL/dh (Sasrec.hiddenGrad): the final norm's backward reads it before any block writes g1.
 */
export const BACKWARD_SCRATCH = ['dx', 'g1', 'g2', 'g3', 'dq', 'dk', 'dv'] as const;

/** Backward scratch specs for batches of up to `rows` rows, with embedBackward's workspace. */
export function sasrecBackwardSpecs(dims: SasrecDims, rows: number, layout: ModelLayout): TensorSpec[] {
  const width = (name: string): number => (name === 'g2' ? Math.max(dims.hidden, ffnWidth(dims)) : dims.hidden);
  return [
    ...BACKWARD_SCRATCH.map((name) => f32(name, rows, width(name))),
    ...layout.embedding.map((s) => ({ ...s, name: embeddingScratchName(s.name) })),
  ];
}
