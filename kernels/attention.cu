// @variants sm80
// Multi-head scaled dot-product attention, flash style (never an [L × L] matrix in global memory):
// forward, then backward. The CPU reference is src/backend/cpu/attention.ts; the math is the same.
//
// CONTRACT
//   q, k, v, out  [B·L × H·hd]  f32 or bf16 (all four alike; flag bf16 = 1)  row r = b·L + i; head h owns
//                                columns h·hd .. (h+1)·hd
//   dout, dq, dk, dv [B·L × H·hd] f32
//   s_ij = (q_i · k_j) · scale, scale = 1/sqrt(hd); valid iff j ≤ i when causal (else every j < L)
//   P_ij = softmax_j(s_ij) over the valid j; out_i = Σ_j keep_ij · keep_scale · P_ij · v_j
//   Dropout acts on P: element e = ((b·H + h)·L + i)·L + j is kept iff (word (e & 3) of
//   philox4x32([e >> 2, site, 0, DROP], [seed, step])) >> 8 ≥ threshold (src/backend/philox.ts, bit for
//   bit); keep_scale = 1/(1-p). threshold = 0 keeps everything without drawing (p = 0: keep_scale = 1).
//   Backward: dP_ij = keep_ij · keep_scale · (dout_i · v_j), delta_i = Σ_j P_ij dP_ij = dout_i · out_i,
//   dS_ij = P_ij (dP_ij - delta_i) · scale; dq_i = Σ_j dS_ij k_j, dk_j = Σ_i dS_ij q_i,
//   dv_j = Σ_i keep_ij · keep_scale · P_ij · dout_i.
//
// SAVED FOR BACKWARD: lse [B × H × L] f32 at (b·H + h)·L + i, the natural-log log-sum-exp of row i's
// valid scaled scores (P_ij = exp(s_ij - lse_i)). Backward's scratch: delta [B × H × L] f32, same layout.
// OVERWRITES: every output (out, lse, delta, dq, dk, dv). Nothing accumulates.
//
// KERNELS (256 threads as 16 × 16: tx = thread % 16 owns key columns tx + 16·cb of a score tile and output
// columns tx + 16·n; ty = thread / 16 owns query rows ty + 16·ra; BQ = 16·RA queries × BK = 16·CB keys)
//   attention_forward_<W>      grid (B·H, ⌈L/BQ⌉): a CTA owns a query tile (the causally heaviest first)
//                              and streams key tiles through shared memory with an online max / sum;
//                              writes out and lse.
//   attention_delta            warp per (row, head): delta = dout · out.
//   attention_backward_kv_<W>  grid (B·H, ⌈L/BK⌉): a CTA owns a key tile, streams the query tiles that
//                              see it, recomputes P from lse, and forms dk, dv in registers.
//   attention_backward_q_<W>   grid (B·H, ⌈L/BQ⌉): a CTA owns a query tile, streams its key tiles, forms dq.
//   Each output element is written once by one thread, its sums taken in a fixed order: deterministic.
//   Causal tiles wholly above the diagonal are never visited.
// SHAPES: hd ≤ W for W ∈ {32, 64, 128, 256} (launchers pick the smallest); columns past hd and rows past
// L are zero in shared memory and masked. Any B, L, H, hd ≥ 1; global offsets are 64-bit.

#include <cuda_bf16.h>
#include <stdint.h>

#include "step.cuh"

#define ATTN_THREADS 256
// Counter word c3 of dropout masks ("DROP", backend/philox.ts DROPOUT_STREAM).
#define ATTN_DROPOUT_STREAM 0x44524f50u

// ---------------------------------------------------------------------------------------------------
// Philox4x32-10 (Random123 constants), as src/backend/philox.ts (and kernels/cce_sampled.cu).

__device__ __forceinline__ uint4 philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint32_t lo0 = c0 * 0xD2511F53u, hi0 = __umulhi(c0, 0xD2511F53u);
    const uint32_t lo1 = c2 * 0xCD9E8D57u, hi1 = __umulhi(c2, 0xCD9E8D57u);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return make_uint4(c0, c1, c2, c3);
}

