/**
 * Launchers of kernels/attention.cu, flash-style multi-head attention over a batch layout (the kernel
 * file's header holds the contract: shapes, what the forward saves, dropout on the probabilities, the
 * padding keys). Each launcher has the name and argument order of its Ops method, after the stream. The
 * forward saves only the log-sum-exp of every score row; the backward recomputes the probabilities tile
 * by tile and regenerates the dropout mask. The padding keys (seen without keyPadding) are one key and
 * value per head, so every kernel takes them in closed form instead of walking their tiles; the dq
 * kernel sums their gradients per query tile into partials that one more kernel adds up into
 * mask.padKeys.dk / .dv.
 */
import type { KernelArgs, KernelSignature } from '../../cuda/kernel-signature.js';
import type { CudaEvent, Stream } from '../../cuda/stream.js';
import { DTYPE_BYTES, type TensorSpec } from '../memory-plan.js';
import type { AttentionMask, DropoutSpec, Tensor, TensorLookup } from '../ops.js';
import { dropoutThreshold } from '../philox.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { bf16Flag, checkCount, kernelOf, NULL_PTR, stepCounters } from './launch.js';

/** Name of the saved log-sum-exp [B × H × L] f32 in the attention workspace. */
export const ATTENTION_LSE = 'lse';
/** Name of the backward's scratch delta = rowsum(dout ∘ out) [B × H × L] f32 in the attention workspace. */
export const ATTENTION_DELTA = 'delta';
/**
 * Name of the backward's scratch of the padding keys' gradient partials in the attention workspace:
 * [B · tiles × 2·H·hd] f32, a chunk per (sequence, query tile of the dq kernel), dk then dv columns.
 */
export const ATTENTION_PAD_PARTIALS = 'padKeyPartials';

/** The parameters every forward and backward kernel takes after its pointers (AttnDims, AttnDropout, the padding keys). */
const PROBLEM = [
  'L:i32', 'H:i32', 'hd:i32', 'causal:i32', 'bf16:i32', 'scale:f32', 'seed:u32', 'step:u32', 'site:u32', 'threshold:u32', 'keep_scale:f32', 'counters:ptr',
  'seqs:ptr', 'key_padding:i32', 'pad_k:ptr', 'pad_v:ptr',
] as const;

const SIGNATURES = {
  forward: ['out:ptr', 'lse:ptr', 'q:ptr', 'k:ptr', 'v:ptr', ...PROBLEM],
  delta: ['delta:ptr', 'dout:ptr', 'out:ptr', 'seqs:ptr', 'B:i32', 'L:i32', 'H:i32', 'hd:i32', 'bf16:i32'],
  backwardKv: ['dk:ptr', 'dv:ptr', 'dout:ptr', 'q:ptr', 'k:ptr', 'v:ptr', 'lse:ptr', 'delta:ptr', ...PROBLEM],
  backwardQ: ['dq:ptr', 'partials:ptr', 'dout:ptr', 'q:ptr', 'k:ptr', 'v:ptr', 'lse:ptr', 'delta:ptr', ...PROBLEM],
  padKeySums: ['pad_dk:ptr', 'pad_dv:ptr', 'partials:ptr', 'HD:i32', 'chunks:i32'],
  last: [
    'out:ptr', 'q:ptr', 'k:ptr', 'v:ptr', 'L:i32', 'H:i32', 'hd:i32', 'bf16:i32', 'scale:f32', 'seqs:ptr', 'key_padding:i32', 'pad_k:ptr', 'pad_v:ptr',
  ],
} as const satisfies Record<string, KernelSignature>;

/** Threads per CTA of the SIMT kernels (ATTN_THREADS: 16 × 16). */
const THREADS = 256;

/**
 * Threads per CTA of attention_delta (ATTN_DELTA_THREADS): 4 warps, each owning 32 consecutive (position,
 * head) tasks, so a CTA owns as many tasks as it has threads.
 */
const DELTA_THREADS = 128;

/** attention_pad_key_sums: a CTA of 32 columns × 32 phases (column_sums.cuh's COLSUM_LANES × COLSUM_PHASES). */
const SUM_COLUMNS = 32;
const SUM_THREADS = 32 * 32;

