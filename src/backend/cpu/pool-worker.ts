/**
 * A worker of the CPU pool: sleeps on its control block, takes each job synchronously from its port,
 * runs the kernel part and reports. Tensors arrive as views of SharedArrayBuffers, so the worker
 * writes straight into the main thread's memory.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { runKernel } from './kernels.js';
import { CTRL_DONE, CTRL_FAILED, CTRL_READY, CTRL_SEQ, type Job, type WorkerInit } from './pool-protocol.js';

const { port, ctrl, result } = workerData as WorkerInit;
let seq = 0;
Atomics.store(ctrl, CTRL_READY, 1);
Atomics.notify(ctrl, CTRL_READY);
for (;;) {
  Atomics.wait(ctrl, CTRL_SEQ, seq);
  const posted = Atomics.load(ctrl, CTRL_SEQ);
  if (posted === seq) continue;
  seq = posted;
  const job = receiveMessageOnPort(port)?.message as Job | undefined;
  if (job === undefined || job.kind === 'exit') break;
  try {
    // The job was built by the pool from a typed (name, args) pair.
    result[0] = runKernel(job.fn, job.args as never, job.part, job.parts);
    Atomics.store(ctrl, CTRL_FAILED, 0);
  } catch (e) {
    Atomics.store(ctrl, CTRL_FAILED, 1);
    port.postMessage(e instanceof Error ? (e.stack ?? e.message) : String(e));
  }
  Atomics.store(ctrl, CTRL_DONE, seq);
  Atomics.notify(ctrl, CTRL_DONE);
}
port.close();
