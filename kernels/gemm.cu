// @variants sm80
// GEMM: out[m × n] (= or +=) alpha · op(a)[m × k] · op(b)[k × n] (+ bias), row-major, with the split-K
// reduction inside the GEMM or (deep splits) in a kernel of its own.
//
// CONTRACT (ops.ts matmul; the CPU reference is src/backend/cpu/gemm.ts)
//   a    transA = 0: [m × k] (lda = k)    transA = 1: [k × m] (lda = m)        f32 or bf16 (a_bf16)
//   b    transB = 0: [k × n] (ldb = n)    transB = 1: [n × k] (ldb = k)        f32 or bf16 (b_bf16)
//   out  [m × n] (ldc = n), f32 or bf16 (out_bf16), read at its dtype when accumulating.
//   bias [n] f32 or null: added to every row after alpha scales the product (a linear layer's bias, fused
//        into the epilogue so that it costs no kernel of its own).
//   EPILOGUE (ops.ts MatmulEpilogue; never with accumulate, the launcher's rule): after alpha and the bias,
//        rows whose id in out_ids is 0 are written 0; the others get, in this order, ReLU (relu = 1), dropout
//        (drop_threshold ≠ 0: element i = r·n + c is kept iff (word (i & 3) of philox4x32([i >> 2,
//        drop_site, 0, DROP], [drop_seed, step])) >> 8 ≥ drop_threshold, step from step_counters[0] when
//        given; kept values are v · drop_scale, the double product rounded once, as ew_dropout), the gate
//        (gate != null: v is kept where gate[i] > 0, f32 or bf16 (gate_bf16), times gate_scale as the double
//        product rounded once, else 0: a dropout's and a ReLU's backward by their saved output), then
//        + residual[i] (f32 or bf16, residual_bf16; must not alias out). Unsplit tiles get it in epilogue_tile
//        after their stores (a bf16 out is rounded after the bias and again at the end, as the separate ops
//        did), split ones in the reduction that writes out. The epilogue's code (and LAYER NORM's) is
//        kernels/gemm_epilogue.cuh, shared with kernels/gemm_wg.cu: the same bits for the same values.
//   LAYER NORM (ops.ts MatmulEpilogue.layerNorm; ln_out != null, the GEMM kernels only): after the epilogue,
//        layer_norm_forward (kernels/layernorm.cu) of out's rows as written: ln_out [m × n] (f32 or bf16,
//        ln_out_bf16; must not alias out) = (out - mean) · rstd · ln_weight + ln_bias, ln_mean and ln_rstd [m]
//        (all OVERWRITE); rows whose id in ln_ids (i32 [m], or null) is 0 get ln_out = 0, mean = rstd = 0.
//        Done by epilogue_tile, a warp per row with that kernel's expressions in its order (the same bits),
//        so the launcher passes it only where the CTA tile spans whole rows (n ≤ BN) and k is not split;
//        elsewhere it launches layer_norm_forward after the GEMM.
//   Operands are read at their dtype and converted while staged to shared memory; arithmetic in fp32.
//
// KERNELS (TA, TB ∈ {n, t}: transA, transB)
//   gemm_bf16_TATB   tensor cores: both operands rounded to bf16 (nearest even) as they are staged,
//                    mma.sync m16n8k16 with fp32 accumulation. CTA tile 128 × 64 × 32, 8 warps of 32 × 32,
//                    register-staged (the legacy set; the tiled set's 128 × 64 kernel).
//   gemm_bf16_async_{wide,narrow,small}_TATB   the same math, CTA tiles 128 × 128, 128 × 64, 64 × 64 (× 32),
//                    operands copied with cp.async GEMM_RAW_STAGES tiles ahead (the default set; below).
//   gemm_bf16_{wide,small}_TATB   the same math and tiles 128 × 128, 64 × 64, register-staged (a fallback).
//   gemm_f32_TATB    fp32 FMA (the fp32 parity mode): CTA tile 64 × 64 × 16, 256 threads of 4 × 4.
//   All: grid (tiles_m · tiles_n, 1, S); blockIdx.z takes depth [z·k_per_split, min(k, (z+1)·k_per_split)).
//     partial == null (S = 1):  out = alpha · acc + bias[c] (+ out when accumulate), written at out's dtype.
//     partial != null:          partial[z][m × n] = acc (f32, unscaled, no bias), OVERWRITES; then
//       counters != null:       the split-K reduction inside the GEMM (splitk_tail): the last of the S CTAs
//                               of an output tile to count itself on counters[blockIdx.x] writes
//                               out = alpha · Σ_{z = 0..S-1} partial[z] + bias[c] (+ out when accumulate)
//                               over the tile, and sets the counter back to 0. counters: u32 [tiles], all 0
//                               before the launch (the launcher's scratch tail), all 0 after it.
//       counters == null:       out untouched; gemm_splitk_reduce adds the partials (a deep split, whose
//                               S · tile floats are too many for one CTA to sum).
//   gemm_splitk_reduce  out = alpha · Σ_{z = 0..S-1} partial[z] + bias[c] (+ out when accumulate) over the
//                    whole grid, 32 consecutive elements per CTA: warp w sums the splits z ≡ w (mod
//                    warps), then warp 0 adds the warps' sums in order.
//   Both reductions add the bias once and the splits in a fixed order (splitk_tail: z = 0, 1, … from 0.f):
//   the result does not depend on which CTA finishes last (the counters' atomics only elect the CTA that sums).
//   gemm_fill_column  x[r · ld + col] = value for r < rows (scoreItems: column 0, the padding item, = -inf).
// ZERO ROWS (a_ids != null, i32, one per row of a as stored: m, or k with transA): a row of a whose id is 0
//   may be taken as zero, so that padding costs nothing. Without transA a CTA whose m tile is all such
//   rows multiplies nothing: its product is 0 and the epilogue still runs (out = bias, or 0 without bias;
//   out += bias when accumulating, unchanged without bias; partial = 0). With transA the depth steps
//   (GEMM_BK rows; SIMT_BK in fp32) that are all such rows are neither loaded nor multiplied (bf16 and
//   fp32 kernels; the pipelined set skips m tiles only), a split of at most GEMM_LIVE_WORDS · 32 steps
//   (the launcher's rule, else it passes no ids). Rows of a partly skipped tile or step are multiplied as
//   they are.
// ACCUMULATES: out when accumulate = 1 (k = 0 then adds the bias only); OVERWRITES otherwise (k = 0: bias, or
//   zeros without bias).
// Nothing is saved: the family has no backward of its own (a backward is two more GEMMs).
//
// SHAPES: any m, n ≥ 1, k ≥ 0 (the launcher skips m = 0 or n = 0). Rows and columns past the matrix, and
// depth past the split's end, are zero-filled in shared memory, so they add nothing. A staged chunk of 8
// consecutive elements is read with vector loads when it lies inside the matrix and its address is
// 16-byte aligned (bf16 rows of an odd leading dimension are only 2-byte aligned; the async set copies such
// a chunk with cp.async), else element by element.
// Global indices are 64-bit (m · k may exceed 2^31); m, n, k and the grid are int32.
//
// SHARED-MEMORY LAYOUT (bf16 kernels): an operand whose depth is contiguous in memory (a without transA,
// b with transB) is staged as [rows × 32 depth] and read with ldmatrix; one whose rows (m or n) are
// contiguous as [32 depth × rows] and read with ldmatrix.trans. Rows are padded by 8 elements (16 bytes),
// so the 8 row addresses of one ldmatrix phase fall in 8 different bank groups.

