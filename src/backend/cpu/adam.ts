/** Adam (Kingma & Ba), bias-corrected, no weight decay: the seed's optimiser. */
import type { AdamParams } from '../ops.js';
import type { FloatArray } from './arrays.js';

/**
 * One step over n elements: m, v and param updated in place from grad. With `counters` (the step's
 * {step, valid targets}, ops.ts AdamParams) the step is counters[0] + 1 and the gradient, the loss
 * sum's, is divided by counters[1].
 */
export function adamStep(
  param: FloatArray, m: FloatArray, v: FloatArray, grad: FloatArray, n: number, hp: AdamParams, counters: Int32Array | null,
): void {
  const { lr, beta1, beta2, eps } = hp;
  const step = counters !== null ? counters[0]! + 1 : hp.step;
  const scale = counters !== null ? 1 / counters[1]! : 1;
  const c1 = 1 - beta1 ** step;
  const c2 = 1 - beta2 ** step;
  for (let i = 0; i < n; i++) {
    const g = grad[i]! * scale;
    const mi = beta1 * m[i]! + (1 - beta1) * g;
    const vi = beta2 * v[i]! + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
  }
}
