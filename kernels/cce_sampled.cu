// CCE- and BCE+: the sampled losses, streamed. Per position, the positive and n negatives drawn on the
// GPU by Philox (the scheme of src/backend/negatives.ts, bit for bit), never an [N × n] logits matrix.
//
// LOSS CONTRACT (shared with the CPU reference; see cce.cu for h, table, target, M)
//   negative j of row r (r = b·L + t, padding rows included in the numbering):
//     uniform     w = word (j & 3) of philox([r, j >> 2, 0, NEG!], [seed, step]); item = 1 + umulhi(w, V)
//     popularity  (w0, w1) = words (2(j & 1), 2(j & 1) + 1) of philox([r, j >> 1, 1, NEG!], [seed, step]);
//                 col = umulhi(w0, V); item = 1 + (w1 < prob[col] ? col : alias[col])
//     A negative equal to the target is dropped: it contributes nothing.
//   cce- (MODE 0): softmax over {s_t} ∪ {s_j + c_j}; c_j = log(V-1) - log(n) (uniform) or
//                  -log(n · p_j) (popularity); row loss = lse - s_t.
//   bce+ (MODE 1): row loss = w·softplus(-s_t) + Σ_j softplus(s_j) (no correction); w = pos_weight, 1 for
//                  bce+ and gSASRec's β for gbce (its positive term log σ(s_t)^β); MODE 0 ignores pos_weight.
//   Gradient of the mean per valid row, unscaled: G_t = p_t - 1 (σ(s_t) - 1), G_j = p_j (σ(s_j)); the
//   launcher applies g / M in fp32 at the end.
//
// KERNELS
//   cce_sampled_forward_*   a warp per row: draws the row's negatives, gathers their table rows, keeps an
//                           online log-sum-exp and O = Σ_j p_j table_j (fp32, in registers), and writes
//     lse[N]        f32  MODE 0: log-sum-exp of the row's sampled softmax; +inf on padding rows
//     row_loss[N]   f32  0 on padding rows
//     dh_raw[N × d] f32  (optional) the unscaled row gradient: O/l - (1 - p_t)·table_t (MODE 0, the
//                        target kept out of O: no cancellation), O + (σ(s_t) - 1)·table_t (MODE 1)
//   cce_sampled_count, cce_sampled_scan_*, cce_sampled_fill
//                           group the (row, draw) pairs by item: counts[V+1] (zeroed by the caller) →
//                           offsets[V+2] (exclusive sums, offsets[V+1] = total) → entries[total] =
//                           row | 2^31·[positive]: a CSR of Gᵀ holding only indices (≤ N·(n+1) of them).
//   cce_sampled_table_grad_*  a warp per chunk of entries: for each item of the chunk, table_i in
//                           registers, G recomputed per entry from h_row · table_i and the saved lse,
//                           dtable[i] (+=) scale · Σ G·h_row in fp32 (plain when the chunk holds the
//                           item's whole segment, else atomic: the summation order of such items, and
//                           of entries within a segment, follows the atomics: not bit-reproducible).
// SAVED FOR BACKWARD: lse [N], the CSR (built in backward from the same draws), dh_raw when asked.
// ACCUMULATES: dtable (f32, rows 1..V). OVERWRITES: everything else.
// SHAPES: d ≤ D for D ∈ {32, 64, 128, 256, 512}; _a variants need d % 8 == 0 and 16-byte aligned rows.

#include "cce_common.cuh"
#include "negatives.cuh"

#define CCE_RESCALE_SLACK 8.0f

// ---------------------------------------------------------------------------------------------------
// Rows held by a warp: lane q holds columns [q·P, q·P + P), P = D / 32, as floats.