#include <cuda_bf16.h>
#include <stdint.h>

#include "gemm_epilogue.cuh"

// ---------------------------------------------------------------------------------------------------
// Tile shapes (src/backend/cuda/gemm-kernels.ts mirrors them).

#define GEMM_BM 128
#define GEMM_BN 64
#define GEMM_BK 32
#define GEMM_THREADS 256
#define GEMM_PAD 8

#define SIMT_BM 64
#define SIMT_BN 64
#define SIMT_BK 16

// Tiles of this many consecutive m tiles are visited together (CTA raster), so a wave shares b tiles in L2.
#define GEMM_GROUP_M 8

// Words of the live-step bits of a split (zero rows, transA): 32 · 32 = 1024 depth steps at most.
#define GEMM_LIVE_WORDS 32

// ---------------------------------------------------------------------------------------------------
// Helpers

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// D (16×8, f32) += A (16×16, bf16, row) · B (16×8, bf16, col).
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Whether a row of a's rows r0 .. r0+R-1 (below m) has a non-zero id; every thread of the CTA gets the answer.
__device__ __forceinline__ bool rows_live(const int* __restrict__ ids, int r0, int R, int m) {
  bool live = false;
  for (int r = r0 + static_cast<int>(threadIdx.x); r < min(r0 + R, m); r += blockDim.x) live |= ids[r] != 0;
  return __syncthreads_or(live);
}

// bits[s / 32] bit s % 32 = whether depth step s of the split (BK rows of a from k_begin + s·BK, below
// k_end) has a row with a non-zero id; steps ≤ 32 · GEMM_LIVE_WORDS. A warp per 32 steps, a lane per step.
template <int BK>
__device__ __forceinline__ void live_steps(uint32_t* bits, const int* __restrict__ ids, int k_begin, int k_end, int steps) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int w = warp; w < (steps + 31) / 32; w += blockDim.x / 32) {
    const int s = 32 * w + lane;
    bool live = false;
    if (s < steps) {
      const int r0 = k_begin + s * BK, r1 = min(k_end, r0 + BK);
      for (int r = r0; r < r1; ++r) live |= ids[r] != 0;
    }
    const unsigned b = __ballot_sync(0xffffffffu, live);
    if (lane == 0) bits[w] = b;
  }
}

// The depth steps a CTA multiplies: every step of its split, or only the live ones (bits set).
struct DepthSteps {
  const uint32_t* bits;  // null: every step
  int count;
  // The first step after `cur` to multiply (count when none).
  __device__ __forceinline__ int next(int cur) const {
    if (bits == nullptr) return cur + 1;
    for (int k = cur + 1; k < count; k = (k | 31) + 1) {
      const unsigned w = bits[k >> 5] >> (k & 31);
      if (w != 0u) return k + __ffs(static_cast<int>(w)) - 1;
    }
    return count;
  }
};

// The steps of a CTA whose depth runs over a's rows (transA) with ids: live steps only. `bits` is the
// CTA's shared array; ends with a barrier.
template <int BK>
__device__ __forceinline__ DepthSteps depth_steps(uint32_t* bits, const int* __restrict__ ids, bool over_rows, int k_begin, int k_end,
                                                  int steps) {
  if (ids == nullptr || !over_rows) return DepthSteps{nullptr, steps};
  live_steps<BK>(bits, ids, k_begin, k_end, steps);
  __syncthreads();
  return DepthSteps{bits, steps};
}

// The tile of CTA `bid` in a tiles_m × tiles_n grid, GEMM_GROUP_M m tiles at a time.
__device__ __forceinline__ void tile_of(int bid, int tiles_m, int tiles_n, int& tm, int& tn) {
  const int per_group = GEMM_GROUP_M * tiles_n;
  const int group = bid / per_group;
  const int first = group * GEMM_GROUP_M;
  const int size = min(tiles_m - first, GEMM_GROUP_M);
  const int in_group = bid - group * per_group;
  tm = first + in_group % size;
  tn = in_group / size;
}

// ---------------------------------------------------------------------------------------------------
// The split-K reduction inside the GEMM (the epilogue, its stores and the layer norm: kernels/gemm_epilogue.cuh)

