/**
 * Launchers of kernels/attention.cu, flash-style multi-head attention (the kernel file's header holds the
 * contract: shapes, what the forward saves, dropout on the probabilities). Each launcher has the name and
 * argument order of its Ops method, after the stream. The forward saves only the log-sum-exp of every
 * score row; the backward recomputes the probabilities tile by tile and regenerates the dropout mask.
 */
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { TensorSpec } from '../memory-plan.js';
import type { DropoutSpec, Tensor, TensorLookup } from '../ops.js';
import { dropoutThreshold } from '../philox.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { bf16Flag, checkCount, kernelOf, stepCounters, strideGrid } from './launch.js';

/** Name of the saved log-sum-exp [B × H × L] f32 in the attention workspace. */
export const ATTENTION_LSE = 'lse';
/** Name of the backward's scratch delta = rowsum(dout ∘ out) [B × H × L] f32 in the attention workspace. */
export const ATTENTION_DELTA = 'delta';

/** The parameters every forward and backward kernel takes after its pointers (AttnDims, AttnDropout). */
const PROBLEM = [
  'L:i32', 'H:i32', 'hd:i32', 'causal:i32', 'bf16:i32', 'scale:f32', 'seed:u32', 'step:u32', 'site:u32', 'threshold:u32', 'keep_scale:f32', 'counters:ptr',
] as const;

const SIGNATURES = {
  forward: ['out:ptr', 'lse:ptr', 'q:ptr', 'k:ptr', 'v:ptr', ...PROBLEM],
  delta: ['delta:ptr', 'dout:ptr', 'out:ptr', 'B:i32', 'L:i32', 'H:i32', 'hd:i32', 'bf16:i32'],
  backwardKv: ['dk:ptr', 'dv:ptr', 'dout:ptr', 'q:ptr', 'k:ptr', 'v:ptr', 'lse:ptr', 'delta:ptr', ...PROBLEM],
  backwardQ: ['dq:ptr', 'dout:ptr', 'q:ptr', 'k:ptr', 'v:ptr', 'lse:ptr', 'delta:ptr', ...PROBLEM],
} as const satisfies Record<string, KernelSignature>;

/** Threads per CTA of every attention kernel (ATTN_THREADS: 16 × 16). */
const THREADS = 256;

/** The instantiated head widths W: a head of width hd runs the kernels of the smallest W ≥ hd. */
const WIDTHS = [32, 64, 128, 256] as const;
type Width = (typeof WIDTHS)[number];

/** AttnTile<W> of kernels/attention.cu: query rows and key columns each thread owns in a score tile. */
const TILES: Readonly<Record<Width, { readonly rows: number; readonly cols: number }>> = {
  32: { rows: 4, cols: 4 },
  64: { rows: 4, cols: 4 },
  128: { rows: 4, cols: 2 },
  256: { rows: 2, cols: 2 },
};

/** How one head width runs: the kernel suffix, the tile sizes and each kernel's dynamic shared memory. */
interface AttentionPlan {
  readonly width: Width;
  /** Queries per tile (BQ). */
  readonly queryTile: number;
  /** Keys per tile (BK). */
  readonly keyTile: number;
  readonly forwardBytes: number;
  readonly backwardKvBytes: number;
  readonly backwardQBytes: number;
}

/** The plan of head width hd; the byte counts follow the shared-memory carving of each kernel. */
function attentionPlan(hd: number): AttentionPlan {
  const width = WIDTHS.find((w) => hd <= w);
  if (width === undefined) throw new RangeError(`Expected a head width hd in 1..${WIDTHS[WIDTHS.length - 1]} for attention, got ${hd}`);
  const tile = TILES[width];
  const bq = 16 * tile.rows;
  const bk = 16 * tile.cols;
  // Tiles of rows are padded to odd strides (W + 1 floats, BK + 1 floats); keep bits are one byte each.
  const rowTile = (rows: number): number => 4 * rows * (width + 1);
  const scoreTile = 4 * bq * (bk + 1);
  const keep = bq * bk;
  return {
    width,
    queryTile: bq,
    keyTile: bk,
    forwardBytes: rowTile(bq) + 2 * rowTile(bk) + scoreTile + keep,
    backwardKvBytes: 2 * rowTile(bk) + 2 * rowTile(bq) + 2 * scoreTile + 2 * 4 * bq + keep,
    backwardQBytes: 2 * rowTile(bq) + 2 * rowTile(bk) + scoreTile + keep,
  };
}

