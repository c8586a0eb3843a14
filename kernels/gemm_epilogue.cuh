// The epilogue of the GEMM families (kernels/gemm.cu, kernels/gemm_wg.cu): what follows alpha · product on
// each output element (ops.ts MatmulEpilogue: the bias, padding rows, ReLU, dropout, the gate, the residual),
// the layer norm after it (MatmulLayerNorm), the stores of a tile's results, and the kernel parameters that
// carry them. One definition, so that both families give the same bits for the same values before the
// epilogue; kernels/gemm.cu's header states the contract (EPILOGUE, LAYER NORM).
//   store_pair            a tile's results (r, c), (r, c + 1): alpha · acc + bias (+ out) at out's dtype, or
//                         the raw sums to a split's partials.
//   epilogue_tile_pass    the rest of the epilogue over a CTA's stored tile (unsplit products), a post-pass
//                         after a __syncthreads; epilogue_tile is the same as a call of its own (__noinline__:
//                         gemm.cu's kernels keep their main loop's registers so).
//   epilogue_tile_norm_pass, epilogue_tile_norm   the same, then the layer norm of the tile's rows (the tile
//                         spans whole rows: n ≤ BN).
//   epilogue_quads, epilogue_rest_quad   the rest of the epilogue by chunks of 4 columns of a row (the
//                         post-pass's, and kernels/gemm_wg.cu's epilogue in registers, which skips the post-pass).
//   epilogue_pair         the whole epilogue of one or two elements (the split-K reductions).
//   EPILOGUE_PARAMS, NORM_PARAMS   the entry points' parameters (after the bias), in the launchers' order
//                         (src/backend/cuda/gemm-epilogue-args.ts), and the Epilogue / EpilogueNorm they make.
// What it expects of the including kernel: blocks of whole warps (the norm takes a warp per row), a split's
// partials at slice blockIdx.z (store_pair), and a `bias` (f32 [n] or null) in scope of EPILOGUE_OF_PARAMS.
#pragma once

#include <cuda_bf16.h>
#include <stdint.h>

#include "philox.cuh"
#include "step.cuh"

typedef __nv_bfloat16 bf16;

// ---------------------------------------------------------------------------------------------------
// Element helpers

// Two floats to one register of two bf16 (lo in the low half), rounded to nearest even.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ float bf16_bits_to_float(unsigned short bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);
}

// Element idx of an f32 or bf16 array, as f32.
__device__ __forceinline__ float load_elem(const void* p, int is_bf16, long long idx) {
  return is_bf16 ? bf16_bits_to_float(static_cast<const unsigned short*>(p)[idx]) : static_cast<const float*>(p)[idx];
}


// ---------------------------------------------------------------------------------------------------
// Epilogue (ops.ts MatmulEpilogue), applied to alpha · product: + bias[c]; then, where anything more is
// asked, a padding row (ids[r] == 0) is 0, else ReLU, dropout, the gate, + residual, in that order.

struct Epilogue {
  const float* bias;      // f32 [n] or null
  const void* gate;       // [m × n] at gate_bf16's dtype, or null
  const void* residual;   // [m × n] at residual_bf16's dtype, or null
  const int* ids;         // i32 [m]: out rows' ids, or null
  double scale;           // dropout's 1 / (1 - p)
  double gate_scale;      // the gate's factor of kept values
  uint32_t threshold;     // dropout: element kept iff its word >> 8 ≥ threshold; 0: no dropout
  uint32_t seed, step, site;
  int relu, gate_bf16, residual_bf16;
};

// Dropout of v by its Philox word, as ew_dropout: kept values are the double product rounded once to f32.
__device__ __forceinline__ float epilogue_dropped(float v, uint32_t word, const Epilogue& e) {
  return (word >> 8) >= e.threshold ? __double2float_rn(__dmul_rn(static_cast<double>(v), e.scale)) : 0.f;
}

// Word (i & 3) of element i's Philox group (src/backend/philox.ts: counter word 0 is the group i >> 2).
__device__ __forceinline__ uint32_t dropout_word(const uint4& w, long long i) {
  const int q = static_cast<int>(i & 3);
  return q == 0 ? w.x : q == 1 ? w.y : q == 2 ? w.z : w.w;
}

