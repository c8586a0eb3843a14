// @variants sm80
// Multi-head scaled dot-product attention, flash style (never an [L × L] matrix in global memory):
// forward, then backward. The CPU reference is src/backend/cpu/attention.ts; the math is the same.
//
// CONTRACT
//   seqs         [B × 2] i32: (first_b, len_b). Sequence b's positions start_b = L − len_b .. L − 1 are
//                rows first_b .. first_b + len_b − 1 (ops.ts SequenceRows: the padded layout first_b =
//                b·L + start_b, or packed); positions i < start_b (padding) have no row. A kernel reads
//                position i ≥ start_b at row base_b + i, base_b = first_b − start_b (64-bit; it may be
//                negative, no position below start_b is ever addressed through it); first_b of an empty
//                sequence (len_b = 0) is not read.
//   q, k, v, out  [rows × H·hd]  f32 or bf16 (all four alike; flag bf16 = 1); head h owns columns
//                 h·hd .. (h+1)·hd
//   dout, dq, dk, dv [rows × H·hd] f32
//   pad_k, pad_v  [H·hd] f32 (key_padding = 0 only; else null): the key and value of every padding
//                 position j < start_b (they have no row), head h's slice; with bf16 operands they are
//                 rounded to bf16 when read, as a bf16 k or v row holding them would be.
//   s_ij = (q_i · k_j) · scale, scale = 1/sqrt(hd); valid iff j ≤ i when causal (else every j < L) and,
//   when key_padding, j ≥ start_b
//   P_ij = softmax_j(s_ij) over the valid j; out_i = Σ_j keep_ij · keep_scale · P_ij · v_j
//   Padding rows (i < start_b) are not computed and have no row: out, dq, dk, dv are written on the
//   sequences' rows only, every other row is left as it is; lse_i = +inf there (so backward's P_ij = 0
//   and their dout never counts). Query tiles wholly in the padding are skipped, and so are key tiles
//   wholly in it: padding costs (almost) nothing.
//   Dropout acts on P: element e = ((b·H + h)·L + i)·L + j (sequence coordinates, whatever the layout) is
//   kept iff (word (e & 3) of philox4x32([e >> 2, site, 0, DROP], [seed, step])) >> 8 ≥ threshold
//   (src/backend/philox.ts, bit for bit); keep_scale = 1/(1-p). threshold = 0 keeps everything without
//   drawing (p = 0: keep_scale = 1).
//   Backward: dP_ij = keep_ij · keep_scale · (dout_i · v_j), delta_i = Σ_j P_ij dP_ij = dout_i · out_i,
//   dS_ij = P_ij (dP_ij - delta_i) · scale; dq_i = Σ_j dS_ij k_j, dk_j = Σ_i dS_ij q_i,
//   dv_j = Σ_i keep_ij · keep_scale · P_ij · dout_i.
//   PADDING KEYS (key_padding = 0), IN CLOSED FORM. The n_p = start_b padding keys of a sequence are all
//   one key and value; only their dropout bits differ, and those are counted: for a query row i ≥
//   start_b of head h, s_p = (q_i · pad_k)·scale, c_i = the number of kept j < start_b (n_p without
//   dropout), P_pad = exp(s_p − lse_i) each. No kernel walks a key tile wholly below start_b; the tile
//   that straddles it masks j < start_b in every mode (is_valid), and:
//   - forward: the online softmax starts from m = s_p, l = n_p, o = c_i · v_pad (times keep_scale where
//     the path applies it), so lse counts all n_p copies;
//   - dq kernel: G_i = P_pad · (keep_scale · c_i · (dout_i · v_pad) − n_p · delta_i) (Σ_j dS_ij / scale
//     over the padding keys); dq_i starts from scale · G_i · pad_k; their dk, dv (no row) are
//     pad_dk += Σ_i scale · G_i · q_i and pad_dv += Σ_i keep_scale · c_i · P_pad · dout_i over every
//     sequence's rows: each dq CTA (b, h, query tile) sums its rows in order into chunk b · tiles +
//     blockIdx.y of `partials`, columns h·hd + c (dk) and H·hd + h·hd + c (dv), from the staged q and
//     dout its dq products use (0 for a CTA without real rows or padding keys);
//     attention_pad_key_sums then adds Σ over the B · tiles chunks (column_sums.cuh's order) into
//     pad_dk, pad_dv (+=, f32 [H·hd]);
//   - dk/dv kernel: real keys only (the padding keys' gradients are the dq kernel's).
//   The closed form is exact fp32 arithmetic on P_pad (no bf16 rounding of P or dS on the tensor-core
//   path): it differs from a walk over the padding keys by rounding only.
//
// SAVED FOR BACKWARD: lse [B × H × L] f32 at (b·H + h)·L + i, the natural-log log-sum-exp of row i's
// valid scaled scores (P_ij = exp(s_ij - lse_i)), +inf at padding positions. Backward's scratch: delta
// [B × H × L] f32, same layout (0 at padding positions; written by attention_delta, then only read, by
// the dq and the dk/dv kernels alike), and partials [B · tiles × 2·H·hd] f32 (tiles = ⌈L / BQ⌉ of the
// dq kernel that runs; the workspace is sized for the smallest BQ of either path).
// OVERWRITES: out, lse, delta, dq, dk, dv (the sequences' rows), partials. ACCUMULATES (+=): pad_dk, pad_dv.
// The backward kernels read lse and delta only at positions ≥ start_b (+inf and 0 elsewhere).
// BACKWARD ORDER: attention_delta first; then the dq kernel (with attention_pad_key_sums after it) and
// the dk/dv kernel in either order or at once: they share only inputs (dout, q, k, v, lse, delta) and
// write disjoint outputs (dq and partials; dk and dv), so the launcher may run them on two streams.
//
// TWO PATHS, one contract. The launchers (src/backend/cuda/attention-kernels.ts) pick per call:
//   tensor cores  bf16 q, k, v, out and hd ∈ {32, 64, 128}: attention_*_mma_<hd> (second half of this
//                 file), FlashAttention-2 on mma.sync m16n8k16 (bf16 operands, fp32 accumulators);
//                 P and dS are rounded to bf16 before their products, dout when it is staged.
//   SIMT          everything else (f32 operands: the fp32 parity mode; other widths): fp32 throughout.
// Both draw the same dropout bits and save the same lse (natural log), so either backward may follow
// either forward.
//
// SIMT KERNELS (256 threads as 16 × 16: tx = thread % 16 owns key columns tx + 16·cb of a score tile and
// output columns tx + 16·n; ty = thread / 16 owns query rows ty + 16·ra; BQ = 16·RA queries × BK = 16·CB keys)
//   attention_forward_<W>      grid (B·H, ⌈L/BQ⌉): a CTA owns a query tile (the causally heaviest first)
//                              and streams key tiles through shared memory with an online max / sum;
//                              writes out and lse.
//   attention_delta            ⌈B·L·H / 128⌉ CTAs of 128: a warp per 32 (position, head) tasks in delta's
//                              order, G-lane groups (G·8 ≥ hd) per real task: delta = dout · out in the
//                              delta section's SUM ORDER (both paths: the only kernel that writes delta).
//   attention_backward_kv_<W>  grid (B·H, ⌈L/BK⌉): a CTA owns a key tile, streams the query tiles that
//                              see it, recomputes P from lse, and forms dk, dv in registers.
//   attention_backward_q_<W>   grid (B·H, ⌈L/BQ⌉): a CTA owns a query tile, streams its key tiles, forms dq;
//                              the padding keys' closed form and its chunk of partials first (the 16
//                              threads of a row split each row's sums and counts).
//   attention_last_forward_<VEC>  grid (B·H): evaluation's query of each sequence's last position only
//                              (q and out one row per sequence; its section below holds the contract),
//                              VEC ∈ {8, 4, 2, 1} the elements a lane loads at once.
// TENSOR-CORE KERNELS (128 threads = 4 warps, each owning 16 rows of the CTA's 64-row tile)
//   attention_forward_mma_<D>      grid (B·H, ⌈L/64⌉): 64 queries (heaviest first), key tiles of 64.
//   attention_backward_kv_mma_<D>  grid (B·H, ⌈L/64⌉): 64 keys; query tiles of 64 (32 at D = 128).
//   attention_backward_q_mma_<D>   grid (B·H, ⌈L/64⌉): 64 queries (heaviest first), key tiles of 64; the
//                                  padding keys' closed form and its chunk of partials first (the quad
//                                  of a row splits the row's sums and counts).
// attention_pad_key_sums (both paths, key_padding = 0): grid (⌈H·hd/32⌉, 2) of 32 × 32 threads.
// Each output element is written once by one thread, its sums taken in a fixed order: deterministic.
// Causal tiles wholly above the diagonal are never visited, nor are tiles wholly in the padding (as
// queries or as keys).
// SHAPES: SIMT: hd ≤ W for W ∈ {32, 64, 128, 256} (launchers pick the smallest); columns past hd and rows
// past L are zero in shared memory and masked. Tensor cores: hd = D exactly, pointers 16-byte aligned
// (pad_k, pad_v: any 4-byte alignment, read by element); rows past L are zero in shared memory and masked. Any B, L, H,
// hd ≥ 1; global offsets are 64-bit.

#include <cuda_bf16.h>
#include <stdint.h>

#include "column_sums.cuh"
#include "philox.cuh"
#include "step.cuh"

#define ATTN_THREADS 256
#define ATTN_DROPOUT_STREAM PHILOX_DROPOUT_STREAM



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
  int start;       // this CTA's sequence's first non-padding position, L − len (L when it is empty)
  int pad_keys;    // 1: the padding keys j < start are seen (key_padding = 0), added in closed form
  long long base;  // first − start: position i ≥ start is row base + i (no other position is addressed)
};

// The dropout of one call: threshold = 0 keeps everything (no Philox at all).
struct AttnDropout {
  uint32_t seed, step, site, threshold;
  float keep_scale;
};

__device__ __forceinline__ float load_operand(const void* p, size_t idx, int bf16) {
  return bf16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(p)[idx]) : static_cast<const float*>(p)[idx];
}

// Offset of head h's columns of position i (≥ d.start: it has a row) in a [rows × H·hd] tensor.
__device__ __forceinline__ size_t attn_at(const AttnDims& d, int i, int h) {
  return static_cast<size_t>(d.base + i) * (static_cast<size_t>(d.H) * d.hd) + static_cast<size_t>(h) * d.hd;
}

// A padding key's element as a k or v row of dtype bf16 would hold it: rounded to bf16 when bf16 = 1.
__device__ __forceinline__ float attn_pad_value(const float* pad, int idx, int bf16) {
  const float x = pad[idx];
  return bf16 ? __bfloat162float(__float2bfloat16_rn(x)) : x;
}

