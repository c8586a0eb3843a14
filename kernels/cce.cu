// @variants sm80 sm90a
// Cut Cross-Entropy (CCE): the full-softmax loss over V items without an [N × V] logits matrix.
//
// LOSS CONTRACT (shared with the CPU reference, src/losses; do not deviate)
//   h      [N × d]      bf16  hidden states, row r = b·L + t
//   table  [(V+1) × d]  bf16  item embeddings; row 0 is the padding id, never scored; items are 1..V
//   target [N]          i32   target item of row r, 0 = padding position (contributes nothing)
//   M = number of rows with target ≠ 0; loss = (1/M) Σ_{valid r} ( -s_{r,t} + logsumexp_{i=1..V} s_{r,i} ),
//   s_{r,i} = h_r · table_i, accumulated in fp32 from bf16 operands.
//   Gradient of the mean, per valid row: G_{r,i} = (softmax_i - [i = t_r]) · g / M, g = d loss.
//   The scale g / M is applied in fp32 to fp32 accumulators at the very end; the products use the
//   unscaled G = p - y in bf16 (|G| ≤ 1, bf16 has fp32's exponent range: nothing underflows).
//   The materialised ce under 'bf16' math is this contract too (lse, row_loss and dh_raw from
//   cce_forward_grad, G from cce_write_grad): p from fp32 scores, not from logits rounded to bf16. The CPU
//   reference (src/backend/cpu/loss-full.ts) rounds nothing: against it on the same bf16 operands the loss
//   differs by fp32 rounding (≤ 1e-5 relative), each stored G by its bf16 rounding (≤ 2^-8 of itself).
//
// KERNELS (one pass each; none holds more than a tile of logits)
//   cce_forward_grad_* grid (⌈N/R⌉, D/DO, S): a CTA owns R rows of h and streams the item tiles of its
//                      share (split z: tiles [z·T, min((z+1)·T, ⌈V/BS⌉)), T = tiles_per_split; S = 1:
//                      all of them) through shared memory: scores on the tensor cores, online
//                      log-sum-exp in the exp2 domain with lazy rescaling, and O_r = Σ_{i≠t} p_ri · table_i
//                      on the same tiles.
//     S = 1 (partial null) writes the outputs below itself. S > 1 (partial not null; the launcher splits when
//     ⌈N/R⌉·D/DO ≤ SMs, i.e. the row blocks alone fill at most half of two CTAs per SM) writes partials
//     instead (running max m and sum l in the exp2 domain, the f32 accumulator O, the target's score from the
//     split that holds it: S·N·(d + 2) + N floats with S·⌈N/R⌉·D/DO ≤ 2·SMs, layout above forward_epilogue)
//     and its own tiles' tile_max; cce_forward_combine then writes lse, row_loss, dh_raw and min_lse from the
//     S partials in the fixed order z = 0 .. S-1 (deterministic). Against S = 1 the results differ by the
//     fp32 rounding of the other summation order: both sum positive terms, so the row totals differ by at
//     most (⌈V/BS⌉ + 2S + 4)·2^-24 relative (ex2.approx and the rescales included), which is the absolute
//     difference of lse, row_loss and min_lse (~1e-6 in practice); dh_raw differs by that relative amount
//     plus another bf16 rounding of P (each split rounds p against its own running max: 2^-9 relative per
//     term, the same error S = 1 has against the exact result, averaging down over the terms). tile_max is
//     bit-identical (the same scores, each tile written by one split).
//     writes   lse[N]        f32  natural-log log-sum-exp; +inf on padding rows (so backward gets p = 0)
//              row_loss[N]   f32  lse - s_t; 0 on padding rows
//              dh_raw[N × d] f32  the UNSCALED row gradient Σ_i p_i table_i - table_t, computed as
//                                 O/l - (1 - p_t)·table_t with the target kept out of O, so a confident
//                                 row (p_t → 1) loses nothing to cancellation; 0 on padding rows.
//              min_lse[⌈N/R⌉] f32 the smallest lse of the block's valid rows (+inf: none, a block of
//                                 padding rows, whose h tiles the backward then skips)
//     and, when tile_max is not null (the filter's tile skip, below):
//              tile_max[⌈V/BS⌉ × ⌈N/R⌉] bf16  per (item tile it, row block rb), at [it·⌈N/R⌉ + rb]: the
//                                 largest score of the block's valid rows over the tile's items, in log2
//                                 units, rounded up; +inf when a row of the block has its target there
//                      A row block of padding rows streams nothing: it writes its outputs (S = 1) or only
//                      its share's tile_max (S > 1: the combine writes the rest, reading no partial).
//   cce_forward_combine grid (⌈N/R⌉, ⌈d/32⌉) (S > 1 only).
//   cce_table_grad_*   grid (⌈V/R⌉, D/DO, S): a CTA owns R items and streams tiles of h rows (a 1/S share
//                      of N), recomputing the scores and G^T = p - y from the saved lse, and accumulates
//                      dtable_tile = G^T · h_tile in fp32 registers. It first lists the live tiles of its
//                      share (a bit each, CCE_LIVE_WINDOW at a time: a tile is live when a forward row block
//                      it overlaps has a valid row, and, with tile_max, its bound passes) and streams only
//                      those: padding costs nothing.
//     S = 1:   dtable[1+i] (+=) scale · acc     (f32 or bf16 table gradient)
//     S > 1:   partial[z][i] = acc (f32), then cce_table_grad_reduce adds the S partials in a fixed
//              order: the result is deterministic; partial holds S·V·d floats with S·V ≤ 2·SMs·R.
//   cce_write_grad_*   grid (⌈N/R⌉, S) (D ≤ 256): the materialised ce's gradient under 'bf16' math
//                      (src/backend/cuda/materialised-losses.ts, after cce_forward_grad). A CTA owns R rows of
//                      h and streams the table FROM ROW 0 (stream index c = item c = logits column c; rows
//                      past V load as zeros) in tiles of BS, split y taking column tiles [y·T, min((y+1)·T,
//                      ⌈P/BS⌉)), T = tiles_per_split; it recomputes the scores with the forward's shape,
//                      tensor-core path and bf16 operands, and
//     writes   logits[N × P] bf16 (P % 8 == 0, 16-byte aligned rows), overwritten whole:
//              G[r, c] = 2^(s_rc·log2e − lse_r·log2e) − [c = t_r] for items c = 1..V, UNSCALED, rounded to
//              nearest even; +0 in column 0 and in columns V+1..P-1; padding rows (and their row blocks,
//              without a product) +0. p is the forward's exp2 of fp32 scores against its lse (Σ_c p = 1 to
//              ~1e-6), not a softmax of bf16-rounded logits. A quad transposes its accumulator fragments
//              (two xor-shuffle rounds) so that each lane stores 16 bytes: a warp's store is 8 rows × 64
//              contiguous bytes. Reads lse only (not dh_raw, min_lse or tile_max); deterministic.
//   cce_hidden_grad    dh = scale · dh_raw (f32 → f32 or bf16); may alias when both are f32.
//   cce_loss_reduce    loss[0] = Σ row_loss / M in fp64, one CTA, fixed order (deterministic).
// SAVED FOR BACKWARD: lse [N] and dh_raw [N × d] (the forward computes the hidden gradient: the backward
// then needs one pass over the catalogue, not two), min_lse and tile_max (the tile skip). The materialised
// ce keeps G (cce_write_grad's logits) for its table GEMM instead of running cce_table_grad.
// ACCUMULATES: the table gradient (+=, rows 1..V; row 0 never touched). OVERWRITES: everything else
// (the forward's partials are scratch between the split forward and its combine).
//
// GRADIENT FILTER: log2_eps = -inf is the exact mode. Otherwise a warp skips the tensor-core product of a
// tile whose every |G| ≤ eps: in backward decided from the scores before any exp is spent (no target
// among the warp's items and max(s - lse) < log eps); in forward after the exps (they feed the loss),
// against the running log-sum-exp, which only grows, so the test is conservative (a split's running
// sum, a part of the row's, is too). Losses are never filtered.
// TILE SKIP (filter mode with tile_max): the forward's tiles are the backward's, transposed (a row block
// of R rows × an item tile of BS items against an item block of R items × an h tile of BS rows), so the
// forward records per cell an upper bound of every score and the backward bounds every p of a cell by
// 2^(tile_max - min_lse·log2e) before it loads anything: a backward tile whose cells all fall below eps
// and hold no target is neither loaded nor multiplied (at V = 1.66 M with logits of unit variance, almost
// all of them). The bound only widens the per-warp test above, so the result is, up to the rounding of
// the scores, that of the filter without the skip. Extra memory: N·V·2/(R·BS) bytes (N·V/2048 for R = BS = 64) plus 4·⌈N/R⌉.
//
// SHAPES: d ≤ D for the instantiated D ∈ {32, 64, 128, 256, 512}; columns past d are zero-filled in
// shared memory, so they add nothing. aligned = (d % 8 == 0, 16-byte aligned rows): cp.async tiles;
// otherwise element loads (any d). Products: mma.sync m16n8k16 (every GPU from sm_80) and, in the sm_90a
// module, wgmma for D ∈ {64, 128, 256} with aligned rows.

#include "cce_common.cuh"

// Lazy rescaling: the running max moves only when a score exceeds it by more than this (log2 units),
// so p = 2^(s - m) stays ≤ 2^8 (exact enough in bf16, far from fp32 overflow).
#define CCE_RESCALE_SLACK 8.0f

