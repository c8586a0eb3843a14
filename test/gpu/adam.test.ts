import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { adamStep } from '../../src/backend/cuda/adam-kernels.js';
import { CudaTensor } from '../../src/backend/cuda/cuda-tensor.js';
import type { AdamParams } from '../../src/backend/ops.js';
import type { DeviceBuffer } from '../../src/cuda/allocator.js';
import { Stream } from '../../src/cuda/stream.js';
import { cpuOracle, get, poison, put, relError, toBf16 } from './device-tensors.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/adam.test.ts');

const NAMES = ['param', 'm', 'v', 'grad'] as const;
type Name = (typeof NAMES)[number];

describe.skipIf(noGpu)('adamStep against the float64 CPU backend', () => {
  const context = useContext();
  let cpu: CpuOps | undefined;
  beforeAll(async () => {
    cpu = await cpuOracle();
  });
  afterAll(() => cpu?.close());

  // n = 100,003: float4 groups and a tail of 3 when aligned; every element alone when the tensors sit
  // 4 bytes past a 16-byte boundary (vec4 = 0).
  for (const step of [1, 1000]) {
    for (const aligned of [true, false]) {
      it(`n = 100,003, step ${step}${aligned ? '' : ', unaligned tensors'}`, async () => {
        const oracle = cpu;
        if (oracle === undefined) throw new Error('the oracle starts in beforeAll');
        const n = 100_003;
        const hp: AdamParams = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step };
        // One buffer per tensor, the view at byte 0 (16-byte aligned) or at byte 4 (not).
        const offset = aligned ? 0 : 4;
        const buffers: DeviceBuffer[] = [];
        const dev = {} as Record<Name, CudaTensor>;
        for (const name of NAMES) {
          const buffer = context().allocator.alloc(offset + 4 * n, name);
          buffers.push(buffer);
          dev[name] = new CudaTensor({ name, shape: [n], dtype: 'f32' }, n, buffer.view(offset, 4 * n));
          poison(dev[name]);
        }
        const refs = oracle.allocGroup('ref', NAMES.map((name) => ({ name, shape: [n], dtype: 'f32' as const })));
        const init: Record<Name, Float32Array> = {
          param: randomFloats(n),
          m: randomFloats(n).map((x) => 0.01 * x),
          v: randomFloats(n).map((x) => (0.01 * x) ** 2),
          grad: randomFloats(n).map((x) => 0.02 * x),
        };
        for (const name of NAMES) oracle.write(refs.get(name), put(dev[name], init[name]));

        const stream = Stream.create();
        adamStep(stream, dev.param, dev.m, dev.v, dev.grad, n, hp);
        stream.synchronize();
        stream.destroy();
        oracle.adamStep(refs.get('param'), refs.get('m'), refs.get('v'), refs.get('grad'), n, hp);

        // The kernel computes in fp32 (a few roundings of ~2^-24 per value), the oracle in doubles then
        // read as f32: params, m and v agree to 1e-6 relative. The update itself (param − its start,
        // ~lr) loses to cancellation the rounding of param (~6e-8 of |param| ≤ 1, ~1e-5 of lr = 0.01):
        // bound 1e-4.
        const got = Object.fromEntries(NAMES.map((name) => [name, get(dev[name])])) as Record<Name, Float32Array>;
        const want = {} as Record<Name, Float32Array>;
        for (const name of NAMES) want[name] = await oracle.readF32(refs.get(name));
        for (const name of ['param', 'm', 'v'] as const) expect(relError(got[name], want[name]), name).toBeLessThanOrEqual(1e-6);
        const moved = (p: Float32Array): Float64Array => Float64Array.from(p, (x, i) => x - init.param[i]!);
        expect(relError(moved(got.param), moved(want.param)), 'update').toBeLessThanOrEqual(1e-4);
        expect(relError(got.grad, init.grad), 'grad untouched').toBe(0);

        oracle.freeGroup(refs);
        for (const buffer of buffers) buffer.free();
      });
    }
  }

  // narrow (AdamParams.narrow): the updated param rounded to bf16, bit for bit, on the float4 path (a tail
  // of 3) and element by element (narrow 2 bytes past an 8-byte boundary); param, m, v as without it.
  for (const aligned of [true, false]) {
    it(`n = 100,003, the narrow copy of the updated param${aligned ? '' : ', element by element'}`, () => {
      const n = 100_003;
      const hp: AdamParams = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 7 };
      const buffers: DeviceBuffer[] = [];
      const tensor = (name: string, dtype: 'f32' | 'bf16', offset = 0): CudaTensor => {
        const bytes = dtype === 'f32' ? 4 : 2;
        const buffer = context().allocator.alloc(offset + bytes * n, name);
        buffers.push(buffer);
        const t = new CudaTensor({ name, shape: [n], dtype }, n, buffer.view(offset, bytes * n));
        poison(t);
        return t;
      };
      const init = { param: randomFloats(n), m: randomFloats(n).map((x) => 0.01 * x), v: randomFloats(n).map((x) => (0.01 * x) ** 2), grad: randomFloats(n) };
      const run = (narrow: CudaTensor | null): Float32Array[] => {
        const dev = Object.fromEntries(NAMES.map((name) => [name, tensor(name, 'f32')])) as Record<Name, CudaTensor>;
        for (const name of NAMES) put(dev[name], init[name]);
        const stream = Stream.create();
        adamStep(stream, dev.param, dev.m, dev.v, dev.grad, n, narrow === null ? hp : { ...hp, narrow });
        stream.synchronize();
        stream.destroy();
        return [get(dev.param), get(dev.m), get(dev.v)];
      };
      const narrow = tensor('narrow', 'bf16', aligned ? 0 : 2);
      const [param, m, v] = run(narrow);
      expect([param, m, v]).toEqual(run(null));
      expect(get(narrow)).toEqual(toBf16(param!).values);
      for (const buffer of buffers) buffer.free();
    });
  }
});
