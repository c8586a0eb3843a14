import { describe, expect, it } from 'vitest';
import { DeviceAllocator } from '../../src/cuda/allocator.js';
import {
  argumentPacker,
  KernelArgumentError,
  layoutOf,
  type KernelArgs,
} from '../../src/cuda/kernel-signature.js';
import { FakeDeviceMemory } from './fake-device-memory.js';

describe('layoutOf', () => {
  it('places each parameter at its natural alignment, as C does', () => {
    const layout = layoutOf(['out:ptr', 'value:f32', 'n:u64']);
    expect(layout.slots.map((s) => [s.name, s.offset, s.size])).toEqual([
      ['out', 0, 8],
      ['value', 8, 4],
      ['n', 16, 8],
    ]);
    expect(layout.bytes).toBe(24);
    expect(layoutOf(['f32', 'i32', 'u32']).bytes).toBe(12);
    expect(layoutOf(['u32', 'ptr']).slots[1]?.offset).toBe(8);
    expect(layoutOf(['i32', 'f64', 'u32']).slots.map((s) => s.offset)).toEqual([0, 8, 16]);
    expect(layoutOf([]).bytes).toBe(0);
  });

  it('rejects an unknown type, naming it', () => {
    expect(() => layoutOf(['n:u16' as 'n:u32'])).toThrow(/"n:u16"/);
  });
});

describe('argumentPacker', () => {
  const layout = layoutOf(['out:ptr', 'value:f32', 'n:u64', 'k:i32', 'm:u32', 'bias:i64', 'scale:f64']);
  const pack = argumentPacker('demo', layout);
  const view = new DataView(new ArrayBuffer(layout.bytes));

  it('writes every value little-endian at its offset', () => {
    pack(view, [0x7f00_1234_5600n, 1.5, 2 ** 40 + 3, -7, 0xffff_fffe, -(2n ** 62n), Math.PI]);
    expect(view.getBigUint64(0, true)).toBe(0x7f00_1234_5600n);
    expect(view.getFloat32(8, true)).toBe(1.5);
    expect(view.getBigUint64(16, true)).toBe(2n ** 40n + 3n);
    expect(view.getInt32(24, true)).toBe(-7);
    expect(view.getUint32(28, true)).toBe(0xffff_fffe);
    expect(view.getBigInt64(32, true)).toBe(-(2n ** 62n));
    expect(view.getFloat64(40, true)).toBe(Math.PI);
  });

  it('takes a buffer for a pointer and refuses one that was freed', () => {
    const allocator = new DeviceAllocator(new FakeDeviceMemory(1 << 20));
    const buffer = allocator.alloc(100, 'logits');
    pack(view, [buffer.view(16, 32), 0, 0, 0, 0, 0, 0]);
    expect(view.getBigUint64(0, true)).toBe(buffer.ptr + 16n);
    buffer.free();
    expect(() => pack(view, [buffer, 0, 0, 0, 0, 0, 0])).toThrow(/"logits" used after free/);
  });

  it('names the kernel, the parameter and the value when one is out of range', () => {
    const args = [1n, 0, 0, 0, 0, 0, 0];
    const bad = (index: number, value: unknown): unknown[] => args.map((a, i) => (i === index ? value : a));
    expect(() => pack(view, bad(2, -1))).toThrow(KernelArgumentError);
    expect(() => pack(view, bad(2, -1))).toThrow('demo: parameter n (u64): expected an integer in [0, 2^64), got -1');
    expect(() => pack(view, bad(2, 2n ** 64n))).toThrow(/parameter n/);
    expect(() => pack(view, bad(3, 1.5))).toThrow(/parameter k \(i32\)/);
    expect(() => pack(view, bad(3, 2 ** 31))).toThrow(/parameter k/);
    expect(() => pack(view, bad(4, -1))).toThrow(/parameter m \(u32\)/);
    expect(() => pack(view, bad(1, '1'))).toThrow(/parameter value \(f32\): expected a number/);
    expect(() => pack(view, bad(0, 5))).toThrow(/parameter out \(ptr\): expected a device pointer, got 5/);
    expect(() => pack(view, args.slice(1))).toThrow('demo: expected 7 arguments, got 6');
  });

  it('accepts NaN for floats (outputs are poisoned with it on purpose)', () => {
    pack(view, [1n, Number.NaN, 0, 0, 0, 0, Number.NaN]);
    expect(view.getFloat32(8, true)).toBeNaN();
  });

  it('types launch arguments from the signature', () => {
    const signature = ['out:ptr', 'value:f32', 'n:u64'] as const;
    const ok: KernelArgs<typeof signature> = [1n, 2.5, 10n];
    // @ts-expect-error a string is no f32
    const wrong: KernelArgs<typeof signature> = [1n, 'x', 10];
    // @ts-expect-error one argument short
    const short: KernelArgs<typeof signature> = [1n, 2.5];
    expect([ok, wrong, short].length).toBe(3);
  });
});
