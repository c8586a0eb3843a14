/**
 * Launchers of kernels/gemm.cu (the kernel file's header holds the contract: layouts, what overwrites and
 * what accumulates). Two ways to multiply, named by `GemmMath`; both split the depth k over CTAs when the
 * output has too few tiles to fill the GPU (the weight gradients: m = n = d, k = N), writing per-split
 * partials to a caller-given scratch that are added in a fixed order, so every result is deterministic:
 * inside the GEMM by the last CTA of each output tile (one launch), or, for a split whose partials are
 * too many for one CTA to sum, by a second kernel over the whole grid (gemmPlanFor chooses). The bf16
 * math has six kernel sets, named by `GemmKernels`: cp.async-pipelined kernels with a tile shape per
 * problem, the same tiles register-staged, those with the small tile pipelined ('mixed'), the single
 * 128 × 64 register-staged kernel they replace, Hopper's wgmma kernels (gemm-wg-kernels.ts) for the
 * products they take, 'mixed' for the rest, and the default, 'mixed' with wgmma for the products where it
 * measured faster in a step (GRID_GEMM_KERNELS=async, tiled, mixed, legacy, wgmma or auto).
 */
import { currentContext } from '../../cuda/context.js';
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import { fillBytes } from '../../cuda/memory.js';
import type { Stream } from '../../cuda/stream.js';
import type { DType } from '../memory-plan.js';
import { checkMatmulEpilogue } from '../matmul-epilogue.js';
import type { MatmulOptions, Tensor } from '../ops.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { epilogueArgs, EPILOGUE_SIGNATURE, NO_EPILOGUE, NO_NORM, normArgs, NORM_SIGNATURE, type EpilogueArgs, type NormArgs } from './gemm-epilogue-args.js';
import { bf16Flag, checkCount, kernelOf, multiprocessors, NULL_PTR, strideGrid } from './launch.js';
import { wgGemm, wgGemmEligible, wgmmaAvailable } from './gemm-wg-kernels.js';
import { layerNormForward } from './layernorm-kernels.js';

/** How a GEMM multiplies: 'bf16' rounds both operands to bf16 as it stages them and uses the tensor cores
 *  (mma.sync m16n8k16, fp32 accumulation); 'fp32' multiplies in fp32 FMA (the fp32 parity mode). */
export type GemmMath = 'bf16' | 'fp32';

/**
 * Which bf16 kernels run. 'async' and 'tiled' pick a CTA tile per problem among 128 × 128, 128 × 64 and
 * 64 × 64 (gemmPlanFor); 'async' copies operands into shared memory with cp.async
 * two k tiles ahead of the multiplication, 'tiled' stages them through registers one tile ahead. 'mixed'
 * is 'tiled' with the 64 × 64 tile pipelined (small problems are latency-bound: copies two tiles ahead
 * hide more of it). 'legacy' runs the register-staged 128 × 64 kernel for every shape, as before either
 * existed. 'wgmma' runs matmul's products on Hopper's wgmma kernels (kernels/gemm_wg.cu) where the
 * sm_90a module is loaded and wgGemmEligible takes them (16-byte rows, epilogues included; rowIds ignored:
 * every row is multiplied), and everything else, scoreItems included, as 'mixed' does. 'auto',
 * the default, is 'mixed' but for the products wgmmaPays names, which it runs as 'wgmma' does: on an
 * H200 'mixed' was the fastest of the mma.sync sets (BENCHMARKS.md, call 24), and wgmma beat it inside a
 * training step only on those (session 7); the others stay selectable for comparison. 'fp32' math
 * ignores the choice.
 */
export type GemmKernels = 'async' | 'tiled' | 'mixed' | 'legacy' | 'wgmma' | 'auto';

const KERNEL_SETS: readonly GemmKernels[] = ['async', 'tiled', 'mixed', 'legacy', 'wgmma', 'auto'];

/** Environment variable choosing the bf16 GEMM kernels (a GemmKernels name); read once, at load. */
export const GEMM_KERNELS_ENV = 'GRID_GEMM_KERNELS';

/**
 * The kernel set a value of GRID_GEMM_KERNELS names: 'auto' when unset or empty; throws on a name that is
 * not a GemmKernels.
 */