// The split-K reduction inside the GEMM (partial != null and counters != null), after the CTA has stored
// its partial tile: the CTA that arrives last at its output tile's counter sums the gridDim.z partials of
// the tile in split order z = 0, 1, … (from 0.f, whoever arrives last: deterministic), then writes
// alpha · sum + bias[c] (+ out) at out's dtype, and sets the counter back to 0 for the next launch (all
// the tile's CTAs have counted by then). Every thread fences its partial stores before the barrier that
// precedes the count; the last CTA fences again before it reads, and reads with ld.global.cg (L2, never a
// stale L1 line). Columns are summed four at a time when n is a multiple of 4 (then every group of four
// lies inside the matrix and is 16-byte aligned in the scratch), else one at a time (a rare shape). Not inlined: inlined,
// it took the 128 × 128 tt kernel to 8 bytes of spills; a call once per CTA costs nothing measurable.
#define TAIL_CHUNKS 4  // chunks of 4 columns a thread of splitk_tail sums at once: the 64 × 64 tile in one pass
template <int BM, int BN>
__device__ __noinline__ void splitk_tail(void* out, int out_bf16, const float* partial, unsigned* counters, const Epilogue ep,
                                            int m0, int n0, int m, int n, float alpha, int accumulate) {
  __shared__ int last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    last = atomicAdd(&counters[blockIdx.x], 1u) == gridDim.z - 1;
    if (last) counters[blockIdx.x] = 0u;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  const long long mn = static_cast<long long>(m) * n;
  const int splits = gridDim.z;
  const int rows = min(BM, m - m0);
  if ((n & 3) == 0) {
    // A thread sums TAIL_CHUNKS chunks of 4 columns at once (chunk j: e = base + j · blockDim.x + tid, so
    // a warp reads consecutive 16-byte chunks), their loads of one split in flight together (unrolling
    // over splits too took the 64 × 64 kernels from ~80 to 91 registers: 2 CTAs per SM instead of 3).
    constexpr int GROUPS = BN / 4;
    for (int base = 0; base < rows * GROUPS; base += TAIL_CHUNKS * blockDim.x) {
      long long idx[TAIL_CHUNKS];
      int row[TAIL_CHUNKS], col[TAIL_CHUNKS];
      float4 s[TAIL_CHUNKS];
#pragma unroll
      for (int j = 0; j < TAIL_CHUNKS; ++j) {
        const int e = base + j * blockDim.x + threadIdx.x;
        row[j] = m0 + e / GROUPS;
        col[j] = e < rows * GROUPS ? n0 + (e % GROUPS) * 4 : n;  // n: no chunk
        idx[j] = static_cast<long long>(row[j]) * n + col[j];
        s[j] = make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll 1
      for (int z = 0; z < splits; ++z) {
#pragma unroll
        for (int j = 0; j < TAIL_CHUNKS; ++j) {
          if (col[j] < n) {
            const float4 p = __ldcg(reinterpret_cast<const float4*>(partial + z * mn + idx[j]));
            s[j].x += p.x;
            s[j].y += p.y;
            s[j].z += p.z;
            s[j].w += p.w;
          }
        }
      }
#pragma unroll
      for (int j = 0; j < TAIL_CHUNKS; ++j) {
        if (col[j] >= n) continue;
        float v[4] = {alpha * s[j].x, alpha * s[j].y, alpha * s[j].z, alpha * s[j].w};
        epilogue_pair(ep, row[j], col[j], idx[j], true, v[0], v[1]);
        epilogue_pair(ep, row[j], col[j] + 2, idx[j] + 2, true, v[2], v[3]);
#pragma unroll
        for (int q = 0; q < 4; ++q) finish_elem(out, out_bf16, idx[j] + q, v[q], accumulate);
      }
    }
  } else {
    for (int e = threadIdx.x; e < rows * BN; e += blockDim.x) {
      const int r = m0 + e / BN, c = n0 + e % BN;
      if (c >= n) continue;
      const long long idx = static_cast<long long>(r) * n + c;
      float s = 0.f;
#pragma unroll 4
      for (int z = 0; z < splits; ++z) s += __ldcg(partial + z * mn + idx);
      float v = alpha * s, unused = 0.f;
      epilogue_pair(ep, r, c, idx, false, v, unused);
      finish_elem(out, out_bf16, idx, v, accumulate);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// bf16 tensor-core kernel

// One operand tile as the CTA stages it: ROWS × COLS of the matrix as stored (row-major, leading dimension
// ld), starting at (row0, col0), rows valid below row_end and columns below col_end; zeros elsewhere. A
// thread holds CHUNKS chunks of 8 consecutive columns as bf16 between the global load and the shared store.
template <int ROWS, int COLS>
struct Stager {
  static constexpr int CPR = COLS / 8;                             // chunks per row
  static constexpr int CHUNKS = ROWS * CPR / GEMM_THREADS;         // chunks per thread
  static constexpr int STRIDE = COLS + GEMM_PAD;                   // shared row stride, elements
  static_assert(ROWS * CPR % GEMM_THREADS == 0, "tile shape");
  uint4 v[CHUNKS];

  __device__ __forceinline__ void load(const void* p, int is_bf16, long long ld, int row0, int row_end, int col0, int col_end) {
#pragma unroll
    for (int s = 0; s < CHUNKS; ++s) {
      const int chunk = threadIdx.x + s * GEMM_THREADS;
      const int r = row0 + chunk / CPR;
      const int c = col0 + (chunk % CPR) * 8;
      uint32_t w[4] = {0u, 0u, 0u, 0u};
      if (r < row_end && c < col_end) {
        const long long idx = static_cast<long long>(r) * ld + c;
        if (is_bf16) {
          const unsigned short* g = static_cast<const unsigned short*>(p) + idx;
          if (c + 8 <= col_end && (reinterpret_cast<uintptr_t>(g) & 15) == 0) {
            const uint4 q = __ldg(reinterpret_cast<const uint4*>(g));
            w[0] = q.x;
            w[1] = q.y;
            w[2] = q.z;
            w[3] = q.w;
          } else {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const uint32_t lo = c + 2 * e < col_end ? g[2 * e] : 0u;
              const uint32_t hi = c + 2 * e + 1 < col_end ? g[2 * e + 1] : 0u;
              w[e] = lo | (hi << 16);
            }
          }
        } else {
          const float* g = static_cast<const float*>(p) + idx;
          if (c + 8 <= col_end && (reinterpret_cast<uintptr_t>(g) & 15) == 0) {
            const float4 x0 = __ldg(reinterpret_cast<const float4*>(g));
            const float4 x1 = __ldg(reinterpret_cast<const float4*>(g) + 1);
            w[0] = pack_bf16(x0.x, x0.y);
            w[1] = pack_bf16(x0.z, x0.w);
            w[2] = pack_bf16(x1.x, x1.y);
            w[3] = pack_bf16(x1.z, x1.w);
          } else {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const float lo = c + 2 * e < col_end ? g[2 * e] : 0.f;
              const float hi = c + 2 * e + 1 < col_end ? g[2 * e + 1] : 0.f;
              w[e] = pack_bf16(lo, hi);
            }
          }
        }
      }
      v[s] = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }

  __device__ __forceinline__ void store(bf16* tile) const {
#pragma unroll
    for (int s = 0; s < CHUNKS; ++s) {
      const int chunk = threadIdx.x + s * GEMM_THREADS;
      *reinterpret_cast<uint4*>(tile + (chunk / CPR) * STRIDE + (chunk % CPR) * 8) = v[s];
    }
  }
};

// The staged shape of an operand with OUTER rows (BM for a, BN for b): depth-contiguous → OUTER × BK,
// else BK × OUTER.
template <int OUTER, bool DEPTH_CONTIGUOUS>
struct OperandTile {
  static constexpr int ROWS = DEPTH_CONTIGUOUS ? OUTER : GEMM_BK;
  static constexpr int COLS = DEPTH_CONTIGUOUS ? GEMM_BK : OUTER;
  static constexpr int ELEMS = ROWS * (COLS + GEMM_PAD);
  typedef Stager<ROWS, COLS> Loader;

  // Stages outer rows [outer0, outer0 + OUTER) × depth [k0, k0 + BK), valid below outer_end and k_end.
  __device__ __forceinline__ static void load(Loader& l, const void* p, int is_bf16, long long ld, int outer0, int outer_end, int k0,
                                              int k_end) {
    if constexpr (DEPTH_CONTIGUOUS) l.load(p, is_bf16, ld, outer0, outer_end, k0, k_end);
    else l.load(p, is_bf16, ld, k0, k_end, outer0, outer_end);
  }
};

// A fragment (16 rows × 16 depth, rows r0.., depth k0..) of the staged a tile of OUTER rows.
template <bool DEPTH_CONTIGUOUS, int OUTER = GEMM_BM>
__device__ __forceinline__ void frag_a(uint32_t (&f)[4], uint32_t tile, int r0, int k0, int lane) {
  if constexpr (DEPTH_CONTIGUOUS) {
    // Matrices: (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
    ldsm_x4(f, tile + 2 * ((r0 + (lane & 15)) * (GEMM_BK + GEMM_PAD) + k0 + ((lane >> 4) << 3)));
  } else {
    // Stored [k × m]: the same four matrices, each read transposed from 8 depth rows.
    ldsm_x4_trans(f, tile + 2 * ((k0 + (lane & 7) + ((lane >> 4) << 3)) * (OUTER + GEMM_PAD) + r0 + (((lane >> 3) & 1) << 3)));
  }
}

// B fragments of 16 columns × 16 depth (columns c0..) of the staged b tile of OUTER columns: f[0], f[1] for columns c0..c0+7, f[2], f[3] for c0+8..
template <bool DEPTH_CONTIGUOUS, int OUTER = GEMM_BN>
__device__ __forceinline__ void frag_b(uint32_t (&f)[4], uint32_t tile, int c0, int k0, int lane) {
  if constexpr (DEPTH_CONTIGUOUS) {
    // Stored [n × k]. Matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15).
    ldsm_x4(f, tile + 2 * ((c0 + (lane & 7) + ((lane >> 4) << 3)) * (GEMM_BK + GEMM_PAD) + k0 + (((lane >> 3) & 1) << 3)));
  } else {
    // Stored [k × n]: the same four matrices, read transposed.
    ldsm_x4_trans(f, tile + 2 * ((k0 + (lane & 7) + (((lane >> 3) & 1) << 3)) * (OUTER + GEMM_PAD) + c0 + ((lane >> 4) << 3)));
  }
}

template <bool TA, bool TB>
__device__ __forceinline__ void gemm_bf16_body(void* out, float* partial, const void* a, const void* b, int m, int n, int k,
                                               int k_per_split, int out_bf16, int a_bf16, int b_bf16, float alpha, int accumulate,
                                               const int* __restrict__ a_ids, const float* __restrict__ bias) {
  typedef OperandTile<GEMM_BM, !TA> TileA;
  typedef OperandTile<GEMM_BN, TB> TileB;
  __shared__ __align__(16) bf16 sa[2][TileA::ELEMS];
  __shared__ __align__(16) bf16 sb[2][TileB::ELEMS];

  int tm, tn;
  tile_of(blockIdx.x, (m + GEMM_BM - 1) / GEMM_BM, (n + GEMM_BN - 1) / GEMM_BN, tm, tn);
  const int m0 = tm * GEMM_BM, n0 = tn * GEMM_BN;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(k, k_begin + k_per_split);
  int steps = k_end > k_begin ? (k_end - k_begin + GEMM_BK - 1) / GEMM_BK : 0;
  if (a_ids != nullptr && !TA && !rows_live(a_ids, m0, GEMM_BM, m)) steps = 0;  // a tile of zero rows
  __shared__ uint32_t live_bits[GEMM_LIVE_WORDS];
  const DepthSteps depth = depth_steps<GEMM_BK>(live_bits, a_ids, TA, k_begin, k_end, steps);
  const long long lda = TA ? m : k, ldb = TB ? k : n;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wm = (warp & 3) * 32, wn = (warp >> 2) * 32;  // the warp's 32 × 32 of the CTA tile

  float acc[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;

  typename TileA::Loader la;
  typename TileB::Loader lb;
  int s = depth.next(-1);
  if (s < steps) {
    TileA::load(la, a, a_bf16, lda, m0, m, k_begin + s * GEMM_BK, k_end);
    TileB::load(lb, b, b_bf16, ldb, n0, n, k_begin + s * GEMM_BK, k_end);
    la.store(sa[0]);
    lb.store(sb[0]);
  }
  __syncthreads();

  // Register double buffering: the next step's tile travels global → registers while this one (buffer c
  // & 1) multiplies, then goes to the other shared buffer; the one barrier per step orders both (that
  // buffer was last read one step before).
  for (int c = 0; s < steps; ++c) {
    const int following = depth.next(s);
    const bool next = following < steps;
    if (next) {
      const int k0 = k_begin + following * GEMM_BK;
      TileA::load(la, a, a_bf16, lda, m0, m, k0, k_end);
      TileB::load(lb, b, b_bf16, ldb, n0, n, k0, k_end);
    }
    const uint32_t ta = smem_u32(sa[c & 1]), tb = smem_u32(sb[c & 1]);
#pragma unroll
    for (int kk = 0; kk < GEMM_BK; kk += 16) {
      uint32_t fa[2][4], fb[2][4];
#pragma unroll
      for (int i = 0; i < 2; ++i) frag_a<!TA>(fa[i], ta, wm + 16 * i, kk, lane);
#pragma unroll
      for (int j = 0; j < 2; ++j) frag_b<TB>(fb[j], tb, wn + 16 * j, kk, lane);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          mma_bf16(acc[i][2 * j], fa[i], fb[j][0], fb[j][1]);
          mma_bf16(acc[i][2 * j + 1], fa[i], fb[j][2], fb[j][3]);
        }
    }
    if (next) {
      la.store(sa[(c + 1) & 1]);
      lb.store(sb[(c + 1) & 1]);
    }
    __syncthreads();
    s = following;
  }

  // Fragment layout of acc[i][j]: c[0], c[1] at (row g, cols 2q, 2q+1), c[2], c[3] at row g + 8.
  const int g = lane >> 2, q = lane & 3;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int r = m0 + wm + 16 * i + g, c = n0 + wn + 8 * j + 2 * q;
      store_pair(out, out_bf16, partial, bias, r, c, m, n, true, acc[i][j][0], acc[i][j][1], alpha, accumulate);
      store_pair(out, out_bf16, partial, bias, r + 8, c, m, n, true, acc[i][j][2], acc[i][j][3], alpha, accumulate);
    }
}

// ---------------------------------------------------------------------------------------------------
// bf16 tensor-core kernels with a tile shape per problem (the default; gemm_bf16_TATB above is the
// fallback the launcher can select, and also serves the 128 × 64 shape). The same staging, fragments and
// epilogue as gemm_bf16_body over a CTA tile of BM × BN × GEMM_BK whose 8 warps stand WARPS_M along m and
// 8 / WARPS_M along n.
//   wide   128 × 128, warps 2 × 4 of 64 × 32: the d = 256 shapes. Per k16 step a warp issues 6 ldmatrix for
//          16 mma (the 128 × 64 tile: 4 for 8), a CTA does twice the mma between barriers (more time for
//          the next tile's loads to land), and an a tile is read by half as many CTAs.
//   small   64 ×  64, warps 2 × 4 of 32 × 16: m ≤ 64 (scoreItems of a small batch, the d = 64 weight
//          gradient), where a 128-row tile multiplies zeros in half its rows.

template <int BM_, int BN_, int WARPS_M_>
struct TileShape {
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = GEMM_THREADS / 32 / WARPS_M_;
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // the warp's tile
  static constexpr int MI = WM / 16, NJ = WN / 16;            // its 16 × 16 fragments of a and of b
  static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile");
  // CTAs per SM the register budget is held to (__launch_bounds__): the 64 × 64 tile's kernels fit three
  // (≤ 80 registers) without spills once told to; left free, the epilogue's Philox took them to 98 (two).
  static constexpr int MIN_BLOCKS = BM * BN <= 64 * 64 ? 3 : 2;
};
typedef TileShape<128, 128, 2> WideTile;
typedef TileShape<64, 64, 2> SmallTile;

template <class T, bool TA, bool TB>
__device__ __forceinline__ void gemm_tiled_body(void* out, float* partial, const void* a, const void* b, int m, int n, int k,
                                                int k_per_split, int out_bf16, int a_bf16, int b_bf16, float alpha, int accumulate,
                                                const int* __restrict__ a_ids, const float* __restrict__ bias) {
  typedef OperandTile<T::BM, !TA> TileA;
  typedef OperandTile<T::BN, TB> TileB;
  __shared__ __align__(16) bf16 sa[2][TileA::ELEMS];
  __shared__ __align__(16) bf16 sb[2][TileB::ELEMS];

  int tm, tn;
  tile_of(blockIdx.x, (m + T::BM - 1) / T::BM, (n + T::BN - 1) / T::BN, tm, tn);
  const int m0 = tm * T::BM, n0 = tn * T::BN;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(k, k_begin + k_per_split);
  int steps = k_end > k_begin ? (k_end - k_begin + GEMM_BK - 1) / GEMM_BK : 0;
  if (a_ids != nullptr && !TA && !rows_live(a_ids, m0, T::BM, m)) steps = 0;  // a tile of zero rows
  __shared__ uint32_t live_bits[GEMM_LIVE_WORDS];
  const DepthSteps depth = depth_steps<GEMM_BK>(live_bits, a_ids, TA, k_begin, k_end, steps);
  const long long lda = TA ? m : k, ldb = TB ? k : n;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wm = (warp % T::WARPS_M) * T::WM, wn = (warp / T::WARPS_M) * T::WN;

  float acc[T::MI][2 * T::NJ][4];
#pragma unroll
  for (int i = 0; i < T::MI; ++i)
#pragma unroll
    for (int j = 0; j < 2 * T::NJ; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;

  typename TileA::Loader la;
  typename TileB::Loader lb;
  int s = depth.next(-1);
  if (s < steps) {
    TileA::load(la, a, a_bf16, lda, m0, m, k_begin + s * GEMM_BK, k_end);
    TileB::load(lb, b, b_bf16, ldb, n0, n, k_begin + s * GEMM_BK, k_end);
    la.store(sa[0]);
    lb.store(sb[0]);
  }
  __syncthreads();

  // Register double buffering as in gemm_bf16_body: the next step's global loads are in flight during
  // this one's mma, then go to the other shared buffer (last read a step before); one barrier per step.
  for (int c = 0; s < steps; ++c) {
    const int following = depth.next(s);
    const bool next = following < steps;
    if (next) {
      const int k0 = k_begin + following * GEMM_BK;
      TileA::load(la, a, a_bf16, lda, m0, m, k0, k_end);
      TileB::load(lb, b, b_bf16, ldb, n0, n, k0, k_end);
    }
    const uint32_t ta = smem_u32(sa[c & 1]), tb = smem_u32(sb[c & 1]);
#pragma unroll
    for (int kk = 0; kk < GEMM_BK; kk += 16) {
      uint32_t fa[T::MI][4], fb[T::NJ][4];
#pragma unroll
      for (int i = 0; i < T::MI; ++i) frag_a<!TA, T::BM>(fa[i], ta, wm + 16 * i, kk, lane);
#pragma unroll
      for (int j = 0; j < T::NJ; ++j) frag_b<TB, T::BN>(fb[j], tb, wn + 16 * j, kk, lane);
#pragma unroll
      for (int i = 0; i < T::MI; ++i)
#pragma unroll
        for (int j = 0; j < T::NJ; ++j) {
          mma_bf16(acc[i][2 * j], fa[i], fb[j][0], fb[j][1]);
          mma_bf16(acc[i][2 * j + 1], fa[i], fb[j][2], fb[j][3]);
        }
    }
    if (next) {
      la.store(sa[(c + 1) & 1]);
      lb.store(sb[(c + 1) & 1]);
    }
    __syncthreads();
    s = following;
  }

  // Fragment layout of acc[i][j]: c[0], c[1] at (row g, cols 2q, 2q+1), c[2], c[3] at row g + 8.
  const int g = lane >> 2, q = lane & 3;
#pragma unroll
  for (int i = 0; i < T::MI; ++i)
#pragma unroll
    for (int j = 0; j < 2 * T::NJ; ++j) {
      const int r = m0 + wm + 16 * i + g, c = n0 + wn + 8 * j + 2 * q;
      store_pair(out, out_bf16, partial, bias, r, c, m, n, true, acc[i][j][0], acc[i][j][1], alpha, accumulate);
      store_pair(out, out_bf16, partial, bias, r + 8, c, m, n, true, acc[i][j][2], acc[i][j][3], alpha, accumulate);
    }
}

// ---------------------------------------------------------------------------------------------------
// bf16 tensor-core kernels with cp.async pipelining (the default set). The register-staged kernels above
// hold the next tile in registers while the current one multiplies: one tile of prefetch, and 16 registers
// a thread. Here each thread copies its chunks of the operand as stored (f32 or bf16, 16-byte cp.async
// where the chunk is whole and aligned, else element loads and a shared store) into a ring of
// GEMM_RAW_STAGES raw stages, GEMM_RAW_STAGES tiles ahead of the multiplication; the thread then converts
// its own chunks of the next tile to bf16 in the ldmatrix layout of the kernels above. A thread reads back
// only what it copied itself, so the raw ring needs no barrier (cp.async.wait_group makes a thread's own
// copies visible to it); the bf16 tiles are double-buffered with one barrier per step, as above.
//
// DYNAMIC SHARED MEMORY (the launcher passes exactly this; gemmAsyncSharedBytes in gemm-kernels.ts):
//   GEMM_RAW_STAGES · (BM + BN) · GEMM_BK · 4      raw stages at f32 size (a bf16 operand fills half)
//   + 2 · 2 · (ELEMS(a) + ELEMS(b))                two bf16 tiles of each operand, OperandTile::ELEMS each
//   at most: wide 104 KiB (two CTAs per SM on sm_90's 228 KiB; one on sm_80's 164 KiB), narrow (128 × 64)
//   78 KiB, small 52 KiB. A kernel given less traps.

#define GEMM_RAW_STAGES 2

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(smem)), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int PENDING>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING) : "memory");
}

