/**
 * Launchers of kernels/gemm.cu (the kernel file's header holds the contract: layouts, what overwrites and
 * what accumulates). Two ways to multiply, named by `GemmMath`; both split the depth k over CTAs when the
 * output has too few tiles to fill the GPU (the weight gradients: m = n = d, k = N), writing per-split
 * partials to a caller-given scratch that a second kernel adds in a fixed order, so every result is
 * deterministic. The bf16 math has three kernel sets, named by `GemmKernels`: cp.async-pipelined kernels
 * with a tile shape per problem (the default), the same tiles register-staged, and the single 128 × 64
 * register-staged kernel they replace; the last two are fallbacks (GRID_GEMM_KERNELS=tiled or legacy).
 */
import { currentContext } from '../../cuda/context.js';
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { DType } from '../memory-plan.js';
import type { MatmulOptions, Tensor } from '../ops.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { bf16Flag, checkCount, kernelOf, multiprocessors, NULL_PTR, strideGrid } from './launch.js';

/** How a GEMM multiplies: 'bf16' rounds both operands to bf16 as it stages them and uses the tensor cores
 *  (mma.sync m16n8k16, fp32 accumulation); 'fp32' multiplies in fp32 FMA (the fp32 parity mode). */
export type GemmMath = 'bf16' | 'fp32';

/**
 * Which bf16 kernels run. 'async' and 'tiled' pick a CTA tile per problem (128 × 128 for wide outputs such
 * as d = 256, 64 × 64 for m ≤ 64, else 128 × 64); 'async' copies operands into shared memory with cp.async
 * two k tiles ahead of the multiplication, 'tiled' stages them through registers one tile ahead. 'legacy'
 * runs the register-staged 128 × 64 kernel for every shape, as before either existed. 'tiled' is the
 * default (fastest on an H200); the others stay selectable for comparison. 'fp32' math ignores the choice.
 */
export type GemmKernels = 'async' | 'tiled' | 'legacy';

const KERNEL_SETS: readonly GemmKernels[] = ['async', 'tiled', 'legacy'];

/** Environment variable choosing the bf16 GEMM kernels (a GemmKernels name); read once, at load. */
export const GEMM_KERNELS_ENV = 'GRID_GEMM_KERNELS';

function kernelsFromEnv(): GemmKernels {
  const env = process.env[GEMM_KERNELS_ENV];
  // 'tiled' measured fastest on an H200 at both ML-1M and ML-20M shapes (BENCHMARKS.md, "GEMM kernel sets").
  if (env === undefined || env === '') return 'tiled';
  const set = KERNEL_SETS.find((k) => k === env);
  if (set === undefined) throw new Error(`${GEMM_KERNELS_ENV}: expected one of ${KERNEL_SETS.join(', ')}, got "${env}"`);
  return set;
}

/** The bf16 kernels every launcher of this module uses. @default 'tiled' (GRID_GEMM_KERNELS overrides) */
let currentKernels: GemmKernels = kernelsFromEnv();

/** Chooses the bf16 kernels for every later launch (tests and benchmarks compare both). */
export function setGemmKernels(kernels: GemmKernels): void {
  currentKernels = kernels;
}

/** The bf16 kernels launches use now. */
export function gemmKernels(): GemmKernels {
  return currentKernels;
}

/** f32 elements of the split-K scratch every call is given (16 MiB). */
export const GEMM_SCRATCH_FLOATS = 1 << 22;

const SIGNATURES = {
  gemm: [
    'out:ptr', 'partial:ptr', 'a:ptr', 'b:ptr', 'm:i32', 'n:i32', 'k:i32', 'k_per_split:i32',
    'out_bf16:i32', 'a_bf16:i32', 'b_bf16:i32', 'alpha:f32', 'accumulate:i32', 'a_ids:ptr', 'bias:ptr',
  ],
  splitkReduce: ['out:ptr', 'partial:ptr', 'mn:i64', 'splits:i32', 'out_bf16:i32', 'alpha:f32', 'accumulate:i32', 'bias:ptr', 'n:i32'],
  fillColumn: ['x:ptr', 'rows:i32', 'ld:i64', 'col:i32', 'value:f32'],
} as const satisfies Record<string, KernelSignature>;