__device__ __forceinline__ uint4 dropout_group(const Epilogue& e, long long g) {
  return philox4x32(static_cast<uint32_t>(g), e.site, 0u, PHILOX_DROPOUT_STREAM, e.seed, e.step);
}

// The gate of v by its tensor's element: kept (the double product by gate_scale rounded once, as the CPU's
// reluBackward with a scale) where that is > 0, else 0.
__device__ __forceinline__ float epilogue_gated(float v, long long i, const Epilogue& e) {
  return load_elem(e.gate, e.gate_bf16, i) > 0.f ? __double2float_rn(__dmul_rn(static_cast<double>(v), e.gate_scale)) : 0.f;
}

__device__ __forceinline__ float residual_at(const Epilogue& e, long long i) {
  return e.residual_bf16 ? __bfloat162float(static_cast<const bf16*>(e.residual)[i]) : static_cast<const float*>(e.residual)[i];
}

// Whether the epilogue asks for more than the bias.
__device__ __forceinline__ bool epilogue_extra(const Epilogue& e) {
  return e.ids != nullptr || e.relu || e.threshold != 0 || e.gate != nullptr || e.residual != nullptr;
}

// + bias of out elements (r, c) and, when `two`, (r, c + 1).
__device__ __forceinline__ void epilogue_bias(const Epilogue& e, int c, bool two, float& v0, float& v1) {
  // Read per column here, not held across the main loop: the bias costs no registers there. A plain load,
  // not __ldg: ptxas then keeps it next to its store instead of issuing all of the tile's bias loads at
  // once (which took the 128 × 64 nn kernel from 79 to 116 registers).
  if (e.bias != nullptr) {
    v0 += e.bias[c];
    if (two) v1 += e.bias[c + 1];
  }
}

// The rest of the epilogue (padding rows, ReLU, dropout, gate, residual) of out elements idx = r·n + c and, when
// `two`, idx + 1 (same row), after the bias.
__device__ __forceinline__ void epilogue_rest(const Epilogue& e, int r, long long idx, bool two, float& v0, float& v1) {
  if (e.ids != nullptr && e.ids[r] == 0) {
    v0 = 0.f;
    v1 = 0.f;
    return;
  }
  if (e.relu) {
    v0 = v0 > 0.f ? v0 : 0.f;
    v1 = v1 > 0.f ? v1 : 0.f;
  }
  if (e.threshold != 0) {
    const uint4 w = dropout_group(e, idx >> 2);
    v0 = epilogue_dropped(v0, dropout_word(w, idx), e);
    if (two) {
      const long long i1 = idx + 1;
      v1 = epilogue_dropped(v1, dropout_word((i1 >> 2) == (idx >> 2) ? w : dropout_group(e, i1 >> 2), i1), e);
    }
  }
  if (e.gate != nullptr) {
    v0 = epilogue_gated(v0, idx, e);
    if (two) v1 = epilogue_gated(v1, idx + 1, e);
  }
  if (e.residual != nullptr) {
    v0 = residual_at(e, idx) + v0;
    if (two) v1 = residual_at(e, idx + 1) + v1;
  }
}

// The whole epilogue of elements idx = r·n + c (and idx + 1 when `two`), after alpha.
__device__ __forceinline__ void epilogue_pair(const Epilogue& e, int r, int c, long long idx, bool two, float& v0, float& v1) {
  epilogue_bias(e, c, two, v0, v1);
  if (epilogue_extra(e)) epilogue_rest(e, r, idx, two, v0, v1);
}