// The raw copy of one operand tile: ROWS × COLS of the matrix as stored (the Stager's chunks, the same
// thread for each chunk). A stage holds two planes of 16-byte slots, one slot per chunk: plane 0 the
// chunk's first 16 bytes (a bf16 chunk whole, the first 4 floats of an f32 one), plane 1 the last 4 floats
// of an f32 chunk; a warp's slots are consecutive in each plane, so the read-back is free of bank conflicts.
template <int ROWS, int COLS>
struct RawStager {
  static constexpr int CPR = COLS / 8;
  static constexpr int TOTAL = ROWS * CPR;                // chunks of the tile
  static constexpr int CHUNKS = TOTAL / GEMM_THREADS;     // chunks per thread
  static constexpr int STRIDE = COLS + GEMM_PAD;          // the bf16 tile's row stride, elements
  static constexpr int PLANE = TOTAL * 16;                // bytes
  static constexpr int RAW_BYTES = 2 * PLANE;             // one stage: ROWS · COLS · 4
  static_assert(TOTAL % GEMM_THREADS == 0, "tile shape");

  // Starts copying rows [row0, ..) valid below row_end, columns [col0, ..) valid below col_end into `raw`;
  // what lies outside the matrix is written as zeros.
  __device__ __forceinline__ static void issue(unsigned char* raw, const void* p, int is_bf16, long long ld, int row0, int row_end,
                                               int col0, int col_end) {
#pragma unroll
    for (int s = 0; s < CHUNKS; ++s) {
      const int chunk = threadIdx.x + s * GEMM_THREADS;
      const int r = row0 + chunk / CPR;
      const int c = col0 + (chunk % CPR) * 8;
      unsigned char* lo = raw + chunk * 16;
      unsigned char* hi = lo + PLANE;
      const bool inside = r < row_end && c < col_end;
      const long long idx = static_cast<long long>(r) * ld + c;
      if (is_bf16) {
        const unsigned short* g = static_cast<const unsigned short*>(p) + idx;
        if (inside && c + 8 <= col_end && (reinterpret_cast<uintptr_t>(g) & 15) == 0) {
          cp_async16(lo, g);
        } else {
          uint32_t w[4] = {0u, 0u, 0u, 0u};
          if (inside) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const uint32_t l = c + 2 * e < col_end ? g[2 * e] : 0u;
              const uint32_t h = c + 2 * e + 1 < col_end ? g[2 * e + 1] : 0u;
              w[e] = l | (h << 16);
            }
          }
          *reinterpret_cast<uint4*>(lo) = make_uint4(w[0], w[1], w[2], w[3]);
        }
      } else {
        const float* g = static_cast<const float*>(p) + idx;
        if (inside && c + 8 <= col_end && (reinterpret_cast<uintptr_t>(g) & 15) == 0) {
          cp_async16(lo, g);
          cp_async16(hi, g + 4);
        } else {
          float e[8];
#pragma unroll
          for (int i = 0; i < 8; ++i) e[i] = inside && c + i < col_end ? g[i] : 0.f;
          *reinterpret_cast<float4*>(lo) = make_float4(e[0], e[1], e[2], e[3]);
          *reinterpret_cast<float4*>(hi) = make_float4(e[4], e[5], e[6], e[7]);
        }
      }
    }
  }

  // The thread's chunks of `raw` (copies landed) to the bf16 tile, rounded to nearest even.
  __device__ __forceinline__ static void convert(bf16* tile, const unsigned char* raw, int is_bf16) {
#pragma unroll
    for (int s = 0; s < CHUNKS; ++s) {
      const int chunk = threadIdx.x + s * GEMM_THREADS;
      const unsigned char* lo = raw + chunk * 16;
      uint4 v;
      if (is_bf16) {
        v = *reinterpret_cast<const uint4*>(lo);
      } else {
        const float4 x0 = *reinterpret_cast<const float4*>(lo);
        const float4 x1 = *reinterpret_cast<const float4*>(lo + PLANE);
        v = make_uint4(pack_bf16(x0.x, x0.y), pack_bf16(x0.z, x0.w), pack_bf16(x1.x, x1.y), pack_bf16(x1.z, x1.w));
      }
      *reinterpret_cast<uint4*>(tile + (chunk / CPR) * STRIDE + (chunk % CPR) * 8) = v;
    }
  }
};