/** A CTA tile of kernels/gemm.cu and the infix of its kernels' names (gemm_bf16{infix}_nt…). */
interface GemmTile {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly infix: string;
  /** Whether the kernels are gemm_async_body's (dynamic shared memory, gemmAsyncSharedBytes). */
  readonly pipelined: boolean;
}

/** SIMT_BM × SIMT_BN × SIMT_BK: the 'fp32' kernels. */
const FP32_TILE: GemmTile = { m: 64, n: 64, k: 16, infix: '', pipelined: false };
/** GEMM_BM × GEMM_BN × GEMM_BK: the legacy bf16 kernels, which the tiled set also uses for this shape. */
const BF16_LEGACY_TILE: GemmTile = { m: 128, n: 64, k: 32, infix: '', pipelined: false };

/** Each bf16 set's tiles (WideTile, NarrowTile or the legacy one, SmallTile), preferred in this order when
 *  they pad equally. */
const BF16_TILES: Readonly<Record<GemmKernels, readonly GemmTile[]>> = {
  async: [
    { m: 128, n: 128, k: 32, infix: '_async_wide', pipelined: true },
    { m: 128, n: 64, k: 32, infix: '_async_narrow', pipelined: true },
    { m: 64, n: 64, k: 32, infix: '_async_small', pipelined: true },
  ],
  tiled: [
    { m: 128, n: 128, k: 32, infix: '_wide', pipelined: false },
    BF16_LEGACY_TILE,
    { m: 64, n: 64, k: 32, infix: '_small', pipelined: false },
  ],
  legacy: [BF16_LEGACY_TILE],
};

/**
 * The tile of one product: for bf16 the one of the set that pads m × n least (the larger tile on a tie:
 * fewer operand re-reads, more mma per barrier), so d = 64 outputs keep 64 columns and a batch of ≤ 64
 * rows keeps 64 rows.
 */
function tileFor(m: number, n: number, math: GemmMath, kernels: GemmKernels): GemmTile {
  if (math === 'fp32') return FP32_TILE;
  const padded = (t: GemmTile): number => Math.ceil(m / t.m) * t.m * Math.ceil(n / t.n) * t.n;
  const tiles = BF16_TILES[kernels];
  let best = tiles[0]!;
  for (const t of tiles) if (padded(t) < padded(best)) best = t;
  return best;
}

/** GEMM_RAW_STAGES: the k tiles a pipelined kernel copies ahead. */
const RAW_STAGES = 2;
/** GEMM_PAD: bf16 elements padding each staged row. */
const PAD = 8;

/**
 * Dynamic shared bytes of a pipelined kernel (kernels/gemm.cu gemm_async_smem_bytes): the raw stages at
 * f32 size, and two bf16 tiles of each operand, [outer × (k + PAD)] when its depth is contiguous in memory
 * (a without transA, b with transB), else [k × (outer + PAD)].
 */
export function gemmAsyncSharedBytes(tile: Pick<GemmTile, 'm' | 'n' | 'k'>, transA: boolean, transB: boolean): number {
  const elems = (outer: number, depthContiguous: boolean): number => (depthContiguous ? outer * (tile.k + PAD) : tile.k * (outer + PAD));
  return RAW_STAGES * (tile.m + tile.n) * tile.k * 4 + 2 * 2 * (elems(tile.m, !transA) + elems(tile.n, transB));
}

/** Threads of every GEMM CTA (GEMM_THREADS). */
const THREADS = 256;

/** CTAs a split GEMM aims for: two waves of one per multiprocessor. */
const TARGET_CTAS_PER_SM = 2;

/**
 * The least depth of one split, in k tiles: a split writes and the reduction reads m·n partial floats,
 * which should stay small against the split's own operand reads.
 */
const MIN_TILES_PER_SPLIT = 4;

/** The largest grid.z (CUDA's limit). */
const MAX_GRID_Z = 65_535;

