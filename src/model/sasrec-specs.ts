/**
 * SASRec's tensors, declared by name once (STYLE.md rule 3): parameters (the same table names the
 * gradients and both Adam moments), the activations forward saves for backward, and backward's
 * scratch. Shapes follow SEED-NOTES.md: item table [(V+1) × d] (row 0 padding, tied with the output),
 * learned positions [L × d], per block LayerNorm → causal MHA (separate q, k, v projections with
 * bias) → residual → LayerNorm → FFN d → d → d with ReLU, and a final LayerNorm.
 */
import type { TensorSpec } from '../backend/ops.js';

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
}

/** The linear layers of one block, by name. */
export const BLOCK_LINEARS = ['attn_q', 'attn_k', 'attn_v', 'attn_out', 'ffn1', 'ffn2'] as const;

/** The layer norms of one block, by name. */
export const BLOCK_NORMS = ['ln1', 'ln2'] as const;

/** Prefix of block b's tensor names. */
export function blockName(b: number, name: string): string {
  return `block${b}.${name}`;
}

const f32 = (name: string, ...shape: number[]): TensorSpec => ({ name, shape, dtype: 'f32' });

/** Parameter specs (also the gradient and Adam-moment specs). */
export function sasrecParamSpecs(dims: SasrecDims): TensorSpec[] {
  const { items: V, hidden: d, maxLen: L } = dims;
  const specs = [f32('item_emb', V + 1, d), f32('pos_emb', L, d)];
  for (let b = 0; b < dims.blocks; b++) {
    for (const ln of BLOCK_NORMS) specs.push(f32(blockName(b, `${ln}.weight`), d), f32(blockName(b, `${ln}.bias`), d));
    for (const lin of BLOCK_LINEARS) specs.push(f32(blockName(b, `${lin}.weight`), d, d), f32(blockName(b, `${lin}.bias`), d));
  }
  specs.push(f32('final_ln.weight', d), f32('final_ln.bias', d));
  return specs;
}

/** The activations of one block that forward saves, for N rows of B sequences. */
const BLOCK_ACTIVATIONS = ['x', 'ln1', 'q', 'k', 'v', 'att', 'x2', 'ln2', 'ffn_relu', 'ffn_drop', 'ffn_out'] as const;

/** Activation specs for batches of up to `rows` sequences (N = rows · L). */
export function sasrecActivationSpecs(dims: SasrecDims, rows: number): TensorSpec[] {
  const { hidden: d, maxLen: L, heads: H } = dims;
  const N = rows * L;
  const specs: TensorSpec[] = [];
  for (let b = 0; b < dims.blocks; b++) {
    for (const a of BLOCK_ACTIVATIONS) specs.push(f32(blockName(b, a), N, d));
    specs.push(f32(blockName(b, 'probs'), rows, H, L, L));
    for (const ln of BLOCK_NORMS) specs.push(f32(blockName(b, `${ln}_mean`), N), f32(blockName(b, `${ln}_rstd`), N));
  }
  specs.push(f32('final_in', N, d), f32('h', N, d), f32('final_mean', N), f32('final_rstd', N));
  return specs;
}

/** Backward's gradients, [N × d] each: dh (the loss writes it), dx (flows down the blocks), the rest per-block scratch. */
export const BACKWARD_SCRATCH = ['dh', 'dx', 'g1', 'g2', 'g3', 'dq', 'dk', 'dv'] as const;

/** Backward scratch specs for batches of up to `rows` sequences. */
export function sasrecBackwardSpecs(dims: SasrecDims, rows: number): TensorSpec[] {
  return BACKWARD_SCRATCH.map((name) => f32(name, rows * dims.maxLen, dims.hidden));
}