// The raw copy of an operand with OUTER rows (BM for a, BN for b), staged as OperandTile<OUTER, DC> is.
template <int OUTER, bool DEPTH_CONTIGUOUS>
struct RawTile {
  typedef OperandTile<OUTER, DEPTH_CONTIGUOUS> Tile;
  typedef RawStager<Tile::ROWS, Tile::COLS> Raw;

  // Starts copying outer rows [outer0, outer0 + OUTER) × depth [k0, k0 + BK), valid below outer_end and k_end.
  __device__ __forceinline__ static void issue(unsigned char* raw, const void* p, int is_bf16, long long ld, int outer0, int outer_end,
                                               int k0, int k_end) {
    if constexpr (DEPTH_CONTIGUOUS) Raw::issue(raw, p, is_bf16, ld, outer0, outer_end, k0, k_end);
    else Raw::issue(raw, p, is_bf16, ld, k0, k_end, outer0, outer_end);
  }
};

// Dynamic shared bytes of gemm_async_body<T, TA, TB> (the header's formula).
template <class T, bool TA, bool TB>
__host__ __device__ constexpr int gemm_async_smem_bytes() {
  return GEMM_RAW_STAGES * (RawTile<T::BM, !TA>::Raw::RAW_BYTES + RawTile<T::BN, TB>::Raw::RAW_BYTES) +
         2 * 2 * (OperandTile<T::BM, !TA>::ELEMS + OperandTile<T::BN, TB>::ELEMS);
}