__device__ __forceinline__ uint32_t word_of(const uint4& w, int i) {
  return i == 0 ? w.x : i == 1 ? w.y : i == 2 ? w.z : w.w;
}

// ---------------------------------------------------------------------------------------------------
// Tile geometry per width W: RA query rows and CB key columns per thread (the launchers mirror it).
// Shared memory rows have odd strides (W + 1, BK + 1): a column walk by 16 threads hits 16 banks.

template <int W> struct AttnTile;
template <> struct AttnTile<32> { static constexpr int RA = 4, CB = 4; };
template <> struct AttnTile<64> { static constexpr int RA = 4, CB = 4; };
template <> struct AttnTile<128> { static constexpr int RA = 4, CB = 2; };
template <> struct AttnTile<256> { static constexpr int RA = 2, CB = 2; };

// The problem as every kernel sees it.
struct AttnDims {
  int L, H, hd, causal, bf16;
  float scale;
};

// The dropout of one call: threshold = 0 keeps everything (no Philox at all).
struct AttnDropout {
  uint32_t seed, step, site, threshold;
  float keep_scale;
};

__device__ __forceinline__ float load_operand(const void* p, size_t idx, int bf16) {
  return bf16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(p)[idx]) : static_cast<const float*>(p)[idx];
}

// Rows r0 .. r0+R-1 of sequence b, head h of x (f32 or bf16) into s[R][W + 1]; zero past L and past hd.
template <int R, int W>
__device__ __forceinline__ void load_tile(float* s, const void* x, int bf16, int b, int h, int r0, const AttnDims& d) {
  const size_t D = static_cast<size_t>(d.H) * d.hd;
  for (int idx = threadIdx.x; idx < R * W; idx += ATTN_THREADS) {
    const int r = idx / W, c = idx % W, i = r0 + r;
    float value = 0.f;
    if (i < d.L && c < d.hd) value = load_operand(x, (static_cast<size_t>(b) * d.L + i) * D + static_cast<size_t>(h) * d.hd + c, bf16);
    s[r * (W + 1) + c] = value;
  }
}

// keep[r][j] (1 = kept) of the score tile rows q0 .. q0+BR-1, keys k0 .. k0+BC-1 of head bh = b·H + h,
// for the valid elements only (the others are masked by their users). One Philox call per aligned group
// of 4 flat elements, each group drawn by one thread.
template <int BR, int BC>
__device__ __forceinline__ void make_keep(uint8_t* keep, int bh, int q0, int k0, const AttnDims& d, const AttnDropout& drop) {
  constexpr int G = BC / 4 + 1;  // groups a row of BC elements can touch
  for (int item = threadIdx.x; item < BR * G; item += ATTN_THREADS) {
    const int r = item / G, i = q0 + r;
    if (i >= d.L) continue;
    int count = min(BC, d.L - k0);
    if (d.causal) count = min(count, i - k0 + 1);
    if (count <= 0) continue;
    const uint64_t e0 = (static_cast<uint64_t>(bh) * d.L + i) * d.L + k0;
    const uint64_t g = (e0 >> 2) + item % G;
    if (4 * g >= e0 + count) continue;
    const uint4 w = philox4x32(static_cast<uint32_t>(g), drop.site, 0u, ATTN_DROPOUT_STREAM, drop.seed, drop.step);
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const uint64_t e = 4 * g + t;
      if (e >= e0 && e < e0 + count) keep[r * BC + static_cast<int>(e - e0)] = (word_of(w, t) >> 8) >= drop.threshold ? 1 : 0;
    }
  }
}