export function gemmKernelsFromEnv(env: string | undefined): GemmKernels {
  if (env === undefined || env === '') return 'auto';
  const set = KERNEL_SETS.find((k) => k === env);
  if (set === undefined) throw new Error(`${GEMM_KERNELS_ENV}: expected one of ${KERNEL_SETS.join(', ')}, got "${env}"`);
  return set;
}

/** The bf16 kernels every launcher of this module uses. @default 'auto' (GRID_GEMM_KERNELS overrides) */
let currentKernels: GemmKernels = gemmKernelsFromEnv(process.env[GEMM_KERNELS_ENV]);

/** Chooses the bf16 kernels for every later launch (tests and benchmarks compare both). */
export function setGemmKernels(kernels: GemmKernels): void {
  currentKernels = kernels;
}

/** The bf16 kernels launches use now. */
export function gemmKernels(): GemmKernels {
  return currentKernels;
}

/** f32 elements of the split-K partials at the head of a full scratch (16 MiB). */
const PARTIAL_FLOATS = 1 << 22;

/**
 * u32 words of the output-tile counters at the scratch's tail (4 KiB): one per output tile of a GEMM whose
 * reduction runs inside it, so such a GEMM has at most this many tiles. They must be 0 before the first
 * GEMM (clearGemmCounters) and every GEMM leaves them 0; no other op of the backend writes past
 * REDUCE_SCRATCH_FLOATS, far below the tail.
 */
export const GEMM_TILE_COUNTERS = 1024;

/** Elements of a full scratch: PARTIAL_FLOATS f32 partials, then GEMM_TILE_COUNTERS u32 counters. */
export const GEMM_SCRATCH_FLOATS = PARTIAL_FLOATS + GEMM_TILE_COUNTERS;

/**
 * Elements of the least scratch a call may be given (1 Mi partials, then the counters): a smaller one
 * splits k less (gemmPlanFor's `partialFloats`: all but the counters).
 */
export const GEMM_MIN_SCRATCH_FLOATS = (1 << 20) + GEMM_TILE_COUNTERS;

/** The partials' capacity of a scratch: all of it but the counters at its tail. */
function partialCapacity(scratch: CudaTensor): number {
  return scratch.size - GEMM_TILE_COUNTERS;
}

/** The counters of a GEMM scratch (its tail). */
function counterRegion(scratch: CudaTensor): { readonly ptr: bigint; readonly bytes: number } {
  return { ptr: scratch.ptr + BigInt(partialCapacity(scratch) * 4), bytes: GEMM_TILE_COUNTERS * 4 };
}

/**
 * Zeroes the output-tile counters of a GEMM scratch (f32, ≥ GEMM_MIN_SCRATCH_FLOATS), ordered on `stream`:
 * once after allocating it, and after anything that wrote over it (a test's poisoning).
 * @param stream @default null (the legacy default stream)
 */
export function clearGemmCounters(scratch: Tensor, stream: Stream | null = null): void {
  fillBytes(counterRegion(deviceTensor(scratch, 'clearGemmCounters.scratch', ['f32'], GEMM_MIN_SCRATCH_FLOATS)), 0, stream);
}

const SIGNATURES = {
  gemm: [
    'out:ptr', 'partial:ptr', 'counters:ptr', 'a:ptr', 'b:ptr', 'm:i32', 'n:i32', 'k:i32', 'k_per_split:i32',
    'out_bf16:i32', 'a_bf16:i32', 'b_bf16:i32', 'alpha:f32', 'accumulate:i32', 'a_ids:ptr', 'bias:ptr', ...EPILOGUE_SIGNATURE, ...NORM_SIGNATURE,
  ],
  splitkReduce: ['out:ptr', 'partial:ptr', 'mn:i64', 'splits:i32', 'out_bf16:i32', 'alpha:f32', 'accumulate:i32', 'bias:ptr', 'n:i32', ...EPILOGUE_SIGNATURE],
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

/** The 'mixed' set's tiles: the 'tiled' ones with the small tile pipelined. */
const MIXED_TILES: readonly GemmTile[] = [
  { m: 128, n: 128, k: 32, infix: '_wide', pipelined: false },
  BF16_LEGACY_TILE,
  { m: 64, n: 64, k: 32, infix: '_async_small', pipelined: true },
];

/** Each bf16 set's tiles (WideTile, NarrowTile or the legacy one, SmallTile), preferred in this order when
 *  gemmPlanFor finds them equal in every other respect. 'wgmma' and 'auto' send what they do not run on
 *  wgmma to 'mixed''s tiles. */
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
  mixed: MIXED_TILES,
  legacy: [BF16_LEGACY_TILE],
  wgmma: MIXED_TILES,
  auto: MIXED_TILES,
};

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