// The backward's tile skip lists the live h tiles of a CTA's share this many at a time (one bit each in
// shared memory); between windows the stream pipeline drains once. A multiple of 32; overridable at
// build time only for tests of the window boundaries (the launchers size shared memory for 2048).
#ifndef CCE_LIVE_WINDOW
#define CCE_LIVE_WINDOW 2048
#endif

// ---------------------------------------------------------------------------------------------------
// PTX helpers

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int PENDING>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING)); }

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

// Two floats to one register of two bf16 (lo in the low half), rounded to nearest.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// ---------------------------------------------------------------------------------------------------
// Shared-memory tiles of ROWS rows × D bf16 columns. For D ≥ 64 the tile is D/64 panels of ROWS rows ×
// 128 bytes, the 16-byte chunks of each row XOR-swizzled by (row mod 8): the canonical 128-byte-swizzle
// layout of wgmma (panel bases 1024-byte aligned) and, for ldmatrix, 8 rows of one phase in 8 different
// bank groups. D = 32 keeps 64-byte rows swizzled by (row mod 4).

template <int D, int ROWS>
__device__ __forceinline__ int swz(int row, int chunk) {
  if constexpr (D == 32) {
    return row * 32 + ((chunk ^ (row & 3)) << 3);
  } else {
    return ((chunk >> 3) * ROWS + row) * 64 + (((chunk & 7) ^ (row & 7)) << 3);
  }
}

// Loads rows [row0, row0 + ROWS) of a [rows_total × d] bf16 matrix into a swizzled tile; rows past
// rows_total and columns past d become zeros. ALIGNED: cp.async (the caller commits and waits). Each
// thread keeps one 16-byte column chunk and steps down the rows, so the addresses are computed once.
template <int D, int ROWS, int THREADS, bool ALIGNED>
__device__ __forceinline__ void load_tile(bf16* tile, const bf16* src, int row0, int rows_total, int d) {
  constexpr int CPR = D / 8;                  // chunks per row
  constexpr int STEP = THREADS / CPR;         // rows between a thread's chunks
  static_assert(THREADS % CPR == 0 && ROWS % STEP == 0, "tile shape");
  const int c = threadIdx.x % CPR;
  const int r0 = threadIdx.x / CPR;
  const bool col_ok = c * 8 < d;
  const bf16* g = src + static_cast<size_t>(row0 + r0) * d + c * 8;
#pragma unroll
  for (int k = 0; k < ROWS / STEP; ++k) {
    const int r = r0 + k * STEP;
    const bool ok = col_ok && row0 + r < rows_total;
    bf16* dst = tile + swz<D, ROWS>(r, c);
    if constexpr (ALIGNED) {
      cp_async16(smem_u32(dst), ok ? g + static_cast<size_t>(k) * STEP * d : src, ok ? 16 : 0);
    } else {
      const unsigned short* g16 = reinterpret_cast<const unsigned short*>(g) + static_cast<size_t>(k) * STEP * d;
      uint32_t w[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const uint32_t lo = ok && c * 8 + 2 * e < d ? g16[2 * e] : 0u;
        const uint32_t hi = ok && c * 8 + 2 * e + 1 < d ? g16[2 * e + 1] : 0u;
        w[e] = lo | (hi << 16);
      }
      *reinterpret_cast<uint4*>(dst) = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }
}

constexpr int cce_gcd(int a, int b) { return b == 0 ? a : cce_gcd(b, a % b); }

// The streamed tiles of one CTA (aligned rows): each thread's column chunk, global row pointer, and
// the swizzled offsets of its rows are fixed once, so loading a tile costs a pointer step, a bound
// check and a cp.async per 16-byte chunk. Rows past rows_total become zeros.
template <int D, int ROWS, int THREADS>
struct StreamLoader {
  static constexpr int CPR = D / 8, STEP = THREADS / CPR;
  static constexpr int MASK_PERIOD = D == 32 ? 4 : 8, ROW_ELEMS = D == 32 ? 32 : 64;
  static constexpr int P = MASK_PERIOD / cce_gcd(STEP, MASK_PERIOD);  // the swizzle repeats every P chunks
  static_assert(THREADS % CPR == 0 && ROWS % (STEP * P) == 0, "tile shape");
  const bf16* base;
  long long stride;  // STEP rows, in elements
  int d, limit;      // limit: rows_total - first row of this thread
  bool col_ok;
  int off[P];

  __device__ __forceinline__ StreamLoader(const bf16* src, int d_, int rows_total) {
    const int c = threadIdx.x % CPR, r0 = threadIdx.x / CPR;
    base = src + static_cast<long long>(r0) * d_ + c * 8;
    stride = static_cast<long long>(STEP) * d_;
    d = d_;
    limit = rows_total - r0;
    col_ok = c * 8 < d_;
#pragma unroll
    for (int j = 0; j < P; ++j) off[j] = swz<D, ROWS>(r0 + j * STEP, c);
  }

  // Rows [row0, row0 + ROWS) into `tile` (cp.async; the caller commits and waits).
  __device__ __forceinline__ void load(bf16* tile, int row0) const {
    const uint32_t t = smem_u32(tile);
    const bf16* g = base + static_cast<long long>(row0) * d;
#pragma unroll
    for (int k = 0; k < ROWS / STEP; ++k) {
      const bool ok = col_ok && row0 + k * STEP < limit;
      cp_async16(t + 2 * (off[k % P] + (k / P) * P * STEP * ROW_ELEMS), g, ok ? 16 : 0);
      g += stride;
    }
  }
};

// ---------------------------------------------------------------------------------------------------
// Warp tile products (mma.sync m16n8k16). A warp owns 16 rows of the CTA's own tile. Fragment layout of
// an accumulator block j (columns 8j..8j+7): c[0], c[1] at (row g, cols 8j + 2q, +1), c[2], c[3] at
// (row g + 8, same cols), g = lane / 4, q = lane % 4.

// s[16 × BS] = own[wr0 .. wr0+16) · stream[0 .. BS)ᵀ over the full width D.
template <int D, int R, int BS>
__device__ __forceinline__ void warp_scores(float (&s)[BS / 8][4], uint32_t own, int wr0, uint32_t stream, int lane) {
#pragma unroll
  for (int j = 0; j < BS / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    uint32_t a[4];
    ldsm_x4(a, own + 2 * swz<D, R>(wr0 + (lane & 15), 2 * kk + (lane >> 4)));
#pragma unroll
    for (int j2 = 0; j2 < BS / 16; ++j2) {
      uint32_t b[4];
      ldsm_x4(b, stream + 2 * swz<D, BS>(16 * j2 + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1)));
      mma_bf16(s[2 * j2], a, b[0], b[1]);
      mma_bf16(s[2 * j2 + 1], a, b[2], b[3]);
    }
  }
}

// The A fragments of a [16 × BS] score-shaped tile, as bf16 (the FlashAttention-2 register reuse).
template <int BS>
__device__ __forceinline__ void pack_rows(uint32_t (&pa)[BS / 16][4], const float (&p)[BS / 8][4]) {
#pragma unroll
  for (int k = 0; k < BS / 16; ++k) {
    pa[k][0] = pack_bf16(p[2 * k][0], p[2 * k][1]);
    pa[k][1] = pack_bf16(p[2 * k][2], p[2 * k][3]);
    pa[k][2] = pack_bf16(p[2 * k + 1][0], p[2 * k + 1][1]);
    pa[k][3] = pack_bf16(p[2 * k + 1][2], p[2 * k + 1][3]);
  }
}

// acc[16 × DO] += pa[16 × BS] · stream[0 .. BS)[chunk0·8 .. chunk0·8 + DO).
template <int D, int DO, int BS>
__device__ __forceinline__ void warp_accumulate(float (&acc)[DO / 8][4], const uint32_t (&pa)[BS / 16][4], uint32_t stream,
                                                int chunk0, int lane) {
#pragma unroll
  for (int k = 0; k < BS / 16; ++k) {
#pragma unroll
    for (int n2 = 0; n2 < DO / 16; ++n2) {
      uint32_t b[4];
      ldsm_x4_trans(b, stream + 2 * swz<D, BS>(16 * k + (lane & 7) + (((lane >> 3) & 1) << 3), chunk0 + 2 * n2 + (lane >> 4)));
      mma_bf16(acc[2 * n2], pa[k], b[0], b[1]);
      mma_bf16(acc[2 * n2 + 1], pa[k], b[2], b[3]);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Warpgroup tile products (wgmma, sm_90a only). One warpgroup of 4 warps owns 64 rows; its accumulators
// have, per warp, the mma.sync layout above, so the elementwise code is shared. Operands come straight
// from the swizzled shared-memory panels through matrix descriptors.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define CCE_HAS_WGMMA 1

// d[64 × 64] (+)= A (smem, K-major) · B (smem, K-major); scale_d = 0 overwrites.
__device__ __forceinline__ void wgmma_ss_n64(float (&d)[8][4], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d));
}
// d[64 × 128] (+)= A (smem, K-major) · B (smem, K-major); scale_d = 0 overwrites.
__device__ __forceinline__ void wgmma_ss_n128(float (&d)[16][4], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]), "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]), "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]), "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d));
}
// d[64 × 64] += A (registers, the mma.sync A fragment per warp) · B (smem, MN-major).
__device__ __forceinline__ void wgmma_rs_n64(float (&d)[8][4], const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
}