__device__ __forceinline__ uint32_t dynamic_smem_size() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%dynamic_smem_size;\n" : "=r"(r));
  return r;
}

typedef TileShape<128, 64, 4> NarrowTile;

template <class T, bool TA, bool TB>
__device__ __forceinline__ void gemm_async_body(void* out, float* partial, const void* a, const void* b, int m, int n, int k,
                                                int k_per_split, int out_bf16, int a_bf16, int b_bf16, float alpha, int accumulate,
                                                const int* __restrict__ a_ids, const float* __restrict__ bias) {
  typedef OperandTile<T::BM, !TA> TileA;
  typedef OperandTile<T::BN, TB> TileB;
  typedef RawTile<T::BM, !TA> RawA;
  typedef RawTile<T::BN, TB> RawB;
  constexpr int RAW_A = RawA::Raw::RAW_BYTES, RAW_B = RawB::Raw::RAW_BYTES;
  extern __shared__ __align__(128) unsigned char gemm_smem[];
  if (dynamic_smem_size() < static_cast<uint32_t>(gemm_async_smem_bytes<T, TA, TB>())) __trap();
  // Raw a stages, raw b stages, then the two bf16 tiles of a and of b (every part a multiple of 16 bytes).
  unsigned char* const raw_a = gemm_smem;
  unsigned char* const raw_b = raw_a + GEMM_RAW_STAGES * RAW_A;
  bf16* const sa = reinterpret_cast<bf16*>(raw_b + GEMM_RAW_STAGES * RAW_B);
  bf16* const sb = sa + 2 * TileA::ELEMS;

  int tm, tn;
  tile_of(blockIdx.x, (m + T::BM - 1) / T::BM, (n + T::BN - 1) / T::BN, tm, tn);
  const int m0 = tm * T::BM, n0 = tn * T::BN;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(k, k_begin + k_per_split);
  int steps = k_end > k_begin ? (k_end - k_begin + GEMM_BK - 1) / GEMM_BK : 0;
  if (a_ids != nullptr && !TA && !rows_live(a_ids, m0, T::BM, m)) steps = 0;  // a tile of zero rows
  const long long lda = TA ? m : k, ldb = TB ? k : n;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wm = (warp % T::WARPS_M) * T::WM, wn = (warp / T::WARPS_M) * T::WN;

  float acc[T::MI][2 * T::NJ][4];
#pragma unroll
  for (int i = 0; i < T::MI; ++i)
#pragma unroll
    for (int j = 0; j < 2 * T::NJ; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;

  // Copies of k tile t go to raw slot t % GEMM_RAW_STAGES as one commit group; a group is committed for
  // every t, empty past the last tile, so that before converting tile t exactly the groups of tiles
  // 0 .. t + GEMM_RAW_STAGES - 1 exist and waiting for all but the newest GEMM_RAW_STAGES - 1 lands tile t.
  auto issue = [&](int t) {
    if (t < steps) {
      const int k0 = k_begin + t * GEMM_BK;
      const int slot = t % GEMM_RAW_STAGES;
      RawA::issue(raw_a + slot * RAW_A, a, a_bf16, lda, m0, m, k0, k_end);
      RawB::issue(raw_b + slot * RAW_B, b, b_bf16, ldb, n0, n, k0, k_end);
    }
    cp_async_commit();
  };
  // Tile t (landed) to bf16 buffer t & 1, then the copies of tile t + GEMM_RAW_STAGES into its raw slot.
  auto convert = [&](int t) {
    cp_async_wait<GEMM_RAW_STAGES - 1>();
    const int slot = t % GEMM_RAW_STAGES;
    RawA::Raw::convert(sa + (t & 1) * TileA::ELEMS, raw_a + slot * RAW_A, a_bf16);
    RawB::Raw::convert(sb + (t & 1) * TileB::ELEMS, raw_b + slot * RAW_B, b_bf16);
    // The slot's reads are done: each shared store of the conversion consumed them, and the copies into the
    // slot issue after those stores (in order; the asm's memory clobber keeps the compiler from moving them).
    issue(t + GEMM_RAW_STAGES);
  };

#pragma unroll
  for (int t = 0; t < GEMM_RAW_STAGES; ++t) issue(t);
  if (steps > 0) convert(0);
  __syncthreads();

  // Step s multiplies bf16 buffer s & 1 while the copies of tiles s + 1 .. s + GEMM_RAW_STAGES fly; then
  // tile s + 1 is converted into the other buffer (last read in step s - 1, before the previous barrier).
  for (int s = 0; s < steps; ++s) {
    const uint32_t ta = smem_u32(sa + (s & 1) * TileA::ELEMS), tb = smem_u32(sb + (s & 1) * TileB::ELEMS);
#pragma unroll
    for (int kk = 0; kk < GEMM_BK; kk += 16) {
      uint32_t fa[T::MI][4], fb[T::NJ][4];
#pragma unroll
      for (int i = 0; i < T::MI; ++i) frag_a<!TA, T::BM>(fa[i], ta, wm + 16 * i, kk, lane);
#pragma unroll
      for (int j = 0; j < T::NJ; ++j) frag_b<TB, T::BN>(fb[j], tb, wn + 16 * j, kk, lane);
#pragma unroll
      for (int i = 0; i < T::MI; ++i)
#pragma unroll
        for (int j = 0; j < T::NJ; ++j) {
          mma_bf16(acc[i][2 * j], fa[i], fb[j][0], fb[j][1]);
          mma_bf16(acc[i][2 * j + 1], fa[i], fb[j][2], fb[j][3]);
        }
    }
    if (s + 1 < steps) convert(s + 1);
    __syncthreads();
  }
  // Only empty groups can remain; none is left behind at exit.
  cp_async_wait<0>();

  const int g = lane >> 2, q = lane & 3;
#pragma unroll
  for (int i = 0; i < T::MI; ++i)
#pragma unroll
    for (int j = 0; j < 2 * T::NJ; ++j) {
      const int r = m0 + wm + 16 * i + g, c = n0 + wn + 8 * j + 2 * q;
      store_pair(out, out_bf16, partial, bias, r, c, m, n, true, acc[i][j][0], acc[i][j][1], alpha, accumulate);
      store_pair(out, out_bf16, partial, bias, r + 8, c, m, n, true, acc[i][j][2], acc[i][j][3], alpha, accumulate);
    }
}

// ---------------------------------------------------------------------------------------------------
// fp32 SIMT kernel

// Stages OUTER rows × SIMT_BK depth of an operand as f32 [depth][outer] (stride OUTER + 1, so the
// transposing stores of a depth-contiguous operand hit 16 different banks); ELEMS per thread.
template <int OUTER, bool DEPTH_CONTIGUOUS>
struct SimtStager {
  static constexpr int ELEMS = OUTER * SIMT_BK / GEMM_THREADS;
  static constexpr int STRIDE = OUTER + 1;
  static_assert(OUTER * SIMT_BK % GEMM_THREADS == 0, "tile shape");
  float v[ELEMS];

  // Element e of the thread: consecutive threads take consecutive addresses of the stored matrix.
  __device__ __forceinline__ static void place(int e, int& outer, int& depth) {
    const int flat = threadIdx.x + e * GEMM_THREADS;
    if constexpr (DEPTH_CONTIGUOUS) {
      outer = flat / SIMT_BK;
      depth = flat % SIMT_BK;
    } else {
      depth = flat / OUTER;
      outer = flat % OUTER;
    }
  }

  __device__ __forceinline__ void load(const void* p, int is_bf16, long long ld, int outer0, int outer_end, int k0, int k_end) {
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) {
      int o, d;
      place(e, o, d);
      o += outer0;
      d += k0;
      const long long idx = DEPTH_CONTIGUOUS ? static_cast<long long>(o) * ld + d : static_cast<long long>(d) * ld + o;
      v[e] = o < outer_end && d < k_end ? load_elem(p, is_bf16, idx) : 0.f;
    }
  }

  __device__ __forceinline__ void store(float* tile) const {
#pragma unroll
    for (int e = 0; e < ELEMS; ++e) {
      int o, d;
      place(e, o, d);
      tile[d * STRIDE + o] = v[e];
    }
  }
};