// Result (r, c) and, when `pair` and c + 1 < n, (r, c + 1) of the epilogue. With `partial` the raw sums go
// to this split's slice of the scratch, else alpha · v (+ out) goes to out at its dtype.
__device__ __forceinline__ void store_pair(void* out, int out_bf16, float* partial, const float* __restrict__ bias, int r, int c, int m,
                                           int n, bool pair, float v0, float v1, float alpha, int accumulate) {
  if (r >= m || c >= n) return;
  const long long idx = static_cast<long long>(r) * n + c;
  const bool two = pair && c + 1 < n;
  if (partial != nullptr) {
    float* p = partial + static_cast<long long>(blockIdx.z) * m * n + idx;
    if (two && (reinterpret_cast<uintptr_t>(p) & 7) == 0) {
      *reinterpret_cast<float2*>(p) = make_float2(v0, v1);
    } else {
      p[0] = v0;
      if (two) p[1] = v1;
    }
    return;
  }
  v0 *= alpha;
  v1 *= alpha;
  // Read per column here, not held across the main loop: the bias costs no registers there. A plain load,
  // not __ldg: ptxas then keeps it next to its store instead of issuing all of the tile's bias loads at
  // once (which took the 128 × 64 nn kernel from 79 to 116 registers).
  if (bias != nullptr) {
    v0 += bias[c];
    if (two) v1 += bias[c + 1];
  }
  if (out_bf16) {
    bf16* o = static_cast<bf16*>(out) + idx;
    if (two && (reinterpret_cast<uintptr_t>(o) & 3) == 0) {
      if (accumulate) {
        const float2 old = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(o));
        v0 += old.x;
        v1 += old.y;
      }
      *reinterpret_cast<__nv_bfloat162*>(o) = __floats2bfloat162_rn(v0, v1);
    } else {
      if (accumulate) v0 += __bfloat162float(o[0]);
      o[0] = __float2bfloat16_rn(v0);
      if (two) {
        if (accumulate) v1 += __bfloat162float(o[1]);
        o[1] = __float2bfloat16_rn(v1);
      }
    }
  } else {
    float* o = static_cast<float*>(out) + idx;
    if (two && (reinterpret_cast<uintptr_t>(o) & 7) == 0) {
      if (accumulate) {
        const float2 old = *reinterpret_cast<const float2*>(o);
        v0 += old.x;
        v1 += old.y;
      }
      *reinterpret_cast<float2*>(o) = make_float2(v0, v1);
    } else {
      if (accumulate) v0 += o[0];
      o[0] = v0;
      if (two) {
        if (accumulate) v1 += o[1];
        o[1] = v1;
      }
    }
  }
}

// out[i] (one element, at its dtype) = v (+ out[i] when accumulating), rounded to nearest even for bf16.
__device__ __forceinline__ void finish_elem(void* out, int out_bf16, long long idx, float v, int accumulate) {
  if (out_bf16) {
    bf16* o = static_cast<bf16*>(out) + idx;
    if (accumulate) v += __bfloat162float(*o);
    *o = __float2bfloat16_rn(v);
  } else {
    float* o = static_cast<float*>(out) + idx;
    if (accumulate) v += *o;
    *o = v;
  }
}

// The layer norm after the epilogue (ops.ts MatmulEpilogue.layerNorm): layer_norm_forward (kernels/layernorm.cu)
// of out's rows as the epilogue wrote them, done by epilogue_tile when the CTA's tile spans whole rows.
struct EpilogueNorm {
  void* out;             // [m × n] at out_bf16's dtype, or null: no norm
  float* mean;           // [m] (overwrite)
  float* rstd;           // [m] (overwrite)
  const float* weight;   // [n]
  const float* bias;     // [n]
  const int* ids;        // [m] or null: rows whose id is 0 get out = 0, mean = rstd = 0
  float eps;
  int out_bf16;
};

// Rows a warp of epilogue_tile_norm takes at once: their loads in flight together.
#define NORM_ROWS 2

// layernorm.cu's warp_sum: an xor butterfly, every lane ends with the same bits.
__device__ __forceinline__ float norm_warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// A bf16 out's element as it was stored (rounded to nearest even), an f32 one as it is.
__device__ __forceinline__ float as_stored(float v, int out_bf16) {
  return out_bf16 ? __bfloat162float(__float2bfloat16_rn(v)) : v;
}