// d[64 × 128] += A (registers, the mma.sync A fragment per warp) · B (smem, MN-major).
__device__ __forceinline__ void wgmma_rs_n128(float (&d)[16][4], const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]), "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]), "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]), "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
}
// d[64 × 256] += A (registers, the mma.sync A fragment per warp) · B (smem, MN-major).
__device__ __forceinline__ void wgmma_rs_n256(float (&d)[32][4], const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, {%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]), "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]), "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]), "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3]), "+f"(d[16][0]), "+f"(d[16][1]), "+f"(d[16][2]), "+f"(d[16][3]), "+f"(d[17][0]), "+f"(d[17][1]), "+f"(d[17][2]), "+f"(d[17][3]), "+f"(d[18][0]), "+f"(d[18][1]), "+f"(d[18][2]), "+f"(d[18][3]), "+f"(d[19][0]), "+f"(d[19][1]), "+f"(d[19][2]), "+f"(d[19][3]), "+f"(d[20][0]), "+f"(d[20][1]), "+f"(d[20][2]), "+f"(d[20][3]), "+f"(d[21][0]), "+f"(d[21][1]), "+f"(d[21][2]), "+f"(d[21][3]), "+f"(d[22][0]), "+f"(d[22][1]), "+f"(d[22][2]), "+f"(d[22][3]), "+f"(d[23][0]), "+f"(d[23][1]), "+f"(d[23][2]), "+f"(d[23][3]), "+f"(d[24][0]), "+f"(d[24][1]), "+f"(d[24][2]), "+f"(d[24][3]), "+f"(d[25][0]), "+f"(d[25][1]), "+f"(d[25][2]), "+f"(d[25][3]), "+f"(d[26][0]), "+f"(d[26][1]), "+f"(d[26][2]), "+f"(d[26][3]), "+f"(d[27][0]), "+f"(d[27][1]), "+f"(d[27][2]), "+f"(d[27][3]), "+f"(d[28][0]), "+f"(d[28][1]), "+f"(d[28][2]), "+f"(d[28][3]), "+f"(d[29][0]), "+f"(d[29][1]), "+f"(d[29][2]), "+f"(d[29][3]), "+f"(d[30][0]), "+f"(d[30][1]), "+f"(d[30][2]), "+f"(d[30][3]), "+f"(d[31][0]), "+f"(d[31][1]), "+f"(d[31][2]), "+f"(d[31][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
}
#include "wgmma.cuh"
template <int K>
__device__ __forceinline__ void fence_frag(uint32_t (&a)[K][4]) {
#pragma unroll
  for (int k = 0; k < K; ++k)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(a[k][e])::"memory");
}

// Issues s[64 × BS] = own[row0 .. row0 + 64) · stream[BS × D]ᵀ (both K-major) as one wgmma group.
template <int D, int R, int BS>
__device__ __forceinline__ void wg_scores_issue(float (&s)[BS / 8][4], uint32_t own, int row0, uint32_t stream) {
  fence_acc(s);
  wg_fence();
  // Base descriptors once; each k-step adds a compile-time byte offset (>> 4) to the address field.
  const uint64_t da0 = wg_desc(own + row0 * 128, 16, 1024);
  const uint64_t db0 = wg_desc(stream, 16, 1024);
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const uint64_t da = da0 + (((kk >> 2) * R * 128 + (kk & 3) * 32) >> 4);
    const uint64_t db = db0 + (((kk >> 2) * BS * 128 + (kk & 3) * 32) >> 4);
    if constexpr (BS == 64) wgmma_ss_n64(s, da, db, kk > 0);
    else wgmma_ss_n128(s, da, db, kk > 0);
  }
  wg_commit();
}

// Issues acc[64 × DO] += pa[64 × BS] · stream[0 .. BS)[chunk0·8 .. chunk0·8 + DO) (stream MN-major).
template <int D, int DO, int BS>
__device__ __forceinline__ void wg_accumulate_issue(float (&acc)[DO / 8][4], uint32_t (&pa)[BS / 16][4], uint32_t stream, int chunk0) {
  fence_acc(acc);
  fence_frag(pa);
  wg_fence();
  // One instruction spans all DO columns: DO/64 panels, BS·128 bytes apart (the leading byte offset).
  const uint64_t db0 = wg_desc(stream + (chunk0 >> 3) * BS * 128, BS * 128, 1024);
#pragma unroll
  for (int k = 0; k < BS / 16; ++k) {
    const uint64_t db = db0 + ((k * 16 * 128) >> 4);
    if constexpr (DO == 256) wgmma_rs_n256(acc, pa[k], db);
    else if constexpr (DO == 128) wgmma_rs_n128(acc, pa[k], db);
    else wgmma_rs_n64(acc, pa[k], db);
  }
  wg_commit();
}

template <int D, int R, int BS>
__device__ __forceinline__ void wg_scores(float (&s)[BS / 8][4], uint32_t own, int row0, uint32_t stream) {
  wg_scores_issue<D, R, BS>(s, own, row0, stream);
  wg_wait_all();
  fence_acc(s);
}

template <int D, int DO, int BS>
__device__ __forceinline__ void wg_accumulate(float (&acc)[DO / 8][4], uint32_t (&pa)[BS / 16][4], uint32_t stream, int chunk0) {
  wg_accumulate_issue<D, DO, BS>(acc, pa, stream, chunk0);
  wg_wait_all();
  fence_acc(acc);
  fence_frag(pa);
}
#endif

// ---------------------------------------------------------------------------------------------------
// Tile shapes per width D: WARPS warps of 16 own rows (R = 16·WARPS), stream tiles of BS rows, output
// chunks of DO columns (D / DO chunks, one per blockIdx.y; each recomputes the scores). WG: the CTA is
// one wgmma warpgroup (the sm_90a entry points *_wg{D}); otherwise mma.sync warps (every target).
// Dynamic shared memory of a CTA: own tile, two stream tiles, two tiles of per-row side data, the live
// bits of the tile skip and 1 KB to align the tiles to the 1024-byte swizzle atom:
// (R + 2·BS)·D·2 + 2·BS·8 + CCE_LIVE_WINDOW/8 + 1024 bytes (the launcher, src/backend/cuda/cce-kernels.ts,
// mirrors this table).
template <int W, int B, int O, int MIN_B, bool G>
struct CtaShape {
  static constexpr int WARPS = W, BS = B, DO = O, MIN_BLOCKS = MIN_B;
  static constexpr bool WG = G;
};
template <int D>
struct CceShape;
template <> struct CceShape<32> : CtaShape<8, 64, 32, 2, false> {};
template <> struct CceShape<64> : CtaShape<8, 128, 64, 1, false> {};
template <> struct CceShape<128> : CtaShape<8, 64, 128, 1, false> {};
template <> struct CceShape<256> : CtaShape<8, 64, 256, 1, false> {};
template <> struct CceShape<512> : CtaShape<4, 64, 256, 1, false> {};
template <int D>
struct CceShapeWg;
template <> struct CceShapeWg<64> : CtaShape<4, 128, 64, 3, true> {};
template <> struct CceShapeWg<128> : CtaShape<4, 128, 128, 2, true> {};
template <> struct CceShapeWg<256> : CtaShape<4, 64, 256, 2, true> {};

// The 1024-byte aligned start of dynamic shared memory.
__device__ __forceinline__ unsigned char* smem_aligned(unsigned char* raw) {
  const uint32_t a = smem_u32(raw);
  return raw + (((a + 1023u) & ~1023u) - a);
}

// The tile products of shape S: mma.sync per warp, or wgmma per warpgroup.
template <int D, class S>
__device__ __forceinline__ void cta_scores(float (&s)[S::BS / 8][4], uint32_t own, int wr0, uint32_t stream, int lane) {
#ifdef CCE_HAS_WGMMA
  if constexpr (S::WG) {
    wg_scores<D, 16 * S::WARPS, S::BS>(s, own, wr0 & ~63, stream);
    return;
  }
#endif
  if constexpr (!S::WG) warp_scores<D, 16 * S::WARPS, S::BS>(s, own, wr0, stream, lane);
}
template <int D, class S>
__device__ __forceinline__ void cta_accumulate(float (&acc)[S::DO / 8][4], uint32_t (&pa)[S::BS / 16][4], uint32_t stream,
                                               int chunk0, int lane) {
#ifdef CCE_HAS_WGMMA
  if constexpr (S::WG) {
    wg_accumulate<D, S::DO, S::BS>(acc, pa, stream, chunk0);
    return;
  }
#endif
  if constexpr (!S::WG) warp_accumulate<D, S::DO, S::BS>(acc, pa, stream, chunk0, lane);
}

// Waits for this thread's pending tile copies, makes them visible to the tensor cores' async proxy
// (wgmma reads shared memory through it), then to the whole CTA.
template <int PENDING, bool WG>
__device__ __forceinline__ void tile_ready() {
  cp_async_wait<PENDING>();
  if constexpr (WG) asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  __syncthreads();
}

// A vote over the units that issue one tensor-core product: the warp, or the whole CTA (one warpgroup).
template <bool WG>
__device__ __forceinline__ bool unit_all(bool v) {
  if constexpr (WG) return __syncthreads_and(v) != 0;
  else return __all_sync(0xffffffffu, v);
}

// ---------------------------------------------------------------------------------------------------
// The elementwise step of each pass on one warp's [16 × BS] score tile (mma accumulator layout), shared
// by every CTA shape. Each returns whether the tile's product must be accumulated (false when filtered)
// and leaves the bf16 A fragments of P (forward) or G (backward) in pa.

