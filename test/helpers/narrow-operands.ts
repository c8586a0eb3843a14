/**
 * A backend that asks for narrow operand copies (Ops.narrowOperands) whatever the shapes: on the CPU,
 * whose narrow dtype is f32, the copies hold the values themselves, so a model run through it must match
 * one run without them bit for bit, and any copy that is stale or missing shows.
 */
import type { Ops } from '../../src/backend/ops.js';

/** `ops` with narrowOperands() true; every other member is the backend's own (bound to it). */
export function withNarrowOperands(ops: Ops): Ops {
  return new Proxy(ops, {
    get(target, prop) {
      if (prop === 'narrowOperands') return () => true;
      const value = Reflect.get(target, prop, target) as unknown;
      // Bound to the target: a class backend's private fields are not reachable through the proxy.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