// Positions r0 .. r0+R-1 of the CTA's sequence, head h of x (f32 or bf16) into s[R][W + 1]: a position
// ≥ start from its row; zero at padding positions (no row; as keys they are masked), past L and past hd.
template <int R, int W>
__device__ __forceinline__ void load_tile(float* s, const void* x, int bf16, int h, int r0, const AttnDims& d) {
  for (int idx = threadIdx.x; idx < R * W; idx += ATTN_THREADS) {
    const int r = idx / W, c = idx % W, i = r0 + r;
    s[r * (W + 1) + c] = i >= d.start && i < d.L && c < d.hd ? load_operand(x, attn_at(d, i, h) + c, bf16) : 0.f;
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

// Whether key j is one of row i's keys that have a row (j ≥ start: the padding keys, when seen, are added
// in closed form instead). A padding row may see no key at all: like rows past L it keeps l = 0 (or the
// padding keys' part) and is never stored.
__device__ __forceinline__ bool is_valid(int i, int j, const AttnDims& d) {
  return i < d.L && j < d.L && (!d.causal || j <= i) && j >= d.start;
}

// Whether every row r0 .. r0+R-1 (below L) is padding: such a tile is skipped.
__device__ __forceinline__ bool attn_all_padding(int r0, int R, const AttnDims& d) { return min(r0 + R, d.L) <= d.start; }

// The first key tile walked: tiles wholly in the padding are skipped (padding keys seen: closed form).
__device__ __forceinline__ int attn_first_key_tile(int BK, const AttnDims& d) { return d.start / BK; }

// lse of the padding rows r0 .. r0+R-1 (below L) of head bh = b·H + h: +inf, for the query tiles that are
// skipped (such rows have no out row; lse stays defined, P = 0).
__device__ __forceinline__ void attn_padding_lse(float* lse, int bh, int r0, int R, const AttnDims& d) {
  const int rows = min(R, d.L - r0);
  for (int r = threadIdx.x; r < rows; r += blockDim.x) lse[static_cast<size_t>(bh) * d.L + r0 + r] = INFINITY;
}

// lse and delta of query position i as the backward kernels read them: padding rows and rows past L
// have P = 0 (lse +inf) and delta 0, whatever the workspace holds there.
__device__ __forceinline__ float attn_lse_of(const float* lse, int bh, int i, const AttnDims& d) {
  return i >= d.start && i < d.L ? lse[static_cast<size_t>(bh) * d.L + i] : INFINITY;
}
__device__ __forceinline__ float attn_delta_of(const float* delta, int bh, int i, const AttnDims& d) {
  return i >= d.start && i < d.L ? delta[static_cast<size_t>(bh) * d.L + i] : 0.f;
}

// ---------------------------------------------------------------------------------------------------
// The padding keys in closed form (pad_keys: key_padding = 0). The start keys j < start of a sequence
// are one key (pad_k) and one value (pad_v); only their dropout bits differ, and those are counted.

// This thread's share of the kept padding keys of query row i (start ≤ i < L) of head bh: the keep bits
// of elements ((bh·L + i)·L + j, j < start), drawn one Philox call per aligned group of 4 elements as
// make_keep draws them; the thread takes the row's groups part, part + parts, … (its callers add the
// shares of parts threads: an exact integer count, carried in a float below 2^24).
__device__ __forceinline__ float attn_pad_kept_part(int bh, int i, int part, int parts, const AttnDims& d, const AttnDropout& drop) {
  const uint64_t e0 = (static_cast<uint64_t>(bh) * d.L + i) * d.L;
  // Group g0 + k (the Philox counter: the low 32 bits of the group index) holds keys 4k + t − skew.
  const uint32_t g0 = static_cast<uint32_t>(e0 >> 2);
  const int skew = static_cast<int>(e0 & 3u);
  int kept = 0;
  for (int k = part; 4 * k - skew < d.start; k += parts) {
    const uint4 w = philox4x32(g0 + static_cast<uint32_t>(k), drop.site, 0u, ATTN_DROPOUT_STREAM, drop.seed, drop.step);
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const int j = 4 * k + t - skew;
      kept += j >= 0 && j < d.start && (word_of(w, t) >> 8) >= drop.threshold;
    }
  }
  return static_cast<float>(kept);
}

__device__ __forceinline__ float attn_to_float(float x) { return x; }
__device__ __forceinline__ float attn_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

// Chunk (b, query tile) of the padding keys' gradient partials [B·tiles × 2·H·hd] (tiles = gridDim.y of
// the dq kernel): dk in columns h·hd + c, dv in H·hd + h·hd + c (attention_pad_key_sums adds them up).
__device__ __forceinline__ float* attn_partial_chunk(float* partials, int b, const AttnDims& d) {
  return partials + (static_cast<size_t>(b) * gridDim.y + blockIdx.y) * (2 * static_cast<size_t>(d.H) * d.hd);
}

// A dq CTA whose rows see no padding key (none, or no real row): its chunk's head h columns are 0.
__device__ __forceinline__ void attn_zero_partial(float* chunk, int h, const AttnDims& d) {
  const size_t HD = static_cast<size_t>(d.H) * d.hd;
  for (int c = threadIdx.x; c < d.hd; c += blockDim.x) chunk[static_cast<size_t>(h) * d.hd + c] = chunk[HD + static_cast<size_t>(h) * d.hd + c] = 0.f;
}

// The dq CTA's padding-key partial from its R query rows' weights: thread c < hd writes dk column c =
// Σ_r gs[r] · Qs[r][c] and dv column c = Σ_r ws[r] · dOs[r][c], rows in order (gs = scale · G_r, ws =
// keep_scale · c_r · P_pad,r; 0 for rows that are not the sequence's). Qs, dOs: the staged tiles (row
// stride S), the very values the CTA's dq products use.
template <int R, int S, typename T>
__device__ __forceinline__ void attn_pad_partial(float* chunk, const float* gs, const float* ws, const T* Qs, const T* dOs, int h, const AttnDims& d) {
  const size_t HD = static_cast<size_t>(d.H) * d.hd;
  for (int c = threadIdx.x; c < d.hd; c += blockDim.x) {
    float sk = 0.f, sv = 0.f;
    for (int r = 0; r < R; ++r) {
      sk = fmaf(gs[r], attn_to_float(Qs[r * S + c]), sk);
      sv = fmaf(ws[r], attn_to_float(dOs[r * S + c]), sv);
    }
    chunk[static_cast<size_t>(h) * d.hd + c] = sk;
    chunk[HD + static_cast<size_t>(h) * d.hd + c] = sv;
  }
}

// ---------------------------------------------------------------------------------------------------
// Forward.

template <int W>
__device__ __forceinline__ void attention_forward(void* __restrict__ out, float* __restrict__ lse, const void* __restrict__ q,
                                                  const void* __restrict__ k, const void* __restrict__ v, const float* __restrict__ pad_k,
                                                  const float* __restrict__ pad_v, const AttnDims d, const AttnDropout drop) {
  constexpr int RA = AttnTile<W>::RA, CB = AttnTile<W>::CB, BQ = 16 * RA, BK = 16 * CB, HS = W + 1, PS = BK + 1, NC = W / 16;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* Ks = Qs + BQ * HS;
  float* Vs = Ks + BK * HS;
  float* Ps = Vs + BK * HS;
  uint8_t* keep = reinterpret_cast<uint8_t*>(Ps + BQ * PS);

  const int bh = blockIdx.x, h = bh % d.H;
  const int nq = (d.L + BQ - 1) / BQ, q0 = (nq - 1 - static_cast<int>(blockIdx.y)) * BQ;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const bool dropout = drop.threshold != 0u;
  const int nk_all = (d.L + BK - 1) / BK;
  const int nk = d.causal ? min(nk_all, (min(q0 + BQ, d.L) - 1) / BK + 1) : nk_all;
  if (attn_all_padding(q0, BQ, d)) {
    attn_padding_lse(lse, bh, q0, BQ, d);
    return;
  }

  load_tile<BQ, W>(Qs, q, d.bf16, h, q0, d);

  float m[RA], l[RA], o[RA][NC];
#pragma unroll
  for (int ra = 0; ra < RA; ++ra) {
    m[ra] = -INFINITY;
    l[ra] = 0.f;
#pragma unroll
    for (int n = 0; n < NC; ++n) o[ra][n] = 0.f;
  }
  // The padding keys seen: the online softmax starts from them, m = s_p, l = start (each copy exp(0) = 1
  // in m's units), o = keep_scale · (kept copies) · v_pad; the 16 threads of a row split the work.
  if (d.pad_keys && d.start > 0) {
    __syncthreads();  // Qs staged
#pragma unroll
    for (int ra = 0; ra < RA; ++ra) {
      const int r = ty + 16 * ra, i = q0 + r;
      float dot = 0.f;
      for (int c = tx; c < d.hd; c += 16) dot = fmaf(Qs[r * HS + c], attn_pad_value(pad_k, h * d.hd + c, d.bf16), dot);
      const bool real = i >= d.start && i < d.L;
      const float kept = dropout ? row_sum(real ? attn_pad_kept_part(bh, i, tx, 16, d, drop) : 0.f) : static_cast<float>(d.start);
      m[ra] = row_sum(dot) * d.scale;
      l[ra] = static_cast<float>(d.start);
#pragma unroll
      for (int n = 0; n < NC; ++n) {
        const int c = tx + 16 * n;
        o[ra][n] = c < d.hd ? drop.keep_scale * kept * attn_pad_value(pad_v, h * d.hd + c, d.bf16) : 0.f;
      }
    }
  }

  for (int kt = attn_first_key_tile(BK, d); kt < nk; ++kt) {
    const int k0 = kt * BK;
    __syncthreads();  // the previous tile's Ks, Vs, Ps, keep are consumed
    load_tile<BK, W>(Ks, k, d.bf16, h, k0, d);
    load_tile<BK, W>(Vs, v, d.bf16, h, k0, d);
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
      // A row of the sequence sees key start in its first tile (or the padding keys before), so m_new is
      // finite; padding rows and rows past L may see no key: the guard keeps their exp() off -inf - -inf
      // (they stay at l = 0 and are never stored).
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

#pragma unroll
  for (int ra = 0; ra < RA; ++ra) {
    const int i = q0 + ty + 16 * ra;
    if (i >= d.L) continue;
    // A padding row has no out row: only its lse (+inf) is stored.
    const bool pad = i < d.start;
    if (tx == 0) lse[static_cast<size_t>(bh) * d.L + i] = pad ? INFINITY : m[ra] + logf(l[ra]);
    if (pad) continue;
    const float inv = 1.f / l[ra];
    const size_t row = attn_at(d, i, h);
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

// delta[(b·H + h)·L + i] = dout_row · out_row over head h's columns, the row of sequence b's position i
// (seqs: (first_b, len_b)); 0 at padding positions (no row: delta stays defined). Tasks t = (b·H + h)·L + i
// (delta's own order: consecutive positions of one head, consecutive rows). A warp owns a tile of 32
// tasks: each lane decodes one, padding tasks cost that and a zero; the tile's real tasks are queued
// (row offsets in shared memory) and taken ATTN_DELTA_ROUND per G-lane group at once, so their 16-byte
// loads are in flight together; the sums come back through shared memory for one coalesced store.
// SUM ORDER (a function of hd only, the same on both paths; defined by attn_delta_tasks below, the one
// code that sums delta, and emulated bit for bit by test/gpu/attention.test.ts deltaF32): chunk k of a
// task is columns 8k .. 8k+7; lane g of the task's group of G lanes (G = the smallest power of 2 ≥
// ⌈hd/8⌉, at most 32) adds chunks k = g, g + G, … in turn, each chunk's 8 products in column order, by
// fmaf into one running sum from 0; then the G lanes' sums are added by an xor butterfly over offsets
// G/2, …, 1. The 16-byte path (hd % 8 = 0, dout and out 16-byte aligned) and the element path
// (otherwise: columns past hd count as 0 · 0) take the same steps: the same bits. dout and out are read
// from global memory as they are (dout f32, out f32 or bf16; not the tensor-core path's bf16 staging of
// dout).

#define ATTN_DELTA_THREADS 128
#define ATTN_DELTA_WARPS (ATTN_DELTA_THREADS / 32)
#define ATTN_DELTA_ROUND 2  // tasks per lane group whose loads are in flight at once (64 registers: 8 CTAs per SM)

// A warp's tile: its real tasks in order (row offset of head h's columns, lane of the task), and every
// lane's delta (0 for padding and tasks past the end).
struct AttnDeltaTile {
  size_t at[32];
  int lane[32];
  float sum[32];
};

// 8 consecutive elements of x from element offset at into v: one or two 16-byte loads when vec, else
// element by element, elements n and past 0 (n: how many of the 8 are in the head). dout's chunks: read
// again by the backward kernels after this one, so cached as usual.
__device__ __forceinline__ void attn_delta_chunk(float (&v)[8], const float* x, size_t at, int n, bool vec) {
  if (vec) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(x + at)), b = __ldg(reinterpret_cast<const float4*>(x + at) + 1);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = e < n ? __ldg(x + at + e) : 0.f;
  }
}
// out's chunks (f32, then bf16), likewise: out is read by no kernel after this one, so its loads stream
// (evict first) and leave L2 to dout.
__device__ __forceinline__ void attn_delta_chunk_out(float (&v)[8], const float* x, size_t at, int n, bool vec) {
  if (vec) {
    const float4 a = __ldcs(reinterpret_cast<const float4*>(x + at)), b = __ldcs(reinterpret_cast<const float4*>(x + at) + 1);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = e < n ? __ldcs(x + at + e) : 0.f;
  }
}
__device__ __forceinline__ void attn_delta_chunk_out(float (&v)[8], const __nv_bfloat16* x, size_t at, int n, bool vec) {
  if (vec) {
    const uint4 w = __ldcs(reinterpret_cast<const uint4*>(x + at));
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) {  // element 2e in the low half of word e (little endian)
      v[2 * e] = __uint_as_float(words[e] << 16);
      v[2 * e + 1] = __uint_as_float(words[e] & 0xffff0000u);
    }
  } else {
    const unsigned short* bits = reinterpret_cast<const unsigned short*>(x);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = e < n ? __uint_as_float(static_cast<uint32_t>(__ldcs(bits + at + e)) << 16) : 0.f;
  }
}

// The tile's `count` queued tasks, ATTN_DELTA_ROUND per group of G = 2^log_g lanes per round (group s of
// the warp takes queue entries n0 + u·S + s, S = 32 / G groups); each task's sum into tile.sum at its lane.
template <typename T>
__device__ __forceinline__ void attn_delta_tasks(AttnDeltaTile& tile, int count, const float* __restrict__ dout, const T* __restrict__ out,
                                                 int hd, int log_g, bool vec) {
  constexpr int U = ATTN_DELTA_ROUND;
  const int lane = threadIdx.x % 32, G = 1 << log_g, g = lane & (G - 1), S = 32 >> log_g, s = lane >> log_g;
  for (int n0 = 0; n0 < count; n0 += S * U) {
    size_t at[U];
    bool live[U];
    float sum[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int n = n0 + u * S + s;
      live[u] = n < count;
      at[u] = live[u] ? tile.at[n] : 0;
      sum[u] = 0.f;
    }
    for (int k = g; 8 * k < hd; k += G) {
      float a[U][8], o[U][8];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (live[u]) {
          attn_delta_chunk(a[u], dout, at[u] + 8 * k, hd - 8 * k, vec);
          attn_delta_chunk_out(o[u], out, at[u] + 8 * k, hd - 8 * k, vec);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (live[u]) {
#pragma unroll
          for (int e = 0; e < 8; ++e) sum[u] = fmaf(a[u][e], o[u][e], sum[u]);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      for (int off = G / 2; off > 0; off >>= 1) sum[u] += __shfl_xor_sync(0xffffffffu, sum[u], off);
      if (g == 0 && live[u]) tile.sum[tile.lane[n0 + u * S + s]] = sum[u];
    }
  }
}

// Grid ⌈B·L·H / (32 · ATTN_DELTA_WARPS)⌉ CTAs of ATTN_DELTA_THREADS: warp w of CTA c owns tasks
// 32·(c·ATTN_DELTA_WARPS + w) .. +31. B·L·H < 2^31 (the launcher checks it).
extern "C" __global__ void __launch_bounds__(ATTN_DELTA_THREADS) attention_delta(float* __restrict__ delta, const float* __restrict__ dout,
                                                                                const void* __restrict__ out, const int* __restrict__ seqs,
                                                                                int B, int L, int H, int hd, int bf16) {
  __shared__ AttnDeltaTile tiles[ATTN_DELTA_WARPS];
  const int lane = threadIdx.x % 32;
  AttnDeltaTile& tile = tiles[threadIdx.x / 32];
  const uint32_t tasks = static_cast<uint32_t>(B) * L * H;
  const uint32_t t = (blockIdx.x * ATTN_DELTA_WARPS + threadIdx.x / 32) * 32u + lane;

  bool real = false;
  size_t at = 0;
  if (t < tasks) {
    const uint32_t bh = t / L, i = t - bh * L, b = bh / H, h = bh - b * H;
    const int len = min(max(seqs[2 * b + 1], 0), L), start = L - len;
    if (static_cast<int>(i) >= start) {
      real = true;
      at = static_cast<size_t>(static_cast<long long>(seqs[2 * b]) - start + i) * (static_cast<size_t>(H) * hd) + static_cast<size_t>(h) * hd;
    }
  }
  const uint32_t queued = __ballot_sync(0xffffffffu, real);
  if (real) {
    const int n = __popc(queued & ((1u << lane) - 1u));
    tile.at[n] = at;
    tile.lane[n] = lane;
  }
  tile.sum[lane] = 0.f;
  __syncwarp();

  const int count = __popc(queued);
  if (count > 0) {
    int log_g = 0;  // G = 2^log_g lanes per task: the smallest power of 2 with 8·G ≥ hd, at most 32
    while (log_g < 5 && (8 << log_g) < hd) ++log_g;
    const bool vec = hd % 8 == 0 && ((reinterpret_cast<uintptr_t>(dout) | reinterpret_cast<uintptr_t>(out)) & 15u) == 0;
    if (bf16) attn_delta_tasks(tile, count, dout, static_cast<const __nv_bfloat16*>(out), hd, log_g, vec);
    else attn_delta_tasks(tile, count, dout, static_cast<const float*>(out), hd, log_g, vec);
    __syncwarp();
  }
  if (t < tasks) delta[t] = tile.sum[lane];
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

  const int bh = blockIdx.x, h = bh % d.H;
  const int k0 = blockIdx.y * BK;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const bool dropout = drop.threshold != 0u;
  const int nq = (d.L + BQ - 1) / BQ;
  // Nothing to do: an empty sequence, or a tile wholly in the padding (no row to write; padding keys
  // seen: their gradients are the dq kernel's closed form).
  if (d.start == d.L || min(k0 + BK, d.L) <= d.start) return;

  load_tile<BK, W>(Ks, k, d.bf16, h, k0, d);
  load_tile<BK, W>(Vs, v, d.bf16, h, k0, d);

  // Rows ty + 16·cb of the key tile, columns tx + 16·n.
  float dk_acc[CB][NC], dv_acc[CB][NC];
#pragma unroll
  for (int cb = 0; cb < CB; ++cb)
#pragma unroll
    for (int n = 0; n < NC; ++n) dk_acc[cb][n] = dv_acc[cb][n] = 0.f;

  // Query tiles wholly in the padding contribute nothing (their P is 0).
  for (int qt = max(d.causal ? k0 / BQ : 0, d.start / BQ); qt < nq; ++qt) {
    const int q0 = qt * BQ;
    __syncthreads();  // the previous tile's Qs, dOs, Ps, dSs, keep are consumed
    load_tile<BQ, W>(Qs, q, d.bf16, h, q0, d);
    load_tile<BQ, W>(dOs, dout, 0, h, q0, d);
    for (int r = threadIdx.x; r < BQ; r += ATTN_THREADS) {
      // Padding rows and rows past L: lse = +inf makes P = 0 (they are masked as well).
      lse_s[r] = attn_lse_of(lse, bh, q0 + r, d);
      delta_s[r] = attn_delta_of(delta, bh, q0 + r, d);
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

#pragma unroll
  for (int cb = 0; cb < CB; ++cb) {
    const int j = k0 + ty + 16 * cb;
    if (j >= d.L || j < d.start) continue;  // past L, or a padding key: no row
    const size_t row = attn_at(d, j, h);
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
__device__ __forceinline__ void attention_backward_q(float* __restrict__ dq, float* __restrict__ partials, const float* __restrict__ dout,
                                                     const void* __restrict__ q, const void* __restrict__ k, const void* __restrict__ v,
                                                     const float* __restrict__ pad_k, const float* __restrict__ pad_v,
                                                     const float* __restrict__ lse, const float* __restrict__ delta, const AttnDims d,
                                                     const AttnDropout drop) {
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
  if (attn_all_padding(q0, BQ, d)) {  // padding rows have no dq row, nor a padding-key gradient
    if (d.pad_keys) attn_zero_partial(attn_partial_chunk(partials, b, d), h, d);
    return;
  }

  load_tile<BQ, W>(Qs, q, d.bf16, h, q0, d);
  load_tile<BQ, W>(dOs, dout, 0, h, q0, d);
  float lse_r[RA], delta_r[RA], acc[RA][NC];
#pragma unroll
  for (int ra = 0; ra < RA; ++ra) {
    const int i = q0 + ty + 16 * ra;
    lse_r[ra] = attn_lse_of(lse, bh, i, d);
    delta_r[ra] = attn_delta_of(delta, bh, i, d);
#pragma unroll
    for (int n = 0; n < NC; ++n) acc[ra][n] = 0.f;
  }
  // The padding keys seen, in closed form: a row's Σ_j dS_ij over them is g = scale · P_pad · (keep_scale
  // · kept · (dout_i · v_pad) − start · delta_i); dq starts from g · k_pad, and the CTA's rows' g · q_i and
  // keep_scale · kept · P_pad · dout_i go into its chunk of partials (the padding keys' dk, dv).
  if (d.pad_keys) {
    float* chunk = attn_partial_chunk(partials, b, d);
    if (d.start == 0) {
      attn_zero_partial(chunk, h, d);
    } else {
      float* gs = Ks;  // [BQ] each, in Ks: free until the first key tile
      float* ws = Ks + BQ;
      __syncthreads();  // Qs, dOs staged
#pragma unroll
      for (int ra = 0; ra < RA; ++ra) {
        const int r = ty + 16 * ra, i = q0 + r;
        float qk = 0.f, dov = 0.f;
        for (int c = tx; c < d.hd; c += 16) {
          qk = fmaf(Qs[r * HS + c], attn_pad_value(pad_k, h * d.hd + c, d.bf16), qk);
          dov = fmaf(dOs[r * HS + c], attn_pad_value(pad_v, h * d.hd + c, d.bf16), dov);
        }
        const bool real = i >= d.start && i < d.L;
        const float kept = dropout ? row_sum(real ? attn_pad_kept_part(bh, i, tx, 16, d, drop) : 0.f) : static_cast<float>(d.start);
        qk = row_sum(qk);
        dov = row_sum(dov);
        const float p = real ? expf(qk * d.scale - lse_r[ra]) : 0.f;
        const float g = p * (drop.keep_scale * kept * dov - static_cast<float>(d.start) * delta_r[ra]) * d.scale;
#pragma unroll
        for (int n = 0; n < NC; ++n) {
          const int c = tx + 16 * n;
          if (c < d.hd) acc[ra][n] = g * attn_pad_value(pad_k, h * d.hd + c, d.bf16);
        }
        if (tx == 0) {
          gs[r] = g;
          ws[r] = drop.keep_scale * kept * p;
        }
      }
      __syncthreads();
      attn_pad_partial<BQ, HS>(chunk, gs, ws, Qs, dOs, h, d);
    }
  }

  for (int kt = attn_first_key_tile(BK, d); kt < nk; ++kt) {
    const int k0 = kt * BK;
    __syncthreads();  // the previous tile's Ks, Vs, dSs, keep are consumed
    load_tile<BK, W>(Ks, k, d.bf16, h, k0, d);
    load_tile<BK, W>(Vs, v, d.bf16, h, k0, d);
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

#pragma unroll
  for (int ra = 0; ra < RA; ++ra) {
    const int i = q0 + ty + 16 * ra;
    if (i >= d.L || i < d.start) continue;  // past L, or a padding row: no row
    const size_t row = attn_at(d, i, h);
#pragma unroll
    for (int n = 0; n < NC; ++n) {
      const int c = tx + 16 * n;
      if (c < d.hd) dq[row + c] = acc[ra][n];
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Entry points, one per width W (the launchers pick the smallest W ≥ hd).

#define ATTN_DIMS attn_dims(L, H, hd, causal, bf16, scale, seqs, key_padding)
// The dims of this CTA's sequence (blockIdx.x = b·H + h), from seqs[b] = (first_b, len_b).
__device__ __forceinline__ AttnDims attn_dims(int L, int H, int hd, int causal, int bf16, float scale, const int* seqs, int key_padding) {
  const int b = blockIdx.x / H;
  const int len = min(max(seqs[2 * b + 1], 0), L), start = L - len;
  const long long base = len > 0 ? static_cast<long long>(seqs[2 * b]) - start : 0;
  return AttnDims{L, H, hd, causal, bf16, scale, start, key_padding ? 0 : 1, base};
}

#define ATTN_DROP AttnDropout{seed, step_of(step, counters), site, threshold, keep_scale}
// pad_k, pad_v: f32 [H·hd], the padding keys' key and value (null with key_padding).
#define ATTN_PARAMS                                                                                                                      \
  int L, int H, int hd, int causal, int bf16, float scale, uint32_t seed, uint32_t step, uint32_t site, uint32_t threshold, float keep_scale, \
      const int* counters, const int* seqs, int key_padding, const float* pad_k, const float* pad_v

#define ATTN_ENTRIES(W)                                                                                                                  \
  extern "C" __global__ void __launch_bounds__(ATTN_THREADS)                                                                           \
      attention_forward_##W(void* out, float* lse, const void* q, const void* k, const void* v, ATTN_PARAMS) {                        \
    attention_forward<W>(out, lse, q, k, v, pad_k, pad_v, ATTN_DIMS, ATTN_DROP);                                                        \
  }                                                                                                                                      \
  extern "C" __global__ void __launch_bounds__(ATTN_THREADS)                                                                           \
      attention_backward_kv_##W(float* dk, float* dv, const float* dout, const void* q, const void* k, const void* v, const float* lse, \
                                const float* delta, ATTN_PARAMS) {                                                                      \
    attention_backward_kv<W>(dk, dv, dout, q, k, v, lse, delta, ATTN_DIMS, ATTN_DROP);                                                  \
  }                                                                                                                                      \
  extern "C" __global__ void __launch_bounds__(ATTN_THREADS)                                                                           \
      attention_backward_q_##W(float* dq, float* partials, const float* dout, const void* q, const void* k, const void* v,             \
                               const float* lse, const float* delta, ATTN_PARAMS) {                                                    \
    attention_backward_q<W>(dq, partials, dout, q, k, v, pad_k, pad_v, lse, delta, ATTN_DIMS, ATTN_DROP);                               \
  }

ATTN_ENTRIES(32)
ATTN_ENTRIES(64)
ATTN_ENTRIES(128)
ATTN_ENTRIES(256)

// ---------------------------------------------------------------------------------------------------
// Evaluation: each sequence's last position only (ops.ts attentionLastForward; CPU attentionLastPart).
//   q, out [B × H·hd]   row b is position L − 1 of sequence b (one row per sequence); f32 or bf16 like k, v
//   k, v   [rows × H·hd], seqs, pad_k, pad_v as above. Position L − 1 sees every key j < L (causal or not),
//   from start_b on with key_padding (else the start_b padding keys j < start_b too: one key pad_k and
//   value pad_v, in closed form); an empty sequence (start_b = L) gets out 0. No dropout; nothing is
//   saved; out is overwritten. Any L, any hd ≤ 256, any 4-byte (f32) or 2-byte (bf16) alignment.
//   attention_last_forward_<VEC>  grid (B·H), ATTN_LAST_THREADS = 256 threads: a CTA owns (b, h) and
//     reads the sequence's key and value rows of head h once, in one pass (an online softmax, as flash
//     decoding).
//     CHUNKS: a row's hd columns are C = hd / VEC chunks of VEC consecutive elements; the launcher runs
//       the entry point of the largest VEC of 8, 4, 2, 1 that divides hd and whose loads (min(16, VEC ·
//       element bytes)) q, k and v are aligned for: 16-byte loads at bf16 and hd % 8 = 0, two of them at
//       f32. (One entry point per VEC: a kernel's registers are the most any of its paths needs, and
//       VEC 8 fits 64 without spilling only on its own.) A GROUP of G = min(32, 2^⌈log2 C⌉) lanes reads
//       one row, coalesced: lane g its chunks g + G·n (a lane owns at most ATTN_LAST_COLS = 8 columns),
//       with q's same columns in registers. NG = 256 / G groups: 16 at hd 128 and VEC 8, 32 at hd 64.
//     ROUNDS: round r hands group g the keys j = start + r·NG·U + u·NG + g, u < U (U = 4 at bf16 and VEC
//       8: 16 registers of key loads and 16 of value loads a lane; fewer keys at the other widths). A
//       lane issues all 2U loads of a round before it uses one, and (VEC ≥ 2) a prefetch into L2 of its
//       chunks two rounds ahead (round 1 before the first), so that a round's loads can find their rows
//       in L2. s_j = (the lanes' partial dots, added by a butterfly) · scale, the same bits in every lane of
//       the group. The group's max m, sum l and its lanes' o columns are rescaled by exp(m − m') once a
//       round (m' the max with the round's scores), then p_j = exp(s_j − m') are added in u order.
//     COMBINE: each group stores (m, l, o) in shared memory; warp 0 scores the padding keys, s_p =
//       (q · pad_k)·scale, when they are seen; one barrier; M = the max of the groups' m (and s_p), thread
//       g < NG stores w_g = exp(m_g − M) (0 for a group without keys); one barrier; thread c < hd sums
//       l = Σ_g l_g·w_g and o_c = Σ_g o_gc·w_g in group order, then the padding keys' start·exp(s_p − M)
//       (times v_pad for o_c), and stores o_c / l.
//     Fixed orders throughout: deterministic. fp32 arithmetic; a bf16 out is rounded to nearest even.
//   Shared memory: static only (AttnLastShared: the groups' o [256 × 8], m, l, w [256] and s_p), 11,268
//   bytes. Registers: 64 without spills (launch bounds of 4 CTAs an SM; of 3 at VEC 1, which has no
//   prefetch: its 8 chunks a lane leave no registers for their addresses).
//   Cost at ML-20M (B 256, L 512, H 2, hd 128, bf16, ~27,648 key rows a batch): 28 MB of k and v, each
//   byte read by one 16-byte load (and prefetched once); 64 keys a round, 8 rounds for 512 keys.

#define ATTN_LAST_THREADS 256
// CTAs an SM must hold (64 registers a thread): 4 · 132 SMs of an H100 or H200 ≥ 512 CTAs, ML-20M's B·H.
#define ATTN_LAST_MIN_BLOCKS 4
// Columns of a head one lane owns at most: hd ≤ 256 = 32 lanes × 8.
#define ATTN_LAST_COLS 8

__device__ __forceinline__ void store_operand(void* p, size_t idx, int bf16, float value) {
  if (bf16) static_cast<__nv_bfloat16*>(p)[idx] = __float2bfloat16_rn(value);
  else static_cast<float*>(p)[idx] = value;
}

// VEC consecutive elements (f32 or bf16) of one row, as loaded: one load of 2, 4, 8 or 16 bytes, or two
// of 16 (f32, VEC 8); zero when not loaded (the bits of 0.0 in either dtype).
template <bool BF16, int VEC> struct AttnLastChunk {
  static constexpr int BYTES = VEC * (BF16 ? 2 : 4);
  static constexpr int WORDS = BYTES >= 4 ? BYTES / 4 : 1;
  uint32_t w[WORDS];

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < WORDS; ++i) w[i] = 0u;
  }
  // The address of elements idx .. idx + VEC − 1 of x.
  __device__ __forceinline__ static const char* address(const void* x, size_t idx) { return static_cast<const char*>(x) + idx * (BF16 ? 2 : 4); }
  // Elements idx .. idx + VEC − 1 of x (idx a multiple of VEC; x aligned to min(16, BYTES) bytes).
  __device__ __forceinline__ void load(const void* __restrict__ x, size_t idx) {
    const char* p = address(x, idx);
    if constexpr (BYTES == 2) {
      w[0] = __ldg(reinterpret_cast<const unsigned short*>(p));
    } else if constexpr (BYTES == 4) {
      w[0] = __ldg(reinterpret_cast<const unsigned int*>(p));
    } else if constexpr (BYTES == 8) {
      const uint2 a = __ldg(reinterpret_cast<const uint2*>(p));
      w[0] = a.x, w[1] = a.y;
    } else {
#pragma unroll
      for (int i = 0; i < WORDS / 4; ++i) {
        const uint4 a = __ldg(reinterpret_cast<const uint4*>(p) + i);
        w[4 * i] = a.x, w[4 * i + 1] = a.y, w[4 * i + 2] = a.z, w[4 * i + 3] = a.w;
      }
    }
  }
  // Asks L2 for the line holding elements idx .. of x (a hint: no value changes, no fault on a valid address).
  __device__ __forceinline__ static void prefetch(const void* x, size_t idx) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(__cvta_generic_to_global(address(x, idx))));
  }
  // Element e as a float (bf16: element 2i in the low half of word i).
  __device__ __forceinline__ float at(int e) const {
    if constexpr (!BF16) return __uint_as_float(w[e]);
    else if constexpr (BYTES == 2) return __uint_as_float(w[0] << 16);
    else return __uint_as_float(e % 2 == 0 ? w[e / 2] << 16 : w[e / 2] & 0xffff0000u);
  }
};

// x[i] summed over the G lanes of a group, for each i < N (G a power of two ≤ 32, the same in the whole
// warp; groups aligned in the warp); every lane of the warp takes part, and every lane of a group ends
// with the same bits (a + b = b + a at each step). The N butterflies interleave.
template <int N>
__device__ __forceinline__ void attn_group_sums(float (&x)[N], int G) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    if (off < G) {
#pragma unroll
      for (int i = 0; i < N; ++i) x[i] += __shfl_xor_sync(0xffffffffu, x[i], off);
    }
  }
}

// The shared memory of the combine: every group's (m, l, o) and weight, and the padding keys' score.
struct AttnLastShared {
  float o[ATTN_LAST_THREADS * ATTN_LAST_COLS];  // group g's column c at g·hd + c (NG·hd ≤ 256·8: hd/G ≤ 8)
  float m[ATTN_LAST_THREADS], l[ATTN_LAST_THREADS], w[ATTN_LAST_THREADS];
  float sp;
};

// One CTA's (b, h) at chunk width VEC (the section's comment): start < L, so key L − 1 is seen.
template <bool BF16, int VEC>
__device__ __forceinline__ void attention_last(AttnLastShared& sh, void* __restrict__ out, const void* __restrict__ q,
                                               const void* __restrict__ k, const void* __restrict__ v, int L, int H, int hd, float scale,
                                               int h, size_t qrow, int start, long long base, bool pads, const float* __restrict__ pad_k,
                                               const float* __restrict__ pad_v) {
  using Chunk = AttnLastChunk<BF16, VEC>;
  constexpr int NCH = ATTN_LAST_COLS / VEC;  // chunks a lane owns at most
  // Keys a group takes a round, U: U·NCH·WORDS = 16 registers of key loads (and 16 of value loads) a lane
  // at VEC 8, 8 at the other widths (whose lanes hold more chunks, each with its address); 64 in all.
  constexpr int WORDS = NCH * Chunk::WORDS;
  constexpr int U = VEC == 8 ? 16 / WORDS : (WORDS < 8 ? 8 / WORDS : 1);
  const int C = hd / VEC;                                                 // chunks a row
  const int G = C >= 32 ? 32 : (C <= 1 ? 1 : 1 << (32 - __clz(C - 1)));  // lanes a key: 2^⌈log2 C⌉, ≤ 32
  const int NG = ATTN_LAST_THREADS / G;                                   // groups
  const int grp = threadIdx.x / G, gl = threadIdx.x % G;
  const size_t D = static_cast<size_t>(H) * hd, col = static_cast<size_t>(h) * hd;
  const int ahead = 2 * NG * U;  // the prefetch distance in keys: two rounds
  constexpr bool PREFETCH = VEC >= 2;  // (not at VEC 1: see the section's comment)
  // Element index of chunk ch of key j (j ≥ start: a real key, at row base + j).
  auto element = [&](int j, int ch) { return static_cast<size_t>(base + j) * D + col + static_cast<size_t>(ch) * VEC; };

  // Round 1's rows into L2 (round r prefetches round r + 2 below).
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int j = start + NG * U + u * NG + grp;
#pragma unroll
    for (int n = 0; n < NCH; ++n) {
      const int ch = gl + G * n;
      if (PREFETCH && j < L && ch < C) Chunk::prefetch(k, element(j, ch)), Chunk::prefetch(v, element(j, ch));
    }
  }
  // The lane's q columns (chunks gl + G·n; 0 past the row's C chunks).
  float qf[NCH * VEC];
#pragma unroll
  for (int n = 0; n < NCH; ++n) {
    const int ch = gl + G * n;
    Chunk c;
    c.zero();
    if (ch < C) c.load(q, qrow + static_cast<size_t>(ch) * VEC);
#pragma unroll
    for (int e = 0; e < VEC; ++e) qf[n * VEC + e] = c.at(e);
  }

  float m = -INFINITY, l = 0.f, o[NCH * VEC];
#pragma unroll
  for (int i = 0; i < NCH * VEC; ++i) o[i] = 0.f;
  for (int j0 = start; j0 < L; j0 += NG * U) {  // the same trip count in every thread (no barrier inside)
    Chunk kc[U][NCH], vc[U][NCH];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = j0 + u * NG + grp;
#pragma unroll
      for (int n = 0; n < NCH; ++n) {
        const int ch = gl + G * n;
        kc[u][n].zero();
        vc[u][n].zero();
        if (j < L && ch < C) kc[u][n].load(k, element(j, ch)), vc[u][n].load(v, element(j, ch));
        if (PREFETCH && j + ahead < L && ch < C) Chunk::prefetch(k, element(j + ahead, ch)), Chunk::prefetch(v, element(j + ahead, ch));
      }
    }
    float s[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      s[u] = 0.f;
#pragma unroll
      for (int n = 0; n < NCH; ++n) {
#pragma unroll
        for (int e = 0; e < VEC; ++e) s[u] = fmaf(qf[n * VEC + e], kc[u][n].at(e), s[u]);
      }
    }
    attn_group_sums<U>(s, G);
    float mr = m;
#pragma unroll
    for (int u = 0; u < U; ++u) {
      s[u] *= scale;
      if (j0 + u * NG + grp < L) mr = fmaxf(mr, s[u]);
    }
    // mr = m: nothing above the max so far (or no key of this group yet: m = mr = -inf, l and o still 0).
    const float alpha = mr == m ? 1.f : expf(m - mr);
    l *= alpha;
#pragma unroll
    for (int i = 0; i < NCH * VEC; ++i) o[i] *= alpha;
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const float p = j0 + u * NG + grp < L ? expf(s[u] - mr) : 0.f;
      l += p;
#pragma unroll
      for (int n = 0; n < NCH; ++n) {
#pragma unroll
        for (int e = 0; e < VEC; ++e) o[n * VEC + e] = fmaf(p, vc[u][n].at(e), o[n * VEC + e]);
      }
    }
    m = mr;
  }

  // The group's partials (a group without keys: m = -inf, l = 0, o = 0).
  if (gl == 0) sh.m[grp] = m, sh.l[grp] = l;
