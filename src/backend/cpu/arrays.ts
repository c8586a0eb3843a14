/**
 * The element arrays CPU kernels run on. Every kernel is generic over Float32Array (what tensors
 * hold) and Float64Array (what gradient checks and GPU tests use as the float64 oracle). Arithmetic
 * is JavaScript doubles either way: only storage rounds to float32.
 */

/** A float array a CPU kernel reads or writes. */
export type FloatArray = Float32Array | Float64Array;

/** A fresh zeroed array of the same element type as `like`. */
export function sameKind(like: FloatArray, length: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(length) : new Float32Array(length);
}
