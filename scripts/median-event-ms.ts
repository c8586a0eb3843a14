/** Timing of one piece of device work for the benchmark scripts: the median over CUDA events. */
import { CudaEvent, type Stream } from '../src/cuda/stream.js';

/**
 * Runs `run` (which queues work on `stream`) `warmup` times, then `reps` times between two events each,
 * and returns the median of those device times in ms.
 */
export function medianEventMs(stream: Stream, run: () => void, warmup: number, reps: number): number {
  for (let i = 0; i < warmup; i++) run();
  const start = CudaEvent.create();
  const stop = CudaEvent.create();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    start.record(stream);
    run();
    stop.record(stream);
    stop.synchronize();
    times.push(stop.elapsedMsSince(start));
  }
  start.destroy();
  stop.destroy();
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)]!;
}