#pragma unroll
  for (int n = 0; n < NCH; ++n) {
    const int ch = gl + G * n;
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      if (ch < C) sh.o[grp * hd + ch * VEC + e] = o[n * VEC + e];
    }
  }
  // The padding keys' score, by warp 0 (group 0's lanes hold all of q's columns; the whole warp shuffles).
  if (pads && threadIdx.x < 32) {
    float dot[1] = {0.f};
#pragma unroll
    for (int n = 0; n < NCH; ++n) {
      const int ch = gl + G * n;
#pragma unroll
      for (int e = 0; e < VEC; ++e) {
        if (ch < C) dot[0] = fmaf(qf[n * VEC + e], attn_pad_value(pad_k, h * hd + ch * VEC + e, BF16), dot[0]);
      }
    }
    attn_group_sums<1>(dot, G);
    if (threadIdx.x == 0) sh.sp = dot[0] * scale;
  }
  __syncthreads();  // every group's partials and s_p stored
  // M is finite: key L − 1 is seen, and its group's m is at least its score.
  float M = pads ? sh.sp : -INFINITY;
  for (int g = 0; g < NG; ++g) M = fmaxf(M, sh.m[g]);
  if (static_cast<int>(threadIdx.x) < NG) sh.w[threadIdx.x] = expf(sh.m[threadIdx.x] - M);  // exp(-inf) = 0: no keys
  __syncthreads();  // the weights stored
  const float pw = pads ? static_cast<float>(start) * expf(sh.sp - M) : 0.f;  // start padding keys, exp(s_p − M) each
  for (int c = threadIdx.x; c < hd; c += ATTN_LAST_THREADS) {
    float lsum = 0.f, oc = 0.f;
    for (int g = 0; g < NG; ++g) {
      lsum = fmaf(sh.l[g], sh.w[g], lsum);
      oc = fmaf(sh.o[g * hd + c], sh.w[g], oc);
    }
    if (pads) {
      lsum += pw;
      oc = fmaf(pw, attn_pad_value(pad_v, h * hd + c, BF16), oc);
    }
    store_operand(out, qrow + c, BF16, oc / lsum);
  }
}

