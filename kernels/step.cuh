// The step of a Philox key (dropout masks, negative draws): the launch's argument, or, in a replayed
// (graph-captured) training step, the step counter that the host writes to the device before each replay
// (counters[0] of the step's counters {global step, valid targets}; a null pointer: use the argument).
#pragma once

#include <stdint.h>

__device__ __forceinline__ uint32_t step_of(uint32_t step, const int* counters) {
  return counters != nullptr ? static_cast<uint32_t>(counters[0]) : step;
}
