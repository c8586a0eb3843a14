/**
 * layerNormBackward's options (dout2, overwrite) against the ops they replace: `add` of the two
 * gradients into dout (padding rows given) then the backward (+=), and `fill` with 0 then the backward
 * (+=); and its parts alone (options.only): 'input' writes dx as both parts together do and leaves
 * dWeight and dBias, 'params' adds what both add to them and leaves dx. Bit for bit, at f32 and f64
 * storage, with padding rows, on 1 and 3 threads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import type { CpuPrecision } from '../../../src/backend/cpu/cpu-memory.js';
import type { Tensor } from '../../../src/backend/ops.js';
import { randArray, rng } from '../../helpers/numeric.js';

// Odd shape: 3 chunks of rows (column-sums.ts) on 3 threads, cols not a multiple of anything.
const rows = 203;
const cols = 37;
const n = rows * cols;
const next = rng(41);
const IDS = Int32Array.from({ length: rows }, (_, r) => (r % 7 < 2 ? 0 : 1 + r));
const INPUTS = {
  x: Float32Array.from(randArray(next, n, 2)),
  weight: Float32Array.from(randArray(next, cols)),
  bias: Float32Array.from(randArray(next, cols)),
  dout: Float32Array.from(randArray(next, n)),
  dout2: Float32Array.from(randArray(next, n)),
  dx: Float32Array.from(randArray(next, n)),
  dWeight: Float32Array.from(randArray(next, cols)),
  dBias: Float32Array.from(randArray(next, cols)),
  ids: IDS,
};

/**
 * Equal numbers element by element; +0 and −0 count as equal (`fill` then (+=) turns a −0 into +0)
 * unless `signedZeros` (the same computation twice: the same bits).
 */
function expectSame(got: Float64Array, want: ArrayLike<number>, what: string, signedZeros = false): void {
  expect(got.length, what).toBe(want.length);
  const bad = got.findIndex((v, i) => (signedZeros ? !Object.is(v, want[i]) : !(v === want[i])));
  expect(bad, `${what}: first differing element`).toBe(-1);
}

const SHAPES: Record<string, readonly number[]> = {
  x: [n], weight: [cols], bias: [cols], out: [n], mean: [rows], rstd: [rows],
  dout: [n], dout2: [n], dx: [n], dWeight: [cols], dBias: [cols],
};

describe.each([
  ['f32', 1], ['f32', 3], ['f64', 3],
] as const)('layerNormBackward with dout2 / overwrite (%s storage, %i threads)', (precision: CpuPrecision, threads: number) => {
  let ops: CpuOps;
  beforeAll(async () => {
    ops = await CpuOps.create({ threads, precision });
  });
  afterAll(() => ops.close());

  /** The outputs after `backward` on fresh tensors holding INPUTS (after the forward). */
  async function run(padded: boolean, backward: (t: (name: string) => Tensor, ids: Tensor | undefined) => void) {
    const g = ops.allocGroup('ln', [
      ...Object.entries(SHAPES).map(([name, shape]) => ({ name, shape, dtype: 'f32' as const })),
      { name: 'ids', shape: [rows], dtype: 'i32' as const },
    ]);
    const t = (name: string): Tensor => g.get(name);
    for (const [name, data] of Object.entries(INPUTS)) ops.write(t(name), data);
    const ids = padded ? t('ids') : undefined;
    ops.layerNormForward(t('out'), t('mean'), t('rstd'), t('x'), t('weight'), t('bias'), rows, cols, 1e-5, ids);
    backward(t, ids);
    const read = async (name: string) => Float64Array.from(await ops.readF32(t(name)));
    const result = { dx: await read('dx'), dWeight: await read('dWeight'), dBias: await read('dBias') };
    ops.freeGroup(g);
    return result;
  }

  for (const padded of [false, true]) {
    for (const overwrite of [false, true]) {
      it(`${overwrite ? 'dx (=)' : 'dx (+=)'}, dout + dout2${padded ? ', padding rows' : ''}: as add, ${overwrite ? 'fill, ' : ''}then the backward`, async () => {
        const want = await run(padded, (t, ids) => {
          ops.add(t('dout'), t('dout'), t('dout2'), n, ids === undefined ? undefined : { ids, cols });
          if (overwrite) ops.fill(t('dx'), 0, n);
          ops.layerNormBackward(t('dx'), t('dWeight'), t('dBias'), t('dout'), t('x'), t('weight'), t('mean'), t('rstd'), rows, cols, ids);
        });
        const got = await run(padded, (t, ids) => {
          ops.layerNormBackward(
            t('dx'), t('dWeight'), t('dBias'), t('dout'), t('x'), t('weight'), t('mean'), t('rstd'), rows, cols, ids,
            { dout2: t('dout2'), overwrite },
          );
        });
        for (const name of ['dx', 'dWeight', 'dBias'] as const) expectSame(got[name], want[name], name);
      });
    }
    for (const overwrite of [false, true]) {
      it(`one part alone (dx ${overwrite ? '=' : '+='}, dout + dout2${padded ? ', padding rows' : ''}): the bits of both, the other part's outputs untouched`, async () => {
        const part = (only?: 'input' | 'params') => run(padded, (t, ids) => {
          ops.layerNormBackward(
            t('dx'), t('dWeight'), t('dBias'), t('dout'), t('x'), t('weight'), t('mean'), t('rstd'), rows, cols, ids,
            { dout2: t('dout2'), overwrite, ...(only === undefined ? {} : { only }) },
          );
        });
        const both = await part();
        expect(both.dx.some((v, i) => v !== INPUTS.dx[i]), 'both parts change dx').toBe(true);
        const input = await part('input');
        const params = await part('params');
        expectSame(input.dx, both.dx, 'input: dx', true);
        expectSame(input.dWeight, INPUTS.dWeight, 'input: dWeight untouched', true);
        expectSame(input.dBias, INPUTS.dBias, 'input: dBias untouched', true);
        expectSame(params.dx, INPUTS.dx, 'params: dx untouched', true);
        expectSame(params.dWeight, both.dWeight, 'params: dWeight', true);
        expectSame(params.dBias, both.dBias, 'params: dBias', true);
      });
    }
    it(`dx (=) without dout2${padded ? ', padding rows' : ''}: as fill then the backward`, async () => {
      const want = await run(padded, (t, ids) => {
        ops.fill(t('dx'), 0, n);
        ops.layerNormBackward(t('dx'), t('dWeight'), t('dBias'), t('dout'), t('x'), t('weight'), t('mean'), t('rstd'), rows, cols, ids);
      });
      const got = await run(padded, (t, ids) => {
        ops.layerNormBackward(
          t('dx'), t('dWeight'), t('dBias'), t('dout'), t('x'), t('weight'), t('mean'), t('rstd'), rows, cols, ids, { overwrite: true },
        );
      });
      for (const name of ['dx', 'dWeight', 'dBias'] as const) expectSame(got[name], want[name], name);
    });
  }
});