// One CTA: its (b, h), the empty sequence's zeros, else attention_last at the call's dtype.
template <int VEC>
__device__ __forceinline__ void attention_last_cta(void* __restrict__ out, const void* __restrict__ q, const void* __restrict__ k,
                                                   const void* __restrict__ v, int L, int H, int hd, int bf16, float scale,
                                                   const int* __restrict__ seqs, int key_padding, const float* __restrict__ pad_k,
                                                   const float* __restrict__ pad_v) {
  __shared__ AttnLastShared sh;
  const int b = blockIdx.x / H, h = blockIdx.x % H;
  const size_t qrow = static_cast<size_t>(b) * H * hd + static_cast<size_t>(h) * hd;
  const int len = min(max(seqs[2 * b + 1], 0), L), start = L - len;
  if (start == L) {  // the same for every thread: the whole CTA leaves
    for (int c = threadIdx.x; c < hd; c += ATTN_LAST_THREADS) store_operand(out, qrow + c, bf16, 0.f);
    return;
  }
  const long long base = static_cast<long long>(seqs[2 * b]) - start;
  const bool pads = !key_padding && start > 0;  // the padding keys are seen, and there are some
  if (bf16) attention_last<true, VEC>(sh, out, q, k, v, L, H, hd, scale, h, qrow, start, base, pads, pad_k, pad_v);
  else attention_last<false, VEC>(sh, out, q, k, v, L, H, hd, scale, h, qrow, start, base, pads, pad_k, pad_v);
}

