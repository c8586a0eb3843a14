/**
 * Device memory operations: the driver side of the allocator, copies between host and device and
 * within the device, memsets, and pinned host memory.
 *
 * Copies and memsets are ordered on a stream (default: the legacy default stream, null). Host memory
 * is any typed array. From ordinary (pageable) JS memory a copy is done, as far as the host memory is
 * concerned, when the call returns; from pinned memory (a view of a `PinnedHostBuffer`) it is truly
 * asynchronous: synchronize the stream before reading or reusing that memory.
 */
import type { DeviceMemory } from './allocator.js';
import { check, driver } from './driver.js';
import type { DevicePointer, Handle } from './driver-api.js';
import type { DeviceAddressable } from './kernel-signature.js';
import { koffi } from './native-library.js';
import type { Stream } from './stream.js';

/** A device byte range: a DeviceBuffer or a DeviceView. */
export interface DeviceRegion extends DeviceAddressable {
  readonly bytes: number;
}

/** The allocator's access to the driver: cuMemAlloc, cuMemFree, cuMemGetInfo. */
export const driverMemory: DeviceMemory = {
  allocate(bytes: number): DevicePointer {
    const out = new BigUint64Array(1);
    check('cuMemAlloc_v2', driver().cuMemAlloc_v2(out, bytes));
    return out[0] ?? 0n;
  },
  release(pointer: DevicePointer): void {
    check('cuMemFree_v2', driver().cuMemFree_v2(pointer));
  },
  info() {
    return deviceMemoryInfo();
  },
};

/** Free and total memory of the current context's device (cuMemGetInfo). */
export function deviceMemoryInfo(): { readonly freeBytes: number; readonly totalBytes: number } {
  const free = new BigUint64Array(1);
  const total = new BigUint64Array(1);
  check('cuMemGetInfo_v2', driver().cuMemGetInfo_v2(free, total));
  return { freeBytes: Number(free[0] ?? 0n), totalBytes: Number(total[0] ?? 0n) };
}

function checkRange(what: string, offset: number, bytes: number, limit: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(bytes) || bytes < 0 || offset + bytes > limit) {
    throw new RangeError(`${what}: [${offset}, ${offset + bytes}) is outside the ${limit} bytes available`);
  }
}

const streamHandle = (stream: Stream | null | undefined): Handle | null => stream?.handle ?? null;

/**
 * Copies all of `src` (host) into `dst` from `dstOffsetBytes` on.
 * @param dstOffsetBytes where in `dst` the copy starts. @default 0
 * @param stream the stream to order the copy on. @default null (legacy default stream)
 */
export function upload(dst: DeviceRegion, src: ArrayBufferView, dstOffsetBytes = 0, stream: Stream | null = null): void {
  checkRange('upload', dstOffsetBytes, src.byteLength, dst.bytes);
  if (src.byteLength === 0) return;
  const to = dst.ptr + BigInt(dstOffsetBytes);
  check('cuMemcpyHtoDAsync_v2', driver().cuMemcpyHtoDAsync_v2(to, src, src.byteLength, streamHandle(stream)));
}

/**
 * Copies `dst.byteLength` bytes of `src` (device), from `srcOffsetBytes` on, into `dst` (host).
 * @param srcOffsetBytes where in `src` the copy starts. @default 0
 * @param stream the stream to order the copy on. @default null (legacy default stream)
 */
export function download(dst: ArrayBufferView, src: DeviceRegion, srcOffsetBytes = 0, stream: Stream | null = null): void {
  checkRange('download', srcOffsetBytes, dst.byteLength, src.bytes);
  if (dst.byteLength === 0) return;
  const from = src.ptr + BigInt(srcOffsetBytes);
  check('cuMemcpyDtoHAsync_v2', driver().cuMemcpyDtoHAsync_v2(dst, from, dst.byteLength, streamHandle(stream)));
}

/**
 * Copies `bytes` bytes from `src` to `dst`, both on the device, ordered on `stream`.
 * @param stream @default null (legacy default stream)
 */
export function copyDevice(dst: DeviceRegion, src: DeviceRegion, bytes: number, stream: Stream | null = null): void {
  checkRange('copyDevice destination', 0, bytes, dst.bytes);
  checkRange('copyDevice source', 0, bytes, src.bytes);
  if (bytes === 0) return;
  check('cuMemcpyDtoDAsync_v2', driver().cuMemcpyDtoDAsync_v2(dst.ptr, src.ptr, bytes, streamHandle(stream)));
}

/**
 * Sets every byte of `dst` to `value` (0..255).
 * @param stream @default null (legacy default stream)
 */
export function fillBytes(dst: DeviceRegion, value: number, stream: Stream | null = null): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`Expected a byte 0..255, got ${value}`);
  if (dst.bytes === 0) return;
  check('cuMemsetD8Async', driver().cuMemsetD8Async(dst.ptr, value, dst.bytes, streamHandle(stream)));
}

/**
 * Sets every 32-bit word of `dst` to `word` (its size must be a multiple of 4): to poison with a NaN
 * pattern, or fill floats by bit pattern.
 * @param stream @default null (legacy default stream)
 */
export function fillWords(dst: DeviceRegion, word: number, stream: Stream | null = null): void {
  if (!Number.isInteger(word) || word < 0 || word > 0xffff_ffff) throw new RangeError(`Expected a uint32 word, got ${word}`);
  if (dst.bytes % 4 !== 0) throw new RangeError(`fillWords: region of ${dst.bytes} bytes is not whole 32-bit words`);
  if (dst.bytes === 0) return;
  check('cuMemsetD32Async', driver().cuMemsetD32Async(dst.ptr, word, dst.bytes / 4, streamHandle(stream)));
}

/** Page-locked host memory: copies from and to it run asynchronously and at full bus speed. */
export class PinnedHostBuffer {
  readonly bytes: number;
  #ptr: Handle | undefined;
  #view: ArrayBuffer | undefined;

  private constructor(ptr: Handle, bytes: number) {
    this.#ptr = ptr;
    this.bytes = bytes;
    this.#view = koffi().view(ptr, bytes);
  }

  /** Allocates `bytes` bytes of pinned host memory (cuMemHostAlloc). */
  static alloc(bytes: number): PinnedHostBuffer {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RangeError(`Expected a byte count > 0, got ${bytes}`);
    const out = new BigUint64Array(1);
    check('cuMemHostAlloc', driver().cuMemHostAlloc(out, bytes, 0));
    return new PinnedHostBuffer(out[0] ?? 0n, bytes);
  }

  /** The memory, for typed-array views; do not touch it (or its views) after `free()`. */
  get arrayBuffer(): ArrayBuffer {
    if (this.#view === undefined) throw new Error('pinned host buffer used after free');
    return this.#view;
  }

  /** Returns the memory to the driver (cuMemFreeHost). */
  free(): void {
    if (this.#ptr === undefined) throw new Error('pinned host buffer freed twice');
    const ptr = this.#ptr;
    this.#ptr = undefined;
    this.#view = undefined;
    check('cuMemFreeHost', driver().cuMemFreeHost(ptr));
  }
}