template <int D, bool ALIGNED>
__device__ __forceinline__ void load_row(float (&x)[D / 32], const bf16* row, int d, int lane) {
  constexpr int P = D / 32;
  const int c0 = lane * P;
  if constexpr (ALIGNED && P >= 2) {
    // P consecutive bf16 at a P·2-byte aligned address; d % 8 == 0 keeps every group wholly in or out.
    if (c0 < d) {
      if constexpr (P == 2) {
        const uint32_t v = *reinterpret_cast<const uint32_t*>(row + c0);
        x[0] = __uint_as_float(v << 16);
        x[1] = __uint_as_float(v & 0xffff0000u);
      } else if constexpr (P == 4) {
        const uint2 v = *reinterpret_cast<const uint2*>(row + c0);
        const uint32_t w[2] = {v.x, v.y};
#pragma unroll
        for (int k = 0; k < 2; ++k) {
          x[2 * k] = __uint_as_float(w[k] << 16);
          x[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
        }
      } else {
#pragma unroll
        for (int h = 0; h < P / 8; ++h) {
          const uint4 v = *reinterpret_cast<const uint4*>(row + c0 + 8 * h);
          const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
          for (int k = 0; k < 4; ++k) {
            x[8 * h + 2 * k] = __uint_as_float(w[k] << 16);
            x[8 * h + 2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
          }
        }
      }
    } else {
#pragma unroll
      for (int k = 0; k < P; ++k) x[k] = 0.f;
    }
  } else {
    const unsigned short* r16 = reinterpret_cast<const unsigned short*>(row);
#pragma unroll
    for (int k = 0; k < P; ++k) x[k] = c0 + k < d ? __uint_as_float(static_cast<uint32_t>(r16[c0 + k]) << 16) : 0.f;
  }
}

template <int D>
__device__ __forceinline__ float row_dot(const float (&a)[D / 32], const float (&b)[D / 32]) {
  float s = 0.f;
#pragma unroll
  for (int k = 0; k < D / 32; ++k) s = fmaf(a[k], b[k], s);
  return s;
}

// U warp-wide sums at once (every lane gets every sum).
template <int U>
__device__ __forceinline__ void warp_sums(float (&v)[U]) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
#pragma unroll
    for (int u = 0; u < U; ++u) v[u] += __shfl_xor_sync(0xffffffffu, v[u], o);
}

__device__ __forceinline__ float softplus(float x) { return fmaxf(x, 0.f) + log1pf(expf(-fabsf(x))); }
__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

// Negatives gathered per step (memory-level parallelism of a warp).
template <int D>
struct Unroll { static constexpr int U = D >= 512 ? 4 : 8; };

// ---------------------------------------------------------------------------------------------------
// Forward: a warp per row.

constexpr int SAMPLED_WARPS = 4;   // warps per CTA of the sampled kernels
constexpr int SAMPLED_BATCH = 128; // negatives drawn into shared memory at a time (32 lanes × ≤ 4)

template <int D, int MODE, bool ALIGNED>
__device__ __forceinline__ void sampled_forward_body(float* __restrict__ lse_out, float* __restrict__ row_loss,
                                                     float* __restrict__ dh_raw, const bf16* __restrict__ h,
                                                     const bf16* __restrict__ table, const int* __restrict__ targets,
                                                     int N, int d, int n_neg, Sampler smp,
                                                     const float* __restrict__ log_p, float uniform_corr, float log_n,
                                                     float pos_weight) {
  constexpr int P = D / 32, U = Unroll<D>::U;
  __shared__ int s_item[SAMPLED_WARPS][SAMPLED_BATCH];
  __shared__ float s_corr[SAMPLED_WARPS][SAMPLED_BATCH];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r = blockIdx.x * SAMPLED_WARPS + warp;
  if (r >= N) return;  // the whole warp
  const int t = targets[r];
  float* out = dh_raw != nullptr ? dh_raw + static_cast<size_t>(r) * d : nullptr;
  if (t == 0) {
    if (lane == 0) {
      lse_out[r] = INFINITY;
      row_loss[r] = 0.f;
    }
    if (out != nullptr)
      for (int c = lane; c < d; c += 32) out[c] = 0.f;
    return;
  }

  float hv[P], et[P];
  load_row<D, ALIGNED>(hv, h + static_cast<size_t>(r) * d, d, lane);
  load_row<D, ALIGNED>(et, table + static_cast<size_t>(t) * d, d, lane);
  float pos[1] = {row_dot<D>(hv, et)};
  warp_sums<1>(pos);
  const float s_pos = pos[0];

  float m = s_pos * CCE_LOG2E;  // running max (log2 units), MODE 0
  float l = 0.f;                // Σ_j 2^(s_j - m) over negatives (MODE 0) / Σ softplus(s_j) (MODE 1)
  float o[P];
#pragma unroll
  for (int k = 0; k < P; ++k) o[k] = 0.f;

  const int per_call = smp.per_call();
  for (int b = 0; b < n_neg; b += 32 * per_call) {
    const int c = b / per_call + lane;
    if (c * per_call < n_neg) {
      int items[4];
      smp.draw(items, r, c);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int j = c * per_call + k;
        if (k < per_call && j < n_neg) {
          const int it = items[k] == t ? 0 : items[k];  // dropped: 0
          s_item[warp][j - b] = it;
          s_corr[warp][j - b] = smp.prob == nullptr ? uniform_corr : -log_n - (it > 0 ? log_p[it] : 0.f);
        }
      }
    }
    __syncwarp();
    const int cnt = min(32 * per_call, n_neg - b);
    for (int k0 = 0; k0 < cnt; k0 += U) {
      int it[U];
      float ev[U][P], sv[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        it[u] = k0 + u < cnt ? s_item[warp][k0 + u] : 0;
        if (it[u] > 0) load_row<D, ALIGNED>(ev[u], table + static_cast<size_t>(it[u]) * d, d, lane);
        else
#pragma unroll
          for (int k = 0; k < P; ++k) ev[u][k] = 0.f;
        sv[u] = row_dot<D>(hv, ev[u]);
      }
      warp_sums<U>(sv);
      if constexpr (MODE == 0) {
        float gm = -INFINITY;
#pragma unroll
        for (int u = 0; u < U; ++u) {
          sv[u] = it[u] > 0 ? (sv[u] + s_corr[warp][k0 + u]) * CCE_LOG2E : -INFINITY;
          gm = fmaxf(gm, sv[u]);
        }
        if (gm > m + CCE_RESCALE_SLACK) {  // warp-uniform: every lane holds the same sums
          const float sc = fast_exp2(m - gm);
          m = gm;
          l *= sc;
#pragma unroll
          for (int k = 0; k < P; ++k) o[k] *= sc;
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const float p = fast_exp2(sv[u] - m);
          l += p;
#pragma unroll
          for (int k = 0; k < P; ++k) o[k] = fmaf(p, ev[u][k], o[k]);
        }
      } else {
#pragma unroll
        for (int u = 0; u < U; ++u) {
          if (it[u] == 0) continue;
          l += softplus(sv[u]);
          const float g = sigmoid(sv[u]);
#pragma unroll
          for (int k = 0; k < P; ++k) o[k] = fmaf(g, ev[u][k], o[k]);
        }
      }
    }
    __syncwarp();
  }

  float loss, inv, coef_t;
  if constexpr (MODE == 0) {
    const float ep = fast_exp2(s_pos * CCE_LOG2E - m);
    const float total = l + ep;
    const float lse = (m + __log2f(total)) * CCE_LN2;
    loss = lse - s_pos;
    inv = 1.f / total;
    coef_t = -l / total;  // -(1 - p_t)
    if (lane == 0) lse_out[r] = lse;
  } else {
    loss = pos_weight * softplus(-s_pos) + l;
    inv = 1.f;
    coef_t = pos_weight * (sigmoid(s_pos) - 1.f);
    if (lane == 0) lse_out[r] = 0.f;
  }
  if (lane == 0) row_loss[r] = loss;
  if (out != nullptr) {
#pragma unroll
    for (int k = 0; k < P; ++k) {
      const int col = lane * P + k;
      if (col < d) out[col] = fmaf(o[k], inv, coef_t * et[k]);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The CSR of Gᵀ: count, scan, fill. One thread per (row, Philox call).

template <bool FILL>
__device__ __forceinline__ void sampled_group(int* __restrict__ counts, int* __restrict__ entries, const int* __restrict__ targets,
                                              int N, int n_neg, Sampler smp) {
  const int per_call = smp.per_call();
  const int calls = (n_neg + per_call - 1) / per_call;
  const long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (idx >= static_cast<long long>(N) * calls) return;
  const int r = static_cast<int>(idx / calls), c = static_cast<int>(idx % calls);
  const int t = targets[r];
  if (t == 0) return;
  if (c == 0) {
    if (FILL) entries[atomicAdd(&counts[t], 1)] = r | static_cast<int>(0x80000000u);
    else atomicAdd(&counts[t], 1);
  }
  int items[4];
  smp.draw(items, r, c);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if (k >= per_call || c * per_call + k >= n_neg || items[k] == t) continue;
    if (FILL) entries[atomicAdd(&counts[items[k]], 1)] = r;
    else atomicAdd(&counts[items[k]], 1);
  }
}

// counts[item] += occurrences (the caller zeroes counts [V+1] first).
extern "C" __global__ void cce_sampled_count(int* counts, const int* targets, int N, int V, int n_neg, uint32_t seed,
                                             uint32_t step, const int* counters, const uint32_t* prob, const int* alias) {
  sampled_group<false>(counts, nullptr, targets, N, n_neg, Sampler{prob, alias, V, seed, step_of(step, counters)});
}

// entries[cursor[item]++] = row (| 2^31 for the positive); cursor starts as a copy of offsets.
extern "C" __global__ void cce_sampled_fill(int* entries, int* cursor, const int* targets, int N, int V, int n_neg,
                                            uint32_t seed, uint32_t step, const int* counters, const uint32_t* prob,
                                            const int* alias) {
  sampled_group<true>(cursor, entries, targets, N, n_neg, Sampler{prob, alias, V, seed, step_of(step, counters)});
}

constexpr int SCAN_THREADS = 1024;
constexpr int SCAN_TILE = 4 * SCAN_THREADS;

// Exclusive block scan of one value per thread; returns the block total through *total.
__device__ __forceinline__ int block_exclusive_scan(int v, int* total) {
  __shared__ int warp_sums_s[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) warp_sums_s[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int w = lane < (blockDim.x >> 5) ? warp_sums_s[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += y;
    }
    warp_sums_s[lane] = w;  // inclusive
  }
  __syncthreads();
  const int before = (warp > 0 ? warp_sums_s[warp - 1] : 0) + x - v;
  *total = warp_sums_s[(blockDim.x >> 5) - 1];
  __syncthreads();
  return before;
}

// tile_sums[b] = Σ counts over tile b of SCAN_TILE elements (n = V + 1 counts).
extern "C" __global__ void __launch_bounds__(SCAN_THREADS) cce_sampled_scan_tiles(int* tile_sums, const int* counts, int n) {
  const int base = blockIdx.x * SCAN_TILE + threadIdx.x * 4;
  int v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) v += base + k < n ? counts[base + k] : 0;
  int total;
  block_exclusive_scan(v, &total);
  if (threadIdx.x == 0) tile_sums[blockIdx.x] = total;
}

// tile_sums → exclusive prefix sums in place (one CTA; any number of tiles).
extern "C" __global__ void __launch_bounds__(SCAN_THREADS) cce_sampled_scan_sums(int* tile_sums, int tiles) {
  int carry = 0;
  for (int b0 = 0; b0 < tiles; b0 += SCAN_THREADS) {
    const int i = b0 + threadIdx.x;
    const int v = i < tiles ? tile_sums[i] : 0;
    int total;
    const int before = block_exclusive_scan(v, &total);
    if (i < tiles) tile_sums[i] = carry + before;
    carry += total;
  }
}

// offsets[i] = cursor[i] = Σ_{k<i} counts[k] for i ≤ n, n = V + 1 (offsets[V+1] = total).
extern "C" __global__ void __launch_bounds__(SCAN_THREADS) cce_sampled_scan_apply(int* offsets, int* cursor, const int* counts,
                                                                                 const int* tile_sums, int n) {
  const int base = blockIdx.x * SCAN_TILE + threadIdx.x * 4;
  int c[4];
  int v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    c[k] = base + k < n ? counts[base + k] : 0;
    v += c[k];
  }
  int total;
  int run = tile_sums[blockIdx.x] + block_exclusive_scan(v, &total);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if (base + k <= n) {
      offsets[base + k] = run;
      if (base + k < n) cursor[base + k] = run;
    }
    run += c[k];
  }
}

