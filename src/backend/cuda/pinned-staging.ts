/**
 * Host-to-device writes that do not hold the host: each write is copied into a slot of page-locked memory
 * and uploaded from there asynchronously on the stream. From pageable memory the driver returns only
 * once the copy has run, which (being stream-ordered) waits for every kernel queued before it: the host
 * then sat idle through each training step instead of preparing the next batch. A slot is reused once
 * the event recorded after its upload has passed, so the host runs at most SLOTS writes ahead.
 */
import { PinnedHostBuffer, upload, type DeviceRegion } from '../../cuda/memory.js';
import { CudaEvent, type Stream } from '../../cuda/stream.js';

/** Writes in flight at most (three per training step: ids, labels, counters). */
const SLOTS = 8;

/** The smallest slot allocated (a slot grows to the largest write it has carried). */
const MIN_SLOT_BYTES = 64 * 1024;

interface Slot {
  buffer: PinnedHostBuffer | null;
  readonly done: CudaEvent;
  /** Whether `done` was recorded after this slot's last upload. */
  recorded: boolean;
}

/** A ring of pinned slots feeding one stream. */
export class PinnedStaging {
  readonly #stream: Stream;
  readonly #slots: Slot[];
  #next = 0;

  constructor(stream: Stream) {
    this.#stream = stream;
    this.#slots = Array.from({ length: SLOTS }, () => ({ buffer: null, done: CudaEvent.create({ timing: false }), recorded: false }));
  }

  /** Queues the copy of `src` into `dst` from `dstOffsetBytes` on the stream; `src` may be reused at once. */
  write(dst: DeviceRegion, src: ArrayBufferView, dstOffsetBytes: number): void {
    if (src.byteLength === 0) return;
    const slot = this.#slots[this.#next]!;
    this.#next = (this.#next + 1) % SLOTS;
    if (slot.recorded) slot.done.synchronize();
    if (slot.buffer === null || slot.buffer.bytes < src.byteLength) {
      slot.buffer?.free();
      slot.buffer = null;
      slot.buffer = PinnedHostBuffer.alloc(Math.max(MIN_SLOT_BYTES, src.byteLength));
    }
    const staged = new Uint8Array(slot.buffer.arrayBuffer, 0, src.byteLength);
    staged.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    upload(dst, staged, dstOffsetBytes, this.#stream);
    slot.done.record(this.#stream);
    slot.recorded = true;
  }

  /** Frees the slots; the stream must be synchronized first. */
  close(): void {
    for (const slot of this.#slots) {
      slot.buffer?.free();
      slot.buffer = null;
      slot.done.destroy();
    }
  }
}
