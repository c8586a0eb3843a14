// @variants sm80
//
// elementwise: the memory-bound ops of the ops interface (src/backend/ops.ts), one kernel each, with
// launchers of the same names and argument order in src/backend/cuda/elementwise-kernels.ts and CPU
// references in src/backend/cpu/elementwise.ts, dropout.ts and cpu-ops.ts (fill, copy, axpy).
//
// DTYPES: a floating operand is f32 or bf16; kernels take it as a `void*` plus an int flag (1 = bf16)
// and dispatch once, at entry, to a body templated on the element type. Arithmetic in fp32 (fp64 where
// stated: axpy and dropout reproduce the CPU's double products); bf16 stores round to nearest even.
// Indices are 64-bit wherever they cover a whole tensor (n, rows × cols up to 2^31 and beyond).
//
// BANDWIDTH: every kernel moves PACKs of 8 consecutive elements per thread and step (16-byte loads and
// stores: one for 8 bf16, two for 8 f32) when every pointer it touches is 16-byte aligned (always, for
// the memory plan's views; element by element otherwise, with the same results). Element ops run a
// grid-stride loop over the packs of n, then the < 8 tail elements one by one. Row ops give each row
// a team of TX threads (a power of two ≤ 32 that covers the row's packs; PACKs when cols % 8 = 0,
// single elements otherwise): a CTA handles CTA/TX rows at a time.
//
//   ew_fill_b32      out[n] (f32 or i32) = bits
//   ew_fill_b16      out[n] (bf16) = bits                            the host rounds the value to bf16
//   ew_copy          out[n] = x[n], any f32/bf16 pair
//   ew_axpy          y[n] (+=) alpha · x[n], f32: in fp64, one rounding to f32 at the end (CPU's double
//                    y + alpha·x, bit for bit)
//   ew_add           out[n] = a[n] + b[n], one dtype; out may alias a or b (0 on padding rows)
//   ew_slice_rows    out[r, :] = x[first + r·stride, :] for r < rows, rows of cols; any f32/bf16 pair
//   ew_last_rows     out[b, :] = x[first_b + len_b − 1, :] for b < B, (first_b, len_b) = seqs[b] (i32 [B × 2],
//                    ops.SequenceRows): each sequence's last position; 0 for len_b = 0; NaN for a malformed
//                    sequence (len_b < 0, or that row outside x's `rows` rows: nothing is read); any f32/bf16 pair
//   ew_mask_padded   out[r, :] = ids[r] ≠ 0 ? x[r, :] : 0, one dtype; out may alias x
//   ew_dropout       out[n] = keep ? x · scale : 0, one dtype; out may alias x. Element i is kept iff
//                    (word (i & 3) of philox4x32([i >> 2, site, 0, DROP], [seed, step])) >> 8 ≥
//                    threshold (src/backend/philox.ts); one Philox call per group of 4 elements (two
//                    per pack). x · scale is the double product rounded once to f32, as the CPU's.
//                    counters (nullable): a replayed step's counters; the step is read from counters[0].
//   ew_relu_forward  out[n] = x > 0 ? x : 0, one dtype; out may alias x
//   ew_relu_backward dx[n] = out > 0 ? dout : 0; dx, dout one dtype, out either; dx may alias dout
//   ew_bias_add      out[r, :] = out[r, :] + bias (in place); out f32 or bf16, bias f32
//   ew_bias_backward dBias[cols] (+=) Σ_r dout[r, :]; dBias f32, dout f32 or bf16. Two stages, no float
//                    atomics: ew_bias_backward sums each chunk of rows_per_chunk rows per column into
//                    partial[chunk, cols] (f32 scratch owned by the backend), then the chunks' partials
//                    are added per column in column_sums.cuh's fixed order into dBias: by the CTA of
//                    each strip of columns that finishes last (counters != null: u32 counters[strip],
//                    0 before the launch and left 0; one launch), or by ew_bias_backward_sum (counters
//                    = null: a second launch, for partials too many for one CTA). With a single chunk
//                    (partial = null) the first stage adds into dBias itself.
// PADDING ROWS (ids != null, i32 per row; ew_add and ew_dropout see n elements as rows of cols): a row
//   whose id is 0 is padding. ew_add and ew_dropout write 0 there (their inputs not read); ew_bias_add
//   leaves it as it is; ew_bias_backward leaves it out of the sums (as a row of zeros: the order of the
//   sums does not change). The models pass the batch's ids where padding rows do not matter, so that
//   they cost (almost) nothing.
// ACCUMULATES: ew_axpy's y, dBias. OVERWRITES: everything else (bias_add in place; partial).
// Nothing is saved for backward: dropout's mask is regenerated from its key.