/** CTAs of a wave per SM (the tiled and async kernels' launch bounds ask for two to fit). */
const CTAS_PER_SM = 2;

/**
 * The least depth of one split, in k tiles: a split writes and the reduction reads m·n partial floats,
 * which should stay small against the split's own operand reads.
 */
const MIN_TILES_PER_SPLIT = 4;

/** The largest grid.z (CUDA's limit). */
const MAX_GRID_Z = 65_535;

/*
 * The plan's cost model, in k steps (one CTA staging and multiplying one k tile; at the sizes where plans
 * differ a step is latency-bound, about a quarter of a µs, whatever the tile). Estimates, to recalibrate
 * against the H200's timings (BENCHMARKS.md): the one measurement behind them is ML-1M's split-K
 * reductions, 14.4 µs each for 200 partials of 64 × 64 under Nsight Compute (call 20).
 */
/** Reduction inside the GEMM: the partial stores drained (the fence), the count, the last CTA's first
 *  loads: three round trips to L2. */
const IN_GEMM_SYNC_STEPS = 3;
/** Bytes of partials the last CTA of a tile sums per step: one SM's share of L2 bandwidth (~64 GB/s). */
const TAIL_BYTES_PER_STEP = 16_384;
/** gemm_splitk_reduce: one more launch, a few µs between the nodes of a CUDA graph. */
const REDUCE_LAUNCH_STEPS = 12;
/** gemm_splitk_reduce: each warp of a CTA adds every REDUCE_WARPS-th partial of its lane's element one
 *  after another, ~75 ns each (the measurement above: 14.4 µs for 200 partials added by one thread). */
const REDUCE_STEPS_PER_SPLIT = 0.3;
/** gemm_splitk_reduce's warps per CTA (REDUCE_MAX_WARPS), which share out an element's splits. */
const REDUCE_WARPS = 8;
/** gemm_splitk_reduce's CTAs per SM (its grid: up to 8 per SM, each 32 elements at a time). */
const REDUCE_CTAS_PER_SM = 8;

/** Where a split product's partials are added. */
export type SplitReduction =
  /** Not split (S = 1): the GEMM writes out. */
  | 'none'
  /** By the last CTA of each output tile, inside the GEMM (one launch; the tile's S · BM · BN partial
   *  floats go through one SM). */
  | 'gemm'
  /** By gemm_splitk_reduce over the whole GPU (a second launch; for deep splits of few tiles). */
  | 'kernel';

/** How one (m, n, k) runs: the CTA tile, output tiles, the split of k over grid z and its reduction. */
export interface GemmPlan {
  /** Rows of the CTA tile. */
  readonly tileM: number;
  /** Columns of the CTA tile. */
  readonly tileN: number;
  /** Output tiles (grid x): ⌈m / tile m⌉ · ⌈n / tile n⌉. */
  readonly tiles: number;
  /** Shares of k (grid z); > 1 writes `splits · m · n` partial floats to the scratch. */
  readonly splits: number;
  /** Depth of each share, a multiple of the k tile (the last share may be shorter). */
  readonly kPerSplit: number;
  /** Who adds the partials ('none' exactly when splits = 1). */
  readonly reduction: SplitReduction;
}

interface Candidate {
  readonly plan: GemmPlan;
  readonly tile: GemmTile;
  readonly cost: number;
  readonly padded: number;
  readonly order: number;
}

/** Whether `a` beats `b`: cheaper, then less padding, fewer splits, more CTAs, the set's earlier tile. */
function better(a: Candidate, b: Candidate): boolean {
  if (a.cost !== b.cost) return a.cost < b.cost;
  if (a.padded !== b.padded) return a.padded < b.padded;
  if (a.plan.splits !== b.plan.splits) return a.plan.splits < b.plan.splits;
  const ctas = (c: Candidate): number => c.plan.tiles * c.plan.splits;
  if (ctas(a) !== ctas(b)) return ctas(a) > ctas(b);
  return a.order < b.order;
}

/**
 * Widest output (n) at which a product with epilogue work takes the 64 × 64 tile (EPILOGUE_TILE_ROWS rows)
 * where the plan would take 128-row tiles unsplit.
 */
