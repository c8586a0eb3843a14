/** The check both backends make of an element-wise op's padding rows (ops.ts PaddingRows). */
import type { PaddingRows } from './ops.js';

/** How many rows of `padding.cols` the op's n elements form; throws where cols does not divide n. */
export function paddingRowCount(op: string, padding: PaddingRows, n: number): number {
  const { cols } = padding;
  if (!Number.isInteger(cols) || cols < 1 || n % cols !== 0) throw new RangeError(`${op}: padding rows of ${cols} elements do not divide n = ${n}`);
  return n / cols;
}