// ---------------------------------------------------------------------------------------------------
// Backward: the table gradient over the CSR, a warp per chunk of entries.

template <int D, int MODE, bool ALIGNED>
__device__ __forceinline__ void sampled_table_grad_body(float* __restrict__ dtable, const bf16* __restrict__ h,
                                                        const bf16* __restrict__ table, const float* __restrict__ lse,
                                                        const int* __restrict__ offsets, const int* __restrict__ entries,
                                                        int V, int d, int chunk, bool uniform, const float* __restrict__ log_p,
                                                        float uniform_corr, float log_n, float scale, float pos_weight) {
  constexpr int P = D / 32, U = Unroll<D>::U;
  const int lane = threadIdx.x & 31;
  const long long w = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) >> 5;
  const int total = offsets[V + 1];
  if (w * chunk >= total) return;
  const int c0 = static_cast<int>(w * chunk);
  const int c1 = min(total, c0 + chunk);
  // The item whose segment holds entry c0: the last i with offsets[i] ≤ c0.
  int lo = 0, hi = V + 1;
  while (hi - lo > 1) {
    const int mid = (lo + hi) >> 1;
    if (offsets[mid] <= c0) lo = mid;
    else hi = mid;
  }
  int item = lo;
  int e = c0;
  while (e < c1) {
    while (offsets[item + 1] <= e) ++item;
    const int seg0 = offsets[item], seg1 = offsets[item + 1];
    const int e1 = min(seg1, c1);
    float tv[P], acc[P];
    load_row<D, ALIGNED>(tv, table + static_cast<size_t>(item) * d, d, lane);
#pragma unroll
    for (int k = 0; k < P; ++k) acc[k] = 0.f;
    const float corr = uniform ? uniform_corr : -log_n - log_p[item];
    for (; e < e1; e += U) {
      int row[U];
      bool positive[U];
      float hvv[U][P], sv[U], lv[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int x = e + u < e1 ? entries[e + u] : -1;
        positive[u] = x < -1;  // bit 31 set
        row[u] = x == -1 ? -1 : (x & 0x7fffffff);
        if (row[u] >= 0) {
          load_row<D, ALIGNED>(hvv[u], h + static_cast<size_t>(row[u]) * d, d, lane);
          lv[u] = MODE == 0 ? lse[row[u]] : 0.f;
        } else {
#pragma unroll
          for (int k = 0; k < P; ++k) hvv[u][k] = 0.f;
          lv[u] = 0.f;
        }
        sv[u] = row_dot<D>(hvv[u], tv);
      }
      warp_sums<U>(sv);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (row[u] < 0) continue;
        float g;
        if constexpr (MODE == 0) g = fast_exp2(((positive[u] ? sv[u] : sv[u] + corr) - lv[u]) * CCE_LOG2E);
        else g = sigmoid(sv[u]);
        if (positive[u]) g = MODE == 0 ? g - 1.f : pos_weight * (g - 1.f);
#pragma unroll
        for (int k = 0; k < P; ++k) acc[k] = fmaf(g, hvv[u][k], acc[k]);
      }
    }
    e = e1;
    float* out = dtable + static_cast<size_t>(item) * d;
    const bool whole = seg0 >= c0 && seg1 <= c1;
