import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { axpyF32, fillF32, SUM_SCRATCH_BYTES, sumF32 } from '../../src/cuda/basic-kernels.js';
import * as reference from '../../src/cuda/basic-reference.js';
import { CudaError, KernelSignatureMismatch } from '../../src/cuda/cuda-error.js';
import { CudaModule } from '../../src/cuda/cuda-module.js';
import { CudaGraph } from '../../src/cuda/graph.js';
import { kernelsDirectory } from '../../src/cuda/kernel-modules.js';
import { download, fillWords, upload } from '../../src/cuda/memory.js';
import { CudaEvent, Stream } from '../../src/cuda/stream.js';
import { announceSkip, noGpu, POISON_WORD, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/kernels.test.ts');

const SIZES = [1, 255, 256, 257, 100_003, 3_000_017];
const basicPtx = (): string => readFileSync(join(kernelsDirectory(), 'basic.sm80.ptx'), 'utf8');

describe.skipIf(noGpu)('basic kernels against their CPU references', () => {
  const context = useContext();

  const device = (host: Float32Array, label: string) => {
    const buffer = context().allocator.alloc(host.byteLength, label);
    upload(buffer, host);
    return buffer;
  };

  it('fill_f32 writes every element', () => {
    for (const n of SIZES) {
      const value = Math.fround(Math.random() * 100 - 50);
      const out = context().allocator.alloc(4 * n, 'out');
      fillWords(out, POISON_WORD);
      fillF32(out, value, n);
      const got = new Float32Array(n);
      download(got, out);
      const want = new Float32Array(n);
      reference.fillF32(want, value, n);
      expect(Buffer.compare(new Uint8Array(got.buffer), new Uint8Array(want.buffer)), `n = ${n}`).toBe(0);
      out.free();
    }
  });

  it('axpy_f32 matches within one float32 rounding', () => {
    for (const n of SIZES) {
      const x = randomFloats(n);
      const y = randomFloats(n);
      const a = Math.random() * 4 - 2;
      const dx = device(x, 'x');
      const dy = device(y, 'y');
      axpyF32(dy, dx, a, n);
      const got = new Float32Array(n);
      download(got, dy);
      const want = Float32Array.from(y);
      reference.axpyF32(want, x, a, n);
      // Bound: one float32 rounding (2^-23 relative) of the terms' magnitude, |a·x| + |y|.
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const scale = Math.abs(Math.fround(a) * (x[i] as number)) + Math.abs(y[i] as number);
        worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)) / (scale || 1));
      }
      expect(worst, `n = ${n}`).toBeLessThanOrEqual(2 ** -23);
      dx.free();
      dy.free();
    }
  });

  it('sum_f32 matches the float64 sum within the float32 summation bound', () => {
    const scratch = context().allocator.alloc(SUM_SCRATCH_BYTES, 'partials');
    const out = context().allocator.alloc(4, 'sum');
    for (const n of SIZES) {
      const x = randomFloats(n);
      const dx = device(x, 'x');
      fillWords(scratch, POISON_WORD);
      fillWords(out, POISON_WORD);
      sumF32(out, dx, n, scratch);
      const got = new Float32Array(1);
      download(got, out);
      const want = reference.sumF32(x, n);
      let magnitude = 0;
      for (let i = 0; i < n; i++) magnitude += Math.abs(x[i] as number);
      // Each thread adds at most a few dozen terms in order, then two trees of depth ≤ 10:
      // well under 100 roundings of 2^-24 each, relative to Σ|x|.
      expect(Math.abs((got[0] as number) - want), `n = ${n}`).toBeLessThanOrEqual(1e-5 * magnitude);
      dx.free();
    }
    scratch.free();
    out.free();
  });

  it('events time a kernel', () => {
    const n = 64 << 20;
    const out = context().allocator.alloc(4 * n, 'timed');
    const stream = Stream.create();
    const start = CudaEvent.create();
    const end = CudaEvent.create();
    fillF32(out, 1, n, stream); // warm-up
    start.record(stream);
    fillF32(out, 2, n, stream);
    end.record(stream);
    end.synchronize();
    const ms = end.elapsedMsSince(start);
    console.log(`[timing] fill_f32 of ${n} floats: ${ms.toFixed(3)} ms, ${((4 * n) / ms / 1e6).toFixed(0)} GB/s`);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(1000);
    for (const e of [start, end]) e.destroy();
    stream.destroy();
    out.free();
  });

  it('a CUDA graph replays captured launches', () => {
    const n = 10_007;
    const x = randomFloats(n);
    const y = randomFloats(n);
    const a = 0.25;
    const dx = device(x, 'x');
    const dy = device(y, 'y');
    const stream = Stream.create();
    axpyF32(dy, dx, a, n, stream); // loads the module before the capture
    const graph = CudaGraph.capture(stream, () => {
      for (let i = 0; i < 5; i++) axpyF32(dy, dx, a, n, stream);
    });
    for (let replay = 0; replay < 3; replay++) graph.launch(stream);
    stream.synchronize();
    const got = new Float32Array(n);
    download(got, dy);
    const want = Float32Array.from(y);
    for (let i = 0; i < 16; i++) reference.axpyF32(want, x, a, n);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
    // 16 steps, each within a rounding or two of values below 5 in magnitude.
    expect(worst).toBeLessThan(1e-4);
    graph.destroy();
    stream.destroy();
    dx.free();
    dy.free();
  });
});