// Entry points, one per chunk width VEC (the launcher picks the widest that hd and the pointers allow);
// MINB: CTAs an SM must hold (registers ≤ 65,536 / (256 · MINB)).
#define ATTN_LAST_ENTRY(VEC, MINB)                                                                                                     \
  extern "C" __global__ void __launch_bounds__(ATTN_LAST_THREADS, MINB)                                                                \
      attention_last_forward_##VEC(void* __restrict__ out, const void* __restrict__ q, const void* __restrict__ k,                     \
                                   const void* __restrict__ v, int L, int H, int hd, int bf16, float scale, const int* __restrict__ seqs, \
                                   int key_padding, const float* __restrict__ pad_k, const float* __restrict__ pad_v) {                 \
    attention_last_cta<VEC>(out, q, k, v, L, H, hd, bf16, scale, seqs, key_padding, pad_k, pad_v);                                     \
  }

ATTN_LAST_ENTRY(8, ATTN_LAST_MIN_BLOCKS)
ATTN_LAST_ENTRY(4, ATTN_LAST_MIN_BLOCKS)
ATTN_LAST_ENTRY(2, ATTN_LAST_MIN_BLOCKS)
ATTN_LAST_ENTRY(1, 3)

// ===================================================================================================
// Tensor-core path (bf16 q, k, v, out and hd ∈ {32, 64, 128}): FlashAttention-2 on mma.sync.m16n8k16
// (bf16 operands, fp32 accumulators), operands read from shared memory by ldmatrix. 128 threads = 4
// warps; a warp owns 16 rows of every tile it multiplies (queries in forward and dq, keys in dk/dv).
// Probabilities and dS are rounded to bf16 in registers before their products (P·V, Pᵀ·dO, dSᵀ·Q,
// dS·K); dout is rounded to bf16 when its tile is staged. Softmax runs in log2 units
// (exp2(s·scale·log2 e − m)); lse is stored in natural-log units as the SIMT path stores it.
// Dropout: the keep bits of a score tile are drawn into shared memory (one 32-bit word per row and 32
// keys, each Philox call once per aligned group of 4 elements) from the very words the SIMT path uses;
// each fragment element reads its bit. keep_scale is applied once to the finished sums (out, dv) or to
// dP, never to P itself, which leaves the products unchanged up to fp32 rounding.

#define ATTN_MMA_THREADS 128
#define ATTN_LOG2E 1.4426950408889634f
#define ATTN_LN2 0.6931471805599453f

// Query rows and key rows per tile: 4 warps × 16 rows.
#define ATTN_MMA_BQ 64
#define ATTN_MMA_BK 64

// Queries per tile of the dk/dv kernel: at hd 128 its four [16 × hd] accumulators per warp leave no
// registers for a 64-query score tile (dk, dv, P and dP: 192 floats a thread at 32 queries).
template <int D> struct AttnKvTile { static constexpr int BQ = 64; };
template <> struct AttnKvTile<128> { static constexpr int BQ = 32; };

// ---- PTX primitives (ldmatrix, mma.sync; as kernels/cce.cu) ----

__device__ __forceinline__ uint32_t attn_smem_u32(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

// Four 8×8 b16 matrices; lanes 8m .. 8m+7 address the rows of matrix m; register m of lane l holds
// row l/4, columns 2(l%4), 2(l%4)+1 of matrix m (with .trans: rows 2(l%4), 2(l%4)+1 of column l/4).
__device__ __forceinline__ void attn_ldsm_x4(uint32_t (&r)[4], const __nv_bfloat16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(attn_smem_u32(p)));
}
__device__ __forceinline__ void attn_ldsm_x4_trans(uint32_t (&r)[4], const __nv_bfloat16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(attn_smem_u32(p)));
}

// c (16×8 f32) += a (16×16 bf16, row) · b (16×8 bf16, col).
__device__ __forceinline__ void attn_mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---- end of PTX primitives ----

