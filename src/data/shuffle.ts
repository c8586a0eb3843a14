/**
 * Seeded permutations from a counter-based hash: the draw for (seed, stream, counter) is a pure
 * function, so epoch e's order is reproducible without replaying epochs 0..e-1, and a resumed trial
 * shuffles exactly as an uninterrupted one.
 */

/** 32-bit finaliser with good avalanche (the "lowbias32" constants). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A uniform float in [0, 1) with 53 random bits, from (seed, stream, counter). */
export function hashUniform(seed: number, stream: number, counter: number): number {
  const key = mix32(mix32(seed ^ 0x9e3779b9) ^ mix32(stream + 0x632be5ab));
  const hi = mix32(key ^ mix32(2 * counter));
  const lo = mix32(key ^ mix32(2 * counter + 1));
  return ((hi >>> 5) * 67108864 + (lo >>> 6)) / 9007199254740992;
}

/** Fisher–Yates shuffle in place; `uniform(i)` gives the [0, 1) draw for position i (visited n-1 down to 1). */
export function shuffleInPlace(a: Int32Array, uniform: (i: number) => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(uniform(i) * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** A permutation of 0..n-1 (Fisher–Yates) determined by (seed, stream). */
export function seededPermutation(n: number, seed: number, stream: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  shuffleInPlace(p, (i) => hashUniform(seed, stream, i));
  return p;
}
