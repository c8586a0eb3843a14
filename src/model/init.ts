/**
 * SASRec's initialisation, as the reference (PyTorch defaults, then xavier_normal_ on every ≥ 2-D
 * weight): embeddings and weights xavier-normal, std = sqrt(2 / (fan_in + fan_out)); the q, k, v
 * projections take the fans of PyTorch's fused in_proj [3d × d]; attention biases 0; FFN biases
 * U(−1/√d, 1/√d) (nn.Linear's default); LayerNorm weight 1 and bias 0.
 *
 * Values come from Philox (stream INIT): element i of the tensor named `name` draws words of
 * philox([i, tensorKey(name), 0, INIT], [seed, 0]), so a tensor's initial values depend only on the seed
 * and its name: never on its position in the table, allocation order or thread count (adding a tensor
 * leaves every other one as it was).
 */
import { philox4x32 } from '../backend/philox.js';
import type { TensorSpec } from '../backend/ops.js';
import { ffnWidth, type SasrecDims } from './sasrec-specs.js';

/** Counter word c3 of initialisation ("INIT"). */
export const INIT_STREAM = 0x494e4954;

const TWO_POW_MINUS_32 = 2 ** -32;

/** How one parameter tensor starts. */
export type InitRule =
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'constant'; readonly value: number };

/** The rule of a SASRec parameter, by its name in sasrecParamSpecs(dims). */
export function sasrecInitRule(spec: TensorSpec, dims: SasrecDims): InitRule {
  const name = spec.name;
  const [rows = 1, cols = 1] = spec.shape;
  if (name.endsWith('ln1.weight') || name.endsWith('ln2.weight') || name === 'final_ln.weight') return { kind: 'constant', value: 1 };
  if (name.endsWith('.bias')) {
    if (!name.includes('.ffn')) return { kind: 'constant', value: 0 };
    // nn.Linear's bound is 1/sqrt(fan_in): d into ffn1, the FFN's width into ffn2.
    const fanIn = name.endsWith('.ffn2.bias') ? ffnWidth(dims) : dims.hidden;
    return { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) };
  }
  // q, k and v are one [3d × d] in_proj in PyTorch: fan_out = 3d.
  const fanOut = /\.attn_[qkv]\.weight$/.test(name) ? 3 * rows : rows;
  return { kind: 'normal', std: Math.sqrt(2 / (fanOut + cols)) };
}

/** A tensor's 32-bit Philox counter word: FNV-1a of its name's UTF-16 code units. */
export function tensorKey(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Fills `out` with the initial values of the tensor named `name` under `rule`. */
export function initTensor(out: Float32Array, rule: InitRule, seed: number, name: string): void {
  const t = tensorKey(name);
  if (rule.kind === 'constant') {
    out.fill(rule.value);
    return;
  }
  const words = new Uint32Array(4);
  for (let i = 0; i < out.length; i++) {
    philox4x32(i, t, 0, INIT_STREAM, seed, 0, words);
    if (rule.kind === 'uniform') {
      out[i] = (2 * (words[0]! * TWO_POW_MINUS_32) - 1) * rule.bound;
    } else {
      // Box–Muller; u1 in (0, 1] so the logarithm is finite.
      const u1 = (words[0]! + 1) * TWO_POW_MINUS_32;
      const u2 = words[1]! * TWO_POW_MINUS_32;
      out[i] = rule.std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
  }
}