// Fragment layouts (PTX ISA, mma.m16n8k16 .bf16; g = lane / 4, t = lane % 4):
//   A 16×16: reg 0 = row g, cols 2t, 2t+1; reg 1 = row g+8, same cols; regs 2, 3 = the same at cols + 8.
//   B 16×8:  reg 0 = rows (k) 2t, 2t+1 of col (n) g; reg 1 = rows 2t+8, 2t+9.
//   C 16×8:  c0, c1 = row g, cols 2t, 2t+1; c2, c3 = row g+8, same cols.
// So the accumulators of two adjacent 8-column tiles are, packed to bf16 pairs, the A fragment of
// their 16 columns (attn_a_frags), and element e of an accumulator sits at row g + 8·(e / 2), column
// 2t + e % 2.

// Two floats to one register of two bf16 (lo in the low half), rounded to nearest even.
__device__ __forceinline__ uint32_t attn_pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ float attn_quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float attn_quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// c[NT] (a warp's 16 × 8·NT f32 tile) = A · Bᵀ over D columns: A = 16 rows at `a`, B = 8·NT rows at
// `bm`, both row-major bf16 with row stride D + 8 in shared memory (NT even).
template <int D, int NT>
__device__ __forceinline__ void attn_mma_abt(float (&c)[NT][4], const __nv_bfloat16* a, const __nv_bfloat16* bm, int lane) {
  constexpr int SD = D + 8;
#pragma unroll
  for (int n = 0; n < NT; ++n) c[n][0] = c[n][1] = c[n][2] = c[n][3] = 0.f;
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks) {
    uint32_t af[4];
    // Matrices 0..3 = (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 8-15).
    attn_ldsm_x4(af, a + (lane & 15) * SD + ks * 16 + (lane >> 4) * 8);
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t bf[4];
      // Matrices 0..3 = (B rows 0-7, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 0-7), (rows 8-15, k 8-15) of 16 B rows.
      attn_ldsm_x4(bf, bm + (np * 16 + ((lane >> 4) << 3) + (lane & 7)) * SD + ks * 16 + ((lane >> 3) & 1) * 8);
      attn_mma(c[2 * np], af, bf[0], bf[1]);
      attn_mma(c[2 * np + 1], af, bf[2], bf[3]);
    }
  }
}

// c[NN] (a warp's 16 × 8·NN f32 tile) += A · B: A = KT A fragments (16 × 16·KT) in registers, B =
// 16·KT rows × 8·NN columns at `bm`, row-major bf16 with row stride SD in shared memory (NN even).
template <int SD, int KT, int NN>
__device__ __forceinline__ void attn_mma_ab(float (&c)[NN][4], const uint32_t (&a)[KT][4], const __nv_bfloat16* bm, int lane) {
#pragma unroll
  for (int kk = 0; kk < KT; ++kk) {
#pragma unroll
    for (int np = 0; np < NN / 2; ++np) {
      uint32_t bf[4];
      // Transposed matrices 0..3 = (k 0-7, cols 0-7), (k 8-15, cols 0-7), (k 0-7, cols 8-15), (k 8-15, cols 8-15).
      attn_ldsm_x4_trans(bf, bm + (kk * 16 + (lane & 15)) * SD + np * 16 + (lane >> 4) * 8);
      attn_mma(c[2 * np], a[kk], bf[0], bf[1]);
      attn_mma(c[2 * np + 1], a[kk], bf[2], bf[3]);
    }
  }
}

// The A fragments (bf16) of a 16 × 8·NT accumulator tile.
template <int NT>
__device__ __forceinline__ void attn_a_frags(uint32_t (&a)[NT / 2][4], const float (&c)[NT][4]) {
#pragma unroll
  for (int kk = 0; kk < NT / 2; ++kk) {
    a[kk][0] = attn_pack_bf16(c[2 * kk][0], c[2 * kk][1]);
    a[kk][1] = attn_pack_bf16(c[2 * kk][2], c[2 * kk][3]);
    a[kk][2] = attn_pack_bf16(c[2 * kk + 1][0], c[2 * kk + 1][1]);
    a[kk][3] = attn_pack_bf16(c[2 * kk + 1][2], c[2 * kk + 1][3]);
  }
}

// The same with element e of tile n zeroed unless bit 4n + e of `kept` is set (NT ≤ 8).
template <int NT>
__device__ __forceinline__ void attn_a_frags_kept(uint32_t (&a)[NT / 2][4], const float (&c)[NT][4], uint32_t kept) {
  const auto x = [&](int n, int e) { return (kept >> (4 * n + e)) & 1u ? c[n][e] : 0.f; };
#pragma unroll
  for (int kk = 0; kk < NT / 2; ++kk) {
    a[kk][0] = attn_pack_bf16(x(2 * kk, 0), x(2 * kk, 1));
    a[kk][1] = attn_pack_bf16(x(2 * kk, 2), x(2 * kk, 3));
    a[kk][2] = attn_pack_bf16(x(2 * kk + 1, 0), x(2 * kk + 1, 1));
    a[kk][3] = attn_pack_bf16(x(2 * kk + 1, 2), x(2 * kk + 1, 3));
  }
}

// Offset of head h's columns of position i (≥ d.start) in a [rows × H·D] tensor (D = d.hd).
template <int D>
__device__ __forceinline__ size_t attn_at_mma(const AttnDims& d, int i, int h) {
  return static_cast<size_t>(d.base + i) * (static_cast<size_t>(d.H) * D) + static_cast<size_t>(h) * D;
}

// Positions r0 .. r0+R-1 of the CTA's sequence, head h of a bf16 [rows × H·D] tensor into s[R][D + 8]: a
// position ≥ start from its row; zero at padding positions (no row; as keys they are masked) and past L.
// 16-byte loads of the rows: D is a multiple of 8 and the tensors are 256-byte aligned (the launcher
// checks 16).
template <int R, int D>
__device__ __forceinline__ void attn_stage_bf16(__nv_bfloat16* s, const __nv_bfloat16* x, int h, int r0, const AttnDims& d) {
  constexpr int C = D / 8;
  for (int idx = threadIdx.x; idx < R * C; idx += ATTN_MMA_THREADS) {
    const int r = idx / C, c = idx % C, i = r0 + r;
    uint4 value = make_uint4(0u, 0u, 0u, 0u);
    if (i >= d.start && i < d.L) value = *reinterpret_cast<const uint4*>(x + attn_at_mma<D>(d, i, h) + 8 * c);
    *reinterpret_cast<uint4*>(s + r * (D + 8) + 8 * c) = value;
  }
}

// Positions r0 .. r0+R-1 of an f32 tensor (dout), each value rounded to bf16; zero at padding positions and past L.
template <int R, int D>
__device__ __forceinline__ void attn_stage_f32(__nv_bfloat16* s, const float* x, int h, int r0, const AttnDims& d) {
  constexpr int C = D / 8;
  for (int idx = threadIdx.x; idx < R * C; idx += ATTN_MMA_THREADS) {
    const int r = idx / C, c = idx % C, i = r0 + r;
    uint4 value = make_uint4(0u, 0u, 0u, 0u);
    if (i >= d.start && i < d.L) {
      const float4* src = reinterpret_cast<const float4*>(x + attn_at_mma<D>(d, i, h) + 8 * c);
      const float4 lo = src[0], hi = src[1];
      value = make_uint4(attn_pack_bf16(lo.x, lo.y), attn_pack_bf16(lo.z, lo.w), attn_pack_bf16(hi.x, hi.y), attn_pack_bf16(hi.z, hi.w));
    }
    *reinterpret_cast<uint4*>(s + r * (D + 8) + 8 * c) = value;
  }
}

// keep[r·(BC/32) + w] bit c = the keep bit of query q0 + r, key k0 + 32w + c of head bh (1 = kept),
// valid elements only (the others read 0 and are masked by their users anyway). One thread per word;
// each Philox call yields the 4 words of one aligned group of elements, as in make_keep.
template <int BR, int BC>
__device__ __forceinline__ void attn_keep_bits(uint32_t* keep, int bh, int q0, int k0, const AttnDims& d, const AttnDropout& drop) {
  constexpr int KW = BC / 32;
  for (int item = threadIdx.x; item < BR * KW; item += ATTN_MMA_THREADS) {
    const int i = q0 + item / KW, j0 = k0 + 32 * (item % KW);
    int count = i < d.L ? min(32, d.L - j0) : 0;
    if (d.causal) count = min(count, i - j0 + 1);
    uint32_t bits = 0u;
    if (count > 0) {
      const uint64_t e0 = (static_cast<uint64_t>(bh) * d.L + i) * d.L + j0, e1 = e0 + count;
      for (uint64_t g = e0 >> 2; 4 * g < e1; ++g) {
        const uint4 w = philox4x32(static_cast<uint32_t>(g), drop.site, 0u, ATTN_DROPOUT_STREAM, drop.seed, drop.step);
#pragma unroll
        for (int t = 0; t < 4; ++t) {
          const uint64_t e = 4 * g + t;
          if (e >= e0 && e < e1 && (word_of(w, t) >> 8) >= drop.threshold) bits |= 1u << static_cast<int>(e - e0);
        }
      }
    }
    keep[item] = bits;
  }
}

__device__ __forceinline__ bool attn_kept(const uint32_t* keep, int kw, int r, int c) { return (keep[r * kw + (c >> 5)] >> (c & 31)) & 1u; }

// ---------------------------------------------------------------------------------------------------
// Tensor-core forward: grid (B·H, ⌈L/64⌉), a CTA per 64-query tile (the causally heaviest first),
// warp w owning queries 16w .. 16w+15; key tiles of 64 stream through shared memory.

