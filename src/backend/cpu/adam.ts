/** Adam (Kingma & Ba), bias-corrected, no weight decay: the seed's optimiser. */
import type { AdamParams } from '../ops.js';
import type { FloatArray } from './arrays.js';

/** One step over n elements: m, v and param updated in place from grad. */
export function adamStep(param: FloatArray, m: FloatArray, v: FloatArray, grad: FloatArray, n: number, hp: AdamParams): void {
  const { lr, beta1, beta2, eps, step } = hp;
  const c1 = 1 - beta1 ** step;
  const c2 = 1 - beta2 ** step;
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    const mi = beta1 * m[i]! + (1 - beta1) * g;
    const vi = beta2 * v[i]! + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
  }
}
