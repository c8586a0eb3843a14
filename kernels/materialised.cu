// @variants sm80
// The materialised losses: ce and bce hold their [N × (V+1)] logits, ce- its [N × n] negatives and
// [N × (n+1)] logits, in the workspace (their memory against cce's and cce-'s is what users sweep).
// The GEMMs of ce and bce (logits = h·tableᵀ, dH = G·table, dtable += Gᵀ·h) are the gemm family's; this
// family holds the row kernels between them, the table's padded copy and gradient sum around them, and
// every kernel of ce-.
// ce's and bce's logits rows are P = V + 1 rounded up to 8 elements apart (the launcher's stride), so that
// every row starts 16 bytes aligned and the GEMMs stage it with vector loads (V + 1 is often odd: a
// 2-byte-aligned row is staged element by element, ~5× slower). The GEMMs run over the padded table
// (ce_table_pad: rows V+1..P-1 zero), so columns V+1..P-1 of the logits are +0 and stay +0 as G.
//
// LOSS CONTRACT (shared with the CPU reference, src/backend/cpu/loss-full.ts and loss-sampled.ts)
//   h       [N × d]       f32 or bf16 (flag)  hidden states, row r = b·L + t
//   table   [(V+1) × d]   f32 or bf16 (flag)  item embeddings; row 0 the padding id, never scored
//   targets [N]           i32                 0 = padding position (contributes nothing)
//   ce:   row loss lse_{1..V}(s) - s_t;                         G = softmax(s) - onehot(t) over 1..V
//   bce:  row loss softplus(-s_t) + Σ_{i≠t, 1≤i≤V} softplus(s_i); G = σ(s) - onehot(t)
//   ce-:  softmax over {s_t} ∪ {s_j + c_j : negative j not rejected}, c_j = log(V-1) - log(n) (uniform)
//         or -log(n) - log p_j (popularity); row loss lse - s_t; G_0 = p_t - 1, G_j = p_j (0 if rejected).
//   The negatives are backend/negatives.ts's draws (negatives.cuh); a draw equal to the target is
//   rejected: stored as 0. Every G here is UNSCALED (the mean's 1/M and dLoss come as `scale` later).
//   Padding rows: row loss 0, G row 0, dH row 0, negatives row 0.
//   ce's numerics by GEMM math: 'fp32' computes f32 logits (the GEMM) and ce_rows' softmax of them;
//   'bf16' (d ≤ 256) runs no kernel of this file but ce_table_pad and ce_table_grad_add: kernels/cce.cu's
//   forward gives lse, the row losses and dH unscaled (Σ_i p_i table_i − table_t) from fp32 scores of bf16
//   operands, and its cce_write_grad writes G = p − onehot into the logits buffer in bf16, p = exp(s − lse)
//   of those fp32 scores (not of logits rounded to bf16 first, as autocast and this file's bf16 path for
//   d > 256 do). Against the float64 reference on the same bf16 operands the loss is then off by fp32
//   rounding only (~1e-6 relative), G by its bf16 rounding (≤ 2^-8 of each element).
//
// KERNELS
//   ce_table_pad              table_pad [P × d] = table rows 0..V, then zero rows (f32 or bf16 each).
//   ce_table_grad_add         dtable[i] (+=) src[i] for i in [d, (V+1)·d): the table GEMM's result, rows 1..V.
//   ce_rows_K, bce_rows       a CTA (or, for short rows, a warp) per row of logits [N × stride], W = V + 1 columns
//                             read (f32 or bf16): row_loss[r] (f32) and G in place of the logits (column 0,
//                             the padding item, is written +0). One read and one write of each row in 16-byte vectors: ce_rows_K
//                             (K = 1, 2, 4, 8) holds the row in registers, K vectors a thread; bce_rows streams.
//   ce_rows                   the same for rows wider than ce_rows_8 holds (two reads of the row).
//   ce_sampled_logits_P       a warp per row: draws the row's n negatives into negatives [N × n] and writes
//                             the raw scores h_r·table_i into logits [N × (n+1)] (positive first; the
//                             log-Q correction is added by ce_sampled_rows, so a bf16 logit rounds the score
//                             and not score + correction; rejected slots hold 0).
//   ce_sampled_rows           a CTA per row: row_loss and G in place of the logits.
//   ce_sampled_hidden_grad_P  a warp per row: dh[r] (overwrite) = scale · Σ_j G[r, j] · table[item_j].
//   entries_histogram, entries_scatter, scan_*
//                             a stable LSD radix sort (8-bit digits, ⌈bits(V)/8⌉ passes) of the entry
//                             indices e = r·(n+1) + j by their item (targets[r] for j = 0, else
//                             negatives[r·n + j-1]; 0 for padding rows and rejected draws): afterwards
//                             entries[] lists every item's entries in ascending e, the items ascending.
//   ce_sampled_table_grad_P   a warp per chunk of CHUNK sorted entries: for every item whose entries lie
//                             wholly inside the chunk, dtable[item] (+=) scale · Σ_e G[e]·h[row(e)] in
//                             ascending e; an item crossing a chunk boundary leaves the chunk's partial
//                             sum in partials [chunks × 2 × d] (slot 0: the chunk's first item, slot 1: its
//                             last), and
//   ce_sampled_table_grad_spans  a warp per chunk: the chunk where such an item starts adds its partials
//                             in chunk order and does dtable[item] (+=) scale · Σ. Every sum has a fixed
//                             order: dtable is bit-identical run to run (no float atomics).
//   cce_loss_reduce (cce_common.cuh)  loss[0] = Σ row_loss / M in fp64, fixed order.
// SAVED FOR BACKWARD: G (in the logits), negatives (ce-). ACCUMULATES: dtable (+=, rows 1..V; row 0 never
// changes). OVERWRITES: everything else. Arithmetic in fp32 (bce's row loss summed in fp64); bf16 stores round to
// nearest even. Indices: element offsets of h, table, logits and dh in size_t; N·(n+1) < 2^31 (launcher).

#include "cce_common.cuh"
#include "negatives.cuh"

// ---------------------------------------------------------------------------------------------------
// Operands that are f32 or bf16 by a runtime flag (warp-uniform: no divergence).

__device__ __forceinline__ float ld(const void* p, size_t i, int is_bf16) {
  return is_bf16 ? __bfloat162float(static_cast<const bf16*>(p)[i]) : static_cast<const float*>(p)[i];
}

__device__ __forceinline__ void st(void* p, size_t i, float v, int is_bf16) {
  if (is_bf16) static_cast<bf16*>(p)[i] = __float2bfloat16_rn(v);
  else static_cast<float*>(p)[i] = v;
}