// epilogue_tile_pass with the layer norm (n ≤ BN: the tile's columns are the whole row, n0 = 0): a warp per row
// (rows m0 + warp, m0 + warp + warps, …, NORM_ROWS of them at a time). Lane l reads columns 2(l + 32j) and
// the next (j < BN / 64) as epilogue_tile does, applies the rest of the epilogue and stores them; the row's
// values then move by shuffles to layer_norm_forward's layout (lane l: columns l + 32q, q < BN / 32), which
// computes the norm with that kernel's expressions in its order (Σx, then Σ(x - mean)² from the same x, a
// lane's columns in increasing order, then norm_warp_sum): the same bits as layer_norm_forward over out.
template <int BM, int BN>
__device__ __forceinline__ void epilogue_tile_norm_pass(void* out, int out_bf16, const Epilogue ep, const EpilogueNorm ln, int m0, int m,
                                                        int n) {
  __syncthreads();  // the tile's stores by every thread of the CTA are visible to all of them
  static_assert(BN % 64 == 0, "a lane holds pairs of columns 2(l + 32j)");
  constexpr int PAIRS = BN / 64;
  constexpr int COLS = BN / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int rows = min(BM, m - m0);
  const bool extra = epilogue_extra(ep);
#pragma unroll 1
  for (int base = warp; base < rows; base += NORM_ROWS * warps) {
    float v[NORM_ROWS][PAIRS][2];
    // Every load of the rows first (no store between them), then the rest of the epilogue (loads of the
    // residual, the gate and the ids, no stores either), then the stores.
#pragma unroll
    for (int i = 0; i < NORM_ROWS; ++i) {
      const int lr = base + i * warps;
#pragma unroll
      for (int j = 0; j < PAIRS; ++j) {
        const int c = 2 * (lane + 32 * j);
        v[i][j][0] = v[i][j][1] = 0.f;
        if (lr < rows && c < n) {
          const long long idx = static_cast<long long>(m0 + lr) * n + c;
          v[i][j][0] = load_elem(out, out_bf16, idx);
          if (c + 1 < n) v[i][j][1] = load_elem(out, out_bf16, idx + 1);
        }
      }
    }
    if (extra) {
#pragma unroll
      for (int i = 0; i < NORM_ROWS; ++i) {
        const int lr = base + i * warps;
#pragma unroll
        for (int j = 0; j < PAIRS; ++j) {
          const int c = 2 * (lane + 32 * j);
          if (lr < rows && c < n) epilogue_rest(ep, m0 + lr, static_cast<long long>(m0 + lr) * n + c, c + 1 < n, v[i][j][0], v[i][j][1]);
        }
      }
#pragma unroll
      for (int i = 0; i < NORM_ROWS; ++i) {
        const int lr = base + i * warps;
#pragma unroll
        for (int j = 0; j < PAIRS; ++j) {
          const int c = 2 * (lane + 32 * j);
          if (lr < rows && c < n) {
            const long long idx = static_cast<long long>(m0 + lr) * n + c;
            finish_elem(out, out_bf16, idx, v[i][j][0], 0);
            v[i][j][0] = as_stored(v[i][j][0], out_bf16);
            if (c + 1 < n) {
              finish_elem(out, out_bf16, idx + 1, v[i][j][1], 0);
              v[i][j][1] = as_stored(v[i][j][1], out_bf16);
            }
          }
        }
      }
    }
#pragma unroll
    for (int i = 0; i < NORM_ROWS; ++i) {
      const int lr = base + i * warps;
      if (lr >= rows) break;  // the same for the whole warp
      const int r = m0 + lr;
      // Column lane + 32q is pair (lane >> 1) + 16q: lane ((lane >> 1) + 16q) mod 32 holds it as its pair
      // q >> 1, element lane & 1.
      float x[COLS];
#pragma unroll
      for (int q = 0; q < COLS; ++q) {
        const int src = ((lane >> 1) + 16 * q) & 31;
        const float lo = __shfl_sync(0xffffffffu, v[i][q >> 1][0], src);
        const float hi = __shfl_sync(0xffffffffu, v[i][q >> 1][1], src);
        x[q] = (lane & 1) ? hi : lo;
      }
      const long long o = static_cast<long long>(r) * n;
      if (ln.ids != nullptr && ln.ids[r] == 0) {
#pragma unroll
        for (int q = 0; q < COLS; ++q) {
          if (lane + 32 * q < n) finish_elem(ln.out, ln.out_bf16, o + lane + 32 * q, 0.0f, 0);
        }
        if (lane == 0) ln.mean[r] = ln.rstd[r] = 0.0f;
        continue;
      }
      float s = 0.0f;
#pragma unroll
      for (int q = 0; q < COLS; ++q) {
        if (lane + 32 * q < n) s += x[q];
      }
      const float mu = norm_warp_sum(s) / n;
      float sq = 0.0f;
#pragma unroll
      for (int q = 0; q < COLS; ++q) {
        if (lane + 32 * q < n) {
          const float dv = x[q] - mu;
          sq = fmaf(dv, dv, sq);
        }
      }
      const float rs = 1.0f / sqrtf(norm_warp_sum(sq) / n + ln.eps);
#pragma unroll
      for (int q = 0; q < COLS; ++q) {
        const int c = lane + 32 * q;
        if (c < n) finish_elem(ln.out, ln.out_bf16, o + c, fmaf((x[q] - mu) * rs, ln.weight[c], ln.bias[c]), 0);
      }
      if (lane == 0) {
        ln.mean[r] = mu;
        ln.rstd[r] = rs;
      }
    }
  }
}

