/** The check both backends make of matmul's epilogue (ops.ts MatmulEpilogue). */
import type { MatmulOptions, Tensor } from './ops.js';

/**
 * Throws where an epilogue cannot apply: it replaces out's values, so it never accumulates; a gate's scale
 * is finite; neither the residual nor the gate is out itself (the GPU's tiles may store their product before
 * they read them).
 */
export function checkMatmulEpilogue(options: MatmulOptions, out: Tensor): void {
  if (options.epilogue !== undefined && options.accumulate === true) {
    throw new RangeError('matmul: an epilogue (relu, dropout, gate, residual, padding) cannot accumulate into out');
  }
  const scale = options.epilogue?.gate?.scale;
  if (scale !== undefined && !Number.isFinite(scale)) {
    throw new RangeError(`matmul: expected \`epilogue.gate.scale\` to be a finite number, got ${scale}`);
  }
  if (options.epilogue?.residual === out) throw new RangeError('matmul: `epilogue.residual` must not be out itself');
  if (options.epilogue?.gate?.by === out) throw new RangeError('matmul: `epilogue.gate.by` must not be out itself');
}
