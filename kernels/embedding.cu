// @variants sm80
// embedding: SASRec's input embedding (src/backend/cpu/embedding.ts is the reference), forward then a
// deterministic backward. Launchers: src/backend/cuda/embedding-kernels.ts.
//
// SHAPES   `rows` activation rows; B sequences of L positions laid out in them by seqs (ops.SequenceRows):
//          sequence b's positions t = start_b .. L − 1, start_b = L − len_b, are rows r = first_b + t − start_b;
//          rows no sequence owns have id 0 (the padded layout: first_b = b·L + start_b, rows = B·L);
//          d columns; V items (table rows 0..V, row 0 the padding id)
//   seqs       [B × 2]        i32       (first_b, len_b); first_b is not read when len_b = 0
//   ids        [rows]         i32       item of each row, 0 = padding (the backward skips it)
//   items      [(V+1) × d]    f32       item table
//   positions  [L × d]        f32       position table
//   out, dout  [rows × d]     f32|bf16  (flag: 1 = bf16)
//   d_items    [(V+1) × d]    f32       (+=)
//   d_positions [L × d]       f32       (+=)
//   A sequence whose span is not one of at most L positions within rows 0..rows−1 (len_b outside 0..L,
//   first_b < 0, first_b + len_b > rows) is treated as empty: no kernel reads or writes out of bounds.
//
// FORWARD  embed_forward: out[r, :] = scale · items[ids[r], :] + positions[t, :] (overwrite) for every row r
//          a sequence owns, a warp per (b, j) of the B·L pairs (j < len_b: row first_b + j, position
//          start_b + j; the others move on at once); rows no sequence owns are not written. Nothing is
//          saved: the backward needs only ids and seqs.
//
// BACKWARD d_items[id, :] (+=) scale · Σ_{r < rows: ids[r] = id} dout[r, :] for ids 1..V, each sum taken over the rows in
//          ascending order (fixed chunks of EMB_CHUNK rows, then the chunk sums in a fixed order), so the
//          result is bit-identical run to run without float atomics. Rows are grouped by id first:
//   Padding rows (id 0) are not grouped: they add nothing to d_items, and d_positions sums the sequences'
//   rows only (the gradient of the embedding followed by the padding mask, which the models take), so the
//   work follows the items present.
//   embed_count           counts[id] += rows of id (int atomics, warp-aggregated; the caller zeroes
//                         counts[V+2], whose last entry counts the ids listed below; counts[0] stays 0)
//   embed_scan_tiles      tile_sums[b] = the total of tile b of EMB_SCAN_TILE counts
//   embed_scan_apply      offsets[V+2] = exclusive sums of counts[0..V] (offsets[V+1] = rows grouped),
//                         cursor[V+1] = a copy of offsets[0..V]; a CTA per tile, which adds up the
//                         earlier tiles' totals itself
//   embed_fill            entries[cursor[id]++] = r: rows grouped by id, in arbitrary order within an id
//   embed_rank_small      sorted[offsets[id] + rank] = r, rank = how many rows of the same id are smaller:
//                         counted directly for ids of at most EMB_SMALL rows; larger ones are listed in
//                         large[] (their number in counts[V+1]) for
//   embed_rank_large      a CTA per large id ranks its rows through a bitmap of row indices in shared
//                         memory (EMB_WINDOW rows at a time) and popcount prefix sums (every id of
//                         several chunks, below, is among the listed ones)
//   embed_item_sums       a warp per position of sorted (grid-stride) where a chunk of its id starts (EMB_CHUNK
//                         rows of it, starting at the id's first row): the warp loads the chunk's row indices
//                         at once (two per lane), then sums dout over the rows in order, 32·EMB_COLS columns a
//                         pass; an id of one chunk adds scale · sum into d_items, a longer one stores its
//                         chunk sums (unscaled) in partials
//   embed_item_combine    a CTA per listed id of several chunks: d_items[id] += scale · Σ its chunk sums, in
//                         a fixed order (interleaved phases of the chunks in order, then the phases in
//                         order), all of d's columns in one pass
//   embed_position_sums   d_positions[t, :] (+=) Σ_{b: t ≥ start_b} dout[first_b + t − start_b, :] (the
//                         sequences that hold t), in a fixed order: a CTA per 32 elements of d_positions,
//                         EMB_POS_PHASES threads each summing every EMB_POS_PHASES-th sequence in b order,
//                         then the phases' sums in order
//   Rows whose id lies outside 1..V are skipped by the backward; outside 0..V they give NaN rows in the
//   forward (the CPU reference would read or write out of bounds).
// WORKSPACE (i32 unless marked): counts [V+2], offsets [V+2], cursor [V+1], tile_sums [⌈(V+2)/4096⌉],
//   entries [N], sorted [N], large [⌊N/(EMB_SMALL+1)⌋], partials f32 [2·⌈N/EMB_CHUNK⌉ · d], N = rows (d ≤ 512:
//   the launcher sizes it for EMBED_MAX_WIDTH). Chunk j of an id whose rows start at sorted position s
//   begins at k = s + j·EMB_CHUNK and owns partial slot 2·⌊k/EMB_CHUNK⌋ + (j == 0): within one span
//   [q·EMB_CHUNK, (q+1)·EMB_CHUNK) of positions at most one multi-chunk id starts (each holds more than a
//   span) and at most one non-first chunk begins (it lies a whole chunk past its id's start, which is past
//   the end of any earlier id), so slots never collide.
// ACCUMULATES: d_items, d_positions. OVERWRITES: out (the sequences' rows only) and the workspace.

