// @variants sm80
// Evaluation top-K over the whole catalogue, each row's history excluded (backend/cpu/topk.ts is the
// reference; its contract, restated):
//
//   scores          [B × (V+1)]  f32  row b, column i = score of item i; column 0 (padding) is never
//                                     selected; read only (the ops contract allows overwriting; not needed)
//   history_offsets [users + 1]  i32  CSR offsets; row b of this call uses history row row_start + b
//   row_start_at    [1] i32 or null   where given, row_start is read from it (a recorded evaluation replays
//                                     with each batch's); rows with row_start + b ≥ users are skipped
//   history_items   [nnz]        i32  item ids in 1..V (anything else is ignored; repeats are fine)
//   out_items       [users × K]  i32  OVERWRITES rows row_start..row_start+B-1 with each row's K best items,
//                                     best first; a row with fewer than K eligible items is padded with 0.
//                                     Other rows are not touched.
//   Eligible: items 1..V not in the row's history. Order: score descending, ties to the lower item id;
//   NaN ranks as -Infinity (equal to it, so among those by id too); -0 equals +0.
//
// KERNEL
//   topk_select  grid (B), block TOPK_THREADS, static shared memory TOPK_CAP × 8 + TOPK_WINDOW / 8 bytes.
//   One CTA per row. Each item becomes a unique 64-bit key (order bits of the score high, ~id low), so
//   "better" is plain unsigned ">", every key is distinct, and the answer (the K largest eligible keys)
//   is one set whatever order candidates arrive in: the kernel is deterministic although candidates are
//   appended to shared memory through an atomic counter.
//   1. Exclusion, per window of TOPK_WINDOW ids: the CTA reads the row's whole history and sets a bit in
//      shared memory for each item inside the window (an excluded item is skipped, not ranked low, so it
//      never appears, even in a row of -Infinity and NaN scores). ⌈(V+1) / TOPK_WINDOW⌉ passes over
//      the history: 26 at V = 1.7 M, a few reads per thread for histories of thousands.
//   2. Scan: tiles of TOPK_TILE consecutive ids (coalesced, TOPK_ITEMS loads in flight per thread). An
//      eligible item whose key beats the threshold (the K-th best key so far; 0, below every key, while
//      fewer than K are held) is appended to the candidate buffer.
//   3. Merge, after a tile that left more than TOPK_CAP - TOPK_TILE candidates or first reached K, and
//      once at the end: a bitonic sort (descending) of the buffer keeps the best K at its front and sets
//      the threshold.
//   4. Write the best min(K, eligible) ids, then 0s.
// Cost: one read of the row; merges are rare unless scores rise with the item id (the worst case sorts
// once per tile, a few ms per row at V = 1.7 M).
// SHAPES: 1 ≤ K ≤ TOPK_MAX_K; V + TOPK_TILE < 2^31 (ids of the last tile); row offsets are 64-bit
// (B·(V+1) may exceed 2^31).

#include <stdint.h>

#define TOPK_THREADS 256
#define TOPK_ITEMS 8
#define TOPK_TILE (TOPK_THREADS * TOPK_ITEMS)
// Candidate buffer entries (a power of two, for the bitonic sort); a tile starts with at most
// TOPK_CAP - TOPK_TILE entries, so it can never overflow.
#define TOPK_CAP 4096
#define TOPK_MAX_K (TOPK_CAP - TOPK_TILE)
// Ids per exclusion window (a multiple of TOPK_TILE, so a tile never straddles two): one bit each.
#define TOPK_WINDOW 65536
// Bits of -Infinity, the rank of every NaN.
#define TOPK_NEG_INF 0xff800000u

// Order bits of a score: unsigned comparison of the results orders the floats, NaN as -Infinity
// and -0 as +0 (so they tie, as JavaScript's === does).
__device__ __forceinline__ uint32_t topk_order(uint32_t bits) {
  if ((bits & 0x7fffffffu) > 0x7f800000u) bits = TOPK_NEG_INF;
  if (bits == 0x80000000u) bits = 0u;
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// The unique key of (score bits, item): higher is better; ties go to the lower id. Never 0 (the
// order bits of -Infinity are 0x007fffff), so 0 marks an empty slot.
__device__ __forceinline__ uint64_t topk_key(uint32_t bits, int item) {
  return (static_cast<uint64_t>(topk_order(bits)) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(item));
}

// Sorts buf[0, count) descending (keys are distinct), leaving the best at the front; pads with 0 up
// to the next power of two. Every thread calls it with the same count; ends with a barrier.
__device__ void topk_sort(uint64_t* buf, int count) {
  int n = 2;
  while (n < count) n <<= 1;
  for (int i = count + static_cast<int>(threadIdx.x); i < n; i += TOPK_THREADS) buf[i] = 0;
  __syncthreads();
  for (int k = 2; k <= n; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      // n / 2 compare-exchanges: pair p joins i (bit j clear) with i + j.
      for (int p = threadIdx.x; p < (n >> 1); p += TOPK_THREADS) {
        const int i = ((p & ~(j - 1)) << 1) | (p & (j - 1));
        const uint64_t a = buf[i];
        const uint64_t b = buf[i + j];
        // Runs of k alternate direction; the last pass (k = n) is all descending.
        const bool descending = (i & k) == 0;
        if (descending ? a < b : a > b) {
          buf[i] = b;
          buf[i + j] = a;
        }
      }
      __syncthreads();
    }
  }
}