#include <cuda_bf16.h>
#include <stdint.h>

#include "column_sums.cuh"
#include "philox.cuh"
#include "step.cuh"

typedef __nv_bfloat16 bf16;


// Elements a thread moves per step: 16 bytes of bf16, 32 of f32.
#define PACK 8

// Threads of a ew_bias_backward CTA, and the rows each thread loads before adding (loads in flight).
#define BIAS_THREADS 256
#define BIAS_UNROLL 4

// ---------------------------------------------------------------------------------------------------
// Element access, packs and loops

__device__ __forceinline__ float ld(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, long long i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, long long i, float v) { p[i] = __float2bfloat16_rn(v); }

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// bf16 word halves as floats (a bf16 is the top half of an f32): element 2k is the low half (little-endian).
__device__ __forceinline__ float lo_bf16(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float hi_bf16(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }
__device__ __forceinline__ uint32_t bf16_pair(float lo, float hi) {
  return static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
         (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}

// Elements i .. i+7 (i a multiple of PACK): one or two 16-byte accesses when vec (the base pointer is
// 16-byte aligned, so every pack is), else element by element. The values are the same either way.
__device__ __forceinline__ void ld8(const float* p, long long i, bool vec, float (&v)[PACK]) {
  if (vec) {
    const float4 a = reinterpret_cast<const float4*>(p + i)[0];
    const float4 b = reinterpret_cast<const float4*>(p + i)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
    v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
  } else {
#pragma unroll
    for (int k = 0; k < PACK; ++k) v[k] = p[i + k];
  }
}

__device__ __forceinline__ void ld8(const bf16* p, long long i, bool vec, float (&v)[PACK]) {
  if (vec) {
    const uint4 u = *reinterpret_cast<const uint4*>(p + i);
    v[0] = lo_bf16(u.x); v[1] = hi_bf16(u.x); v[2] = lo_bf16(u.y); v[3] = hi_bf16(u.y);
    v[4] = lo_bf16(u.z); v[5] = hi_bf16(u.z); v[6] = lo_bf16(u.w); v[7] = hi_bf16(u.w);
  } else {
#pragma unroll
    for (int k = 0; k < PACK; ++k) v[k] = __bfloat162float(p[i + k]);
  }
}

__device__ __forceinline__ void st8(float* p, long long i, bool vec, const float (&v)[PACK]) {
  if (vec) {
    reinterpret_cast<float4*>(p + i)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(p + i)[1] = make_float4(v[4], v[5], v[6], v[7]);
  } else {
#pragma unroll
    for (int k = 0; k < PACK; ++k) p[i + k] = v[k];
  }
}

__device__ __forceinline__ void st8(bf16* p, long long i, bool vec, const float (&v)[PACK]) {
  if (vec) {
    *reinterpret_cast<uint4*>(p + i) = make_uint4(bf16_pair(v[0], v[1]), bf16_pair(v[2], v[3]), bf16_pair(v[4], v[5]), bf16_pair(v[6], v[7]));
  } else {
#pragma unroll
    for (int k = 0; k < PACK; ++k) p[i + k] = __float2bfloat16_rn(v[k]);
  }
}

__device__ __forceinline__ long long thread_index() { return blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ long long thread_count() { return static_cast<long long>(gridDim.x) * blockDim.x; }

// Bit k set: element i + k (i a multiple of PACK) lies in a padding row (ids[row] = 0, rows of cols);
// 0 without ids.
__device__ __forceinline__ unsigned pad_bits(const int* __restrict__ ids, int cols, long long i) {
  if (ids == nullptr) return 0u;
  if (cols % PACK == 0) return ids[i / cols] == 0 ? 0xffu : 0u;
  unsigned bits = 0u;
#pragma unroll
  for (int k = 0; k < PACK; ++k) bits |= (ids[(i + k) / cols] == 0 ? 1u : 0u) << k;
  return bits;
}

// Whether element i lies in a padding row (false without ids).
__device__ __forceinline__ bool pad_element(const int* __restrict__ ids, int cols, long long i) { return ids != nullptr && ids[i / cols] == 0; }

// n elements: pack(i) for every whole pack (i = 0, 8, …), then element(i) for the tail, grid-stride.
template <typename PackOp, typename ElementOp>
__device__ __forceinline__ void for_elements(long long n, PackOp pack, ElementOp element) {
  const long long packs = n / PACK;
  for (long long k = thread_index(); k < packs; k += thread_count()) pack(k * PACK);
  for (long long i = packs * PACK + thread_index(); i < n; i += thread_count()) element(i);
}

// The row team of a row of `units` packs or elements: the least power of two ≥ units, at most 32
// (src/backend/cuda/elementwise-kernels.ts's teamWidth).
__device__ __forceinline__ int team_width(int units) {
  return units >= 32 ? 32 : (units <= 1 ? 1 : 1 << (32 - __clz(units - 1)));
}

// Row ops: row_op(r, c) for column c = the first of a pack (W = PACK, when cols % PACK = 0) or a single
// column (W = 1); a team of team_width(cols / W) threads per row, CTAs striding the rows.
template <int W, typename RowOp>
__device__ __forceinline__ void for_rows(int rows, int cols, RowOp row_op) {
  const int units = cols / W;
  const int tx = team_width(units);
  const int ty = blockDim.x / tx;
  const int lane = threadIdx.x % tx;
  for (long long r = blockIdx.x * ty + threadIdx.x / tx; r < rows; r += static_cast<long long>(gridDim.x) * ty) {
    for (int u = lane; u < units; u += tx) row_op(r, u * W);
  }
}


// ---------------------------------------------------------------------------------------------------
// fill, copy, axpy, add

extern "C" __global__ void ew_fill_b32(uint32_t* __restrict__ out, uint32_t bits, long long n) {
  const bool vec = aligned16(out);
  const uint4 w = make_uint4(bits, bits, bits, bits);
  for_elements(
      n,
      [&](long long i) {
        if (vec) {
          reinterpret_cast<uint4*>(out + i)[0] = w;
          reinterpret_cast<uint4*>(out + i)[1] = w;
        } else {
#pragma unroll
          for (int k = 0; k < PACK; ++k) out[i + k] = bits;
        }
      },
      [&](long long i) { out[i] = bits; });
}

extern "C" __global__ void ew_fill_b16(uint16_t* __restrict__ out, uint32_t bits, long long n) {
  const bool vec = aligned16(out);
  const uint16_t b = static_cast<uint16_t>(bits);
  const uint32_t pair = static_cast<uint32_t>(b) * 0x10001u;
  for_elements(
      n,
      [&](long long i) {
        if (vec) {
          *reinterpret_cast<uint4*>(out + i) = make_uint4(pair, pair, pair, pair);
        } else {
#pragma unroll
          for (int k = 0; k < PACK; ++k) out[i + k] = b;
        }
      },
      [&](long long i) { out[i] = b; });
}

template <typename O, typename X>
__device__ __forceinline__ void copy_body(O* __restrict__ out, const X* __restrict__ x, long long n) {
  const bool vec = aligned16(out) && aligned16(x);
  for_elements(
      n,
      [&](long long i) {
        float v[PACK];
        ld8(x, i, vec, v);
        st8(out, i, vec, v);
      },
      [&](long long i) { st(out, i, ld(x, i)); });
}

extern "C" __global__ void ew_copy(void* out, int out_bf16, const void* x, int x_bf16, long long n) {
  if (out_bf16) {
    if (x_bf16) copy_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), n);
    else copy_body(static_cast<bf16*>(out), static_cast<const float*>(x), n);
  } else {
    if (x_bf16) copy_body(static_cast<float*>(out), static_cast<const bf16*>(x), n);
    else copy_body(static_cast<float*>(out), static_cast<const float*>(x), n);
  }
}

// Explicit _rn intrinsics: no fused multiply-add, so the result is the CPU's y + alpha·x in doubles.
__device__ __forceinline__ float axpy_one(float y, float x, double alpha) {
  return __double2float_rn(__dadd_rn(static_cast<double>(y), __dmul_rn(alpha, static_cast<double>(x))));
}

extern "C" __global__ void ew_axpy(float* __restrict__ y, const float* __restrict__ x, double alpha, long long n) {
  const bool vec = aligned16(y) && aligned16(x);
  for_elements(
      n,
      [&](long long i) {
        float a[PACK], b[PACK];
        ld8(y, i, vec, a);
        ld8(x, i, vec, b);
#pragma unroll
        for (int k = 0; k < PACK; ++k) a[k] = axpy_one(a[k], b[k], alpha);
        st8(y, i, vec, a);
      },
      [&](long long i) { y[i] = axpy_one(y[i], x[i], alpha); });
}

// No __restrict__: out may alias a or b (each pack is read whole before it is written, by one thread).
template <typename T>
__device__ __forceinline__ void add_body(T* out, const T* a, const T* b, long long n, const int* __restrict__ ids, int cols) {
  const bool vec = aligned16(out) && aligned16(a) && aligned16(b);
  for_elements(
      n,
      [&](long long i) {
        const unsigned pad = pad_bits(ids, cols, i);
        float u[PACK], v[PACK];
        if (pad == 0xffu) {
#pragma unroll
          for (int k = 0; k < PACK; ++k) u[k] = 0.f;
        } else {
          ld8(a, i, vec, u);
          ld8(b, i, vec, v);
#pragma unroll
          for (int k = 0; k < PACK; ++k) u[k] = (pad >> k) & 1u ? 0.f : u[k] + v[k];
        }
        st8(out, i, vec, u);
      },
      [&](long long i) { st(out, i, pad_element(ids, cols, i) ? 0.f : ld(a, i) + ld(b, i)); });
}

extern "C" __global__ void ew_add(void* out, const void* a, const void* b, int bf16_flag, long long n, const int* ids, int cols) {
  if (bf16_flag) add_body(static_cast<bf16*>(out), static_cast<const bf16*>(a), static_cast<const bf16*>(b), n, ids, cols);
  else add_body(static_cast<float*>(out), static_cast<const float*>(a), static_cast<const float*>(b), n, ids, cols);
}

// ---------------------------------------------------------------------------------------------------
// Row ops: a team of threads per row

template <typename O, typename X>
__device__ __forceinline__ void slice_rows_body(O* __restrict__ out, const X* __restrict__ x, int rows, int first, int stride, int cols) {
  const auto src_of = [&](long long r) { return (first + r * stride) * cols; };
  if (cols % PACK == 0) {
    const bool vec = aligned16(out) && aligned16(x);
    for_rows<PACK>(rows, cols, [&](long long r, int c) {
      float v[PACK];
      ld8(x, src_of(r) + c, vec, v);
      st8(out, r * cols + c, vec, v);
    });
  } else {
    for_rows<1>(rows, cols, [&](long long r, int c) { st(out, r * cols + c, ld(x, src_of(r) + c)); });
  }
}

extern "C" __global__ void ew_slice_rows(void* out, int out_bf16, const void* x, int x_bf16, int rows, int first, int stride, int cols) {
  if (out_bf16) {
    if (x_bf16) slice_rows_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), rows, first, stride, cols);
    else slice_rows_body(static_cast<bf16*>(out), static_cast<const float*>(x), rows, first, stride, cols);
  } else {
    if (x_bf16) slice_rows_body(static_cast<float*>(out), static_cast<const bf16*>(x), rows, first, stride, cols);
    else slice_rows_body(static_cast<float*>(out), static_cast<const float*>(x), rows, first, stride, cols);
  }
}

