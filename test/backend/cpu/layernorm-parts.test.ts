/**
 * layerNormBackward's parts alone (options.only) on the CPU backend: 'input' writes dx as both parts
 * together do and leaves dWeight and dBias; 'params' adds what both add to dWeight and dBias and leaves dx,
 * with dout2, padding rows, and both dx modes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';

function random(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

describe('layerNormBackward one part at a time (CPU)', () => {
  let ops: CpuOps;
  beforeAll(async () => {
    ops = await CpuOps.create({ threads: 2 });
  });
  afterAll(() => ops.close());

  for (const overwrite of [false, true]) {
    it(`dx ${overwrite ? '=' : '+='}: each part has the bits of both together and leaves the other's outputs`, async () => {
      const [rows, cols] = [301, 24];
      const n = rows * cols;
      const g = ops.allocGroup('ln', [
        ...['x', 'dout', 'dout2', 'dx', 'out'].map((name) => ({ name, shape: [rows, cols], dtype: 'f32' as const })),
        ...['weight', 'bias', 'dWeight', 'dBias'].map((name) => ({ name, shape: [cols], dtype: 'f32' as const })),
        { name: 'mean', shape: [rows], dtype: 'f32' },
        { name: 'rstd', shape: [rows], dtype: 'f32' },
        { name: 'ids', shape: [rows], dtype: 'i32' },
      ]);
      const t = (name: string) => g.get(name);
      ops.write(t('ids'), Int32Array.from({ length: rows }, (_, r) => (r % 7 === 0 ? 0 : r)));
      for (const name of ['x', 'dout', 'dout2']) ops.write(t(name), random(n));
      ops.write(t('weight'), random(cols));
      ops.write(t('bias'), random(cols));
      ops.layerNormForward(t('out'), t('mean'), t('rstd'), t('x'), t('weight'), t('bias'), rows, cols, 1e-8, t('ids'));
      const base = { dx: random(n), dWeight: random(cols), dBias: random(cols) };
      const run = async (only?: 'input' | 'params') => {
        for (const [name, v] of Object.entries(base)) ops.write(t(name), v);
        ops.layerNormBackward(
          t('dx'), t('dWeight'), t('dBias'), t('dout'), t('x'), t('weight'), t('mean'), t('rstd'), rows, cols, t('ids'),
          { dout2: t('dout2'), overwrite, ...(only === undefined ? {} : { only }) },
        );
        return { dx: await ops.readF32(t('dx')), dWeight: await ops.readF32(t('dWeight')), dBias: await ops.readF32(t('dBias')) };
      };
      const both = await run();
      const input = await run('input');
      const params = await run('params');
      ops.freeGroup(g);
      expect(both.dx).not.toEqual(base.dx);
      expect(input).toEqual({ dx: both.dx, dWeight: base.dWeight, dBias: base.dBias });
      expect(params).toEqual({ dx: base.dx, dWeight: both.dWeight, dBias: both.dBias });
    });
  }
});