#include <cuda_bf16.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

#define EMB_SCAN_THREADS 1024
#define EMB_SCAN_TILE (4 * EMB_SCAN_THREADS)
// Ids of at most this many rows are ranked by counting (≤ EMB_SMALL loads a row).
#define EMB_SMALL 32
#define EMB_RANK_THREADS 1024
// Bitmap words per thread of embed_rank_large (one uint4), and the rows one bitmap window covers.
#define EMB_RANK_WORDS 4
#define EMB_WINDOW (32 * EMB_RANK_WORDS * EMB_RANK_THREADS)
// Rows summed by one warp in order (a chunk): two row indices per lane, loaded at once.
#define EMB_CHUNK 64
// Columns per lane in one pass of the item sums (a pass covers 32·EMB_COLS columns: d ≤ 256 in one); the
// pass unrolls 4 rows, so 4 · EMB_COLS loads are in flight per lane.
#define EMB_COLS 8
// Sequence phases of embed_position_sums (a CTA of 32 columns × EMB_POS_PHASES phases), and the sequences
// whose loads one thread issues together.
#define EMB_POS_PHASES 8
#define EMB_POS_UNROLL 8
// Threads of embed_item_combine (columns × phases of an id's chunk sums).
#define EMB_COMBINE_THREADS 1024