/** Checks B, L, H, hd; returns the element count of q (= B·L·H·hd). */
function checkDims(what: string, B: number, L: number, H: number, hd: number): number {
  for (const [name, n] of [['B', B], ['L', L], ['H', H], ['hd', hd]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what}: expected ${name} to be a positive integer, got ${n}`);
  }
  attentionPlan(hd);
  checkCount(`${what}: B·H (grid)`, B * H);
  checkCount(`${what}: B·L·H (rows of heads)`, B * L * H);
  return B * L * H * hd;
}

/** q, k, v and out of one call, checked: device tensors of one floating dtype. */
interface Operands {
  readonly q: CudaTensor;
  readonly k: CudaTensor;
  readonly v: CudaTensor;
  readonly out: CudaTensor;
}

function operands(what: string, n: number, q: Tensor, k: Tensor, v: Tensor, out: Tensor): Operands {
  const check = (t: Tensor, name: string): CudaTensor => deviceTensor(t, `${what}.${name}`, ['f32', 'bf16'], n);
  const checked = { q: check(q, 'q'), k: check(k, 'k'), v: check(v, 'v'), out: check(out, 'out') };
  for (const [name, t] of Object.entries(checked)) {
    if (t.dtype !== checked.q.dtype) throw new TypeError(`${what}: expected q, k, v and out of one dtype, got q ${checked.q.dtype} and ${name} ${t.dtype}`);
  }
  return checked;
}

/** The kernels' problem parameters (PROBLEM) of one call. */
function problem(L: number, H: number, hd: number, causal: boolean, bf16: number, drop: DropoutSpec) {
  // dropoutThreshold validates p; threshold 0 (p = 0, or p below 2^-25) keeps every element without drawing.
  const threshold = dropoutThreshold(drop.p);
  const keepScale = drop.p > 0 ? 1 / (1 - drop.p) : 1;
  return [
    L, H, hd, causal ? 1 : 0, bf16, 1 / Math.sqrt(hd), drop.key.seed >>> 0, drop.key.step >>> 0, drop.key.site >>> 0, threshold, keepScale, stepCounters(drop),
  ] as const;
}

/**
 * What forward saves for backward: lse [B × H × L] f32 (the natural-log log-sum-exp of each scaled score
 * row), and the backward's scratch delta [B × H × L] f32 (rowsum(dout ∘ out), written by backward).
 * Pure arithmetic: no context needed.
 */
export function attentionWorkspace(B: number, L: number, H: number, hd: number): TensorSpec[] {
  checkDims('attentionWorkspace', B, L, H, hd);
  return [
    { name: ATTENTION_LSE, shape: [B, H, L], dtype: 'f32' },
    { name: ATTENTION_DELTA, shape: [B, H, L], dtype: 'f32' },
  ];
}

/**
 * out (overwrite) = softmax(q·kᵀ / sqrt(hd), causal or not) with dropout on the probabilities, times v,
 * per head; saves lse in `saved` (attentionWorkspace's tensors). q, k, v, out: [B·L × H·hd], all f32 or
 * all bf16.
 */
export function attentionForward(
  stream: Stream, out: Tensor, saved: TensorLookup, q: Tensor, k: Tensor, v: Tensor,
  B: number, L: number, H: number, hd: number, causal: boolean, drop: DropoutSpec,
): void {
  const n = checkDims('attentionForward', B, L, H, hd);
  const x = operands('attentionForward', n, q, k, v, out);
  const lse = deviceTensor(saved.get(ATTENTION_LSE), 'attentionForward.saved.lse', ['f32'], B * H * L);
  const plan = attentionPlan(hd);
  kernelOf('attention', `attention_forward_${plan.width}`, SIGNATURES.forward, plan.forwardBytes).launch(
    { grid: [B * H, Math.ceil(L / plan.queryTile), 1], block: THREADS, sharedBytes: plan.forwardBytes, stream },
    x.out, lse, x.q, x.k, x.v, ...problem(L, H, hd, causal, bf16Flag(x.q), drop),
  );
}

/**
 * dq, dk, dv (overwrite, f32) from dout (f32) and what attentionForward saved, with the same arguments:
 * q, k, v and the forward's out (f32 or bf16). Writes the scratch delta of `saved` first.
 */
export function attentionBackward(
  stream: Stream, dq: Tensor, dk: Tensor, dv: Tensor,
  dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, saved: TensorLookup,
  B: number, L: number, H: number, hd: number, causal: boolean, drop: DropoutSpec,
): void {
  const n = checkDims('attentionBackward', B, L, H, hd);
  const x = operands('attentionBackward', n, q, k, v, out);
  const grad = (t: Tensor, name: string): CudaTensor => deviceTensor(t, `attentionBackward.${name}`, ['f32'], n);
  const [dqd, dkd, dvd, doutd] = [grad(dq, 'dq'), grad(dk, 'dk'), grad(dv, 'dv'), grad(dout, 'dout')];
  const lse = deviceTensor(saved.get(ATTENTION_LSE), 'attentionBackward.saved.lse', ['f32'], B * H * L);
  const delta = deviceTensor(saved.get(ATTENTION_DELTA), 'attentionBackward.saved.delta', ['f32'], B * H * L);
  const plan = attentionPlan(hd);
  const bf16 = bf16Flag(x.q);
  const args = problem(L, H, hd, causal, bf16, drop);

  // A warp per (row, head).
  kernelOf('attention', 'attention_delta', SIGNATURES.delta).launch(
    { grid: strideGrid(B * L * H * 32, THREADS), block: THREADS, stream },
    delta, doutd, x.out, B, L, H, hd, bf16,
  );
  kernelOf('attention', `attention_backward_kv_${plan.width}`, SIGNATURES.backwardKv, plan.backwardKvBytes).launch(
    { grid: [B * H, Math.ceil(L / plan.keyTile), 1], block: THREADS, sharedBytes: plan.backwardKvBytes, stream },
    dkd, dvd, doutd, x.q, x.k, x.v, lse, delta, ...args,
  );
  kernelOf('attention', `attention_backward_q_${plan.width}`, SIGNATURES.backwardQ, plan.backwardQBytes).launch(
    { grid: [B * H, Math.ceil(L / plan.queryTile), 1], block: THREADS, sharedBytes: plan.backwardQBytes, stream },
    dqd, doutd, x.q, x.k, x.v, lse, delta, ...args,
  );
}