// ---------------------------------------------------------------------------------------------------
// The online log-sum-exp of a CTA in a fixed order (warp shuffles, then warp 0 over the warps' results), for
// ce_rows and ce_sampled_rows. blockDim.x is a multiple of 32, at most 1024. Every thread gets the result.

// The online log-sum-exp pair (m, l = Σ e^(x - m)) of two halves.
__device__ __forceinline__ void lse_merge(float& m, float& l, float m2, float l2) {
  const float mm = fmaxf(m, m2);
  if (mm == -INFINITY) return;  // both empty
  l = l * expf(m - mm) + l2 * expf(m2 - mm);
  m = mm;
}

__device__ __forceinline__ void block_lse(float& m, float& l) {
  __shared__ float sm[32], sl[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) lse_merge(m, l, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, l, o));
  if (lane == 0) {
    sm[warp] = m;
    sl[warp] = l;
  }
  __syncthreads();
  if (warp == 0) {
    const bool has = lane < static_cast<int>(blockDim.x >> 5);
    m = has ? sm[lane] : -INFINITY;
    l = has ? sl[lane] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) lse_merge(m, l, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, l, o));
    if (lane == 0) {
      sm[0] = m;
      sl[0] = l;
    }
  }
  __syncthreads();
  m = sm[0];
  l = sl[0];
}

// ---------------------------------------------------------------------------------------------------
// ce and bce: rows of logits [N × stride], W = V + 1 columns each (column 0 the padding item, never scored).
//
// A row is read once and written once, in 16-byte vectors of its dtype (VE = 8 bf16 or 4 f32 elements).
// Row r starts at element r·stride; for any stride its alignment may vary (the launcher's padded stride
// makes every row start aligned, so the head is empty there): a scalar head up to the first
// 16-byte boundary (< VE elements, thread j holds head element j), nvec vectors (thread j holds vectors
// j + k·T), and a scalar tail (< VE elements, thread j holds tail element j); T = blockDim.x ≥ 32 ≥ VE.
// Column 0 and the slots a thread does not hold read as -inf: they add e^-inf = 0 to every sum, and
// column 0's gradient comes out as e^-inf = +0 (bce: σ(-inf) = +0, softplus(-inf) = 0).
// A row is one CTA (blockDim = (T, 1)), or one warp when blockDim.x = 32 (blockDim.y rows per CTA, no
// barriers: every reduction stays in the warp).

// Where row `row` [W] splits into head, 16-byte vectors and tail.
template <typename E>
struct RowSplit {
  static constexpr int VE = 16 / static_cast<int>(sizeof(E));
  int head;   // elements before the first 16-byte boundary (all W when the row ends before it)
  int nvec;   // whole vectors after the head
  int tail0;  // first tail element: head + VE·nvec; W - tail0 < VE
  __device__ __forceinline__ RowSplit(const E* row, int W) {
    const int misaligned = static_cast<int>(reinterpret_cast<uintptr_t>(row) & 15u);
    head = min(W, ((16 - misaligned) & 15) / static_cast<int>(sizeof(E)));
    nvec = (W - head) / VE;
    tail0 = head + VE * nvec;
  }
};

__device__ __forceinline__ float elem_ld(const float* p) { return *p; }
__device__ __forceinline__ float elem_ld(const bf16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void elem_st(float* p, float v) { *p = v; }
__device__ __forceinline__ void elem_st(bf16* p, float v) { *p = __float2bfloat16_rn(v); }

// Word i (a compile-time constant after unrolling) of a vector.
__device__ __forceinline__ uint32_t word(const uint4& v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

// A vector's VE elements as floats, and back (bf16: round to nearest even, two at a time).
template <typename E>
__device__ __forceinline__ void unpack(const uint4& v, float (&x)[RowSplit<E>::VE]);
template <>
__device__ __forceinline__ void unpack<float>(const uint4& v, float (&x)[4]) {
#pragma unroll
  for (int e = 0; e < 4; ++e) x[e] = __uint_as_float(word(v, e));
}
template <>
__device__ __forceinline__ void unpack<bf16>(const uint4& v, float (&x)[8]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t w = word(v, i);
    x[2 * i] = __uint_as_float(w << 16);
    x[2 * i + 1] = __uint_as_float(w & 0xffff0000u);
  }
}

// The same floats by another instruction (prmt): ce's gradient pass unpacks the vectors again with it, so
// that the compiler cannot keep the sum pass's floats alive across the barrier (twice the registers of
// the bf16 words: ce_rows_8 would spill).
template <typename E>
__device__ __forceinline__ void unpack_again(const uint4& v, float (&x)[RowSplit<E>::VE]) {
  unpack<E>(v, x);
}
template <>
__device__ __forceinline__ void unpack_again<bf16>(const uint4& v, float (&x)[8]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    uint32_t lo, hi;
    asm("prmt.b32 %0, %1, 0, 0x1044;" : "=r"(lo) : "r"(word(v, i)));  // bytes 1:0 to the high half, zeros below
    asm("prmt.b32 %0, %1, 0, 0x3244;" : "=r"(hi) : "r"(word(v, i)));  // bytes 3:2 stay, zeros below
    x[2 * i] = __uint_as_float(lo);
    x[2 * i + 1] = __uint_as_float(hi);
  }
}

// max(m, the vector's elements), on the packed words (bf16: max.bf16x2, exact).
__device__ __forceinline__ float vec_max(float m, const uint4& v, const float*) {
  return fmaxf(fmaxf(m, fmaxf(__uint_as_float(v.x), __uint_as_float(v.y))), fmaxf(__uint_as_float(v.z), __uint_as_float(v.w)));
}
__device__ __forceinline__ float vec_max(float m, const uint4& v, const bf16*) {
  uint32_t a, b;
  asm("max.bf16x2 %0, %1, %2;" : "=r"(a) : "r"(v.x), "r"(v.y));
  asm("max.bf16x2 %0, %1, %2;" : "=r"(b) : "r"(v.z), "r"(v.w));
  asm("max.bf16x2 %0, %1, %2;" : "=r"(a) : "r"(a), "r"(b));
  return fmaxf(m, fmaxf(__uint_as_float(a << 16), __uint_as_float(a & 0xffff0000u)));
}

