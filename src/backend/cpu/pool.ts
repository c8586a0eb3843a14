/**
 * The CPU backend's worker pool: `parts − 1` worker threads plus the main thread run the parts of one
 * partitioned kernel (kernels.ts) and the call returns when all are done, so ops stay synchronous.
 * The main thread blocks in Atomics.wait (allowed in Node) rather than yielding to the event loop:
 * a training step is a long chain of dependent ops and a round trip through the loop would cost more
 * than the kernels it splits. Tensors must live in SharedArrayBuffers; the pool checks. Workers load
 * asynchronously: `WorkerPool.start` resolves once every worker waits for jobs.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { runKernel, type KernelArgs, type KernelName } from './kernels.js';
import { CTRL_DONE, CTRL_FAILED, CTRL_READY, CTRL_SEQ, CTRL_SLOTS, type Job, type WorkerInit } from './pool-protocol.js';

/**
 * Fewest elements worth a part of their own in `runSplit`: waking a worker and waiting for it costs
 * tens of microseconds, about what a thread spends on this many elements of an elementwise op.
 */
export const MIN_WORK_PER_PART = 16_384;

/** A worker that has not finished this long after the main thread's part has stopped; ms. */
const STALL_MS = 120_000;

interface PoolWorker {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly ctrl: Int32Array;
  readonly result: Float64Array;
  seq: number;
}

/** Most threads a pool runs. */
export const MAX_THREADS = 64;

/**
 * Threads the CPU backend uses when not told: min(2, available cores). A trial is told by the
 * orchestrator (trainer/backend.ts reads the protocol's variable).
 */
export function defaultThreads(): number {
  return Math.min(2, availableParallelism());
}

function isShared(v: unknown): boolean {
  if (ArrayBuffer.isView(v)) return v.buffer instanceof SharedArrayBuffer;
  if (typeof v === 'object' && v !== null) return Object.values(v).every(isShared);
  return true;
}

/**
 * Under tsx or vitest the sources are .ts and a worker does not inherit the loader: an eval'd
 * bootstrap registers tsx's ESM hooks in the worker, then imports the .ts worker module.
 */
function tsBootstrap(worker: URL): string {
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(worker.href)}); });`;
}

/** Runs partitioned kernels on the main thread plus `parts − 1` workers. */
export class WorkerPool {
  readonly parts: number;
  readonly #workers: PoolWorker[] = [];

  /** Starts `parts − 1` workers (none for parts = 1) and resolves when all are ready for jobs. */
  static async start(parts: number): Promise<WorkerPool> {
    const pool = new WorkerPool(parts);
    const failed = new Promise<never>((_, reject) => {
      for (const w of pool.#workers) {
        w.worker.once('error', (e) => reject(new Error(`CPU worker failed to start: ${e.message}`)));
      }
    });
    const ready = Promise.all(pool.#workers.map(async (w) => {
      if (Atomics.load(w.ctrl, CTRL_READY) === 1) return;
      const wait = Atomics.waitAsync(w.ctrl, CTRL_READY, 0);
      if (wait.async) await wait.value;
    }));
    await Promise.race([ready, failed]);
    // Referenced until ready (a pending Atomics.waitAsync alone does not keep Node alive); idle
    // workers then must not keep a finished process alive.
    for (const w of pool.#workers) w.worker.unref();
    return pool;
  }

  private constructor(parts: number) {
    if (!Number.isInteger(parts) || parts < 1 || parts > MAX_THREADS) throw new Error(`WorkerPool: expected parts in [1, ${MAX_THREADS}], got ${parts}`);
    this.parts = parts;
    const source = new URL(import.meta.url);
    const fromTs = source.pathname.endsWith('.ts');
    for (let i = 1; i < parts; i++) {
      const { port1, port2 } = new MessageChannel();
      const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_SLOTS * 4));
      const result = new Float64Array(new SharedArrayBuffer(8));
      const init: WorkerInit = { port: port2, ctrl, result };
      const options = { workerData: init, transferList: [port2] };
      const worker = fromTs
        ? new Worker(tsBootstrap(new URL('./pool-worker.ts', source)), { ...options, eval: true })
        : new Worker(new URL('./pool-worker.js', source), options);
      this.#workers.push({ worker, port: port1, ctrl, result, seq: 0 });
    }
  }

  /** Runs every part of kernel `name` and returns the sum of the parts' results. */
  run<K extends KernelName>(name: K, ...args: KernelArgs<K>): number {
    return this.#run(this.parts, name, args);
  }

  /**
   * Runs kernel `name` over as many parts as `work` (its elements) fills, at least `MIN_WORK_PER_PART`
   * each: a small op on all threads would spend more waking them than it saves. The parts' count
   * never changes an output (every split kernel computes each element in the same order).
   */
  runSplit<K extends KernelName>(work: number, name: K, ...args: KernelArgs<K>): number {
    return this.#run(Math.max(1, Math.min(this.parts, Math.floor(work / MIN_WORK_PER_PART))), name, args);
  }

  /** Runs `parts` parts: part 0 on this thread, the others on the first `parts − 1` workers. */
  #run<K extends KernelName>(parts: number, name: K, args: KernelArgs<K>): number {
    if (parts === 1) return runKernel(name, args, 0, 1);
    if (!args.every(isShared)) throw new Error(`WorkerPool.run(${name}): every array argument must live in a SharedArrayBuffer`);
    const used = this.#workers.slice(0, parts - 1);
    for (const [i, w] of used.entries()) {
      const job: Job = { kind: 'run', fn: name, args, part: i + 1, parts };
      w.port.postMessage(job);
      w.seq++;
      Atomics.store(w.ctrl, CTRL_SEQ, w.seq);
      Atomics.notify(w.ctrl, CTRL_SEQ);
    }
    let total = 0;
    let failure: unknown = null;
    try {
      total = runKernel(name, args, 0, parts);
    } catch (e) {
      failure = e;
    }
    for (const w of used) {
      const since = Date.now();
      for (;;) {
        const done = Atomics.load(w.ctrl, CTRL_DONE);
        if (done === w.seq) break;
        if (Date.now() - since > STALL_MS) throw new Error(`WorkerPool.run(${name}): a worker stopped responding`);
        Atomics.wait(w.ctrl, CTRL_DONE, done, 1000);
      }
      if (Atomics.load(w.ctrl, CTRL_FAILED) === 1) {
        const stack = receiveMessageOnPort(w.port)?.message;
        failure ??= new Error(`WorkerPool.run(${name}) failed in a worker: ${String(stack)}`);
      } else {
        total += w.result[0]!;
      }
    }
    if (failure !== null) throw failure;
    return total;
  }

  /** Stops the workers; the pool must not be used again. */
  close(): void {
    for (const w of this.#workers) {
      const job: Job = { kind: 'exit' };
      w.port.postMessage(job);
      Atomics.store(w.ctrl, CTRL_SEQ, w.seq + 1);
      Atomics.notify(w.ctrl, CTRL_SEQ);
      w.port.close();
    }
    this.#workers.length = 0;
  }
}
