/**
 * CPU references of kernels/basic.cu, with the launchers' names and argument order (outputs,
 * inputs, dimensions). The sum accumulates in float64: the reference is more exact than the kernel.
 */

/** out[0..n) = value (as float32). */
export function fillF32(out: Float32Array, value: number, n: number): void {
  out.fill(value, 0, n);
}

/** y[i] = a·x[i] + y[i], as the kernel's fused multiply-add (within one float32 rounding). */
export function axpyF32(y: Float32Array, x: Float32Array, a: number, n: number): void {
  const af = Math.fround(a);
  // The float32 product is exact in float64; the sum is rounded to float64 then to float32, which
  // can differ from the fused single rounding by one unit in the last place, rarely.
  for (let i = 0; i < n; i++) y[i] = (x[i] as number) * af + (y[i] as number);
}

/** x[0] + … + x[n-1], accumulated in float64. */
export function sumF32(x: Float32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i] as number;
  return sum;
}
