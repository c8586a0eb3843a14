/** The check both backends make of matmul's epilogue (ops.ts MatmulEpilogue). */
import type { MatmulOptions } from './ops.js';

/** Throws where an epilogue cannot apply: it replaces out's values, so it never accumulates; a gate's scale is finite. */
export function checkMatmulEpilogue(options: MatmulOptions): void {
  if (options.epilogue !== undefined && options.accumulate === true) {
    throw new RangeError('matmul: an epilogue (relu, dropout, gate, residual, padding, layerNorm) cannot accumulate into out');
  }
  const scale = options.epilogue?.gate?.scale;
  if (scale !== undefined && !Number.isFinite(scale)) {
    throw new RangeError(`matmul: expected \`epilogue.gate.scale\` to be a finite number, got ${scale}`);
  }
}

/** Whether the epilogue does anything at all. */
export function hasEpilogue(options: MatmulOptions): boolean {
  const e = options.epilogue;
  return e !== undefined && (e.relu === true || (e.dropout !== undefined && e.dropout.p > 0) || e.gate !== undefined || e.residual !== undefined || e.padding !== undefined || e.layerNorm !== undefined);
}