template <typename E>
__device__ __forceinline__ uint4 pack(const float (&x)[RowSplit<E>::VE]);
template <>
__device__ __forceinline__ uint4 pack<float>(const float (&x)[4]) {
  return make_uint4(__float_as_uint(x[0]), __float_as_uint(x[1]), __float_as_uint(x[2]), __float_as_uint(x[3]));
}
template <>
__device__ __forceinline__ uint4 pack<bf16>(const float (&x)[8]) {
  uint32_t w[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const __nv_bfloat162 p = __floats2bfloat162_rn(x[2 * i], x[2 * i + 1]);  // .x (low half) = x[2i]
    w[i] = *reinterpret_cast<const uint32_t*>(&p);
  }
  return make_uint4(w[0], w[1], w[2], w[3]);
}

// A vector of -inf, and a vector with its first element set to -inf.
template <typename E>
__device__ __forceinline__ uint32_t neg_inf_word() { return sizeof(E) == 2 ? 0xff80ff80u : 0xff800000u; }
template <typename E>
__device__ __forceinline__ uint4 neg_inf_vec() {
  const uint32_t w = neg_inf_word<E>();
  return make_uint4(w, w, w, w);
}
template <typename E>
__device__ __forceinline__ uint4 first_neg_inf(uint4 v) {
  v.x = sizeof(E) == 2 ? (v.x & 0xffff0000u) | 0xff80u : 0xff800000u;
  return v;
}

// The max and the sum of one value per thread over a row's threads: a warp's (blockDim.x = 32), else the
// CTA's through `part` (32 slots, one barrier; each call site its own array). Every warp reduces the
// warps' partials in the same fixed order, and xor butterflies give every lane the same bits: all
// threads get one result, the same run to run.
__device__ __forceinline__ float row_max(float v, float* part) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (blockDim.x == 32) return v;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x >> 5) ? part[lane] : -INFINITY;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename F>
__device__ __forceinline__ F row_sum(F v, F* part) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (blockDim.x == 32) return v;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x >> 5) ? part[lane] : F(0);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The row of a thread: a CTA per row, or (blockDim.x = 32) a warp per row, blockDim.y rows per CTA.
__device__ __forceinline__ int row_of_thread() { return blockIdx.x * blockDim.y + threadIdx.y; }

// A padding row: G row 0 (+0 everywhere), row loss 0.
template <typename E>
__device__ __forceinline__ void zero_row(E* row, float* row_loss, int W) {
  const RowSplit<E> s(row, W);
  const int tid = threadIdx.x;
  if (tid < s.head) elem_st(row + tid, 0.f);
  uint4* body = reinterpret_cast<uint4*>(row + s.head);
  for (int v = tid; v < s.nvec; v += blockDim.x) body[v] = make_uint4(0u, 0u, 0u, 0u);
  if (tid < W - s.tail0) elem_st(row + s.tail0 + tid, 0.f);
  if (tid == 0) *row_loss = 0.f;
}

// The vector and element of column t in a row's split (vt = -1: t lies in the head or the tail).
template <typename E>
__device__ __forceinline__ void vector_of(const RowSplit<E>& s, int t, int& vt, int& et) {
  const int tb = t - s.head;
  vt = tb >= 0 && t < s.tail0 ? tb / RowSplit<E>::VE : -1;
  et = tb - RowSplit<E>::VE * vt;
}

// ce, the row in registers (K vectors per thread: nvec ≤ K·blockDim.x, the launcher's choice):
// m = max, l = Σ e^(x - m) over columns 1..V, lse = m + log l; row_loss = lse - s_t; G = e^(x - lse) - onehot(t).
template <typename E, int K>
__device__ __forceinline__ void ce_row(E* row, float* row_loss, int t, int W, float* part_max, float* part_sum) {
  constexpr int VE = RowSplit<E>::VE;
  const RowSplit<E> s(row, W);
  const int tid = threadIdx.x, T = blockDim.x, tail = W - s.tail0;
  uint4* body = reinterpret_cast<uint4*>(row + s.head);
  float hx = tid < s.head ? elem_ld(row + tid) : -INFINITY;
  float tx = tid < tail ? elem_ld(row + s.tail0 + tid) : -INFINITY;
  uint4 x[K];
#pragma unroll
  for (int k = 0; k < K; ++k) x[k] = tid + k * T < s.nvec ? body[tid + k * T] : neg_inf_vec<E>();
  // Read before the barriers: after them, other threads overwrite the row.
  const float s_t = tid == 0 ? elem_ld(row + t) : 0.f;
  if (tid == 0) {  // column 0: the first element thread 0 holds
    if (s.head > 0) hx = -INFINITY;
    else if (s.nvec > 0) x[0] = first_neg_inf<E>(x[0]);
    else tx = -INFINITY;
  }

  float m = fmaxf(hx, tx);
#pragma unroll
  for (int k = 0; k < K; ++k) m = vec_max(m, x[k], row);
  m = row_max(m, part_max);
  // e^(x - m) = 2^((x - m)·log2 e): the difference first, exact when x is near m.
  float l = fast_exp2((hx - m) * CCE_LOG2E);
#pragma unroll
  for (int k = 0; k < K; ++k) {
    float xs[VE];
    unpack<E>(x[k], xs);
#pragma unroll
    for (int e = 0; e < VE; ++e) l += fast_exp2((xs[e] - m) * CCE_LOG2E);
  }
  l += fast_exp2((tx - m) * CCE_LOG2E);
  l = row_sum(l, part_sum);
  const float lse = m + logf(l);
  if (tid == 0) *row_loss = lse - s_t;

  if (tid < s.head) elem_st(row + tid, fast_exp2((hx - lse) * CCE_LOG2E) - (tid == t ? 1.f : 0.f));
  int vt, et;
  vector_of(s, t, vt, et);
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int v = tid + k * T;
    if (v >= s.nvec) break;
    float g[VE];
    unpack_again<E>(x[k], g);
#pragma unroll
    for (int e = 0; e < VE; ++e) g[e] = fast_exp2((g[e] - lse) * CCE_LOG2E);
    if (v == vt) {
#pragma unroll
      for (int e = 0; e < VE; ++e) g[e] -= e == et ? 1.f : 0.f;
    }
    body[v] = pack<E>(g);
  }
  if (tid < tail) elem_st(row + s.tail0 + tid, fast_exp2((tx - lse) * CCE_LOG2E) - (s.tail0 + tid == t ? 1.f : 0.f));
}

// This thread's row of logits [N × stride] (its first W columns) at its dtype: a padding row (target 0) gets zeros and loss 0, any
// other row `score(row, &row_loss[r], t)`; past N the whole CTA (or, a warp per row, the whole warp) returns.
template <class Score>
__device__ __forceinline__ void for_row(void* logits, float* __restrict__ row_loss, const int* __restrict__ targets, int N, int W,
                                        int stride, int logits_bf16, const Score& score) {
  const int r = row_of_thread();
  if (r >= N) return;
  const size_t o = static_cast<size_t>(r) * stride;
  const int t = targets[r];
  if (logits_bf16) {
    bf16* row = static_cast<bf16*>(logits) + o;
    if (t == 0) zero_row(row, row_loss + r, W);
    else score(row, row_loss + r, t);
  } else {
    float* row = static_cast<float*>(logits) + o;
    if (t == 0) zero_row(row, row_loss + r, W);
    else score(row, row_loss + r, t);
  }
}