// Chunks of 4 consecutive columns a thread of epilogue_tile<BM, BN> holds at once: their loads (out, the
// ids, the gate, the residual) are all issued before any is used. Four (16 loads in flight) on the 128-row
// tiles, whose kernels may use 128 registers; two on the 64 × 64 tile, whose kernels are held to 80 (four
// spilled 108 bytes there). Either is one pass or more over the tile: 16 chunks a thread on 128 × 128, 8 on
// 128 × 64, 4 on 64 × 64.
template <int BM, int BN>
struct EpilogueChunks {
  static constexpr int value = BM * BN >= 128 * 64 ? 4 : 2;
};

// Whether an f32 or bf16 array (or null: absent) can be read in chunks of 4 elements from every element
// index that is a multiple of 4: 16-byte aligned for f32, 8-byte for bf16.
__device__ __forceinline__ bool quad_aligned(const void* p, int is_bf16) {
  return p == nullptr || (reinterpret_cast<uintptr_t>(p) & (is_bf16 ? 7u : 15u)) == 0;
}

// Whether the epilogue of out [m × n] can go by chunks of 4 consecutive columns of a row (one Philox group,
// one 16- or 8-byte access of out, the gate and the residual each): n a multiple of 4, and out, the gate
// and the residual quad_aligned (every model shape).
__device__ __forceinline__ bool epilogue_quads(const void* out, int out_bf16, const Epilogue& e, int n) {
  return (n & 3) == 0 && quad_aligned(out, out_bf16) && quad_aligned(e.gate, e.gate_bf16) && quad_aligned(e.residual, e.residual_bf16);
}

// Elements idx .. idx + 3 of an f32 or bf16 array (idx a multiple of 4, quad_aligned), as f32: one 16- or
// 8-byte load. A bf16's value is its bits << 16 (exact, as __bfloat162float).
__device__ __forceinline__ void load_quad(float (&v)[4], const void* p, int is_bf16, long long idx) {
  if (is_bf16) {
    const uint2 w = *reinterpret_cast<const uint2*>(static_cast<const unsigned short*>(p) + idx);
    v[0] = __uint_as_float(w.x << 16);
    v[1] = __uint_as_float(w.x & 0xffff0000u);
    v[2] = __uint_as_float(w.y << 16);
    v[3] = __uint_as_float(w.y & 0xffff0000u);
  } else {
    const float4 x = *reinterpret_cast<const float4*>(static_cast<const float*>(p) + idx);
    v[0] = x.x;
    v[1] = x.y;
    v[2] = x.z;
    v[3] = x.w;
  }
}