/** How one (m, n, k) runs: output tiles, and the split of k over grid z. */
export interface GemmPlan {
  /** Output tiles (grid x): ⌈m / tile m⌉ · ⌈n / tile n⌉. */
  readonly tiles: number;
  /** Shares of k (grid z); > 1 writes `splits · m · n` partial floats to the scratch and adds a reduction. */
  readonly splits: number;
  /** Depth of each share, a multiple of the k tile (the last share may be shorter). */
  readonly kPerSplit: number;
}

/**
 * The plan of one product on a GPU of `multiprocessorCount` SMs: split k only when the output tiles fill
 * less than two waves, no more than the scratch holds, and no split shallower than MIN_TILES_PER_SPLIT tiles.
 * `kernels` (bf16 only) decides the tile. @default the current choice (setGemmKernels)
 */
export function gemmPlanFor(m: number, n: number, k: number, math: GemmMath, multiprocessorCount: number,
  kernels: GemmKernels = currentKernels): GemmPlan {
  const tile = tileFor(m, n, math, kernels);
  const tiles = Math.ceil(m / tile.m) * Math.ceil(n / tile.n);
  const kTiles = Math.ceil(k / tile.k);
  const wanted = Math.ceil((TARGET_CTAS_PER_SM * multiprocessorCount) / Math.max(tiles, 1));
  const fit = Math.floor(GEMM_SCRATCH_FLOATS / Math.max(m * n, 1));
  let splits = Math.max(1, Math.min(wanted, Math.ceil(kTiles / MIN_TILES_PER_SPLIT), fit, MAX_GRID_Z));
  const kPerSplit = Math.max(1, Math.ceil(Math.ceil(k / splits) / tile.k)) * tile.k;
  splits = Math.max(1, Math.ceil(k / kPerSplit));
  return { tiles, splits, kPerSplit };
}

function kernel<K extends keyof typeof SIGNATURES>(name: string, kind: K, sharedBytes = 0): KernelFunction<(typeof SIGNATURES)[K]> {
  return kernelOf('gemm', name, SIGNATURES[kind], sharedBytes);
}

const FLOATS: readonly DType[] = ['f32', 'bf16'];

/** The grid's x dimension holds the output tiles (CUDA's limit is 2^31 - 1). */
function checkTiles(what: string, tiles: number): void {
  if (tiles >= 2 ** 31) throw new RangeError(`${what}: ${tiles} output tiles exceed the grid's limit of 2^31 - 1`);
}

/** GEMM_LIVE_WORDS · 32: the depth steps of a split whose zero rows the kernels can skip (transA). */
const LIVE_STEPS = 1024;

/**
 * The product on checked device tensors (m, n ≥ 1): one GEMM launch, plus the reduction when k is split.
 * aIds: ids of a's rows (kernels/gemm.cu ZERO ROWS), or null; bias: f32 [n] added to every row, or null.
 */
function gemm(
  stream: Stream, out: CudaTensor, a: CudaTensor, b: CudaTensor, m: number, n: number, k: number,
  transA: boolean, transB: boolean, alpha: number, accumulate: boolean, math: GemmMath, scratch: CudaTensor, what: string,
  aIds: CudaTensor | null = null, bias: CudaTensor | null = null,
): void {
  const kernels = currentKernels;
  const plan = gemmPlanFor(m, n, k, math, multiprocessors(), kernels);
  checkTiles(what, plan.tiles);
  const split = plan.splits > 1;
  let tile = tileFor(m, n, math, kernels);
  // A device whose blocks cannot opt in to that much shared memory (about 99 KiB on sm_86 and sm_89) runs
  // the same tile register-staged: the 'tiled' set has every pipelined shape, so the plan stays valid.
  if (tile.pipelined && gemmAsyncSharedBytes(tile, transA, transB) > currentContext().device.maxSharedMemoryPerBlockOptinBytes) {
    tile = tileFor(m, n, math, 'tiled');
  }
  const name = `gemm_${math === 'bf16' ? 'bf16' : 'f32'}${tile.infix}_${transA ? 't' : 'n'}${transB ? 't' : 'n'}`;
  const sharedBytes = tile.pipelined ? gemmAsyncSharedBytes(tile, transA, transB) : 0;
  // A split deeper than the kernels' live-step bits multiplies every row (zero rows are an option, not a duty).
  const ids = aIds !== null && !(transA && plan.kPerSplit > LIVE_STEPS * tile.k) ? aIds : NULL_PTR;
  // A split GEMM writes raw partials (its kernel ignores the bias then): the reduction adds the bias, once.
  kernel(name, 'gemm', sharedBytes).launch(
    { grid: [plan.tiles, 1, plan.splits], block: THREADS, sharedBytes, stream },
    out, split ? scratch : NULL_PTR, a, b, m, n, k, plan.kPerSplit,
    bf16Flag(out), bf16Flag(a), bf16Flag(b), alpha, accumulate ? 1 : 0, ids, bias ?? NULL_PTR,
  );
  if (split) {
    kernel('gemm_splitk_reduce', 'splitkReduce').launch(
      { grid: strideGrid(m * n), block: 256, stream },
      out, scratch, m * n, plan.splits, bf16Flag(out), alpha, accumulate ? 1 : 0, bias ?? NULL_PTR, n,
    );
  }
}