// ce_row at either dtype, for for_row.
template <int K>
struct CeRow {
  int W;
  float* part_max;
  float* part_sum;
  template <typename E>
  __device__ __forceinline__ void operator()(E* row, float* row_loss, int t) const { ce_row<E, K>(row, row_loss, t, W, part_max, part_sum); }
};

template <int K>
__device__ __forceinline__ void ce_rows_body(void* logits, float* __restrict__ row_loss, const int* __restrict__ targets,
                                             int N, int W, int stride, int logits_bf16) {
  __shared__ float part_max[32], part_sum[32];
  for_row(logits, row_loss, targets, N, W, stride, logits_bf16, CeRow<K>{W, part_max, part_sum});
}

// Entry points by K, the vectors a thread holds: ce_rows_1 (blockDim.x ≤ 128, or 32 with rows packed in y),
// ce_rows_2, ce_rows_4 (blockDim.x = 128), ce_rows_8 (blockDim.x ≤ 1024). Rows of more than 8·1024
// vectors take ce_rows.
#define CE_ROWS_K(K, THREADS)                                                                                           \
  extern "C" __global__ void __launch_bounds__(THREADS) ce_rows_##K(void* logits, float* __restrict__ row_loss,        \
                                                                    const int* __restrict__ targets, int N, int W,      \
                                                                    int stride, int logits_bf16) {                      \
    ce_rows_body<K>(logits, row_loss, targets, N, W, stride, logits_bf16);                                             \
  }

CE_ROWS_K(1, 128)
CE_ROWS_K(2, 128)
CE_ROWS_K(4, 128)
CE_ROWS_K(8, 1024)

// The fallback for rows wider than ce_rows_8 holds, a CTA per row, any W: two reads of the row (an online
// max and Σ e^(x - m), then the gradient). row_loss[r] = lse_{1..V} - s_t; logits row → softmax - onehot(t)
// (column 0: +0).
extern "C" __global__ void __launch_bounds__(1024) ce_rows(void* logits, float* __restrict__ row_loss,
                                                           const int* __restrict__ targets, int N, int W, int stride,
                                                           int logits_bf16) {
  const int r = blockIdx.x;
  if (r >= N) return;
  const size_t o = static_cast<size_t>(r) * stride;
  const int t = targets[r];
  if (t == 0) {
    for (int c = threadIdx.x; c < W; c += blockDim.x) st(logits, o + c, 0.f, logits_bf16);
    if (threadIdx.x == 0) row_loss[r] = 0.f;
    return;
  }
  // Read before the barrier in block_lse: after it, other threads overwrite the row.
  const float s_t = threadIdx.x == 0 ? ld(logits, o + t, logits_bf16) : 0.f;
  float m = -INFINITY, l = 0.f;
  for (int c = 1 + threadIdx.x; c < W; c += blockDim.x) {
    const float x = ld(logits, o + c, logits_bf16);
    if (x <= m) {
      l += expf(x - m);
    } else {
      l = l * expf(m - x) + 1.f;  // m = -inf: l = 0 · 0 + 1
      m = x;
    }
  }
  block_lse(m, l);
  const float lse = m + logf(l);
  if (threadIdx.x == 0) row_loss[r] = lse - s_t;
  for (int c = threadIdx.x; c < W; c += blockDim.x) {
    float g = 0.f;
    if (c > 0) g = expf(ld(logits, o + c, logits_bf16) - lse) - (c == t ? 1.f : 0.f);
    st(logits, o + c, g, logits_bf16);
  }
}

// bce needs no row statistic: each element's loss term and gradient are its own. The row streams through
// in chunks of BCE_VECS vectors per thread (all loads of a chunk in flight before its stores), any W.
constexpr int BCE_VECS = 4;

// The bce terms of logit s from one exponential e = e^-|s|: softplus(±s) = max(±s, 0) + log1p(e)
// (+s: a negative; -s: the target) and σ(s) - onehot. log1p(e) = log u - ((u - 1) - e)/u with u = 1 + e
// (the rounding of u corrected; log and 1/u by the fast intrinsics: ≤ 2e-7 absolute per term).
__device__ __forceinline__ float bce_term(float s, bool target, float& g) {
  const float e = fast_exp2(-fabsf(s) * CCE_LOG2E);
  const float u = 1.f + e;
  const float q = __fdividef(1.f, u);
  g = (s >= 0.f ? q : e * q) - (target ? 1.f : 0.f);
  return fmaxf(target ? -s : s, 0.f) + (__logf(u) - ((u - 1.f) - e) * q);
}

// row_loss[r] = softplus(-s_t) + Σ_{i≠t, 1≤i≤V} softplus(s_i): fp32 within a vector (≤ 8 terms ≥ 0), fp64
// across vectors and threads; logits row → σ(s) - onehot(t) (column 0: +0).
template <typename E>
__device__ __forceinline__ void bce_row(E* row, float* row_loss, int t, int W, double* part) {
  constexpr int VE = RowSplit<E>::VE;
  const RowSplit<E> s(row, W);
  const int tid = threadIdx.x, T = blockDim.x, tail = W - s.tail0;
  uint4* body = reinterpret_cast<uint4*>(row + s.head);
  double loss = 0.0;
  float g;
  if (tid < s.head) {
    const float x = tid == 0 ? -INFINITY : elem_ld(row + tid);  // column 0
    loss += bce_term(x, tid == t, g);
    elem_st(row + tid, g);
  }
  int vt, et;
  vector_of(s, t, vt, et);
  for (int c0 = 0; c0 < s.nvec; c0 += BCE_VECS * T) {
    uint4 x[BCE_VECS];
#pragma unroll
    for (int k = 0; k < BCE_VECS; ++k) {
      const int v = c0 + tid + k * T;
      x[k] = v < s.nvec ? body[v] : neg_inf_vec<E>();
    }
    if (c0 == 0 && tid == 0 && s.head == 0) x[0] = first_neg_inf<E>(x[0]);  // column 0
#pragma unroll
    for (int k = 0; k < BCE_VECS; ++k) {
      const int v = c0 + tid + k * T;
      if (v >= s.nvec) break;
      float xs[VE], gs[VE];
      unpack<E>(x[k], xs);
      const int hit = v == vt ? et : -1;
      float part_loss = 0.f;
#pragma unroll
      for (int e = 0; e < VE; ++e) part_loss += bce_term(xs[e], e == hit, gs[e]);
      loss += part_loss;
      body[v] = pack<E>(gs);
    }
  }
  if (tid < tail) {
    const int c = s.tail0 + tid;
    const float x = c == 0 ? -INFINITY : elem_ld(row + c);  // column 0 (a row shorter than one vector)
    loss += bce_term(x, c == t, g);
    elem_st(row + c, g);
  }
  loss = row_sum(loss, part);
  if (tid == 0) *row_loss = static_cast<float>(loss);
}

