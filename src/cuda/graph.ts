/**
 * CUDA graphs: the launches queued on a stream between `beginCapture` and `endCapture` are recorded
 * once and replayed with one call, which removes the per-launch host cost of a training step made of
 * many small kernels. A captured launch keeps the argument values it was captured with: buffers must
 * stay where they are (the allocator's cache keeps a fixed plan's addresses stable from step to step).
 */
import { check, driver } from './driver.js';
import { CU_STREAM_CAPTURE_MODE_RELAXED, type Handle } from './driver-api.js';
import type { Stream } from './stream.js';

/** An instantiated graph, ready to replay. */
export class CudaGraph {
  #graph: Handle | undefined;
  #exec: Handle | undefined;

  private constructor(graph: Handle, exec: Handle) {
    this.#graph = graph;
    this.#exec = exec;
  }

  /**
   * Records the device work that `record` queues on `stream` (it must not synchronize, nor copy to
   * or from pageable host memory), and instantiates it. `stream` must not be the legacy default stream.
   */
  static capture(stream: Stream, record: () => void): CudaGraph {
    const api = driver();
    // Relaxed mode: other threads' and the allocator's driver calls stay legal during the capture.
    check('cuStreamBeginCapture_v2', api.cuStreamBeginCapture_v2(stream.handle, CU_STREAM_CAPTURE_MODE_RELAXED));
    const graphOut = new BigUint64Array(1);
    try {
      record();
    } catch (error) {
      // End the capture all the same, or the stream stays unusable, and drop what it captured.
      if (api.cuStreamEndCapture(stream.handle, graphOut) === 0 && graphOut[0]) api.cuGraphDestroy(graphOut[0]);
      throw error;
    }
    // A failed capture (an illegal call inside it) reports here.
    check('cuStreamEndCapture', api.cuStreamEndCapture(stream.handle, graphOut));
    const graph = graphOut[0] ?? 0n;
    const execOut = new BigUint64Array(1);
    try {
      check('cuGraphInstantiateWithFlags', api.cuGraphInstantiateWithFlags(execOut, graph, 0));
    } catch (error) {
      api.cuGraphDestroy(graph);
      throw error;
    }
    return new CudaGraph(graph, execOut[0] ?? 0n);
  }

  /** Queues one replay of the whole graph on `stream`. */
  launch(stream: Stream): void {
    if (this.#exec === undefined) throw new Error('graph launched after destroy');
    check('cuGraphLaunch', driver().cuGraphLaunch(this.#exec, stream.handle));
  }

  destroy(): void {
    if (this.#exec === undefined || this.#graph === undefined) throw new Error('graph destroyed twice');
    const api = driver();
    check('cuGraphExecDestroy', api.cuGraphExecDestroy(this.#exec));
    check('cuGraphDestroy', api.cuGraphDestroy(this.#graph));
    this.#exec = undefined;
    this.#graph = undefined;
  }
}