// acc[ra][cb] = A[ty + 16·ra] · Bm[tx + 16·cb] over the first hd columns (rows of stride W + 1).
template <int RA, int CB, int W>
__device__ __forceinline__ void tile_dot(float (&acc)[RA][CB], const float* A, const float* Bm, int ty, int tx, int hd) {
#pragma unroll
  for (int ra = 0; ra < RA; ++ra)
#pragma unroll
    for (int cb = 0; cb < CB; ++cb) acc[ra][cb] = 0.f;
#pragma unroll 4
  for (int c = 0; c < hd; ++c) {
    float a[RA], bb[CB];
#pragma unroll
    for (int ra = 0; ra < RA; ++ra) a[ra] = A[(ty + 16 * ra) * (W + 1) + c];
#pragma unroll
    for (int cb = 0; cb < CB; ++cb) bb[cb] = Bm[(tx + 16 * cb) * (W + 1) + c];
#pragma unroll
    for (int ra = 0; ra < RA; ++ra)
#pragma unroll
      for (int cb = 0; cb < CB; ++cb) acc[ra][cb] = fmaf(a[ra], bb[cb], acc[ra][cb]);
  }
}

// Reductions over the 16 threads of a row (lanes 0-15 or 16-31 of a warp).
__device__ __forceinline__ float row_max(float x) {
#pragma unroll
  for (int off = 8; off > 0; off >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, off));
  return x;
}