const EPILOGUE_TILE_MAX_N = 64;
/** Rows of that tile. */
const EPILOGUE_TILE_ROWS = 64;

/**
 * The best plan of one product and its tile (gemmPlanFor's rule). `epilogueWork`: the product's epilogue does
 * more than add the bias (or does the layer norm); at n ≤ EPILOGUE_TILE_MAX_N such a product takes the set's
 * 64 × 64 tile where the rule chose 128-row tiles unsplit: twice the CTAs, two an SM. The post-pass over
 * the stored tile is a chain of dependent instructions whose speed is the number of warps on it (ML-1M, d =
 * 64: one 128 × 64 CTA an SM, 12.5% occupancy; the layer-norm epilogue GEMMs took 3.5× a plain one;
 * BENCHMARKS.md, calls 67-68).
 */
function planOf(
  m: number, n: number, k: number, math: GemmMath, multiprocessorCount: number, kernels: GemmKernels, partialFloats: number,
  epilogueWork = false,
): Candidate {
  const best = modelledPlanOf(m, n, k, math, multiprocessorCount, kernels, partialFloats);
  const small = BF16_TILES[kernels].find((t) => t.m === EPILOGUE_TILE_ROWS && t.n === EPILOGUE_TILE_MAX_N);
  if (!epilogueWork || math !== 'bf16' || n > EPILOGUE_TILE_MAX_N || best.plan.reduction !== 'none' || best.tile.m <= EPILOGUE_TILE_ROWS || small === undefined) {
    return best;
  }
  const tiles = Math.ceil(m / small.m) * Math.ceil(n / small.n);
  return { ...best, tile: small, plan: { ...best.plan, tileM: small.m, tileN: small.n, tiles } };
}

/** The plan of least modelled cost (gemmPlanFor's rule before the epilogue's tile). */
function modelledPlanOf(
  m: number, n: number, k: number, math: GemmMath, multiprocessorCount: number, kernels: GemmKernels, partialFloats: number,
): Candidate {
  const slots = CTAS_PER_SM * multiprocessorCount;
  const tiles = math === 'fp32' ? [FP32_TILE] : BF16_TILES[kernels];
  let best: Candidate | undefined;
  tiles.forEach((tile, order) => {
    const count = Math.ceil(m / tile.m) * Math.ceil(n / tile.n);
    const padded = Math.ceil(m / tile.m) * tile.m * Math.ceil(n / tile.n) * tile.n;
    const kTiles = Math.max(1, Math.ceil(k / tile.k));
    // Past one wave of CTAs a split adds waves as fast as it shortens them: only its reduction would change.
    const most = Math.max(1, Math.min(Math.ceil(slots / count), Math.ceil(kTiles / MIN_TILES_PER_SPLIT),
      Math.floor(partialFloats / Math.max(m * n, 1)), MAX_GRID_Z));
    let previous = 0;
    for (let wanted = 1; wanted <= most; wanted++) {
      const kPerSplit = Math.ceil(kTiles / wanted) * tile.k;
      const splits = Math.max(1, Math.ceil(k / kPerSplit));
      if (splits === previous) continue;
      previous = splits;
      const main = Math.ceil((count * splits) / slots) * (kPerSplit / tile.k);
      const rounds = Math.ceil(Math.ceil((m * n) / 32) / (REDUCE_CTAS_PER_SM * multiprocessorCount));
      const reductions: [SplitReduction, number][] = splits === 1
        ? [['none', 0]]
        : [['kernel', REDUCE_LAUNCH_STEPS + Math.ceil(splits / REDUCE_WARPS) * REDUCE_STEPS_PER_SPLIT * rounds]];
      if (splits > 1 && count <= GEMM_TILE_COUNTERS) {
        reductions.push(['gemm', IN_GEMM_SYNC_STEPS + (splits * tile.m * tile.n * 4) / TAIL_BYTES_PER_STEP]);
      }
      for (const [reduction, extra] of reductions) {
        const c: Candidate = {
          plan: { tileM: tile.m, tileN: tile.n, tiles: count, splits, kPerSplit, reduction }, tile, cost: main + extra, padded, order,
        };
        if (best === undefined || better(c, best)) best = c;
      }
    }
  });
  return best!;
}