template <int D>
__device__ __forceinline__ void attention_forward_mma(__nv_bfloat16* __restrict__ out, float* __restrict__ lse, const __nv_bfloat16* __restrict__ q,
                                                      const __nv_bfloat16* __restrict__ k, const __nv_bfloat16* __restrict__ v,
                                                      const float* __restrict__ pad_k, const float* __restrict__ pad_v, const AttnDims d,
                                                      const AttnDropout drop) {
  constexpr int BQ = ATTN_MMA_BQ, BK = ATTN_MMA_BK, SD = D + 8, NT = BK / 8, DT = D / 8, KW = BK / 32;
  extern __shared__ __align__(16) unsigned char attn_mma_smem[];
  __nv_bfloat16* Qs = reinterpret_cast<__nv_bfloat16*>(attn_mma_smem);
  __nv_bfloat16* Ks = Qs + BQ * SD;
  __nv_bfloat16* Vs = Ks + BK * SD;
  uint32_t* keep = reinterpret_cast<uint32_t*>(Vs + BK * SD);

  const int bh = blockIdx.x, h = bh % d.H;
  const int nq = (d.L + BQ - 1) / BQ, q0 = (nq - 1 - static_cast<int>(blockIdx.y)) * BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = lane % 4;
  const int row0 = warp * 16 + lane / 4;  // this thread's rows of the tile: row0 and row0 + 8
  const bool dropout = drop.threshold != 0u;
  const float scale2 = d.scale * ATTN_LOG2E;
  const int nk_all = (d.L + BK - 1) / BK;
  const int nk = d.causal ? min(nk_all, (min(q0 + BQ, d.L) - 1) / BK + 1) : nk_all;
  if (attn_all_padding(q0, BQ, d)) {
    attn_padding_lse(lse, bh, q0, BQ, d);
    return;
  }

  attn_stage_bf16<BQ, D>(Qs, q, h, q0, d);

  // Running max (log2 units), this thread's partial row sums (its columns only: the quad is summed at
  // the end, every partial having seen the same rescalings), and the output rows.
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, o[DT][4];
#pragma unroll
  for (int n = 0; n < DT; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  // The padding keys seen: the online softmax starts from them, m = s_p (log2 units), l = start (each
  // copy exp2(0) = 1; in the quad's first thread only, l being summed over the quad), o = (kept copies) ·
  // v_pad (keep_scale at the end, as for the other keys). The quad of a row splits the work; its
  // butterflies leave the same sums in all four threads. Keys and values rounded to bf16, as staged.
  if (d.pad_keys && d.start > 0) {
    // The rows' kept copies first: nothing else is live through the Philox loops.
    float kept[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int i = q0 + row0 + 8 * r;
      const bool real = i >= d.start && i < d.L;
      kept[r] = dropout ? attn_quad_sum(real ? attn_pad_kept_part(bh, i, t, 4, d, drop) : 0.f) : static_cast<float>(d.start);
    }
    __syncthreads();  // Qs staged
    const float* pk = pad_k + h * D + 2 * t;
    const float* pv = pad_v + h * D + 2 * t;
    float dot[2] = {0.f, 0.f};
#pragma unroll
    for (int n = 0; n < DT; ++n) {
      const float k0v = attn_pad_value(pk, 8 * n, 1), k1v = attn_pad_value(pk, 8 * n + 1, 1);
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const __nv_bfloat162 qq = *reinterpret_cast<const __nv_bfloat162*>(Qs + (row0 + 8 * r) * SD + 8 * n + 2 * t);
        dot[r] = fmaf(__high2float(qq), k1v, fmaf(__low2float(qq), k0v, dot[r]));
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      m[r] = attn_quad_sum(dot[r]) * scale2;
      l[r] = t == 0 ? static_cast<float>(d.start) : 0.f;
#pragma unroll
      for (int n = 0; n < DT; ++n) {
        o[n][2 * r] = kept[r] * attn_pad_value(pv, 8 * n, 1);
        o[n][2 * r + 1] = kept[r] * attn_pad_value(pv, 8 * n + 1, 1);
      }
    }
  }

  for (int kt = attn_first_key_tile(BK, d); kt < nk; ++kt) {
    const int k0 = kt * BK;
    __syncthreads();  // the previous tile's Ks, Vs, keep are consumed
    attn_stage_bf16<BK, D>(Ks, k, h, k0, d);
    attn_stage_bf16<BK, D>(Vs, v, h, k0, d);
    if (dropout) attn_keep_bits<BQ, BK>(keep, bh, q0, k0, d, drop);
    __syncthreads();

    float s[NT][4];
    attn_mma_abt<D, NT>(s, Qs + warp * 16 * SD, Ks, lane);
    // Tiles with a row past L, a key past L, a key above the diagonal or a padding key excluded mask
    // element by element.
    const bool edge = q0 + BQ > d.L || k0 + BK > d.L || (d.causal && k0 + BK - 1 > q0) || k0 < d.start;
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = s[n][e] * scale2;
        if (edge && !is_valid(q0 + row0 + 8 * (e >> 1), k0 + n * 8 + 2 * t + (e & 1), d)) x = -INFINITY;
        s[n][e] = x;
        mx[e >> 1] = fmaxf(mx[e >> 1], x);
      }
    float m_ref[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float m_new = fmaxf(m[r], attn_quad_max(mx[r]));
      // A row of the sequence sees key start in its first tile (or the padding keys before), so m_new is
      // finite; padding rows and rows past L may see no key: the guard keeps exp2() off -inf - -inf (they
      // stay at l = 0 and are never stored).
      m_ref[r] = m_new == -INFINITY ? 0.f : m_new;
      const float alpha = exp2f(m[r] - m_ref[r]);
      m[r] = m_new;
      l[r] *= alpha;
#pragma unroll
      for (int n = 0; n < DT; ++n) {
        o[n][2 * r] *= alpha;
        o[n][2 * r + 1] *= alpha;
      }
    }
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(s[n][e] - m_ref[e >> 1]);
        l[e >> 1] += p;
        s[n][e] = !dropout || attn_kept(keep, KW, row0 + 8 * (e >> 1), n * 8 + 2 * t + (e & 1)) ? p : 0.f;
      }
    uint32_t pa[NT / 2][4];
    attn_a_frags<NT>(pa, s);
    attn_mma_ab<SD, NT / 2, DT>(o, pa, Vs, lane);
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float sum = attn_quad_sum(l[r]);
    const int i = q0 + row0 + 8 * r;
    if (i >= d.L) continue;
    // A padding row has no out row: only its lse (+inf) is stored.
    const bool pad = i < d.start;
    if (t == 0) lse[static_cast<size_t>(bh) * d.L + i] = pad ? INFINITY : (m[r] + log2f(sum)) * ATTN_LN2;
    if (pad) continue;
    const float inv = drop.keep_scale / sum;
    __nv_bfloat16* row = out + attn_at_mma<D>(d, i, h) + 2 * t;
#pragma unroll
    for (int n = 0; n < DT; ++n) *reinterpret_cast<uint32_t*>(row + 8 * n) = attn_pack_bf16(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
  }
}

// ---------------------------------------------------------------------------------------------------
// Tensor-core backward, dk and dv: grid (B·H, ⌈L/64⌉), a CTA per 64-key tile, warp w owning keys
// 16w .. 16w+15, in the transposed orientation (scores Sᵀ = K·Qᵀ, rows = keys), so that Pᵀ and dSᵀ
// are A fragments of dV += Pᵀ·dO and dK += dSᵀ·Q without a trip through shared memory. Query tiles of
// AttnKvTile<D>::BQ stream through shared memory, those wholly above the diagonal skipped.