/** The instantiated head widths W of the SIMT kernels: a head of width hd runs those of the smallest W ≥ hd. */
const WIDTHS = [32, 64, 128, 256] as const;
type Width = (typeof WIDTHS)[number];

/** AttnTile<W> of kernels/attention.cu: query rows and key columns each thread owns in a score tile. */
const TILES: Readonly<Record<Width, { readonly rows: number; readonly cols: number }>> = {
  32: { rows: 4, cols: 4 },
  64: { rows: 4, cols: 4 },
  128: { rows: 4, cols: 2 },
  256: { rows: 2, cols: 2 },
};

/** Head widths of the tensor-core kernels (bf16 operands and hd exactly one of these). */
const MMA_WIDTHS = [32, 64, 128] as const;
type MmaWidth = (typeof MMA_WIDTHS)[number];

/** Threads per CTA of the tensor-core kernels (ATTN_MMA_THREADS: 4 warps of 16 rows). */
const MMA_THREADS = 128;

/** Query rows and key rows per tile of the tensor-core kernels (ATTN_MMA_BQ = ATTN_MMA_BK). */
const MMA_TILE = 64;

/** Queries per tile of the tensor-core dk/dv kernel (AttnKvTile<D>::BQ: fewer at hd 128, for registers). */
const MMA_KV_QUERIES: Readonly<Record<MmaWidth, number>> = { 32: 64, 64: 64, 128: 32 };

/** One kernel of a plan: its name, the positions of L a CTA owns (grid y = ⌈L / tile⌉), its block and shared memory. */
interface KernelPlan {
  readonly name: string;
  readonly tile: number;
  readonly threads: number;
  readonly sharedBytes: number;
}

/** The three kernels one call of a head width and dtype runs. */
interface AttentionPlan {
  readonly forward: KernelPlan;
  readonly backwardKv: KernelPlan;
  readonly backwardQ: KernelPlan;
}

/** The smallest SIMT width W ≥ hd; throws past the widest. */
function simtWidth(hd: number): Width {
  const width = WIDTHS.find((w) => hd <= w);
  if (width === undefined) throw new RangeError(`Expected a head width hd in 1..${WIDTHS[WIDTHS.length - 1]} for attention, got ${hd}`);
  return width;
}

/** The SIMT kernels of head width hd; the byte counts follow the shared-memory carving of each kernel. */
function simtPlan(hd: number): AttentionPlan {
  const width = simtWidth(hd);
  const tile = TILES[width];
  const bq = 16 * tile.rows;
  const bk = 16 * tile.cols;
  // Tiles of rows are padded to odd strides (W + 1 floats, BK + 1 floats); keep bits are one byte each.
  const rowTile = (rows: number): number => 4 * rows * (width + 1);
  const scoreTile = 4 * bq * (bk + 1);
  const keep = bq * bk;
  const kernel = (name: string, rows: number, sharedBytes: number): KernelPlan => ({ name: `${name}_${width}`, tile: rows, threads: THREADS, sharedBytes });
  return {
    forward: kernel('attention_forward', bq, rowTile(bq) + 2 * rowTile(bk) + scoreTile + keep),
    backwardKv: kernel('attention_backward_kv', bk, 2 * rowTile(bk) + 2 * rowTile(bq) + 2 * scoreTile + 2 * 4 * bq + keep),
    backwardQ: kernel('attention_backward_q', bq, 2 * rowTile(bq) + 2 * rowTile(bk) + scoreTile + keep),
  };
}