__device__ __forceinline__ float row_sum(float x) {
#pragma unroll
  for (int off = 8; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

__device__ __forceinline__ bool is_valid(int i, int j, const AttnDims& d) {
  return i < d.L && j < d.L && (!d.causal || j <= i);
}

// ---------------------------------------------------------------------------------------------------
// Forward.

template <int W>
__device__ __forceinline__ void attention_forward(void* __restrict__ out, float* __restrict__ lse, const void* __restrict__ q,
                                                  const void* __restrict__ k, const void* __restrict__ v, const AttnDims d,
                                                  const AttnDropout drop) {
  constexpr int RA = AttnTile<W>::RA, CB = AttnTile<W>::CB, BQ = 16 * RA, BK = 16 * CB, HS = W + 1, PS = BK + 1, NC = W / 16;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* Ks = Qs + BQ * HS;
  float* Vs = Ks + BK * HS;
  float* Ps = Vs + BK * HS;
  uint8_t* keep = reinterpret_cast<uint8_t*>(Ps + BQ * PS);

  const int bh = blockIdx.x, b = bh / d.H, h = bh % d.H;
  const int nq = (d.L + BQ - 1) / BQ, q0 = (nq - 1 - static_cast<int>(blockIdx.y)) * BQ;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const bool dropout = drop.threshold != 0u;
  const int nk_all = (d.L + BK - 1) / BK;
  const int nk = d.causal ? min(nk_all, (min(q0 + BQ, d.L) - 1) / BK + 1) : nk_all;

  load_tile<BQ, W>(Qs, q, d.bf16, b, h, q0, d);

  float m[RA], l[RA], o[RA][NC];
#pragma unroll
  for (int ra = 0; ra < RA; ++ra) {
    m[ra] = -INFINITY;
    l[ra] = 0.f;
#pragma unroll
    for (int n = 0; n < NC; ++n) o[ra][n] = 0.f;
  }

  for (int kt = 0; kt < nk; ++kt) {
    const int k0 = kt * BK;
    __syncthreads();  // the previous tile's Ks, Vs, Ps, keep are consumed
    load_tile<BK, W>(Ks, k, d.bf16, b, h, k0, d);
    load_tile<BK, W>(Vs, v, d.bf16, b, h, k0, d);
    if (dropout) make_keep<BQ, BK>(keep, bh, q0, k0, d, drop);
    __syncthreads();

    float s[RA][CB];
    tile_dot<RA, CB, W>(s, Qs, Ks, ty, tx, d.hd);
#pragma unroll
    for (int ra = 0; ra < RA; ++ra) {
      const int r = ty + 16 * ra, i = q0 + r;
      float tile_max = -INFINITY;
#pragma unroll
      for (int cb = 0; cb < CB; ++cb) {
        s[ra][cb] = is_valid(i, k0 + tx + 16 * cb, d) ? s[ra][cb] * d.scale : -INFINITY;
        tile_max = fmaxf(tile_max, s[ra][cb]);
      }
      const float m_new = fmaxf(m[ra], row_max(tile_max));
      // A row below L sees key 0 in its first tile, so m_new is finite; rows past L see no key: the guard
      // keeps their exp() off -inf - -inf (they stay at l = 0 and are never stored).
      const float m_ref = m_new == -INFINITY ? 0.f : m_new;
      const float alpha = expf(m[ra] - m_ref);
      float sum = 0.f;
#pragma unroll
      for (int cb = 0; cb < CB; ++cb) {
        const float p = expf(s[ra][cb] - m_ref);
        sum += p;
        const int c = tx + 16 * cb;
        Ps[r * PS + c] = !dropout || keep[r * BK + c] ? p * drop.keep_scale : 0.f;
      }
      l[ra] = l[ra] * alpha + row_sum(sum);
      m[ra] = m_new;
#pragma unroll
      for (int n = 0; n < NC; ++n) o[ra][n] *= alpha;
    }
    __syncthreads();

    const int kcount = min(BK, d.L - k0);
    for (int j = 0; j < kcount; ++j) {
      float p[RA];
#pragma unroll
      for (int ra = 0; ra < RA; ++ra) p[ra] = Ps[(ty + 16 * ra) * PS + j];
#pragma unroll
      for (int n = 0; n < NC; ++n) {
        const float vv = Vs[j * HS + tx + 16 * n];
#pragma unroll
        for (int ra = 0; ra < RA; ++ra) o[ra][n] = fmaf(p[ra], vv, o[ra][n]);
      }
    }
  }

  const size_t D = static_cast<size_t>(d.H) * d.hd;
#pragma unroll
  for (int ra = 0; ra < RA; ++ra) {
    const int i = q0 + ty + 16 * ra;
    if (i >= d.L) continue;
    if (tx == 0) lse[static_cast<size_t>(bh) * d.L + i] = m[ra] + logf(l[ra]);
    const float inv = 1.f / l[ra];
    const size_t row = (static_cast<size_t>(b) * d.L + i) * D + static_cast<size_t>(h) * d.hd;
#pragma unroll
    for (int n = 0; n < NC; ++n) {
      const int c = tx + 16 * n;
      if (c >= d.hd) continue;
      const float value = o[ra][n] * inv;
      if (d.bf16) static_cast<__nv_bfloat16*>(out)[row + c] = __float2bfloat16_rn(value);
      else static_cast<float*>(out)[row + c] = value;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Backward.

// delta[(b·H + h)·L + i] = dout_row · out_row over head h's columns: a warp per (row, head), grid-stride.
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attention_delta(float* __restrict__ delta, const float* __restrict__ dout,
                                                                          const void* __restrict__ out, int B, int L, int H, int hd,
                                                                          int bf16) {
  const int lane = threadIdx.x % 32;
  const size_t tasks = static_cast<size_t>(B) * L * H;
  const size_t warps = static_cast<size_t>(gridDim.x) * (blockDim.x / 32);
  const size_t D = static_cast<size_t>(H) * hd;
  for (size_t task = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; task < tasks; task += warps) {
    const size_t r = task / H;
    const int h = static_cast<int>(task % H);
    const size_t base = r * D + static_cast<size_t>(h) * hd;
    float sum = 0.f;
    for (int c = lane; c < hd; c += 32) sum = fmaf(dout[base + c], load_operand(out, base + c, bf16), sum);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0) {
      const size_t b = r / L, i = r % L;
      delta[(b * H + h) * L + i] = sum;
    }
  }
}

// One score element's keep · keep_scale · P (for dv) and dS (for dq, dk), P recomputed from lse.
struct AttnGrad {
  float p_dropped, ds;
};

__device__ __forceinline__ AttnGrad score_grad(float s, float dp, bool valid, bool kept, float lse_i, float delta_i, const AttnDims& d,
                                               const AttnDropout& drop) {
  const float p = valid ? expf(s * d.scale - lse_i) : 0.f;
  const float dp_dropped = kept ? dp * drop.keep_scale : 0.f;
  return {kept ? p * drop.keep_scale : 0.f, p * (dp_dropped - delta_i) * d.scale};
}

template <int W>
__device__ __forceinline__ void attention_backward_kv(float* __restrict__ dk, float* __restrict__ dv, const float* __restrict__ dout,
                                                      const void* __restrict__ q, const void* __restrict__ k, const void* __restrict__ v,
                                                      const float* __restrict__ lse, const float* __restrict__ delta, const AttnDims d,
                                                      const AttnDropout drop) {
  constexpr int RA = AttnTile<W>::RA, CB = AttnTile<W>::CB, BQ = 16 * RA, BK = 16 * CB, HS = W + 1, PS = BK + 1, NC = W / 16;
  extern __shared__ float smem[];
  float* Ks = smem;
  float* Vs = Ks + BK * HS;
  float* Qs = Vs + BK * HS;
  float* dOs = Qs + BQ * HS;
  float* Ps = dOs + BQ * HS;
  float* dSs = Ps + BQ * PS;
  float* lse_s = dSs + BQ * PS;
  float* delta_s = lse_s + BQ;
  uint8_t* keep = reinterpret_cast<uint8_t*>(delta_s + BQ);

  const int bh = blockIdx.x, b = bh / d.H, h = bh % d.H;
  const int k0 = blockIdx.y * BK;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const bool dropout = drop.threshold != 0u;
  const int nq = (d.L + BQ - 1) / BQ;

  load_tile<BK, W>(Ks, k, d.bf16, b, h, k0, d);
  load_tile<BK, W>(Vs, v, d.bf16, b, h, k0, d);

  // Rows ty + 16·cb of the key tile, columns tx + 16·n.
  float dk_acc[CB][NC], dv_acc[CB][NC];
#pragma unroll
  for (int cb = 0; cb < CB; ++cb)
#pragma unroll
    for (int n = 0; n < NC; ++n) dk_acc[cb][n] = dv_acc[cb][n] = 0.f;

  for (int qt = d.causal ? k0 / BQ : 0; qt < nq; ++qt) {
    const int q0 = qt * BQ;
    __syncthreads();  // the previous tile's Qs, dOs, Ps, dSs, keep are consumed
    load_tile<BQ, W>(Qs, q, d.bf16, b, h, q0, d);
    load_tile<BQ, W>(dOs, dout, 0, b, h, q0, d);
    for (int r = threadIdx.x; r < BQ; r += ATTN_THREADS) {
      const int i = q0 + r;
      // Rows past L: lse = +inf makes P = 0 (they are masked as well).
      lse_s[r] = i < d.L ? lse[static_cast<size_t>(bh) * d.L + i] : INFINITY;
      delta_s[r] = i < d.L ? delta[static_cast<size_t>(bh) * d.L + i] : 0.f;
    }
    if (dropout) make_keep<BQ, BK>(keep, bh, q0, k0, d, drop);
    __syncthreads();

    float s[RA][CB], dp[RA][CB];
    tile_dot<RA, CB, W>(s, Qs, Ks, ty, tx, d.hd);
    tile_dot<RA, CB, W>(dp, dOs, Vs, ty, tx, d.hd);
#pragma unroll
    for (int ra = 0; ra < RA; ++ra) {
      const int r = ty + 16 * ra;
#pragma unroll
      for (int cb = 0; cb < CB; ++cb) {
        const int c = tx + 16 * cb;
        const AttnGrad g = score_grad(s[ra][cb], dp[ra][cb], is_valid(q0 + r, k0 + c, d), !dropout || keep[r * BK + c], lse_s[r],
                                      delta_s[r], d, drop);
        Ps[r * PS + c] = g.p_dropped;
        dSs[r * PS + c] = g.ds;
      }
    }
    __syncthreads();

    const int qcount = min(BQ, d.L - q0);
    for (int i = 0; i < qcount; ++i) {
      float p[CB], ds[CB];
#pragma unroll
      for (int cb = 0; cb < CB; ++cb) {
        p[cb] = Ps[i * PS + ty + 16 * cb];
        ds[cb] = dSs[i * PS + ty + 16 * cb];
      }
#pragma unroll
      for (int n = 0; n < NC; ++n) {
        const float g = dOs[i * HS + tx + 16 * n], x = Qs[i * HS + tx + 16 * n];
#pragma unroll
        for (int cb = 0; cb < CB; ++cb) {
          dv_acc[cb][n] = fmaf(p[cb], g, dv_acc[cb][n]);
          dk_acc[cb][n] = fmaf(ds[cb], x, dk_acc[cb][n]);
        }
      }
    }
  }

  const size_t D = static_cast<size_t>(d.H) * d.hd;
#pragma unroll
  for (int cb = 0; cb < CB; ++cb) {
    const int j = k0 + ty + 16 * cb;
    if (j >= d.L) continue;
    const size_t row = (static_cast<size_t>(b) * d.L + j) * D + static_cast<size_t>(h) * d.hd;
#pragma unroll
    for (int n = 0; n < NC; ++n) {
      const int c = tx + 16 * n;
      if (c >= d.hd) continue;
      dk[row + c] = dk_acc[cb][n];
      dv[row + c] = dv_acc[cb][n];
    }
  }
}

template <int W>
__device__ __forceinline__ void attention_backward_q(float* __restrict__ dq, const float* __restrict__ dout, const void* __restrict__ q,
                                                     const void* __restrict__ k, const void* __restrict__ v, const float* __restrict__ lse,
                                                     const float* __restrict__ delta, const AttnDims d, const AttnDropout drop) {
  constexpr int RA = AttnTile<W>::RA, CB = AttnTile<W>::CB, BQ = 16 * RA, BK = 16 * CB, HS = W + 1, PS = BK + 1, NC = W / 16;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* dOs = Qs + BQ * HS;
  float* Ks = dOs + BQ * HS;
  float* Vs = Ks + BK * HS;
  float* dSs = Vs + BK * HS;
  uint8_t* keep = reinterpret_cast<uint8_t*>(dSs + BQ * PS);

  const int bh = blockIdx.x, b = bh / d.H, h = bh % d.H;
  const int nq = (d.L + BQ - 1) / BQ, q0 = (nq - 1 - static_cast<int>(blockIdx.y)) * BQ;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const bool dropout = drop.threshold != 0u;
  const int nk_all = (d.L + BK - 1) / BK;
  const int nk = d.causal ? min(nk_all, (min(q0 + BQ, d.L) - 1) / BK + 1) : nk_all;

  load_tile<BQ, W>(Qs, q, d.bf16, b, h, q0, d);
  load_tile<BQ, W>(dOs, dout, 0, b, h, q0, d);
  float lse_r[RA], delta_r[RA], acc[RA][NC];
#pragma unroll
  for (int ra = 0; ra < RA; ++ra) {
    const int i = q0 + ty + 16 * ra;
    lse_r[ra] = i < d.L ? lse[static_cast<size_t>(bh) * d.L + i] : INFINITY;
    delta_r[ra] = i < d.L ? delta[static_cast<size_t>(bh) * d.L + i] : 0.f;
#pragma unroll
    for (int n = 0; n < NC; ++n) acc[ra][n] = 0.f;
  }

  for (int kt = 0; kt < nk; ++kt) {
    const int k0 = kt * BK;
    __syncthreads();  // the previous tile's Ks, Vs, dSs, keep are consumed
    load_tile<BK, W>(Ks, k, d.bf16, b, h, k0, d);
    load_tile<BK, W>(Vs, v, d.bf16, b, h, k0, d);
    if (dropout) make_keep<BQ, BK>(keep, bh, q0, k0, d, drop);
    __syncthreads();

    float s[RA][CB], dp[RA][CB];
    tile_dot<RA, CB, W>(s, Qs, Ks, ty, tx, d.hd);
    tile_dot<RA, CB, W>(dp, dOs, Vs, ty, tx, d.hd);
#pragma unroll
    for (int ra = 0; ra < RA; ++ra) {
      const int r = ty + 16 * ra;
#pragma unroll
      for (int cb = 0; cb < CB; ++cb) {
        const int c = tx + 16 * cb;
        dSs[r * PS + c] =
            score_grad(s[ra][cb], dp[ra][cb], is_valid(q0 + r, k0 + c, d), !dropout || keep[r * BK + c], lse_r[ra], delta_r[ra], d, drop).ds;
      }
    }
    __syncthreads();

    const int kcount = min(BK, d.L - k0);
    for (int j = 0; j < kcount; ++j) {
      float ds[RA];
#pragma unroll
      for (int ra = 0; ra < RA; ++ra) ds[ra] = dSs[(ty + 16 * ra) * PS + j];
#pragma unroll
      for (int n = 0; n < NC; ++n) {
        const float kv = Ks[j * HS + tx + 16 * n];
#pragma unroll
        for (int ra = 0; ra < RA; ++ra) acc[ra][n] = fmaf(ds[ra], kv, acc[ra][n]);
      }
    }
  }

  const size_t D = static_cast<size_t>(d.H) * d.hd;
#pragma unroll
  for (int ra = 0; ra < RA; ++ra) {
    const int i = q0 + ty + 16 * ra;
    if (i >= d.L) continue;
    const size_t row = (static_cast<size_t>(b) * d.L + i) * D + static_cast<size_t>(h) * d.hd;
#pragma unroll
    for (int n = 0; n < NC; ++n) {
      const int c = tx + 16 * n;
      if (c < d.hd) dq[row + c] = acc[ra][n];
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Entry points, one per width W (the launchers pick the smallest W ≥ hd).

#define ATTN_DIMS AttnDims{L, H, hd, causal, bf16, scale}
#define ATTN_DROP AttnDropout{seed, step_of(step, counters), site, threshold, keep_scale}
#define ATTN_PARAMS                                                                                                                      \
  int L, int H, int hd, int causal, int bf16, float scale, uint32_t seed, uint32_t step, uint32_t site, uint32_t threshold, float keep_scale, \
      const int* counters

#define ATTN_ENTRIES(W)                                                                                                                  \
  extern "C" __global__ void __launch_bounds__(ATTN_THREADS)                                                                           \
      attention_forward_##W(void* out, float* lse, const void* q, const void* k, const void* v, ATTN_PARAMS) {                        \
    attention_forward<W>(out, lse, q, k, v, ATTN_DIMS, ATTN_DROP);                                                                      \
  }                                                                                                                                      \
  extern "C" __global__ void __launch_bounds__(ATTN_THREADS)                                                                           \
      attention_backward_kv_##W(float* dk, float* dv, const float* dout, const void* q, const void* k, const void* v, const float* lse, \
                                const float* delta, ATTN_PARAMS) {                                                                      \
    attention_backward_kv<W>(dk, dv, dout, q, k, v, lse, delta, ATTN_DIMS, ATTN_DROP);                                                  \
  }                                                                                                                                      \
  extern "C" __global__ void __launch_bounds__(ATTN_THREADS)                                                                           \
      attention_backward_q_##W(float* dq, const float* dout, const void* q, const void* k, const void* v, const float* lse,            \
                               const float* delta, ATTN_PARAMS) {                                                                       \
    attention_backward_q<W>(dq, dout, q, k, v, lse, delta, ATTN_DIMS, ATTN_DROP);                                                       \
  }

ATTN_ENTRIES(32)
ATTN_ENTRIES(64)
ATTN_ENTRIES(128)
ATTN_ENTRIES(256)
