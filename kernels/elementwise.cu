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
//   ew_fill_b32      out[n] (f32 or i32) = bits                      grid-stride over n
//   ew_fill_b16      out[n] (bf16) = bits                            the host rounds the value to bf16
//   ew_copy          out[n] = x[n], any f32/bf16 pair                grid-stride over n
//   ew_axpy          y[n] (+=) alpha · x[n], f32: in fp64, one rounding to f32 at the end (CPU's double
//                    y + alpha·x, bit for bit)
//   ew_add           out[n] = a[n] + b[n], one dtype; out may alias a or b
//   ew_slice_rows    out[r, :] = x[first + r·stride, :] for r < rows, rows of cols; any f32/bf16 pair
//   ew_mask_padded   out[r, :] = ids[r] ≠ 0 ? x[r, :] : 0, one dtype; out may alias x
//   ew_dropout       out[n] = keep ? x · scale : 0, one dtype; out may alias x. Element i is kept iff
//                    (word (i & 3) of philox4x32([i >> 2, site, 0, DROP], [seed, step])) >> 8 ≥
//                    threshold (src/backend/philox.ts); a thread owns a group of 4 elements (one Philox
//                    call). x · scale is the double product rounded once to f32, as the CPU computes it.
//                    counters (nullable): a replayed step's counters; the step is read from counters[0].
//   ew_relu_forward  out[n] = x > 0 ? x : 0, one dtype; out may alias x
//   ew_relu_backward dx[n] = out > 0 ? dout : 0; dx, dout one dtype, out either; dx may alias dout
//   ew_bias_add      out[r, :] = out[r, :] + bias (in place); out f32 or bf16, bias f32
//   ew_bias_backward dBias[cols] (+=) Σ_r dout[r, :]; dBias f32, dout f32 or bf16. Deterministic
//                    without atomics or workspace: one CTA of BIAS_THREADS per strip of 16 bytes of
//                    columns (4 f32 / 8 bf16), threads striding rows in a fixed pattern, then a fixed
//                    shared-memory tree.
// Row ops (slice_rows, mask_padded, bias_add) give each warp whole rows, lanes striding the columns.
// ACCUMULATES: ew_axpy's y, ew_bias_backward's dBias. OVERWRITES: everything else (bias_add in place).
// Nothing is saved for backward: dropout's mask is regenerated from its key.

#include <cuda_bf16.h>
#include <stdint.h>

#include "step.cuh"

typedef __nv_bfloat16 bf16;

// Counter word c3 of dropout masks ("DROP"), as src/backend/philox.ts's DROPOUT_STREAM.
#define EW_DROPOUT_STREAM 0x44524f50u

// Threads of a ew_bias_backward CTA (the launcher's block size), the bytes of columns it owns, and the
// loads each thread keeps in flight.
#define BIAS_THREADS 1024
#define BIAS_STRIP_BYTES 16
#define BIAS_UNROLL 8

// ---------------------------------------------------------------------------------------------------
// Element access and loops

__device__ __forceinline__ float ld(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, long long i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, long long i, float v) { p[i] = __float2bfloat16_rn(v); }