/** The tensor-core kernels of head width hd; the byte counts follow the shared-memory carving of each kernel. */
function mmaPlan(hd: MmaWidth): AttentionPlan {
  // bf16 rows padded by 8 elements (16 bytes), so the 8 rows of an ldmatrix phase hit distinct banks;
  // keep bits are one 32-bit word per query and 32 keys; lse and delta one float per query.
  const rowTile = (rows: number): number => 2 * rows * (hd + 8);
  const keep = (queries: number): number => 4 * queries * (MMA_TILE / 32);
  const kvQueries = MMA_KV_QUERIES[hd];
  const kernel = (name: string, sharedBytes: number): KernelPlan => ({ name: `${name}_mma_${hd}`, tile: MMA_TILE, threads: MMA_THREADS, sharedBytes });
  return {
    forward: kernel('attention_forward', 3 * rowTile(MMA_TILE) + keep(MMA_TILE)),
    backwardKv: kernel('attention_backward_kv', 2 * rowTile(MMA_TILE) + 2 * rowTile(kvQueries) + 2 * 4 * kvQueries + keep(kvQueries)),
    backwardQ: kernel('attention_backward_q', 4 * rowTile(MMA_TILE) + keep(MMA_TILE)),
  };
}

function isMmaWidth(hd: number): hd is MmaWidth {
  return (MMA_WIDTHS as readonly number[]).includes(hd);
}

/**
 * The kernels of one call: the tensor cores for bf16 operands of a head width they take, with every
 * pointer 16-byte aligned (their 16-byte loads and stores; views of the memory plan are 256-byte
 * aligned, so a view carved elsewhere at an odd offset is the only case that falls back); else SIMT
 * (the f32 parity mode, other widths).
 */
function attentionPlan(hd: number, bf16: boolean, tensors: readonly CudaTensor[]): AttentionPlan {
  if (bf16 && isMmaWidth(hd) && tensors.every((t) => t.ptr % 16n === 0n)) return mmaPlan(hd);
  return simtPlan(hd);
}

/** Launches one kernel of a plan over grid (B·H, ⌈L / tile⌉). */
function launchPlanned<S extends KernelSignature>(
  stream: Stream, plan: KernelPlan, signature: S, BH: number, L: number, ...args: KernelArgs<S>
): void {
  kernelOf('attention', plan.name, signature, plan.sharedBytes).launch(
    { grid: [BH, Math.ceil(L / plan.tile), 1], block: plan.threads, sharedBytes: plan.sharedBytes, stream },
    ...args,
  );
}