template <bool TA, bool TB>
__device__ __forceinline__ void gemm_f32_body(void* out, float* partial, const void* a, const void* b, int m, int n, int k,
                                              int k_per_split, int out_bf16, int a_bf16, int b_bf16, float alpha, int accumulate,
                                              const int* __restrict__ a_ids, const float* __restrict__ bias) {
  typedef SimtStager<SIMT_BM, !TA> StageA;
  typedef SimtStager<SIMT_BN, TB> StageB;
  __shared__ float sa[2][SIMT_BK * StageA::STRIDE];
  __shared__ float sb[2][SIMT_BK * StageB::STRIDE];

  int tm, tn;
  tile_of(blockIdx.x, (m + SIMT_BM - 1) / SIMT_BM, (n + SIMT_BN - 1) / SIMT_BN, tm, tn);
  const int m0 = tm * SIMT_BM, n0 = tn * SIMT_BN;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(k, k_begin + k_per_split);
  int steps = k_end > k_begin ? (k_end - k_begin + SIMT_BK - 1) / SIMT_BK : 0;
  if (a_ids != nullptr && !TA && !rows_live(a_ids, m0, SIMT_BM, m)) steps = 0;  // a tile of zero rows
  __shared__ uint32_t live_bits[GEMM_LIVE_WORDS];
  const DepthSteps depth = depth_steps<SIMT_BK>(live_bits, a_ids, TA, k_begin, k_end, steps);
  const long long lda = TA ? m : k, ldb = TB ? k : n;
  // The thread's 4 × 4 outputs: rows ty + 16i, columns tx + 16j (a warp stores 16 consecutive columns).
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;

  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;

  StageA la;
  StageB lb;
  int s = depth.next(-1);
  if (s < steps) {
    la.load(a, a_bf16, lda, m0, m, k_begin + s * SIMT_BK, k_end);
    lb.load(b, b_bf16, ldb, n0, n, k_begin + s * SIMT_BK, k_end);
    la.store(sa[0]);
    lb.store(sb[0]);
  }
  __syncthreads();

  for (int c = 0; s < steps; ++c) {
    const int following = depth.next(s);
    const bool next = following < steps;
    if (next) {
      const int k0 = k_begin + following * SIMT_BK;
      la.load(a, a_bf16, lda, m0, m, k0, k_end);
      lb.load(b, b_bf16, ldb, n0, n, k0, k_end);
    }
    const float* ta = sa[c & 1];
    const float* tb = sb[c & 1];
#pragma unroll
    for (int kk = 0; kk < SIMT_BK; ++kk) {
      float x[4], y[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) x[i] = ta[kk * StageA::STRIDE + ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) y[j] = tb[kk * StageB::STRIDE + tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(x[i], y[j], acc[i][j]);
    }
    if (next) {
      la.store(sa[(c + 1) & 1]);
      lb.store(sb[(c + 1) & 1]);
    }
    __syncthreads();
    s = following;
  }

#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      store_pair(out, out_bf16, partial, bias, m0 + ty + 16 * i, n0 + tx + 16 * j, m, n, false, acc[i][j], 0.f, alpha, accumulate);
    }
}

// ---------------------------------------------------------------------------------------------------
// Entry points (EPILOGUE_PARAMS, NORM_PARAMS: kernels/gemm_epilogue.cuh)

#define GEMM_PARAMS                                                                                                     \
  void *__restrict__ out, float *__restrict__ partial, unsigned *__restrict__ counters, const void *__restrict__ a, const void *__restrict__ b, int m, int n, \
      int k, int k_per_split, int out_bf16, int a_bf16, int b_bf16, float alpha, int accumulate,                            \
      const int *__restrict__ a_ids, const float *__restrict__ bias, EPILOGUE_PARAMS, NORM_PARAMS
#define GEMM_ARGS out, partial, a, b, m, n, k, k_per_split, out_bf16, a_bf16, b_bf16, alpha, accumulate, a_ids, bias
#define GEMM_FINISH_ARGS out, out_bf16, partial, counters, m, n, alpha, accumulate, EPILOGUE_OF_PARAMS, NORM_OF_PARAMS