__device__ __forceinline__ long long thread_index() { return blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ long long thread_count() { return static_cast<long long>(gridDim.x) * blockDim.x; }

// Warps of the grid, for the row ops: warp w handles rows w, w + warps, …
__device__ __forceinline__ int warp_index() { return static_cast<int>(thread_index() >> 5); }
__device__ __forceinline__ int warp_count() { return static_cast<int>(thread_count() >> 5); }

// ---------------------------------------------------------------------------------------------------
// Philox4x32-10 (Random123 constants), as src/backend/philox.ts and kernels/cce_sampled.cu.

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

// ---------------------------------------------------------------------------------------------------
// fill, copy, axpy, add

extern "C" __global__ void ew_fill_b32(uint32_t* __restrict__ out, uint32_t bits, long long n) {
  for (long long i = thread_index(); i < n; i += thread_count()) out[i] = bits;
}

extern "C" __global__ void ew_fill_b16(uint16_t* __restrict__ out, uint32_t bits, long long n) {
  const uint16_t b = static_cast<uint16_t>(bits);
  for (long long i = thread_index(); i < n; i += thread_count()) out[i] = b;
}

template <typename O, typename X>
__device__ __forceinline__ void copy_body(O* __restrict__ out, const X* __restrict__ x, long long n) {
  for (long long i = thread_index(); i < n; i += thread_count()) st(out, i, ld(x, i));
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
extern "C" __global__ void ew_axpy(float* __restrict__ y, const float* __restrict__ x, double alpha, long long n) {
  for (long long i = thread_index(); i < n; i += thread_count()) {
    y[i] = __double2float_rn(__dadd_rn(static_cast<double>(y[i]), __dmul_rn(alpha, static_cast<double>(x[i]))));
  }
}

// No __restrict__: out may alias a or b (each element is read before it is written, by one thread).
template <typename T>
__device__ __forceinline__ void add_body(T* out, const T* a, const T* b, long long n) {
  for (long long i = thread_index(); i < n; i += thread_count()) st(out, i, ld(a, i) + ld(b, i));
}

extern "C" __global__ void ew_add(void* out, const void* a, const void* b, int bf16_flag, long long n) {
  if (bf16_flag) add_body(static_cast<bf16*>(out), static_cast<const bf16*>(a), static_cast<const bf16*>(b), n);
  else add_body(static_cast<float*>(out), static_cast<const float*>(a), static_cast<const float*>(b), n);
}

// ---------------------------------------------------------------------------------------------------
// Row ops: a warp per row

template <typename O, typename X>
__device__ __forceinline__ void slice_rows_body(O* __restrict__ out, const X* __restrict__ x, int rows, int first, int stride, int cols) {
  const int lane = threadIdx.x & 31;
  for (int r = warp_index(); r < rows; r += warp_count()) {
    const long long dst = static_cast<long long>(r) * cols;
    const long long src = (first + static_cast<long long>(r) * stride) * cols;
    for (int c = lane; c < cols; c += 32) st(out, dst + c, ld(x, src + c));
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

// out may alias x: then kept rows are left as they are.
template <typename T>
__device__ __forceinline__ void mask_padded_body(T* out, const T* x, const int* __restrict__ ids, int rows, int cols) {
  const int lane = threadIdx.x & 31;
  const bool aliased = out == x;
  for (int r = warp_index(); r < rows; r += warp_count()) {
    const long long o = static_cast<long long>(r) * cols;
    if (ids[r] == 0) {
      for (int c = lane; c < cols; c += 32) st(out, o + c, 0.f);
    } else if (!aliased) {
      for (int c = lane; c < cols; c += 32) st(out, o + c, ld(x, o + c));
    }
  }
}

extern "C" __global__ void ew_mask_padded(void* out, const void* x, const int* __restrict__ ids, int bf16_flag, int rows, int cols) {
  if (bf16_flag) mask_padded_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), ids, rows, cols);
  else mask_padded_body(static_cast<float*>(out), static_cast<const float*>(x), ids, rows, cols);
}

template <typename T>
__device__ __forceinline__ void bias_add_body(T* __restrict__ out, const float* __restrict__ bias, int rows, int cols) {
  const int lane = threadIdx.x & 31;
  for (int r = warp_index(); r < rows; r += warp_count()) {
    const long long o = static_cast<long long>(r) * cols;
    for (int c = lane; c < cols; c += 32) st(out, o + c, ld(out, o + c) + bias[c]);
  }
}

extern "C" __global__ void ew_bias_add(void* out, int out_bf16, const float* __restrict__ bias, int rows, int cols) {
  if (out_bf16) bias_add_body(static_cast<bf16*>(out), bias, rows, cols);
  else bias_add_body(static_cast<float*>(out), bias, rows, cols);
}

// ---------------------------------------------------------------------------------------------------
// Dropout

// Group g = elements 4g .. 4g+3 (the last group may be partial): one Philox call per thread and group.
template <typename T>
__device__ __forceinline__ void dropout_body(T* out, const T* x, long long n, uint32_t threshold, double scale, uint32_t seed,
                                             uint32_t step, uint32_t site) {
  const long long groups = (n + 3) >> 2;
  for (long long g = thread_index(); g < groups; g += thread_count()) {
    // The counter's word 0 is i >> 2 reduced mod 2^32, as the CPU's (g | 0).
    const uint4 w = philox4x32(static_cast<uint32_t>(g), site, 0u, EW_DROPOUT_STREAM, seed, step);
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
    const long long base = g << 2;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const long long i = base + k;
      if (i < n) {
        const float v = (words[k] >> 8) >= threshold ? __double2float_rn(__dmul_rn(static_cast<double>(ld(x, i)), scale)) : 0.f;
        st(out, i, v);
      }
    }
  }
}

extern "C" __global__ void ew_dropout(void* out, const void* x, int bf16_flag, long long n, uint32_t threshold, double scale,
                                      uint32_t seed, uint32_t step, uint32_t site, const int* counters) {
  const uint32_t at = step_of(step, counters);
  if (bf16_flag) dropout_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), n, threshold, scale, seed, at, site);
  else dropout_body(static_cast<float*>(out), static_cast<const float*>(x), n, threshold, scale, seed, at, site);
}

