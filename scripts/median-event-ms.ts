/** Timing of one piece of device work for the benchmark scripts: the median over CUDA events. */
import { CudaEvent, type Stream } from '../src/cuda/stream.js';

/**
 * Runs `run` (which queues work on `stream`) `warmup` times, then `reps` times a batch of `batch` runs
 * between two events, and returns the median device time of one run in ms. With a batch of several runs
 * the host queues ahead of the device, so a kernel of a few µs is timed without the host's launch cost
 * between the events (one run per event pair measures that cost too). @default batch 1
 */
export function medianEventMs(stream: Stream, run: () => void, warmup: number, reps: number, batch = 1): number {
  for (let i = 0; i < warmup; i++) run();
  const start = CudaEvent.create();
  const stop = CudaEvent.create();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    start.record(stream);
    for (let j = 0; j < batch; j++) run();
    stop.record(stream);
    stop.synchronize();
    times.push(stop.elapsedMsSince(start) / batch);
  }
  start.destroy();
  stop.destroy();
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)]!;
}
