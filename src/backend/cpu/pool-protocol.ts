/** What the worker pool's main thread and workers share: the control block layout and the job shape. */
import type { KernelName } from './kernels.js';

// Int32 slots of a worker's control block (a SharedArrayBuffer).
/** Jobs posted so far: the main thread increments it, the worker waits on it. */
export const CTRL_SEQ = 0;
/** Jobs finished so far: the worker stores it, the main thread waits on it. */
export const CTRL_DONE = 1;
/** 1 when the last job threw (its stack follows on the port). */
export const CTRL_FAILED = 2;
/** 1 once the worker has loaded its kernels and waits for jobs. */
export const CTRL_READY = 3;
/** Slots in the block. */
export const CTRL_SLOTS = 4;

/** One job: a kernel part, or the request to exit. */
export type Job =
  | { readonly kind: 'run'; readonly fn: KernelName; readonly args: readonly unknown[]; readonly part: number; readonly parts: number }
  | { readonly kind: 'exit' };

/** What the pool hands a worker at start (`workerData`). */
export interface WorkerInit {
  readonly port: import('node:worker_threads').MessagePort;
  /** Int32Array over a SharedArrayBuffer of CTRL_SLOTS slots. */
  readonly ctrl: Int32Array;
  /** Float64Array over a SharedArrayBuffer: slot 0 receives the job's partial sum. */
  readonly result: Float64Array;
}