#pragma unroll
    for (int k = 0; k < P; ++k) {
      const int col = lane * P + k;
      if (col >= d) continue;
      if (whole) out[col] += scale * acc[k];
      else atomicAdd(out + col, scale * acc[k]);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Entry points: cce_sampled_forward_{a,u}{D} and cce_sampled_table_grad_{a,u}{D} (MODE 0, cce-),
// bce_sampled_forward_{a,u}{D} and bce_sampled_table_grad_{a,u}{D} (MODE 1, bce+). _a: d % 8 == 0 and
// 16-byte aligned rows (vector loads); _u: any d (element loads). Separate kernels rather than a runtime
// flag: one body per kernel keeps its registers (a merged kernel measured 1.7× slower).
// Forward: SAMPLED_WARPS warps per CTA, one row each. Table gradient: any block size, one warp per
// `chunk` entries, ⌈N·(n+1)/chunk⌉ warps (warps past the total exit).

#define SAMPLED_ENTRY(D, TAG, ALIGNED, MODE, NAME)                                                                  \
  extern "C" __global__ void __launch_bounds__(32 * SAMPLED_WARPS) NAME##_sampled_forward_##TAG(                  \
      float* lse_out, float* row_loss, float* dh_raw, const bf16* h, const bf16* table, const int* targets, int N, \
      int V, int d, int n_neg, uint32_t seed, uint32_t step, const int* counters, const uint32_t* prob,            \
      const int* alias, const float* log_p, float uniform_corr, float log_n, float pos_weight) {                   \
    sampled_forward_body<D, MODE, ALIGNED>(lse_out, row_loss, dh_raw, h, table, targets, N, d, n_neg,              \
                                           Sampler{prob, alias, V, seed, step_of(step, counters)}, log_p,          \
                                           uniform_corr, log_n, pos_weight);                                       \
  }                                                                                                                \
  extern "C" __global__ void NAME##_sampled_table_grad_##TAG(                                                      \
      float* dtable, const bf16* h, const bf16* table, const float* lse, const int* offsets, const int* entries,   \
      int V, int d, int chunk, int uniform, const float* log_p, float uniform_corr, float log_n, float scale,       \
      float pos_weight) {                                                                                          \
    sampled_table_grad_body<D, MODE, ALIGNED>(dtable, h, table, lse, offsets, entries, V, d, chunk, uniform != 0, \
                                              log_p, uniform_corr, log_n, scale, pos_weight);                      \
  }

#define SAMPLED_WIDTHS(MODE, NAME)             \
  SAMPLED_ENTRY(32, a32, true, MODE, NAME)     \
  SAMPLED_ENTRY(64, a64, true, MODE, NAME)     \
  SAMPLED_ENTRY(128, a128, true, MODE, NAME)   \
  SAMPLED_ENTRY(256, a256, true, MODE, NAME)   \
  SAMPLED_ENTRY(512, a512, true, MODE, NAME)   \
  SAMPLED_ENTRY(32, u32, false, MODE, NAME)    \
  SAMPLED_ENTRY(64, u64, false, MODE, NAME)    \
  SAMPLED_ENTRY(128, u128, false, MODE, NAME)  \
  SAMPLED_ENTRY(256, u256, false, MODE, NAME)  \
  SAMPLED_ENTRY(512, u512, false, MODE, NAME)

SAMPLED_WIDTHS(0, cce)
SAMPLED_WIDTHS(1, bce)