// out[idx .. idx + 3] = v at out's dtype (bf16 rounded to nearest even per element, as finish_elem): one
// 16- or 8-byte store (idx a multiple of 4, quad_aligned).
__device__ __forceinline__ void store_quad(void* out, int out_bf16, long long idx, const float (&v)[4]) {
  if (out_bf16) {
    *reinterpret_cast<uint2*>(static_cast<bf16*>(out) + idx) = make_uint2(pack_bf16(v[0], v[1]), pack_bf16(v[2], v[3]));
  } else {
    *reinterpret_cast<float4*>(static_cast<float*>(out) + idx) = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// epilogue_rest of the 4 elements idx .. idx + 3 of one row (idx a multiple of 4: exactly one Philox group,
// whose word q is element idx + q's), given the row's id (1 without ids) and the gate's and the residual's
// values there (read only when present): the same expressions per element, one Philox call per 4 elements.
// IN_REGISTERS: v was computed in this thread (alpha · acc (+ bias), kernels/gemm_wg.cu's register epilogue),
// not read back from out. The residual's add is then __fadd_rn, an add rounded on its own: PTX lets ptxas
// fuse an unrounded mul.f32 (alpha · acc, without bias, ReLU, dropout or gate between) and the add.f32 that
// uses it into one FMA, which would not give the bits of the add of the value stored and read back. The
// two adds are otherwise the same IEEE add (gemm.cu's post-pass keeps the plain one: its PTX unchanged).
template <bool IN_REGISTERS = false>
__device__ __forceinline__ void epilogue_rest_quad(const Epilogue& e, long long idx, int id, const float (&gate)[4], const float (&res)[4],
                                                   float (&v)[4]) {
  if (id == 0) {
#pragma unroll
    for (int q = 0; q < 4; ++q) v[q] = 0.f;
    return;
  }
  if (e.relu) {
#pragma unroll
    for (int q = 0; q < 4; ++q) v[q] = v[q] > 0.f ? v[q] : 0.f;
  }
  if (e.threshold != 0) {
    const uint4 w = dropout_group(e, idx >> 2);
#pragma unroll
    for (int q = 0; q < 4; ++q) v[q] = epilogue_dropped(v[q], word_of(w, q), e);
  }
  if (e.gate != nullptr) {
#pragma unroll
    for (int q = 0; q < 4; ++q) v[q] = gate[q] > 0.f ? __double2float_rn(__dmul_rn(static_cast<double>(v[q]), e.gate_scale)) : 0.f;
  }
  if (e.residual != nullptr) {
#pragma unroll
    for (int q = 0; q < 4; ++q) v[q] = IN_REGISTERS ? __fadd_rn(res[q], v[q]) : res[q] + v[q];
  }
}

// The rest of the epilogue (epilogue_rest) over the CTA's output tile, after store_pair wrote alpha ·
// product + bias there (unsplit GEMMs; the reductions apply it as they write), then the layer norm where
// asked (ln.out != null: the launcher's rule is n ≤ BN, so the tile holds whole rows; epilogue_tile_norm).
// The tile is read back from global memory (L2: this CTA just wrote it), so the main loop keeps its
// registers: inlined into store_pair, ReLU, Philox and the residual took the 64 × 64 kernels from 80 to 96
// registers (3 CTAs per SM to 2). A bf16 out is rounded after the bias and again after the rest, as the
// separate ops rounded it.
// When n is a multiple of 4 and out, the gate and the residual are quad_aligned (every model shape), a
// thread takes chunks of 4 consecutive columns (chunk e: row e / (BN/4), columns 4(e % (BN/4)).., so a warp
// reads 512 or 256 consecutive bytes of a row), EPI_CHUNKS chunks at a time (e = base + j · blockDim.x +
// tid): every load of those chunks first, then the rest of the epilogue, then 16- or 8-byte stores. It
// replaced a loop of one pair of columns per iteration whose loads (out, then the id, the gate, the
// residual) each waited for the one before: 32 such iterations per thread on the 128 × 128 tile, ~45-60 µs
// per GEMM at the ML-20M shape. Elsewhere (odd n, an unaligned view) pairs of columns, one at a time.
template <int BM, int BN>
__device__ __forceinline__ void epilogue_tile_pass(void* out, int out_bf16, const Epilogue ep, int m0, int n0, int m, int n) {
  __syncthreads();  // the tile's stores by every thread of the CTA are visible to all of them
  const int rows = min(BM, m - m0);
  if (epilogue_quads(out, out_bf16, ep, n)) {
    static_assert(BN % 4 == 0, "chunks of 4 columns");
    constexpr int QUADS = BN / 4;
    constexpr int EPI_CHUNKS = EpilogueChunks<BM, BN>::value;
    const int total = rows * QUADS;
#pragma unroll 1
    for (int base = 0; base < total; base += EPI_CHUNKS * blockDim.x) {
      long long idx[EPI_CHUNKS];
      bool live[EPI_CHUNKS];
      int id[EPI_CHUNKS];
      float v[EPI_CHUNKS][4], gate[EPI_CHUNKS][4], res[EPI_CHUNKS][4];
#pragma unroll
      for (int j = 0; j < EPI_CHUNKS; ++j) {
        const int e = base + j * blockDim.x + threadIdx.x;
        const int r = m0 + e / QUADS, c = n0 + 4 * (e % QUADS);
        // n is a multiple of 4 and so is c: c < n puts the whole chunk inside the row.
        live[j] = e < total && c < n;
        idx[j] = static_cast<long long>(r) * n + c;
        id[j] = 1;
#pragma unroll
        for (int q = 0; q < 4; ++q) v[j][q] = gate[j][q] = res[j][q] = 0.f;
        if (live[j]) {
          load_quad(v[j], out, out_bf16, idx[j]);
          if (ep.ids != nullptr) id[j] = ep.ids[r];
          if (ep.gate != nullptr) load_quad(gate[j], ep.gate, ep.gate_bf16, idx[j]);
          if (ep.residual != nullptr) load_quad(res[j], ep.residual, ep.residual_bf16, idx[j]);
        }
      }
#pragma unroll
      for (int j = 0; j < EPI_CHUNKS; ++j) {
        if (!live[j]) continue;
        epilogue_rest_quad(ep, idx[j], id[j], gate[j], res[j], v[j]);
        store_quad(out, out_bf16, idx[j], v[j]);
      }
    }
    return;
  }
  constexpr int PAIRS = BN / 2;
#pragma unroll 1
  for (int e = threadIdx.x; e < rows * PAIRS; e += blockDim.x) {
    const int r = m0 + e / PAIRS, c = n0 + 2 * (e % PAIRS);
    if (c >= n) continue;
    const long long idx = static_cast<long long>(r) * n + c;
    const bool two = c + 1 < n;
    float v0, v1 = 0.f;
    if (out_bf16) {
      const bf16* o = static_cast<const bf16*>(out) + idx;
      v0 = __bfloat162float(o[0]);
      if (two) v1 = __bfloat162float(o[1]);
    } else {
      const float* o = static_cast<const float*>(out) + idx;
      v0 = o[0];
      if (two) v1 = o[1];
    }
    epilogue_rest(ep, r, idx, two, v0, v1);
    finish_elem(out, out_bf16, idx, v0, 0);
    if (two) finish_elem(out, out_bf16, idx + 1, v1, 0);
  }
}

// The post-passes as calls of their own (kernels/gemm.cu, and kernels/gemm_wg.cu but in two kernels that
// inline the *_pass bodies: its header, CODE SIZE): the call keeps the main loop's registers apart from the
// post-pass's, and one copy of its code serves every kernel of the module.
template <int BM, int BN>
__device__ __noinline__ void epilogue_tile_norm(void* out, int out_bf16, const Epilogue ep, const EpilogueNorm ln, int m0, int m, int n) {
  epilogue_tile_norm_pass<BM, BN>(out, out_bf16, ep, ln, m0, m, n);
}

template <int BM, int BN>
__device__ __noinline__ void epilogue_tile(void* out, int out_bf16, const Epilogue ep, int m0, int n0, int m, int n) {
  epilogue_tile_pass<BM, BN>(out, out_bf16, ep, m0, n0, m, n);
}

// ---------------------------------------------------------------------------------------------------
// Entry-point parameters

// The epilogue's arguments after the bias (the launcher's order), and the Epilogue they make.
#define EPILOGUE_PARAMS                                                                                             \
  int relu, unsigned drop_threshold, double drop_scale, unsigned drop_seed, unsigned drop_step, unsigned drop_site, \
      const int *__restrict__ step_counters, const void *__restrict__ gate, int gate_bf16, double gate_scale,               \
      const void *__restrict__ residual, int residual_bf16, const int *__restrict__ out_ids
#define EPILOGUE_OF_PARAMS                                                                                                \
  Epilogue{bias, gate, residual, out_ids, drop_scale, gate_scale, drop_threshold, drop_seed,                             \
           drop_threshold != 0 ? step_of(drop_step, step_counters) : 0u, drop_site, relu, gate_bf16, residual_bf16}

// The layer norm's arguments after the epilogue's (the GEMM kernels only; layer_norm_forward's order), and
// the EpilogueNorm they make.
#define NORM_PARAMS                                                                                                   \
  void *__restrict__ ln_out, int ln_out_bf16, float *__restrict__ ln_mean, float *__restrict__ ln_rstd,               \
      const float *__restrict__ ln_weight, const float *__restrict__ ln_bias, float ln_eps, const int *__restrict__ ln_ids
#define NORM_OF_PARAMS EpilogueNorm{ln_out, ln_mean, ln_rstd, ln_weight, ln_bias, ln_ids, ln_eps, ln_out_bf16}