// After the body (its registers dead by then): the split-K reduction inside the GEMM, or over an unsplit
// tile the rest of the epilogue, with the layer norm where asked. Each is a call of its own: inlined into
// the bodies' stores they took the 64 × 64 kernels from 80 to 96 registers (3 CTAs per SM to 2). NORM: the
// kernel has the layer norm (those without transA: a transposed a is a weight gradient's, which never asks
// for one, and the call's arguments cost the 128 × 128 tn and fp32 tn kernels spills); the launcher passes
// a layer norm (ln.out != null) only to those, unsplit and of n ≤ BN.
template <int BM, int BN, bool NORM>
__device__ __forceinline__ void gemm_finish(void* out, int out_bf16, float* partial, unsigned* counters, int m, int n, float alpha,
                                            int accumulate, const Epilogue& ep, const EpilogueNorm& ln) {
  int tm, tn;
  tile_of(blockIdx.x, (m + BM - 1) / BM, (n + BN - 1) / BN, tm, tn);
  if (counters != nullptr) splitk_tail<BM, BN>(out, out_bf16, partial, counters, ep, tm * BM, tn * BN, m, n, alpha, accumulate);
  else if (NORM && partial == nullptr && ln.out != nullptr) epilogue_tile_norm<BM, BN>(out, out_bf16, ep, ln, tm * BM, m, n);
  else if (partial == nullptr && epilogue_extra(ep)) epilogue_tile<BM, BN>(out, out_bf16, ep, tm * BM, tn * BN, m, n);
}

#define bf16_TILE_M GEMM_BM
#define bf16_TILE_N GEMM_BN
#define f32_TILE_M SIMT_BM
#define f32_TILE_N SIMT_BN
#define GEMM_ENTRY(KIND, NAME, TA, TB)                                                                     \
  extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm_##KIND##_##NAME(GEMM_PARAMS) {          \
    gemm_##KIND##_body<TA, TB>(GEMM_ARGS);                                                                 \
    gemm_finish<KIND##_TILE_M, KIND##_TILE_N, !TA>(GEMM_FINISH_ARGS);                                             \
  }

GEMM_ENTRY(bf16, nn, false, false)
GEMM_ENTRY(bf16, nt, false, true)
GEMM_ENTRY(bf16, tn, true, false)
GEMM_ENTRY(bf16, tt, true, true)
GEMM_ENTRY(f32, nn, false, false)
GEMM_ENTRY(f32, nt, false, true)
GEMM_ENTRY(f32, tn, true, false)
GEMM_ENTRY(f32, tt, true, true)

// At least two CTAs per SM (≤ 128 registers): one CTA's barrier wait is covered by the other's mma.
#define GEMM_TILED_ENTRY(TILE, SHAPE, NAME, TA, TB)                                                                     \
  extern "C" __global__ void __launch_bounds__(GEMM_THREADS, SHAPE::MIN_BLOCKS) gemm_bf16_##TILE##_##NAME(GEMM_PARAMS) {  \
    gemm_tiled_body<SHAPE, TA, TB>(GEMM_ARGS);                                                             \
    gemm_finish<SHAPE::BM, SHAPE::BN, !TA>(GEMM_FINISH_ARGS);                                                    \
  }

GEMM_TILED_ENTRY(wide, WideTile, nn, false, false)
GEMM_TILED_ENTRY(wide, WideTile, nt, false, true)
GEMM_TILED_ENTRY(wide, WideTile, tn, true, false)
GEMM_TILED_ENTRY(wide, WideTile, tt, true, true)
GEMM_TILED_ENTRY(small, SmallTile, nn, false, false)
GEMM_TILED_ENTRY(small, SmallTile, nt, false, true)
GEMM_TILED_ENTRY(small, SmallTile, tn, true, false)
GEMM_TILED_ENTRY(small, SmallTile, tt, true, true)

#define GEMM_ASYNC_ENTRY(TILE, SHAPE, NAME, TA, TB)                                                              \
  extern "C" __global__ void __launch_bounds__(GEMM_THREADS, SHAPE::MIN_BLOCKS) gemm_bf16_async_##TILE##_##NAME(GEMM_PARAMS) {  \
    gemm_async_body<SHAPE, TA, TB>(GEMM_ARGS);                                                                   \
    gemm_finish<SHAPE::BM, SHAPE::BN, !TA>(GEMM_FINISH_ARGS);                                                          \
  }
GEMM_ASYNC_ENTRY(wide, WideTile, nn, false, false)
GEMM_ASYNC_ENTRY(wide, WideTile, nt, false, true)
GEMM_ASYNC_ENTRY(wide, WideTile, tn, true, false)
GEMM_ASYNC_ENTRY(wide, WideTile, tt, true, true)
GEMM_ASYNC_ENTRY(narrow, NarrowTile, nn, false, false)
GEMM_ASYNC_ENTRY(narrow, NarrowTile, nt, false, true)
GEMM_ASYNC_ENTRY(narrow, NarrowTile, tn, true, false)
GEMM_ASYNC_ENTRY(narrow, NarrowTile, tt, true, true)
GEMM_ASYNC_ENTRY(small, SmallTile, nn, false, false)
GEMM_ASYNC_ENTRY(small, SmallTile, nt, false, true)
GEMM_ASYNC_ENTRY(small, SmallTile, tn, true, false)
GEMM_ASYNC_ENTRY(small, SmallTile, tt, true, true)

// out[0..mn) = alpha · Σ_z partial[z · mn + i] + bias[i % n] (+ out), then the epilogue; bias may be null
// (adds nothing), n is out's row length. A CTA takes 32 consecutive elements at a time, a lane each; warp w
// sums the partials z ≡ w (mod warps) in order (each load a coalesced 128-byte row of one split), then
// warp 0 adds the warps' sums in order w = 0, 1, … and writes: a fixed order (deterministic), and a chain
// of S / warps dependent loads per element instead of S (one thread adding all S took 14.4 µs for S = 200;
// a group of lanes per element read 32 splits' lines per load, uncoalesced). Grid-stride.
#define REDUCE_MAX_WARPS 8
extern "C" __global__ void __launch_bounds__(32 * REDUCE_MAX_WARPS) gemm_splitk_reduce(
    void* __restrict__ out, const float* __restrict__ partial, long long mn, int splits, int out_bf16, float alpha, int accumulate,
    const float* __restrict__ bias, int n, EPILOGUE_PARAMS) {
  __shared__ float sums[REDUCE_MAX_WARPS][32];
  const Epilogue ep = EPILOGUE_OF_PARAMS;
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (long long base = blockIdx.x * 32LL; base < mn; base += gridDim.x * 32LL) {
    const long long i = base + lane;
    float s = 0.f;
    if (i < mn) {
      // Eight loads in flight, then added one after another in z order: the bits of the plain loop,
      // without its chain of one dependent L2 round trip per split.
      int z = w;
      for (; z + 7 * warps < splits; z += 8 * warps) {
        float v[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) v[u] = partial[(z + u * warps) * mn + i];
#pragma unroll
        for (int u = 0; u < 8; ++u) s += v[u];
      }
      for (; z < splits; z += warps) s += partial[z * mn + i];
    }
    sums[w][lane] = s;
    __syncthreads();
    if (w == 0 && i < mn) {
      float v = 0.f, unused = 0.f;
      for (int q = 0; q < warps; ++q) v += sums[q][lane];
      v *= alpha;
      epilogue_pair(ep, static_cast<int>(i / n), static_cast<int>(i % n), i, false, v, unused);
      if (out_bf16) {
        bf16* o = static_cast<bf16*>(out);
        if (accumulate) v += __bfloat162float(o[i]);
        o[i] = __float2bfloat16_rn(v);
      } else {
        float* o = static_cast<float*>(out);
        if (accumulate) v += o[i];
        o[i] = v;
      }
    }
    __syncthreads();
  }
}

// x[r · ld + col] = value for r in [0, rows) (f32). Grid-stride.
extern "C" __global__ void gemm_fill_column(float* __restrict__ x, int rows, long long ld, int col, float value) {
  for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x) x[r * ld + col] = value;
}