/** out[m × n] = alpha · op(a)[m × k] · op(b)[k × n] + bias (+= with options.accumulate), ops.ts MatmulOptions:
 *  transA: a stored [k × m]; transB: b stored [n × k]; bias f32 [n], added after alpha scales the product.
 *  out, a, b each f32 or bf16 (read/written at their dtype); scratch: an f32 tensor of ≥ GEMM_SCRATCH_FLOATS
 *  for split-K partials. */
export function matmul(stream: Stream, out: Tensor, a: Tensor, b: Tensor, m: number, n: number, k: number,
  options: MatmulOptions, math: GemmMath, scratch: Tensor): void {
  checkCount('matmul.m', m);
  checkCount('matmul.n', n);
  checkCount('matmul.k', k);
  const o = deviceTensor(out, 'matmul.out', FLOATS, m * n);
  const da = deviceTensor(a, 'matmul.a', FLOATS, m * k);
  const db = deviceTensor(b, 'matmul.b', FLOATS, k * n);
  const s = deviceTensor(scratch, 'matmul.scratch', ['f32'], GEMM_SCRATCH_FLOATS);
  const transA = options.transA ?? false;
  const ids = options.rowIds === undefined ? null : deviceTensor(options.rowIds, 'matmul.rowIds', ['i32'], transA ? k : m);
  const bias = options.bias === undefined ? null : deviceTensor(options.bias, 'matmul.bias', ['f32'], n);
  const accumulate = options.accumulate ?? false;
  // Nothing to write, or (k = 0 with accumulate and no bias) nothing to add.
  if (m === 0 || n === 0 || (k === 0 && accumulate && bias === null)) return;
  gemm(stream, o, da, db, m, n, k, transA, options.transB ?? false, options.alpha ?? 1, accumulate, math, s, 'matmul', ids, bias);
}

/** scores[B × (V+1)] (f32) = h[B × d] · table[(V+1) × d]ᵀ with column 0 set to -Infinity (ops.ts scoreItems). */
export function scoreItems(stream: Stream, scores: Tensor, h: Tensor, table: Tensor, B: number, V: number, d: number,
  math: GemmMath, scratch: Tensor): void {
  checkCount('scoreItems.B', B);
  checkCount('scoreItems.V + 1', V + 1);
  checkCount('scoreItems.d', d);
  const s = deviceTensor(scores, 'scoreItems.scores', ['f32'], B * (V + 1));
  const dh = deviceTensor(h, 'scoreItems.h', FLOATS, B * d);
  const dt = deviceTensor(table, 'scoreItems.table', FLOATS, (V + 1) * d);
  const ds = deviceTensor(scratch, 'scoreItems.scratch', ['f32'], GEMM_SCRATCH_FLOATS);
  if (B === 0) return;
  gemm(stream, s, dh, dt, B, V + 1, d, false, true, 1, false, math, ds, 'scoreItems');
  // Item 0 is the padding id: never recommended.
  kernel('gemm_fill_column', 'fillColumn').launch({ grid: strideGrid(B), block: 256, stream }, s, B, V + 1, 0, -Infinity);
}