// bce_row at either dtype, for for_row.
struct BceRow {
  int W;
  double* part;
  template <typename E>
  __device__ __forceinline__ void operator()(E* row, float* row_loss, int t) const { bce_row(row, row_loss, t, W, part); }
};

// A CTA per row (blockDim.x ≤ 1024), or a warp per row (blockDim.x = 32, blockDim.y rows per CTA).
extern "C" __global__ void __launch_bounds__(1024) bce_rows(void* logits, float* __restrict__ row_loss,
                                                            const int* __restrict__ targets, int N, int W, int stride,
                                                            int logits_bf16) {
  __shared__ double part[32];
  for_row(logits, row_loss, targets, N, W, stride, logits_bf16, BceRow{W, part});
}

// ---------------------------------------------------------------------------------------------------
// ce and bce: the padded table and the table gradient's sum (grid-stride over elements).

// out [n_out] = table [n_in] then zeros (out's dtype; a bf16 out rounds to nearest even, as the GEMM would
// have rounded the table's f32 values as it staged them).
extern "C" __global__ void ce_table_pad(void* __restrict__ out, int out_bf16, const void* __restrict__ table, int table_bf16,
                                        long long n_in, long long n_out) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n_out;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    st(out, i, i < n_in ? ld(table, i, table_bf16) : 0.f, out_bf16);
  }
}

// dtable[i] = dtable[i] + src[i] for i in [from, to), in fp32 (a bf16 dtable rounds once, as the GEMM's
// accumulating store did).
extern "C" __global__ void ce_table_grad_add(void* __restrict__ dtable, int dtable_bf16, const float* __restrict__ src,
                                             long long from, long long to) {
  for (long long i = from + blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < to;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    st(dtable, i, ld(dtable, i, dtable_bf16) + src[i], dtable_bf16);
  }
}

// ---------------------------------------------------------------------------------------------------
// ce-: warp kernels over P·32 columns at a time (lane l holds columns c0 + l + 32k, k < P: coalesced, any d).

constexpr int GATHER_U = 4;  // table rows (or h rows) in flight per lane

template <int U>
__device__ __forceinline__ void warp_sums(float (&v)[U]) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
#pragma unroll
    for (int u = 0; u < U; ++u) v[u] += __shfl_xor_sync(0xffffffffu, v[u], o);
}

// The item of sorted-entry value e = r·(n+1) + j: the target for j = 0, else negative j - 1 (0: rejected or padding).
__device__ __forceinline__ int entry_item(int e, const int* __restrict__ targets, const int* __restrict__ negatives, int n_neg) {
  const int r = e / (n_neg + 1), j = e - r * (n_neg + 1);
  return j == 0 ? targets[r] : negatives[static_cast<size_t>(r) * n_neg + j - 1];
}

// negatives[r, :] = the row's draws (0 where equal to the target; all 0 on padding rows);
// logits[r, 0] = h_r · table_t, logits[r, 1 + j] = h_r · table_{neg j} (0 when rejected).
template <int P>
__device__ __forceinline__ void sampled_logits_body(void* logits, int* negatives, const void* h, const void* table,
                                                    const int* __restrict__ targets, int N, int d, int n_neg, Sampler smp,
                                                    int h_bf16, int table_bf16, int logits_bf16) {
  const int lane = threadIdx.x & 31;
  const int r = static_cast<int>((blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) >> 5);
  if (r >= N) return;  // the whole warp
  const int t = targets[r];
  int* negs = negatives + static_cast<size_t>(r) * n_neg;
  if (t == 0) {
    for (int j = lane; j < n_neg; j += 32) negs[j] = 0;
    return;
  }
  const int per_call = smp.per_call();
  const int calls = (n_neg + per_call - 1) / per_call;
  for (int c = lane; c < calls; c += 32) {
    int items[4];
    smp.draw(items, r, c);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int j = c * per_call + k;
      if (k < per_call && j < n_neg) negs[j] = items[k] == t ? 0 : items[k];
    }
  }
  __syncwarp();  // orders the lanes' stores of negs before the loads below
  const size_t ho = static_cast<size_t>(r) * d;
  const size_t lo = static_cast<size_t>(r) * (n_neg + 1);
  for (int s0 = 0; s0 <= n_neg; s0 += GATHER_U) {
    int it[GATHER_U];
    float sum[GATHER_U];
#pragma unroll
    for (int u = 0; u < GATHER_U; ++u) {
      const int s = s0 + u;
      it[u] = s > n_neg ? 0 : s == 0 ? t : negs[s - 1];
      sum[u] = 0.f;
    }
    for (int c0 = 0; c0 < d; c0 += 32 * P) {
      float hv[P];
#pragma unroll
      for (int k = 0; k < P; ++k) {
        const int col = c0 + lane + 32 * k;
        hv[k] = col < d ? ld(h, ho + col, h_bf16) : 0.f;
      }
#pragma unroll
      for (int u = 0; u < GATHER_U; ++u) {
        if (it[u] == 0) continue;  // warp-uniform
        const size_t eo = static_cast<size_t>(it[u]) * d;
#pragma unroll
        for (int k = 0; k < P; ++k) {
          const int col = c0 + lane + 32 * k;
          if (col < d) sum[u] = fmaf(hv[k], ld(table, eo + col, table_bf16), sum[u]);
        }
      }
    }
    warp_sums<GATHER_U>(sum);
#pragma unroll
    for (int u = 0; u < GATHER_U; ++u)
      if (lane == u && s0 + u <= n_neg) st(logits, lo + s0 + u, it[u] != 0 ? sum[u] : 0.f, logits_bf16);
  }
}

// The log-Q correction of a kept negative (uniform when log_p is null).
__device__ __forceinline__ float log_q(int item, const float* __restrict__ log_p, float uniform_corr, float log_n) {
  return log_p == nullptr ? uniform_corr : -log_n - log_p[item];
}