// The row of sequence b's last position, or -1 for an empty sequence, -2 for a malformed one (len_b < 0, or
// the row outside 0..rows−1).
__device__ __forceinline__ long long last_row(const int* __restrict__ seqs, long long b, int rows) {
  const int first = seqs[2 * b], len = seqs[2 * b + 1];
  if (len <= 0) return len == 0 ? -1 : -2;
  const long long row = static_cast<long long>(first) + len - 1;
  return row >= 0 && row < rows ? row : -2;
}

template <typename O, typename X>
__device__ __forceinline__ void last_rows_body(O* __restrict__ out, const X* __restrict__ x, const int* __restrict__ seqs, int B, int rows,
                                               int cols) {
  const auto fill = [](long long row) { return row == -1 ? 0.f : __int_as_float(0x7fc00000); };
  if (cols % PACK == 0) {
    const bool vec = aligned16(out) && aligned16(x);
    for_rows<PACK>(B, cols, [&](long long b, int c) {
      const long long row = last_row(seqs, b, rows);
      float v[PACK];
      if (row >= 0) {
        ld8(x, row * cols + c, vec, v);
      } else {
#pragma unroll
        for (int k = 0; k < PACK; ++k) v[k] = fill(row);
      }
      st8(out, b * cols + c, vec, v);
    });
  } else {
    for_rows<1>(B, cols, [&](long long b, int c) {
      const long long row = last_row(seqs, b, rows);
      st(out, b * cols + c, row >= 0 ? ld(x, row * cols + c) : fill(row));
    });
  }
}