// ---------------------------------------------------------------------------------------------------
// ReLU

// x > 0 ? x : 0, as the CPU writes it: NaN and -0 give +0.
template <typename T>
__device__ __forceinline__ void relu_forward_body(T* out, const T* x, long long n) {
  for (long long i = thread_index(); i < n; i += thread_count()) {
    const float v = ld(x, i);
    st(out, i, v > 0.f ? v : 0.f);
  }
}

extern "C" __global__ void ew_relu_forward(void* out, const void* x, int bf16_flag, long long n) {
  if (bf16_flag) relu_forward_body(static_cast<bf16*>(out), static_cast<const bf16*>(x), n);
  else relu_forward_body(static_cast<float*>(out), static_cast<const float*>(x), n);
}

template <typename D, typename O>
__device__ __forceinline__ void relu_backward_body(D* dx, const D* dout, const O* __restrict__ out, long long n) {
  for (long long i = thread_index(); i < n; i += thread_count()) st(dx, i, ld(out, i) > 0.f ? ld(dout, i) : 0.f);
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
// Bias backward

// A CTA owns columns [blockIdx.x·W, +W), W = BIAS_STRIP_BYTES / sizeof(T): half a 32-byte sector of
// each row (the neighbouring CTA reads the other half, mostly from L2), which doubles the CTAs against
// whole sectors while every warp request still moves 128 useful bytes. Thread t sums column (t % W)
// over rows t / W, t / W + P, … (P = BIAS_THREADS / W) in that order, BIAS_UNROLL loads in flight;
// then a shared-memory tree halves the P partials of each column in a fixed order. The result depends
// on rows, cols and the dtype only: bit-identical run to run.
template <typename T>
__device__ __forceinline__ void bias_backward_body(float* __restrict__ dbias, const T* __restrict__ dout, int rows, int cols,
                                                   float* part) {
  constexpr int W = BIAS_STRIP_BYTES / sizeof(T);
  constexpr int P = BIAS_THREADS / W;
  const int t = threadIdx.x;
  const int col = blockIdx.x * W + t % W;
  float acc = 0.f;
  if (col < cols) {
    long long r = t / W;
    for (; r + (BIAS_UNROLL - 1) * P < rows; r += BIAS_UNROLL * P) {
      float a[BIAS_UNROLL];
#pragma unroll
      for (int k = 0; k < BIAS_UNROLL; ++k) a[k] = ld(dout, (r + k * P) * cols + col);
#pragma unroll
      for (int k = 0; k < BIAS_UNROLL; ++k) acc += a[k];
    }
    for (; r < rows; r += P) acc += ld(dout, r * cols + col);
  }
  part[t] = acc;
  __syncthreads();
#pragma unroll
  for (int half = P / 2; half > 0; half >>= 1) {
    if (t < half * W) part[t] += part[t + half * W];
    __syncthreads();
  }
  if (t < W && col < cols) dbias[col] += part[t];
}

extern "C" __global__ void __launch_bounds__(BIAS_THREADS)
ew_bias_backward(float* __restrict__ dbias, const void* dout, int dout_bf16, int rows, int cols) {
  __shared__ float part[BIAS_THREADS];
  if (dout_bf16) bias_backward_body(dbias, static_cast<const bf16*>(dout), rows, cols, part);
  else bias_backward_body(dbias, static_cast<const float*>(dout), rows, cols, part);
}
