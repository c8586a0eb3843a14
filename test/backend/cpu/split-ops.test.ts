/**
 * The elementwise, dropout and layer-norm ops split over the worker pool: three threads give the same
 * bits as one (each element is computed by one thread, in the same order), on sizes that do split.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import { MIN_WORK_PER_PART } from '../../../src/backend/cpu/pool.js';
import type { Ops, TensorGroup } from '../../../src/backend/ops.js';
import { randArray, rng } from '../../helpers/numeric.js';

// Rows × cols large enough for three parts of every op, columns not a multiple of 3 or 4.
const rows = 1201;
const cols = 67;
const n = rows * cols;

let one: CpuOps;
let three: CpuOps;
beforeAll(async () => {
  one = await CpuOps.create({ threads: 1 });
  three = await CpuOps.create({ threads: 3 });
});
afterAll(() => {
  one.close();
  three.close();
});

const next = rng(11);
const inputs = {
  x: Float32Array.from(randArray(next, n)),
  y: Float32Array.from(randArray(next, n)),
  dout: Float32Array.from(randArray(next, n)),
  weight: Float32Array.from(randArray(next, cols)),
  bias: Float32Array.from(randArray(next, cols)),
};

/** Runs `body` on a fresh group of the inputs and outputs; returns every tensor's contents. */
async function run(ops: Ops, body: (g: TensorGroup) => void): Promise<Record<string, Float32Array>> {
  const names = ['x', 'y', 'dout', 'out', 'dx', 'mean', 'rstd', 'dWeight', 'dBias', 'weight', 'bias'] as const;
  const shape = (name: string): number[] => (name === 'mean' || name === 'rstd' ? [rows] : ['weight', 'bias', 'dWeight', 'dBias'].includes(name) ? [cols] : [n]);
  const g = ops.allocGroup('split', names.map((name) => ({ name, shape: shape(name), dtype: 'f32' as const })));
  for (const [name, data] of Object.entries(inputs)) ops.write(g.get(name), data);
  // Accumulated outputs start from something other than zero.
  ops.write(g.get('dx'), inputs.y);
  ops.write(g.get('dWeight'), inputs.bias);
  ops.write(g.get('dBias'), inputs.weight);
  body(g);
  const out: Record<string, Float32Array> = {};
  for (const name of names) out[name] = await ops.readF32(g.get(name));
  ops.freeGroup(g);
  return out;
}

const cases: Record<string, (ops: Ops, g: TensorGroup) => void> = {
  add: (ops, g) => ops.add(g.get('out'), g.get('x'), g.get('y'), n),
  'add in place': (ops, g) => ops.add(g.get('x'), g.get('x'), g.get('y'), n),
  reluForward: (ops, g) => ops.reluForward(g.get('out'), g.get('x'), n),
  reluBackward: (ops, g) => {
    ops.reluForward(g.get('out'), g.get('x'), n);
    ops.reluBackward(g.get('dx'), g.get('dout'), g.get('out'), n);
  },
  biasAdd: (ops, g) => ops.biasAdd(g.get('x'), g.get('bias'), rows, cols),
  biasBackward: (ops, g) => ops.biasBackward(g.get('dBias'), g.get('dout'), rows, cols),
  dropout: (ops, g) => ops.dropout(g.get('out'), g.get('x'), n - 3, { p: 0.3, key: { seed: 7, step: 5, site: 2 } }),
  'dropout p 0 (a copy)': (ops, g) => ops.dropout(g.get('out'), g.get('x'), n, { p: 0, key: { seed: 7, step: 5, site: 2 } }),
  layerNorm: (ops, g) => {
    ops.layerNormForward(g.get('out'), g.get('mean'), g.get('rstd'), g.get('x'), g.get('weight'), g.get('bias'), rows, cols, 1e-5);
    ops.layerNormBackward(g.get('dx'), g.get('dWeight'), g.get('dBias'), g.get('dout'), g.get('x'), g.get('weight'), g.get('mean'), g.get('rstd'), rows, cols);
  },
};

describe('ops split over the pool', () => {
  it('are large enough here to split three ways', () => {
    expect(n).toBeGreaterThanOrEqual(3 * MIN_WORK_PER_PART);
  });

  for (const [name, body] of Object.entries(cases)) {
    it(`${name}: three threads give the bits one gives`, async () => {
      const a = await run(one, (g) => body(one, g));
      const b = await run(three, (g) => body(three, g));
      for (const key of Object.keys(a)) {
        expect(Buffer.from(b[key]!.buffer).equals(Buffer.from(a[key]!.buffer)), key).toBe(true);
      }
      // The op did something: some tensor differs from its starting contents.
      const changed = Object.entries(a).some(([key, v]) => {
        const start = key === 'dx' ? inputs.y : key === 'dWeight' ? inputs.bias : key === 'dBias' ? inputs.weight : (inputs as Record<string, Float32Array>)[key];
        return start === undefined ? v.some((e) => e !== 0) : !Buffer.from(v.buffer).equals(Buffer.from(start.buffer));
      });
      expect(changed).toBe(true);
    });
  }
});