describe.skipIf(noGpu)('modules and functions', () => {
  const context = useContext();

  it('picks the variant for the device and reports the compiled function', () => {
    expect(context().modules.variantOf('basic')).toBe('sm80');
    const fill = context().modules.load('basic').getFunction('fill_f32', ['out:ptr', 'value:f32', 'n:u64']);
    const attributes = fill.attributes();
    const { major, minor } = context().device.computeCapability;
    expect(attributes.registersPerThread).toBeGreaterThan(0);
    expect(attributes.maxThreadsPerBlock).toBeGreaterThanOrEqual(256);
    expect(attributes.ptxVersion).toBe(80);
    expect(attributes.binaryVersion).toBe(major * 10 + minor);
  });

  it('raises the dynamic shared memory limit up to the opt-in maximum, and no further', () => {
    const module = context().modules.load('basic');
    const fill = module.getFunction('fill_f32', ['out:ptr', 'value:f32', 'n:u64']);
    const limit = context().device.maxSharedMemoryPerBlockOptinBytes - fill.attributes().staticSharedBytes;
    fill.setMaxDynamicSharedBytes(limit);
    expect(fill.attributes().maxDynamicSharedBytes).toBe(limit);
    expect(() => fill.setMaxDynamicSharedBytes(limit + 1024)).toThrow(CudaError);
  });

  it('checks declared signatures against the compiled kernel', () => {
    const module = CudaModule.fromPtx(basicPtx(), 'basic-copy');
    expect(() => module.getFunction('fill_f32', ['out:ptr', 'value:f32', 'n:u32'])).toThrow(
      'kernel fill_f32: parameter n (u32) is declared at offset 12, 4 bytes; the compiled kernel has it at offset 16, 8 bytes',
    );
    expect(() => module.getFunction('axpy_f32', ['y:ptr', 'x:ptr', 'a:f32'])).toThrow(KernelSignatureMismatch);
    expect(() => module.getFunction('sum_final_f32', ['out:ptr', 'partials:ptr', 'count:u32', 'extra:u32'])).toThrow(
      /declares 4 parameters, the compiled kernel has 3/,
    );
    expect(() => module.getFunction('no_such_kernel', [])).toThrow(/CUDA_ERROR_NOT_FOUND[\s\S]*extern "C"/);
    module.unload();
  });

  it('names the kernel and gives a hint when a launch is refused', () => {
    const fill = context().modules.load('basic').getFunction('fill_f32', ['out:ptr', 'value:f32', 'n:u64']);
    const out = context().allocator.alloc(4, 'one');
    let caught: unknown;
    try {
      fill.launch({ grid: 1, block: 2048 }, out, 0, 1);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CudaError);
    expect((caught as CudaError).call).toBe('cuLaunchKernel');
    expect((caught as Error).message).toMatch(/kernel fill_f32: grid \[1, 1, 1\], block \[2048, 1, 1\][\s\S]*hint: .*1024 threads/);
    out.free();
  });

  it('gives the JIT log for PTX that does not compile', () => {
    const broken = basicPtx().replace(/(\.visible \.entry fill_f32\([^)]*\)\s*\{)/, '$1\n\tnot_an_instruction.f32 %f1, %f1;');
    expect(broken).not.toBe(basicPtx());
    let caught: unknown;
    try {
      CudaModule.fromPtx(broken, 'broken');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CudaError);
    const message = (caught as Error).message;
    console.log(`[jit] ${message}`);
    expect((caught as CudaError).errorName).toBe('CUDA_ERROR_INVALID_PTX');
    expect(message).toMatch(/module broken: PTX ISA 9\.0 for sm_80; this driver supports CUDA \d+\.\d/);
    expect(message).toMatch(/JIT log:\n.*not_an_instruction/);
  });
});