extern "C" __global__ void ew_last_rows(void* out, int out_bf16, const void* x, int x_bf16, const int* __restrict__ seqs, int B, int rows,
                                        int cols) {
  if (out_bf16) {
    if (x_bf16) last_rows_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), seqs, B, rows, cols);
    else last_rows_body(static_cast<bf16*>(out), static_cast<const float*>(x), seqs, B, rows, cols);
  } else {
    if (x_bf16) last_rows_body(static_cast<float*>(out), static_cast<const bf16*>(x), seqs, B, rows, cols);
    else last_rows_body(static_cast<float*>(out), static_cast<const float*>(x), seqs, B, rows, cols);
  }
}

// out may alias x: then kept rows are left as they are.
template <typename T>
__device__ __forceinline__ void mask_padded_body(T* out, const T* x, const int* __restrict__ ids, int rows, int cols) {
  const bool aliased = out == x;
  if (cols % PACK == 0) {
    const bool vec = aligned16(out) && aligned16(x);
    for_rows<PACK>(rows, cols, [&](long long r, int c) {
      const long long o = r * cols + c;
      float v[PACK];
      if (ids[r] == 0) {
#pragma unroll
        for (int k = 0; k < PACK; ++k) v[k] = 0.f;
        st8(out, o, vec, v);
      } else if (!aliased) {
        ld8(x, o, vec, v);
        st8(out, o, vec, v);
      }
    });
  } else {
    for_rows<1>(rows, cols, [&](long long r, int c) {
      const long long o = r * cols + c;
      if (ids[r] == 0) st(out, o, 0.f);
      else if (!aliased) st(out, o, ld(x, o));
    });
  }
}