__device__ __forceinline__ float load_as_float(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float load_as_float(const bf16* p, long long i) { return __bfloat162float(p[i]); }

// ---------------------------------------------------------------------------------------------------
// Forward

// Sequence b's (first_b, len_b), or (0, 0) where its span is not one of at most L positions within rows
// 0..rows−1 (the header's rule: a malformed sequence is taken as empty). Every lane of a warp asks for the
// same b: broadcast loads.
__device__ __forceinline__ int2 sequence_span(const int* __restrict__ seqs, int b, int L, int rows) {
  const int first = seqs[2 * b], len = seqs[2 * b + 1];
  const bool ok = len > 0 && len <= L && first >= 0 && static_cast<long long>(first) + len <= rows;
  return ok ? make_int2(first, len) : make_int2(0, 0);
}

// Grid-stride over the B·L pairs (b, j): pair k = b·L + j is a warp's, which moves on at once unless
// j < len_b (warp-uniform); the warp then writes row first_b + j, position L − len_b + j, lanes striding
// the columns.
extern "C" __global__ void embed_forward(void* __restrict__ out, int out_bf16, const int* __restrict__ ids,
                                         const float* __restrict__ items, const float* __restrict__ positions, float scale,
                                         const int* __restrict__ seqs, int rows, int B, int L, int V, int d) {
  const int lane = threadIdx.x & 31;
  const long long pairs = static_cast<long long>(B) * L;
  const long long warps = (static_cast<long long>(gridDim.x) * blockDim.x) >> 5;
  for (long long k = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) >> 5; k < pairs; k += warps) {
    const int b = static_cast<int>(k / L), j = static_cast<int>(k - static_cast<long long>(b) * L);
    const int2 span = sequence_span(seqs, b, L, rows);
    if (j >= span.y) continue;
    const long long r = static_cast<long long>(span.x) + j;
    const int id = ids[r];
    const bool valid = id >= 0 && id <= V;
    const float* item = items + static_cast<long long>(valid ? id : 0) * d;
    const float* pos = positions + static_cast<long long>(L - span.y + j) * d;
    const long long o = r * d;
    for (int c = lane; c < d; c += 32) {
      const float v = valid ? fmaf(scale, item[c], pos[c]) : __int_as_float(0x7fc00000);
      if (out_bf16) static_cast<bf16*>(out)[o + c] = __float2bfloat16_rn(v);
      else static_cast<float*>(out)[o + c] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Backward: group the rows by id (count, scan, fill), then rank each id's rows.

// A thread per row; lanes holding the same id make one atomic between them. Padding (id 0) is not counted.
extern "C" __global__ void embed_count(int* __restrict__ counts, const int* __restrict__ ids, int N, int V) {
  const long long r = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  const int id = r < N ? ids[r] : -1;
  const unsigned peers = __match_any_sync(0xffffffffu, id);
  if (id >= 1 && id <= V && (threadIdx.x & 31) == __ffs(peers) - 1) atomicAdd(&counts[id], __popc(peers));
}

// entries[cursor[id]++] = r for ids 1..V; lanes of one id take consecutive places with one atomic.
extern "C" __global__ void embed_fill(int* __restrict__ entries, int* __restrict__ cursor, const int* __restrict__ ids, int N,
                                      int V) {
  const long long r = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  const int id = r < N ? ids[r] : -1;
  const unsigned peers = __match_any_sync(0xffffffffu, id);
  if (id < 1 || id > V) return;
  const int lane = threadIdx.x & 31, leader = __ffs(peers) - 1;
  int base = 0;
  if (lane == leader) base = atomicAdd(&cursor[id], __popc(peers));
  base = __shfl_sync(peers, base, leader);
  entries[base + __popc(peers & ((1u << lane) - 1u))] = static_cast<int>(r);
}

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

// tile_sums[b] = Σ counts over tile b of EMB_SCAN_TILE elements (n = V + 1 counts; ⌈(n+1)/EMB_SCAN_TILE⌉ tiles,
// so that offsets[n] has one).
extern "C" __global__ void __launch_bounds__(EMB_SCAN_THREADS) embed_scan_tiles(int* __restrict__ tile_sums,
                                                                               const int* __restrict__ counts, int n) {
  const int base = blockIdx.x * EMB_SCAN_TILE + threadIdx.x * 4;
  int v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) v += base + k < n ? counts[base + k] : 0;
  int total;
  block_exclusive_scan(v, &total);
  if (threadIdx.x == 0) tile_sums[blockIdx.x] = total;
}

// offsets[i] = cursor[i] = Σ_{k<i} counts[k] for i ≤ n, n = V + 1 (offsets[V+1] = rows grouped). The tile's
// start is the sum of the earlier tiles' totals, which each CTA adds up itself (integers: exact in any
// order), so no launch of its own scans tile_sums.
extern "C" __global__ void __launch_bounds__(EMB_SCAN_THREADS) embed_scan_apply(int* __restrict__ offsets, int* __restrict__ cursor,
                                                                               const int* __restrict__ counts,
                                                                               const int* __restrict__ tile_sums, int n) {
  const int base = blockIdx.x * EMB_SCAN_TILE + threadIdx.x * 4;
  int c[4];
  int v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    c[k] = base + k < n ? counts[base + k] : 0;
    v += c[k];
  }
  int total;
  int earlier = 0;
  for (int b = threadIdx.x; b < static_cast<int>(blockIdx.x); b += blockDim.x) earlier += tile_sums[b];
  int start;
  block_exclusive_scan(earlier, &start);
  int run = start + block_exclusive_scan(v, &total);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if (base + k <= n) {
      offsets[base + k] = run;
      if (base + k < n) cursor[base + k] = run;
    }
    run += c[k];
  }
}