// Forward, first half: mask items past V, keep the target's score, the tile's row maxima (log2 units,
// into mx) and the lazy rescaling of l and of the accumulators (none may be in flight).
template <int BS, int DO>
__device__ __forceinline__ void forward_tile_max(float (&s)[BS / 8][4], float (&acc)[DO / 8][4], float (&m)[2],
                                                 float (&l)[2], float (&st)[2], float (&mx)[2], const int (&tgt)[2], int c0,
                                                 int V, int q) {
  if (c0 + BS > V) {
#pragma unroll
    for (int j = 0; j < BS / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if (c0 + 8 * j + 2 * q + (e & 1) >= V) s[j][e] = -INFINITY;
  }
  const int rel0 = tgt[0] - c0, rel1 = tgt[1] - c0;
  const bool here0 = static_cast<unsigned>(rel0) < static_cast<unsigned>(BS);
  const bool here1 = static_cast<unsigned>(rel1) < static_cast<unsigned>(BS);
  if (here0 || here1) {
#pragma unroll
    for (int j = 0; j < BS / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = 8 * j + 2 * q + (e & 1);
        if (e < 2 ? (here0 && col == rel0) : (here1 && col == rel1)) st[e >> 1] = s[j][e];
      }
  }
  mx[0] = mx[1] = -INFINITY;
#pragma unroll
  for (int j = 0; j < BS / 8; ++j) {
    mx[0] = fmaxf(mx[0], fmaxf(s[j][0], s[j][1]));
    mx[1] = fmaxf(mx[1], fmaxf(s[j][2], s[j][3]));
  }
  mx[0] = quad_max(mx[0]) * CCE_LOG2E;
  mx[1] = quad_max(mx[1]) * CCE_LOG2E;
  if (__any_sync(0xffffffffu, mx[0] > m[0] + CCE_RESCALE_SLACK || mx[1] > m[1] + CCE_RESCALE_SLACK)) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float mn = fmaxf(m[r], mx[r]);
      const float sc = fast_exp2(m[r] - mn);  // m = -inf → 0
      m[r] = mn;
      l[r] *= sc;
#pragma unroll
      for (int j = 0; j < DO / 8; ++j) {
        acc[j][2 * r] *= sc;
        acc[j][2 * r + 1] *= sc;
      }
    }
  }
}

// Forward, second half: p = 2^(s·log2e - m), the target kept out of the sums, the filter, and P.
template <int BS, bool WG>
__device__ __forceinline__ bool forward_tile_exp(float (&s)[BS / 8][4], uint32_t (&pa)[BS / 16][4], const float (&m)[2],
                                                 float (&l)[2], const float (&mx)[2], const int (&tgt)[2], int c0, int q,
                                                 float log2_eps) {
  const int rel0 = tgt[0] - c0, rel1 = tgt[1] - c0;
  const bool here0 = static_cast<unsigned>(rel0) < static_cast<unsigned>(BS);
  const bool here1 = static_cast<unsigned>(rel1) < static_cast<unsigned>(BS);
  float ts[2] = {0.f, 0.f};
#pragma unroll
  for (int j = 0; j < BS / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float p = fast_exp2(fmaf(s[j][e], CCE_LOG2E, -m[e >> 1]));
      s[j][e] = p;
      ts[e >> 1] += p;
    }
  if (here0 || here1) {
#pragma unroll
    for (int j = 0; j < BS / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = 8 * j + 2 * q + (e & 1);
        if (e < 2 ? (here0 && col == rel0) : (here1 && col == rel1)) {
          ts[e >> 1] -= s[j][e];
          s[j][e] = 0.f;
        }
      }
  }
  l[0] += ts[0];
  l[1] += ts[1];
  // Filter: skip when every p of the unit's tile is ≤ eps against the running log-sum-exp (this lane's
  // partial sum, a lower bound of the row's: conservative).
  if (log2_eps > -INFINITY) {
    const bool small0 = mx[0] < m[0] + __log2f(fmaxf(l[0], 1e-30f)) + log2_eps;
    const bool small1 = mx[1] < m[1] + __log2f(fmaxf(l[1], 1e-30f)) + log2_eps;
    if (unit_all<WG>(small0 && small1)) return false;
  }
  pack_rows<BS>(pa, s);
  return true;
}

// Backward: G = 2^((s - lse_n)·log2e) - [item = target_n] for the warp's 16 items (from wi0) and the
// tile's columns n < valid_cols (lse_n: +inf on padding rows, so p = 0). The filter decides before
// any exp: no target among the warp's items and every x < log2(eps).
template <int BS, bool WG>
__device__ __forceinline__ bool table_grad_tile(float (&s)[BS / 8][4], uint32_t (&pa)[BS / 16][4], const float* tl, const int* tt,
                                                int valid_cols, int wi0, int g, int q, float log2_eps) {
  bool hit = false;
  float xm = -INFINITY;
#pragma unroll
  for (int j = 0; j < BS / 8; ++j) {
    const int col = 8 * j + 2 * q;
    const float2 ln = *reinterpret_cast<const float2*>(tl + col);
    const int2 tn = *reinterpret_cast<const int2*>(tt + col);
    hit |= static_cast<unsigned>(tn.x - 1 - wi0) < 16u || static_cast<unsigned>(tn.y - 1 - wi0) < 16u;
    const float l0 = col < valid_cols ? ln.x : INFINITY;
    const float l1 = col + 1 < valid_cols ? ln.y : INFINITY;
    s[j][0] = (s[j][0] - l0) * CCE_LOG2E;
    s[j][1] = (s[j][1] - l1) * CCE_LOG2E;
    s[j][2] = (s[j][2] - l0) * CCE_LOG2E;
    s[j][3] = (s[j][3] - l1) * CCE_LOG2E;
    xm = fmaxf(xm, fmaxf(fmaxf(s[j][0], s[j][1]), fmaxf(s[j][2], s[j][3])));
  }
  if (log2_eps > -INFINITY && unit_all<WG>(!hit && xm < log2_eps)) return false;
#pragma unroll
  for (int j = 0; j < BS / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[j][e] = fast_exp2(s[j][e]);
  if (hit) {
    const int ia = wi0 + g + 1, ib = wi0 + g + 9;  // item ids
#pragma unroll
    for (int j = 0; j < BS / 8; ++j) {
      const int2 tn = *reinterpret_cast<const int2*>(tt + 8 * j + 2 * q);
      if (tn.x == ia) s[j][0] -= 1.f;
      if (tn.y == ia) s[j][1] -= 1.f;
      if (tn.x == ib) s[j][2] -= 1.f;
      if (tn.y == ib) s[j][3] -= 1.f;
    }
  }
  pack_rows<BS>(pa, s);
  return true;
}

// The forward's split partials, f32, for S = gridDim.z splits of the catalogue over N rows:
//   O      [S][N][d]  the split's acc: Σ_{i≠t} 2^(s_i·log2e - m) · table_i over its items, unscaled
//   stats  [S][N][2]  m (its running max, log2 units) and l (Σ_{i≠t} 2^(s_i·log2e - m) over its items)
//   tscore [N]        the target's score (natural units), written by the one split whose share holds it
// S·N·(d + 2) + N floats.
__device__ __forceinline__ size_t split_stats_at(int splits, int N, int d) { return static_cast<size_t>(splits) * N * d; }
__device__ __forceinline__ size_t split_tscore_at(int splits, int N, int d) {
  return split_stats_at(splits, N, d) + static_cast<size_t>(splits) * N * 2;
}

// Forward epilogue: quad totals, log-sum-exp, loss, and the unscaled row gradient. Returns the smallest
// lse of the thread's valid rows (+inf: none). A split CTA (partial not null) instead writes its rows'
// partials (layout above), the target's score only when the target lies in its
// stream indices [c_begin, c_end); one epilogue for both keeps the widest shape within its registers.
template <int DO>
__device__ __forceinline__ float forward_epilogue(float* __restrict__ lse_out, float* __restrict__ row_loss,
                                                 float* __restrict__ dh_raw, float* __restrict__ partial,
                                                 const bf16* __restrict__ table, const float (&acc)[DO / 8][4],
                                                 const float (&m)[2], const float (&l)[2], const float (&st)[2],
                                                 const int (&rows)[2], const int (&tgt)[2], int N, int d, int chunk0,
                                                 int c_begin, int c_end, int q) {
  float lse_min = INFINITY;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float lq = quad_sum(l[r]);  // every lane takes part in the shuffles
    const float sq = quad_max(st[r]);
    const bool split = partial != nullptr;
    const float et = fast_exp2(fmaf(sq, CCE_LOG2E, -m[r]));  // target: 0 on padding rows
    const float total = lq + et;
    const bool valid = rows[r] < N && tgt[r] >= 0;
    const float lse = (m[r] + __log2f(total)) * CCE_LN2;
    if (blockIdx.y == 0 && q == 0 && rows[r] < N) {
      if (split) {
        const size_t zn = static_cast<size_t>(blockIdx.z) * N + rows[r];
        float* stats = partial + split_stats_at(gridDim.z, N, d);
        stats[2 * zn] = m[r];
        stats[2 * zn + 1] = lq;
        if (tgt[r] >= c_begin && tgt[r] < c_end) partial[split_tscore_at(gridDim.z, N, d) + rows[r]] = sq;
      } else {
        lse_out[rows[r]] = valid ? lse : INFINITY;
        row_loss[rows[r]] = valid ? lse - sq : 0.f;
      }
    }
    if (valid) lse_min = fminf(lse_min, lse);
    if (rows[r] >= N) continue;
    // Split: the raw acc (inv = 1, keep = 0, no table row read); unsplit: the row gradient.
    const bool gradient = valid && !split;
    const float inv = split ? 1.f : valid ? 1.f / total : 0.f;
    const float keep = gradient ? lq / total : 0.f;  // 1 - p_t, without cancellation
    const unsigned short* et_row = reinterpret_cast<const unsigned short*>(table) + static_cast<size_t>(gradient ? tgt[r] + 1 : 0) * d;
    float* out = split ? partial + (static_cast<size_t>(blockIdx.z) * N + rows[r]) * d : dh_raw + static_cast<size_t>(rows[r]) * d;
#pragma unroll
    for (int j = 0; j < DO / 8; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = chunk0 * 8 + 8 * j + 2 * q + e;
        if (col < d) {
          const float tv = gradient ? __uint_as_float(static_cast<uint32_t>(et_row[col]) << 16) : 0.f;
          out[col] = acc[j][2 * r + e] * inv - keep * tv;
        }
      }
  }
  return lse_min;
}