extern "C" __global__ void ew_mask_padded(void* out, const void* x, const int* __restrict__ ids, int bf16_flag, int rows, int cols) {
  if (bf16_flag) mask_padded_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), ids, rows, cols);
  else mask_padded_body(static_cast<float*>(out), static_cast<const float*>(x), ids, rows, cols);
}

template <typename T>
__device__ __forceinline__ void bias_add_body(T* __restrict__ out, const float* __restrict__ bias, int rows, int cols, const int* __restrict__ ids) {
  if (cols % PACK == 0) {
    const bool vec = aligned16(out) && aligned16(bias);
    for_rows<PACK>(rows, cols, [&](long long r, int c) {
      if (ids != nullptr && ids[r] == 0) return;
      const long long o = r * cols + c;
      float v[PACK], b[PACK];
      ld8(out, o, vec, v);
      ld8(bias, c, vec, b);
#pragma unroll
      for (int k = 0; k < PACK; ++k) v[k] += b[k];
      st8(out, o, vec, v);
    });
  } else {
    for_rows<1>(rows, cols, [&](long long r, int c) {
      if (ids != nullptr && ids[r] == 0) return;
      const long long o = r * cols + c;
      st(out, o, ld(out, o) + bias[c]);
    });
  }
}

extern "C" __global__ void ew_bias_add(void* out, int out_bf16, const float* __restrict__ bias, int rows, int cols, const int* ids) {
  if (out_bf16) bias_add_body(static_cast<bf16*>(out), bias, rows, cols, ids);
  else bias_add_body(static_cast<float*>(out), bias, rows, cols, ids);
}