/** Checks B, L, H, hd. */
function checkDims(what: string, B: number, L: number, H: number, hd: number): void {
  for (const [name, n] of [['B', B], ['L', L], ['H', H], ['hd', hd]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what}: expected ${name} to be a positive integer, got ${n}`);
  }
  simtWidth(hd);
  checkCount(`${what}: B·H (grid)`, B * H);
  checkCount(`${what}: B·L·H (positions of heads)`, B * L * H);
}

/** The layout's rows, checked; returns the element count of q, k, v and out (= rows·H·hd). */
function layoutElements(what: string, mask: AttentionMask, H: number, hd: number): number {
  const rows = mask.layout.rows;
  if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`${what}: expected mask.layout.rows to be a non-negative integer, got ${rows}`);
  return rows * H * hd;
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

/** The mask's tensors on the device: seqs, and the padding keys' vectors where they are seen (else null). */
interface MaskTensors {
  readonly seqs: CudaTensor;
  readonly padK: CudaTensor | null;
  readonly padV: CudaTensor | null;
}

function maskTensors(what: string, B: number, H: number, hd: number, mask: AttentionMask): MaskTensors {
  const seqs = deviceTensor(mask.layout.seqs, `${what}.mask.layout.seqs`, ['i32'], 2 * B);
  if (mask.keyPadding) return { seqs, padK: null, padV: null };
  const pad = mask.padKeys;
  if (pad === undefined) throw new Error(`${what}: padding keys are seen (keyPadding false), so mask.padKeys is required`);
  return {
    seqs,
    padK: deviceTensor(pad.k, `${what}.mask.padKeys.k`, ['f32'], H * hd),
    padV: deviceTensor(pad.v, `${what}.mask.padKeys.v`, ['f32'], H * hd),
  };
}

/** The kernels' problem parameters (PROBLEM) of one call. */
function problem(L: number, H: number, hd: number, mask: AttentionMask, m: MaskTensors, bf16: number, drop: DropoutSpec) {
  // dropoutThreshold validates p; threshold 0 (p = 0, or p below 2^-25) keeps every element without drawing.
  const threshold = dropoutThreshold(drop.p);
  const keepScale = drop.p > 0 ? 1 / (1 - drop.p) : 1;
  return [
    L, H, hd, mask.causal ? 1 : 0, bf16, 1 / Math.sqrt(hd), drop.key.seed >>> 0, drop.key.step >>> 0, drop.key.site >>> 0, threshold, keepScale, stepCounters(drop),
    m.seqs, mask.keyPadding ? 1 : 0, m.padK ?? NULL_PTR, m.padV ?? NULL_PTR,
  ] as const;
}

/** Query tiles of L of the dq kernel of `plan`: the chunks of partials each sequence has. */
function queryTiles(plan: AttentionPlan, L: number): number {
  return Math.ceil(L / plan.backwardQ.tile);
}

/**
 * What forward saves for backward: lse [B × H × L] f32 (the natural-log log-sum-exp of each scaled score
 * row), the backward's scratch delta [B × H × L] f32 (rowsum(dout ∘ out), written by backward) and the
 * padding keys' gradient partials [B · tiles × 2·H·hd] f32, tiles = ⌈L / BQ⌉ for the smallest query tile
 * BQ of the dq kernels hd may run (SIMT or tensor cores: the dtype is not known here). Pure arithmetic:
 * no context needed.
 */
export function attentionWorkspace(B: number, L: number, H: number, hd: number): TensorSpec[] {
  checkDims('attentionWorkspace', B, L, H, hd);
  const tiles = Math.max(queryTiles(simtPlan(hd), L), isMmaWidth(hd) ? queryTiles(mmaPlan(hd), L) : 0);
  return [
    { name: ATTENTION_LSE, shape: [B, H, L], dtype: 'f32' },
    { name: ATTENTION_DELTA, shape: [B, H, L], dtype: 'f32' },
    { name: ATTENTION_PAD_PARTIALS, shape: [B * tiles, 2 * H * hd], dtype: 'f32' },
  ];
}

/**
 * out (overwrite, the sequences' rows) = softmax(q·kᵀ / sqrt(hd), over the keys `mask` lets each row
 * see) with dropout on the probabilities, times v, per head (ops.ts attentionForward); padding positions
 * have no row and other rows are left as they are; saves lse in `saved` (attentionWorkspace's tensors).
 * q, k, v, out: [mask.layout.rows × H·hd], all f32 or all bf16.
 */
export function attentionForward(
  stream: Stream, out: Tensor, saved: TensorLookup, q: Tensor, k: Tensor, v: Tensor,
  B: number, L: number, H: number, hd: number, mask: AttentionMask, drop: DropoutSpec,
): void {
  checkDims('attentionForward', B, L, H, hd);
  const x = operands('attentionForward', layoutElements('attentionForward', mask, H, hd), q, k, v, out);
  const lse = deviceTensor(saved.get(ATTENTION_LSE), 'attentionForward.saved.lse', ['f32'], B * H * L);
  const m = maskTensors('attentionForward', B, H, hd, mask);
  const bf16 = bf16Flag(x.q);
  const plan = attentionPlan(hd, bf16 === 1, [x.q, x.k, x.v, x.out]);
  launchPlanned(stream, plan.forward, SIGNATURES.forward, B * H, L, x.out, lse, x.q, x.k, x.v, ...problem(L, H, hd, mask, m, bf16, drop));
}

/**
 * A second stream for attentionBackward's dk/dv kernel, beside its dq kernel, and the two events that
 * order it against the call's stream. One set serves every call: a wait binds to the event's last
 * record when it is queued (cuStreamWaitEvent), so the next call may record the same events again; in a
 * CUDA graph capture each record/wait pair becomes an edge of the graph.
 */
export interface AttentionBeside {
  /** The stream that runs the dk/dv kernel. */
  readonly stream: Stream;
  /** Recorded on the call's stream after attention_delta; `stream` waits on it before the dk/dv kernel. */
  readonly start: CudaEvent;
  /** Recorded on `stream` after the dk/dv kernel; the call's stream waits on it before the call returns. */
  readonly done: CudaEvent;
}

/**
 * dq, dk, dv (overwrite, f32, the sequences' rows) from dout (f32, read on those rows) and what
 * attentionForward saved, with the same arguments: q, k, v and the forward's out (f32 or bf16). Writes
 * the scratch delta of `saved` first (attention_delta: dout · out per position and head), which the dq
 * and the dk/dv kernels then only read. Without keyPadding, adds the padding keys' gradients into
 * mask.padKeys.dk and .dv (+=, f32 [H·hd]) through the scratch partials of `saved`: deterministic.
 *
 * With `beside`, the dk/dv kernel runs on beside.stream at the same time as the dq kernel (and the
 * padding keys' sums) on `stream`: causal attention leaves each kernel's grid unbalanced (query tile i
 * walks i + 1 key tiles), so neither fills the GPU alone. The two share only inputs and write disjoint
 * outputs: the same bits as on one stream. Either way, everything the call writes is ready for the work
 * queued on `stream` after it.
 */
export function attentionBackward(
  stream: Stream, dq: Tensor, dk: Tensor, dv: Tensor,
  dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, saved: TensorLookup,
  B: number, L: number, H: number, hd: number, mask: AttentionMask, drop: DropoutSpec, beside?: AttentionBeside,
): void {
  checkDims('attentionBackward', B, L, H, hd);
  const n = layoutElements('attentionBackward', mask, H, hd);
  const x = operands('attentionBackward', n, q, k, v, out);
  const grad = (t: Tensor, name: string): CudaTensor => deviceTensor(t, `attentionBackward.${name}`, ['f32'], n);
  const [dqd, dkd, dvd, doutd] = [grad(dq, 'dq'), grad(dk, 'dk'), grad(dv, 'dv'), grad(dout, 'dout')];
  const lse = deviceTensor(saved.get(ATTENTION_LSE), 'attentionBackward.saved.lse', ['f32'], B * H * L);
  const delta = deviceTensor(saved.get(ATTENTION_DELTA), 'attentionBackward.saved.delta', ['f32'], B * H * L);
  const m = maskTensors('attentionBackward', B, H, hd, mask);
  const bf16 = bf16Flag(x.q);
  const plan = attentionPlan(hd, bf16 === 1, [x.q, x.k, x.v, x.out, dqd, dkd, dvd, doutd]);
  const args = problem(L, H, hd, mask, m, bf16, drop);
  // The padding keys' sums (padding keys seen): a chunk of partials per (sequence, query tile), then their sum.
  const chunks = B * queryTiles(plan, L);
  let sums: { readonly dk: CudaTensor; readonly dv: CudaTensor; readonly partials: CudaTensor } | null = null;
  if (!mask.keyPadding) {
    const pad = mask.padKeys;
    if (pad?.dk === undefined || pad.dv === undefined) throw new Error('attentionBackward: padding keys are seen, so mask.padKeys.dk and .dv are required');
    sums = {
      dk: deviceTensor(pad.dk, 'attentionBackward.mask.padKeys.dk', ['f32'], H * hd),
      dv: deviceTensor(pad.dv, 'attentionBackward.mask.padKeys.dv', ['f32'], H * hd),
      partials: deviceTensor(saved.get(ATTENTION_PAD_PARTIALS), 'attentionBackward.saved.padKeyPartials', ['f32'], chunks * 2 * H * hd),
    };
  }

  // A warp per 32 (position, head) tasks, one CTA per 128 (no grid-stride loop: padding tiles retire at
  // once and the CTAs of real rows take their places).
  kernelOf('attention', 'attention_delta', SIGNATURES.delta).launch(
    { grid: [Math.ceil((B * L * H) / DELTA_THREADS), 1, 1], block: DELTA_THREADS, stream },
    delta, doutd, x.out, m.seqs, B, L, H, hd, bf16,
  );
  // dk/dv after delta: on beside.stream once it has waited for delta, else next on the call's stream.
  if (beside !== undefined) {
    beside.start.record(stream);
    beside.stream.waitFor(beside.start);
  }
  const kvStream = beside?.stream ?? stream;
  launchPlanned(kvStream, plan.backwardKv, SIGNATURES.backwardKv, B * H, L, dkd, dvd, doutd, x.q, x.k, x.v, lse, delta, ...args);
  launchPlanned(stream, plan.backwardQ, SIGNATURES.backwardQ, B * H, L, dqd, sums?.partials ?? NULL_PTR, doutd, x.q, x.k, x.v, lse, delta, ...args);
  if (sums !== null) {
    kernelOf('attention', 'attention_pad_key_sums', SIGNATURES.padKeySums).launch(
      { grid: [Math.ceil((H * hd) / SUM_COLUMNS), 2, 1], block: SUM_THREADS, stream },
      sums.dk, sums.dv, sums.partials, H * hd, chunks,
    );
  }
  // The call's stream takes dk and dv back before anything queued after the call.
  if (beside !== undefined) {
    beside.done.record(beside.stream);
    stream.waitFor(beside.done);
  }
}

/** Threads per CTA of attention_last_forward_<VEC> (ATTN_LAST_THREADS), one CTA per (sequence, head). */
const LAST_THREADS = 256;

/** Chunk widths of attention_last_forward_<VEC>, widest first: elements of a row a lane loads at once. */
const LAST_VECS = [8, 4, 2, 1] as const;

/**
 * The widest chunk that divides hd and whose loads (min(16, VEC · element bytes) each) q, k and v are
 * aligned for: 16-byte loads for bf16 at hd % 8 = 0 (two for f32). Rows start at multiples of hd
 * elements, so a chunk of a row is aligned when the tensor is; out is written by element.
 */
function lastChunkWidth(hd: number, tensors: readonly CudaTensor[]): (typeof LAST_VECS)[number] {
  const fits = (vec: number): boolean =>
    hd % vec === 0 && tensors.every((t) => t.ptr % BigInt(Math.min(16, vec * DTYPE_BYTES[t.dtype])) === 0n);
  return LAST_VECS.find(fits) ?? 1;
}

/**
 * Evaluation's attention of each sequence's last position (ops.ts attentionLastForward): out [B × H·hd]
 * (overwrite) from q [B × H·hd] (position L − 1 of each sequence) and k, v [mask.layout.rows × H·hd], all
 * f32 or all bf16; nothing saved, no dropout. attention_last_forward_<VEC>, one CTA of 256 threads per
 * (sequence, head), reads the sequence's key and value rows once with loads of VEC elements (the widest
 * that hd and the pointers allow); its shared memory is static, so any L.
 */
export function attentionLastForward(
  stream: Stream, out: Tensor, q: Tensor, k: Tensor, v: Tensor, B: number, L: number, H: number, hd: number, mask: AttentionMask,
): void {
  checkDims('attentionLastForward', B, L, H, hd);
  const n = layoutElements('attentionLastForward', mask, H, hd);
  const rows = B * H * hd;
  const x = {
    q: deviceTensor(q, 'attentionLastForward.q', ['f32', 'bf16'], rows),
    k: deviceTensor(k, 'attentionLastForward.k', ['f32', 'bf16'], n),
    v: deviceTensor(v, 'attentionLastForward.v', ['f32', 'bf16'], n),
    out: deviceTensor(out, 'attentionLastForward.out', ['f32', 'bf16'], rows),
  };
  for (const [name, t] of Object.entries(x)) {
    if (t.dtype !== x.q.dtype) throw new TypeError(`attentionLastForward: expected q, k, v and out of one dtype, got q ${x.q.dtype} and ${name} ${t.dtype}`);
  }
  const m = maskTensors('attentionLastForward', B, H, hd, mask);
  const vec = lastChunkWidth(hd, [x.q, x.k, x.v]);
  kernelOf('attention', `attention_last_forward_${vec}`, SIGNATURES.last).launch(
    { grid: [B * H, 1, 1], block: LAST_THREADS, stream },
    x.out, x.q, x.k, x.v, L, H, hd, bf16Flag(x.q), 1 / Math.sqrt(hd), m.seqs, mask.keyPadding ? 1 : 0, m.padK ?? NULL_PTR, m.padV ?? NULL_PTR,
  );
}
