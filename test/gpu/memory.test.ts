import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { copyDevice, download, fillBytes, fillWords, PinnedHostBuffer, upload } from '../../src/cuda/memory.js';
import { PinnedStaging } from '../../src/backend/cuda/pinned-staging.js';
import { Stream } from '../../src/cuda/stream.js';
import { announceSkip, noGpu, useContext } from './gpu.js';

announceSkip('test/gpu/memory.test.ts');

const ODD_SIZES = [1, 3, 17, 511, 4097, 65_537, 1_000_003, 16_777_259];

describe.skipIf(noGpu)('device memory', () => {
  const context = useContext();

  it('round-trips random bytes of odd sizes through two device buffers', () => {
    for (const size of ODD_SIZES) {
      const data = new Uint8Array(randomBytes(size));
      const a = context().allocator.alloc(size, 'a');
      const b = context().allocator.alloc(size, 'b');
      fillBytes(b, 0xa5);
      upload(a, data);
      copyDevice(b, a, size);
      const back = new Uint8Array(size);
      download(back, b);
      expect(Buffer.compare(back, data), `size ${size}`).toBe(0);
      a.free();
      b.free();
    }
  });

  it('copies at odd offsets, into views and typed-array windows', () => {
    const buffer = context().allocator.alloc(1001, 'window');
    fillBytes(buffer, 0);
    const data = new Uint8Array(randomBytes(333));
    upload(buffer.view(7, 400), data, 13);
    const whole = new Uint8Array(1001);
    download(whole, buffer);
    expect(Buffer.compare(whole.subarray(20, 353), data)).toBe(0);
    expect(whole.subarray(0, 20).every((b) => b === 0)).toBe(true);
    expect(whole.subarray(353).every((b) => b === 0)).toBe(true);
    const host = new Float32Array(100).fill(-1);
    download(host.subarray(10, 20), buffer, 20);
    expect(Buffer.compare(new Uint8Array(host.buffer, 40, 40), data.subarray(0, 40))).toBe(0);
    expect(host[9]).toBe(-1);
    expect(host[20]).toBe(-1);
    expect(() => upload(buffer, new Uint8Array(1002))).toThrow(RangeError);
    buffer.free();
  });

  it('fills bytes and 32-bit words', () => {
    const buffer = context().allocator.alloc(4 * 1000, 'fill');
    fillWords(buffer, 0x3f80_0000); // 1.0f
    const floats = new Float32Array(1000);
    download(floats, buffer);
    expect(floats.every((v) => v === 1)).toBe(true);
    fillBytes(buffer.view(4, 4), 0);
    download(floats, buffer);
    expect([floats[0], floats[1], floats[2]]).toEqual([1, 0, 1]);
    buffer.free();
  });

  it('round-trips through pinned memory asynchronously on a stream', () => {
    const size = 3_000_017;
    const source = PinnedHostBuffer.alloc(size);
    const target = PinnedHostBuffer.alloc(size);
    const data = new Uint8Array(randomBytes(size));
    new Uint8Array(source.arrayBuffer).set(data);
    new Uint8Array(target.arrayBuffer).fill(0);
    const stream = Stream.create();
    const device = context().allocator.alloc(size, 'pinned');
    upload(device, new Uint8Array(source.arrayBuffer), 0, stream);
    download(new Uint8Array(target.arrayBuffer), device, 0, stream);
    stream.synchronize();
    expect(Buffer.compare(new Uint8Array(target.arrayBuffer), data)).toBe(0);
    device.free();
    stream.destroy();
    source.free();
    target.free();
  });
});

describe.skipIf(noGpu)('pinned staging (CudaOps.write)', () => {
  const context = useContext();

  it('lands every write in order, across more writes than slots, growing slots, with the source reused at once', () => {
    const stream = Stream.create({ nonBlocking: true });
    const staging = new PinnedStaging(stream);
    const sizes = [5, 70_000, 3, 1_000_003, 17, 200_001];
    const buffers = sizes.map((size) => context().allocator.alloc(size, 'staged'));
    const want = sizes.map(() => new Uint8Array(0));
    const source = new Uint8Array(1_000_003);
    // 30 rounds over 6 buffers: 180 writes through 8 slots; the same source array is refilled before
    // each write, so a write that read it late would land the wrong bytes.
    for (let round = 0; round < 30; round++) {
      sizes.forEach((size, i) => {
        const view = source.subarray(0, size);
        view.set(randomBytes(size));
        want[i] = view.slice();
        staging.write(buffers[i]!, view, 0);
      });
    }
    stream.synchronize();
    sizes.forEach((size, i) => {
      const back = new Uint8Array(size);
      download(back, buffers[i]!);
      expect(Buffer.compare(back, want[i]!), `buffer ${i} (${size} bytes)`).toBe(0);
      buffers[i]!.free();
    });
    staging.close();
    stream.destroy();
  });
});