// ---------------------------------------------------------------------------------------------------
// Dropout
//
// The fp64 product stays: it is not the bottleneck. Per pack and SM on sm_90: 8 fp32→fp64→fp32
// conversion pairs at 16 conversions per clock ≈ 1 clock (the 8 DMULs, at 64 per clock, less); the two
// Philox calls (10 rounds of 2 wide integer multiplies, 2 three-way xors, 2 key adds each) at 64 integer
// multiplies per clock ≈ 2.5 clocks; the pack's 32 (bf16) or 64 (f32) bytes at ~4 TB/s over 132 SMs
// ≈ 2 or 4 clocks. The pipes overlap, so Philox and memory set the time. An fp32 product would have to
// reproduce the CPU's double rounding round_f32(round_f64(x · scale)) for every x: not worth the proof.

__device__ __forceinline__ float dropped(float x, uint32_t word, uint32_t threshold, double scale) {
  return (word >> 8) >= threshold ? __double2float_rn(__dmul_rn(static_cast<double>(x), scale)) : 0.f;
}

// Group g = elements 4g .. 4g+3; a pack k is groups 2k and 2k+1. The counter's word 0 is the group index
// reduced mod 2^32, as the CPU's (g | 0). The tail (from the last whole pack on) goes a group per thread.
template <typename T>
__device__ __forceinline__ void dropout_body(T* out, const T* x, long long n, uint32_t threshold, double scale, uint32_t seed,
                                             uint32_t step, uint32_t site, const int* __restrict__ ids, int cols) {
  const bool vec = aligned16(out) && aligned16(x);
  const long long packs = n / PACK;
  for (long long k = thread_index(); k < packs; k += thread_count()) {
    const unsigned pad = pad_bits(ids, cols, k * PACK);
    if (pad == 0xffu) {
      const float zero[PACK] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      st8(out, k * PACK, vec, zero);
      continue;
    }
    const uint4 a = philox4x32(static_cast<uint32_t>(2 * k), site, 0u, PHILOX_DROPOUT_STREAM, seed, step);
    const uint4 b = philox4x32(static_cast<uint32_t>(2 * k + 1), site, 0u, PHILOX_DROPOUT_STREAM, seed, step);
    const uint32_t words[PACK] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    float v[PACK];
    ld8(x, k * PACK, vec, v);
#pragma unroll
    for (int e = 0; e < PACK; ++e) v[e] = (pad >> e) & 1u ? 0.f : dropped(v[e], words[e], threshold, scale);
    st8(out, k * PACK, vec, v);
  }
  const long long groups = (n + 3) >> 2;
  for (long long g = 2 * packs + thread_index(); g < groups; g += thread_count()) {
    const uint4 w = philox4x32(static_cast<uint32_t>(g), site, 0u, PHILOX_DROPOUT_STREAM, seed, step);
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const long long i = 4 * g + e;
      if (i < n) st(out, i, pad_element(ids, cols, i) ? 0.f : dropped(ld(x, i), words[e], threshold, scale));
    }
  }
}

extern "C" __global__ void ew_dropout(void* out, const void* x, int bf16_flag, long long n, uint32_t threshold, double scale,
                                      uint32_t seed, uint32_t step, uint32_t site, const int* counters, const int* ids, int cols) {
  const uint32_t at = step_of(step, counters);
  if (bf16_flag) dropout_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), n, threshold, scale, seed, at, site, ids, cols);
  else dropout_body(static_cast<float*>(out), static_cast<const float*>(x), n, threshold, scale, seed, at, site, ids, cols);
}

// ---------------------------------------------------------------------------------------------------
// ReLU

// x > 0 ? x : 0, as the CPU writes it: NaN and -0 give +0.
__device__ __forceinline__ float relu(float v) { return v > 0.f ? v : 0.f; }

