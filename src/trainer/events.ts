/**
 * The child's side of the event stream (protocol v1): one JSON line per event, written synchronously
 * to file descriptor 3 so events leave in order even while a training step holds the thread. Progress
 * is throttled; a heartbeat goes out when nothing else has for an interval. A failed write (EPIPE)
 * means the orchestrator is gone: the child exits at once (protocol.ts, HeartbeatEvent).
 */
import { writeSync } from 'node:fs';
import type { TrainerEvent } from './protocol.js';

/** Where a trainer's events go. */
export interface EventSink {
  send(event: TrainerEvent): void;
  /** Called between steps: sends progress at most once per progress interval and a heartbeat when due. */
  tick(epoch: number, step: number, steps: number): void;
}

/** Seconds between progress events. */
const PROGRESS_INTERVAL_S = 1;

/** Throttling shared by every sink: decides when progress and heartbeats are due. */
export abstract class ThrottledSink implements EventSink {
  readonly #heartbeatMs: number;
  #lastEvent = Date.now();
  #lastProgress = 0;

  /** @param heartbeatS seconds of silence after which a heartbeat is sent */
  constructor(heartbeatS: number) {
    this.#heartbeatMs = heartbeatS * 1000;
  }

  protected abstract write(line: string): void;

  send(event: TrainerEvent): void {
    this.write(`${JSON.stringify(event)}\n`);
    this.#lastEvent = Date.now();
  }

  /**
   * Sends due heartbeats from a timer while the thread is free (data loading, awaiting I/O); returns
   * the function that stops it. Inside long synchronous work, `tick` does this job.
   */
  keepAlive(): () => void {
    const timer = setInterval(() => {
      if (Date.now() - this.#lastEvent >= this.#heartbeatMs) this.send({ type: 'heartbeat' });
    }, Math.min(this.#heartbeatMs, 2 ** 31 - 1));
    timer.unref();
    return () => clearInterval(timer);
  }

  tick(epoch: number, step: number, steps: number): void {
    const now = Date.now();
    if (now - this.#lastProgress >= PROGRESS_INTERVAL_S * 1000) {
      this.#lastProgress = now;
      this.send({ type: 'progress', epoch, step, steps });
    } else if (now - this.#lastEvent >= this.#heartbeatMs) {
      this.send({ type: 'heartbeat' });
    }
  }
}

/** Events to a file descriptor (3 under the orchestrator). */
export class FdEventSink extends ThrottledSink {
  readonly #fd: number;

  constructor(fd: number, heartbeatS: number) {
    super(heartbeatS);
    this.#fd = fd;
  }

  protected write(line: string): void {
    const bytes = Buffer.from(line);
    for (let off = 0; off < bytes.length; ) {
      try {
        off += writeSync(this.#fd, bytes, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') process.exit(1);
        // A non-blocking pipe that is full: the reader drains it, so try again.
        if (code !== 'EAGAIN') throw e;
      }
    }
  }
}

/** Events kept in memory (tests, scripts). */
export class MemoryEventSink extends ThrottledSink {
  readonly events: TrainerEvent[] = [];

  constructor() {
    super(Number.POSITIVE_INFINITY);
  }

  protected write(line: string): void {
    this.events.push(JSON.parse(line) as TrainerEvent);
  }
}