// A thread per grouped row: ids of at most EMB_SMALL rows place it by counting the smaller rows of its id;
// the first thread of a larger id lists the id for embed_rank_large (counts[V+1] counts the list).
extern "C" __global__ void embed_rank_small(int* __restrict__ sorted, int* __restrict__ large, int* __restrict__ counts,
                                            const int* __restrict__ entries, const int* __restrict__ offsets,
                                            const int* __restrict__ ids, int V) {
  const long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (k >= offsets[V + 1]) return;
  const int row = entries[k];
  const int id = ids[row];
  const int s = offsets[id], e = offsets[id + 1];
  if (e - s > EMB_SMALL) {
    if (k == s) large[atomicAdd(&counts[V + 1], 1)] = id;
    return;
  }
  int rank = 0;
  for (int j = s; j < e; ++j) rank += entries[j] < row;
  sorted[s + rank] = row;
}

// A CTA per listed id (grid-stride): per window of EMB_WINDOW row indices, set a bit per row of the id,
// prefix-count the bits, and place each row at its rank. Each thread owns EMB_RANK_WORDS consecutive words.
extern "C" __global__ void __launch_bounds__(EMB_RANK_THREADS) embed_rank_large(int* __restrict__ sorted,
                                                                               const int* __restrict__ large,
                                                                               const int* __restrict__ counts,
                                                                               const int* __restrict__ entries,
                                                                               const int* __restrict__ offsets, int N, int V) {
  __shared__ uint4 bits_s[EMB_RANK_THREADS];
  __shared__ int4 before_s[EMB_RANK_THREADS];
  unsigned* bits = reinterpret_cast<unsigned*>(bits_s);
  const int* before = reinterpret_cast<const int*>(before_s);
  const int listed = counts[V + 1];
  for (int b = blockIdx.x; b < listed; b += gridDim.x) {
    const int id = large[b];
    const int s = offsets[id], e = offsets[id + 1];
    int placed = 0;
    for (int w0 = 0; w0 < N; w0 += EMB_WINDOW) {
      bits_s[threadIdx.x] = make_uint4(0u, 0u, 0u, 0u);
      __syncthreads();
#pragma unroll 8
      for (int j = s + threadIdx.x; j < e; j += blockDim.x) {
        const int rel = entries[j] - w0;
        if (rel >= 0 && rel < EMB_WINDOW) atomicOr(&bits[rel >> 5], 1u << (rel & 31));
      }
      __syncthreads();
      const uint4 w = bits_s[threadIdx.x];
      const int p0 = __popc(w.x), p1 = __popc(w.y), p2 = __popc(w.z), p3 = __popc(w.w);
      int total;
      const int run = block_exclusive_scan(p0 + p1 + p2 + p3, &total);
      before_s[threadIdx.x] = make_int4(run, run + p0, run + p0 + p1, run + p0 + p1 + p2);
      __syncthreads();
#pragma unroll 8
      for (int j = s + threadIdx.x; j < e; j += blockDim.x) {
        const int row = entries[j];
        const int rel = row - w0;
        if (rel >= 0 && rel < EMB_WINDOW) {
          const int word = rel >> 5;
          sorted[s + placed + before[word] + __popc(bits[word] & ((1u << (rel & 31)) - 1u))] = row;
        }
      }
      placed += total;
      __syncthreads();  // the next window (or id) clears the bitmap
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Backward: the sums.

// Partial slot of the chunk starting at sorted position k, chunk j of its id (header: slots never collide).
__device__ __forceinline__ long long chunk_slot(int k, int j) { return 2LL * (k / EMB_CHUNK) + (j == 0 ? 1 : 0); }

static_assert(EMB_CHUNK == 64, "item_sums holds a chunk's rows as two per lane");

template <typename T>
__device__ __forceinline__ void item_sums(float* __restrict__ d_items, float* __restrict__ partials, const T* __restrict__ dout,
                                          const int* __restrict__ sorted, const int* __restrict__ offsets,
                                          const int* __restrict__ ids, float scale, int V, int d) {
  const int lane = threadIdx.x & 31;
  const int total = offsets[V + 1];
  const long long warps = (static_cast<long long>(gridDim.x) * blockDim.x) >> 5;
  for (long long kk = (blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x) >> 5; kk < total; kk += warps) {
    const int k = static_cast<int>(kk);
    // Every lane reads the same position (broadcast loads): its id, the id's rows [s, e) in sorted, and
    // whether a chunk starts here (warp-uniform, so the warp moves on together).
    const int id = ids[sorted[k]];
    const int s = offsets[id], e = offsets[id + 1];
    if ((k - s) % EMB_CHUNK != 0) continue;
    const int n = min(EMB_CHUNK, e - k);
    // The chunk's rows, lane l holding its l-th and (32 + l)-th, so that no load of the sum waits on sorted.
    const int row_lo = lane < n ? sorted[k + lane] : 0;
    const int row_hi = 32 + lane < n ? sorted[k + 32 + lane] : 0;
    const bool multi = e - s > EMB_CHUNK;
    float* dst = multi ? partials + chunk_slot(k, (k - s) / EMB_CHUNK) * d : d_items + static_cast<long long>(id) * d;
    for (int c0 = 0; c0 < d; c0 += 32 * EMB_COLS) {
      float acc[EMB_COLS];
#pragma unroll
      for (int p = 0; p < EMB_COLS; ++p) acc[p] = 0.0f;
      // Rows in ascending order (j), each column's sum in that order; n is warp-uniform, so every lane
      // takes part in every shuffle.
#pragma unroll 4
      for (int j = 0; j < n; ++j) {
        const int row = __shfl_sync(0xffffffffu, j < 32 ? row_lo : row_hi, j & 31);
        const long long o = static_cast<long long>(row) * d;
#pragma unroll
        for (int p = 0; p < EMB_COLS; ++p) {
          const int c = c0 + lane + 32 * p;
          if (c < d) acc[p] += load_as_float(dout, o + c);
        }
      }
#pragma unroll
      for (int p = 0; p < EMB_COLS; ++p) {
        const int c = c0 + lane + 32 * p;
        if (c >= d) continue;
        if (multi) dst[c] = acc[p];
        else dst[c] += scale * acc[p];
      }
    }
  }
}

extern "C" __global__ void embed_item_sums(float* __restrict__ d_items, float* __restrict__ partials, const void* __restrict__ dout,
                                           int dout_bf16, const int* __restrict__ sorted, const int* __restrict__ offsets,
                                           const int* __restrict__ ids, float scale, int V, int d) {
  if (dout_bf16) item_sums(d_items, partials, static_cast<const bf16*>(dout), sorted, offsets, ids, scale, V, d);
  else item_sums(d_items, partials, static_cast<const float*>(dout), sorted, offsets, ids, scale, V, d);
}

// A CTA per listed id (grid-stride) of more than one chunk: d_items[id] += scale · the sum of its m chunk
// sums, in one pass over the columns: thread t takes column t % width and phase t / width, width the
// power of two ≥ d from 32 to EMB_COMBINE_THREADS (wider d takes passes of width columns); phase p adds
// chunks p, p + phases, … in order, then the phases' sums are added in order. The order depends on d and m
// only.
extern "C" __global__ void __launch_bounds__(EMB_COMBINE_THREADS) embed_item_combine(float* __restrict__ d_items,
                                                                                    const float* __restrict__ partials,
                                                                                    const int* __restrict__ large,
                                                                                    const int* __restrict__ counts,
                                                                                    const int* __restrict__ offsets, float scale,
                                                                                    int V, int d) {
  __shared__ float part_s[EMB_COMBINE_THREADS];
  int width = 32;
  while (width < d && width < EMB_COMBINE_THREADS) width <<= 1;
  const int phases = EMB_COMBINE_THREADS / width;
  const int col = threadIdx.x % width, phase = threadIdx.x / width;
  const int listed = counts[V + 1];
  for (int b = blockIdx.x; b < listed; b += gridDim.x) {
    const int id = large[b];
    const int s = offsets[id], e = offsets[id + 1];
    if (e - s <= EMB_CHUNK) continue;  // one chunk: embed_item_sums added it (uniform across the CTA)
    const int chunks = (e - s + EMB_CHUNK - 1) / EMB_CHUNK;
    for (int c0 = 0; c0 < d; c0 += width) {
      const int c = c0 + col;
      float acc = 0.0f;
      if (c < d) {
#pragma unroll 8
        for (int j = phase; j < chunks; j += phases) acc += partials[chunk_slot(s + j * EMB_CHUNK, j) * d + c];
      }
      part_s[threadIdx.x] = acc;
      __syncthreads();
      if (phase == 0 && c < d) {
        float sum = part_s[col];
        for (int p = 1; p < phases; ++p) sum += part_s[p * width + col];
        d_items[static_cast<long long>(id) * d + c] += scale * sum;
      }
      __syncthreads();  // part_s is rewritten by the next pass or id
    }
  }
}

// A CTA per 32 consecutive elements i = t·d + c of d_positions (flat over L·d, grid-stride): thread (lane,
// phase) sums sequences b = phase, phase + EMB_POS_PHASES, … in order, those that hold position t (t ≥
// start_b; the others' loads of dout are not issued), then lane's EMB_POS_PHASES sums are added in phase
// order: a fixed order, and B / 8 rows on each thread's dependent chain rather than B. Sequence b's row
// of position t is first_b + t − start_b, so its element is (first_b − start_b)·d + i.
template <typename T>
__device__ __forceinline__ void position_sums(float* __restrict__ d_positions, const T* __restrict__ dout, const int* __restrict__ seqs,
                                              int rows, int B, int L, int d) {
  __shared__ float part_s[EMB_POS_PHASES][32];
  const int lane = threadIdx.x & 31, phase = threadIdx.x >> 5;
  const long long n = static_cast<long long>(L) * d;
  for (long long i0 = blockIdx.x * 32LL; i0 < n; i0 += gridDim.x * 32LL) {
    const long long i = i0 + lane;
    float acc = 0.0f;
    if (i < n) {
      const int t = static_cast<int>(i / d);
      // EMB_POS_UNROLL sequences at a time: their spans loaded first, then their rows' loads issued
      // together (a load is predicated off where the sequence does not hold t), then added in b order.
      for (int b0 = phase; b0 < B; b0 += EMB_POS_UNROLL * EMB_POS_PHASES) {
        int2 span[EMB_POS_UNROLL];
#pragma unroll
        for (int u = 0; u < EMB_POS_UNROLL; ++u) {
          const int b = b0 + u * EMB_POS_PHASES;
          span[u] = b < B ? sequence_span(seqs, b, L, rows) : make_int2(0, 0);
        }
        float v[EMB_POS_UNROLL];
#pragma unroll
        for (int u = 0; u < EMB_POS_UNROLL; ++u) {
          const int start = L - span[u].y;  // L for an empty sequence: no t reaches it
          v[u] = t >= start ? load_as_float(dout, static_cast<long long>(span[u].x - start) * d + i) : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < EMB_POS_UNROLL; ++u) {
          if (t >= L - span[u].y) acc += v[u];
        }
      }
    }
    part_s[phase][lane] = acc;
    __syncthreads();
    if (phase == 0 && i < n) {
      float sum = part_s[0][lane];
#pragma unroll
      for (int p = 1; p < EMB_POS_PHASES; ++p) sum += part_s[p][lane];
      d_positions[i] += sum;
    }
    __syncthreads();  // part_s is rewritten for the next elements
  }
}

extern "C" __global__ void __launch_bounds__(32 * EMB_POS_PHASES)
    embed_position_sums(float* __restrict__ d_positions, const void* __restrict__ dout, int dout_bf16, const int* __restrict__ seqs,
                        int rows, int B, int L, int d) {
  if (dout_bf16) position_sums(d_positions, static_cast<const bf16*>(dout), seqs, rows, B, L, d);
  else position_sums(d_positions, static_cast<const float*>(dout), seqs, rows, B, L, d);
}