template <typename T>
__device__ __forceinline__ void relu_forward_body(T* out, const T* x, long long n) {
  const bool vec = aligned16(out) && aligned16(x);
  for_elements(
      n,
      [&](long long i) {
        float v[PACK];
        ld8(x, i, vec, v);
#pragma unroll
        for (int k = 0; k < PACK; ++k) v[k] = relu(v[k]);
        st8(out, i, vec, v);
      },
      [&](long long i) { st(out, i, relu(ld(x, i))); });
}

extern "C" __global__ void ew_relu_forward(void* out, const void* x, int bf16_flag, long long n) {
  if (bf16_flag) relu_forward_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), n);
  else relu_forward_body(static_cast<float*>(out), static_cast<const float*>(x), n);
}

template <typename D, typename O>
__device__ __forceinline__ void relu_backward_body(D* dx, const D* dout, const O* __restrict__ out, long long n) {
  const bool vec = aligned16(dx) && aligned16(dout) && aligned16(out);
  for_elements(
      n,
      [&](long long i) {
        float g[PACK], o[PACK];
        ld8(dout, i, vec, g);
        ld8(out, i, vec, o);
#pragma unroll
        for (int k = 0; k < PACK; ++k) g[k] = o[k] > 0.f ? g[k] : 0.f;
        st8(dx, i, vec, g);
      },
      [&](long long i) { st(dx, i, ld(out, i) > 0.f ? ld(dout, i) : 0.f); });
}

extern "C" __global__ void ew_relu_backward(void* dx, const void* dout, int d_bf16, const void* out, int out_bf16, long long n) {
  if (d_bf16) {
    if (out_bf16) relu_backward_body(static_cast<bf16*>(dx), static_cast<const bf16*>(dout), static_cast<const bf16*>(out), n);
    else relu_backward_body(static_cast<bf16*>(dx), static_cast<const bf16*>(dout), static_cast<const float*>(out), n);
  } else {
    if (out_bf16) relu_backward_body(static_cast<float*>(dx), static_cast<const float*>(dout), static_cast<const bf16*>(out), n);
    else relu_backward_body(static_cast<float*>(dx), static_cast<const float*>(dout), static_cast<const float*>(out), n);
  }
}

