// The negative draws of the sampled losses on the device (src/backend/negatives.ts, bit for bit): Philox4x32-10
// as src/backend/philox.ts, the NEG! stream, and the two samplers. Shared by cce_sampled.cu (cce-, bce+,
// streamed) and materialised.cu (ce-), so both draw the negatives the CPU draws.
//   uniform     w = word (j & 3) of philox([r, j >> 2, 0, NEG!], [seed, step]); item = 1 + umulhi(w, V)
//   popularity  (w0, w1) = words (2(j & 1), 2(j & 1) + 1) of philox([r, j >> 1, 1, NEG!], [seed, step]);
//               col = umulhi(w0, V); item = 1 + (w1 < prob[col] ? col : alias[col])
#pragma once

#include "philox.cuh"
#include "step.cuh"

#include <stdint.h>

#define CCE_NEG_STREAM PHILOX_NEGATIVES_STREAM



// The sampler: uniform when prob is null, else the alias table over columns 0..V-1.
struct Sampler {
  const uint32_t* prob;
  const int* alias;
  int V;
  uint32_t seed, step;
  // Draws per Philox call.
  __device__ __forceinline__ int per_call() const { return prob == nullptr ? 4 : 2; }
  // The items of call c of row r: out[k] is negative c·per_call() + k.
  __device__ __forceinline__ void draw(int (&out)[4], int r, int c) const {
    const uint4 w = philox4x32(static_cast<uint32_t>(r), static_cast<uint32_t>(c), prob == nullptr ? 0u : 1u, CCE_NEG_STREAM, seed, step);
    if (prob == nullptr) {
      out[0] = 1 + static_cast<int>(__umulhi(w.x, V));
      out[1] = 1 + static_cast<int>(__umulhi(w.y, V));
      out[2] = 1 + static_cast<int>(__umulhi(w.z, V));
      out[3] = 1 + static_cast<int>(__umulhi(w.w, V));
    } else {
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int col = static_cast<int>(__umulhi(word_of(w, 2 * k), V));
        out[k] = 1 + (word_of(w, 2 * k + 1) < prob[col] ? col : alias[col]);
      }
      out[2] = out[3] = 0;
    }
  }
};