// A CTA per row of logits [N × (n+1)]: row_loss[r] = lse - s_t over the corrected logits; the row → G.
extern "C" __global__ void __launch_bounds__(1024) ce_sampled_rows(void* logits, float* __restrict__ row_loss,
                                                                   const int* __restrict__ targets,
                                                                   const int* __restrict__ negatives,
                                                                   const float* __restrict__ log_p, int N, int n_neg,
                                                                   int logits_bf16, float uniform_corr, float log_n) {
  const int r = blockIdx.x;
  if (r >= N) return;
  const int W = n_neg + 1;
  const size_t o = static_cast<size_t>(r) * W;
  const int* negs = negatives + static_cast<size_t>(r) * n_neg;
  if (targets[r] == 0) {
    for (int c = threadIdx.x; c < W; c += blockDim.x) st(logits, o + c, 0.f, logits_bf16);
    if (threadIdx.x == 0) row_loss[r] = 0.f;
    return;
  }
  const float s_t = threadIdx.x == 0 ? ld(logits, o, logits_bf16) : 0.f;  // read before any thread writes
  float m = -INFINITY, l = 0.f;
  for (int c = threadIdx.x; c < W; c += blockDim.x) {
    const int item = c == 0 ? -1 : negs[c - 1];
    if (item == 0) continue;  // rejected
    const float x = ld(logits, o + c, logits_bf16) + (c == 0 ? 0.f : log_q(item, log_p, uniform_corr, log_n));
    if (x <= m) {
      l += expf(x - m);
    } else {
      l = l * expf(m - x) + 1.f;
      m = x;
    }
  }
  block_lse(m, l);
  const float lse = m + logf(l);
  if (threadIdx.x == 0) row_loss[r] = lse - s_t;
  for (int c = threadIdx.x; c < W; c += blockDim.x) {
    const int item = c == 0 ? -1 : negs[c - 1];
    float g = 0.f;
    if (item != 0) {
      const float x = ld(logits, o + c, logits_bf16) + (c == 0 ? 0.f : log_q(item, log_p, uniform_corr, log_n));
      g = expf(x - lse) - (c == 0 ? 1.f : 0.f);
    }
    st(logits, o + c, g, logits_bf16);
  }
}

// dh[r, :] = scale · Σ_{s=0..n} G[r, s] · table[item_s, :] (overwrite; 0 on padding rows).
template <int P>
__device__ __forceinline__ void sampled_hidden_grad_body(void* dh, const void* grad, const void* table,
                                                         const int* __restrict__ targets, const int* __restrict__ negatives,
                                                         int N, int d, int n_neg, int dh_bf16, int grad_bf16, int table_bf16,
                                                         float scale) {
  const int lane = threadIdx.x & 31;
  const int r = static_cast<int>((blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) >> 5);
  if (r >= N) return;
  const int t = targets[r];
  const int* negs = negatives + static_cast<size_t>(r) * n_neg;
  const size_t go = static_cast<size_t>(r) * (n_neg + 1);
  const size_t ho = static_cast<size_t>(r) * d;
  for (int c0 = 0; c0 < d; c0 += 32 * P) {
    float acc[P];
#pragma unroll
    for (int k = 0; k < P; ++k) acc[k] = 0.f;
    if (t != 0) {
      // 32 slots at a time: lane l loads slot s0 + l's item and G, the warp walks them in slot order.
      for (int s0 = 0; s0 <= n_neg; s0 += 32) {
        const int s = s0 + lane;
        const int my_item = s > n_neg ? 0 : s == 0 ? t : negs[s - 1];
        const float my_g = my_item != 0 ? ld(grad, go + s, grad_bf16) : 0.f;
        const int cnt = min(32, n_neg + 1 - s0);
        for (int u0 = 0; u0 < cnt; u0 += GATHER_U) {
          int it[GATHER_U];
          float g[GATHER_U], ev[GATHER_U][P];
#pragma unroll
          for (int u = 0; u < GATHER_U; ++u) {
            const int src = min(u0 + u, 31);
            it[u] = __shfl_sync(0xffffffffu, my_item, src);
            g[u] = __shfl_sync(0xffffffffu, my_g, src);
            if (u0 + u >= cnt) it[u] = 0;
            const size_t eo = static_cast<size_t>(it[u]) * d;
#pragma unroll
            for (int k = 0; k < P; ++k) {
              const int col = c0 + lane + 32 * k;
              ev[u][k] = it[u] != 0 && col < d ? ld(table, eo + col, table_bf16) : 0.f;
            }
          }
#pragma unroll
          for (int u = 0; u < GATHER_U; ++u)
#pragma unroll
            for (int k = 0; k < P; ++k) acc[k] = fmaf(g[u], ev[u][k], acc[k]);
        }
      }
    }
#pragma unroll
    for (int k = 0; k < P; ++k) {
      const int col = c0 + lane + 32 * k;
      if (col < d) st(dh, ho + col, scale * acc[k], dh_bf16);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The stable LSD radix sort of entry indices by item. A tile of SORT_TILE entries per CTA of SORT_WARPS
// warps; warp w takes the tile's entries [w·32·SORT_STEPS, (w+1)·32·SORT_STEPS) in SORT_STEPS steps of
// 32 consecutive ones, so (warp, step, lane) is the entries' order. hist is digit-major:
// hist[digit · tiles + tile]; after the exclusive scan it holds each (digit, tile)'s first position.
// src null: the identity (the first pass reads e = position).

constexpr int SORT_WARPS = 8;
constexpr int SORT_STEPS = 8;
constexpr int SORT_TILE = SORT_WARPS * SORT_STEPS * 32;
constexpr int RADIX = 256;

extern "C" __global__ void __launch_bounds__(32 * SORT_WARPS) entries_histogram(int* __restrict__ hist, const int* __restrict__ src,
                                                                               const int* __restrict__ targets,
                                                                               const int* __restrict__ negatives, int E,
                                                                               int n_neg, int shift, int tiles) {
  __shared__ int count[RADIX];
  for (int k = threadIdx.x; k < RADIX; k += blockDim.x) count[k] = 0;
  __syncthreads();
  const int base = blockIdx.x * SORT_TILE;
  const int end = min(E - base, SORT_TILE);
  for (int q = threadIdx.x; q < end; q += blockDim.x) {
    const int e = src != nullptr ? src[base + q] : base + q;
    atomicAdd(&count[(entry_item(e, targets, negatives, n_neg) >> shift) & (RADIX - 1)], 1);  // integer: exact
  }
  __syncthreads();
  for (int k = threadIdx.x; k < RADIX; k += blockDim.x) hist[k * tiles + blockIdx.x] = count[k];
}

extern "C" __global__ void __launch_bounds__(32 * SORT_WARPS) entries_scatter(int* __restrict__ dst, const int* __restrict__ src,
                                                                             const int* __restrict__ hist,
                                                                             const int* __restrict__ targets,
                                                                             const int* __restrict__ negatives, int E,
                                                                             int n_neg, int shift, int tiles) {
  __shared__ int before[SORT_WARPS][RADIX];  // per warp: entries of each digit seen so far, then the warps' prefix
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int k = threadIdx.x; k < SORT_WARPS * RADIX; k += blockDim.x) before[k / RADIX][k % RADIX] = 0;
  __syncthreads();
  const int base = blockIdx.x * SORT_TILE + warp * SORT_STEPS * 32;
  const unsigned lower = (1u << lane) - 1u;
  int val[SORT_STEPS], digit[SORT_STEPS], rank[SORT_STEPS];
#pragma unroll
  for (int k = 0; k < SORT_STEPS; ++k) {
    const int q = base + 32 * k + lane;
    const bool valid = q < E;
    val[k] = valid ? (src != nullptr ? src[q] : q) : 0;
    // Past the end: a digit of its own (RADIX + lane), matching no other lane.
    digit[k] = valid ? (entry_item(val[k], targets, negatives, n_neg) >> shift) & (RADIX - 1) : RADIX + lane;
    const unsigned peers = __match_any_sync(0xffffffffu, digit[k]);
    const int seen = valid ? before[warp][digit[k]] : 0;
    __syncwarp();
    if (valid && (peers & lower) == 0) before[warp][digit[k]] = seen + __popc(peers);  // the lowest peer
    __syncwarp();
    rank[k] = seen + __popc(peers & lower);
  }
  __syncthreads();
  for (int dg = threadIdx.x; dg < RADIX; dg += blockDim.x) {
    int run = 0;
    for (int w = 0; w < SORT_WARPS; ++w) {
      const int c = before[w][dg];
      before[w][dg] = run;
      run += c;
    }
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < SORT_STEPS; ++k) {
    if (digit[k] >= RADIX) continue;
    dst[hist[digit[k] * tiles + blockIdx.x] + before[warp][digit[k]] + rank[k]] = val[k];
  }
}

// In-place exclusive scan of data[0..n): scan_tiles (tile sums), scan_sums (one CTA), scan_apply.
constexpr int SCAN_THREADS = 1024;
constexpr int SCAN_TILE = 4 * SCAN_THREADS;

__device__ __forceinline__ int block_exclusive_scan(int v, int* total) {
  __shared__ int sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int w = lane < static_cast<int>(blockDim.x >> 5) ? sums[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += y;
    }
    sums[lane] = w;  // inclusive
  }
  __syncthreads();
  const int ex = (warp > 0 ? sums[warp - 1] : 0) + x - v;
  *total = sums[(blockDim.x >> 5) - 1];
  __syncthreads();
  return ex;
}

extern "C" __global__ void __launch_bounds__(SCAN_THREADS) scan_tiles(int* __restrict__ tile_sums, const int* __restrict__ data, int n) {
  const int base = blockIdx.x * SCAN_TILE + threadIdx.x * 4;
  int v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) v += base + k < n ? data[base + k] : 0;
  int total;
  block_exclusive_scan(v, &total);
  if (threadIdx.x == 0) tile_sums[blockIdx.x] = total;
}

