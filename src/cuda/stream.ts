/**
 * Streams (ordered queues of device work) and events (markers in a stream, for ordering between
 * streams and for timing).
 */
import { check, driver } from './driver.js';
import { CU_EVENT_DEFAULT, CU_EVENT_DISABLE_TIMING, CU_STREAM_NON_BLOCKING, type Handle } from './driver-api.js';

/** A CUDA stream. */
export class Stream {
  #handle: Handle | undefined;

  private constructor(handle: Handle) {
    this.#handle = handle;
  }

  /**
   * Creates a stream.
   * @param options.nonBlocking when true the stream does not wait for work on the legacy default
   * stream (null) nor makes it wait; work on both then needs events to be ordered. @default false
   */
  static create(options: { readonly nonBlocking?: boolean } = {}): Stream {
    const out = new BigUint64Array(1);
    check('cuStreamCreate', driver().cuStreamCreate(out, options.nonBlocking ? CU_STREAM_NON_BLOCKING : 0));
    return new Stream(out[0] ?? 0n);
  }

  /** The CUstream; throws once destroyed. */
  get handle(): Handle {
    if (this.#handle === undefined) throw new Error('stream used after destroy');
    return this.#handle;
  }

  /** Waits until all work queued on the stream is done. */
  synchronize(): void {
    check('cuStreamSynchronize', driver().cuStreamSynchronize(this.handle));
  }

  /** Makes later work on this stream wait for `event` (recorded on any stream). */
  waitFor(event: CudaEvent): void {
    check('cuStreamWaitEvent', driver().cuStreamWaitEvent(this.handle, event.handle, 0));
  }

  /** Destroys the stream once its queued work is done. */
  destroy(): void {
    const handle = this.handle;
    this.#handle = undefined;
    check('cuStreamDestroy_v2', driver().cuStreamDestroy_v2(handle));
  }
}

/** Waits until all work of the current context, on every stream, is done. */
export function synchronizeDevice(): void {
  check('cuCtxSynchronize', driver().cuCtxSynchronize());
}

/** A CUDA event. */
export class CudaEvent {
  #handle: Handle | undefined;

  private constructor(handle: Handle) {
    this.#handle = handle;
  }

  /**
   * Creates an event.
   * @param options.timing whether it records a timestamp (for elapsedMs); untimed events order
   * streams more cheaply. @default true
   */
  static create(options: { readonly timing?: boolean } = {}): CudaEvent {
    const out = new BigUint64Array(1);
    const flags = options.timing === false ? CU_EVENT_DISABLE_TIMING : CU_EVENT_DEFAULT;
    check('cuEventCreate', driver().cuEventCreate(out, flags));
    return new CudaEvent(out[0] ?? 0n);
  }

  /** The CUevent; throws once destroyed. */
  get handle(): Handle {
    if (this.#handle === undefined) throw new Error('event used after destroy');
    return this.#handle;
  }

  /**
   * Records the event after the work queued so far on `stream`.
   * @param stream @default null (legacy default stream)
   */
  record(stream: Stream | null = null): void {
    check('cuEventRecord', driver().cuEventRecord(this.handle, stream?.handle ?? null));
  }

  /** Waits until the work before the event is done. */
  synchronize(): void {
    check('cuEventSynchronize', driver().cuEventSynchronize(this.handle));
  }

  /** Milliseconds of device time from `start` to this event; both must be recorded and done. */
  elapsedMsSince(start: CudaEvent): number {
    const out = new Float32Array(1);
    check('cuEventElapsedTime_v2', driver().cuEventElapsedTime_v2(out, start.handle, this.handle));
    return out[0] ?? 0;
  }

  destroy(): void {
    const handle = this.handle;
    this.#handle = undefined;
    check('cuEventDestroy_v2', driver().cuEventDestroy_v2(handle));
  }
}