/**
 * The plan of one product on a GPU of `multiprocessorCount` SMs: of every tile of the kernel set (bf16;
 * fp32 has one) and every split of k (none; up to one wave of CTAs, within the scratch, no split shallower
 * than MIN_TILES_PER_SPLIT k tiles) with either reduction, the one of least estimated time (the model
 * above: waves × k steps per CTA, plus the reduction's cost), then least padding, fewer splits, more CTAs.
 * Large products take the largest tile unsplit; small ones fill the SMs with smaller tiles before they
 * split; a deep split of few tiles (the weight gradient at d = 64) keeps gemm_splitk_reduce, whose S · m · n
 * floats one SM would sum too slowly. `kernels` (bf16 only) names the tile set (@default the current
 * choice, setGemmKernels; for 'wgmma', the plan of the products it leaves to gemm.cu, which wgGemmPlanFor
 * does not replace); `partialFloats` bounds the splits' partials (@default a full scratch's); `epilogueWork`:
 * the epilogue does more than add the bias (planOf's rule for its tile).
 */
export function gemmPlanFor(m: number, n: number, k: number, math: GemmMath, multiprocessorCount: number,
  kernels: GemmKernels = currentKernels, partialFloats = PARTIAL_FLOATS, epilogueWork = false): GemmPlan {
  return planOf(m, n, k, math, multiprocessorCount, kernels, partialFloats, epilogueWork).plan;
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
 * Whether a GEMM of this plan and tile does the epilogue's layer norm itself (kernels/gemm.cu LAYER NORM):
 * unsplit, its tile spanning whole rows, a kernel without transA (those have no norm).
 */
function normInTile(plan: GemmPlan, tile: GemmTile, n: number, transA: boolean): boolean {
  return plan.reduction === 'none' && tile.n >= n && !transA;
}

/**
 * The product on checked device tensors (m, n ≥ 1): one GEMM launch, plus gemm_splitk_reduce when the plan
 * says so. aIds: ids of a's rows (kernels/gemm.cu ZERO ROWS), or null; bias: f32 [n] added to every row, or
 * null; norm: the epilogue's layer norm, or null. Returns whether the GEMM did the norm (normInTile); if not,
 * the caller runs it.
 */
function gemm(
  stream: Stream, out: CudaTensor, a: CudaTensor, b: CudaTensor, m: number, n: number, k: number,
  transA: boolean, transB: boolean, alpha: number, accumulate: boolean, math: GemmMath, scratch: CudaTensor, what: string,
  aIds: CudaTensor | null = null, bias: CudaTensor | null = null, epilogue: EpilogueArgs = NO_EPILOGUE, norm: NormArgs | null = null,
): boolean {
  const kernels = currentKernels;
  const epilogueWork = !transA && (norm !== null || epilogue !== NO_EPILOGUE);
  const { plan, tile: planned } = planOf(m, n, k, math, multiprocessors(), kernels, partialCapacity(scratch), epilogueWork);
  checkTiles(what, plan.tiles);
  let tile = planned;
  // A device whose blocks cannot opt in to that much shared memory (about 99 KiB on sm_86 and sm_89) runs
  // the same tile register-staged: the 'tiled' set has every pipelined shape, so the plan stays valid.
  if (tile.pipelined && gemmAsyncSharedBytes(tile, transA, transB) > currentContext().device.maxSharedMemoryPerBlockOptinBytes) {
    tile = BF16_TILES.tiled.find((t) => t.m === tile.m && t.n === tile.n) ?? BF16_LEGACY_TILE;
  }
  const name = `gemm_${math === 'bf16' ? 'bf16' : 'f32'}${tile.infix}_${transA ? 't' : 'n'}${transB ? 't' : 'n'}`;
  const sharedBytes = tile.pipelined ? gemmAsyncSharedBytes(tile, transA, transB) : 0;
  // A split deeper than the kernels' live-step bits multiplies every row (zero rows are an option, not a duty).
  const ids = aIds !== null && !(transA && plan.kPerSplit > LIVE_STEPS * tile.k) ? aIds : NULL_PTR;
  const inTile = norm !== null && normInTile(plan, tile, n, transA);
  // A split GEMM writes raw partials (its store ignores the bias): the reduction, in the GEMM or after it,
  // adds the bias once.
  kernel(name, 'gemm', sharedBytes).launch(
    { grid: [plan.tiles, 1, plan.splits], block: THREADS, sharedBytes, stream },
    out, plan.reduction === 'none' ? NULL_PTR : scratch, plan.reduction === 'gemm' ? counterRegion(scratch) : NULL_PTR, a, b, m, n, k,
    plan.kPerSplit, bf16Flag(out), bf16Flag(a), bf16Flag(b), alpha, accumulate ? 1 : 0, ids, bias ?? NULL_PTR, ...epilogue,
    ...(inTile ? norm : NO_NORM),
  );
  if (plan.reduction === 'kernel') {
    kernel('gemm_splitk_reduce', 'splitkReduce').launch(
      { grid: Math.max(1, Math.min(Math.ceil((m * n) / 32), REDUCE_CTAS_PER_SM * multiprocessors())), block: 32 * REDUCE_WARPS, stream },
      out, scratch, m * n, plan.splits, bf16Flag(out), alpha, accumulate ? 1 : 0, bias ?? NULL_PTR, n, ...epilogue,
    );
  }
  return inTile;
}

/**
 * Multiply-adds of a linear layer's product past which 'auto' runs it on wgmma: a weight gradient, or a forward
 * product with two narrow operands (ML-20M's at d = 256: 1.8 G; batch 32's: 67 M).
 */
const WGMMA_MIN_LINEAR_MACS = 2 ** 30;
/** Multiply-adds of a forward or input-gradient product past which 'auto' runs it on wgmma when catalogue-sized. */
const WGMMA_MIN_CATALOGUE_MACS = 2 ** 32;
/**
 * Multiply-adds of a product deep over the catalogue (ce's and bce's dH = G·table: k = V + 1 padded) past which
 * 'auto' runs it on wgmma: ML-1M's (17,152 × 64 × 3,712: 4.1 G) took 78 µs there against 111 on gemm.cu,
 * where 134 CTAs of 128 rows each walk 116 k tiles one after another (−0.07 to −0.14 ms a step, session 9).
 */
const WGMMA_MIN_CATALOGUE_DEPTH_MACS = 2 ** 30;
/** The least hidden width whose forward products with narrow operands 'auto' runs on wgmma (d = 64's were slower there). */
const NARROW_MIN_WIDTH = 128;
/** A dimension this wide is a catalogue's (the loss's logits and their gradients), not a hidden size. */
const CATALOGUE_WIDTH = 2048;

/**
 * Whether the 'auto' set sends a product to the wgmma kernels (where wgGemmEligible takes it). Measured on
 * an H200 inside training steps (BENCHMARKS.md, session 7): the weight gradients (tn: dW = dyᵀ·x, d × d
 * deep over the batch's rows) at d ≥ 128 and ML-20M's rows are faster there (−0.3 ms a step), and so are
 * ce's products over the catalogue (logits, dH; at ML-1M's size only dH, session 9), but the linear layers' forward and input gradients at
 * d = 256 were slower than gemm.cu's in the step although faster alone (an f32 operand is staged through
 * registers, one CTA an SM), and every other product at d = 64 or at batch 32 was slower: those stay on gemm.cu.
 * With `narrow` (both operands bf16: the narrow copies, session 8) the forward products at d ≥ 128 and
 * ML-20M's rows are faster on wgmma too.
 */
export function wgmmaPays(m: number, n: number, k: number, transA: boolean, narrow = false): boolean {
  const macs = m * n * k;
  if (transA) return m >= 128 && n >= 128 && macs >= WGMMA_MIN_LINEAR_MACS;
  if (narrow && Math.min(n, k) >= NARROW_MIN_WIDTH && macs >= WGMMA_MIN_LINEAR_MACS) return true;
  if (k >= CATALOGUE_WIDTH && macs >= WGMMA_MIN_CATALOGUE_DEPTH_MACS) return true;
  return n >= CATALOGUE_WIDTH && macs >= WGMMA_MIN_CATALOGUE_MACS;
}

/**
 * Whether the linear layers of `rows` × `width` should read narrow copies of their operands (Ops.narrowOperands):
 * where the current set would then run their forward products on wgmma (wgmmaPays with `narrow`), whose
 * kernels with two bf16 operands fit two CTAs an SM (one with an f32 operand staged through registers).
 */
export function narrowOperandsPay(rows: number, width: number): boolean {
  if (currentKernels !== 'auto' && currentKernels !== 'wgmma') return false;
  return wgmmaAvailable() && wgmmaPays(rows, width, width, false, true);
}

/** out[m × n] = alpha · op(a)[m × k] · op(b)[k × n] + bias (+= with options.accumulate), ops.ts MatmulOptions:
 *  transA: a stored [k × m]; transB: b stored [n × k]; bias f32 [n], added after alpha scales the product.
 *  out, a, b each f32 or bf16 (read/written at their dtype); scratch: an f32 tensor of ≥ GEMM_MIN_SCRATCH_FLOATS
 *  for split-K partials and, at its tail, the output-tile counters (clearGemmCounters; left 0): a smaller
 *  one than GEMM_SCRATCH_FLOATS splits k less. The epilogue's layer norm
 *  runs inside the GEMM where its tile spans whole rows and k is not split (normInTile: d = 64 on every
 *  tile, d ≤ 128 on the 128 × 128 one), else as layer_norm_forward launched after it: the same bits either way.
 *  Under the 'wgmma' kernel set (and 'auto', where wgmmaPays) a product with 'bf16' math that wgGemmEligible takes runs on wgGemm instead
 *  (the same bf16-rounded operands, fp32 sums in another order; rowIds ignored; the epilogue and its norm
 *  with this module's code), its split-K partials in the scratch's partial region (the counters untouched). */
export function matmul(stream: Stream, out: Tensor, a: Tensor, b: Tensor, m: number, n: number, k: number,
  options: MatmulOptions, math: GemmMath, scratch: Tensor): void {
  checkCount('matmul.m', m);
  checkCount('matmul.n', n);
  checkCount('matmul.k', k);
  const o = deviceTensor(out, 'matmul.out', FLOATS, m * n);
  const da = deviceTensor(a, 'matmul.a', FLOATS, m * k);
  const db = deviceTensor(b, 'matmul.b', FLOATS, k * n);
  const s = deviceTensor(scratch, 'matmul.scratch', ['f32'], GEMM_MIN_SCRATCH_FLOATS);
  const transA = options.transA ?? false;
  const ids = options.rowIds === undefined ? null : deviceTensor(options.rowIds, 'matmul.rowIds', ['i32'], transA ? k : m);
  const bias = options.bias === undefined ? null : deviceTensor(options.bias, 'matmul.bias', ['f32'], n);
  const accumulate = options.accumulate ?? false;
  checkMatmulEpilogue(options, out);
  const epilogue = epilogueArgs(options.epilogue, m, n, 'matmul');
  const ln = options.epilogue?.layerNorm;
  const norm = ln === undefined ? null : normArgs(ln, m, n, 'matmul');
  // Nothing to write, or (k = 0 with accumulate and no bias) nothing to add.
  if (m === 0 || n === 0 || (k === 0 && accumulate && bias === null)) return;
  // wgGemm copies 16-byte chunks: an operand view off that alignment (views are 256-byte aligned) stays here.
  const aligned = da.ptr % 16n === 0n && db.ptr % 16n === 0n;
  const narrow = da.dtype === 'bf16' && db.dtype === 'bf16';
  const wgmma = currentKernels === 'wgmma' || (currentKernels === 'auto' && wgmmaPays(m, n, k, transA, narrow));
  if (wgmma && math === 'bf16' && aligned && wgGemmEligible(m, n, k, options, { out: o.dtype, a: da.dtype, b: db.dtype })) {
    wgGemm(stream, o, da, db, m, n, k, options, s, { partialFloats: partialCapacity(s) });
    return;
  }
  // A norm with narrow copies runs as layer_norm_forward, which writes them (the tiles' norm does not).
  const tileNorm = ln?.copies === undefined ? norm : null;
  const normed = gemm(stream, o, da, db, m, n, k, transA, options.transB ?? false, options.alpha ?? 1, accumulate, math, s, 'matmul', ids, bias, epilogue, tileNorm);
  if (ln !== undefined && !normed) layerNormForward(stream, ln.out, ln.mean, ln.rstd, out, ln.weight, ln.bias, m, n, ln.eps, ln.ids, ln.copies);
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
  const ds = deviceTensor(scratch, 'scoreItems.scratch', ['f32'], GEMM_MIN_SCRATCH_FLOATS);
  if (B === 0) return;
  gemm(stream, s, dh, dt, B, V + 1, d, false, true, 1, false, math, ds, 'scoreItems');
  // Item 0 is the padding id: never recommended.
  kernel('gemm_fill_column', 'fillColumn').launch({ grid: strideGrid(B), block: 256, stream }, s, B, V + 1, 0, -Infinity);
}