// ---------------------------------------------------------------------------------------------------
// Bias backward, stage 1: a CTA per (strip of columns, chunk of rows) = (blockIdx.x, blockIdx.y).
//
// Columns go in units of W (PACK when cols % PACK = 0, else 1); a CTA is tx = team_width(cols / W)
// threads across units × ty = BIAS_THREADS / tx across rows, and owns units [blockIdx.x·tx, +tx) of
// rows [blockIdx.y·rows_per_chunk, +rows_per_chunk) ∩ [0, rows). Thread (tx, ty) sums its unit's W
// columns over rows ty, ty + ty_count, … of the chunk in that order (BIAS_UNROLL loads in flight), then
// the CTA halves the ty partials in a fixed shared-memory tree. Every sum's order depends on rows,
// cols and rows_per_chunk only (not on the dtype, the alignment or the GPU): bit-identical run to run.
template <int W, typename T>
__device__ __forceinline__ void bias_chunk_sums(float* __restrict__ dbias, float* __restrict__ partial, unsigned* __restrict__ counters,
                                                const T* __restrict__ dout, int rows, int cols, int rows_per_chunk, float* part,
                                                const int* __restrict__ ids) {
  const int units = cols / W;
  const int tx_count = team_width(units);
  const int ty_count = BIAS_THREADS / tx_count;
  const int t = threadIdx.x;
  const int tx = t % tx_count, ty = t / tx_count;
  const int unit = blockIdx.x * tx_count + tx;
  const bool vec = aligned16(dout);
  const long long r0 = static_cast<long long>(blockIdx.y) * rows_per_chunk;
  const long long r1 = min(r0 + rows_per_chunk, static_cast<long long>(rows));
  float acc[W];
#pragma unroll
  for (int k = 0; k < W; ++k) acc[k] = 0.f;
  if (unit < units) {
    const int c = unit * W;
    // A padding row counts as zeros (not read): the sums keep their order.
    auto load = [&](long long r, float (&v)[W]) {
      if (ids != nullptr && ids[r] == 0) {
#pragma unroll
        for (int k = 0; k < W; ++k) v[k] = 0.f;
      } else if constexpr (W == PACK) {
        ld8(dout, r * cols + c, vec, v);
      } else {
        v[0] = ld(dout, r * cols + c);
      }
    };
    long long r = r0 + ty;
    for (; r + (BIAS_UNROLL - 1) * ty_count < r1; r += BIAS_UNROLL * ty_count) {
      float v[BIAS_UNROLL][W];
#pragma unroll
      for (int u = 0; u < BIAS_UNROLL; ++u) load(r + u * ty_count, v[u]);
#pragma unroll
      for (int u = 0; u < BIAS_UNROLL; ++u) {
#pragma unroll
        for (int k = 0; k < W; ++k) acc[k] += v[u][k];
      }
    }
    for (; r < r1; r += ty_count) {
      float v[W];
      load(r, v);
#pragma unroll
      for (int k = 0; k < W; ++k) acc[k] += v[k];
    }
  }
  // part[k][t]: the threads of one ty row are adjacent, so every step below is free of bank conflicts.
#pragma unroll
  for (int k = 0; k < W; ++k) part[k * BIAS_THREADS + t] = acc[k];
  __syncthreads();
  for (int half = ty_count / 2; half > 0; half >>= 1) {
    if (ty < half) {
#pragma unroll
      for (int k = 0; k < W; ++k) part[k * BIAS_THREADS + t] += part[k * BIAS_THREADS + t + half * tx_count];
    }
    __syncthreads();
  }
  if (ty == 0 && unit < units) {
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const int c = unit * W + k;
      if (partial != nullptr) partial[static_cast<long long>(blockIdx.y) * cols + c] = part[k * BIAS_THREADS + t];
      else dbias[c] += part[k * BIAS_THREADS + t];
    }
  }
  // One launch: the strip's last CTA to finish adds its columns' partials of every chunk (the branch is
  // the same for the CTA).
  if (partial != nullptr && counters != nullptr && colsum_last_arrival(&counters[blockIdx.x], gridDim.y)) {
    const int c0 = blockIdx.x * tx_count * W;
    const int strip = min(tx_count * W, cols - c0);
    colsum_tail(dbias + c0, nullptr, strip, partial, cols, c0, strip, gridDim.y);
  }
}

template <typename T>
__device__ __forceinline__ void bias_backward_body(float* dbias, float* partial, unsigned* counters, const T* dout, int rows, int cols,
                                                   int rows_per_chunk, float* part, const int* ids) {
  if (cols % PACK == 0) bias_chunk_sums<PACK>(dbias, partial, counters, dout, rows, cols, rows_per_chunk, part, ids);
  else bias_chunk_sums<1>(dbias, partial, counters, dout, rows, cols, rows_per_chunk, part, ids);
}

extern "C" __global__ void __launch_bounds__(BIAS_THREADS)
ew_bias_backward(float* __restrict__ dbias, float* __restrict__ partial, unsigned* __restrict__ counters, const void* __restrict__ dout,
                 int dout_bf16, int rows, int cols, int rows_per_chunk, const int* __restrict__ ids) {
  __shared__ float part[PACK * BIAS_THREADS];
  if (dout_bf16) bias_backward_body(dbias, partial, counters, static_cast<const bf16*>(dout), rows, cols, rows_per_chunk, part, ids);
  else bias_backward_body(dbias, partial, counters, static_cast<const float*>(dout), rows, cols, rows_per_chunk, part, ids);
}

// Bias backward, stage 2 as a kernel of its own (counters = null): dbias[c] (+=) Σ_k partial[k, c] over
// the chunks k, a CTA per COLSUM_LANES columns (column_sums.cuh's order).
extern "C" __global__ void __launch_bounds__(COLSUM_LANES * COLSUM_PHASES)
ew_bias_backward_sum(float* __restrict__ dbias, const float* __restrict__ partial, int chunks, int cols) {
  colsum_phase_tree(dbias, partial, cols, 0, cols, chunks);
}