extern "C" __global__ void __launch_bounds__(SCAN_THREADS) scan_sums(int* tile_sums, int tiles) {
  int carry = 0;
  for (int b0 = 0; b0 < tiles; b0 += SCAN_THREADS) {
    const int i = b0 + threadIdx.x;
    const int v = i < tiles ? tile_sums[i] : 0;
    int total;
    const int ex = block_exclusive_scan(v, &total);
    if (i < tiles) tile_sums[i] = carry + ex;
    carry += total;
  }
}

extern "C" __global__ void __launch_bounds__(SCAN_THREADS) scan_apply(int* __restrict__ data, const int* __restrict__ tile_sums, int n) {
  const int base = blockIdx.x * SCAN_TILE + threadIdx.x * 4;
  int c[4];
  int v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    c[k] = base + k < n ? data[base + k] : 0;
    v += c[k];
  }
  int total;
  int run = tile_sums[blockIdx.x] + block_exclusive_scan(v, &total);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if (base + k < n) data[base + k] = run;
    run += c[k];
  }
}

// ---------------------------------------------------------------------------------------------------
// ce- table gradient over the sorted entries, a warp per chunk [c0, c1) of `chunk` entries.

// Where an item's run of sorted entries meets the chunk: item(c0 - 1) and item(c1) (-1 past the ends).
struct ChunkEdges {
  int c0, c1, first, last, before, after;
};

__device__ __forceinline__ ChunkEdges chunk_edges(int w, int chunk, int E, const int* __restrict__ entries,
                                                  const int* __restrict__ targets, const int* __restrict__ negatives, int n_neg) {
  ChunkEdges x;
  x.c0 = w * chunk;
  x.c1 = min(E, x.c0 + chunk);
  x.first = entry_item(entries[x.c0], targets, negatives, n_neg);
  x.last = entry_item(entries[x.c1 - 1], targets, negatives, n_neg);
  x.before = x.c0 > 0 ? entry_item(entries[x.c0 - 1], targets, negatives, n_neg) : -1;
  x.after = x.c1 < E ? entry_item(entries[x.c1], targets, negatives, n_neg) : -1;
  return x;
}

template <int P>
__device__ __forceinline__ void flush(void* dtable, float* __restrict__ partials, const ChunkEdges& x, int item, const float (&acc)[P],
                                      int c0col, int lane, int w, int d, int dtable_bf16, float scale) {
  if (item == 0) return;  // padding rows and rejected draws: no gradient
  const bool whole = (item != x.first || x.before != item) && (item != x.last || x.after != item);
  const size_t base = whole ? static_cast<size_t>(item) * d : (static_cast<size_t>(w) * 2 + (item == x.first ? 0 : 1)) * d;
#pragma unroll
  for (int k = 0; k < P; ++k) {
    const int col = c0col + lane + 32 * k;
    if (col >= d) continue;
    if (whole) st(dtable, base + col, ld(dtable, base + col, dtable_bf16) + scale * acc[k], dtable_bf16);
    else partials[base + col] = acc[k];
  }
}