template <int D>
__device__ __forceinline__ void attention_backward_kv_mma(float* __restrict__ dk, float* __restrict__ dv, const float* __restrict__ dout,
                                                          const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                                                          const __nv_bfloat16* __restrict__ v, const float* __restrict__ lse,
                                                          const float* __restrict__ delta, const AttnDims d, const AttnDropout drop) {
  constexpr int BQ = AttnKvTile<D>::BQ, BK = ATTN_MMA_BK, SD = D + 8, NQ = BQ / 8, DT = D / 8, KW = BK / 32;
  extern __shared__ __align__(16) unsigned char attn_mma_smem[];
  __nv_bfloat16* Ks = reinterpret_cast<__nv_bfloat16*>(attn_mma_smem);
  __nv_bfloat16* Vs = Ks + BK * SD;
  __nv_bfloat16* Qs = Vs + BK * SD;
  __nv_bfloat16* dOs = Qs + BQ * SD;
  float* lse_s = reinterpret_cast<float*>(dOs + BQ * SD);  // log2 units
  float* delta_s = lse_s + BQ;
  uint32_t* keep = reinterpret_cast<uint32_t*>(delta_s + BQ);

  const int bh = blockIdx.x, h = bh % d.H;
  const int k0 = blockIdx.y * BK;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = lane % 4;
  const int row0 = warp * 16 + lane / 4;  // this thread's keys of the tile: row0 and row0 + 8
  const bool dropout = drop.threshold != 0u;
  const float scale2 = d.scale * ATTN_LOG2E;
  const int nq = (d.L + BQ - 1) / BQ;
  // Nothing to do: an empty sequence, or a tile wholly in the padding (no row to write; padding keys
  // seen: their gradients are the dq kernel's closed form).
  if (d.start == d.L || min(k0 + BK, d.L) <= d.start) return;

  attn_stage_bf16<BK, D>(Ks, k, h, k0, d);
  attn_stage_bf16<BK, D>(Vs, v, h, k0, d);

  float dk_acc[DT][4], dv_acc[DT][4];
#pragma unroll
  for (int n = 0; n < DT; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk_acc[n][e] = dv_acc[n][e] = 0.f;

  // This thread's two keys against the padding (is_valid's last term, fixed for the CTA: fewer registers).
  const bool key_seen[2] = {k0 + row0 >= d.start, k0 + row0 + 8 >= d.start};
  const bool key_edge = k0 < d.start;
  // Query tiles wholly in the padding contribute nothing (their P is 0).
  for (int qt = max(d.causal ? k0 / BQ : 0, d.start / BQ); qt < nq; ++qt) {
    const int q0 = qt * BQ;
    __syncthreads();  // the previous tile's Qs, dOs, lse_s, delta_s, keep are consumed
    attn_stage_bf16<BQ, D>(Qs, q, h, q0, d);
    attn_stage_f32<BQ, D>(dOs, dout, h, q0, d);
    for (int r = threadIdx.x; r < BQ; r += ATTN_MMA_THREADS) {
      // Padding rows and rows past L: lse = +inf makes P = 0 (they are masked as well).
      lse_s[r] = attn_lse_of(lse, bh, q0 + r, d) * ATTN_LOG2E;
      delta_s[r] = attn_delta_of(delta, bh, q0 + r, d);
    }
    if (dropout) attn_keep_bits<BQ, BK>(keep, bh, q0, k0, d, drop);
    __syncthreads();

    // Pᵀ (element e of tile n: key row0 + 8·(e/2), query n·8 + 2t + e%2), recomputed from lse.
    float pt[NQ][4];
    attn_mma_abt<D, NQ>(pt, Ks + warp * 16 * SD, Qs, lane);
    const bool edge = q0 + BQ > d.L || k0 + BK > d.L || (d.causal && k0 + BK - 1 > q0) || key_edge;
    uint32_t kept = 0xffffffffu;  // bit 4n + e: element e of tile n is kept
#pragma unroll
    for (int n = 0; n < NQ; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = n * 8 + 2 * t + (e & 1);
        const int j = k0 + row0 + 8 * (e >> 1);
        const bool valid = !edge || (q0 + c < d.L && j < d.L && (!d.causal || j <= q0 + c) && key_seen[e >> 1]);
        pt[n][e] = valid ? exp2f(pt[n][e] * scale2 - lse_s[c]) : 0.f;
        if (dropout && !attn_kept(keep, KW, c, row0 + 8 * (e >> 1))) kept &= ~(1u << (4 * n + e));
      }
    {
      // dV += keep ∘ Pᵀ · dO (keep_scale at the end).
      uint32_t pa[NQ / 2][4];
      attn_a_frags_kept<NQ>(pa, pt, kept);
      attn_mma_ab<SD, NQ / 2, DT>(dv_acc, pa, dOs, lane);
    }
    // dPᵀ = V · dOᵀ; dSᵀ = Pᵀ ∘ (keep ∘ dPᵀ · keep_scale − delta) (scale at the end); dK += dSᵀ · Q.
    float ds[NQ][4];
    attn_mma_abt<D, NQ>(ds, Vs + warp * 16 * SD, dOs, lane);
#pragma unroll
    for (int n = 0; n < NQ; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        ds[n][e] = pt[n][e] * (((kept >> (4 * n + e)) & 1u ? ds[n][e] * drop.keep_scale : 0.f) - delta_s[n * 8 + 2 * t + (e & 1)]);
    uint32_t da[NQ / 2][4];
    attn_a_frags<NQ>(da, ds);
    attn_mma_ab<SD, NQ / 2, DT>(dk_acc, da, Qs, lane);
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int j = k0 + row0 + 8 * r;
    if (j >= d.L || j < d.start) continue;  // past L, or a padding key: no row
    const size_t row = attn_at_mma<D>(d, j, h) + 2 * t;
#pragma unroll
    for (int n = 0; n < DT; ++n) {
      *reinterpret_cast<float2*>(dk + row + 8 * n) = make_float2(dk_acc[n][2 * r] * d.scale, dk_acc[n][2 * r + 1] * d.scale);
      *reinterpret_cast<float2*>(dv + row + 8 * n) = make_float2(dv_acc[n][2 * r] * drop.keep_scale, dv_acc[n][2 * r + 1] * drop.keep_scale);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Tensor-core backward, dq: grid (B·H, ⌈L/64⌉), a CTA per 64-query tile (the causally heaviest first),
// warp w owning queries 16w .. 16w+15; key tiles of 64 stream through shared memory.

template <int D>
__device__ __forceinline__ void attention_backward_q_mma(float* __restrict__ dq, float* __restrict__ partials, const float* __restrict__ dout,
                                                         const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                                                         const __nv_bfloat16* __restrict__ v, const float* __restrict__ pad_k,
                                                         const float* __restrict__ pad_v, const float* __restrict__ lse,
                                                         const float* __restrict__ delta, const AttnDims d, const AttnDropout drop) {
  constexpr int BQ = ATTN_MMA_BQ, BK = ATTN_MMA_BK, SD = D + 8, NT = BK / 8, DT = D / 8, KW = BK / 32;
  extern __shared__ __align__(16) unsigned char attn_mma_smem[];
  __nv_bfloat16* Qs = reinterpret_cast<__nv_bfloat16*>(attn_mma_smem);
  __nv_bfloat16* dOs = Qs + BQ * SD;
  __nv_bfloat16* Ks = dOs + BQ * SD;
  __nv_bfloat16* Vs = Ks + BK * SD;
  uint32_t* keep = reinterpret_cast<uint32_t*>(Vs + BK * SD);

  const int bh = blockIdx.x, b = bh / d.H, h = bh % d.H;
  const int nq = (d.L + BQ - 1) / BQ, q0 = (nq - 1 - static_cast<int>(blockIdx.y)) * BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = lane % 4;
  const int row0 = warp * 16 + lane / 4;  // this thread's rows of the tile: row0 and row0 + 8
  const bool dropout = drop.threshold != 0u;
  const float scale2 = d.scale * ATTN_LOG2E;
  const int nk_all = (d.L + BK - 1) / BK;
  const int nk = d.causal ? min(nk_all, (min(q0 + BQ, d.L) - 1) / BK + 1) : nk_all;
  if (attn_all_padding(q0, BQ, d)) {  // padding rows have no dq row, nor a padding-key gradient
    if (d.pad_keys) attn_zero_partial(attn_partial_chunk(partials, b, d), h, d);
    return;
  }

  attn_stage_bf16<BQ, D>(Qs, q, h, q0, d);
  attn_stage_f32<BQ, D>(dOs, dout, h, q0, d);
  float lse2[2], delta_r[2], acc[DT][4];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = q0 + row0 + 8 * r;
    lse2[r] = attn_lse_of(lse, bh, i, d) * ATTN_LOG2E;
    delta_r[r] = attn_delta_of(delta, bh, i, d);
  }
#pragma unroll
  for (int n = 0; n < DT; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
  // The padding keys seen, in closed form: a row's Σ_j dS_ij over them (scale at the end) is G =
  // P_pad · (keep_scale · kept · (dout_i · v_pad) − start · delta_i) in fp32 (no bf16 rounding of P or
  // dS); dq starts from G · k_pad, and the CTA's rows' scale · G · q_i and keep_scale · kept · P_pad ·
  // dout_i go into its chunk of partials (the padding keys' dk, dv), from the staged bf16 q and dout.
  if (d.pad_keys) {
    float* chunk = attn_partial_chunk(partials, b, d);
    if (d.start == 0) {
      attn_zero_partial(chunk, h, d);
    } else {
      float* gs = reinterpret_cast<float*>(Ks);  // [BQ] each, in Ks: free until the first key tile
      float* ws = gs + BQ;
      static_assert(2 * BQ * sizeof(float) <= BK * SD * sizeof(__nv_bfloat16), "the rows' weights fit in Ks");
      __syncthreads();  // Qs, dOs staged
      const float* pk = pad_k + h * D + 2 * t;
      const float* pv = pad_v + h * D + 2 * t;
      float qk[2] = {0.f, 0.f}, dov[2] = {0.f, 0.f};
#pragma unroll
      for (int n = 0; n < DT; ++n) {
        const float k0v = attn_pad_value(pk, 8 * n, 1), k1v = attn_pad_value(pk, 8 * n + 1, 1);
        const float v0v = attn_pad_value(pv, 8 * n, 1), v1v = attn_pad_value(pv, 8 * n + 1, 1);
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int at = (row0 + 8 * r) * SD + 8 * n + 2 * t;
          const __nv_bfloat162 qq = *reinterpret_cast<const __nv_bfloat162*>(Qs + at);
          const __nv_bfloat162 gg = *reinterpret_cast<const __nv_bfloat162*>(dOs + at);
          qk[r] = fmaf(__high2float(qq), k1v, fmaf(__low2float(qq), k0v, qk[r]));
          dov[r] = fmaf(__high2float(gg), v1v, fmaf(__low2float(gg), v0v, dov[r]));
        }
      }
      float g[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int i = q0 + row0 + 8 * r;
        const bool real = i >= d.start && i < d.L;
        const float kept = dropout ? attn_quad_sum(real ? attn_pad_kept_part(bh, i, t, 4, d, drop) : 0.f) : static_cast<float>(d.start);
        const float s2 = attn_quad_sum(qk[r]) * scale2, dpv = attn_quad_sum(dov[r]);
        const float p = real ? exp2f(s2 - lse2[r]) : 0.f;
        g[r] = p * (drop.keep_scale * kept * dpv - static_cast<float>(d.start) * delta_r[r]);
        if (t == 0) {
          gs[row0 + 8 * r] = g[r] * d.scale;
          ws[row0 + 8 * r] = drop.keep_scale * kept * p;
        }
      }
#pragma unroll
      for (int n = 0; n < DT; ++n) {
        const float k0v = attn_pad_value(pk, 8 * n, 1), k1v = attn_pad_value(pk, 8 * n + 1, 1);
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          acc[n][2 * r] = g[r] * k0v;
          acc[n][2 * r + 1] = g[r] * k1v;
        }
      }
      __syncthreads();
      attn_pad_partial<BQ, SD>(chunk, gs, ws, Qs, dOs, h, d);
    }
  }

  for (int kt = attn_first_key_tile(BK, d); kt < nk; ++kt) {
    const int k0 = kt * BK;
    __syncthreads();  // the previous tile's Ks, Vs, keep are consumed (and, at the first, Qs, dOs are staged)
    attn_stage_bf16<BK, D>(Ks, k, h, k0, d);
    attn_stage_bf16<BK, D>(Vs, v, h, k0, d);
    if (dropout) attn_keep_bits<BQ, BK>(keep, bh, q0, k0, d, drop);
    __syncthreads();

    float p[NT][4], ds[NT][4];
    attn_mma_abt<D, NT>(p, Qs + warp * 16 * SD, Ks, lane);
    attn_mma_abt<D, NT>(ds, dOs + warp * 16 * SD, Vs, lane);
    const bool edge = q0 + BQ > d.L || k0 + BK > d.L || (d.causal && k0 + BK - 1 > q0) || k0 < d.start;
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = row0 + 8 * (e >> 1), c = n * 8 + 2 * t + (e & 1);
        const bool valid = !edge || is_valid(q0 + r, k0 + c, d);
        const float pv = valid ? exp2f(p[n][e] * scale2 - lse2[e >> 1]) : 0.f;
        const bool kept = !dropout || attn_kept(keep, KW, r, c);
        ds[n][e] = pv * ((kept ? ds[n][e] * drop.keep_scale : 0.f) - delta_r[e >> 1]);
      }
    uint32_t da[NT / 2][4];
    attn_a_frags<NT>(da, ds);
    attn_mma_ab<SD, NT / 2, DT>(acc, da, Ks, lane);
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = q0 + row0 + 8 * r;
    if (i >= d.L || i < d.start) continue;  // past L, or a padding row: no row
    float* row = dq + attn_at_mma<D>(d, i, h) + 2 * t;
#pragma unroll
    for (int n = 0; n < DT; ++n) *reinterpret_cast<float2*>(row + 8 * n) = make_float2(acc[n][2 * r] * d.scale, acc[n][2 * r + 1] * d.scale);
  }
}

// Entry points, one per head width D ∈ {32, 64, 128} (hd = D exactly), with the SIMT kernels'
// parameters (bf16 and hd are implied by the choice of kernel and not read).
// The forward keeps the CTAs an SM it had before the layout's row arithmetic (which took D = 64 from 128
// to 136 registers): 4 at D ≤ 64 (≤ 128 registers), 3 at D = 128 (≤ 170); neither spills.
#define ATTN_MMA_FORWARD_MIN_CTAS(D) ((D) <= 64 ? 4 : 3)
#define ATTN_MMA_ENTRIES(D)                                                                                                               \
  extern "C" __global__ void __launch_bounds__(ATTN_MMA_THREADS, ATTN_MMA_FORWARD_MIN_CTAS(D))                                     \
      attention_forward_mma_##D(void* out, float* lse, const void* q, const void* k, const void* v, ATTN_PARAMS) {                      \
    attention_forward_mma<D>(static_cast<__nv_bfloat16*>(out), lse, static_cast<const __nv_bfloat16*>(q),                                \
                             static_cast<const __nv_bfloat16*>(k), static_cast<const __nv_bfloat16*>(v), pad_k, pad_v, ATTN_DIMS,        \
                             ATTN_DROP);                                                                                                 \
  }                                                                                                                                       \
  extern "C" __global__ void __launch_bounds__(ATTN_MMA_THREADS)                                                                        \
      attention_backward_kv_mma_##D(float* dk, float* dv, const float* dout, const void* q, const void* k, const void* v,               \
                                    const float* lse, const float* delta, ATTN_PARAMS) {                                                 \
    attention_backward_kv_mma<D>(dk, dv, dout, static_cast<const __nv_bfloat16*>(q), static_cast<const __nv_bfloat16*>(k),               \
                                 static_cast<const __nv_bfloat16*>(v), lse, delta, ATTN_DIMS, ATTN_DROP);                                \
  }                                                                                                                                       \
  extern "C" __global__ void __launch_bounds__(ATTN_MMA_THREADS)                                                                        \
      attention_backward_q_mma_##D(float* dq, float* partials, const float* dout, const void* q, const void* k, const void* v,         \
                                   const float* lse, const float* delta, ATTN_PARAMS) {                                                 \
    attention_backward_q_mma<D>(dq, partials, dout, static_cast<const __nv_bfloat16*>(q), static_cast<const __nv_bfloat16*>(k),         \
                                static_cast<const __nv_bfloat16*>(v), pad_k, pad_v, lse, delta, ATTN_DIMS, ATTN_DROP);                   \
  }

ATTN_MMA_ENTRIES(32)
ATTN_MMA_ENTRIES(64)
ATTN_MMA_ENTRIES(128)

// ---------------------------------------------------------------------------------------------------
// The padding keys' gradients (key_padding = 0): pad_dk[c] (+=) Σ_k partials[k · 2HD + c] and pad_dv[c]
// (+=) Σ_k partials[k · 2HD + HD + c] over the chunks k = b · tiles + blockIdx.y that a dq kernel wrote
// (chunks = B · tiles; those without padding keys or real rows hold 0), in column_sums.cuh's fixed order. Grid
// (⌈HD / COLSUM_LANES⌉, 2): blockIdx.y = 0 sums dk, 1 dv; COLSUM_LANES × COLSUM_PHASES threads.
extern "C" __global__ void __launch_bounds__(COLSUM_LANES * COLSUM_PHASES)
    attention_pad_key_sums(float* __restrict__ pad_dk, float* __restrict__ pad_dv, const float* __restrict__ partials, int HD, int chunks) {
  const int which = blockIdx.y;
  colsum_phase_tree(which == 0 ? pad_dk : pad_dv, partials, 2 * static_cast<long long>(HD), which * static_cast<long long>(HD), HD, chunks);
}