extern "C" __global__ void __launch_bounds__(TOPK_THREADS) topk_select(
    int* __restrict__ out_items, const uint32_t* __restrict__ scores, const int* __restrict__ history_offsets,
    const int* __restrict__ history_items, int row_start, int V, int K, const int* __restrict__ row_start_at, int users) {
  __shared__ uint64_t buf[TOPK_CAP];
  __shared__ uint32_t excluded[TOPK_WINDOW / 32];
  __shared__ int s_count;
  __shared__ uint64_t s_threshold;

  const int b = blockIdx.x;
  if (row_start_at != nullptr) row_start = *row_start_at;
  if (row_start + b >= users) return;  // the same for the whole CTA
  const uint32_t* row = scores + static_cast<size_t>(b) * (static_cast<size_t>(V) + 1);
  const int hist_begin = history_offsets[row_start + b];
  const int hist_end = history_offsets[row_start + b + 1];

  if (threadIdx.x == 0) {
    s_count = 0;
    s_threshold = 0;
  }
  // Tiles start at id 0 (the padding column, skipped below) so that they tile the windows exactly.
  for (int base = 0; base <= V; base += TOPK_TILE) {
    if ((base & (TOPK_WINDOW - 1)) == 0) {
      // The previous tile ended with a barrier: no thread still reads the last window's bits.
      for (int w = threadIdx.x; w < TOPK_WINDOW / 32; w += TOPK_THREADS) excluded[w] = 0;
      __syncthreads();
      for (int p = hist_begin + static_cast<int>(threadIdx.x); p < hist_end; p += TOPK_THREADS) {
        // Unsigned: ids below the window (or negative) wrap past it.
        const uint32_t offset = static_cast<uint32_t>(history_items[p]) - static_cast<uint32_t>(base);
        if (offset < TOPK_WINDOW) atomicOr(&excluded[offset >> 5], 1u << (offset & 31));
      }
      // Also publishes s_count and s_threshold on the first pass.
      __syncthreads();
    }
    uint32_t bits[TOPK_ITEMS];
#pragma unroll
    for (int j = 0; j < TOPK_ITEMS; j++) {
      const int item = base + j * TOPK_THREADS + static_cast<int>(threadIdx.x);
      bits[j] = item <= V ? row[item] : TOPK_NEG_INF;
    }
    // Stable until the next merge, which only starts after the barrier below.
    const uint64_t threshold = s_threshold;
    bool merge = false;
#pragma unroll
    for (int j = 0; j < TOPK_ITEMS; j++) {
      const int item = base + j * TOPK_THREADS + static_cast<int>(threadIdx.x);
      if (item < 1 || item > V) continue;
      const uint64_t key = topk_key(bits[j], item);
      if (key <= threshold) continue;
      const int offset = item & (TOPK_WINDOW - 1);
      if (excluded[offset >> 5] & (1u << (offset & 31))) continue;
      const int slot = atomicAdd(&s_count, 1);
      buf[slot] = key;
      // Merge when the buffer may not take another tile, or when it first holds K: the first threshold
      // stops most later appends.
      merge |= slot >= TOPK_CAP - TOPK_TILE || slot == K - 1;
    }
    // A tile starts with at most TOPK_CAP - TOPK_TILE candidates, and with fewer than K only until the
    // first merge, so a slot filled this tile tells whether to merge; __syncthreads_or gives every
    // thread the same answer with one barrier.
    if (__syncthreads_or(merge)) {
      const int count = s_count;
      topk_sort(buf, count);
      if (threadIdx.x == 0) {
        s_count = min(count, K);
        s_threshold = count >= K ? buf[K - 1] : 0;
      }
      __syncthreads();
    }
  }

  const int count = s_count;
  topk_sort(buf, count);
  int* out = out_items + static_cast<size_t>(row_start + b) * static_cast<size_t>(K);
  for (int r = threadIdx.x; r < K; r += TOPK_THREADS) {
    out[r] = r < count ? static_cast<int>(~static_cast<uint32_t>(buf[r])) : 0;
  }
}