// Backward epilogue: the warp's 16 items × DO columns into the partials or the table gradient.
template <int DO>
__device__ __forceinline__ void table_grad_epilogue(float* __restrict__ dtable_f32, bf16* __restrict__ dtable_bf16,
                                                    float* __restrict__ partial, const float (&acc)[DO / 8][4], int wi0,
                                                    int V, int d, int chunk0, int g, int q, float scale) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = wi0 + g + 8 * r;
    if (i >= V) continue;
#pragma unroll
    for (int j = 0; j < DO / 8; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = chunk0 * 8 + 8 * j + 2 * q + e;
        if (col >= d) continue;
        const float v = acc[j][2 * r + e];
        if (partial != nullptr) {
          partial[(static_cast<size_t>(blockIdx.z) * V + i) * d + col] = v;
        } else {
          const size_t at = static_cast<size_t>(i + 1) * d + col;
          if (dtable_f32 != nullptr) dtable_f32[at] += scale * v;
          else dtable_bf16[at] = __float2bfloat16_rn(__bfloat162float(dtable_bf16[at]) + scale * v);
        }
      }
  }
}

// ---------------------------------------------------------------------------------------------------
// The tile skip (filter mode): the forward's bounds per (row block, item tile) and the backward's live
// bits per h tile.

__device__ __forceinline__ float warp_min(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Floats as ints of the same order (-0 below +0), so one redux.sync takes a warp's max.
__device__ __forceinline__ int order_key(float f) {
  const int i = __float_as_int(f);
  return i >= 0 ? i : i ^ 0x7fffffff;
}
__device__ __forceinline__ float order_value(int k) { return __int_as_float(k >= 0 ? k : k ^ 0x7fffffff); }

// The warp's share of a forward cell's bound, as an order key: the largest score (log2 units, mx from
// forward_tile_max) of its valid rows, or +inf when one of them has its target among the tile's items
// [c0, c0 + BS).
template <int BS>
__device__ __forceinline__ int warp_cell_key(const float (&mx)[2], const int (&tgt)[2], int c0) {
  const bool hit = static_cast<unsigned>(tgt[0] - c0) < static_cast<unsigned>(BS) ||
                   static_cast<unsigned>(tgt[1] - c0) < static_cast<unsigned>(BS);
  // tgt < 0: a padding row or one past N; its scores bound nothing the backward will use.
  const float v = fmaxf(tgt[0] >= 0 ? mx[0] : -INFINITY, tgt[1] >= 0 ? mx[1] : -INFINITY);
  return __reduce_max_sync(0xffffffffu, order_key(hit ? INFINITY : v));
}

// The forward's warps leave their keys of tile t in ring[t mod 2K][warp]; after the barrier that ends
// each group of K tiles (and the last tile), warp 0 combines the group, a lane per tile, into tile_max
// (bf16 rounded up). A slot is rewritten K tiles after its group was combined. A CTA streaming a split's
// share [it_begin, it_end) ends its groups at the same tiles, with its first group cut at it_begin.
#define CCE_BOUND_GROUP 16

template <int WARPS>
__device__ __forceinline__ void store_cell_bounds(bf16* __restrict__ tile_max, const int* ring, int it_begin, int last, int rbn,
                                                  int lane) {
  const int first = last & ~(CCE_BOUND_GROUP - 1);
  const int t = first + lane;
  if (t > last || t < it_begin) return;  // a split's first group may start inside the previous split's share
  const int* slot = ring + (t & (2 * CCE_BOUND_GROUP - 1)) * WARPS;
  int k = slot[0];
#pragma unroll
  for (int w = 1; w < WARPS; ++w) k = max(k, slot[w]);
  tile_max[static_cast<size_t>(t) * rbn + blockIdx.x] = __float2bfloat16_ru(order_value(k));
}

// Whether the backward tile of h rows [ht·BS, ht·BS + BS) against items [i0, i0 + R) may hold a |G| > eps:
// some forward cell it overlaps has a target or a bound 2^(tile_max - min_lse·log2e) ≥ eps (NaN: live).
template <int R, int BS>
__device__ __forceinline__ bool backward_tile_live(const bf16* __restrict__ tile_max, const float* __restrict__ min_lse,
                                                   int ht, int i0, int N, int V, float log2_eps) {
  constexpr int ROW_BLOCKS = BS > R ? BS / R : 1;  // forward row blocks an h tile overlaps
  constexpr int ITEM_TILES = R > BS ? R / BS : 1;  // forward item tiles an item block overlaps
  const int rbn = (N + R - 1) / R, itn = (V + BS - 1) / BS;
  const int rb0 = static_cast<int>(static_cast<long long>(ht) * BS / R), it0 = i0 / BS;
  bool live = false;
#pragma unroll
  for (int a = 0; a < ROW_BLOCKS; ++a) {
    if (rb0 + a >= rbn) break;
    const float bound = fmaf(min_lse[rb0 + a], CCE_LOG2E, log2_eps);
#pragma unroll
    for (int b = 0; b < ITEM_TILES; ++b) {
      if (it0 + b >= itn) break;
      live |= !(__bfloat162float(tile_max[static_cast<size_t>(it0 + b) * rbn + rb0 + a]) < bound);
    }
  }
  return live;
}

// The first set bit after `cur` among the window's `count` bits (count when none).
__device__ __forceinline__ int next_live(const unsigned* bits, int cur, int count) {
  for (int k = cur + 1; k < count; k = (k | 31) + 1) {
    const unsigned w = bits[k >> 5] >> (k & 31);
    if (w != 0u) return k + __ffs(static_cast<int>(w)) - 1;
  }
  return count;
}

// What the forward writes for a row block of padding rows only (rows row0 .. row0+R-1 below N), without
// streaming the catalogue: with tile_max, -inf bounds on the CTA's item tiles [it_begin, it_end) (what
// the streaming would have produced for such rows) and, unsplit (`rows_here`), lse +inf, loss 0, the
// chunk's columns of dh_raw 0 and min_lse +inf; split, cce_forward_combine writes those.
template <int DO, int BS>
__device__ __forceinline__ void forward_padding_block(float* __restrict__ lse_out, float* __restrict__ row_loss,
                                                      float* __restrict__ dh_raw, bf16* __restrict__ tile_max,
                                                      float* __restrict__ min_lse, int row0, int R, int N, int d,
                                                      int chunk0, int rbn, int it_begin, int it_end, bool rows_here,
                                                      int threads) {
  if (rows_here) {
    const int rows = min(R, N - row0);
    const int c0 = chunk0 * 8, cols = min(DO, d - c0);
    for (int k = threadIdx.x; k < rows * cols; k += threads) dh_raw[static_cast<size_t>(row0 + k / cols) * d + c0 + k % cols] = 0.f;
  }
  if (blockIdx.y != 0) return;
  if (rows_here) {
    const int rows = min(R, N - row0);
    for (int r = threadIdx.x; r < rows; r += threads) {
      lse_out[row0 + r] = INFINITY;
      row_loss[row0 + r] = 0.f;
    }
    if (min_lse != nullptr && threadIdx.x == 0) min_lse[blockIdx.x] = INFINITY;
  }
  if (tile_max != nullptr)
    for (int it = it_begin + threadIdx.x; it < it_end; it += threads) tile_max[static_cast<size_t>(it) * rbn + blockIdx.x] = __float2bfloat16_ru(-INFINITY);
}

// Whether the backward tile of h rows [ht·BS, ht·BS + BS) overlaps a forward row block with a valid row
// (min_lse not +inf; a NaN counts as valid).
template <int R, int BS>
__device__ __forceinline__ bool backward_tile_has_rows(const float* __restrict__ min_lse, int ht, int N) {
  constexpr int ROW_BLOCKS = BS > R ? BS / R : 1;  // forward row blocks an h tile overlaps
  const int rbn = (N + R - 1) / R;
  const int rb0 = static_cast<int>(static_cast<long long>(ht) * BS / R);
  bool live = false;
#pragma unroll
  for (int a = 0; a < ROW_BLOCKS; ++a)
    if (rb0 + a < rbn) live |= !(min_lse[rb0 + a] == INFINITY);
  return live;
}

// ---------------------------------------------------------------------------------------------------
// Forward and backward, double-buffered: load tile t+1 while tile t is multiplied (mma.sync warps or
// one wgmma warpgroup per CTA; products wait at once).

template <int D, class S>
__device__ __forceinline__ void cce_forward_body(float* __restrict__ lse_out, float* __restrict__ row_loss,
                                                 float* __restrict__ dh_raw, bf16* __restrict__ tile_max,
                                                 float* __restrict__ min_lse, float* __restrict__ partial,
                                                 const bf16* __restrict__ h, const bf16* __restrict__ table,
                                                 const int* __restrict__ targets, int N, int V, int d, bool aligned,
                                                 int tiles_per_split, float log2_eps) {
  constexpr int WARPS = S::WARPS, BS = S::BS, DO = S::DO, R = 16 * WARPS, THREADS = 32 * WARPS;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  unsigned char* smem = smem_aligned(smem_raw);
  bf16* own = reinterpret_cast<bf16*>(smem);
  bf16* stream = own + R * D;
  // The backward's side data area (2·BS·8 bytes), free here: the ring of the warps' cell bound keys.
  int* ring = reinterpret_cast<int*>(stream + 2 * BS * D);  // [2·CCE_BOUND_GROUP][WARPS]
  static_assert(2 * CCE_BOUND_GROUP * WARPS * 4 <= 2 * BS * 8, "bound ring fits the side data area");
  const bool bounds = tile_max != nullptr && blockIdx.y == 0;
  const int rbn = (N + R - 1) / R;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, q = lane & 3;
  const int row0 = blockIdx.x * R;
  const int wr0 = warp * 16;
  const int chunk0 = blockIdx.y * (DO / 8);
  const bf16* items = table + d;  // stream index c is item c + 1

  const int rows[2] = {row0 + wr0 + g, row0 + wr0 + g + 8};
  int tgt[2];  // stream index of the target, -1 on padding rows
#pragma unroll
  for (int r = 0; r < 2; ++r) tgt[r] = (rows[r] < N ? targets[rows[r]] : 0) - 1;
  // This CTA's item tiles: split z streams [z·tiles_per_split, …) of them (unsplit: all).
  const int tiles = (V + BS - 1) / BS;
  const int it_begin = blockIdx.z * tiles_per_split;
  const int it_end = min(tiles, it_begin + tiles_per_split);
  if (!__syncthreads_or(tgt[0] >= 0 || tgt[1] >= 0)) {
    forward_padding_block<DO, BS>(lse_out, row_loss, dh_raw, tile_max, min_lse, row0, R, N, d, chunk0, rbn, it_begin, it_end,
                                  partial == nullptr, THREADS);
    return;
  }
  float m[2] = {-INFINITY, -INFINITY};  // running max, log2 units
  float l[2] = {0.f, 0.f};              // this thread's share of Σ_{i≠t} 2^(s_i - m)
  float st[2] = {-INFINITY, -INFINITY}; // target score (natural units), held by one lane of the quad
  float acc[DO / 8][4];
#pragma unroll
  for (int j = 0; j < DO / 8; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

  const StreamLoader<D, BS, THREADS> loader(items, d, V);
  // wgmma shapes take aligned rows only (the launcher's rule): no element-load path there.
  auto load_stream = [&](bf16* tile, int first) {
    if (S::WG || aligned) loader.load(tile, first);
    else if constexpr (!S::WG) load_tile<D, BS, THREADS, false>(tile, items, first, V, d);
  };
  if (S::WG || aligned) load_tile<D, R, THREADS, true>(own, h, row0, N, d);
  else if constexpr (!S::WG) load_tile<D, R, THREADS, false>(own, h, row0, N, d);
  // Tile it lives in stream buffer it & 1 (a split may start on an odd tile).
  load_stream(stream + (it_begin & 1) * BS * D, it_begin * BS);
  cp_async_commit();
  const uint32_t own_u = smem_u32(own);
  for (int it = it_begin; it < it_end; ++it) {
    if (it + 1 < it_end) {
      load_stream(stream + ((it + 1) & 1) * BS * D, (it + 1) * BS);
      cp_async_commit();
      tile_ready<1, S::WG>();
    } else {
      tile_ready<0, S::WG>();
    }
    const uint32_t st_u = smem_u32(stream + (it & 1) * BS * D);
    float s[BS / 8][4];
    uint32_t pa[BS / 16][4];
    cta_scores<D, S>(s, own_u, wr0, st_u, lane);
    float mx[2];
    forward_tile_max<BS, DO>(s, acc, m, l, st, mx, tgt, it * BS, V, q);
    // The key's redux overlaps the exps; its store waits until after the product.
    const int key = bounds ? warp_cell_key<BS>(mx, tgt, it * BS) : 0;
    if (forward_tile_exp<BS, S::WG>(s, pa, m, l, mx, tgt, it * BS, q, log2_eps)) cta_accumulate<D, S>(acc, pa, st_u, chunk0, lane);
    if (bounds && lane == 0) ring[(it & (2 * CCE_BOUND_GROUP - 1)) * WARPS + warp] = key;
    __syncthreads();
    if (bounds && warp == 0 && ((it & (CCE_BOUND_GROUP - 1)) == CCE_BOUND_GROUP - 1 || it == it_end - 1))
      store_cell_bounds<WARPS>(tile_max, ring, blockIdx.z * tiles_per_split, it, rbn, lane);
  }
  // The split's stream indices, recomputed from the parameters rather than kept live across the loop.
  const int c_begin = blockIdx.z * tiles_per_split * BS;
  const float lse_min = forward_epilogue<DO>(lse_out, row_loss, dh_raw, partial, table, acc, m, l, st, rows, tgt, N, d, chunk0,
                                             c_begin, c_begin + tiles_per_split * BS, q);
  if (min_lse != nullptr && blockIdx.y == 0 && partial == nullptr) {
    // The stream tiles are free after the last product: the warps' smallest lse go there.
    float* warp_lse = reinterpret_cast<float*>(stream);
    const float w = warp_min(lse_min);
    if (lane == 0) warp_lse[warp] = w;
    __syncthreads();
    if (threadIdx.x == 0) {
      float v = warp_lse[0];
#pragma unroll
      for (int k = 1; k < WARPS; ++k) v = fminf(v, warp_lse[k]);
      min_lse[blockIdx.x] = v;
    }
  }
}

template <int D, class S>
__device__ __forceinline__ void cce_table_grad_body(float* __restrict__ dtable_f32, bf16* __restrict__ dtable_bf16,
                                                    float* __restrict__ partial, const bf16* __restrict__ h,
                                                    const bf16* __restrict__ table, const int* __restrict__ targets,
                                                    const float* __restrict__ lse, const bf16* __restrict__ tile_max,
                                                    const float* __restrict__ min_lse, int N, int V, int d, bool aligned,
                                                    int per_split, float scale, float log2_eps) {
  constexpr int WARPS = S::WARPS, BS = S::BS, DO = S::DO, R = 16 * WARPS, THREADS = 32 * WARPS;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  unsigned char* smem = smem_aligned(smem_raw);
  bf16* own = reinterpret_cast<bf16*>(smem);
  bf16* stream = own + R * D;
  float* side_lse = reinterpret_cast<float*>(stream + 2 * BS * D);   // [2][BS] lse, +inf past the rows
  int* side_tgt = reinterpret_cast<int*>(side_lse + 2 * BS);         // [2][BS] target ids, 0 past the rows
  unsigned* live_bits = reinterpret_cast<unsigned*>(side_tgt + 2 * BS);  // [CCE_LIVE_WINDOW / 32]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, q = lane & 3;
  const int i0 = blockIdx.x * R;
  const int wr0 = warp * 16;
  const int wi0 = i0 + wr0;  // the warp's first item (stream index into rows 1..V)
  const int chunk0 = blockIdx.y * (DO / 8);
  const int n_begin = blockIdx.z * per_split;
  const int n_end = min(N, n_begin + per_split);
  const bf16* items = table + d;
  const bool skip = tile_max != nullptr && log2_eps > -INFINITY;

  float acc[DO / 8][4];
#pragma unroll
  for (int j = 0; j < DO / 8; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

  const StreamLoader<D, BS, THREADS> loader(h, d, n_end);
  // wgmma shapes take aligned rows only (the launcher's rule): no element-load path there.
  auto load_stream = [&](bf16* tile, int first) {
    if (S::WG || aligned) loader.load(tile, first);
    else if constexpr (!S::WG) load_tile<D, BS, THREADS, false>(tile, h, first, n_end, d);
  };
  // Side data of a tile: thread c < BS reads row first + c (the next tile's while this one multiplies).
  float nl = INFINITY;
  int nt = 0;
  auto read_side = [&](int first) {
    if (threadIdx.x < BS) {
      const int n = first + threadIdx.x;
      nl = n < n_end ? lse[n] : INFINITY;
      nt = n < n_end ? targets[n] : 0;
    }
  };
  auto store_side = [&](int buf) {
    if (threadIdx.x < BS) {
      side_lse[buf * BS + threadIdx.x] = nl;
      side_tgt[buf * BS + threadIdx.x] = nt;
    }
  };
  const uint32_t own_u = smem_u32(own);
  const int tiles = n_end > n_begin ? (n_end - n_begin + BS - 1) / BS : 0;
  // Only the live tiles, window by window: those with a valid row and, with the filter's bounds, a |G| that may pass.
  bool own_loaded = false;
  int k = 0;  // tiles multiplied so far: tile k uses stream buffer k & 1 and side buffer k & 1
  for (int w0 = 0; w0 < tiles; w0 += CCE_LIVE_WINDOW) {
    const int wn = min(CCE_LIVE_WINDOW, tiles - w0);
#pragma unroll 1
    for (int word = warp; word < (wn + 31) / 32; word += WARPS) {
      const int t = word * 32 + lane;
      const int ht = (n_begin + (w0 + t) * BS) / BS;
      const bool live = t < wn && backward_tile_has_rows<R, BS>(min_lse, ht, N) &&
                        (!skip || backward_tile_live<R, BS>(tile_max, min_lse, ht, i0, N, V, log2_eps));
      const unsigned b = __ballot_sync(0xffffffffu, live);
      if (lane == 0) live_bits[word] = b;
    }
    __syncthreads();
    int cur = next_live(live_bits, -1, wn);
    if (cur < wn) {
      if (!own_loaded) {
        if (S::WG || aligned) load_tile<D, R, THREADS, true>(own, items, i0, V, d);
        else if constexpr (!S::WG) load_tile<D, R, THREADS, false>(own, items, i0, V, d);
        own_loaded = true;
      }
      load_stream(stream + (k & 1) * BS * D, n_begin + (w0 + cur) * BS);
      cp_async_commit();
      read_side(n_begin + (w0 + cur) * BS);
      store_side(k & 1);
    }
    while (cur < wn) {
      const int nxt = next_live(live_bits, cur, wn);
      const bool more = nxt < wn;
      if (more) {
        const int nb = n_begin + (w0 + nxt) * BS;
        load_stream(stream + ((k + 1) & 1) * BS * D, nb);
        cp_async_commit();
        read_side(nb);
        tile_ready<1, S::WG>();
      } else {
        tile_ready<0, S::WG>();
      }
      const uint32_t st_u = smem_u32(stream + (k & 1) * BS * D);
      float s[BS / 8][4];
      uint32_t pa[BS / 16][4];
      cta_scores<D, S>(s, own_u, wr0, st_u, lane);
      if (table_grad_tile<BS, S::WG>(s, pa, side_lse + (k & 1) * BS, side_tgt + (k & 1) * BS, BS, wi0, g, q, log2_eps))
        cta_accumulate<D, S>(acc, pa, st_u, chunk0, lane);
      if (more) store_side((k + 1) & 1);
      __syncthreads();
      cur = nxt;
      ++k;
    }
    __syncthreads();  // every thread is done with live_bits before the next window rewrites them
  }
  // A CTA that multiplied nothing has acc = 0: the table gradient would gain exactly nothing (the
  // partials, which the reduce reads, are still written).
  if (k > 0 || partial != nullptr) table_grad_epilogue<DO>(dtable_f32, dtable_bf16, partial, acc, wi0, V, d, chunk0, g, q, scale);
}

// ---------------------------------------------------------------------------------------------------
// ce's gradient, materialised: G = softmax − onehot written into the logits buffer from the forward's lse.

// A 4 × 4 transpose across the lanes of a quad: lane q holds w[m] = its two columns of 8-column chunk m
// (m = 0..3 of a group of four chunks); afterwards it holds chunk q whole, w[m] = lane m's former w[q],
// so that each lane stores one 16-byte chunk. Two rounds of xor shuffles: the off-diagonal 2 × 2
// blocks swap (lanes q, q ^ 2), then each 2 × 2 block is transposed (lanes q, q ^ 1).
__device__ __forceinline__ void quad_transpose(uint32_t (&w)[4], int q) {
  const bool hi = (q & 2) != 0;
  uint32_t a0 = hi ? w[0] : w[2], a1 = hi ? w[1] : w[3];
  a0 = __shfl_xor_sync(0xffffffffu, a0, 2);
  a1 = __shfl_xor_sync(0xffffffffu, a1, 2);
  if (hi) {
    w[0] = a0;
    w[1] = a1;
  } else {
    w[2] = a0;
    w[3] = a1;
  }
  const bool lo = (q & 1) != 0;
  uint32_t b0 = lo ? w[0] : w[1], b1 = lo ? w[2] : w[3];
  b0 = __shfl_xor_sync(0xffffffffu, b0, 1);
  b1 = __shfl_xor_sync(0xffffffffu, b1, 1);
  if (lo) {
    w[0] = b0;
    w[2] = b1;
  } else {
    w[1] = b0;
    w[3] = b1;
  }
}

// One warp's [16 × BS] score tile (columns c0 .. c0 + BS of the logits, column c = item c) to G:
// p = 2^(s·log2e − lse2) (lse2 = lse·log2e; +inf on padding rows: p = +0), minus 1 at the target, +0 in
// column 0 and past V; bf16 (nearest even), 16-byte stores of rows < N and columns < P (P % 8 == 0).
template <int BS>
__device__ __forceinline__ void write_grad_tile(bf16* __restrict__ logits, long long P, float (&s)[BS / 8][4],
                                                const int (&rows)[2], const int (&tgt)[2], const float (&lse2)[2], int N,
                                                int V, int c0, int q) {
  static_assert(BS % 32 == 0, "whole groups of four 8-column chunks");
#pragma unroll
  for (int j = 0; j < BS / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[j][e] = fast_exp2(fmaf(s[j][e], CCE_LOG2E, -lse2[e >> 1]));
  const int rel0 = tgt[0] - c0, rel1 = tgt[1] - c0;
  if (static_cast<unsigned>(rel0) < static_cast<unsigned>(BS) || static_cast<unsigned>(rel1) < static_cast<unsigned>(BS)) {
#pragma unroll
    for (int j = 0; j < BS / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if (8 * j + 2 * q + (e & 1) == (e < 2 ? rel0 : rel1)) s[j][e] -= 1.f;
  }
  if (c0 == 0 || c0 + BS > V + 1) {
#pragma unroll
    for (int j = 0; j < BS / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = c0 + 8 * j + 2 * q + (e & 1);
        if (col == 0 || col > V) s[j][e] = 0.f;
      }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    bf16* row = logits + static_cast<long long>(rows[r]) * P;
#pragma unroll
    for (int k = 0; k < BS / 32; ++k) {
      uint32_t w[4];
#pragma unroll
      for (int m = 0; m < 4; ++m) w[m] = pack_bf16(s[4 * k + m][2 * r], s[4 * k + m][2 * r + 1]);
      quad_transpose(w, q);  // every lane takes part, rows past N included
      const int col = c0 + 8 * (4 * k + q);
      if (rows[r] < N && col < P) *reinterpret_cast<uint4*>(row + col) = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }
}

template <int D, class S>
__device__ __forceinline__ void cce_write_grad_body(bf16* __restrict__ logits, int P, const bf16* __restrict__ h,
                                                    const bf16* __restrict__ table, const int* __restrict__ targets,
                                                    const float* __restrict__ lse, int N, int V, int d, bool aligned,
                                                    int tiles_per_split) {
  constexpr int WARPS = S::WARPS, BS = S::BS, R = 16 * WARPS, THREADS = 32 * WARPS;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  unsigned char* smem = smem_aligned(smem_raw);
  bf16* own = reinterpret_cast<bf16*>(smem);
  bf16* stream = own + R * D;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, q = lane & 3;
  const int row0 = blockIdx.x * R;
  const int wr0 = warp * 16;
  const int rows[2] = {row0 + wr0 + g, row0 + wr0 + g + 8};
  int tgt[2];      // target item, 0 on padding rows and rows past N
  float lse2[2];   // lse in log2 units, +inf where tgt = 0
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    tgt[r] = rows[r] < N ? targets[rows[r]] : 0;
    lse2[r] = tgt[r] != 0 ? lse[rows[r]] * CCE_LOG2E : INFINITY;
  }
  // This CTA's column tiles: split y writes [y·tiles_per_split, …) of the ⌈P/BS⌉.
  const int tiles = (P + BS - 1) / BS;
  const int it_begin = blockIdx.y * tiles_per_split;
  const int it_end = min(tiles, it_begin + tiles_per_split);
  if (!__syncthreads_or(tgt[0] != 0 || tgt[1] != 0)) {
    // Padding rows only: their columns are +0, written without a product.
    const int nrows = min(R, N - row0);
    const int c_begin = it_begin * BS, chunks = (min(it_end * BS, P) - c_begin) / 8;
    for (int k = threadIdx.x; k < nrows * chunks; k += THREADS)
      *reinterpret_cast<uint4*>(logits + static_cast<long long>(row0 + k / chunks) * P + c_begin + 8 * (k % chunks)) =
          make_uint4(0u, 0u, 0u, 0u);
    return;
  }
  // The stream is the whole table from row 0 (stream index c = item c = logits column c); rows past V
  // load as zeros.
  const StreamLoader<D, BS, THREADS> loader(table, d, V + 1);
  // wgmma shapes take aligned rows only (the launcher's rule): no element-load path there.
  auto load_stream = [&](bf16* tile, int first) {
    if (S::WG || aligned) loader.load(tile, first);
    else if constexpr (!S::WG) load_tile<D, BS, THREADS, false>(tile, table, first, V + 1, d);
  };
  if (S::WG || aligned) load_tile<D, R, THREADS, true>(own, h, row0, N, d);
  else if constexpr (!S::WG) load_tile<D, R, THREADS, false>(own, h, row0, N, d);
  load_stream(stream + (it_begin & 1) * BS * D, it_begin * BS);
  cp_async_commit();
  const uint32_t own_u = smem_u32(own);
  for (int it = it_begin; it < it_end; ++it) {
    if (it + 1 < it_end) {
      load_stream(stream + ((it + 1) & 1) * BS * D, (it + 1) * BS);
      cp_async_commit();
      tile_ready<1, S::WG>();
    } else {
      tile_ready<0, S::WG>();
    }
    float s[BS / 8][4];
    cta_scores<D, S>(s, own_u, wr0, smem_u32(stream + (it & 1) * BS * D), lane);
    // Every product of the buffer is done: the next iteration may refill it (the stores below read
    // registers only).
    __syncthreads();
    write_grad_tile<BS>(logits, P, s, rows, tgt, lse2, N, V, it * BS, q);
  }
}

// ---------------------------------------------------------------------------------------------------
// Small kernels.

// Split forward, second pass: per valid row n, from the S partials in order z = 0 .. S-1,
//   M = max_z m_z,  L = Σ_z l_z·2^(m_z - M),  O = Σ_z O_z·2^(m_z - M),  total = L + 2^(s_t·log2e - M),
//   lse = (M + log2 total)·ln2,  row_loss = lse - s_t,  dh_raw = O/total - (L/total)·table_t
// (the unsplit epilogue's formulas); padding rows: lse +inf, loss 0, dh_raw 0, no partial read. Per row
// block of block_rows rows (the forward's R): min_lse, the smallest lse of its valid rows.
// Grid (⌈N/block_rows⌉, ⌈d/32⌉), 32·CCE_COMBINE_WARPS threads: warp w takes the block's rows w,
// w + CCE_COMBINE_WARPS, …, lane k the column 32·blockIdx.y + k (every lane computes the row's lse).
#define CCE_COMBINE_WARPS 32
extern "C" __global__ void __launch_bounds__(32 * CCE_COMBINE_WARPS)
    cce_forward_combine(float* __restrict__ lse_out, float* __restrict__ row_loss, float* __restrict__ dh_raw,
                        float* __restrict__ min_lse, const float* __restrict__ partial, const bf16* __restrict__ table,
                        const int* __restrict__ targets, int N, int d, int splits, int block_rows) {
  __shared__ float warp_lse[CCE_COMBINE_WARPS];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int col = blockIdx.y * 32 + lane;
  const bool col_ok = col < d;
  const float* stats = partial + split_stats_at(splits, N, d);
  const float* tscore = partial + split_tscore_at(splits, N, d);
  const unsigned short* tab = reinterpret_cast<const unsigned short*>(table);
  float lse_min = INFINITY;
  const int row_end = min(N, (blockIdx.x + 1) * block_rows);
  for (int n = blockIdx.x * block_rows + warp; n < row_end; n += CCE_COMBINE_WARPS) {
    const size_t at = static_cast<size_t>(n) * d + col;
    const int t = targets[n];
    if (t == 0) {
      if (col_ok) dh_raw[at] = 0.f;
      if (blockIdx.y == 0 && lane == 0) {
        lse_out[n] = INFINITY;
        row_loss[n] = 0.f;
      }
      continue;
    }
    float mx = -INFINITY;
    for (int z = 0; z < splits; ++z) mx = fmaxf(mx, stats[2 * (static_cast<size_t>(z) * N + n)]);
    float l = 0.f, o = 0.f;
#pragma unroll 8
    for (int z = 0; z < splits; ++z) {
      const size_t zn = static_cast<size_t>(z) * N + n;
      const float sc = fast_exp2(stats[2 * zn] - mx);
      l = fmaf(stats[2 * zn + 1], sc, l);
      if (col_ok) o = fmaf(partial[zn * d + col], sc, o);
    }
    const float sq = tscore[n];
    const float total = l + fast_exp2(fmaf(sq, CCE_LOG2E, -mx));
    const float lse = (mx + __log2f(total)) * CCE_LN2;
    if (blockIdx.y == 0 && lane == 0) {
      lse_out[n] = lse;
      row_loss[n] = lse - sq;
    }
    lse_min = fminf(lse_min, lse);
    if (col_ok) {
      const float tv = __uint_as_float(static_cast<uint32_t>(tab[static_cast<size_t>(t) * d + col]) << 16);
      dh_raw[at] = o * (1.f / total) - (l / total) * tv;
    }
  }
  if (min_lse == nullptr || blockIdx.y != 0) return;  // uniform over the CTA
  if (lane == 0) warp_lse[warp] = lse_min;
  __syncthreads();
  if (threadIdx.x == 0) {
    float v = warp_lse[0];
    for (int k = 1; k < CCE_COMBINE_WARPS; ++k) v = fminf(v, warp_lse[k]);
    min_lse[blockIdx.x] = v;
  }
}

// dtable[1+i][c] (+=) scale · Σ_z partial[z][i][c], z in order.
extern "C" __global__ void cce_table_grad_reduce(float* __restrict__ dtable_f32, bf16* __restrict__ dtable_bf16,
                                                 const float* __restrict__ partial, int splits, int V, int d,
                                                 float scale) {
  const size_t count = static_cast<size_t>(V) * d;
  for (size_t k = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; k < count;
       k += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float sum = 0.f;
    for (int z = 0; z < splits; ++z) sum += partial[static_cast<size_t>(z) * count + k];
    const size_t at = k + d;
    if (dtable_f32 != nullptr) dtable_f32[at] += scale * sum;
    else dtable_bf16[at] = __float2bfloat16_rn(__bfloat162float(dtable_bf16[at]) + scale * sum);
  }
}

// ---------------------------------------------------------------------------------------------------
// Entry points: cce_forward_grad_{D}, cce_table_grad_{D} and (D ≤ 256) cce_write_grad_{D} with shape
// CceShape<D> (every target), and in the sm_90a module cce_forward_grad_wg{D}, cce_table_grad_wg{D} and
// cce_write_grad_wg{D} with shape CceShapeWg<D> (rows must be aligned). `aligned` = d % 8 == 0 and 16-byte aligned rows: cp.async tiles; else element loads.
// Launch with 32·WARPS threads and the dynamic shared memory of the shape table above (cce_write_grad:
// (R + 2·BS)·D·2 + 1024 bytes, no side data).

#define CCE_ENTRY(D, NAME, SHAPE)                                                                                     \
  extern "C" __global__ void __launch_bounds__(32 * SHAPE::WARPS, SHAPE::MIN_BLOCKS)                                  \
      cce_forward_grad_##NAME(float* lse_out, float* row_loss, float* dh_raw, bf16* tile_max, float* min_lse,         \
                              float* partial, const bf16* h, const bf16* table, const int* targets, int N, int V,     \
                              int d, int aligned, int tiles_per_split, float log2_eps) {                              \
    cce_forward_body<D, SHAPE>(lse_out, row_loss, dh_raw, tile_max, min_lse, partial, h, table, targets, N, V, d,      \
                               aligned != 0, tiles_per_split, log2_eps);                                              \
  }                                                                                                                   \
  extern "C" __global__ void __launch_bounds__(32 * SHAPE::WARPS, SHAPE::MIN_BLOCKS)                                  \
      cce_table_grad_##NAME(float* dtable_f32, bf16* dtable_bf16, float* partial, const bf16* h, const bf16* table,   \
                            const int* targets, const float* lse, const bf16* tile_max, const float* min_lse, int N,  \
                            int V, int d, int aligned, int per_split, float scale, float log2_eps) {                  \
    cce_table_grad_body<D, SHAPE>(dtable_f32, dtable_bf16, partial, h, table, targets, lse, tile_max, min_lse, N, V,  \
                                  d, aligned != 0, per_split, scale, log2_eps);                                       \
  }

// cce_write_grad_{D} up to D = 256 (at 512 the shape leaves it 255 registers and a spill: ce keeps its GEMMs there).
#define CCE_WRITE_GRAD_ENTRY(D, NAME, SHAPE)                                                                          \
  extern "C" __global__ void __launch_bounds__(32 * SHAPE::WARPS, SHAPE::MIN_BLOCKS)                                  \
      cce_write_grad_##NAME(bf16* logits, int P, const bf16* h, const bf16* table, const int* targets,                \
                            const float* lse, int N, int V, int d, int aligned, int tiles_per_split) {                \
    cce_write_grad_body<D, SHAPE>(logits, P, h, table, targets, lse, N, V, d, aligned != 0, tiles_per_split);         \
  }

CCE_ENTRY(32, 32, CceShape<32>)
CCE_ENTRY(64, 64, CceShape<64>)
CCE_ENTRY(128, 128, CceShape<128>)
CCE_ENTRY(256, 256, CceShape<256>)
CCE_ENTRY(512, 512, CceShape<512>)
CCE_WRITE_GRAD_ENTRY(32, 32, CceShape<32>)
CCE_WRITE_GRAD_ENTRY(64, 64, CceShape<64>)
CCE_WRITE_GRAD_ENTRY(128, 128, CceShape<128>)
CCE_WRITE_GRAD_ENTRY(256, 256, CceShape<256>)
#ifdef CCE_HAS_WGMMA
CCE_ENTRY(64, wg64, CceShapeWg<64>)
CCE_ENTRY(128, wg128, CceShapeWg<128>)
CCE_ENTRY(256, wg256, CceShapeWg<256>)
CCE_WRITE_GRAD_ENTRY(64, wg64, CceShapeWg<64>)
CCE_WRITE_GRAD_ENTRY(128, wg128, CceShapeWg<128>)
CCE_WRITE_GRAD_ENTRY(256, wg256, CceShapeWg<256>)
#endif
