/**
 * A backend with some of its members replaced, for tests that change one decision or watch one op
 * (e.g. narrowOperands() true whatever the shapes, or recordStep counted); every other member is the
 * backend's own, bound to it.
 */
import type { Ops } from '../../src/backend/ops.js';

/** `ops` with `overrides` in place of its members of the same names. */
export function overrideOps(ops: Ops, overrides: Partial<Ops>): Ops {
  return new Proxy(ops, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return Reflect.get(overrides, prop) as unknown;
      const value = Reflect.get(target, prop, target) as unknown;
      // Bound to the target: a class backend's private fields are not reachable through the proxy.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * `ops` asking for narrow operand copies (Ops.narrowOperands) whatever the shapes: on the CPU, whose narrow
 * dtype is f32, the copies hold the values themselves, so a model run through it must match one run without
 * them bit for bit, and any copy that is stale or missing shows.
 */
export function withNarrowOperands(ops: Ops): Ops {
  return overrideOps(ops, { narrowOperands: () => true });
}