template <int P>
__device__ __forceinline__ void sampled_table_grad_body(void* dtable, float* __restrict__ partials, const int* __restrict__ entries,
                                                        const void* grad, const void* h, const int* __restrict__ targets,
                                                        const int* __restrict__ negatives, int E, int n_neg, int d, int chunk,
                                                        int dtable_bf16, int grad_bf16, int h_bf16, float scale) {
  const int lane = threadIdx.x & 31;
  const long long w = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) >> 5;
  if (w * chunk >= E) return;
  const ChunkEdges x = chunk_edges(static_cast<int>(w), chunk, E, entries, targets, negatives, n_neg);
  for (int c0col = 0; c0col < d; c0col += 32 * P) {
    float acc[P];
#pragma unroll
    for (int k = 0; k < P; ++k) acc[k] = 0.f;
    int cur = x.first;
    for (int e0 = x.c0; e0 < x.c1; e0 += 32) {
      // Lane l fetches entry e0 + l; the warp walks them in order.
      const int mine = e0 + lane < x.c1 ? entries[e0 + lane] : -1;
      const int my_item = mine >= 0 ? entry_item(mine, targets, negatives, n_neg) : -1;
      const float my_g = my_item > 0 ? ld(grad, mine, grad_bf16) : 0.f;
      const int cnt = min(32, x.c1 - e0);
      for (int u0 = 0; u0 < cnt; u0 += GATHER_U) {
        int it[GATHER_U];
        float g[GATHER_U], hv[GATHER_U][P];
#pragma unroll
        for (int u = 0; u < GATHER_U; ++u) {
          const int src = min(u0 + u, 31);
          const int e = __shfl_sync(0xffffffffu, mine, src);
          it[u] = u0 + u < cnt ? __shfl_sync(0xffffffffu, my_item, src) : -1;
          g[u] = __shfl_sync(0xffffffffu, my_g, src);
          const size_t ho = it[u] > 0 ? static_cast<size_t>(e / (n_neg + 1)) * d : 0;
#pragma unroll
          for (int k = 0; k < P; ++k) {
            const int col = c0col + lane + 32 * k;
            hv[u][k] = it[u] > 0 && col < d ? ld(h, ho + col, h_bf16) : 0.f;
          }
        }
#pragma unroll
        for (int u = 0; u < GATHER_U; ++u) {
          if (it[u] < 0) continue;  // past the chunk (warp-uniform)
          if (it[u] != cur) {
            flush<P>(dtable, partials, x, cur, acc, c0col, lane, static_cast<int>(w), d, dtable_bf16, scale);
            cur = it[u];
#pragma unroll
            for (int k = 0; k < P; ++k) acc[k] = 0.f;
          }
#pragma unroll
          for (int k = 0; k < P; ++k) acc[k] = fmaf(g[u], hv[u][k], acc[k]);
        }
      }
    }
    flush<P>(dtable, partials, x, cur, acc, c0col, lane, static_cast<int>(w), d, dtable_bf16, scale);
  }
}

// A warp per chunk: if the chunk's last item continues into the next chunk and starts in this one, adds its
// partials of this and the following chunks in order: dtable[item] (+=) scale · Σ.
extern "C" __global__ void ce_sampled_table_grad_spans(void* dtable, const float* __restrict__ partials,
                                                       const int* __restrict__ entries, const int* __restrict__ targets,
                                                       const int* __restrict__ negatives, int E, int n_neg, int d, int chunk,
                                                       int dtable_bf16, float scale) {
  const int lane = threadIdx.x & 31;
  const long long w = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) >> 5;
  if (w * chunk >= E) return;
  const ChunkEdges x = chunk_edges(static_cast<int>(w), chunk, E, entries, targets, negatives, n_neg);
  const int item = x.last;
  if (item == 0 || x.after != item) return;                  // no item continues past c1
  if (x.first == item && x.before == item) return;           // it started in an earlier chunk: that one adds it
  const int chunks = (E + chunk - 1) / chunk;
  for (int col = lane; col < d; col += 32) {
    float sum = partials[(static_cast<size_t>(w) * 2 + (x.first == item ? 0 : 1)) * d + col];
    for (int v = static_cast<int>(w) + 1; v < chunks; ++v) {
      sum += partials[static_cast<size_t>(v) * 2 * d + col];  // slot 0: the item is chunk v's first
      const int c1 = min(E, (v + 1) * chunk);
      if (c1 >= E || entry_item(entries[c1], targets, negatives, n_neg) != item) break;  // ends in chunk v
    }
    const size_t o = static_cast<size_t>(item) * d + col;
    st(dtable, o, ld(dtable, o, dtable_bf16) + scale * sum, dtable_bf16);
  }
}

// ---------------------------------------------------------------------------------------------------
// Entry points of the warp kernels, by P (columns per pass: 32·P): _1, _2, _4, _8, _16. Any block size
// that is a multiple of 32; one warp per row (logits, hidden grad) or per chunk (table grad).

#define SAMPLED_P(P)                                                                                                     \
  extern "C" __global__ void ce_sampled_logits_##P(void* logits, int* negatives, const void* h, const void* table,       \
                                                   const int* targets, const uint32_t* prob, const int* alias, int N,     \
                                                   int V, int d, int n_neg, uint32_t seed, uint32_t step,                 \
                                                   const int* counters, int h_bf16, int table_bf16, int logits_bf16) {    \
    sampled_logits_body<P>(logits, negatives, h, table, targets, N, d, n_neg,                                            \
                           Sampler{prob, alias, V, seed, step_of(step, counters)},                                      \
                           h_bf16, table_bf16, logits_bf16);                                                             \
  }                                                                                                                      \
  extern "C" __global__ void ce_sampled_hidden_grad_##P(void* dh, const void* grad, const void* table,                  \
                                                        const int* targets, const int* negatives, int N, int d,           \
                                                        int n_neg, int dh_bf16, int grad_bf16, int table_bf16,            \
                                                        float scale) {                                                   \
    sampled_hidden_grad_body<P>(dh, grad, table, targets, negatives, N, d, n_neg, dh_bf16, grad_bf16, table_bf16,        \
                                scale);                                                                                  \
  }                                                                                                                      \
  extern "C" __global__ void ce_sampled_table_grad_##P(void* dtable, float* partials, const int* entries,                \
                                                       const void* grad, const void* h, const int* targets,              \
                                                       const int* negatives, int E, int n_neg, int d, int chunk,          \
                                                       int dtable_bf16, int grad_bf16, int h_bf16, float scale) {        \
    sampled_table_grad_body<P>(dtable, partials, entries, grad, h, targets, negatives, E, n_neg, d, chunk, dtable_bf16,  \
                               grad_bf16, h_bf16, scale);                                                                \
  }

SAMPLED_P(1)
SAMPLED_P(2)
SAMPLED_P(4)
SAMPLED_P(8)
SAMPLED_P(16)
